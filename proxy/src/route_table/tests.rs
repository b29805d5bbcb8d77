use super::*;
use proptest::prelude::*;
use sluice_config::{ObjectRef, PathMatch, Route, RoutePolicy, Split, VirtualHost, WeightedCluster};

fn route(path: PathMatch, cluster: &str) -> Route {
    Route {
        conditions: None,
        path,
        split: Split(vec![WeightedCluster { cluster: cluster.into(), weight: 1 }]),
        canaries: vec![],
        policy: Default::default(),
        source: ObjectRef::new("Ingress", "default", "t"),
    }
}

/// Clusters named as the routes' splits name them (no endpoints needed here).
fn clusters_for(rc: &RouteConfig) -> HashMap<String, Arc<ClusterState>> {
    let names = rc
        .virtual_hosts
        .iter()
        .flat_map(|v| v.routes.iter().flat_map(|r| r.split.0.iter()))
        .chain(rc.default_backend.iter().flat_map(|s| s.0.iter()))
        .map(|w| w.cluster.clone());
    names.map(|n| (n.clone(), Arc::new(ClusterState::new(&bare_cluster(&n), None)))).collect()
}

/// A cluster without endpoints: enough to be named.
fn bare_cluster(name: &str) -> sluice_config::Cluster {
    sluice_config::Cluster {
        name: name.into(),
        service: ObjectRef::new("Service", "default", "x"),
        port: 80,
        balance: Default::default(),
        affinity: None,
        health: Default::default(),
        max_connections: None,
        endpoints: vec![],
        dns: None,
        unresolved: false,
    }
}

fn compile(rc: &RouteConfig) -> RoutesForListener {
    let mut problems = Vec::new();
    let compiled = RoutesForListener::compile(rc, &clusters_for(rc), false, None, &mut problems);
    assert_eq!(problems, vec![]);
    compiled
}

fn config(vhosts: Vec<(&str, Vec<Route>)>, default: Option<&str>) -> RouteConfig {
    RouteConfig {
        wildcard_any_depth: false,
        name: "ingress".into(),
        virtual_hosts: vhosts
            .into_iter()
            .map(|(h, mut routes)| {
                routes.sort_by(|a, b| a.path.precedence(&b.path));
                Arc::new(VirtualHost { host: h.into(), routes, tls: None })
            })
            .collect(),
        default_backend: default.map(Split::single),
        default_policy: RoutePolicy::default(),
    }
}

fn target(l: Option<&Arc<CompiledRoute>>) -> String {
    match l {
        Some(r) => {
            let c = r.choose(|_| None, |_| None, None, None).map(|c| c.name.clone()).unwrap_or_default();
            if &*r.label == "default backend" { format!("default:{c}") } else { c }
        }
        None => "404".into(),
    }
}

#[test]
fn hosts_ports_and_case() {
    let rc = config(
        vec![
            ("foo.com", vec![route(PathMatch::prefix("/"), "exact")]),
            ("*.foo.com", vec![route(PathMatch::prefix("/"), "wild")]),
            ("*", vec![route(PathMatch::prefix("/any"), "any")]),
        ],
        Some("def"),
    );
    let t = compile(&rc);
    assert_eq!(target(t.lookup("foo.com", "/", None)), "exact");
    assert_eq!(target(t.lookup("FOO.com:8080", "/", None)), "exact");
    assert_eq!(target(t.lookup("a.foo.com", "/x", None)), "wild");
    assert_eq!(target(t.lookup("b.a.foo.com", "/any/x", None)), "any");
    assert_eq!(target(t.lookup("b.a.foo.com", "/x", None)), "default:def");
    assert_eq!(target(t.lookup("[2001:db8::1]:80", "/any", None)), "any");
}

#[test]
fn longest_prefix_with_backtracking() {
    let rc = config(
        vec![(
            "h",
            vec![
                route(PathMatch::prefix("/a"), "a"),
                route(PathMatch::prefix("/a/b/c"), "abc"),
                route(PathMatch::exact("/a/b"), "ab-exact"),
                route(PathMatch::prefix("/"), "root"),
            ],
        )],
        None,
    );
    let t = compile(&rc);
    for (path, want) in [
        ("/a/b/c/d", "abc"),
        ("/a/b/c", "abc"),
        ("/a/b/x", "a"),
        ("/a/b", "ab-exact"),
        ("/a/b/", "a"),
        ("/ab", "root"),
        ("/", "root"),
        ("/a{x}", "root"),
    ] {
        assert_eq!(target(t.lookup("h", path, None)), want, "{path}");
    }
}

#[test]
fn literal_braces_in_rules_are_not_parameters() {
    let rc = config(vec![("h", vec![route(PathMatch::prefix("/{id}"), "brace")])], None);
    let t = compile(&rc);
    assert_eq!(target(t.lookup("h", "/{id}/x", None)), "brace");
    assert_eq!(target(t.lookup("h", "/42", None)), "404");
}

fn segment() -> impl Strategy<Value = String> {
    prop::sample::select(&["a", "b", "ab", "a.b", "{x}", "*", "%41", ""][..]).prop_map(String::from)
}

fn path() -> impl Strategy<Value = String> {
    prop::collection::vec(segment(), 1..5).prop_map(|s| format!("/{}", s.join("/")))
}

fn rule() -> impl Strategy<Value = PathMatch> {
    (path(), any::<bool>()).prop_map(|(p, exact)| if exact { PathMatch::exact(p) } else { PathMatch::prefix(&p) })
}

proptest! {
    /// The compiled table answers exactly as the reference semantics, and
    /// so does the radix tree a host of more rules gets, whatever the rules.
    #[test]
    fn compiled_lookup_agrees_with_the_reference(
        rules in prop::collection::vec(rule(), 0..16),
        requests in prop::collection::vec(path(), 1..20),
    ) {
        let mut routes: Vec<Route> = Vec::new();
        for (i, r) in rules.into_iter().enumerate() {
            if routes.iter().all(|x| x.path != r) {
                routes.push(route(r, &format!("c{i}")));
            }
        }
        let rc = config(vec![("h", routes)], None);
        let compiled = compile(&rc);
        let routes = &rc.virtual_hosts.iter().next().unwrap().routes;
        let tree = paths::PathRouter::tree(routes).unwrap();
        for req in requests {
            let reference = rc.lookup("h", &req).map(|r| r.split.0[0].cluster.clone()).unwrap_or_else(|| "404".into());
            prop_assert_eq!(target(compiled.lookup("h", &req, None)), reference.clone(), "request {}", req);
            let by_tree = tree.find(routes, &req, None).map(|i| routes[i].split.0[0].cluster.clone());
            prop_assert_eq!(by_tree.unwrap_or_else(|| "404".into()), reference, "request {} by the tree", req);
        }
    }
}

/// A swap that leaves a route's limits as they were keeps its clients'
/// state (as nginx keeps a zone across reloads): a request in progress
/// still counts against `limit-connections` in the new table.
#[test]
fn client_limits_carry_across_a_swap_that_leaves_them_alone() {
    let mut limited = route(PathMatch::prefix("/"), "a");
    Arc::make_mut(&mut limited.policy).limit_connections = Some(1);
    let snapshot = |hosts: Vec<(&str, Vec<Route>)>, generation| Snapshot {
        generation,
        route_configs: vec![config(hosts, None)],
        ..Snapshot::default()
    };
    let first = RouteTable::compile(&snapshot(vec![("h", vec![limited.clone()])], 1), None);
    let limits = |t: &RouteTable| t.routes("ingress").unwrap().lookup("h", "/", None).unwrap().limits.clone().unwrap();
    let client: std::net::IpAddr = "192.0.2.1".parse().unwrap();
    let _in_progress = limits(&first).admit(client, std::time::Instant::now()).unwrap();

    let other = route(PathMatch::prefix("/"), "b");
    let second =
        RouteTable::compile(&snapshot(vec![("h", vec![limited.clone()]), ("new", vec![other])], 2), Some(&first));
    assert!(limits(&second).admit(client, std::time::Instant::now()).is_err(), "the limit still holds");

    Arc::make_mut(&mut limited.policy).limit_connections = Some(2);
    let third = RouteTable::compile(&snapshot(vec![("h", vec![limited])], 3), Some(&second));
    assert!(limits(&third).admit(client, std::time::Instant::now()).is_ok(), "a changed limit starts afresh");
}

/// A swap compiles only what changed: a host whose routes and clusters are
/// as they were is the same compiled host (its rotations go on), and a host
/// whose cluster changed (new endpoints), or that changed itself, is compiled
/// again against the new state.
#[test]
fn a_swap_keeps_the_hosts_it_does_not_touch() {
    let cluster = |name: &str, address: &str| sluice_config::Cluster {
        name: name.into(),
        service: ObjectRef::new("Service", "default", name),
        port: 80,
        balance: Default::default(),
        affinity: None,
        health: Default::default(),
        max_connections: None,
        endpoints: vec![sluice_config::Endpoint {
            address: address.parse().unwrap(),
            weight: 1,
            terminating: false,
            node: None,
            pod: None,
        }],
        dns: None,
        unresolved: false,
    };
    let snapshot = |hosts: Vec<(&str, Vec<Route>)>, b_at: &str| Snapshot {
        route_configs: vec![config(hosts, None)],
        clusters: vec![cluster("a", "192.0.2.1:80"), cluster("b", b_at)],
        ..Snapshot::default()
    };
    let hosts = || {
        vec![
            ("one", vec![route(PathMatch::prefix("/"), "a")]),
            ("two", vec![route(PathMatch::prefix("/"), "b")]),
            ("three", vec![route(PathMatch::prefix("/"), "a")]),
        ]
    };
    let route_of = |t: &RouteTable, host: &str| t.routes("ingress").unwrap().lookup(host, "/", None).unwrap().clone();
    let first = RouteTable::compile(&snapshot(hosts(), "192.0.2.2:80"), None);

    // Host `two`'s cluster gets a new endpoint; host `three` a new path.
    let mut changed = hosts();
    changed[2].1.push(route(PathMatch::prefix("/new"), "a"));
    let second = RouteTable::compile(&snapshot(changed, "192.0.2.9:80"), Some(&first));
    assert!(Arc::ptr_eq(&route_of(&first, "one"), &route_of(&second, "one")), "untouched host kept");
    assert!(!Arc::ptr_eq(&route_of(&first, "two"), &route_of(&second, "two")), "host of a changed cluster recompiled");
    let two = route_of(&second, "two");
    let chosen = two.choose(|_| None, |_| None, None, None).unwrap();
    assert!(Arc::ptr_eq(chosen, second.clusters().find(|c| c.name == "b").unwrap()), "it uses the new cluster state");
    assert_eq!(
        target(second.routes("ingress").unwrap().lookup("three", "/new/x", None)),
        "a",
        "the changed host serves its new path"
    );
}

/// A host whose paths cannot be compiled is reported on every swap while it
/// stays as it is (keeping its last good form meanwhile), though a swap
/// looks only at the hosts that changed; fixed, it is served and no longer
/// reported.
#[test]
fn a_host_that_cannot_be_compiled_is_reported_while_it_stays_broken() {
    let good = ("bad.com", vec![route(PathMatch::regex("/ok"), "good")]);
    let broken = ("bad.com", vec![route(PathMatch::regex("/("), "broken")]);
    let other = ("other.com", vec![route(PathMatch::prefix("/"), "other")]);
    let snapshot = |hosts: Vec<(&str, Vec<Route>)>, generation| Snapshot {
        route_configs: vec![config(hosts, None)],
        clusters: ["broken", "good", "other"].map(bare_cluster).into(),
        generation,
        ..Snapshot::default()
    };
    let paths_of = |t: &RouteTable| -> Vec<(String, bool)> {
        t.problems()
            .iter()
            .map(|p| {
                let CompileError::Path { host, kept, .. } = p;
                (host.clone(), *kept)
            })
            .collect()
    };
    let first = RouteTable::compile(&snapshot(vec![good.clone()], 1), None);
    let second = RouteTable::compile(&snapshot(vec![broken.clone()], 2), Some(&first));
    assert_eq!(paths_of(&second), [("bad.com".to_owned(), true)]);
    assert_eq!(
        target(second.routes("ingress").unwrap().lookup("bad.com", "/ok", None)),
        "good",
        "its last form serves"
    );
    let third = RouteTable::compile(&snapshot(vec![broken.clone(), other.clone()], 3), Some(&second));
    assert_eq!(paths_of(&third), [("bad.com".to_owned(), true)], "still reported after a swap that left it alone");
    assert_eq!(target(third.routes("ingress").unwrap().lookup("other.com", "/", None)), "other");
    let fourth = RouteTable::compile(&snapshot(vec![good.clone(), other], 4), Some(&third));
    assert_eq!(paths_of(&fourth), []);
    assert_eq!(target(fourth.routes("ingress").unwrap().lookup("bad.com", "/ok", None)), "good");
}

const HOSTS: &[&str] = &["a.com", "*.a.com", "b.com", "*.b.com", "x.b.com", "", "c.com"];

proptest! {
    /// A table compiled from the last one (hosts reused, its index edited)
    /// answers every request as a table compiled afresh: hosts added,
    /// changed and removed, sharing a pattern or not, with the clusters as
    /// before (only changed hosts looked at) or not (every host).
    #[test]
    fn a_table_compiled_by_difference_answers_as_one_compiled_whole(
        steps in prop::collection::vec((prop::collection::vec((0..HOSTS.len(), 0..3u8), 0..6), any::<bool>()), 1..8),
    ) {
        // One input a host and version, shared from step to step as a Snapshot shares them.
        let mut inputs: HashMap<(usize, u8), Arc<VirtualHost>> = HashMap::new();
        let mut every = config(vec![], None);
        for (h, name) in HOSTS.iter().enumerate() {
            for version in 0..3u8 {
                let routes = vec![route(PathMatch::prefix("/"), &format!("{name}-{version}"))];
                let vh = Arc::new(VirtualHost { host: (*name).into(), routes, tls: None });
                inputs.insert((h, version), vh.clone());
                // Each version under a name of its own, for its cluster.
                every.virtual_hosts.insert(Arc::new(VirtualHost { host: format!("{h}/{version}"), ..(*vh).clone() }));
            }
        }
        let clusters = clusters_for(&every);
        let mut last: Option<RoutesForListener> = None;
        for (hosts, clusters_as_before) in steps {
            let rc = RouteConfig { virtual_hosts: hosts.iter().map(|k| inputs[k].clone()).collect(), ..config(vec![], None) };
            let mut problems = Vec::new();
            let by_difference =
                RoutesForListener::compile(&rc, &clusters, clusters_as_before, last.as_ref(), &mut problems);
            let whole = compile(&rc);
            for request in ["a.com", "y.a.com", "b.com", "y.b.com", "x.b.com", "X.B.com:80", "c.com", "d.com"] {
                prop_assert_eq!(
                    target(by_difference.lookup(request, "/", None)),
                    target(whole.lookup(request, "/", None)),
                    "request {}", request
                );
            }
            last = Some(by_difference);
        }
    }
}
