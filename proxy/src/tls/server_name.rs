//! The SNI a connection's handshake asked for, kept in its TLS digest so
//! each request on it (HTTP/1 or HTTP/2) can be checked against its Host:
//! a Gateway listener answers 421 to a request meant for another listener
//! of the port (a client reusing a connection for a name it also covers).

use async_trait::async_trait;
use pingora_core::listeners::TlsAccept;
use pingora_core::protocols::tls::TlsRef;
use pingora_core::protocols::{Digest, tls::SslDigest};
use std::any::Any;
use std::sync::Arc;

/// The name a connection's client asked for.
#[derive(Debug)]
pub struct ServerName(pub Box<str>);

/// Records the SNI of each handshake in the connection's digest.
pub struct RecordServerName;

#[async_trait]
impl TlsAccept for RecordServerName {
    async fn handshake_complete_callback(&self, tls: &TlsRef) -> Option<Arc<dyn Any + Send + Sync>> {
        let name = tls.server_name()?;
        Some(Arc::new(ServerName(name.into())))
    }
}

/// The SNI of the connection `digest` describes, if its client sent one.
pub fn of(digest: Option<&Digest>) -> Option<&str> {
    let ssl: &SslDigest = digest?.ssl_digest.as_deref()?;
    ssl.extension.get::<ServerName>().map(|n| &*n.0)
}
