//! The TLS side of one HTTPS listener: reads the ClientHello, passes a
//! `ssl-passthrough` host's stream through, and otherwise completes the
//! handshake with the client-certificate check the SNI host asks for (one
//! rustls configuration per CA, made on first use and kept while the CA's
//! PEM is unchanged).

use super::client_checks::ClientCheck;
use super::{SniResolver, peek_sni, server_config};
use super::{passthrough, server_name};
use crate::metrics::METRICS;
use crate::route_table::RouteTable;
use arc_swap::ArcSwap;
use pingora_core::listeners::tls::Acceptor;
use pingora_core::protocols::GetSocketDigest;
use pingora_core::protocols::Stream;
use pingora_core::protocols::l4::stream::Stream as L4Stream;
use rustls::pki_types::ServerName;
use sluice_config::ClientVerify;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// (CA name, optional, verify depth, checked per request, insecure
/// fallback, hash of the CA's PEM).
type CheckKey = (String, bool, Option<u8>, bool, bool, u64);

pub struct TlsSide {
    listener: String,
    route_config: String,
    table: Arc<ArcSwap<RouteTable>>,
    resolver: Arc<SniResolver>,
    plain: Arc<Acceptor>,
    /// For a stream terminated here: no ALPN, as the protocol inside is
    /// the client's and the backend's to agree, not Sluice's.
    stream: Arc<Acceptor>,
    /// Acceptors by the client-certificate check they make.
    with_ca: Mutex<HashMap<CheckKey, Arc<Acceptor>>>,
}

impl TlsSide {
    pub fn new(
        listener: &str,
        route_config: &str,
        table: Arc<ArcSwap<RouteTable>>,
        resolver: SniResolver,
    ) -> Result<Self, rustls::Error> {
        let resolver = Arc::new(resolver);
        let plain = Arc::new(Acceptor::from_server_config(Arc::new(server_config(resolver.clone(), None)?)));
        let mut stream = server_config(resolver.clone(), None)?;
        stream.alpn_protocols.clear();
        let stream = Arc::new(Acceptor::from_server_config(Arc::new(stream)));
        Ok(Self {
            listener: listener.to_owned(),
            route_config: route_config.to_owned(),
            table,
            resolver,
            plain,
            stream,
            with_ca: Mutex::new(HashMap::new()),
        })
    }

    fn count(&self, result: &str) {
        METRICS.tls_handshakes.with_label_values(&[self.listener.as_str(), result]).inc();
    }

    /// The acceptor checking client certificates as `verify` asks.
    fn acceptor_with(&self, table: &RouteTable, verify: &ClientVerify) -> Option<Arc<Acceptor>> {
        let (ca, optional, depth) = (verify.ca.as_str(), verify.optional, verify.verify_depth);
        let deferred = verify.error_page.is_some();
        let (hash, verifiers) = table.certificates().authority(ca)?;
        let key = (ca.to_owned(), optional, depth, deferred, verify.insecure_fallback, hash);
        let mut cache = self.with_ca.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(a) = cache.get(&key) {
            return Some(a.clone());
        }
        let inner = if optional { verifiers.optional.clone() } else { verifiers.required.clone() };
        // Either way the handshake takes any certificate: an error page
        // checks it on each request, an insecure fallback not at all.
        let verifier = Arc::new(ClientCheck { inner, depth, deferred: deferred || verify.insecure_fallback });
        let mut config = server_config(self.resolver.clone(), Some(verifier)).ok()?;
        if deferred {
            // Each request checks the certificate, which pingora shows
            // HTTP/1 requests only.
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
        }
        let acceptor = Arc::new(Acceptor::from_server_config(Arc::new(config)));
        cache.retain(|(name, .., h), _| name != ca || *h == hash);
        cache.insert(key, acceptor.clone());
        Some(acceptor)
    }

    /// The stream to serve HTTP on; `None` when the connection was passed
    /// through (and has ended) or failed its handshake.
    pub async fn accept(&self, mut stream: L4Stream) -> Option<Stream> {
        let sni = match peek_sni(&mut stream).await {
            Ok(sni) => sni,
            Err(e) => {
                self.count("failed");
                tracing::debug!(listener = %self.listener, error = %e, "no TLS ClientHello");
                return None;
            }
        };
        let table = self.table.load_full();
        let routes = table.routes(&self.route_config);
        // A client that sends no name gets what a name no host has gets:
        // the `*` host's TLS (its client check included), if there is one.
        let name = sni.as_deref().unwrap_or("*");
        let host_tls = routes.and_then(|r| r.tls(name));
        // A stream host, passed through or terminated here: the backend of
        // its `/` route takes the stream, not HTTP.
        let stream_route = match host_tls.filter(|t| t.passthrough || t.terminate_stream) {
            Some(_) => Some(routes.and_then(|r| r.lookup(name, "/", None)).cloned()?),
            None => None,
        };
        if let Some(route) = stream_route.clone().filter(|_| host_tls.is_some_and(|t| t.passthrough)) {
            self.count("passthrough");
            drop(table);
            let client_ip = peer_ip(&stream);
            passthrough::serve(stream, route, client_ip, None).await;
            return None;
        }
        // Every host of a port of TLS listeners only is a stream host: a name
        // it has no host for is closed, not answered in HTTP.
        if host_tls.is_none()
            && table.http_listeners().get(&self.listener).and_then(|l| l.tls.as_ref()).is_some_and(|t| t.streams_only)
        {
            self.count("no_route");
            tracing::debug!(listener = %self.listener, sni = ?sni, "no TLS route for this name");
            return None;
        }
        let acceptor = match host_tls.and_then(|t| t.client_verify.as_ref()) {
            None if stream_route.is_some() => self.stream.clone(),
            None => self.plain.clone(),
            Some(v) => match self.acceptor_with(&table, v) {
                Some(a) => a,
                // The CA could not be loaded: no connection rather than one without the check.
                None => {
                    self.count("failed");
                    return None;
                }
            },
        };
        // A terminated stream to a TLS backend: its client now, while the
        // table is at hand; none to be had closes the connection.
        let reencrypt = match stream_route.as_ref().filter(|r| r.policy.upstream_protocol.is_tls()) {
            None => None,
            Some(route) => {
                let sni = route.policy.upstream_sni.clone().unwrap_or_default();
                let client = table.stream_client(&route.policy);
                match (client, ServerName::try_from(sni)) {
                    (Some(client), Ok(name)) => Some((client, name)),
                    _ => {
                        self.count("failed");
                        tracing::warn!(listener = %self.listener, "no TLS client for the backend of this stream");
                        return None;
                    }
                }
            }
        };
        drop(table);
        let handshake = pingora_core::protocols::tls::server::handshake_with_callback(
            &acceptor,
            stream,
            &server_name::RecordServerName,
        );
        match handshake.await {
            Ok(tls) => {
                self.count("ok");
                let Some(route) = stream_route else { return Some(Box::new(tls)) };
                let client_ip = peer_ip(&tls);
                passthrough::serve(tls, route, client_ip, reencrypt).await;
                None
            }
            Err(e) => {
                self.count("failed");
                tracing::debug!(listener = %self.listener, error = %e, "TLS handshake failed");
                None
            }
        }
    }
}

/// The client's IP address of a connection.
fn peer_ip(stream: &impl GetSocketDigest) -> Option<std::net::IpAddr> {
    stream.get_socket_digest().and_then(|d| d.peer_addr().and_then(|a| a.as_inet()).map(|a| a.ip()))
}
