//! TLS termination with rustls: the Snapshot's certificates parsed once per
//! swap, a certificate resolver that reads the live table at each handshake
//! (so a Secret change rotates with one swap and cuts no connection), and
//! the server configuration every HTTPS listener shares the shape of.

mod certificates;
mod resolver;
mod server_config;

pub use certificates::{CertificateSet, certified_key, self_signed};
pub use resolver::SniResolver;
pub use server_config::server_config;
