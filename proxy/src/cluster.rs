//! A cluster as requests use it: its endpoints with their health and load,
//! the algorithm that picks one, and the affinity that keeps a client on one.

use crate::affinity::{ClientIpTable, cookie_value, endpoint_id, session_key, set_cookie};
use crate::balancer::{Maglev, SmoothWrr, key_hash, least_loaded};
use crate::clock::now_ms;
use crate::health::EndpointHealth;
use crate::metrics::METRICS;
use sluice_config::{ActiveCheck, Affinity, AffinityMode, Balance, Cluster, KeyPart, parse_hash_key};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

#[derive(Debug)]
struct Member {
    address: SocketAddr,
    weight: u32,
    id: u64,
    health: EndpointHealth,
    in_flight: AtomicU64,
}

#[derive(Debug)]
enum Picker {
    RoundRobin(SmoothWrr),
    LeastConnections(AtomicUsize),
    Hash(Maglev),
}

/// What a pick knows of the request or connection.
#[derive(Debug, Default, Clone, Copy)]
pub struct PickInput<'a> {
    pub client_ip: Option<IpAddr>,
    /// The hash of the cluster's key for this request (see [`ClusterState::hash_key`]).
    pub key_hash: Option<u64>,
    /// The request's `Cookie` header values, joined.
    pub cookies: Option<&'a str>,
    /// A balanced session's key drawn before the pick (its cookie already
    /// set), used when the request brought none.
    pub session_key: Option<&'a str>,
}

/// The endpoint picked, and the cookie to set when a session starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Picked {
    pub index: usize,
    pub address: SocketAddr,
    pub set_cookie: Option<String>,
}

#[derive(Debug)]
pub struct ClusterState {
    pub name: String,
    /// The name as ingress-nginx's `$proxy_upstream_name` writes it
    /// (`namespace-service-port`), for access logs.
    pub log_name: String,
    config: Cluster,
    members: Vec<Member>,
    /// Member index by address.
    by_address: HashMap<SocketAddr, usize>,
    /// Members taking new traffic (weight > 0, not terminating).
    active: Vec<usize>,
    /// Serving but terminating: used only when no member is active.
    terminating: Vec<usize>,
    terminating_rotation: SmoothWrr,
    picker: Picker,
    hash_key: Option<Vec<KeyPart>>,
    client_ips: Option<ClientIpTable>,
    /// Balanced cookie affinity: session keys hashed onto the active members.
    session_table: Option<Maglev>,
    probes_started: AtomicBool,
    /// Requests or connections in flight on all members.
    in_flight: AtomicU64,
}

impl ClusterState {
    /// Builds the state of `c`, carrying health and client-IP affinity of the
    /// endpoints that `previous` also had.
    pub fn new(c: &Cluster, previous: Option<&ClusterState>) -> Self {
        let members: Vec<Member> = c
            .endpoints
            .iter()
            .map(|e| {
                let health = previous
                    .and_then(|p| p.members.iter().find(|m| m.address == e.address))
                    .map(|m| EndpointHealth::carried_from(&m.health))
                    .unwrap_or_default();
                Member {
                    address: e.address,
                    weight: if e.terminating { e.weight.max(1) } else { e.weight },
                    id: endpoint_id(&e.address),
                    health,
                    in_flight: AtomicU64::new(0),
                }
            })
            .collect();
        let active: Vec<usize> =
            (0..members.len()).filter(|i| !c.endpoints[*i].terminating && members[*i].weight > 0).collect();
        let terminating: Vec<usize> = (0..members.len()).filter(|i| c.endpoints[*i].terminating).collect();
        let weights: Vec<u32> = active.iter().map(|i| members[*i].weight).collect();
        let ids: Vec<(u64, u32)> = active.iter().map(|i| (members[*i].id, members[*i].weight)).collect();
        let picker = match &c.balance {
            Balance::RoundRobin => Picker::RoundRobin(SmoothWrr::new(&weights)),
            Balance::LeastConnections => Picker::LeastConnections(AtomicUsize::new(0)),
            Balance::Hash { table_size, .. } => Picker::Hash(Maglev::new(&ids, *table_size)),
        };
        let hash_key = match &c.balance {
            Balance::Hash { key, .. } => parse_hash_key(key).ok(),
            _ => None,
        };
        let client_ips = match &c.affinity {
            Some(Affinity::ClientIp { timeout_seconds }) => {
                let table = ClientIpTable::new(*timeout_seconds);
                if let Some(old) = previous.and_then(|p| p.client_ips.as_ref()) {
                    old.carry_into(&table, |a| active.iter().any(|i| members[*i].address == *a), now_ms());
                }
                Some(table)
            }
            _ => None,
        };
        let session_table = match &c.affinity {
            Some(Affinity::Cookie { mode: AffinityMode::Balanced, .. }) => {
                Some(Maglev::new(&ids, sluice_config::DEFAULT_MAGLEV_TABLE_SIZE))
            }
            _ => None,
        };
        let tweights: Vec<u32> = terminating.iter().map(|i| members[*i].weight).collect();
        let by_address = members.iter().enumerate().map(|(i, m)| (m.address, i)).collect();
        Self {
            name: c.name.clone(),
            log_name: upstream_log_name(&c.name),
            config: c.clone(),
            by_address,
            terminating_rotation: SmoothWrr::new(&tweights),
            members,
            active,
            terminating,
            picker,
            hash_key,
            client_ips,
            session_table,
            probes_started: AtomicBool::new(false),
            in_flight: AtomicU64::new(0),
        }
    }

    /// Whether `c` is exactly what this state serves (then it stays, with its
    /// rotation position, connection counts, hash tables, affinity and health).
    pub fn serves(&self, c: &Cluster) -> bool {
        self.config == *c
    }

    /// The request key the cluster hashes, when it balances by hash.
    pub fn hash_key(&self) -> Option<&[KeyPart]> {
        self.hash_key.as_deref()
    }

    /// Whether the cluster keeps clients by address (so a split should too).
    pub fn client_ip_affinity(&self) -> bool {
        self.client_ips.is_some()
    }

    /// The cluster's cookie affinity, if it keeps clients by cookie.
    pub fn cookie_affinity(&self) -> Option<&Affinity> {
        self.config.affinity.as_ref().filter(|a| matches!(a, Affinity::Cookie { .. }))
    }

    /// Whether one of the cluster's endpoints has the id a persistent
    /// cookie carries.
    pub fn has_endpoint_id(&self, id: u64) -> bool {
        self.members.iter().any(|m| m.id == id)
    }

    /// Whether a pick reads the request's cookies (cookie affinity): only
    /// then does the request path gather them for [`PickInput`].
    pub fn reads_cookies(&self) -> bool {
        matches!(self.config.affinity, Some(Affinity::Cookie { .. }))
    }

    fn pool(&self) -> (&[usize], bool) {
        if self.active.is_empty() { (&self.terminating, true) } else { (&self.active, false) }
    }

    /// Picks an endpoint not in `tried`. Healthy endpoints first; when none
    /// is healthy, any of them (panic mode, counted).
    pub fn pick(&self, input: &PickInput<'_>, tried: &[SocketAddr]) -> Option<Picked> {
        let now = now_ms();
        let (pool, terminating) = self.pool();
        let untried = |m: usize| !tried.contains(&self.members[m].address);
        let healthy = |m: usize| self.members[m].health.available(now);
        let any_healthy = pool.iter().any(|&m| untried(m) && healthy(m));
        if !any_healthy && pool.iter().any(|&m| untried(m)) {
            METRICS.panic.with_label_values(&[self.name.as_str()]).inc();
        }
        let usable = |m: usize| untried(m) && (!any_healthy || healthy(m));

        let affinity = self.config.affinity.as_ref();
        let mut set = None;
        if let (Some(table), Some(ip)) = (&self.client_ips, input.client_ip)
            && let Some(addr) = table.get(ip, now)
            && let Some(&m) = self.by_address.get(&addr)
            && pool.contains(&m)
            && usable(m)
        {
            table.touch(ip, addr, now);
            return Some(self.picked(m, None));
        }
        let cookie = match affinity {
            Some(Affinity::Cookie { name, .. }) => input.cookies.and_then(|c| cookie_value(c, name)),
            _ => None,
        };
        let change_on_failure = matches!(affinity, Some(Affinity::Cookie { change_on_failure: true, .. }));
        // The cookie's endpoint failed this request: the cookie is kept
        // (the next request goes back to it) unless it is to change.
        let mut keep_cookie = false;
        if let Some(Affinity::Cookie { mode: AffinityMode::Persistent, .. }) = affinity
            && let Some(id) = cookie.and_then(|v| u64::from_str_radix(v, 16).ok())
            && let Some(m) = pool.iter().copied().find(|m| self.members[*m].id == id)
        {
            if usable(m) {
                return Some(self.picked(m, None));
            }
            keep_cookie = !untried(m) && !change_on_failure;
        }
        if let (Some(table), false) = (&self.session_table, terminating) {
            // The endpoint a key maps to, whether it can serve or not.
            let own = |k: &str| table.get_usable(key_hash(k.as_bytes()), |_| true).map(|i| pool[i]);
            let key = match cookie.or(input.session_key) {
                Some(k) if !(k.is_empty() || change_on_failure && own(k).is_some_and(|m| !untried(m))) => k.to_owned(),
                _ => {
                    // A new session, or one moved off its failed endpoint:
                    // a key whose own endpoint can serve, when one is
                    // found in a few draws.
                    let k = session_key(16, |k| own(k).is_some_and(usable));
                    set = affinity.and_then(|a| set_cookie(a, &k));
                    k
                }
            };
            let m = table.get_usable(key_hash(key.as_bytes()), |k| usable(pool[k])).map(|k| pool[k])?;
            return Some(self.picked(m, set));
        }

        let k = if terminating {
            self.terminating_rotation.next_except(|k| !usable(pool[k]))
        } else {
            match &self.picker {
                Picker::RoundRobin(r) => r.next_except(|k| !usable(pool[k])),
                Picker::LeastConnections(start) => least_loaded(
                    pool.len(),
                    start.fetch_add(1, Ordering::Relaxed),
                    |k| usable(pool[k]),
                    |k| self.members[pool[k]].in_flight.load(Ordering::Relaxed),
                    |k| u64::from(self.members[pool[k]].weight),
                ),
                Picker::Hash(t) => {
                    let h = input.key_hash.unwrap_or_else(|| fastrand::u64(..));
                    t.get_usable(h, |k| usable(pool[k]))
                }
            }
        };
        let m = pool[k?];
        if let (Some(table), Some(ip)) = (&self.client_ips, input.client_ip) {
            table.touch(ip, self.members[m].address, now);
        }
        if let Some(Affinity::Cookie { mode: AffinityMode::Persistent, .. }) = affinity
            && !keep_cookie
        {
            set = affinity.and_then(|a| set_cookie(a, &format!("{:016x}", self.members[m].id)));
        }
        Some(self.picked(m, set))
    }

    fn picked(&self, m: usize, set_cookie: Option<String>) -> Picked {
        Picked { index: m, address: self.members[m].address, set_cookie }
    }

    /// Counts a request (or connection) in flight on `index` until the
    /// returned guard is dropped.
    pub fn begin(self: &Arc<Self>, index: usize) -> InFlight {
        if let Some(m) = self.members.get(index) {
            m.in_flight.fetch_add(1, Ordering::Relaxed);
        }
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight { cluster: self.clone(), index }
    }

    /// The outcome of a request on `index`, for passive ejection.
    pub fn report(&self, index: usize, ok: bool) {
        let Some(m) = self.members.get(index) else { return };
        if m.health.record(ok, &self.config.health.passive, now_ms()) {
            tracing::warn!(cluster = %self.name, endpoint = %m.address, "endpoint ejected after consecutive failures");
            METRICS.ejections.with_label_values(&[self.name.as_str()]).inc();
        }
    }

    /// The Service (or the object the cluster stands for) and its port.
    pub fn service(&self) -> (&sluice_config::ObjectRef, u16) {
        (&self.config.service, self.config.port)
    }

    pub fn has_untried(&self, tried: &[SocketAddr]) -> bool {
        self.pool().0.iter().any(|m| !tried.contains(&self.members[*m].address))
    }

    /// Whether this stands for a backend reference that could not be
    /// resolved: its requests get 500.
    pub fn unresolved(&self) -> bool {
        self.config.unresolved
    }

    /// Whether the cluster's `max_connections` are all in flight.
    pub fn at_capacity(&self) -> bool {
        self.config.max_connections.is_some_and(|max| self.in_flight.load(Ordering::Relaxed) >= u64::from(max))
    }

    pub fn ready_endpoints(&self) -> usize {
        self.active.len()
    }

    pub fn address(&self, index: usize) -> SocketAddr {
        self.members[index].address
    }

    pub fn in_flight(&self, index: usize) -> u64 {
        self.members.get(index).map(|m| m.in_flight.load(Ordering::Relaxed)).unwrap_or(0)
    }

    pub fn active_check(&self) -> Option<&ActiveCheck> {
        self.config.health.active.as_ref()
    }

    /// `true` the first time only: the caller starts the probes.
    pub(crate) fn claim_probes(&self) -> bool {
        !self.probes_started.swap(true, Ordering::Relaxed)
    }

    pub(crate) fn probe_targets(&self, port: Option<u16>) -> Vec<(usize, SocketAddr)> {
        self.members
            .iter()
            .enumerate()
            .map(|(i, m)| (i, port.map(|p| SocketAddr::new(m.address.ip(), p)).unwrap_or(m.address)))
            .collect()
    }

    pub(crate) fn record_probe(&self, index: usize, ok: bool, check: &ActiveCheck) -> Option<bool> {
        self.members.get(index).and_then(|m| m.health.record_probe(ok, check))
    }
}

/// A request or connection in flight on an endpoint (for least connections).
#[derive(Debug)]
pub struct InFlight {
    cluster: Arc<ClusterState>,
    index: usize,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Some(m) = self.cluster.members.get(self.index) {
            m.in_flight.fetch_sub(1, Ordering::Relaxed);
        }
        self.cluster.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests;

/// `ns/svc:80~tags` as ingress-nginx names the upstream: `ns-svc-80`.
fn upstream_log_name(cluster: &str) -> String {
    let base = cluster.split('~').next().unwrap_or(cluster);
    base.replace(['/', ':'], "-")
}
