//! The seed's Mesos-era BCS ingress (seeds-digest §2.1, bcs.md §2).

mod common;
use common::*;
use sluice_config::{Balance, ListenerKind, Options, Severity};

/// The seed's services, each port as the form-B example names it.
fn services() -> String {
    let mut y = String::new();
    for (name, port, ip) in [
        ("service-1", 8801, "192.0.2.1"),
        ("service-2", 8802, "192.0.2.2"),
        ("service-3", 8803, "192.0.2.3"),
        ("service-4", 8804, "192.0.2.4"),
    ] {
        y += &format!(
            "\n---\napiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: default}}\nspec: {{ports: [{{port: {port}}}]}}\n---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {{name: {name}-x, namespace: default, labels: {{kubernetes.io/service-name: {name}}}}}\naddressType: IPv4\nports: [{{port: {port}}}]\nendpoints: [{{addresses: [{ip}]}}]\n"
        );
    }
    y
}

/// Form B as the seed gives it (S0:2797-2852), with the cut-off top restored.
fn seed(name: &str, group: &str, extra_http_path: bool, tcp_port: u16) -> String {
    let second = if extra_http_path {
        r#", {"path": "/write/demo", "backend": [{"serviceName": "service-2", "servicePort": "8802", "weight": 100}]}"#
    } else {
        ""
    };
    format!(
        r#"
---
{{"apiVersion": "v1", "kind": "ingress",
 "metadata": {{"name": "{name}", "namespace": "default", "labels": {{"ingressname": "{name}"}}, "annotation": {{"annotation-demo": "annotation-value"}}}},
 "spec": {{"lbGroup": "{group}", "clusterid": "sz-loldemo-0000123", "rules": [
   {{"kind": "HTTP", "balance": "roundrobin", "httpIngress": {{"host": "demo.bcs.com", "paths": [
      {{"path": "/read/demo", "backend": [
        {{"serviceName": "service-1", "servicePort": "8801", "weight": 70}},
        {{"serviceName": "service-2", "servicePort": "8802", "weight": 30}}]}}{second}]}}}},
   {{"kind": "TCP", "balance": "roundrobin", "tcpIngress": {{"listenPort": {tcp_port}, "backend": [
      {{"serviceName": "service-3", "servicePort": "8803", "weight": 70}},
      {{"serviceName": "service-4", "servicePort": "8804", "weight": 30}}]}}}}]}}}}
"#
    )
}

fn weights(split: &sluice_config::Split) -> Vec<(String, u32)> {
    split.0.iter().map(|w| (w.cluster.clone(), w.weight)).collect()
}

#[test]
fn the_seed_form_b_example_yields_weighted_http_and_tcp() {
    let (s, diags) = run(&(services() + &seed("ingress-demo", "external", false, 8083)));
    assert!(errors(&diags).is_empty(), "{}", list(&diags));
    let r = route(&s, "demo.bcs.com", "/read/demo/x").expect("the HTTP rule routes");
    assert_eq!(weights(&r.split), [("default/service-1:8801".into(), 70), ("default/service-2:8802".into(), 30)]);
    let tcp = s.listeners.iter().find(|l| l.name == "tcp-8083").expect("a listener on listenPort");
    assert_eq!(tcp.address.to_string(), "0.0.0.0:8083");
    let ListenerKind::Tcp { split, .. } = &tcp.kind else { panic!() };
    assert_eq!(weights(split), [("default/service-3:8803".into(), 70), ("default/service-4:8804".into(), 30)]);
}

#[test]
fn only_the_first_path_is_served_with_a_warning() {
    let (s, diags) = run(&(services() + &seed("ingress-demo", "external", true, 8083)));
    let w = find(&diags, Severity::Warning, "ingress/default/ingress-demo", "spec.rules[0].httpIngress.paths[1]");
    assert!(w.message.contains("/write/demo"), "{}", w.message);
    assert!(route(&s, "demo.bcs.com", "/write/demo").is_none());
}

#[test]
fn another_lb_group_is_not_served_here() {
    let yaml = services() + &seed("ingress-demo", "internal", false, 8083);
    let (s, diags) = run(&yaml);
    find(&diags, Severity::Info, "ingress/default/ingress-demo", "spec.lbGroup");
    assert!(route(&s, "demo.bcs.com", "/read/demo").is_none());
    assert!(!s.listeners.iter().any(|l| l.name == "tcp-8083"));
    let internal = Options { lb_group: "internal".into(), ..Options::default() };
    let (s, _) = run_with(&yaml, &internal);
    assert!(route(&s, "demo.bcs.com", "/read/demo").is_some());
}

#[test]
fn balance_values() {
    for (balance, want) in [
        ("source", Some(Balance::source_hash())),
        ("leastconn", Some(Balance::LeastConnections)),
        ("roundrobin", Some(Balance::RoundRobin)),
        ("random", None),
    ] {
        let yaml = services()
            + &seed("d", "external", false, 8083).replace(
                r#""balance": "roundrobin", "httpIngress""#,
                &format!(r#""balance": "{balance}", "httpIngress""#),
            );
        let (s, diags) = run(&yaml);
        let cluster = &route(&s, "demo.bcs.com", "/read/demo").unwrap().split.0[0].cluster;
        let got = &s.cluster(cluster).unwrap().balance;
        match want {
            Some(b) => assert_eq!(*got, b, "{balance}"),
            None => {
                assert_eq!(*got, Balance::RoundRobin);
                find(&diags, Severity::Error, "ingress/default/d", "spec.rules[0].balance");
            }
        }
    }
}

#[test]
fn invalid_weights_are_errors_and_leave_their_backend_out() {
    for bad in ["-1", "1.5", "\"abc\""] {
        let yaml = services()
            + &seed("d", "external", false, 8083).replace(r#""weight": 30}]}]"#, &format!(r#""weight": {bad}}}]}}]"#));
        let (s, diags) = run(&yaml);
        let e =
            find(&diags, Severity::Error, "ingress/default/d", "spec.rules[0].httpIngress.paths[0].backend[1].weight");
        assert!(e.message.contains("not an integer ≥ 0"), "{bad}: {}", e.message);
        assert_eq!(
            weights(&route(&s, "demo.bcs.com", "/read/demo").unwrap().split),
            [("default/service-1:8801".into(), 70)]
        );
    }
}

#[test]
fn form_a_is_read_as_weight_one() {
    let form_a = r#"
---
{"apiVersion": "v1", "kind": "ingress", "metadata": {"name": "ingress-demo", "namespace": "default", "labels": {"app": "nginx"}},
 "spec": {"lbGroup": "external", "rules": [{"host": "www.ingress-test.com", "http": {"paths": [
   {"path": "/index.html", "backend": {"serviceName": "service-1", "port": 8801}}]}}]}}
"#;
    let (s, diags) = run(&(services() + form_a));
    assert!(errors(&diags).is_empty(), "{}", list(&diags));
    assert_eq!(
        weights(&route(&s, "www.ingress-test.com", "/index.html").unwrap().split),
        [("default/service-1:8801".into(), 1)]
    );
}

#[test]
fn a_tcp_port_conflict_keeps_the_first_owner() {
    let yaml = services()
        + &seed("a-first", "external", false, 8083)
        + &seed("b-second", "external", false, 8083).replace("demo.bcs.com", "other.bcs.com");
    let (s, diags) = run(&yaml);
    let e = find(&diags, Severity::Error, "ingress/default/b-second", "spec.rules[1].tcpIngress.listenPort");
    assert!(e.message.contains("ingress/default/a-first"), "{}", e.message);
    assert_eq!(s.listeners.iter().filter(|l| l.name == "tcp-8083").count(), 1);
    let listener = s.listeners.iter().find(|l| l.name == "tcp-8083").unwrap();
    assert!(matches!(listener.kind, ListenerKind::Tcp { .. }));
    assert_eq!(listener.source.as_ref().unwrap().name, "a-first");
    assert!(route(&s, "other.bcs.com", "/read/demo").is_some(), "the second object's HTTP rule still serves");
}

#[test]
fn a_kubernetes_ingress_and_a_seed_rule_on_one_path_the_older_wins() {
    let older_ingress = r#"
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: k8s, namespace: default, creationTimestamp: "2020-01-01T00:00:00Z"}
spec:
  ingressClassName: sluice
  rules: [{host: demo.bcs.com, http: {paths: [{path: /read/demo, pathType: Prefix, backend: {service: {name: service-3, port: {number: 8803}}}}]}}]
"#;
    let (s, diags) = run(&(services() + &seed("ingress-demo", "external", false, 8083) + older_ingress));
    find(&diags, Severity::Error, "ingress/default/ingress-demo", "spec.rules[0].httpIngress.paths[0].path");
    assert_eq!(target(&s, "demo.bcs.com", "/read/demo"), ["default/service-3:8803"]);
}

#[test]
fn form_b_without_apiversion_as_the_seed_prints_it_is_read() {
    let doc = seed("cut", "external", false, 8083).replace(r#""apiVersion": "v1", "#, "");
    assert!(!doc.contains("apiVersion"));
    let (s, diags) = run(&(services() + &doc));
    assert!(errors(&diags).is_empty(), "{}", list(&diags));
    assert!(route(&s, "demo.bcs.com", "/read/demo").is_some());
}
