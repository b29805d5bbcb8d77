//! BCS Service export labels (bcs.md §3; seeds-digest T-06 to T-13).

mod common;
use common::*;
use sluice_config::{Balance, ListenerKind, Severity, Snapshot};
use std::collections::BTreeMap;

fn pods(app: &str, n: u8, first_ip: u8) -> String {
    (0..n)
        .map(|i| {
            format!(
                "\n---\napiVersion: v1\nkind: Pod\nmetadata: {{name: {app}-{i}, namespace: default, labels: {{app: {app}, tier: game}}}}\nspec: {{containers: [{{name: c, image: x}}]}}\nstatus: {{podIP: 192.0.2.{}, conditions: [{{type: Ready, status: \"True\"}}]}}\n",
                first_ip + i
            )
        })
        .collect()
}

/// The seed's exported Service, on Kubernetes: selector on a shared label,
/// an HTTP port served by domain and a TCP port.
fn exported(labels: &str, ports: &str) -> String {
    format!(
        "\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: template-service\n  namespace: default\n  labels: {{{labels}}}\n  annotations: {{bcs.tencent.com/domain: demo.bcs.com}}\nspec:\n  selector: {{tier: game}}\n  ports: {ports}\n"
    )
}

const PORTS: &str = "[{name: http-8080, port: 80, targetPort: 8080}, {name: tcp-28800, port: 28800, targetPort: 8080}]";

fn group_shares(s: &Snapshot, cluster: &str) -> BTreeMap<String, f64> {
    let c = s.cluster(cluster).unwrap();
    let total: f64 = c.endpoints.iter().map(|e| f64::from(e.weight)).sum();
    let mut out = BTreeMap::new();
    for e in &c.endpoints {
        let app = e.pod.as_deref().unwrap().rsplit_once('-').unwrap().0.to_owned();
        *out.entry(app).or_default() += f64::from(e.weight) / total;
    }
    out
}

#[test]
fn t06_weights_between_applications_whatever_their_sizes() {
    let yaml = pods("lol-summoner", 1, 10)
        + &pods("new-lol-summoner", 3, 20)
        + &exported("BCSGROUP: external, BCS-WEIGHT-lol-summoner: \"3\", BCS-WEIGHT-new-lol-summoner: \"7\"", PORTS);
    let (s, diags) = run(&yaml);
    assert!(errors(&diags).is_empty(), "{}", list(&diags));
    let r = route(&s, "demo.bcs.com", "/any").expect("HTTP port served by domain");
    let shares = group_shares(&s, &r.split.0[0].cluster);
    assert!((shares["lol-summoner"] - 0.3).abs() < 1e-9, "{shares:?}");
    assert!((shares["new-lol-summoner"] - 0.7).abs() < 1e-9, "{shares:?}");
}

#[test]
fn t07_weight_zero_gets_nothing_and_t09_balance() {
    let yaml = pods("lol-summoner", 2, 10)
        + &pods("new-lol-summoner", 2, 20)
        + &exported(
            "BCSGROUP: external, BCSBALANCE: source, BCS-WEIGHT-lol-summoner: \"0\", BCS-WEIGHT-new-lol-summoner: \"10\"",
            PORTS,
        );
    let (s, _) = run(&yaml);
    let cluster = route(&s, "demo.bcs.com", "/").unwrap().split.0[0].cluster.clone();
    assert_eq!(group_shares(&s, &cluster)["lol-summoner"], 0.0);
    assert_eq!(s.cluster(&cluster).unwrap().balance, Balance::source_hash());
    let rr = pods("a", 1, 10) + &exported("BCSGROUP: external", PORTS);
    let (s, _) = run(&rr);
    let cluster = route(&s, "demo.bcs.com", "/").unwrap().split.0[0].cluster.clone();
    assert_eq!(s.cluster(&cluster).unwrap().balance, Balance::RoundRobin, "roundrobin by default");
}

#[test]
fn t08_invalid_weights_leave_the_service_unexported() {
    for bad in ["\"-1\"", "\"abc\"", "\"1.5\""] {
        let yaml = pods("a", 1, 10) + &exported(&format!("BCSGROUP: external, BCS-WEIGHT-a: {bad}"), PORTS);
        let (s, diags) = run(&yaml);
        find(&diags, Severity::Error, "Service/default/template-service", "metadata.labels[BCS-WEIGHT-a]");
        assert!(route(&s, "demo.bcs.com", "/").is_none(), "{bad}");
    }
}

#[test]
fn t10_only_services_of_this_group_are_exported() {
    for (labels, served) in [
        ("BCSGROUP: external", true),
        ("BCSGROUP: \"internal,external\"", true),
        ("BCSGROUP: internal", false),
        ("app: x", false),
    ] {
        let (s, _) = run(&(pods("a", 1, 10) + &exported(labels, PORTS)));
        assert_eq!(route(&s, "demo.bcs.com", "/").is_some(), served, "{labels}");
    }
}

#[test]
fn t11_http_ports_by_domain_tcp_ports_listen_on_their_port() {
    let (s, diags) = run(&(pods("a", 1, 10) + &exported("BCSGROUP: external", PORTS)));
    assert!(errors(&diags).is_empty(), "{}", list(&diags));
    assert!(route(&s, "demo.bcs.com", "/").is_some());
    assert!(!s.listeners.iter().any(|l| l.name == "tcp-80"), "an HTTP port does not listen on its own port");
    let tcp = s.listeners.iter().find(|l| l.name == "tcp-28800").expect("the TCP port listens");
    let ListenerKind::Tcp { policy, .. } = &tcp.kind else { panic!() };
    assert_eq!(policy.max_connections, Some(20_000), "bcs-loadbalance's default maxconn");
}

#[test]
fn t12_a_tcp_port_exported_twice_and_t13_udp() {
    let one = exported("BCSGROUP: external", PORTS);
    let two = one.replace("name: template-service", "name: zz-second").replace("demo.bcs.com", "other.bcs.com");
    let udp = exported("BCSGROUP: external", "[{name: udp-53, port: 53, protocol: UDP}]")
        .replace("name: template-service", "name: dns")
        .replace("demo.bcs.com", "dns.bcs.com");
    let (s, diags) = run(&(pods("a", 1, 10) + &one + &two + &udp));
    let e = find(&diags, Severity::Error, "Service/default/zz-second", "spec.ports[1]");
    assert!(e.message.contains("Service/default/template-service"), "{}", e.message);
    find(&diags, Severity::Warning, "Service/default/dns", "spec.ports[0]");
    assert_eq!(s.listeners.iter().filter(|l| l.name == "tcp-28800").count(), 1);
}

#[test]
fn maxconn_of_an_exported_service_caps_its_clusters() {
    let yaml = pods("a", 1, 10)
        + &exported("BCSGROUP: external", PORTS)
            .replace("annotations: {", "annotations: {bcs.tencent.com/maxconn: \"50\", ");
    let (s, diags) = run(&yaml);
    assert!(errors(&diags).is_empty(), "{}", list(&diags));
    let cluster = &route(&s, "demo.bcs.com", "/").unwrap().split.0[0].cluster;
    assert_eq!(s.cluster(cluster).unwrap().max_connections, Some(50));
    let ListenerKind::Tcp { policy, .. } = &s.listeners.iter().find(|l| l.name == "tcp-28800").unwrap().kind else {
        panic!()
    };
    assert_eq!(policy.max_connections, Some(50));
}

/// A hand-written EndpointSlice names no Pod (no `targetRef`): its endpoints
/// are grouped by the Pod that holds their address, and an address no Pod
/// holds is said, not silently put in no group.
#[test]
fn weight_groups_match_pods_by_address_when_endpoints_name_none() {
    let slice = "\n---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: template-service-manual\n  namespace: default\n  labels: {kubernetes.io/service-name: template-service}\naddressType: IPv4\nports: [{name: http-8080, port: 8080}]\nendpoints:\n- addresses: [192.0.2.10]\n- addresses: [192.0.2.20]\n- addresses: [192.0.2.21]\n- addresses: [192.0.2.99]\n";
    let yaml = pods("lol-summoner", 1, 10)
        + &pods("new-lol-summoner", 2, 20)
        + &exported("BCSGROUP: external, BCS-WEIGHT-lol-summoner: \"3\", BCS-WEIGHT-new-lol-summoner: \"7\"", PORTS)
        + slice;
    let (s, diags) = run(&yaml);
    let cluster = route(&s, "demo.bcs.com", "/").unwrap().split.0[0].cluster.clone();
    let c = s.cluster(&cluster).unwrap();
    let weight = |ip: &str| c.endpoints.iter().find(|e| e.address.ip().to_string() == ip).unwrap().weight;
    let total: u32 = c.endpoints.iter().map(|e| e.weight).sum();
    let share = |ips: &[&str]| f64::from(ips.iter().map(|ip| weight(ip)).sum::<u32>()) / f64::from(total);
    // 192.0.2.99 is in no group (weight 1 of 11 overall), the groups share the rest 3:7.
    assert!((share(&["192.0.2.10"]) / share(&["192.0.2.20", "192.0.2.21"]) - 3.0 / 7.0).abs() < 1e-9, "{c:?}");
    assert_eq!(weight("192.0.2.20"), weight("192.0.2.21"));
    let d = find(&diags, Severity::Warning, "Service/default/template-service", "BCS-WEIGHT");
    assert!(d.message.contains("192.0.2.99"), "{d}");
}
