//! What a route with `auth-url` keeps between requests: the auth service's
//! cluster, how to reach it, and the verdicts `auth-cache-key` caches.

use crate::cluster::ClusterState;
use http::{HeaderName, HeaderValue};
use sluice_config::{ExternalAuth, KeyPart, RoutePolicy, UpstreamProtocol, parse_hash_key};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Cached verdicts per route, at most.
const CACHED: usize = 10_000;

/// The auth service's answer, as far as the request is concerned.
#[derive(Debug, Clone)]
pub enum Verdict {
    /// 2xx: proxy the request with these headers added (`auth-response-
    /// headers`); these cookies go to the client.
    Allow { headers: Vec<(HeaderName, HeaderValue)>, cookies: Vec<HeaderValue> },
    /// Answer the client with this status and these headers.
    Refuse(u16, Vec<(HeaderName, HeaderValue)>),
}

#[derive(Debug)]
pub struct ExternalAuthState {
    pub cluster: Option<Arc<ClusterState>>,
    /// Timeouts and protocol of the check (the route's timeouts).
    pub policy: RoutePolicy,
    cache_key: Option<Vec<KeyPart>>,
    cache: Mutex<HashMap<Vec<u8>, (Instant, Verdict)>>,
}

impl ExternalAuthState {
    pub fn compile(auth: &ExternalAuth, route: &RoutePolicy, clusters: &HashMap<String, Arc<ClusterState>>) -> Self {
        let policy = RoutePolicy {
            connect_timeout_ms: route.connect_timeout_ms,
            read_timeout_ms: route.read_timeout_ms,
            send_timeout_ms: route.send_timeout_ms,
            upstream_protocol: if auth.tls { UpstreamProtocol::Https } else { UpstreamProtocol::Http1 },
            ..RoutePolicy::default()
        };
        Self {
            cluster: clusters.get(&auth.cluster).cloned(),
            policy,
            cache_key: auth.cache.as_ref().and_then(|c| parse_hash_key(&c.key).ok()),
            cache: Mutex::new(HashMap::new()),
        }
    }

    pub fn cache_key(&self) -> Option<&[KeyPart]> {
        self.cache_key.as_deref()
    }

    /// A verdict cached under `key` and not yet expired.
    pub fn cached(&self, key: &[u8]) -> Option<Verdict> {
        let cache = self.cache.lock().ok()?;
        cache.get(key).filter(|(until, _)| *until > Instant::now()).map(|(_, v)| v.clone())
    }

    pub fn remember(&self, key: Vec<u8>, verdict: Verdict, keep: Duration) {
        let Ok(mut cache) = self.cache.lock() else { return };
        if cache.len() >= CACHED {
            let now = Instant::now();
            cache.retain(|_, (until, _)| *until > now);
            if cache.len() >= CACHED {
                cache.clear();
            }
        }
        cache.insert(key, (Instant::now() + keep, verdict));
    }
}
