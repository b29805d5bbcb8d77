//! Picks a listener's certificate by SNI at each handshake, from the table
//! live at that moment: the virtual host's certificate (exact host, then
//! wildcard), else the listener's default certificate, else the self-signed
//! one made at start.

use crate::route_table::RouteTable;
use arc_swap::ArcSwap;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::sync::Arc;

#[derive(Debug)]
pub struct SniResolver {
    table: Arc<ArcSwap<RouteTable>>,
    listener: String,
    fallback: Arc<CertifiedKey>,
}

impl SniResolver {
    pub fn new(table: Arc<ArcSwap<RouteTable>>, listener: &str, fallback: Arc<CertifiedKey>) -> Self {
        Self { table, listener: listener.to_owned(), fallback }
    }
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let table = self.table.load();
        let listener = table.http_listeners().get(&self.listener);
        let by_sni = hello.server_name().and_then(|sni| {
            let routes = table.routes(&listener?.route_config)?;
            routes.certificate_for(sni)
        });
        let name = by_sni.or_else(|| listener.and_then(|l| l.tls.as_ref()?.default_certificate.as_deref()));
        Some(name.and_then(|n| table.certificates().get(n)).cloned().unwrap_or_else(|| self.fallback.clone()))
    }
}
