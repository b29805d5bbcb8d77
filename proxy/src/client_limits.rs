//! Per-client limits of a route, as ingress-nginx's `limit-rps` and
//! `limit-rpm` (token buckets per client address, burst = rate ×
//! multiplier; a request needs a token of each) and
//! `limit-connections` (requests in progress per client address). State is
//! sharded by address; idle clients are forgotten once their bucket is full
//! again, so the tables stay the size of the active clients.

use sluice_config::{RateLimit, RoutePolicy};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

const SHARDS: usize = 16;
/// A shard is swept of idle clients when it grows past this.
const SWEEP_AT: usize = 4096;

#[derive(Debug)]
struct Client {
    /// Per bucket: a second's and a minute's.
    tokens: [f64; 2],
    last: Instant,
    in_flight: u32,
}

/// Tokens a second, and at most this many at once.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Bucket {
    per_second: f64,
    burst: f64,
}

impl Bucket {
    fn of(limit: Option<RateLimit>, seconds: f64) -> Option<Bucket> {
        limit.map(|l| Bucket { per_second: f64::from(l.rps) / seconds, burst: f64::from(l.burst.max(1)) })
    }
}

#[derive(Debug)]
pub struct ClientLimits {
    rate: Option<RateLimit>,
    per_minute: Option<RateLimit>,
    buckets: [Option<Bucket>; 2],
    connections: Option<u32>,
    shards: Box<[Mutex<Shard>]>,
}

#[derive(Debug, Default)]
struct Shard {
    clients: HashMap<IpAddr, Client>,
    /// Swept when it reaches this; doubled over what a sweep keeps, so a
    /// flood of active clients costs a sweep per doubling, not per request.
    sweep_at: usize,
}

/// The limit a refused request is over: ingress-nginx answers each with its
/// own status (`limit-req-status-code`, `limit-conn-status-code`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Over {
    Rate,
    Connections,
}

/// Holds one of the client's requests in progress; dropping it ends it.
#[derive(Debug)]
pub struct ClientLease {
    limits: Arc<ClientLimits>,
    ip: IpAddr,
}

impl ClientLimits {
    /// `None` when the policy limits nothing.
    pub fn new(policy: &RoutePolicy) -> Option<Arc<ClientLimits>> {
        if policy.limit_rps.is_none() && policy.limit_rpm.is_none() && policy.limit_connections.is_none() {
            return None;
        }
        Some(Arc::new(ClientLimits {
            rate: policy.limit_rps,
            per_minute: policy.limit_rpm,
            buckets: [Bucket::of(policy.limit_rps, 1.0), Bucket::of(policy.limit_rpm, 60.0)],
            connections: policy.limit_connections,
            shards: (0..SHARDS).map(|_| Mutex::new(Shard { clients: HashMap::new(), sweep_at: SWEEP_AT })).collect(),
        }))
    }

    /// `previous` when it limits what `policy` limits (its clients' state
    /// carries across the swap, as nginx keeps a zone across reloads), else
    /// a new state; `None` when the policy limits nothing.
    pub fn carried(policy: &RoutePolicy, previous: Option<&Arc<ClientLimits>>) -> Option<Arc<ClientLimits>> {
        match previous {
            Some(p)
                if p.rate == policy.limit_rps
                    && p.per_minute == policy.limit_rpm
                    && p.connections == policy.limit_connections =>
            {
                Some(p.clone())
            }
            _ => ClientLimits::new(policy),
        }
    }

    fn shard(&self, ip: &IpAddr) -> &Mutex<Shard> {
        let h = match ip {
            IpAddr::V4(a) => u32::from(*a) as usize,
            IpAddr::V6(a) => u128::from(*a) as usize,
        };
        &self.shards[h.wrapping_mul(0x9e37_79b9) >> 7 & (SHARDS - 1)]
    }

    /// Admits a request of `ip` (its lease when connections are limited),
    /// or names the limit it is over.
    pub fn admit(self: &Arc<Self>, ip: IpAddr, now: Instant) -> Result<Option<ClientLease>, Over> {
        let mut shard = self.shard(&ip).lock().unwrap_or_else(|e| e.into_inner());
        if shard.clients.len() >= shard.sweep_at {
            shard.clients.retain(|_, c| c.in_flight > 0 || !self.refilled(c, now));
            shard.sweep_at = (shard.clients.len() * 2).max(SWEEP_AT);
        }
        let clients = &mut shard.clients;
        let full = self.buckets.map(|b| b.map_or(0.0, |b| b.burst));
        let client = clients.entry(ip).or_insert(Client { tokens: full, last: now, in_flight: 0 });
        let elapsed = now.saturating_duration_since(client.last).as_secs_f64();
        client.last = now;
        for (tokens, bucket) in client.tokens.iter_mut().zip(&self.buckets) {
            if let Some(b) = bucket {
                *tokens = (*tokens + elapsed * b.per_second).min(b.burst);
            }
        }
        let limited = |(t, b): (&f64, &Option<Bucket>)| b.is_some() && *t < 1.0;
        if client.tokens.iter().zip(&self.buckets).any(limited) {
            return Err(Over::Rate);
        }
        if self.connections.is_some_and(|max| client.in_flight >= max) {
            return Err(Over::Connections);
        }
        for (tokens, bucket) in client.tokens.iter_mut().zip(&self.buckets) {
            if bucket.is_some() {
                *tokens -= 1.0;
            }
        }
        if self.connections.is_none() {
            return Ok(None);
        }
        client.in_flight += 1;
        Ok(Some(ClientLease { limits: self.clone(), ip }))
    }

    fn refilled(&self, c: &Client, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(c.last).as_secs_f64();
        c.tokens.iter().zip(&self.buckets).all(|(t, b)| b.is_none_or(|b| t + elapsed * b.per_second >= b.burst))
    }
}

impl Drop for ClientLease {
    fn drop(&mut self) {
        let mut shard = self.limits.shard(&self.ip).lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = shard.clients.get_mut(&self.ip) {
            c.in_flight = c.in_flight.saturating_sub(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn limits(rps: Option<(u32, u32)>, connections: Option<u32>) -> Arc<ClientLimits> {
        let policy = RoutePolicy {
            limit_rps: rps.map(|(rps, burst)| RateLimit { rps, burst }),
            limit_connections: connections,
            ..RoutePolicy::default()
        };
        ClientLimits::new(&policy).unwrap()
    }

    #[test]
    fn a_client_gets_its_burst_then_its_rate() {
        let l = limits(Some((2, 4)), None);
        let (a, b): (IpAddr, IpAddr) = ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
        let t = Instant::now();
        assert_eq!((0..10).filter(|_| l.admit(a, t).is_ok()).count(), 4, "the burst");
        assert!(l.admit(b, t).is_ok(), "another client has its own bucket");
        assert!(l.admit(a, t + Duration::from_millis(200)).is_err(), "0.4 of a token");
        assert!(l.admit(a, t + Duration::from_millis(500)).is_ok(), "one token a half second");
        assert!(l.admit(a, t + Duration::from_millis(600)).is_err());
    }

    /// `limit-rpm` 6 with the default multiplier: a burst of 30, then one a
    /// ten seconds; with `limit-rps` too, a request needs both.
    #[test]
    fn a_minute_rate_refills_by_the_minute() {
        let policy = RoutePolicy {
            limit_rps: Some(RateLimit { rps: 100, burst: 500 }),
            limit_rpm: Some(RateLimit { rps: 6, burst: 30 }),
            ..RoutePolicy::default()
        };
        let l = ClientLimits::new(&policy).unwrap();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let t = Instant::now();
        assert_eq!((0..100).filter(|_| l.admit(a, t).is_ok()).count(), 30, "the minute's burst");
        assert!(l.admit(a, t + Duration::from_secs(9)).is_err(), "0.9 of a token");
        assert!(l.admit(a, t + Duration::from_secs(10)).is_ok(), "one token every ten seconds");
    }

    #[test]
    fn requests_in_progress_are_capped_per_client() {
        let l = limits(None, Some(2));
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let t = Instant::now();
        let first = l.admit(a, t).unwrap();
        let _second = l.admit(a, t).unwrap();
        assert!(l.admit(a, t).is_err());
        drop(first);
        assert!(l.admit(a, t).is_ok(), "a finished request frees its place");
    }

    #[test]
    fn state_carries_to_a_policy_with_the_same_limits_only() {
        let l = limits(None, Some(1));
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let _held = l.admit(a, Instant::now()).unwrap();
        let same = RoutePolicy { limit_connections: Some(1), ..RoutePolicy::default() };
        let carried = ClientLimits::carried(&same, Some(&l)).unwrap();
        assert!(carried.admit(a, Instant::now()).is_err(), "the request in progress still counts");
        let raised = RoutePolicy { limit_connections: Some(2), ..RoutePolicy::default() };
        let fresh = ClientLimits::carried(&raised, Some(&l)).unwrap();
        assert!(!Arc::ptr_eq(&fresh, &l));
        assert!(ClientLimits::carried(&RoutePolicy::default(), Some(&l)).is_none());
    }

    #[test]
    fn idle_clients_are_forgotten() {
        let l = limits(Some((1000, 1000)), None);
        let n = (SWEEP_AT * SHARDS * 2) as u32;
        let t = Instant::now();
        for i in 0..n {
            let _ = l.admit(IpAddr::from(i.to_be_bytes()), t);
        }
        // Five seconds on, the first wave's buckets are full again: as new
        // clients arrive, the first wave is swept.
        let later = t + Duration::from_secs(5);
        for i in n..2 * n {
            let _ = l.admit(IpAddr::from(i.to_be_bytes()), later);
        }
        let total: usize = l.shards.iter().map(|s| s.lock().unwrap().clients.len()).sum();
        assert!(total < (n as usize) * 3 / 2, "{total} of {}", 2 * n);
    }
}
