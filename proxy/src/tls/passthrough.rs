//! A host's stream to an endpoint of the backend of its `/` route: the TLS
//! stream unread (ingress-nginx `ssl-passthrough`, Gateway API TLS
//! Passthrough), or what the client sent once TLS is terminated here
//! (Gateway API TLS Terminate), in TLS again when the route says so (a
//! BackendTLSPolicy of the backend).

use crate::cluster::PickInput;
use crate::http::ip_hash;
use crate::l4::{Moved, connect_upstream, pump};
use crate::route_table::CompiledRoute;
use rustls::pki_types::ServerName;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Idle limit of a passed-through connection (nginx's stream default, 10 min).
const IDLE: Duration = Duration::from_secs(600);

/// The TLS client and the name a re-encrypted stream asks its backend for.
pub type Reencrypt = (Arc<rustls::ClientConfig>, ServerName<'static>);

/// Serves one connection's stream to its end, over TLS to the backend with
/// `reencrypt`.
pub async fn serve<C>(client: C, route: Arc<CompiledRoute>, client_ip: Option<IpAddr>, reencrypt: Option<Reencrypt>)
where
    C: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let client_hash = client_ip.map(ip_hash);
    let split_hash = route.split_key().and(client_hash);
    let Some(cluster) = route.choose(|_| None, |_| None, split_hash, None).cloned() else { return };
    let key_hash = cluster.hash_key().and(client_hash);
    let input = PickInput { client_ip, key_hash, cookies: None, session_key: None };
    let Some((upstream, index)) = connect_upstream(&cluster, &input, CONNECT_TIMEOUT).await else { return };
    let _lease = cluster.begin(index);
    match reencrypt {
        None => {
            pump(client, upstream, IDLE, &Moved::default()).await;
        }
        Some((config, name)) => {
            let connecting = tokio_rustls::TlsConnector::from(config).connect(name, upstream);
            match tokio::time::timeout(CONNECT_TIMEOUT, connecting).await {
                Ok(Ok(tls)) => {
                    pump(client, tls, IDLE, &Moved::default()).await;
                }
                Ok(Err(e)) => tracing::debug!(route = %route.label, error = %e, "backend TLS handshake failed"),
                Err(_) => tracing::debug!(route = %route.label, "backend TLS handshake timed out"),
            }
        }
    }
}
