//! Translation by difference gives what one pass over the whole store gives:
//! any sequence of changes (Ingresses added, edited and removed across
//! shared hosts, canaries, aliases, www redirects and default backends;
//! endpoints changed; Services changed and removed, their ports, virtual
//! IPs and node ports with them; Secrets changed, which take the whole
//! path), each translated from the last, equals the same store translated
//! in one pass, diagnostics included.

use proptest::prelude::*;
use serde_json::{Value, json};
use sluice_config::Options;
use sluice_controller::sources::parse_manifest;
use sluice_controller::{Kind, Store, Translation, translate_whole};

const HOSTS: &[&str] = &["a.com", "www.a.com", "b.com", "c.com", "Bad_Host", ""];
const PATHS: &[&str] = &["/", "/x", "/x/y", "/(re)gex"];
const SERVICES: &[&str] = &["u0", "u1", "u2", "missing"];

/// One change to the store.
#[derive(Debug, Clone)]
enum Change {
    /// Ingress `i<n>` put with this body.
    Ingress(usize, Value),
    RemoveIngress(usize),
    /// Service `u<n>`'s endpoints.
    Endpoints(usize, Vec<u8>),
    RemoveSlice(usize),
    /// Service `u<n>` put with this port, and a ClusterIP (a NodePort
    /// Service when it has a node port) or none.
    Service(usize, i64, Option<(u8, Option<i32>)>),
    RemoveService(usize),
    /// The TLS Secret `tls` present, or not.
    Secret(bool),
}

fn ingress_body() -> impl Strategy<Value = Value> {
    let path = (
        prop::sample::select(PATHS),
        prop::sample::select(&["Prefix", "Exact"][..]),
        prop::sample::select(SERVICES),
    )
        .prop_map(
            |(p, t, s)| json!({"path": p, "pathType": t, "backend": {"service": {"name": s, "port": {"number": 80}}}}),
        );
    let rule = (prop::sample::select(HOSTS), prop::collection::vec(path, 0..3)).prop_map(|(h, paths)| {
        let mut rule = json!({"http": {"paths": paths}});
        if !h.is_empty() {
            rule["host"] = json!(h);
        }
        rule
    });
    let annotations = (
        prop::option::of(0u32..=100),
        prop::option::of(prop::sample::select(HOSTS)),
        any::<bool>(),
        any::<bool>(),
        prop::option::of(prop::sample::select(&["cookie", "bogus"][..])),
        prop::option::of(prop::sample::select(SERVICES)),
    )
        .prop_map(|(canary, alias, www, regex, affinity, default_backend)| {
            let mut a = serde_json::Map::new();
            let n = "nginx.ingress.kubernetes.io/";
            if let Some(w) = canary {
                a.insert(format!("{n}canary"), json!("true"));
                a.insert(format!("{n}canary-weight"), json!(w.to_string()));
            }
            if let Some(alias) = alias {
                a.insert(format!("{n}server-alias"), json!(alias));
            }
            if www {
                a.insert(format!("{n}from-to-www-redirect"), json!("true"));
            }
            if regex {
                a.insert(format!("{n}use-regex"), json!("true"));
            }
            if let Some(kind) = affinity {
                a.insert(format!("{n}affinity"), json!(kind));
            }
            if let Some(service) = default_backend {
                a.insert(format!("{n}default-backend"), json!(service));
            }
            Value::Object(a)
        });
    (
        prop::collection::vec(rule, 0..3),
        prop::option::of(prop::sample::select(SERVICES)),
        annotations,
        prop::option::of(prop::sample::select(HOSTS)),
        prop::option::of(0u32..4),
    )
        .prop_map(|(rules, default_backend, annotations, tls_host, created)| {
            let mut spec = json!({"ingressClassName": "sluice", "rules": rules});
            if let Some(s) = default_backend {
                spec["defaultBackend"] = json!({"service": {"name": s, "port": {"number": 80}}});
            }
            if let Some(h) = tls_host {
                spec["tls"] = json!([{"hosts": [h], "secretName": "tls"}]);
            }
            let mut metadata = json!({"namespace": "default", "annotations": annotations});
            if let Some(t) = created {
                metadata["creationTimestamp"] = json!(format!("2026-01-0{}T00:00:00Z", t + 1));
            }
            json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": metadata, "spec": spec})
        })
}

fn change() -> impl Strategy<Value = Change> {
    prop_oneof![
        6 => (0usize..6, ingress_body()).prop_map(|(i, body)| Change::Ingress(i, body)),
        2 => (0usize..6).prop_map(Change::RemoveIngress),
        2 => (0usize..3, prop::collection::vec(1u8..4, 0..3)).prop_map(|(s, e)| Change::Endpoints(s, e)),
        1 => (0usize..3).prop_map(Change::RemoveSlice),
        2 => (
            0usize..3,
            prop::sample::select(&[80i64, 81][..]),
            prop::option::of((1u8..3, prop::option::of(prop::sample::select(&[30080, 30081, 99999][..])))),
        )
            .prop_map(|(s, p, vip)| Change::Service(s, p, vip)),
        1 => (0usize..3).prop_map(Change::RemoveService),
        1 => any::<bool>().prop_map(Change::Secret),
    ]
}

fn put(store: &mut Store, mut object: Value, name: &str) {
    object["metadata"]["name"] = json!(name);
    let parsed = parse_manifest(&object.to_string(), "change.json").expect("generated objects parse");
    for o in parsed.objects {
        store.insert(o);
    }
}

fn service(port: i64, vip: Option<(u8, Option<i32>)>) -> Value {
    let mut service = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"namespace": "default"},
           "spec": {"ports": [{"name": "http", "port": port, "targetPort": 8080}]}});
    if let Some((address, node_port)) = vip {
        service["spec"]["clusterIP"] = json!(format!("198.51.100.{address}"));
        if let Some(node_port) = node_port {
            service["spec"]["type"] = json!("NodePort");
            service["spec"]["ports"][0]["nodePort"] = json!(node_port);
        }
    }
    service
}

fn slice(service: &str, hosts: &[u8]) -> Value {
    let endpoints: Vec<Value> = hosts.iter().map(|h| json!({"addresses": [format!("192.0.2.{h}")]})).collect();
    json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
           "metadata": {"namespace": "default", "labels": {"kubernetes.io/service-name": service}},
           "addressType": "IPv4", "ports": [{"name": "http", "port": 8080}], "endpoints": endpoints})
}

/// A TLS Secret for a.com, made once (a new key each time would make
/// every Secret change a different certificate, which is fine, but slow).
fn secret() -> Value {
    static PEM: std::sync::OnceLock<(String, String)> = std::sync::OnceLock::new();
    let (cert, key) = PEM.get_or_init(|| {
        let c = rcgen::generate_simple_self_signed(vec!["a.com".to_owned()]).unwrap();
        (c.cert.pem(), c.signing_key.serialize_pem())
    });
    json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"namespace": "default"}, "type": "kubernetes.io/tls",
           "stringData": {"tls.crt": cert, "tls.key": key}})
}

fn apply(store: &mut Store, change: &Change) {
    let key = |name: String| ("default".to_owned(), name);
    match change {
        Change::Ingress(i, body) => put(store, body.clone(), &format!("i{i}")),
        Change::RemoveIngress(i) => {
            store.remove(Kind::Ingress, &key(format!("i{i}")));
        }
        Change::Endpoints(s, hosts) => put(store, slice(SERVICES[*s], hosts), &format!("{}-1", SERVICES[*s])),
        Change::RemoveSlice(s) => {
            store.remove(Kind::EndpointSlice, &key(format!("{}-1", SERVICES[*s])));
        }
        Change::Service(s, port, vip) => put(store, service(*port, *vip), SERVICES[*s]),
        Change::RemoveService(s) => {
            store.remove(Kind::Service, &key(SERVICES[*s].to_owned()));
        }
        Change::Secret(true) => put(store, secret(), "tls"),
        Change::Secret(false) => {
            store.remove(Kind::Secret, &key("tls".to_owned()));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn a_translation_by_difference_equals_one_from_nothing(changes in prop::collection::vec(change(), 1..25)) {
        let options = Options::default();
        let mut store = Store::default();
        for name in &SERVICES[..3] {
            put(&mut store, service(80, Some((1, None))), name);
            put(&mut store, slice(name, &[1]), &format!("{name}-1"));
        }
        let mut translation = Translation::new(options.clone());
        translation.translate(&store);
        for (step, change) in changes.iter().enumerate() {
            apply(&mut store, change);
            let (by_difference, diagnostics) = translation.translate(&store);
            let (afresh, expected) = translate_whole(&store, &options);
            prop_assert_eq!(&by_difference, &afresh, "Snapshot after change {} ({:?})", step, change);
            prop_assert_eq!(&diagnostics, &expected, "diagnostics after change {} ({:?})", step, change);
        }
    }
}
