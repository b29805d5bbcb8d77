//! The ingress-nginx tcp-services / udp-services ConfigMaps into listeners.

mod common;
use common::*;
use sluice_config::{ListenerKind, Options, ProxyProtocolVersion, Severity};

fn options() -> Options {
    Options {
        tcp_services_configmap: Some("ingress/tcp-services".into()),
        udp_services_configmap: Some("ingress/udp-services".into()),
        ..Options::default()
    }
}

fn configmap(name: &str, entries: &[(&str, &str)]) -> String {
    let mut data = String::new();
    for (k, v) in entries {
        data += &format!("  \"{k}\": \"{v}\"\n");
    }
    format!("\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}, namespace: ingress}}\ndata:\n{data}")
}

const DNS: &str = "\n---\napiVersion: v1\nkind: Service\nmetadata: {name: dns, namespace: kube-system}\nspec: {ports: [{name: dns, port: 53, protocol: UDP}, {name: dns-tcp, port: 53}]}\n";

#[test]
fn entries_become_listeners_with_their_proxy_protocol_settings() {
    let yaml = service("game", "192.0.2.1")
        + DNS
        + &configmap(
            "tcp-services",
            &[
                ("9000", "default/game:80"),
                ("9001", "default/game:http:PROXY"),
                ("9002", "default/game:80:PROXY:PROXY"),
                ("9003", "default/game:80::PROXYV2"),
                ("5353", "kube-system/dns:dns-tcp"),
                ("5354", "kube-system/dns:53"),
            ],
        )
        + &configmap("udp-services", &[("53", "kube-system/dns:53")]);
    let (s, diags) = run_with(&yaml, &options());
    assert!(errors(&diags).is_empty(), "{}", list(&diags));
    let l = |name: &str| s.listeners.iter().find(|l| l.name == name).unwrap_or_else(|| panic!("no {name}"));
    let tcp = |name: &str| match &l(name).kind {
        ListenerKind::Tcp { split, policy } => {
            (split.0[0].cluster.clone(), policy.decode_proxy_protocol, policy.send_proxy_protocol)
        }
        other => panic!("{other:?}"),
    };
    assert_eq!(tcp("tcp-9000"), ("default/game:80".into(), false, None));
    assert_eq!(tcp("tcp-9001"), ("default/game:80".into(), true, None));
    assert_eq!(tcp("tcp-9002"), ("default/game:80".into(), true, Some(ProxyProtocolVersion::V1)));
    assert_eq!(tcp("tcp-9003"), ("default/game:80".into(), false, Some(ProxyProtocolVersion::V2)));
    // Port 53 twice, UDP listed first: by name or number, TCP finds its own.
    assert_eq!(tcp("tcp-5353").0, "kube-system/dns:53");
    assert_eq!(tcp("tcp-5354").0, "kube-system/dns:53");
    assert_eq!(l("tcp-9000").address.to_string(), "0.0.0.0:9000");
    match &l("udp-53").kind {
        ListenerKind::Udp { split, policy } => {
            assert_eq!(split.0[0].cluster, "kube-system/dns:53/udp", "not the TCP port's cluster");
            assert_eq!(policy.idle_timeout_ms, 30_000);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn bad_entries_and_port_conflicts_are_named() {
    let yaml = service("game", "192.0.2.1")
        + DNS
        + &configmap(
            "tcp-services",
            &[
                ("80", "default/game:80"),
                ("9000", "default/game"),
                ("9001", "default/missing:80"),
                ("9002", "default/game:9999"),
                ("9003", "default/game:80:HAPROXY"),
                ("70000", "default/game:80"),
                ("9004", "kube-system/dns:dns"),
                ("9005", "default/game:80"),
            ],
        );
    let (s, diags) = run_with(&yaml, &options());
    let cm = "ConfigMap/ingress/tcp-services";
    assert!(find(&diags, Severity::Error, cm, "data[80]").message.contains("already taken by --http-listen"));
    assert!(find(&diags, Severity::Error, cm, "data[9000]").message.contains("namespace/service:port"));
    assert!(find(&diags, Severity::Error, cm, "data[9001]").message.contains("not found"));
    assert!(find(&diags, Severity::Error, cm, "data[9002]").message.contains("no TCP port '9999'"));
    assert!(find(&diags, Severity::Error, cm, "data[9003]").message.contains("HAPROXY"));
    assert!(find(&diags, Severity::Error, cm, "data[70000]").message.contains("not a port"));
    assert!(
        find(&diags, Severity::Error, cm, "data[9004]").message.contains("no TCP port 'dns'"),
        "a UDP port is not a TCP one"
    );
    find(&diags, Severity::Warning, "ConfigMap/ingress/udp-services", "");
    let names: Vec<&str> = s.listeners.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["http", "https", "tcp-9005"], "the good entry still listens");
}
