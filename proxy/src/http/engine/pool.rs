//! Idle upstream connections of one proxy worker, by endpoint: a plain list
//! (the worker is single threaded, so no lock is contended and no watcher
//! task runs per connection, unlike pingora's pool). A connection the
//! upstream closed while idle is found out when it is next used, and the
//! request is sent again on a fresh one. How many are kept, for how long
//! and for how many requests each follows the table's
//! `upstream-keepalive-*` settings.

use pingora_core::protocols::Stream;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// An idle connection: since when, and how many requests it carried.
struct Idle {
    stream: Stream,
    since: Instant,
    served: u32,
}

#[derive(Default)]
pub(super) struct IdlePool {
    idle: Mutex<HashMap<SocketAddr, Vec<Idle>>>,
}

impl IdlePool {
    /// The most recently used idle connection to `address` that has not
    /// idled past `max_idle`, with the requests it carried.
    pub fn take(&self, address: SocketAddr, max_idle: Duration) -> Option<(Stream, u32)> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let list = idle.get_mut(&address)?;
        while let Some(Idle { stream, since, served }) = list.pop() {
            if since.elapsed() < max_idle {
                return Some((stream, served));
            }
        }
        None
    }

    /// Keeps `stream`, which carried `served` requests, for the next
    /// request to `address`; the oldest idle one goes past `max` (nginx's
    /// `keepalive` in an upstream block is per worker too).
    pub fn put(&self, address: SocketAddr, stream: Stream, served: u32, max: usize) {
        if max == 0 {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let list = idle.entry(address).or_default();
        if list.len() >= max {
            list.remove(0);
        }
        list.push(Idle { stream, since: Instant::now(), served });
    }
}
