//! Internal consistency of a Snapshot: what every consumer may rely on.
//! Translation checks its output with this before publishing, so a consumer
//! never has to handle a dangling name or an unordered list.

use crate::{HostPattern, ListenerKind, PathKind, PathMatch, Route, RouteConfig, Snapshot, Split, VirtualHost};
use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

/// One broken promise of the model, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub at: String,
    pub message: String,
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.at, self.message)
    }
}

impl Snapshot {
    pub fn validate(&self) -> Vec<Invalid> {
        self.validate_hosts(None)
    }

    /// As [`Snapshot::validate`], but of the virtual hosts only `fresh`
    /// are checked (a translation by difference checked the others when it
    /// made them), so the check costs what changed; every host still
    /// counts for duplicate patterns.
    pub fn validate_fresh(&self, fresh: &[Arc<VirtualHost>]) -> Vec<Invalid> {
        self.validate_hosts(Some(fresh))
    }

    fn validate_hosts(&self, fresh: Option<&[Arc<VirtualHost>]>) -> Vec<Invalid> {
        let mut out = Vec::new();
        let mut bad = |at: String, message: &str| out.push(Invalid { at, message: message.to_owned() });
        self.check_listeners(&mut bad);
        let mut rc_names = HashSet::new();
        for (i, rc) in self.route_configs.iter().enumerate() {
            let at = format!("routeConfigs[{i}]");
            if !rc_names.insert(&rc.name) {
                bad(at.clone(), "duplicate route config name");
            }
            self.check_route_config(rc, &at, &mut bad, fresh);
        }
        if !self.clusters.windows(2).all(|w| w[0].name < w[1].name) {
            bad("clusters".into(), "not sorted by name or duplicate names");
        }
        for (i, c) in self.clusters.iter().enumerate() {
            if c.endpoints.iter().any(|e| e.address.port() == 0) {
                bad(format!("clusters[{i}]"), "endpoint with port 0");
            }
        }
        if !self.certificates.windows(2).all(|w| w[0].name < w[1].name) {
            bad("certificates".into(), "not sorted by name or duplicate names");
        }
        if !self.services.windows(2).all(|w| w[0].name < w[1].name) {
            bad("services".into(), "not sorted by name or duplicate names");
        }
        out
    }

    fn check_listeners(&self, bad: &mut impl FnMut(String, &str)) {
        let mut names = HashSet::new();
        let mut sockets = HashSet::new();
        for (i, l) in self.listeners.iter().enumerate() {
            let at = format!("listeners[{i}]");
            if !names.insert(&l.name) {
                bad(at.clone(), "duplicate listener name");
            }
            if !sockets.insert((l.address, l.kind.is_udp())) {
                bad(at.clone(), "two listeners on one address");
            }
            if let Some(rc) = l.kind.route_config()
                && self.route_config(rc).is_none()
            {
                bad(at.clone(), "names a route config that does not exist");
            }
            if let ListenerKind::Https { default_certificate: Some(cert), .. } = &l.kind
                && self.certificate(cert).is_none()
            {
                bad(at.clone(), "names a default certificate that does not exist");
            }
            if let Some(split) = l.kind.split() {
                self.check_split(split, &|| format!("{at}.split"), bad);
            }
        }
    }

    fn check_route_config(
        &self,
        rc: &RouteConfig,
        at: &str,
        bad: &mut impl FnMut(String, &str),
        fresh: Option<&[Arc<VirtualHost>]>,
    ) {
        if let Some(split) = &rc.default_backend {
            self.check_split(split, &|| format!("{at}.defaultBackend"), bad);
        }
        // Where a host is, written only when it has a problem: most have none.
        let place = |host: &str| rc.virtual_hosts.iter().position(|vh| vh.host == host).unwrap_or_default();
        // Hosts are unique by name; written as their patterns are (as a
        // translation writes them), no two share a pattern either.
        if rc.virtual_hosts.may_share_patterns() {
            let mut patterns = HashSet::new();
            for vh in &rc.virtual_hosts {
                if !patterns.insert(HostPattern::parse(&vh.host)) {
                    bad(format!("{at}.virtualHosts[{}]", place(&vh.host)), "duplicate host");
                }
            }
        }
        let hosts: Box<dyn Iterator<Item = &Arc<VirtualHost>>> = match fresh {
            None => Box::new(rc.virtual_hosts.iter()),
            Some(fresh) => {
                Box::new(fresh.iter().filter(|vh| rc.virtual_hosts.get(&vh.host).is_some_and(|h| Arc::ptr_eq(h, vh))))
            }
        };
        for vh in hosts {
            let at = || format!("{at}.virtualHosts[{}]", place(&vh.host));
            if let Some(ca) = vh.tls.as_ref().and_then(|t| t.client_verify.as_ref())
                && self.certificate_authority(&ca.ca).is_none()
            {
                bad(at(), "names a certificate authority that does not exist");
            }
            if let Some(cert) = vh.tls.as_ref().and_then(|t| t.certificate.as_ref())
                && self.certificate(cert).is_none()
            {
                bad(at(), "names a certificate that does not exist");
            }
            self.check_routes(&vh.routes, &at, bad);
        }
    }

    fn check_routes(&self, routes: &[Route], at: &dyn Fn() -> String, bad: &mut impl FnMut(String, &str)) {
        let mut paths = HashSet::new();
        let regex = routes.iter().filter(|r| r.path.kind == PathKind::Regex).count();
        if regex > 0 && regex < routes.len() {
            bad(at(), "mixes regex paths with others: a regex host's paths are all regex locations");
        }
        for (k, r) in routes.iter().enumerate() {
            let at = || format!("{}.routes[{k}]", at());
            if !r.path.path.starts_with('/') {
                bad(at(), "path is not absolute");
            }
            if r.path.kind == PathKind::Prefix && r.path.path.len() > 1 && r.path.path.ends_with('/') {
                bad(at(), "prefix path keeps a trailing slash");
            }
            if r.path.kind == PathKind::Regex && PathMatch::location_regex(&r.path.path).is_err() {
                bad(at(), "regex path is not a regular expression");
            }
            if r.path.kind == PathKind::WholeRegex && crate::ValueMatch::whole_regex(&r.path.path).is_err() {
                bad(at(), "regex path is not a regular expression");
            }
            let conditions = r.conditions.as_deref();
            if conditions.is_some_and(|c| {
                c.headers.iter().chain(&c.query).any(|v| v.regex && crate::ValueMatch::whole_regex(&v.value).is_err())
            }) {
                bad(at(), "a condition's value is not a regular expression");
            }
            if !paths.insert((&r.path, conditions)) {
                bad(at(), "duplicate path");
            }
            if k > 0 && routes[k - 1].path.precedence(&r.path).is_gt() {
                bad(at(), "routes are not in precedence order");
            }
            self.check_split(&r.split, &|| format!("{}.split", at()), bad);
            let policy = &r.policy;
            let missing_cluster = |name: &Option<&String>| name.is_some_and(|n| self.cluster(n).is_none());
            if missing_cluster(&policy.external_auth.as_ref().map(|a| &a.cluster)) {
                bad(format!("{}.policy.externalAuth", at()), "names a cluster that does not exist");
            }
            if missing_cluster(&policy.error_backend.as_ref().map(|b| &b.cluster)) {
                bad(format!("{}.policy.errorBackend", at()), "names a cluster that does not exist");
            }
            if policy.upstream_certificate.as_ref().is_some_and(|c| self.certificate(c).is_none()) {
                bad(format!("{}.policy.upstreamCertificate", at()), "names a certificate that does not exist");
            }
            if policy.upstream_ca.as_ref().is_some_and(|ca| self.certificate_authority(ca).is_none()) {
                bad(format!("{}.policy.upstreamCa", at()), "names a certificate authority that does not exist");
            }
            for (k, m) in policy.mirrors.iter().enumerate() {
                if missing_cluster(&Some(&m.cluster)) {
                    bad(format!("{}.policy.mirrors[{k}]", at()), "names a cluster that does not exist");
                }
            }
            for (c, canary) in r.canaries.iter().enumerate() {
                self.check_split(&canary.split, &|| format!("{}.canaries[{c}].split", at()), bad);
            }
        }
    }

    fn check_split(&self, split: &Split, at: &dyn Fn() -> String, bad: &mut impl FnMut(String, &str)) {
        for (i, wc) in split.0.iter().enumerate() {
            if self.cluster(&wc.cluster).is_none() {
                bad(format!("{}[{i}]", at()), "names a cluster that does not exist");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::*;

    fn sample() -> Snapshot {
        let src = ObjectRef::new("Ingress", "default", "web");
        Snapshot {
            generation: 3,
            listeners: vec![Listener {
                name: "http".into(),
                address: "0.0.0.0:80".parse().unwrap(),
                kind: ListenerKind::Http { route_config: "ingress".into() },
                source: None,
            }],
            route_configs: vec![RouteConfig {
                wildcard_any_depth: false,
                name: "ingress".into(),
                default_backend: None,
                default_policy: RoutePolicy::default(),
                virtual_hosts: VirtualHosts::from(vec![std::sync::Arc::new(VirtualHost {
                    host: "foo.com".into(),
                    tls: None,
                    routes: vec![
                        Route {
                            path: PathMatch::exact("/foo"),
                            conditions: None,
                            split: Split::single("default/a:80"),
                            canaries: vec![],
                            policy: Default::default(),
                            source: src.clone(),
                        },
                        Route {
                            path: PathMatch::prefix("/"),
                            conditions: None,
                            split: Split::single("default/a:80"),
                            canaries: vec![],
                            policy: Default::default(),
                            source: src,
                        },
                    ],
                })]),
            }],
            clusters: vec![Cluster {
                name: "default/a:80".into(),
                service: ObjectRef::new("Service", "default", "a"),
                port: 80,
                balance: Balance::RoundRobin,
                affinity: None,
                health: HealthPolicy::default(),
                max_connections: None,
                endpoints: vec![Endpoint {
                    address: "192.0.2.1:8080".parse().unwrap(),
                    weight: 1,
                    terminating: false,
                    node: None,
                    pod: None,
                }],
                dns: None,
                unresolved: false,
            }],
            certificates: vec![],
            services: vec![],
            certificate_authorities: vec![],
            access_log_format: None,
            hsts: None,
            real_ip: None,
            blocklist: None,
            connections: Connections::default(),
            gateway_status: Vec::new(),
        }
    }

    #[test]
    fn a_consistent_snapshot_is_valid_and_round_trips_through_json() {
        let s = sample();
        assert_eq!(s.validate(), vec![]);
        let json = serde_json::to_string(&s).unwrap();
        let back: Snapshot = serde_json::from_str(&json).unwrap();
        assert_eq!(back, s);
        assert!(json.contains(r#""protocol":"http""#), "{json}");
    }

    #[test]
    fn dangling_names_and_disorder_are_reported() {
        let mut s = sample();
        let mut vh = VirtualHost::clone(s.route_configs[0].virtual_hosts.get("foo.com").unwrap());
        vh.routes.swap(0, 1);
        vh.routes[0].split = Split::single("default/missing:80");
        s.route_configs[0].virtual_hosts.insert(std::sync::Arc::new(vh));
        s.listeners[0].kind =
            ListenerKind::Https { route_config: "nope".into(), default_certificate: None, streams_only: false };
        let problems: Vec<String> = s.validate().iter().map(|p| p.to_string()).collect();
        assert!(problems.iter().any(|p| p.contains("route config that does not exist")), "{problems:?}");
        assert!(problems.iter().any(|p| p.contains("cluster that does not exist")), "{problems:?}");
        assert!(problems.iter().any(|p| p.contains("precedence order")), "{problems:?}");
    }

    /// Hosts are unique by name; two written differently that share a
    /// pattern are still reported, and only the fresh hosts' routes are
    /// checked when a translation says which are fresh.
    #[test]
    fn shared_patterns_are_reported_and_only_fresh_hosts_are_checked() {
        let mut s = sample();
        assert_eq!(s.validate(), vec![]);
        let mut upper = VirtualHost::clone(s.route_configs[0].virtual_hosts.get("foo.com").unwrap());
        upper.host = "FOO.com".into();
        upper.routes[0].split = Split::single("default/missing:80");
        let upper = std::sync::Arc::new(upper);
        s.route_configs[0].virtual_hosts.insert(upper.clone());
        let problems: Vec<String> = s.validate_fresh(&[]).iter().map(|p| p.to_string()).collect();
        assert_eq!(problems, ["routeConfigs[0].virtualHosts[1]: duplicate host"]);
        let problems: Vec<String> = s.validate_fresh(&[upper]).iter().map(|p| p.to_string()).collect();
        assert!(problems.iter().any(|p| p.contains("virtualHosts[0].routes[0].split")), "{problems:?}");
    }

    #[test]
    fn private_keys_are_never_serialised() {
        let cert = Certificate {
            name: "default/tls".into(),
            secret: ObjectRef::new("Secret", "default", "tls"),
            dns_names: vec!["foo.com".into()],
            not_after: 0,
            chain_pem: "-----BEGIN CERTIFICATE-----".into(),
            key_pem: Sensitive("-----BEGIN PRIVATE KEY-----secret".into()),
        };
        let json = serde_json::to_string(&cert).unwrap();
        assert!(json.contains(r#""keyPem":"(redacted)""#), "{json}");
        assert!(!json.contains("PRIVATE KEY"), "{json}");
        assert_eq!(format!("{:?}", cert.key_pem), "(redacted)");
    }

    #[test]
    fn reference_lookup_prefers_exact_host_then_wildcard_then_any() {
        let mut s = sample();
        let mut wild = VirtualHost::clone(s.route_configs[0].virtual_hosts.get("foo.com").unwrap());
        wild.host = "*.foo.com".into();
        let mut any = wild.clone();
        any.host = "*".into();
        any.routes.truncate(1);
        s.route_configs[0].virtual_hosts.extend([wild, any].map(std::sync::Arc::new));
        let rc = &s.route_configs[0];
        assert_eq!(rc.virtual_host_for("foo.com").unwrap().host, "foo.com");
        assert_eq!(rc.virtual_host_for("a.foo.com").unwrap().host, "*.foo.com");
        assert_eq!(rc.virtual_host_for("bar.com").unwrap().host, "*");
        assert!(rc.lookup("bar.com", "/other").is_none());
        assert_eq!(rc.lookup("a.foo.com", "/x").unwrap().path, PathMatch::prefix("/"));
    }
}
