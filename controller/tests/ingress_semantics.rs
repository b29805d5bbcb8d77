//! Translation of Kubernetes Ingress path and host semantics.

mod common;
use common::*;
use sluice_config::Severity;

fn services() -> String {
    (0..4).map(|i| service(&format!("svc{i}"), &format!("192.0.2.{}", i + 1))).collect()
}

/// (rules as (pathType, path); request path; index of the winning rule, `None` = 404)
type Case = (&'static [(&'static str, &'static str)], &'static str, Option<usize>);

/// The examples table of the Kubernetes Ingress documentation, end to end
/// through translation: rules -> request path -> which backend.
#[test]
fn kubernetes_path_examples() {
    let table: &[Case] = &[
        (&[("Prefix", "/")], "/anything", Some(0)),
        (&[("Exact", "/foo")], "/foo", Some(0)),
        (&[("Exact", "/foo")], "/bar", None),
        (&[("Exact", "/foo")], "/foo/", None),
        (&[("Exact", "/foo/")], "/foo", None),
        (&[("Prefix", "/foo")], "/foo", Some(0)),
        (&[("Prefix", "/foo")], "/foo/", Some(0)),
        (&[("Prefix", "/foo/")], "/foo", Some(0)),
        (&[("Prefix", "/foo/")], "/foo/", Some(0)),
        (&[("Prefix", "/foo")], "/foobar", None),
        (&[("Prefix", "/aaa/bb")], "/aaa/bbb", None),
        (&[("Prefix", "/aaa/bbb")], "/aaa/bbb", Some(0)),
        (&[("Prefix", "/aaa/bbb/")], "/aaa/bbb", Some(0)),
        (&[("Prefix", "/aaa/bbb")], "/aaa/bbb/", Some(0)),
        (&[("Prefix", "/aaa/bbb")], "/aaa/bbb/ccc", Some(0)),
        (&[("Prefix", "/aaa/bbb")], "/aaa/bbbxyz", None),
        (&[("Prefix", "/"), ("Prefix", "/aaa")], "/aaa/ccc", Some(1)),
        (&[("Prefix", "/"), ("Prefix", "/aaa"), ("Prefix", "/aaa/bbb")], "/aaa/bbb", Some(2)),
        (&[("Prefix", "/"), ("Prefix", "/aaa"), ("Prefix", "/aaa/bbb")], "/ccc", Some(0)),
        (&[("Prefix", "/aaa")], "/ccc", None),
        (&[("Prefix", "/foo"), ("Exact", "/foo")], "/foo", Some(1)),
        (&[("Exact", "/foo"), ("Prefix", "/foo")], "/foo", Some(0)),
        (&[("Exact", "/foo"), ("Prefix", "/foo")], "/foo/x", Some(1)),
        (&[("ImplementationSpecific", "/app")], "/app/x", Some(0)),
        (&[("ImplementationSpecific", "/app")], "/apple", None),
    ];
    for (rules, request, expected) in table {
        let paths: Vec<(&str, &str, String)> =
            rules.iter().enumerate().map(|(i, (ty, p))| (*ty, *p, format!("svc{i}"))).collect();
        let paths: Vec<(&str, &str, &str)> = paths.iter().map(|(t, p, s)| (*t, *p, s.as_str())).collect();
        let yaml = services() + &ingress("web", Some("foo.com"), &paths);
        let (s, diags) = run(&yaml);
        assert!(errors(&diags).is_empty(), "{rules:?}:\n{}", list(&diags));
        let want = match expected {
            Some(i) => vec![format!("default/svc{i}:80")],
            None => vec!["404".to_owned()],
        };
        assert_eq!(target(&s, "foo.com", request), want, "rules {rules:?}, request {request}");
    }
}

#[test]
fn longest_match_wins_across_ingresses_of_one_host() {
    let yaml = services()
        + &ingress("root", Some("foo.com"), &[("Prefix", "/", "svc0")])
        + &ingress("api", Some("foo.com"), &[("Prefix", "/api", "svc1")])
        + &ingress("v2", Some("foo.com"), &[("Prefix", "/api/v2", "svc2")]);
    let (s, diags) = run(&yaml);
    assert!(errors(&diags).is_empty(), "{}", list(&diags));
    assert_eq!(target(&s, "foo.com", "/api/v2/users"), ["default/svc2:80"]);
    assert_eq!(target(&s, "foo.com", "/api/v1"), ["default/svc1:80"]);
    assert_eq!(target(&s, "foo.com", "/apiary"), ["default/svc0:80"]);
}

#[test]
fn hosts_exact_then_wildcard_then_hostless() {
    let yaml = services()
        + &ingress("exact", Some("a.foo.com"), &[("Prefix", "/", "svc0")])
        + &ingress("wild", Some("\"*.foo.com\""), &[("Prefix", "/", "svc1")])
        + &ingress("any", None, &[("Prefix", "/", "svc2")]);
    let (s, diags) = run(&yaml);
    assert!(errors(&diags).is_empty(), "{}", list(&diags));
    assert_eq!(target(&s, "a.foo.com", "/"), ["default/svc0:80"]);
    assert_eq!(target(&s, "b.foo.com", "/"), ["default/svc1:80"]);
    // A wildcard covers one label only.
    assert_eq!(target(&s, "x.b.foo.com", "/"), ["default/svc2:80"]);
    assert_eq!(target(&s, "foo.com", "/"), ["default/svc2:80"]);
    assert_eq!(target(&s, "other.org", "/"), ["default/svc2:80"]);
}

#[test]
fn default_backend_catches_unmatched_hosts_and_its_own_hosts_unmatched_paths() {
    let yaml = services()
        + r#"
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: catch-all, namespace: default}
spec:
  ingressClassName: sluice
  defaultBackend: {service: {name: svc0, port: {number: 80}}}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: shop, namespace: default}
spec:
  ingressClassName: sluice
  defaultBackend: {service: {name: svc1, port: {name: http}}}
  rules:
  - host: shop.com
    http:
      paths:
      - {path: /cart, pathType: Prefix, backend: {service: {name: svc2, port: {number: 80}}}}
"#;
    let (s, diags) = run(&yaml);
    assert!(errors(&diags).is_empty(), "{}", list(&diags));
    assert_eq!(target(&s, "shop.com", "/cart/1"), ["default/svc2:80"]);
    assert_eq!(target(&s, "shop.com", "/other"), ["default/svc1:80"], "the Ingress's own default backend");
    assert_eq!(target(&s, "web3", "/"), ["default/svc0:80"], "the host-less default backend");
}

#[test]
fn without_any_default_backend_unmatched_requests_get_404() {
    let yaml = services() + &ingress("web", Some("foo.com"), &[("Prefix", "/app", "svc0")]);
    let (s, _) = run(&yaml);
    assert_eq!(target(&s, "web3", "/"), ["404"]);
    assert_eq!(target(&s, "foo.com", "/"), ["404"]);
}

#[test]
fn named_service_port_and_named_target_port() {
    let yaml = r#"
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  selector: {app: web}
  ports:
  - {name: metrics, port: 9100, targetPort: 9100}
  - {name: http, port: 80, targetPort: web-port}
---
apiVersion: v1
kind: Pod
metadata: {name: web-1, namespace: default, labels: {app: web}}
spec:
  containers:
  - name: c
    image: x
    ports: [{name: web-port, containerPort: 8081}, {name: other, containerPort: 9999}]
status: {phase: Running, podIP: 192.0.2.7, conditions: [{type: Ready, status: "True"}]}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web, namespace: default}
spec:
  ingressClassName: sluice
  rules:
  - http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {name: http}}}}
"#;
    let (s, diags) = run(yaml);
    assert!(errors(&diags).is_empty(), "{}", list(&diags));
    assert_eq!(target(&s, "any", "/"), ["default/web:80"], "the port name resolves to Service port 80");
    assert_eq!(endpoints(&s, "default/web:80"), ["192.0.2.7:8081"], "the target port name resolves on the Pod");
}

#[test]
fn slice_port_names_select_the_endpoint_port() {
    let yaml = r#"
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  ports: [{name: http, port: 80, targetPort: http}, {name: admin, port: 81, targetPort: admin}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-1, namespace: default, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
ports: [{name: admin, port: 9001}, {name: http, port: 8080}]
endpoints: [{addresses: [192.0.2.9]}]
"#
    .to_owned()
        + &ingress("web", None, &[("Prefix", "/", "web")]);
    let (s, diags) = run(&yaml);
    assert!(errors(&diags).is_empty(), "{}", list(&diags));
    assert_eq!(endpoints(&s, "default/web:80"), ["192.0.2.9:8080"]);
}

#[test]
fn unready_endpoints_get_no_traffic_and_terminating_ones_are_marked() {
    let yaml = r#"
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-1, namespace: default, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
ports: [{port: 8080}]
endpoints:
- {addresses: [192.0.2.1], conditions: {ready: true}}
- {addresses: [192.0.2.2], conditions: {ready: false}}
- {addresses: [192.0.2.3], conditions: {ready: false, serving: true, terminating: true}}
- {addresses: [192.0.2.4], conditions: {ready: false, serving: false, terminating: true}}
- {addresses: [192.0.2.5]}
"#
    .to_owned()
        + &ingress("web", None, &[("Prefix", "/", "web")]);
    let (s, diags) = run(&yaml);
    assert!(errors(&diags).is_empty(), "{}", list(&diags));
    let c = s.cluster("default/web:80").unwrap();
    let got: Vec<(String, bool)> = c.endpoints.iter().map(|e| (e.address.to_string(), e.terminating)).collect();
    assert_eq!(
        got,
        [("192.0.2.1:8080".into(), false), ("192.0.2.3:8080".into(), true), ("192.0.2.5:8080".into(), false)],
        "not-ready endpoints are left out; an unset ready condition counts as ready"
    );
}

#[test]
fn v1_endpoints_are_used_when_a_service_has_no_slices() {
    let yaml = r#"
apiVersion: v1
kind: Service
metadata: {name: legacy, namespace: default}
spec:
  ports: [{name: web, port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Endpoints
metadata: {name: legacy, namespace: default}
subsets:
- addresses: [{ip: 192.0.2.30}, {ip: 192.0.2.31}]
  notReadyAddresses: [{ip: 192.0.2.32}]
  ports: [{name: web, port: 8080}]
"#
    .to_owned()
        + &ingress("legacy", None, &[("Prefix", "/", "legacy")]);
    let (s, diags) = run(&yaml);
    assert!(errors(&diags).is_empty(), "{}", list(&diags));
    assert_eq!(endpoints(&s, "default/legacy:80"), ["192.0.2.30:8080", "192.0.2.31:8080"]);

    // Once a slice exists for the Service, it is the source of truth.
    let with_slice = yaml
        + r#"
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: legacy-x, namespace: default, labels: {kubernetes.io/service-name: legacy}}
addressType: IPv4
ports: [{name: web, port: 8080}]
endpoints: [{addresses: [192.0.2.40]}]
"#;
    let (s, _) = run(&with_slice);
    assert_eq!(endpoints(&s, "default/legacy:80"), ["192.0.2.40:8080"]);
}

#[test]
fn ingress_class_filtering() {
    let yaml = services()
        + r#"
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: by-field, namespace: default}
spec:
  ingressClassName: sluice
  rules: [{host: field.com, http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: svc0, port: {number: 80}}}}]}}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: by-annotation
  namespace: default
  annotations: {kubernetes.io/ingress.class: sluice}
spec:
  rules: [{host: annotation.com, http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: svc0, port: {number: 80}}}}]}}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: nginx-one, namespace: default}
spec:
  ingressClassName: nginx
  rules: [{host: nginx.com, http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: svc0, port: {number: 80}}}}]}}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: classless, namespace: default}
spec:
  rules: [{host: classless.com, http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: svc0, port: {number: 80}}}}]}}]
"#;
    let (s, diags) = run(&yaml);
    assert_eq!(target(&s, "field.com", "/"), ["default/svc0:80"]);
    assert_eq!(target(&s, "annotation.com", "/"), ["default/svc0:80"]);
    assert_eq!(target(&s, "nginx.com", "/"), ["404"]);
    assert_eq!(target(&s, "classless.com", "/"), ["404"]);
    find(&diags, Severity::Info, "Ingress/default/nginx-one", "spec.ingressClassName");
    find(&diags, Severity::Info, "Ingress/default/classless", "spec.ingressClassName");

    // Another instance with --ingress-class nginx serves the other one.
    let options = sluice_config::Options { ingress_class: "nginx".into(), ..Default::default() };
    let (s, _) = run_with(&yaml, &options);
    assert_eq!(target(&s, "nginx.com", "/"), ["default/svc0:80"]);
    assert_eq!(target(&s, "field.com", "/"), ["404"]);

    // An IngressClass marked default takes the class-less Ingresses.
    let default_class = yaml
        + r#"
---
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata:
  name: sluice
  annotations: {ingressclass.kubernetes.io/is-default-class: "true"}
spec: {controller: sluice.dev/ingress-controller}
"#;
    let (s, _) = run(&default_class);
    assert_eq!(target(&s, "classless.com", "/"), ["default/svc0:80"]);
    assert_eq!(target(&s, "nginx.com", "/"), ["404"]);
}

#[test]
fn tls_hosts_take_their_certificate_or_fall_back_to_the_default() {
    let (cert, key) = self_signed(&["secure.com", "*.wild.com"]);
    let yaml = services()
        + &format!(
            r#"
---
apiVersion: v1
kind: Secret
metadata: {{name: good, namespace: default}}
type: kubernetes.io/tls
stringData:
  tls.crt: {cert:?}
  tls.key: {key:?}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {{name: tls, namespace: default}}
spec:
  ingressClassName: sluice
  tls:
  - {{hosts: [secure.com, "*.wild.com"], secretName: good}}
  - {{hosts: [broken.com], secretName: missing}}
  rules:
  - {{host: secure.com, http: {{paths: [{{path: /, pathType: Prefix, backend: {{service: {{name: svc0, port: {{number: 80}}}}}}}}]}}}}
  - {{host: a.wild.com, http: {{paths: [{{path: /, pathType: Prefix, backend: {{service: {{name: svc0, port: {{number: 80}}}}}}}}]}}}}
  - {{host: broken.com, http: {{paths: [{{path: /, pathType: Prefix, backend: {{service: {{name: svc0, port: {{number: 80}}}}}}}}]}}}}
  - {{host: plain.com, http: {{paths: [{{path: /, pathType: Prefix, backend: {{service: {{name: svc0, port: {{number: 80}}}}}}}}]}}}}
"#
        );
    let (s, diags) = run(&yaml);
    let rc = s.route_config("ingress").unwrap();
    let tls = |h: &str| rc.virtual_host_for(h).unwrap().tls.clone().map(|t| t.certificate);
    assert_eq!(tls("secure.com"), Some(Some("default/good".into())));
    assert_eq!(tls("a.wild.com"), Some(Some("default/good".into())), "a wildcard TLS host covers the rule host");
    assert_eq!(tls("broken.com"), Some(None), "a TLS host with a missing Secret uses the default certificate");
    assert_eq!(tls("plain.com"), None);
    let cert = s.certificate("default/good").unwrap();
    assert_eq!(cert.dns_names, ["secure.com", "*.wild.com"]);
    find(&diags, Severity::Error, "Ingress/default/tls", "spec.tls[1].secretName");
    assert_eq!(target(&s, "broken.com", "/"), ["default/svc0:80"], "routing of the host is not affected");
}

pub fn self_signed(names: &[&str]) -> (String, String) {
    let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    let c = rcgen::generate_simple_self_signed(names).unwrap();
    (c.cert.pem(), c.signing_key.serialize_pem())
}
