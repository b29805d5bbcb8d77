//! The time of a log line, formatted once a second per thread (as nginx
//! caches its time strings), not once a line.

use chrono::{DateTime, Local};
use std::cell::RefCell;
use std::time::SystemTime;

struct Cached {
    second: u64,
    /// `06/Dec/2026:19:28:16 +0000`, nginx's `$time_local`.
    common_log: String,
    /// `2026-12-06T19:28:16+00:00`, nginx's `$time_iso8601`.
    iso8601: String,
}

thread_local! {
    static CACHED: RefCell<Cached> = const {
        RefCell::new(Cached { second: u64::MAX, common_log: String::new(), iso8601: String::new() })
    };
}

/// Calls `f` with the current second as `$time_local` and `$time_iso8601`.
pub fn with_now<R>(f: impl FnOnce(&str, &str) -> R) -> R {
    let now = SystemTime::now();
    let second = now.duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    CACHED.with_borrow_mut(|c| {
        if c.second != second {
            let local: DateTime<Local> = now.into();
            c.second = second;
            c.common_log = local.format("%d/%b/%Y:%H:%M:%S %z").to_string();
            c.iso8601 = local.format("%Y-%m-%dT%H:%M:%S%:z").to_string();
        }
        f(&c.common_log, &c.iso8601)
    })
}
