//! The networkextension Ingress CRD (bcs.md §4): backend lists and weights
//! against bcs-ingress-controller's ruleconverter rules, scoping by lbids /
//! lbnames, validate.go ranges, listeners per rule port, lbPolicy,
//! sessionTime and healthCheck.

mod common;

use common::{find, list, run, run_with};
use sluice_config::{Affinity, Balance, CheckProtocol, ListenerKind, Options, Severity, Snapshot, UpstreamProtocol};

const KIND: &str = "Ingress.networkextension.bkbcs.tencent.com";

/// A pod: name, labels (flow map text), pod IP, host IP, extra status/metadata.
struct P<'a> {
    name: &'a str,
    labels: &'a str,
    ip: &'a str,
    host: &'a str,
    /// `ready`, `unready`, `terminating`, `pending`, `down` (all containers terminated).
    state: &'a str,
    clb_weight: Option<&'a str>,
}

fn pod(p: &P<'_>) -> String {
    let phase = if p.state == "pending" { "Pending" } else { "Running" };
    let ready = if p.state == "unready" { "False" } else { "True" };
    let deletion = if p.state == "terminating" { "\n  deletionTimestamp: \"2026-01-01T00:00:00Z\"" } else { "" };
    let annotations = p
        .clb_weight
        .map(|w| format!("\n  annotations: {{networkextension.bkbcs.tencent.com/clb-weight: \"{w}\"}}"))
        .unwrap_or_default();
    let container_state = if p.state == "down" { "terminated: {exitCode: 0}" } else { "running: {}" };
    format!(
        "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: {}\n  namespace: default\n  labels: {}{deletion}{annotations}\n\
         spec:\n  nodeName: node-{}\n  containers:\n  - name: app\n    ports:\n    - {{name: web, containerPort: 8080, hostPort: 30080}}\n\
         status:\n  phase: {phase}\n  podIP: {}\n  hostIP: {}\n  conditions: [{{type: ContainersReady, status: \"{ready}\"}}]\n  \
         containerStatuses: [{{name: app, ready: true, restartCount: 0, image: x, imageID: x, state: {{{container_state}}}}}]\n",
        p.name, p.labels, p.host, p.ip, p.host
    )
}

fn service(name: &str, selector: &str, target: &str, node_port: Option<u16>) -> String {
    let np = node_port.map(|n| format!(", nodePort: {n}")).unwrap_or_default();
    let ty = if node_port.is_some() { "NodePort" } else { "ClusterIP" };
    format!(
        "---\napiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: default}}\nspec:\n  type: {ty}\n  \
         selector: {selector}\n  ports: [{{port: 80, targetPort: {target}{np}}}]\n"
    )
}

/// A BCS Ingress with one TCP rule on port 9000 over `services` (YAML flow list).
fn tcp_ingress(services: &str) -> String {
    format!(
        "---\napiVersion: networkextension.bkbcs.tencent.com/v1\nkind: Ingress\nmetadata: {{name: game, namespace: default}}\n\
         spec:\n  rules:\n  - port: 9000\n    protocol: TCP\n    services: {services}\n"
    )
}

fn backends(s: &Snapshot, listener: &str) -> Vec<(String, u32)> {
    let l = s.listeners.iter().find(|l| l.name == listener).unwrap_or_else(|| panic!("no listener {listener}"));
    let ListenerKind::Tcp { split, .. } = &l.kind else { panic!("{listener} is not TCP") };
    let cluster = s.cluster(&split.0[0].cluster).expect("cluster");
    cluster.endpoints.iter().map(|e| (e.address.to_string(), e.weight)).collect()
}

fn ready<'a>(name: &'a str, labels: &'a str, ip: &'a str, host: &'a str) -> P<'a> {
    P { name, labels, ip, host, state: "ready", clb_weight: None }
}

/// ruleconverter.go, row by row: what the Service, pods and route give.
#[test]
fn backend_lists_and_weights_follow_ruleconverter() {
    struct Row {
        what: &'static str,
        objects: String,
        services: &'static str,
        want: Vec<(&'static str, u32)>,
    }
    let web = || service("web", "{app: web}", "8080", None);
    let rows = vec![
        Row {
            what: "the route's weight is stamped on every backend",
            objects: web()
                + &pod(&ready("w1", "{app: web}", "192.0.2.11", "198.51.100.1"))
                + &pod(&ready("w2", "{app: web}", "192.0.2.12", "198.51.100.1"))
                + &pod(&ready("w3", "{app: web}", "192.0.2.13", "198.51.100.2")),
            services: "[{serviceName: web, servicePort: 80, isDirectConnect: true, weight: {value: 30}}]",
            want: vec![("192.0.2.11:8080", 30), ("192.0.2.12:8080", 30), ("192.0.2.13:8080", 30)],
        },
        Row {
            what: "no weight: 10",
            objects: web() + &pod(&ready("w1", "{app: web}", "192.0.2.11", "198.51.100.1")),
            services: "[{serviceName: web, servicePort: 80, isDirectConnect: true}]",
            want: vec![("192.0.2.11:8080", 10)],
        },
        Row {
            what: "clb-weight overrides; a bad one keeps the route's weight",
            objects: web()
                + &pod(&P { clb_weight: Some("55"), ..ready("w1", "{app: web}", "192.0.2.11", "198.51.100.1") })
                + &pod(&P { clb_weight: Some("heavy"), ..ready("w2", "{app: web}", "192.0.2.12", "198.51.100.1") }),
            services: "[{serviceName: web, servicePort: 80, isDirectConnect: true, weight: {value: 20}}]",
            want: vec![("192.0.2.11:8080", 55), ("192.0.2.12:8080", 20)],
        },
        Row {
            what: "not ready or terminating: weight 0, kept; pending or all containers down: not a backend",
            objects: web()
                + &pod(&P { state: "unready", ..ready("w1", "{app: web}", "192.0.2.11", "198.51.100.1") })
                + &pod(&P {
                    state: "terminating",
                    clb_weight: Some("90"),
                    ..ready("w2", "{app: web}", "192.0.2.12", "198.51.100.1")
                })
                + &pod(&P { state: "pending", ..ready("w3", "{app: web}", "192.0.2.13", "198.51.100.1") })
                + &pod(&P { state: "down", ..ready("w4", "{app: web}", "192.0.2.14", "198.51.100.1") })
                + &pod(&ready("w5", "{app: web}", "192.0.2.15", "198.51.100.1"))
                + &pod(&ready("other", "{app: db}", "192.0.2.16", "198.51.100.1")),
            services: "[{serviceName: web, servicePort: 80, isDirectConnect: true}]",
            want: vec![("192.0.2.11:8080", 0), ("192.0.2.12:8080", 0), ("192.0.2.15:8080", 10)],
        },
        Row {
            what: "NodePort mode: distinct hostIP:nodePort, the first pod's weight",
            objects: service("web", "{app: web}", "8080", Some(30555))
                + &pod(&P { clb_weight: Some("40"), ..ready("w1", "{app: web}", "192.0.2.11", "198.51.100.1") })
                + &pod(&ready("w2", "{app: web}", "192.0.2.12", "198.51.100.1"))
                + &pod(&ready("w3", "{app: web}", "192.0.2.13", "198.51.100.2")),
            services: "[{serviceName: web, servicePort: 80, weight: {value: 25}}]",
            want: vec![("198.51.100.1:30555", 40), ("198.51.100.2:30555", 25)],
        },
        Row {
            what: "NodePort mode without a nodePort: no backends",
            objects: web() + &pod(&ready("w1", "{app: web}", "192.0.2.11", "198.51.100.1")),
            services: "[{serviceName: web, servicePort: 80}]",
            want: vec![],
        },
        Row {
            what: "subsets: selector plus subset labels, at the subset's weight (default 10)",
            objects: web()
                + &pod(&ready("b1", "{app: web, version: blue}", "192.0.2.11", "198.51.100.1"))
                + &pod(&ready("b2", "{app: web, version: blue}", "192.0.2.12", "198.51.100.1"))
                + &pod(&ready("g1", "{app: web, version: green}", "192.0.2.21", "198.51.100.2"))
                + &pod(&ready("x1", "{app: web, version: canary}", "192.0.2.31", "198.51.100.2")),
            services: "[{serviceName: web, servicePort: 80, isDirectConnect: true, subsets: [\
                       {labelSelector: {version: blue}, weight: {value: 80}}, {labelSelector: {version: green}}]}]",
            want: vec![("192.0.2.11:8080", 80), ("192.0.2.12:8080", 80), ("192.0.2.21:8080", 10)],
        },
        Row {
            what: "two services, one address: the first wins; sorted by address",
            objects: web()
                + &service("all", "{tier: front}", "8080", None)
                + &pod(&ready("w2", "{app: web, tier: front}", "192.0.2.12", "198.51.100.1"))
                + &pod(&ready("w1", "{app: other, tier: front}", "192.0.2.11", "198.51.100.1")),
            services: "[{serviceName: web, servicePort: 80, isDirectConnect: true, weight: {value: 70}},\
                       {serviceName: all, servicePort: 80, isDirectConnect: true, weight: {value: 5}}]",
            want: vec![("192.0.2.11:8080", 5), ("192.0.2.12:8080", 70)],
        },
        Row {
            what: "targetPort by name; hostPort: true gives hostIP:hostPort",
            objects: service("web", "{app: web}", "web", None)
                + &pod(&ready("w1", "{app: web}", "192.0.2.11", "198.51.100.1")),
            services: "[{serviceName: web, servicePort: 80, isDirectConnect: true, hostPort: true}]",
            want: vec![("198.51.100.1:30080", 10)],
        },
    ];
    for row in rows {
        let (s, diags) = run(&(row.objects.clone() + &tcp_ingress(row.services)));
        let got = backends(&s, "tcp-9000");
        let want: Vec<(String, u32)> = row.want.iter().map(|(a, w)| (a.to_string(), *w)).collect();
        assert_eq!(got, want, "{}\n{}", row.what, list(&diags));
    }
}

#[test]
fn problems_with_backends_are_named() {
    let objects = service("web", "{app: web}", "8080", None)
        + &pod(&P { clb_weight: Some("heavy"), ..ready("w1", "{app: web}", "192.0.2.11", "198.51.100.1") });
    let (_, diags) = run(&(objects.clone()
        + &tcp_ingress(
            "[{serviceName: web, servicePort: 80}, {serviceName: nope, servicePort: 80}, \
             {serviceName: web, servicePort: 81, isDirectConnect: true}, \
             {serviceName: web, servicePort: 80, isDirectConnect: true, serviceKind: multiclusterservice}]",
        )));
    let obj = format!("{KIND}/default/game");
    assert!(
        find(&diags, Severity::Error, &obj, "spec.rules[0].services[0].isDirectConnect").message.contains("nodePort")
    );
    assert!(find(&diags, Severity::Error, &obj, "spec.rules[0].services[1].serviceName").message.contains("not found"));
    assert!(find(&diags, Severity::Error, &obj, "spec.rules[0].services[2].servicePort").message.contains("81"));
    find(&diags, Severity::Warning, &obj, "spec.rules[0].services[3].serviceKind");
    let (_, diags) = run(&(objects + &tcp_ingress("[{serviceName: web, servicePort: 80, isDirectConnect: true}]")));
    find(&diags, Severity::Warning, "Pod/default/w1", "clb-weight");
}

fn crd(name: &str, annotations: &str, rules: &str) -> String {
    format!(
        "---\napiVersion: networkextension.bkbcs.tencent.com/v1\nkind: Ingress\nmetadata:\n  name: {name}\n  \
         namespace: default\n  annotations: {{{annotations}}}\nspec:\n  rules:\n{rules}"
    )
}

fn web_pods() -> String {
    service("web", "{app: web}", "8080", None)
        + &pod(&ready("w1", "{app: web}", "192.0.2.11", "198.51.100.1"))
        + &pod(&ready("w2", "{app: web}", "192.0.2.12", "198.51.100.1"))
}

#[test]
fn lbids_and_lbnames_choose_the_instance() {
    let rule =
        "  - {port: 9001, protocol: TCP, services: [{serviceName: web, servicePort: 80, isDirectConnect: true}]}\n";
    let rule2 = rule.replace("9001", "9002");
    let rule3 = rule.replace("9001", "9003");
    let rule4 = rule.replace("9001", "9004");
    let yaml = web_pods()
        + &crd("none", "", rule)
        + &crd("named", "networkextension.bkbcs.tencent.com/lbnames: \"other,sluice\"", &rule2)
        + &crd("other", "networkextension.bkbcs.tencent.com/lbnames: other", &rule3)
        + &crd(
            "ids",
            "networkextension.bkbcs.tencent.com/lbids: \"ap-guangzhou:sluice\", networkextension.bkbcs.tencent.com/lbnames: other",
            &rule4,
        );
    let (s, diags) = run(&yaml);
    let names: Vec<&str> = s.listeners.iter().map(|l| l.name.as_str()).filter(|n| n.starts_with("tcp")).collect();
    assert_eq!(names, ["tcp-9001", "tcp-9002", "tcp-9004"], "{}", list(&diags));
    find(&diags, Severity::Info, &format!("{KIND}/default/other"), "lbnames");
    let options = Options { lb_name: "other".into(), ..Options::default() };
    let (s, _) = run_with(&yaml, &options);
    let names: Vec<&str> = s.listeners.iter().map(|l| l.name.as_str()).filter(|n| n.starts_with("tcp")).collect();
    assert_eq!(names, ["tcp-9001", "tcp-9002", "tcp-9003"]);
}

/// validate.go's ranges: a bad rule is left out with its field named; the
/// other rules of the same Ingress still serve.
#[test]
fn invalid_rules_are_left_out_and_named() {
    let svc = "services: [{serviceName: web, servicePort: 80, isDirectConnect: true}]";
    let cases = [
        ("port: 70000, protocol: TCP", "spec.rules[0].port"),
        ("port: 9100, protocol: SCTP", "spec.rules[0].protocol"),
        (
            "port: 9100, protocol: TCP, services: [{serviceName: web, servicePort: 80, weight: {value: 101}}]",
            "spec.rules[0].services[0].weight.value",
        ),
        (
            "port: 9100, protocol: TCP, services: [{serviceName: web, servicePort: 80, subsets: [{labelSelector: {a: b}, weight: {value: -1}}]}]",
            "spec.rules[0].services[0].subsets[0].weight.value",
        ),
        (
            "port: 9100, protocol: TCP, listenerAttribute: {lbPolicy: RANDOM}",
            "spec.rules[0].listenerAttribute.lbPolicy",
        ),
        (
            "port: 9100, protocol: TCP, listenerAttribute: {healthCheck: {enabled: true, timeout: 61}}",
            "spec.rules[0].listenerAttribute.healthCheck.timeout",
        ),
        (
            "port: 9100, protocol: TCP, listenerAttribute: {healthCheck: {enabled: true, intervalTime: 4}}",
            "spec.rules[0].listenerAttribute.healthCheck.intervalTime",
        ),
        (
            "port: 9100, protocol: TCP, listenerAttribute: {healthCheck: {enabled: true, healthNum: 11}}",
            "spec.rules[0].listenerAttribute.healthCheck.healthNum",
        ),
        (
            "port: 9100, protocol: TCP, listenerAttribute: {healthCheck: {enabled: true, unHealthNum: 1}}",
            "spec.rules[0].listenerAttribute.healthCheck.unHealthNum",
        ),
        (
            "port: 9100, protocol: HTTP, listenerAttribute: {healthCheck: {enabled: true, httpCode: 32}}",
            "spec.rules[0].listenerAttribute.healthCheck.httpCode",
        ),
        ("port: 9100, protocol: HTTPS, layer7Routes: [{domain: a.example}]", "spec.rules[0].certificate"),
        (
            "port: 9100, protocol: HTTPS, certificate: {mode: MUTUAL, certID: tls}, layer7Routes: [{domain: a.example}]",
            "spec.rules[0].certificate.certCaID",
        ),
        ("port: 9100, protocol: HTTP, layer7Routes: [{domain: \"\"}]", "spec.rules[0].layer7Routes[0].domain"),
        (
            "port: 9100, protocol: HTTP, layer7Routes: [{domain: a.example, forwardType: SOAP}]",
            "spec.rules[0].layer7Routes[0].forwardType",
        ),
    ];
    for (rule, field) in cases {
        let good = format!("  - {{port: 9200, protocol: TCP, {svc}}}\n");
        let yaml = web_pods() + &crd("bad", "", &format!("  - {{{rule}}}\n{good}"));
        let (s, diags) = run(&yaml);
        let d = find(&diags, Severity::Error, &format!("{KIND}/default/bad"), field);
        assert!(d.message.contains("left out"), "{rule}: {d}");
        let names: Vec<&str> = s.listeners.iter().map(|l| l.name.as_str()).filter(|n| n.contains('-')).collect();
        assert_eq!(names, ["tcp-9200"], "{rule}: only the good rule is served");
    }
}

#[test]
fn l4_rules_balance_session_and_health_checks() {
    let svc = "services: [{serviceName: web, servicePort: 80, isDirectConnect: true}]";
    let rules = [
        format!("{{port: 9001, protocol: TCP, {svc}}}"),
        format!("{{port: 9002, protocol: TCP, listenerAttribute: {{lbPolicy: LEAST_CONN}}, {svc}}}"),
        format!("{{port: 9003, protocol: TCP, listenerAttribute: {{lbPolicy: IP_HASH}}, {svc}}}"),
        format!(
            "{{port: 9004, protocol: tcp, listenerAttribute: {{sessionTime: 300, healthCheck: {{enabled: true, \
             intervalTime: 6, timeout: 3, healthNum: 2, unHealthNum: 4}}}}, {svc}}}"
        ),
        format!("{{port: 9004, protocol: UDP, {svc}}}"),
        format!("{{port: 9001, protocol: TCP, {svc}}}"),
    ]
    .map(|r| format!("  - {r}\n"))
    .concat();
    let (s, diags) = run(&(web_pods() + &crd("game", "", &rules)));
    let cluster_of = |name: &str| {
        let l = s.listeners.iter().find(|l| l.name == name).unwrap_or_else(|| panic!("{name}\n{}", list(&diags)));
        let split = match &l.kind {
            ListenerKind::Tcp { split, .. } | ListenerKind::Udp { split, .. } => split,
            _ => panic!("{name} is not L4"),
        };
        s.cluster(&split.0[0].cluster).expect("cluster").clone()
    };
    assert_eq!(cluster_of("tcp-9001").balance, Balance::RoundRobin);
    assert_eq!(cluster_of("tcp-9002").balance, Balance::LeastConnections);
    assert!(matches!(cluster_of("tcp-9003").balance, Balance::Hash { .. }));
    let c = cluster_of("tcp-9004");
    assert_eq!(c.affinity, Some(Affinity::ClientIp { timeout_seconds: 300 }));
    let active = c.health.active.expect("active check");
    assert_eq!(active.protocol, CheckProtocol::Tcp);
    assert_eq!((active.interval_ms, active.timeout_ms), (6000, 3000));
    assert_eq!((active.healthy_threshold, active.unhealthy_threshold), (2, 4));
    // TCP and UDP share a port; a second TCP rule on 9001 is refused.
    cluster_of("udp-9004");
    let d = find(&diags, Severity::Error, &format!("{KIND}/default/game"), "spec.rules[5].port");
    assert!(d.message.contains("already taken"), "{d}");
}

#[test]
fn l7_rules_get_their_own_listener_or_join_the_shared_one() {
    let rules = "  - port: 8081\n    protocol: HTTP\n    layer7Routes:\n    - domain: game.example\n      path: /api\n      \
                 listenerAttribute: {sessionTime: 600, healthCheck: {enabled: true, httpCheckPath: /healthz, httpCode: 2}}\n      \
                 services: [{serviceName: web, servicePort: 80, isDirectConnect: true, weight: {value: 50}}]\n    \
                 - domain: game.example\n      forwardType: GRPC\n      \
                 services: [{serviceName: web, servicePort: 80, isDirectConnect: true}]\n  \
                 - port: 80\n    protocol: HTTP\n    layer7Routes:\n    - domain: shop.example\n      \
                 services: [{serviceName: web, servicePort: 80, isDirectConnect: true}]\n";
    let (s, diags) = run(&(web_pods() + &crd("site", "", rules)));
    let l = s.listeners.iter().find(|l| l.name == "http-8081").unwrap_or_else(|| panic!("{}", list(&diags)));
    assert_eq!(l.address.port(), 8081);
    let ListenerKind::Http { route_config } = &l.kind else { panic!("not HTTP") };
    let rc = s.route_config(route_config).expect("route config");
    let api = rc.lookup("game.example", "/api/v1").expect("/api routed");
    let c = s.cluster(&api.split.0[0].cluster).expect("cluster");
    assert_eq!(c.endpoints.iter().map(|e| e.weight).collect::<Vec<_>>(), [50, 50]);
    assert!(matches!(&c.affinity, Some(Affinity::Cookie { max_age_seconds: Some(600), .. })));
    match &c.health.active.as_ref().expect("active").protocol {
        CheckProtocol::Http { path, method, expected, .. } => {
            assert_eq!((path.as_str(), method.as_str()), ("/healthz", "HEAD"));
            assert_eq!(expected, &[(200, 299)]);
        }
        other => panic!("{other:?}"),
    }
    let root = rc.lookup("game.example", "/other").expect("/ routed");
    assert_eq!(root.policy.upstream_protocol, UpstreamProtocol::H2c);
    // Port 80 is --http-listen's: the rule joins the shared route config.
    assert!(common::route(&s, "shop.example", "/").is_some(), "{}", list(&diags));
    assert!(s.listeners.iter().all(|l| l.name != "http-80"));
}

#[test]
fn port_mappings_are_reported_not_served() {
    let yaml = web_pods()
        + "---\napiVersion: networkextension.bkbcs.tencent.com/v1\nkind: Ingress\nmetadata: {name: seg, namespace: default}\n\
           spec:\n  portMappings:\n  - {workloadKind: statefulset, workloadName: gs, workloadNamespace: default, \
           startPort: 30000, startIndex: 0, endIndex: 10, segmentLength: 5, protocol: TCP}\n";
    let (_, diags) = run(&yaml);
    let d = find(&diags, Severity::Warning, &format!("{KIND}/default/seg"), "spec.portMappings[0]");
    assert!(d.message.contains("not served"), "{d}");
}

/// `MUTUAL` with `certCaID`: the host checks client certificates against the
/// CA Secret; without a usable CA the rule is not served at all.
#[test]
fn mutual_certificates_check_clients_or_the_rule_is_not_served() {
    let cert = rcgen::generate_simple_self_signed(vec!["game.example".to_owned()]).unwrap();
    let tls = format!(
        "---\napiVersion: v1\nkind: Secret\nmetadata: {{name: tls, namespace: default}}\ntype: kubernetes.io/tls\n\
         stringData: {{tls.crt: {:?}, tls.key: {:?}}}\n",
        cert.cert.pem(),
        cert.signing_key.serialize_pem()
    );
    let ca = format!(
        "---\napiVersion: v1\nkind: Secret\nmetadata: {{name: ca, namespace: default}}\nstringData: {{ca.crt: {:?}}}\n",
        cert.cert.pem()
    );
    let rule = |ca_id: &str| {
        format!(
            "  - port: 8443\n    protocol: HTTPS\n    certificate: {{mode: MUTUAL, certID: tls, certCaID: {ca_id}}}\n    \
             layer7Routes: [{{domain: game.example, services: [{{serviceName: web, servicePort: 80, isDirectConnect: true}}]}}]\n"
        )
    };
    let (s, diags) = run(&(web_pods() + &tls + &ca + &crd("m", "", &rule("ca"))));
    let l = s.listeners.iter().find(|l| l.name == "https-8443").unwrap_or_else(|| panic!("{}", list(&diags)));
    let ListenerKind::Https { route_config, default_certificate, .. } = &l.kind else { panic!("not HTTPS") };
    assert_eq!(default_certificate.as_deref(), Some("default/tls"));
    let vh = s.route_config(route_config).unwrap().virtual_hosts.iter().next().unwrap();
    let verify = vh.tls.as_ref().and_then(|t| t.client_verify.as_ref()).expect("client check");
    assert_eq!((verify.ca.as_str(), verify.optional), ("default/ca", false));
    assert_eq!(s.certificate_authorities[0].name, "default/ca");

    let (s, diags) = run(&(web_pods() + &tls + &crd("m", "", &rule("nope"))));
    let served = s.route_configs.iter().flat_map(|rc| &rc.virtual_hosts).any(|vh| vh.host == "game.example");
    assert!(!served, "never served without its client check");
    find(&diags, Severity::Error, &format!("{KIND}/default/m"), "certificate.certCaID");
}
