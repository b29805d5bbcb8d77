//! A route as requests use it: which cluster a request goes to, by canary
//! rule or weighted split.

use crate::balancer::{SmoothWrr, key_hash, rendezvous};
use crate::client_limits::ClientLimits;
use crate::cluster::ClusterState;
use crate::http::{BasicAuthCheck, CorsHeaders, ExternalAuthState, HeaderOps};
use regex::Regex;
use sluice_config::{
    Affinity, CanaryVerdict, HeaderMatch, KeyPart, ObjectRef, PathMatch, PathModifier, RewriteTarget, RoutePolicy,
    Split, always_never,
};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// A weighted choice between clusters.
#[derive(Debug)]
pub(crate) struct WeightedClusters {
    rotation: SmoothWrr,
    clusters: Box<[Arc<ClusterState>]>,
    /// (stable id, weight) per cluster, for choosing by a client key.
    ids: Box<[(u64, u32)]>,
}

impl WeightedClusters {
    fn new(split: &Split, clusters: &HashMap<String, Arc<ClusterState>>, keep: impl Fn(&str) -> bool) -> Self {
        let chosen: Vec<_> = split
            .0
            .iter()
            .filter(|w| keep(&w.cluster))
            .filter_map(|w| clusters.get(&w.cluster).map(|c| (w, c)))
            .collect();
        let weights: Vec<u32> = chosen.iter().map(|(w, _)| w.weight).collect();
        Self {
            rotation: SmoothWrr::new(&weights),
            clusters: chosen.iter().map(|(_, c)| Arc::clone(c)).collect(),
            ids: chosen.iter().map(|(w, _)| (key_hash(w.cluster.as_bytes()), w.weight)).collect(),
        }
    }

    /// By rotation, or by a client key: then a client stays on its side of
    /// the split while the weights stay.
    fn pick(&self, key: Option<u64>) -> Option<&Arc<ClusterState>> {
        match key {
            Some(k) if self.clusters.len() > 1 => rendezvous(k, &self.ids).map(|i| &self.clusters[i]),
            _ => self.rotation.next().map(|i| &self.clusters[i]),
        }
    }
}

#[derive(Debug)]
struct CompiledCanary {
    header: Option<HeaderMatch>,
    pattern: Option<Regex>,
    cookie: Option<String>,
    target: WeightedClusters,
}

/// One route, ready for requests.
#[derive(Debug)]
pub struct CompiledRoute {
    /// The virtual host it belongs to (`*` for host-less rules, empty for
    /// the default backend); a metrics label, shared by the host's routes.
    pub host: Arc<str>,
    /// `Prefix /api`, or `default backend`; a metrics label.
    pub label: Box<str>,
    /// The Snapshot's, shared.
    pub policy: Arc<RoutePolicy>,
    /// Per-client limits (`limit-rps`, `limit-connections`); their state
    /// carries across swaps while the route's limits stay the same.
    pub limits: Option<Arc<ClientLimits>>,
    /// Shared by the routes of one object within a host.
    pub source: Option<Arc<ObjectRef>>,
    split: WeightedClusters,
    /// The split without the canaries' clusters, where `never` sends a
    /// request; only routes with canaries have one apart from the split.
    main: Option<Box<WeightedClusters>>,
    canaries: Vec<CompiledCanary>,
    // The parts most routes do not have are boxed: a route pays a pointer
    // for each, not its size (the auth state alone is over a kilobyte).
    split_key: Option<Box<SplitKey>>,
    /// `rewrite-target`, with the route's path as its regex; a Gateway
    /// API URLRewrite's path.
    pub rewrite: Option<Box<Rewrite>>,
    /// The route's own rule, which a Gateway API redirect's
    /// `ReplacePrefixMatch` replaces; only routes that redirect keep it.
    pub redirect_match: Option<Box<PathMatch>>,
    /// `enable-cors`: the headers, made once.
    pub cors: Option<Box<CorsHeaders>>,
    /// `auth-type: basic`: the challenge and the credentials checked.
    pub basic_auth: Option<Box<BasicAuthCheck>>,
    /// `auth-url`: the auth service and the cached verdicts.
    pub external_auth: Option<Box<ExternalAuthState>>,
    /// Changes to the upstream request and to the client's answer.
    pub request_headers: HeaderOps,
    pub response_headers: HeaderOps,
    /// `default-backend`: its cluster.
    pub error_backend: Option<Arc<ClusterState>>,
    /// Each mirror's cluster, in the policy's order.
    pub mirrors: Box<[Option<Arc<ClusterState>>]>,
    /// Each cluster the input names (in [`RouteInput::cluster_names`]
    /// order), as it was found at compile time.
    resolved: Box<[Option<Arc<ClusterState>>]>,
}

/// How the upstream's path is made from the request's.
#[derive(Debug)]
pub enum Rewrite {
    /// nginx's `rewrite "(?i)PATH" TARGET break;`: the path's regex, not
    /// anchored, applied to the request's normalised path.
    Nginx { regex: Regex, target: RewriteTarget },
    /// Gateway API URLRewrite: the path, or the part the route's prefix
    /// matched, replaced.
    Gateway { matched: PathMatch, modifier: PathModifier },
}

impl Rewrite {
    fn compile(path: Option<&PathMatch>, policy: &RoutePolicy) -> Option<Self> {
        let path = path?;
        if let Some(modifier) = &policy.path_rewrite {
            return Some(Rewrite::Gateway { matched: path.clone(), modifier: modifier.clone() });
        }
        let target = policy.rewrite_target.as_ref()?;
        let regex = regex::RegexBuilder::new(&path.path).case_insensitive(true).build().ok()?;
        Some(Rewrite::Nginx { regex, target: target.clone() })
    }

    /// The rewritten path and query; `None` when the path does not match
    /// (nginx then leaves the request as it is).
    pub fn apply(&self, path: &str, query: Option<&str>) -> Option<String> {
        match self {
            Rewrite::Nginx { regex, target } => regex.captures(path).map(|c| target.expand(&c, query)),
            Rewrite::Gateway { matched, modifier } => Some(modifier.apply_with_query(matched, path, query)),
        }
    }
}

/// The client key a split is chosen by, when its clusters keep clients.
#[derive(Debug, Clone)]
pub enum SplitKey {
    /// The clusters hash this request key: the split hashes it first.
    Hash(Vec<KeyPart>),
    /// The clusters keep clients by address.
    ClientIp,
    /// `affinity-canary-behavior: sticky`: the main cluster's affinity
    /// cookie keeps a client on its side of the split.
    Cookie(Affinity),
}

/// What a route is compiled from: a Snapshot route of a host, a route
/// config's default backend, or an L4 listener's split.
pub(crate) struct RouteInput<'a> {
    pub path: Option<&'a PathMatch>,
    pub split: &'a Split,
    pub canaries: &'a [sluice_config::Canary],
    pub policy: &'a Arc<RoutePolicy>,
}

/// What names a compiled route in logs and metrics, shared between the
/// routes that have the same.
pub(crate) struct RouteNames {
    pub host: Arc<str>,
    pub source: Option<Arc<ObjectRef>>,
}

impl<'a> RouteInput<'a> {
    pub fn route(r: &'a sluice_config::Route) -> Self {
        let (path, split, canaries) = (Some(&r.path), &r.split, r.canaries.as_slice());
        RouteInput { path, split, canaries, policy: &r.policy }
    }

    /// A split served whatever the path: a default backend, an L4 listener.
    pub fn whole(split: &'a Split, policy: &'a Arc<RoutePolicy>) -> Self {
        RouteInput { path: None, split, canaries: &[], policy }
    }

    /// Every cluster a route compiled from this input looks up.
    fn cluster_names(&self) -> impl Iterator<Item = &'a str> + use<'a> {
        let policy = self.policy;
        let canaries = self.canaries.iter().flat_map(|c| c.split.0.iter());
        self.split
            .0
            .iter()
            .chain(canaries)
            .map(|w| w.cluster.as_str())
            .chain(policy.error_backend.as_ref().map(|b| b.cluster.as_str()))
            .chain(policy.mirrors.iter().map(|m| m.cluster.as_str()))
            .chain(policy.external_auth.as_ref().map(|a| a.cluster.as_str()))
    }
}

impl CompiledRoute {
    /// Compiles `input` against the table's clusters; `previous`, the same
    /// route in the table being replaced, hands over its client-limit state.
    pub(crate) fn new(
        input: RouteInput<'_>,
        names: RouteNames,
        clusters: &HashMap<String, Arc<ClusterState>>,
        previous: Option<&CompiledRoute>,
    ) -> Self {
        let resolved = input.cluster_names().map(|name| clusters.get(name).cloned()).collect();
        let RouteInput { path, split, canaries, policy } = input;
        let canary_clusters: HashSet<&str> =
            canaries.iter().flat_map(|c| c.split.0.iter().map(|w| w.cluster.as_str())).collect();
        let members = split.0.iter().filter_map(|w| clusters.get(&w.cluster));
        let main_cookie = split.0.first().and_then(|w| clusters.get(&w.cluster)).and_then(|c| c.cookie_affinity());
        let split_key = members
            .clone()
            .find_map(|c| c.hash_key().map(|k| SplitKey::Hash(k.to_vec())))
            .or_else(|| {
                let mut m = members;
                m.any(|c| c.client_ip_affinity()).then_some(SplitKey::ClientIp)
            })
            .or_else(|| {
                let sticky = policy.sticky_canary && !canaries.is_empty();
                main_cookie.filter(|_| sticky).map(|a| SplitKey::Cookie(a.clone()))
            });
        Self {
            host: names.host,
            label: Self::label_for(path).into(),
            policy: policy.clone(),
            limits: ClientLimits::carried(policy, previous.and_then(|p| p.limits.as_ref())),
            source: names.source,
            split: WeightedClusters::new(split, clusters, |_| true),
            main: (!canaries.is_empty())
                .then(|| Box::new(WeightedClusters::new(split, clusters, |c| !canary_clusters.contains(c)))),
            canaries: canaries
                .iter()
                .map(|c| CompiledCanary {
                    pattern: c
                        .header
                        .as_ref()
                        .and_then(|h| h.pattern.as_ref())
                        .and_then(|p| Regex::new(&format!("^(?:{p})$")).ok()),
                    header: c.header.clone(),
                    cookie: c.cookie.clone(),
                    target: WeightedClusters::new(&c.split, clusters, |_| true),
                })
                .collect(),
            split_key: split_key.map(Box::new),
            rewrite: Rewrite::compile(path, policy).map(Box::new),
            redirect_match: path.filter(|_| policy.url_redirect.is_some()).cloned().map(Box::new),
            cors: policy.cors.as_ref().map(|c| Box::new(CorsHeaders::compile(c))),
            basic_auth: policy.basic_auth.as_ref().map(|a| Box::new(BasicAuthCheck::compile(a))),
            external_auth: policy
                .external_auth
                .as_ref()
                .map(|a| Box::new(ExternalAuthState::compile(a, policy, clusters))),
            request_headers: HeaderOps::compile(&policy.request_headers),
            response_headers: HeaderOps::compile(&policy.response_headers),
            error_backend: policy.error_backend.as_ref().and_then(|b| clusters.get(&b.cluster)).cloned(),
            mirrors: policy.mirrors.iter().map(|m| clusters.get(&m.cluster).cloned()).collect(),
            resolved,
        }
    }

    /// Whether `input` (the one this route was compiled from) finds the
    /// same cluster states in `clusters` as it did then.
    pub(crate) fn resolves_as_before(
        &self,
        input: &RouteInput<'_>,
        clusters: &HashMap<String, Arc<ClusterState>>,
    ) -> bool {
        let same = |(name, was): (&str, &Option<Arc<ClusterState>>)| match (clusters.get(name), was) {
            (Some(now), Some(was)) => Arc::ptr_eq(now, was),
            (None, None) => true,
            _ => false,
        };
        input.cluster_names().count() == self.resolved.len()
            && input.cluster_names().zip(self.resolved.iter()).all(same)
    }

    /// `Prefix /api`, or `default backend`: what names a route within its host.
    /// ingress-nginx's `$proxy_upstream_name` and
    /// `$proxy_alternative_upstream_name` for a request `chosen` served: a
    /// canary's cluster is the alternative to the route's main one.
    pub fn upstream_names<'s>(&'s self, chosen: &'s ClusterState) -> (&'s str, Option<&'s str>) {
        let main = self.main();
        let is_main = main.clusters.iter().any(|c| std::ptr::eq(&**c, chosen));
        match main.clusters.first() {
            Some(main) if !is_main => (main.log_name.as_str(), Some(chosen.log_name.as_str())),
            _ => (chosen.log_name.as_str(), None),
        }
    }

    pub(crate) fn label_for(path: Option<&PathMatch>) -> String {
        match path {
            Some(p) => format!("{:?} {}", p.kind, p.path),
            None => "default backend".into(),
        }
    }

    fn main(&self) -> &WeightedClusters {
        self.main.as_deref().unwrap_or(&self.split)
    }

    /// What the split's side is chosen by, if anything but rotation.
    pub fn split_key(&self) -> Option<&SplitKey> {
        self.split_key.as_deref()
    }

    /// The split's cluster holding the endpoint a persistent affinity
    /// cookie names.
    pub fn cluster_with_endpoint(&self, cookie: &str) -> Option<&Arc<ClusterState>> {
        let id = u64::from_str_radix(cookie, 16).ok()?;
        self.split.clusters.iter().find(|c| c.has_endpoint_id(id))
    }

    /// The split's cluster a key hash keeps a client on.
    pub fn side_for(&self, hash: u64) -> Option<&Arc<ClusterState>> {
        self.split.pick(Some(hash))
    }

    /// The cluster for a request: canaries' header rules, then their cookie
    /// rules (ingress-nginx precedence), then `kept` (the side an affinity
    /// cookie keeps), then the weighted split, chosen by `split_hash` (the
    /// hash of [`CompiledRoute::split_key`]) when given. `None`: 503.
    pub fn choose<'s, 'h>(
        &'s self,
        header: impl Fn(&str) -> Option<&'h str>,
        cookie: impl Fn(&str) -> Option<&'h str>,
        split_hash: Option<u64>,
        kept: Option<&'s Arc<ClusterState>>,
    ) -> Option<&'s Arc<ClusterState>> {
        for c in &self.canaries {
            let Some(h) = &c.header else { continue };
            let verdict = h.verdict(header(&h.name), |v| c.pattern.as_ref().is_some_and(|p| p.is_match(v)));
            match verdict {
                CanaryVerdict::Canary => return c.target.pick(split_hash),
                CanaryVerdict::Main => return self.main().pick(split_hash),
                CanaryVerdict::Undecided => {}
            }
        }
        for c in &self.canaries {
            let Some(name) = &c.cookie else { continue };
            match cookie(name).map(always_never).unwrap_or(CanaryVerdict::Undecided) {
                CanaryVerdict::Canary => return c.target.pick(split_hash),
                CanaryVerdict::Main => return self.main().pick(split_hash),
                CanaryVerdict::Undecided => {}
            }
        }
        kept.or_else(|| self.split.pick(split_hash))
    }
}
