//! The publish seam: everything that acts on a Snapshot (the proxy, the
//! kernel datapath, the admin endpoints, the status writer) takes it through
//! this one trait, so what a consumer could not apply on this machine (a
//! port it cannot bind, a certificate rustls refuses, a kernel map it cannot
//! write) becomes a diagnostic like any input's, and reaches the logs,
//! metrics and Events the same way.

use crate::{Diagnostic, Published};
use std::sync::Arc;

pub trait Consumer: Send + Sync {
    /// Names the consumer in logs.
    fn name(&self) -> &'static str;

    /// Applies `published`, which carries the diagnostics of the inputs and
    /// of the consumers applied before this one. Returns what could not be
    /// applied, each on the object that asked for it; the consumer keeps
    /// serving the rest, and its last good state for what failed.
    fn apply(&self, published: &Arc<Published>) -> Vec<Diagnostic>;

    /// Why the consumer cannot do its job at all right now (a listener the
    /// process must hold is not bound), for `/healthz`; `None` when it can.
    fn unhealthy(&self) -> Option<String> {
        None
    }
}
