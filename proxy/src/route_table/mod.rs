//! The routing part of a Snapshot in the form requests read: per route
//! config, hosts in hash maps and one `matchit` router per virtual host;
//! clusters with their rotations. Lookup agrees with the reference
//! [`sluice_config::RouteConfig::lookup`].

mod hosts;
mod paths;
mod request_matcher;
mod route;

pub use route::{CompiledRoute, SplitKey};
use route::{RouteInput, RouteNames};

use crate::cluster::ClusterState;
use crate::tls::CertificateSet;
use hosts::HostIndex;
use paths::PathRouter;
use sluice_config::{
    HostChange, L4Policy, ListenerKind, ObjectRef, RouteConfig, RoutePolicy, Snapshot, VirtualHost, VirtualHostTls,
    VirtualHosts,
};
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;

/// A part of a Snapshot that could not be compiled. The rest of the
/// Snapshot is served; the part keeps its last good form when it had one.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CompileError {
    #[error("route config {route_config}, host {host}: {message}")]
    Path {
        route_config: String,
        host: String,
        message: String,
        /// The object of the host's first route.
        object: Option<ObjectRef>,
        /// Whether the host's last good form is served in its place.
        kept: bool,
    },
}

/// Everything of one Snapshot that requests read, compiled.
#[derive(Debug, Default)]
pub struct RouteTable {
    configs: HashMap<String, Arc<RoutesForListener>>,
    clusters: HashMap<String, Arc<ClusterState>>,
    l4: HashMap<String, Arc<L4Listener>>,
    http: HashMap<String, HttpListener>,
    certificates: CertificateSet,
    generation: u64,
    problems: Vec<CompileError>,
    /// `Strict-Transport-Security` for answers over HTTPS.
    hsts: Option<http::HeaderValue>,
    /// Where client addresses come from behind another proxy.
    real_ip: Option<sluice_config::RealIp>,
    /// `block-user-agents`, `block-referers`: one set of patterns each.
    blocked_agents: Option<regex::RegexSet>,
    blocked_referers: Option<regex::RegexSet>,
    /// `proxy-ssl-secret` certificates and CAs, parsed.
    upstream_identities: crate::http::UpstreamIdentities,
    /// Client and upstream connection settings, read as connections open.
    connections: sluice_config::Connections,
}

/// An HTTP or HTTPS listener: where it listens, its route config, its TLS
/// side, and the object that asked for it (the source of its first route).
#[derive(Debug, Clone, PartialEq)]
pub struct HttpListener {
    pub address: SocketAddr,
    pub route_config: String,
    pub tls: Option<ListenerTls>,
    pub source: Option<ObjectRef>,
}

/// An HTTPS listener's certificate when no virtual host's applies.
#[derive(Debug, Clone, PartialEq)]
pub struct ListenerTls {
    pub default_certificate: Option<String>,
    /// A connection whose SNI names no stream host is closed.
    pub streams_only: bool,
}

/// A TCP or UDP listener, compiled: where it listens and where its
/// connections go.
#[derive(Debug)]
pub struct L4Listener {
    pub name: String,
    pub address: SocketAddr,
    pub udp: bool,
    pub policy: L4Policy,
    /// The object that asked for it.
    pub source: Option<ObjectRef>,
    /// Its split, as a route (the label is the listener's name).
    pub route: Arc<CompiledRoute>,
}

impl RouteTable {
    /// Compiles `snapshot`. Clusters whose endpoints did not change since
    /// `previous` keep their state (rotation position), so a swap does not
    /// reshuffle traffic. A host that cannot be compiled keeps its form of
    /// `previous` (or is left out) and is listed in [`RouteTable::problems`]:
    /// one bad host never holds back the rest of a Snapshot.
    pub fn compile(snapshot: &Snapshot, previous: Option<&RouteTable>) -> Self {
        let mut clusters = HashMap::with_capacity(snapshot.clusters.len());
        for c in &snapshot.clusters {
            let state = match previous.and_then(|p| p.clusters.get(&c.name)) {
                Some(old) if old.serves(c) => old.clone(),
                old => Arc::new(ClusterState::new(c, old.map(|o| o.as_ref()))),
            };
            clusters.insert(c.name.clone(), state);
        }
        // Whether every cluster resolves to the state it had: then a host
        // whose input is the one compiled last time is served as it was.
        let clusters_as_before = previous.is_some_and(|p| {
            p.clusters.len() == clusters.len()
                && clusters.iter().all(|(name, c)| p.clusters.get(name).is_some_and(|o| Arc::ptr_eq(o, c)))
        });
        let mut configs = HashMap::new();
        let mut problems = Vec::new();
        for rc in &snapshot.route_configs {
            let last = previous.and_then(|p| p.configs.get(&rc.name)).map(|r| r.as_ref());
            let compiled = RoutesForListener::compile(rc, &clusters, clusters_as_before, last, &mut problems);
            configs.insert(rc.name.clone(), Arc::new(compiled));
        }
        let mut l4 = HashMap::new();
        let mut http = HashMap::new();
        for l in &snapshot.listeners {
            let http_side = match &l.kind {
                ListenerKind::Http { route_config } => Some((route_config, None)),
                ListenerKind::Https { route_config, default_certificate, streams_only } => {
                    let tls =
                        ListenerTls { default_certificate: default_certificate.clone(), streams_only: *streams_only };
                    Some((route_config, Some(tls)))
                }
                _ => None,
            };
            if let Some((route_config, tls)) = http_side {
                let listener = HttpListener {
                    address: l.address,
                    route_config: route_config.clone(),
                    tls,
                    source: l.source.clone(),
                };
                http.insert(l.name.clone(), listener);
            }
            let (Some(split), Some(policy)) = (l.kind.split(), l.kind.l4_policy()) else { continue };
            let names = RouteNames { host: "".into(), source: l.source.clone().map(Arc::new) };
            let mut route = CompiledRoute::new(RouteInput::whole(split, &Arc::default()), names, &clusters, None);
            route.label = l.name.as_str().into();
            l4.insert(
                l.name.clone(),
                Arc::new(L4Listener {
                    name: l.name.clone(),
                    address: l.address,
                    udp: l.kind.is_udp(),
                    policy: policy.clone(),
                    source: l.source.clone(),
                    route: Arc::new(route),
                }),
            );
        }
        let certificates = CertificateSet::compile(snapshot, previous.map(|p| &p.certificates));
        let hsts = snapshot.hsts.as_deref().and_then(|h| http::HeaderValue::from_str(h).ok());
        let real_ip = snapshot.real_ip.clone();
        let blocked = |entries: &[String]| {
            let patterns: Vec<String> =
                entries.iter().filter_map(|e| sluice_config::blocklist::entry_regex(e).ok()).collect();
            (!patterns.is_empty()).then(|| regex::RegexSet::new(patterns).ok()).flatten()
        };
        let blocklist = snapshot.blocklist.clone().unwrap_or_default();
        Self {
            configs,
            clusters,
            l4,
            http,
            certificates,
            generation: snapshot.generation,
            problems,
            hsts,
            real_ip,
            blocked_agents: blocked(&blocklist.user_agents),
            blocked_referers: blocked(&blocklist.referers),
            upstream_identities: crate::http::UpstreamIdentities::compile(
                snapshot,
                previous.map(|p| &p.upstream_identities),
            ),
            connections: snapshot.connections.clone(),
        }
    }

    /// The routes an L7 listener serves (its `routeConfig`).
    pub fn routes(&self, route_config: &str) -> Option<&Arc<RoutesForListener>> {
        self.configs.get(route_config)
    }

    pub fn cluster(&self, name: &str) -> Option<&Arc<ClusterState>> {
        self.clusters.get(name)
    }

    pub fn clusters(&self) -> impl Iterator<Item = &Arc<ClusterState>> {
        self.clusters.values()
    }

    /// Starts the active health probes of clusters that have them and whose
    /// probes do not run yet; they stop when their cluster state is dropped.
    pub fn start_probes(&self, runtime: &tokio::runtime::Handle) {
        for c in self.clusters.values() {
            crate::health::active::ensure_started(c, runtime);
        }
    }

    pub fn generation(&self) -> u64 {
        self.generation
    }

    pub fn l4(&self, name: &str) -> Option<&Arc<L4Listener>> {
        self.l4.get(name)
    }

    pub fn l4_listeners(&self) -> impl Iterator<Item = &Arc<L4Listener>> {
        self.l4.values()
    }

    /// The Snapshot's certificates, parsed.
    pub fn certificates(&self) -> &CertificateSet {
        &self.certificates
    }

    /// How client and upstream connections are held.
    pub fn connections(&self) -> &sluice_config::Connections {
        &self.connections
    }

    /// `Strict-Transport-Security` for answers over HTTPS, when sent.
    pub fn hsts(&self) -> Option<&http::HeaderValue> {
        self.hsts.as_ref()
    }

    /// Whether a request is refused for its `User-Agent` or `Referer`
    /// (`block-user-agents`, `block-referers`).
    /// The headers are read only when a list is set.
    pub fn blocked<'h>(&self, header: impl Fn(http::HeaderName) -> Option<&'h str>) -> bool {
        if self.blocked_agents.is_none() && self.blocked_referers.is_none() {
            return false;
        }
        let hit = |set: &Option<regex::RegexSet>, name| {
            set.as_ref().is_some_and(|s| header(name).is_some_and(|v| s.is_match(v)))
        };
        hit(&self.blocked_agents, http::header::USER_AGENT) || hit(&self.blocked_referers, http::header::REFERER)
    }

    /// How a route meets its TLS upstream: its client certificate, the CA
    /// and the names it checks the upstream's against.
    pub fn upstream_identity(&self, policy: &RoutePolicy) -> Option<crate::http::UpstreamIdentity> {
        self.upstream_identities.get(policy)
    }

    /// The TLS client of a stream re-encrypted to its backend under `policy`.
    pub fn stream_client(&self, policy: &RoutePolicy) -> Option<Arc<rustls::ClientConfig>> {
        self.upstream_identities.stream_client(policy)
    }

    /// Where client addresses come from behind another proxy (`None`: the peer).
    pub fn real_ip(&self) -> Option<&sluice_config::RealIp> {
        self.real_ip.as_ref()
    }

    /// The parts of the Snapshot that could not be compiled.
    pub fn problems(&self) -> &[CompileError] {
        &self.problems
    }

    /// HTTP and HTTPS listeners by name.
    pub fn http_listeners(&self) -> &HashMap<String, HttpListener> {
        &self.http
    }
}

#[derive(Debug)]
struct CompiledHost {
    /// What it was compiled from, shared with the Snapshot.
    input: Arc<VirtualHost>,
    routes: Vec<Arc<CompiledRoute>>,
    paths: Arc<PathRouter>,
}

impl CompiledHost {
    /// Whether this host serves `vh` as compiling it again would: the same
    /// input, and every cluster its routes name resolves to the state they
    /// hold. Then it is kept whole, with its routes' rotations and limits.
    fn serves(
        &self,
        vh: &Arc<VirtualHost>,
        clusters: &HashMap<String, Arc<ClusterState>>,
        clusters_as_before: bool,
    ) -> bool {
        if Arc::ptr_eq(&self.input, vh) && clusters_as_before {
            return true;
        }
        (Arc::ptr_eq(&self.input, vh) || self.input == *vh)
            && self.routes.iter().zip(&vh.routes).all(|(c, r)| c.resolves_as_before(&RouteInput::route(r), clusters))
    }

    fn checks_client_certificates(&self) -> bool {
        self.input.tls.as_ref().is_some_and(|t| t.client_verify.is_some())
    }

    /// What it adds to its route config's [`TlsHosts`].
    fn tls_hosts(&self) -> TlsHosts {
        let listener = self.input.tls.as_ref().is_some_and(|t| t.listener.is_some());
        TlsHosts {
            checking_client_certificates: usize::from(self.checks_client_certificates()),
            of_listeners: usize::from(listener),
        }
    }
}

/// How many hosts of a route config check client certificates, and how
/// many are a Gateway listener's: only when some are does a request need
/// its host's TLS settings looked up again.
#[derive(Debug, Clone, Copy, Default)]
struct TlsHosts {
    checking_client_certificates: usize,
    of_listeners: usize,
}

impl TlsHosts {
    fn sum<'h>(hosts: impl Iterator<Item = &'h Arc<CompiledHost>>) -> Self {
        hosts.map(|h| h.tls_hosts()).fold(Self::default(), |a, b| TlsHosts {
            checking_client_certificates: a.checking_client_certificates + b.checking_client_certificates,
            of_listeners: a.of_listeners + b.of_listeners,
        })
    }

    /// These, with `added` and without `removed`.
    fn changed(self, added: Self, removed: Self) -> Self {
        TlsHosts {
            checking_client_certificates: self.checking_client_certificates + added.checking_client_certificates
                - removed.checking_client_certificates,
            of_listeners: self.of_listeners + added.of_listeners - removed.of_listeners,
        }
    }
}

/// One route config, compiled.
#[derive(Debug)]
pub struct RoutesForListener {
    hosts: HostIndex<CompiledHost>,
    /// The virtual hosts this was compiled from, as the Snapshot gave them:
    /// the next compile finds the hosts that changed by difference.
    input: VirtualHosts,
    /// Each host compiled, by host; a host that could not be compiled keeps
    /// its last form, or has none.
    compiled: imbl::OrdMap<String, Arc<CompiledHost>>,
    /// The hosts that could not be compiled and why, reported again while
    /// they stay as they are.
    failing: BTreeMap<String, CompileError>,
    default_backend: Option<Arc<CompiledRoute>>,
    tls_hosts: TlsHosts,
}

impl RoutesForListener {
    /// Compiles `rc`; a host whose paths cannot be compiled takes its form
    /// in `last` if it had one, and goes into `problems`. Only the hosts
    /// that differ from `last`'s input are looked at (every host when some
    /// cluster changed: `clusters_as_before` is false); one that `last`
    /// serves as it is (see [`CompiledHost::serves`]) is reused. The host
    /// map and index are `last`'s with the changed hosts edited in, so a
    /// change costs the hosts it touches.
    fn compile(
        rc: &RouteConfig,
        clusters: &HashMap<String, Arc<ClusterState>>,
        clusters_as_before: bool,
        last: Option<&RoutesForListener>,
        problems: &mut Vec<CompileError>,
    ) -> Self {
        let none = VirtualHosts::new();
        let (mut compiled, mut failing, last_input) = match last {
            Some(l) => (l.compiled.clone(), l.failing.clone(), &l.input),
            None => (imbl::OrdMap::new(), BTreeMap::new(), &none),
        };
        let mut todo = Vec::new();
        let mut gone = Vec::new();
        for change in last_input.diff(&rc.virtual_hosts) {
            match change {
                HostChange::Added(vh) | HostChange::Changed { new: vh, .. } if clusters_as_before => todo.push(vh),
                HostChange::Removed(vh) => gone.push(&vh.host),
                _ => {}
            }
        }
        if !clusters_as_before {
            todo = rc.virtual_hosts.iter().collect();
        }
        let mut dropped: Vec<Arc<CompiledHost>> = Vec::new();
        let mut fresh: Vec<Arc<CompiledHost>> = Vec::new();
        for host in gone {
            failing.remove(host);
            dropped.extend(compiled.remove(host));
        }
        for vh in todo {
            failing.remove(&vh.host);
            let last_host = compiled.get(&vh.host).cloned();
            if let Some(h) = &last_host
                && h.serves(vh, clusters, clusters_as_before)
            {
                if !Arc::ptr_eq(&h.input, vh) {
                    // An equal input made again: served as it was, but held
                    // through the Snapshot's `Arc`, so the next swap finds it
                    // by pointer instead of comparing it whole again.
                    let host =
                        Arc::new(CompiledHost { input: vh.clone(), routes: h.routes.clone(), paths: h.paths.clone() });
                    dropped.push(h.clone());
                    fresh.push(host.clone());
                    compiled.insert(vh.host.clone(), host);
                }
                continue;
            }
            let paths = match PathRouter::compile(&vh.routes) {
                Ok(paths) => paths,
                Err(message) => {
                    let error = CompileError::Path {
                        route_config: rc.name.clone(),
                        host: vh.host.clone(),
                        message,
                        object: vh.routes.first().map(|r| r.source.clone()),
                        kept: last_host.is_some(),
                    };
                    failing.insert(vh.host.clone(), error);
                    continue;
                }
            };
            let host_name: Arc<str> = vh.host.as_str().into();
            let mut source: Option<Arc<ObjectRef>> = None;
            let routes = vh
                .routes
                .iter()
                .map(|r| {
                    let label = CompiledRoute::label_for(Some(&r.path));
                    let previous = last_host.as_ref().and_then(|h| h.routes.iter().find(|p| *p.label == *label));
                    // The routes of one object are next to each other, as a rule.
                    let shared = match &source {
                        Some(s) if **s == r.source => s.clone(),
                        _ => source.insert(Arc::new(r.source.clone())).clone(),
                    };
                    let names = RouteNames { host: host_name.clone(), source: Some(shared) };
                    let previous = previous.map(|p| p.as_ref());
                    Arc::new(CompiledRoute::new(RouteInput::route(r), names, clusters, previous))
                })
                .collect();
            let host = Arc::new(CompiledHost { input: vh.clone(), routes, paths: Arc::new(paths) });
            dropped.extend(last_host);
            fresh.push(host.clone());
            compiled.insert(vh.host.clone(), host);
        }
        problems.extend(failing.values().cloned());
        let default_backend = rc.default_backend.as_ref().map(|split| {
            let previous = last.and_then(|l| l.default_backend.as_deref());
            let names = RouteNames { host: "".into(), source: None };
            Arc::new(CompiledRoute::new(
                RouteInput::whole(split, &Arc::new(rc.default_policy.clone())),
                names,
                clusters,
                previous,
            ))
        });
        let edited = last.filter(|l| !l.hosts.shared()).and_then(|l| {
            let mut hosts = l.hosts.clone();
            for h in &dropped {
                hosts.remove(&h.input.host, h);
            }
            fresh.iter().all(|h| hosts.insert(&h.input.host, h)).then_some((hosts, l.tls_hosts))
        });
        let (mut hosts, tls_hosts) = match edited {
            Some((hosts, counted)) => {
                (hosts, counted.changed(TlsHosts::sum(fresh.iter()), TlsHosts::sum(dropped.iter())))
            }
            None => (
                HostIndex::build(compiled.iter().map(|(host, h)| (host.as_str(), h))),
                TlsHosts::sum(compiled.values()),
            ),
        };
        hosts.set_wildcard_any_depth(rc.wildcard_any_depth);
        Self { hosts, input: rc.virtual_hosts.clone(), compiled, failing, default_backend, tls_hosts }
    }

    /// The route for a request: `host` is its Host (port and case ignored),
    /// `path` its path without query, `request` what routes with conditions
    /// look at (method, headers, query). The default backend when nothing
    /// matches; `None`: 404.
    pub fn lookup(
        &self,
        host: &str,
        path: &str,
        request: Option<&http::request::Parts>,
    ) -> Option<&Arc<CompiledRoute>> {
        if let Some(h) = self.hosts.find(host)
            && let Some(r) = h.paths.find(&h.input.routes, path, request)
        {
            return Some(&h.routes[r]);
        }
        self.default_backend.as_ref()
    }

    /// The TLS settings of the virtual host serving `host`.
    pub fn tls(&self, host: &str) -> Option<&VirtualHostTls> {
        self.hosts.find(host).and_then(|h| h.input.tls.as_ref())
    }

    /// Whether any host of this route config checks client certificates.
    pub fn checks_client_certificates(&self) -> bool {
        self.tls_hosts.checking_client_certificates > 0
    }

    /// Whether a request for `host` on a connection made for `sni` is
    /// misdirected (421): each name is a different Gateway listener's.
    pub fn misdirected(&self, sni: &str, host: &str) -> bool {
        if self.tls_hosts.of_listeners == 0 {
            return false;
        }
        let listener = |name: &str| self.tls(name).and_then(|t| t.listener.as_deref());
        matches!((listener(sni), listener(host)), (Some(a), Some(b)) if a != b)
    }

    /// The certificate named for the virtual host of an SNI name.
    pub fn certificate_for(&self, sni: &str) -> Option<&str> {
        self.tls(sni).and_then(|t| t.certificate.as_deref())
    }
}

#[cfg(test)]
mod tests;
