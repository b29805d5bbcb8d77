//! A monotonic millisecond clock shared by every cluster state, so health
//! and affinity deadlines carry from one table to the next.

use std::sync::LazyLock;
use std::time::Instant;

static EPOCH: LazyLock<Instant> = LazyLock::new(Instant::now);

/// Milliseconds since the process first asked.
pub fn now_ms() -> u64 {
    EPOCH.elapsed().as_millis() as u64
}
