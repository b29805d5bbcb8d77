//! Endpoint health beyond Kubernetes readiness: passive ejection after
//! consecutive gateway failures, and active probes.

pub mod active;
mod endpoint;

pub use endpoint::EndpointHealth;
