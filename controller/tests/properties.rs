//! Property tests: translation never panics, whatever the object graph, and
//! its output is always internally consistent and deterministic.

use proptest::prelude::*;
use serde_json::{Value, json};
use sluice_config::Options;
use sluice_controller::sources::parse_manifest;
use sluice_controller::{Store, translate};

/// Small pools so generated objects refer to each other often: mostly valid
/// values, sometimes invalid ones.
const NAMES: (&[&str], &[&str]) = (&["a", "web"], &["Bad_Name", ""]);
const NAMESPACES: (&[&str], &[&str]) = (&["default", ""], &["prod", "Bad NS"]);
const HOSTS: (&[&str], &[&str]) =
    (&["foo.com", "*.foo.com", "a.foo.com", ""], &["10.0.0.1", "Foo.com", "x.*.com", "*"]);
const PATHS: (&[&str], &[&str]) = (&["/", "/foo", "/foo/", "/foo/bar"], &["", "foo", "/a//b", "/a/../b", "/%2f"]);
const PATH_TYPES: (&[&str], &[&str]) = (&["Exact", "Prefix", "ImplementationSpecific"], &["Regex", ""]);
const IPS: (&[&str], &[&str]) = (&["192.0.2.1", "192.0.2.2", "2001:db8::1", "203.0.113.5"], &["not-an-ip", ""]);
const PROTOCOLS: (&[&str], &[&str]) = (&["TCP"], &["UDP", "SCTP", "HTTP"]);
const TYPES: (&[&str], &[&str]) = (&["ClusterIP", "NodePort", "LoadBalancer"], &["ExternalName", "Weird"]);
const PORT_NAMES: (&[&str], &[&str]) = (&["http", "web"], &["", "nope"]);

fn pick((valid, invalid): (&'static [&'static str], &'static [&'static str])) -> impl Strategy<Value = Value> {
    prop_oneof![8 => prop::sample::select(valid), 1 => prop::sample::select(invalid)].prop_map(|s| json!(s))
}

/// A real certificate and key, made once.
fn good_cert() -> &'static (String, String) {
    static CERT: std::sync::OnceLock<(String, String)> = std::sync::OnceLock::new();
    CERT.get_or_init(|| {
        let c = rcgen::generate_simple_self_signed(vec!["foo.com".to_owned()]).unwrap();
        (c.cert.pem(), c.signing_key.serialize_pem())
    })
}

/// Any JSON scalar, to put wrong types in places.
fn junk() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        (-70000i64..70000).prop_map(Value::from),
        "[a-z/*.:-]{0,12}".prop_map(Value::from),
    ]
}

fn port_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        12 => prop::sample::select(&[80i64, 8080][..]).prop_map(Value::from),
        1 => prop::sample::select(&[0i64, 70000][..]).prop_map(Value::from),
        1 => junk()
    ]
}

fn meta() -> impl Strategy<Value = Value> {
    (pick(NAMES), pick(NAMESPACES), prop::option::of(prop_oneof![8 => prop::sample::select(&["2020-01-01T00:00:00Z", "2021-06-01T00:00:00Z"][..]), 1 => Just("garbage")]))
        .prop_map(|(name, namespace, ts)| {
            let mut m = json!({"name": name, "namespace": namespace});
            if let Some(ts) = ts {
                m["creationTimestamp"] = json!(ts);
            }
            m
        })
}

fn backend() -> impl Strategy<Value = Value> {
    prop_oneof![
        6 => (pick(NAMES), prop_oneof![port_value().prop_map(|p| json!({"number": p})), pick(PORT_NAMES).prop_map(|n| json!({"name": n})), Just(json!({}))])
            .prop_map(|(name, port)| json!({"service": {"name": name, "port": port}})),
        1 => Just(json!({"resource": {"kind": "Bucket", "name": "x"}})),
        1 => junk(),
        12 => pick(NAMES).prop_map(|name| json!({"service": {"name": name, "port": {"number": 80}}})),
    ]
}

fn ingress() -> impl Strategy<Value = Value> {
    let path = (pick(PATHS), pick(PATH_TYPES), backend())
        .prop_map(|(p, t, b)| json!({"path": p, "pathType": t, "backend": b}));
    let rule = (pick(HOSTS), prop::collection::vec(path, 0..3))
        .prop_map(|(h, paths)| json!({"host": h, "http": {"paths": paths}}));
    let tls = (prop::collection::vec(pick(HOSTS), 0..3), pick(NAMES))
        .prop_map(|(hosts, s)| json!({"hosts": hosts, "secretName": s}));
    (
        meta(),
        prop_oneof![6 => Just(Some(json!("sluice"))), 1 => Just(None), 1 => Just(Some(json!("nginx")))],
        prop::collection::vec(rule, 0..3),
        prop::option::of(backend()),
        prop::collection::vec(tls, 0..2),
    )
        .prop_map(|(m, class, rules, default, tls)| {
            let mut spec = json!({"rules": rules, "tls": tls});
            if let Some(c) = class {
                spec["ingressClassName"] = c;
            }
            if let Some(d) = default {
                spec["defaultBackend"] = d;
            }
            json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": m, "spec": spec})
        })
}

fn service() -> impl Strategy<Value = Value> {
    let port = (
        pick((&["http"], &["web", ""])),
        port_value(),
        prop_oneof![port_value(), pick(PORT_NAMES)],
        pick(PROTOCOLS),
        prop::option::of(30000i64..32800),
    )
        .prop_map(|(name, port, target, proto, node)| {
            let mut p = json!({"name": name, "port": port, "targetPort": target, "protocol": proto});
            if let Some(n) = node {
                p["nodePort"] = json!(n);
            }
            p
        });
    (meta(), pick(TYPES), pick(IPS), prop::collection::vec(port, 0..3), prop::option::of(pick(NAMES)), prop::bool::ANY)
        .prop_map(|(m, ty, ip, ports, selector, affinity)| {
            let mut spec = json!({"type": ty, "clusterIP": ip, "ports": ports, "externalName": "api.example.com"});
            if let Some(s) = selector {
                spec["selector"] = json!({"app": s});
            }
            if affinity {
                spec["sessionAffinity"] = json!("ClientIP");
            }
            json!({"apiVersion": "v1", "kind": "Service", "metadata": m, "spec": spec})
        })
}

fn slice() -> impl Strategy<Value = Value> {
    let ep =
        (pick(IPS), prop::option::of(any::<bool>()), prop::option::of(any::<bool>()), prop::option::of(any::<bool>()))
            .prop_map(
                |(ip, r, s, t)| json!({"addresses": [ip], "conditions": {"ready": r, "serving": s, "terminating": t}}),
            );
    (
        meta(),
        pick(NAMES),
        pick((&["IPv4", "IPv6"], &["FQDN"])),
        pick(PORT_NAMES),
        port_value(),
        prop::collection::vec(ep, 0..4),
    )
        .prop_map(|(mut m, svc, at, pname, port, eps)| {
            m["labels"] = json!({"kubernetes.io/service-name": svc});
            json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "metadata": m, "addressType": at,
                   "ports": [{"name": pname, "port": port}], "endpoints": eps})
        })
}

fn endpoints() -> impl Strategy<Value = Value> {
    (meta(), prop::collection::vec(pick(IPS), 0..3), pick(PORT_NAMES), port_value()).prop_map(|(m, ips, pname, port)| {
        let addrs: Vec<Value> = ips.into_iter().map(|ip| json!({"ip": ip})).collect();
        json!({"apiVersion": "v1", "kind": "Endpoints", "metadata": m, "subsets": [{"addresses": addrs, "ports": [{"name": pname, "port": port}]}]})
    })
}

fn pod() -> impl Strategy<Value = Value> {
    (meta(), pick(NAMES), pick(IPS), any::<bool>(), pick(PORT_NAMES), port_value()).prop_map(
        |(mut m, app, ip, ready, pname, port)| {
            m["labels"] = json!({"app": app});
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": m,
               "spec": {"containers": [{"name": "c", "image": "x", "ports": [{"name": pname, "containerPort": port}]}]},
               "status": {"podIP": ip, "conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"}}]}})
        },
    )
}

fn secret() -> impl Strategy<Value = Value> {
    (meta(), pick((&["kubernetes.io/tls", "Opaque"], &["other"])), "[A-Za-z-]{0,40}", any::<bool>()).prop_map(|(m, ty, junk, good)| {
        let (crt, key) = if good {
            good_cert().clone()
        } else {
            (format!("-----BEGIN CERTIFICATE-----\n{junk}\n-----END CERTIFICATE-----\n"), junk)
        };
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": m, "type": ty, "stringData": {"tls.crt": crt, "tls.key": key}})
    })
}

/// A Service, its EndpointSlice and an Ingress path to it that fit together,
/// so generated graphs also reach endpoint resolution and route building.
fn coherent_app() -> impl Strategy<Value = Vec<Value>> {
    let ep = (prop::sample::select(&["192.0.2.1", "192.0.2.2", "192.0.2.3", "2001:db8::5"][..]), prop::option::of(any::<bool>()), prop::option::of(any::<bool>()))
        .prop_map(|(ip, ready, terminating)| json!({"addresses": [ip], "conditions": {"ready": ready, "terminating": terminating}}));
    (0u8..4, pick(HOSTS), pick(PATHS), pick(PATH_TYPES), prop::collection::vec(ep, 0..4), 0u8..3)
        .prop_map(|(app, host, path, path_type, endpoints, port_form)| {
            let name = format!("app{app}");
            let port = match port_form {
                0 => json!({"number": 80}),
                1 => json!({"name": "http"}),
                _ => json!({"number": 81}),
            };
            vec![
                json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
                       "spec": {"clusterIP": format!("203.0.113.{app}"), "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}}),
                json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                       "metadata": {"name": format!("{name}-x"), "labels": {"kubernetes.io/service-name": name}},
                       "addressType": "IPv4", "ports": [{"name": "http", "port": 8080}], "endpoints": endpoints}),
                json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": format!("{name}-ing")},
                       "spec": {"ingressClassName": "sluice", "rules": [{"host": host, "http": {"paths": [
                           {"path": path, "pathType": path_type, "backend": {"service": {"name": name, "port": port}}}]}}]}}),
            ]
        })
}

fn object() -> impl Strategy<Value = Value> {
    prop_oneof![4 => ingress(), 3 => service(), 4 => slice(), 1 => endpoints(), 3 => pod(), 2 => secret(), 1 => junk()]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn translate_never_panics_and_stays_consistent(
        apps in prop::collection::vec(coherent_app(), 0..4),
        random in prop::collection::vec(object(), 0..12),
    ) {
        let objects: Vec<Value> = apps.into_iter().flatten().chain(random).collect();
        let text = serde_json::to_string(&Value::Array(objects)).unwrap();
        let text = format!("{{\"apiVersion\": \"v1\", \"kind\": \"List\", \"items\": {text}}}");
        let parsed = parse_manifest(&text, "gen.json").unwrap();
        let mut store = Store::default();
        for o in parsed.objects {
            store.insert(o);
        }
        let (snapshot, diagnostics) = translate(&store, &Options::default());
        prop_assert_eq!(snapshot.validate(), vec![]);
        let (again, diagnostics_again) = translate(&store, &Options::default());
        prop_assert_eq!(&snapshot, &again);
        prop_assert_eq!(&diagnostics, &diagnostics_again);
        prop_assert!(diagnostics.iter().all(|d| !d.object.kind.is_empty() && !d.message.is_empty()));
        // Every route and its clusters survive a JSON round trip.
        let json = serde_json::to_string(&snapshot).unwrap();
        let back: sluice_config::Snapshot = serde_json::from_str(&json).unwrap();
        prop_assert_eq!(back.route_configs, snapshot.route_configs);
    }

    #[test]
    fn the_parser_never_panics_on_arbitrary_text(text in "(apiVersion|kind|metadata|spec|rules|---|- |: |\\{|\\}|\\[|\\]|\"|'|[a-z0-9/.*]|\n| ){0,200}") {
        let _ = parse_manifest(&text, "fuzz.yaml");
    }
}
