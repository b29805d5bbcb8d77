//! Idle upstream connections of one proxy worker, by endpoint: a plain list
//! (the worker is single threaded, so no lock is contended and no watcher
//! task runs per connection, unlike pingora's pool). A connection the
//! upstream closed while idle is found out when it is next used, and the
//! request is sent again on a fresh one.

use pingora_core::protocols::Stream;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Connections kept idle per endpoint at most (nginx's `keepalive` in an
/// upstream block is per worker too).
const IDLE_PER_ENDPOINT: usize = 128;

#[derive(Default)]
pub(super) struct IdlePool {
    idle: Mutex<HashMap<SocketAddr, Vec<(Stream, Instant)>>>,
}

impl IdlePool {
    /// The most recently used idle connection to `address` that has not
    /// idled past `max_idle`.
    pub fn take(&self, address: SocketAddr, max_idle: Duration) -> Option<Stream> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let list = idle.get_mut(&address)?;
        while let Some((session, since)) = list.pop() {
            if since.elapsed() < max_idle {
                return Some(session);
            }
        }
        None
    }

    /// Keeps `session` for the next request to `address`.
    pub fn put(&self, address: SocketAddr, session: Stream) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let list = idle.entry(address).or_default();
        if list.len() >= IDLE_PER_ENDPOINT {
            list.remove(0);
        }
        list.push((session, Instant::now()));
    }
}
