//! Malformed inputs: each yields a diagnostic naming the object and field,
//! and leaves the rest of the Snapshot intact.

mod common;
use common::*;
use sluice_config::Severity::{self, Error, Info, Warning};

/// A good configuration every case is added to: host good.com -> Service a.
fn baseline() -> String {
    service("a", "192.0.2.1") + &ingress("good", Some("good.com"), &[("Prefix", "/", "a")])
}

/// Runs `bad` next to the baseline; checks the diagnostic and that good.com still works.
fn check(bad: &str, severity: Severity, object: &str, field: &str, message: &str) {
    let (s, diags) = run(&(baseline() + bad));
    let d = find(&diags, severity, object, field);
    assert!(d.message.contains(message), "message {:?} lacks {message:?}", d.message);
    assert_eq!(target(&s, "good.com", "/x"), ["default/a:80"], "the good Ingress must still route");
    assert_eq!(endpoints(&s, "default/a:80"), ["192.0.2.1:8080"]);
    assert!(
        diags.iter().all(|d| d.object.to_string() != "Ingress/default/good" || d.severity < Error),
        "the good Ingress got an error:\n{}",
        list(&diags)
    );
}

const HEAD: &str =
    "\n---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: bad, namespace: default}\n";

fn bad_path(path_yaml: &str) -> String {
    format!(
        "{HEAD}spec:\n  ingressClassName: sluice\n  rules:\n  - host: bad.com\n    http:\n      paths:\n      - {path_yaml}\n"
    )
}

#[test]
fn m01_rules_of_the_wrong_type() {
    check(
        &format!("{HEAD}spec: {{rules: \"everything\"}}\n"),
        Error,
        "Ingress/default/bad",
        "spec.rules",
        "invalid type",
    );
}

#[test]
fn m02_missing_path_type() {
    check(
        &bad_path("{path: /, backend: {service: {name: a, port: {number: 80}}}}"),
        Error,
        "Ingress/default/bad",
        "spec.rules[0].http.paths[0].pathType",
        "required",
    );
}

#[test]
fn m03_unknown_path_type() {
    check(
        &bad_path("{path: /, pathType: Regex, backend: {service: {name: a, port: {number: 80}}}}"),
        Error,
        "Ingress/default/bad",
        "paths[0].pathType",
        "'Regex'",
    );
}

#[test]
fn m04_relative_prefix_path() {
    check(
        &bad_path("{path: api, pathType: Prefix, backend: {service: {name: a, port: {number: 80}}}}"),
        Error,
        "Ingress/default/bad",
        "paths[0].path",
        "absolute",
    );
}

#[test]
fn m05_path_with_dot_dot() {
    check(
        &bad_path("{path: /a/../b, pathType: Exact, backend: {service: {name: a, port: {number: 80}}}}"),
        Error,
        "Ingress/default/bad",
        "paths[0].path",
        "'/../'",
    );
}

#[test]
fn m06_unknown_service() {
    let bad = bad_path("{path: /, pathType: Prefix, backend: {service: {name: nowhere, port: {number: 80}}}}");
    check(&bad, Error, "Ingress/default/bad", "backend.service.name", "Service default/nowhere not found");
    // The route stays, answering 503, so no shorter path can take its requests.
    let (s, _) = run(&(baseline() + &bad));
    assert!(route(&s, "bad.com", "/").unwrap().split.is_empty());
}

#[test]
fn m07_bad_port_name() {
    check(
        &bad_path("{path: /, pathType: Prefix, backend: {service: {name: a, port: {name: grpc}}}}"),
        Error,
        "Ingress/default/bad",
        "backend.service.port.name",
        "no port with name 'grpc' (it has: 80 (http))",
    );
}

#[test]
fn m08_port_number_not_on_the_service() {
    check(
        &bad_path("{path: /, pathType: Prefix, backend: {service: {name: a, port: {number: 8080}}}}"),
        Error,
        "Ingress/default/bad",
        "backend.service.port.number",
        "no port with number 8080",
    );
}

#[test]
fn m09_port_with_number_and_name() {
    check(
        &bad_path("{path: /, pathType: Prefix, backend: {service: {name: a, port: {number: 80, name: http}}}}"),
        Error,
        "Ingress/default/bad",
        "backend.service.port",
        "both number and name",
    );
}

#[test]
fn m10_port_number_as_a_word() {
    check(
        &bad_path("{path: /, pathType: Prefix, backend: {service: {name: a, port: {number: eighty}}}}"),
        Error,
        "Ingress/default/bad",
        "backend.service.port.number",
        "invalid type",
    );
}

#[test]
fn m11_backend_without_service() {
    check(
        &bad_path("{path: /, pathType: Prefix, backend: {}}"),
        Error,
        "Ingress/default/bad",
        "backend.service",
        "required",
    );
}

#[test]
fn m12_resource_backend() {
    check(
        &bad_path("{path: /, pathType: Prefix, backend: {resource: {kind: StorageBucket, name: assets}}}"),
        Error,
        "Ingress/default/bad",
        "backend.resource",
        "not supported",
    );
}

#[test]
fn m13_ip_address_as_host() {
    let bad = format!(
        "{HEAD}spec:\n  ingressClassName: sluice\n  rules:\n  - host: 192.0.2.8\n    http:\n      paths:\n      - {{path: /, pathType: Prefix, backend: {{service: {{name: a, port: {{number: 80}}}}}}}}\n"
    );
    check(&bad, Error, "Ingress/default/bad", "spec.rules[0].host", "IP address");
}

#[test]
fn m14_wildcard_in_the_middle_of_a_host() {
    let bad = format!(
        "{HEAD}spec:\n  ingressClassName: sluice\n  rules:\n  - host: \"foo.*.com\"\n    http:\n      paths:\n      - {{path: /, pathType: Prefix, backend: {{service: {{name: a, port: {{number: 80}}}}}}}}\n"
    );
    check(&bad, Error, "Ingress/default/bad", "spec.rules[0].host", "wildcard");
}

#[test]
fn m15_duplicate_host_and_path_the_older_wins() {
    // No creation timestamps: name order decides, so "zz-newer" loses to "good".
    let bad = ingress("zz-newer", Some("good.com"), &[("Prefix", "/", "a")]);
    check(
        &bad,
        Error,
        "Ingress/default/zz-newer",
        "spec.rules[0].http.paths[0].path",
        "already served by Ingress/default/good",
    );
    // With timestamps, the older object keeps the path whatever its name.
    let older = r#"
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: aa-older, namespace: default, creationTimestamp: "2020-01-01T00:00:00Z"}
spec:
  ingressClassName: sluice
  rules: [{host: good.com, http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: b, port: {number: 80}}}}]}}]
"#;
    let (s, diags) = run(&(baseline() + &service("b", "192.0.2.2") + older));
    find(&diags, Error, "Ingress/default/good", "spec.rules[0].http.paths[0].path");
    assert_eq!(target(&s, "good.com", "/"), ["default/b:80"]);
}

#[test]
fn m16_class_field_and_annotation_disagree() {
    let bad = "\n---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: bad\n  namespace: default\n  annotations: {kubernetes.io/ingress.class: nginx}\nspec:\n  ingressClassName: sluice\n  rules: [{host: bad.com, http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: a, port: {number: 80}}}}]}}]\n";
    check(bad, Error, "Ingress/default/bad", "metadata.annotations[kubernetes.io/ingress.class]", "contradicts");
    let (s, _) = run(&(baseline() + bad));
    assert_eq!(target(&s, "bad.com", "/"), ["404"]);
}

#[test]
fn m17_ingress_without_rules_or_default_backend() {
    check(
        &format!("{HEAD}spec: {{ingressClassName: sluice}}\n"),
        Error,
        "Ingress/default/bad",
        "spec",
        "needs rules or a defaultBackend",
    );
}

#[test]
fn m18_missing_name() {
    check(
        "\n---\napiVersion: v1\nkind: Service\nmetadata: {namespace: default}\nspec: {ports: [{port: 80}]}\n",
        Error,
        "Service/default/",
        "metadata.name",
        "required",
    );
}

#[test]
fn m19_invalid_object_name() {
    check(
        "\n---\napiVersion: v1\nkind: Service\nmetadata: {name: My_Service}\nspec: {ports: [{port: 80}]}\n",
        Error,
        "Service/default/My_Service",
        "metadata.name",
        "not a valid name",
    );
}

#[test]
fn m20_service_port_out_of_range() {
    check(
        "\n---\napiVersion: v1\nkind: Service\nmetadata: {name: big}\nspec: {clusterIP: 203.0.113.9, ports: [{port: 70000}]}\n",
        Error,
        "Service/default/big",
        "spec.ports[0].port",
        "out of range",
    );
}

#[test]
fn m21_unknown_service_type() {
    check(
        "\n---\napiVersion: v1\nkind: Service\nmetadata: {name: odd}\nspec: {type: Integration, ports: [{port: 80}]}\n",
        Error,
        "Service/default/odd",
        "spec.type",
        "'Integration'",
    );
}

#[test]
fn m22_cluster_ip_that_is_not_an_ip() {
    check(
        "\n---\napiVersion: v1\nkind: Service\nmetadata: {name: odd}\nspec: {clusterIP: 1.1.1, ports: [{port: 80}]}\n",
        Error,
        "Service/default/odd",
        "spec.clusterIPs[0]",
        "not an IP address",
    );
}

#[test]
fn m23_slice_with_a_bad_address() {
    let bad = "\n---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: a-bad, namespace: default, labels: {kubernetes.io/service-name: a}}\naddressType: IPv4\nports: [{name: http, port: 8080}]\nendpoints: [{addresses: [not-an-ip]}]\n";
    check(bad, Warning, "EndpointSlice/default/a-bad", "endpoints[0].addresses[0]", "not an IP address");
}

#[test]
fn m24_slice_without_service_label() {
    check(
        "\n---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: orphan}\naddressType: IPv4\nendpoints: []\n",
        Warning,
        "EndpointSlice/default/orphan",
        "kubernetes.io/service-name",
        "belongs to no Service",
    );
}

#[test]
fn m25_fqdn_slice() {
    check(
        "\n---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: a-fqdn, labels: {kubernetes.io/service-name: a}}\naddressType: FQDN\nports: [{name: http, port: 8080}]\nendpoints: [{addresses: [x.example.com]}]\n",
        Warning,
        "EndpointSlice/default/a-fqdn",
        "addressType",
        "'FQDN'",
    );
}

#[test]
fn m26_tls_secret_without_key() {
    let bad = "\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: half}\ntype: kubernetes.io/tls\nstringData: {tls.crt: x}\n".to_owned()
        + &format!("{HEAD}spec:\n  ingressClassName: sluice\n  tls: [{{hosts: [bad.com], secretName: half}}]\n  rules: [{{host: bad.com, http: {{paths: [{{path: /, pathType: Prefix, backend: {{service: {{name: a, port: {{number: 80}}}}}}}}]}}}}]\n");
    check(&bad, Error, "Secret/default/half", "data[tls.key]", "missing");
}

#[test]
fn m27_tls_secret_with_garbage_certificate() {
    let bad = "\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: junk}\ntype: kubernetes.io/tls\nstringData:\n  tls.crt: \"-----BEGIN CERTIFICATE-----\\nAAAA\\n-----END CERTIFICATE-----\\n\"\n  tls.key: \"-----BEGIN PRIVATE KEY-----\\nAAAA\\n-----END PRIVATE KEY-----\\n\"\n".to_owned()
        + &format!("{HEAD}spec:\n  ingressClassName: sluice\n  tls: [{{hosts: [bad.com], secretName: junk}}]\n  rules: [{{host: bad.com, http: {{paths: [{{path: /, pathType: Prefix, backend: {{service: {{name: a, port: {{number: 80}}}}}}}}]}}}}]\n");
    check(&bad, Error, "Secret/default/junk", "data[tls.crt]", "not valid X.509");
}

#[test]
fn m28_secret_data_that_is_not_base64() {
    check(
        "\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: b64}\ndata: {tls.crt: \"%%%\"}\n",
        Error,
        "Secret/default/b64",
        "data",
        "",
    );
}

#[test]
fn m29_document_that_is_not_a_mapping() {
    check("\n---\n- just\n- a list\n", Error, "File/test.yaml", "document 4", "not a mapping");
}

#[test]
fn m30_unknown_kind_is_only_info() {
    check(
        "\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: r}\n",
        Info,
        "Deployment/r",
        "",
        "not read by Sluice",
    );
}

#[test]
fn m31_udp_service_port_behind_an_ingress() {
    let bad =
        "\n---\napiVersion: v1\nkind: Service\nmetadata: {name: dns}\nspec: {ports: [{port: 53, protocol: UDP}]}\n"
            .to_owned()
            + &bad_path("{path: /, pathType: Prefix, backend: {service: {name: dns, port: {number: 53}}}}");
    check(&bad, Error, "Ingress/default/bad", "backend.service.port", "HTTP needs TCP");
}

#[test]
fn m32_named_target_port_no_pod_has() {
    let bad = "\n---\napiVersion: v1\nkind: Service\nmetadata: {name: named}\nspec: {selector: {app: named}, ports: [{port: 80, targetPort: web}]}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: n-1, labels: {app: named}}\nspec: {containers: [{name: c, image: x}]}\nstatus: {podIP: 192.0.2.60, conditions: [{type: Ready, status: \"True\"}]}\n".to_owned()
        + &bad_path("{path: /, pathType: Prefix, backend: {service: {name: named, port: {number: 80}}}}");
    check(
        &bad,
        Warning,
        "Service/default/named",
        "spec.ports[0].targetPort",
        "names no container port of Pod default/n-1",
    );
}

#[test]
fn m33_affinity_timeout_out_of_range() {
    check(
        "\n---\napiVersion: v1\nkind: Service\nmetadata: {name: st}\nspec: {clusterIP: 203.0.113.7, sessionAffinity: ClientIP, sessionAffinityConfig: {clientIP: {timeoutSeconds: 100000}}, ports: [{port: 80}]}\n",
        Error,
        "Service/default/st",
        "timeoutSeconds",
        "outside 1-86400",
    );
}

#[test]
fn m34_second_host_less_default_backend() {
    let first = "\n---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: d1}\nspec: {ingressClassName: sluice, defaultBackend: {service: {name: a, port: {number: 80}}}}\n";
    let second = "\n---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: d2}\nspec: {ingressClassName: sluice, defaultBackend: {service: {name: a, port: {number: 80}}}}\n";
    check(
        &(first.to_owned() + second),
        Warning,
        "Ingress/default/d2",
        "spec.defaultBackend",
        "already set by Ingress/default/d1",
    );
}

#[test]
fn m35_same_object_twice() {
    // The baseline's Service a, defined again: the first definition is used.
    let (store, _) = load(&(baseline() + &service("a", "192.0.2.99")));
    assert_eq!(store.services.len(), 1);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.yaml"), baseline()).unwrap();
    std::fs::write(dir.path().join("b.yaml"), service("a", "192.0.2.99")).unwrap();
    let loaded = sluice_controller::sources::ManifestDir::new(dir.path()).load().unwrap();
    find(&loaded.diagnostics, Error, "Service/default/a", "metadata.name");
    let (s, _) = sluice_controller::translate(&loaded.store, &Default::default());
    assert_eq!(endpoints(&s, "default/a:80"), ["192.0.2.1:8080"], "the first definition (a.yaml) is used");
}
