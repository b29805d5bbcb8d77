//! TLS termination with rustls: the Snapshot's certificates parsed once per
//! swap, a certificate resolver that reads the live table at each handshake
//! (so a Secret change rotates with one swap and cuts no connection), and
//! the server configuration every HTTPS listener shares the shape of; the
//! ClientHello read first decides passthrough and client-certificate checks.

mod accept;
mod certificates;
mod client_checks;
mod client_hello;
pub mod passthrough;
mod resolver;
mod server_config;
pub mod server_name;

pub use accept::TlsSide;
pub use certificates::{CertificateSet, Verifiers, certified_key, self_signed};
pub(crate) use certificates::{authority_digest, certificate_digest};
pub use client_checks::check as check_client_chain;
pub use client_hello::{peek_sni, read_sni};
pub use resolver::SniResolver;
pub use server_config::server_config;
