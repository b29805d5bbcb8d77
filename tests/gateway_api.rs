//! The Gateway API conformance cases, reproduced against the real binary in
//! manifest mode. Each case is upstream's (`conformance/tests/*.yaml` of
//! kubernetes-sigs/gateway-api, on the base of
//! `conformance/base/manifests.yaml`) with the request/response pairs its
//! Go test expects. What differs is only where things run: each base
//! backend is an echo process on loopback behind its Service and
//! EndpointSlice, and each Gateway gets a loopback address of its own
//! (`spec.addresses`, as a cluster gives each Gateway its own) with its
//! listener ports moved to free ones.

mod common;
use common::*;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

const INFRA: &str = "gateway-conformance-infra";
const APP: &str = "gateway-conformance-app-backend";
const WEB: &str = "gateway-conformance-web-backend";

/// The base backends: Service name and namespace.
const BACKENDS: &[(&str, &str)] = &[
    ("infra-backend-v1", INFRA),
    ("infra-backend-v2", INFRA),
    ("infra-backend-v3", INFRA),
    ("app-backend-v1", APP),
    ("app-backend-v2", APP),
    ("web-backend", WEB),
];

/// The base GatewayClass and Gateways, as upstream has them (the HTTPS one
/// joins when a case needs its certificate).
const BASE_GATEWAYS: &str = r#"
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata:
  name: "{GATEWAY_CLASS_NAME}"
spec:
  controllerName: sluice.io/gateway-controller
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: same-namespace
  namespace: gateway-conformance-infra
spec:
  gatewayClassName: "{GATEWAY_CLASS_NAME}"
  listeners:
    - name: http
      port: 80
      protocol: HTTP
      allowedRoutes:
        namespaces:
          from: Same
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: all-namespaces
  namespace: gateway-conformance-infra
spec:
  gatewayClassName: "{GATEWAY_CLASS_NAME}"
  listeners:
    - name: http
      port: 80
      protocol: HTTP
      allowedRoutes:
        namespaces:
          from: All
"#;

/// The base, the echo backends and Sluice serving them with a case's manifests.
struct Conformance {
    sluice: Sluice,
    _backends: Vec<Proc>,
    /// Gateway name -> its loopback address.
    addresses: HashMap<String, IpAddr>,
    /// A listener port as the manifests say it -> the port it was moved to.
    ports: HashMap<i64, u16>,
}

impl Conformance {
    fn start(case: &str) -> Conformance {
        let mut backends = Vec::new();
        let mut manifests = String::new();
        for (name, ns) in BACKENDS {
            let port = free_port(&["127.0.0.1"]);
            backends.push(echo(name, &[SocketAddr::from(([127, 0, 0, 1], port))], None));
            manifests.push_str(&format!(
                "---\napiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: {ns}}}\nspec:\n  ports:\n  - {{name: first-port, protocol: TCP, port: 8080, targetPort: {port}}}\n---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {{name: {name}-x, namespace: {ns}, labels: {{kubernetes.io/service-name: {name}}}}}\naddressType: IPv4\nports: [{{name: first-port, port: {port}}}]\nendpoints:\n- addresses: [\"127.0.0.1\"]\n  conditions: {{ready: true}}\n"
            ));
        }
        let text = format!("{BASE_GATEWAYS}\n---\n{case}").replace("{GATEWAY_CLASS_NAME}", "sluice");
        let mut docs: Vec<serde_json::Value> = serde_saphyr::from_multiple(&text).expect("case manifests parse");
        let (mut addresses, mut ports) = (HashMap::new(), HashMap::new());
        for doc in docs.iter_mut().filter(|d| d["kind"] == "Gateway") {
            let name = doc["metadata"]["name"].as_str().unwrap().to_owned();
            let ip: IpAddr = format!("127.0.0.{}", 10 + addresses.len()).parse().unwrap();
            doc["spec"]["addresses"] = serde_json::json!([{"type": "IPAddress", "value": ip.to_string()}]);
            addresses.insert(name, ip);
        }
        let ips: Vec<String> = addresses.values().map(|ip| ip.to_string()).collect();
        let ips: Vec<&str> = ips.iter().map(String::as_str).collect();
        for doc in docs.iter_mut().filter(|d| d["kind"] == "Gateway") {
            for l in doc["spec"]["listeners"].as_array_mut().into_iter().flatten() {
                let port = l["port"].as_i64().unwrap();
                let moved = *ports.entry(port).or_insert_with(|| free_port(&ips));
                l["port"] = moved.into();
            }
        }
        for doc in docs.iter().filter(|d| !d.is_null()) {
            manifests.push_str("---\n");
            manifests.push_str(&serde_json::to_string(doc).unwrap());
            manifests.push('\n');
        }
        let sluice = Sluice::start(&[("conformance.yaml", &manifests)], &[]);
        Conformance { sluice, _backends: backends, addresses, ports }
    }

    /// The address of Gateway `gateway`'s listener on (manifest) port `port`.
    fn addr(&self, gateway: &str, port: i64) -> SocketAddr {
        SocketAddr::new(self.addresses[gateway], self.ports[&port])
    }

    /// Sends each request to Gateway `gateway` on port 80 until the answers
    /// are as expected (the Snapshot with the Gateway's listeners may still
    /// be on its way), for at most 10 s.
    async fn expect(&self, gateway: &str, cases: &[Expect]) {
        self.expect_at(self.addr(gateway, 80), cases).await
    }

    async fn expect_at(&self, to: SocketAddr, cases: &[Expect]) {
        let c = client();
        for case in cases {
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                let got = send(&c, to, case.method, case.host, case.path, &case.headers, vec![]).await;
                let problem = match &got {
                    Err(e) => Some(e.clone()),
                    Ok(reply) => case.problem(reply),
                };
                let Some(problem) = problem else { break };
                if Instant::now() > deadline {
                    let check = get(&c, self.sluice.admin, "admin", "/debug/snapshot").await;
                    panic!(
                        "{} {}{} (headers {:?}): {problem}\ndiagnostics: {}\nlog:\n{}",
                        case.method,
                        case.host,
                        case.path,
                        case.headers,
                        check.json()["diagnostics"],
                        self.sluice.log()
                    );
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

/// A request and what its answer must be: upstream's `ExpectedResponse`.
struct Expect {
    method: &'static str,
    host: &'static str,
    path: &'static str,
    headers: Vec<(&'static str, &'static str)>,
    status: u16,
    backend: Option<&'static str>,
}

/// A GET of `path` (Host `example.com`, as upstream's default) answered by
/// `backend`.
fn to(path: &'static str, backend: &'static str) -> Expect {
    Expect { method: "GET", host: "example.com", path, headers: Vec::new(), status: 200, backend: Some(backend) }
}

/// A GET of `path` answered by Sluice itself with `status`.
fn refused(path: &'static str, status: u16) -> Expect {
    Expect { method: "GET", host: "example.com", path, headers: Vec::new(), status, backend: None }
}

impl Expect {
    fn with(mut self, name: &'static str, value: &'static str) -> Self {
        self.headers.push((name, value));
        self
    }

    fn method(mut self, method: &'static str) -> Self {
        self.method = method;
        self
    }

    fn host(mut self, host: &'static str) -> Self {
        self.host = host;
        self
    }

    /// What is wrong with `reply`, if anything.
    fn problem(&self, reply: &Reply) -> Option<String> {
        if reply.status != self.status {
            return Some(format!("status {} (backend '{}'), want {}", reply.status, reply.backend, self.status));
        }
        match self.backend {
            Some(b) if reply.backend != b => Some(format!("answered by '{}', want {b}", reply.backend)),
            None if !reply.backend.is_empty() => Some(format!("answered by backend '{}', want Sluice", reply.backend)),
            _ => None,
        }
    }
}

/// HTTPRouteExactPathMatching.
#[tokio::test(flavor = "multi_thread")]
async fn exact_path_matching() {
    let c = Conformance::start(
        r#"
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: exact-matching
  namespace: gateway-conformance-infra
spec:
  parentRefs:
  - name: same-namespace
  rules:
  - matches:
    - path:
        type: Exact
        value: /one
    backendRefs:
    - name: infra-backend-v1
      port: 8080
  - matches:
    - path:
        type: Exact
        value: /two
    backendRefs:
    - name: infra-backend-v2
      port: 8080
"#,
    );
    c.expect(
        "same-namespace",
        &[
            to("/one", "infra-backend-v1"),
            to("/two", "infra-backend-v2"),
            refused("/", 404),
            refused("/one/example", 404),
            refused("/two/", 404),
            refused("/Two", 404),
        ],
    )
    .await;
}

/// HTTPRouteMatching: path and header matches of one route.
#[tokio::test(flavor = "multi_thread")]
async fn matching() {
    let c = Conformance::start(
        r#"
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: matching
  namespace: gateway-conformance-infra
spec:
  parentRefs:
  - name: same-namespace
  rules:
  - matches:
    - path:
        type: PathPrefix
        value: /
    - headers:
      - name: version
        value: one
    backendRefs:
    - name: infra-backend-v1
      port: 8080
  - matches:
    - path:
        type: PathPrefix
        value: /v2
    - headers:
      - name: version
        value: two
    backendRefs:
    - name: infra-backend-v2
      port: 8080
"#,
    );
    let (v1, v2) = ("infra-backend-v1", "infra-backend-v2");
    c.expect(
        "same-namespace",
        &[
            to("/", v1),
            to("/example", v1),
            to("/", v1).with("Version", "one"),
            to("/v2", v2),
            to("/v2/example", v2),
            to("/", v2).with("Version", "two"),
            to("/v2/", v2),
            to("/v2example", v1),
            to("/foo/v2/example", v1),
        ],
    )
    .await;
}

/// HTTPRouteHeaderMatching.
#[tokio::test(flavor = "multi_thread")]
async fn header_matching() {
    let c = Conformance::start(
        r#"
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: header-matching
  namespace: gateway-conformance-infra
spec:
  parentRefs:
  - name: same-namespace
  rules:
  - matches:
    - headers:
      - name: version
        value: one
    backendRefs:
    - name: infra-backend-v1
      port: 8080
  - matches:
    - headers:
      - name: version
        value: two
    backendRefs:
    - name: infra-backend-v2
      port: 8080
  - matches:
    - headers:
      - name: version
        value: two
      - name: color
        value: orange
    backendRefs:
    - name: infra-backend-v1
      port: 8080
  - matches:
    - headers:
      - name: color
        value: blue
    - headers:
      - name: color
        value: green
    backendRefs:
    - name: infra-backend-v1
      port: 8080
  - matches:
    - headers:
      - name: color
        value: red
    - headers:
      - name: color
        value: yellow
    backendRefs:
    - name: infra-backend-v2
      port: 8080
"#,
    );
    let (v1, v2) = ("infra-backend-v1", "infra-backend-v2");
    c.expect(
        "same-namespace",
        &[
            to("/", v1).with("Version", "one"),
            to("/", v2).with("Version", "two"),
            to("/", v1).with("Version", "two").with("Color", "orange"),
            to("/", v2).with("Version", "two").with("Color", "blue"),
            refused("/", 404).with("Color", "orange"),
            refused("/", 404).with("Some-Other-Header", "one"),
            to("/", v1).with("Color", "blue"),
            to("/", v1).with("Color", "green"),
            to("/", v2).with("Color", "red"),
            to("/", v2).with("Color", "yellow"),
            refused("/", 404).with("Color", "purple"),
        ],
    )
    .await;
}

/// HTTPRouteMethodMatching (extended): methods alone, with paths and
/// headers, and their precedence.
#[tokio::test(flavor = "multi_thread")]
async fn method_matching() {
    let c = Conformance::start(
        r#"
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: method-matching
  namespace: gateway-conformance-infra
spec:
  parentRefs:
  - name: same-namespace
  rules:
  - matches:
    - method: POST
    backendRefs:
    - name: infra-backend-v1
      port: 8080
  - matches:
    - method: GET
    backendRefs:
    - name: infra-backend-v2
      port: 8080
  - matches:
    - path:
        type: PathPrefix
        value: /path1
      method: GET
    backendRefs:
    - name: infra-backend-v1
      port: 8080
  - matches:
    - headers:
      - name: version
        value: one
      method: PUT
    backendRefs:
    - name: infra-backend-v2
      port: 8080
  - matches:
    - path:
        type: PathPrefix
        value: /path2
      headers:
      - name: version
        value: two
      method: POST
    backendRefs:
    - name: infra-backend-v3
      port: 8080
  - matches:
    - path:
        type: PathPrefix
        value: /path3
      method: PATCH
    - path:
        type: PathPrefix
        value: /path4
      headers:
      - name: version
        value: three
      method: DELETE
    backendRefs:
    - name: infra-backend-v1
      port: 8080
  - matches:
    - path:
        type: PathPrefix
        value: /path5
    backendRefs:
    - name: infra-backend-v1
      port: 8080
  - matches:
    - method: PATCH
    backendRefs:
    - name: infra-backend-v2
      port: 8080
  - matches:
    - headers:
      - name: version
        value: four
    backendRefs:
    - name: infra-backend-v3
      port: 8080
"#,
    );
    let (v1, v2, v3) = ("infra-backend-v1", "infra-backend-v2", "infra-backend-v3");
    c.expect(
        "same-namespace",
        &[
            to("/", v1).method("POST"),
            to("/", v2),
            refused("/", 404).method("HEAD"),
            to("/path1", v1),
            to("/", v2).method("PUT").with("version", "one"),
            to("/path2", v3).method("POST").with("version", "two"),
            to("/path3", v1).method("PATCH"),
            to("/path4", v1).method("DELETE").with("version", "three"),
            refused("/", 404).method("PUT"),
            refused("/path4", 404).method("DELETE"),
            to("/path5", v1).method("PATCH"),
            to("/", v2).method("PATCH").with("version", "four"),
        ],
    )
    .await;
}

/// HTTPRouteQueryParamMatching (extended).
#[tokio::test(flavor = "multi_thread")]
async fn query_param_matching() {
    let c = Conformance::start(
        r#"
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: query-param-matching
  namespace: gateway-conformance-infra
spec:
  parentRefs:
  - name: same-namespace
  rules:
  - matches:
    - queryParams:
      - name: animal
        value: whale
    backendRefs:
    - name: infra-backend-v1
      port: 8080
  - matches:
    - queryParams:
      - name: animal
        value: dolphin
    backendRefs:
    - name: infra-backend-v2
      port: 8080
  - matches:
    - queryParams:
      - name: animal
        value: dolphin
      - name: color
        value: blue
    - queryParams:
      - name: ANIMAL
        value: Whale
    backendRefs:
    - name: infra-backend-v3
      port: 8080
"#,
    );
    let (v1, v2, v3) = ("infra-backend-v1", "infra-backend-v2", "infra-backend-v3");
    c.expect(
        "same-namespace",
        &[
            to("/?animal=whale", v1),
            to("/?animal=dolphin", v2),
            to("/?animal=dolphin&color=blue", v3),
            to("/?ANIMAL=Whale", v3),
            to("/?animal=whale&otherparam=irrelevant", v1),
            to("/?animal=dolphin&color=yellow", v2),
            refused("/?color=blue", 404),
            refused("/?animal=dog", 404),
            refused("/?animal=whaledolphin", 404),
            refused("/", 404),
        ],
    )
    .await;
}

/// HTTPRouteListenerHostnameMatching: listeners of one port told apart by
/// hostname, `sectionName` parents, wildcards of any depth.
#[tokio::test(flavor = "multi_thread")]
async fn listener_hostname_matching() {
    let c = Conformance::start(
        r#"
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: httproute-listener-hostname-matching
  namespace: gateway-conformance-infra
spec:
  gatewayClassName: "{GATEWAY_CLASS_NAME}"
  listeners:
  - name: listener-1
    port: 80
    protocol: HTTP
    allowedRoutes:
      namespaces:
        from: Same
    hostname: bar.com
  - name: listener-2
    port: 80
    protocol: HTTP
    allowedRoutes:
      namespaces:
        from: Same
    hostname: foo.bar.com
  - name: listener-3
    port: 80
    protocol: HTTP
    allowedRoutes:
      namespaces:
        from: Same
    hostname: "*.bar.com"
  - name: listener-4
    port: 80
    protocol: HTTP
    allowedRoutes:
      namespaces:
        from: Same
    hostname: "*.foo.com"
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: backend-v1
  namespace: gateway-conformance-infra
spec:
  parentRefs:
  - name: httproute-listener-hostname-matching
    namespace: gateway-conformance-infra
    sectionName: listener-1
  rules:
  - backendRefs:
    - name: infra-backend-v1
      port: 8080
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: backend-v2
  namespace: gateway-conformance-infra
spec:
  parentRefs:
  - name: httproute-listener-hostname-matching
    namespace: gateway-conformance-infra
    sectionName: listener-2
  rules:
  - backendRefs:
    - name: infra-backend-v2
      port: 8080
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: backend-v3
  namespace: gateway-conformance-infra
spec:
  parentRefs:
  - name: httproute-listener-hostname-matching
    namespace: gateway-conformance-infra
    sectionName: listener-3
  - name: httproute-listener-hostname-matching
    namespace: gateway-conformance-infra
    sectionName: listener-4
  rules:
  - backendRefs:
    - name: infra-backend-v3
      port: 8080
"#,
    );
    let (v1, v2, v3) = ("infra-backend-v1", "infra-backend-v2", "infra-backend-v3");
    c.expect(
        "httproute-listener-hostname-matching",
        &[
            to("/", v1).host("bar.com"),
            to("/", v2).host("foo.bar.com"),
            to("/", v3).host("baz.bar.com"),
            to("/", v3).host("boo.bar.com"),
            to("/", v3).host("multiple.prefixes.bar.com"),
            to("/", v3).host("multiple.prefixes.foo.com"),
            refused("/", 404).host("foo.com"),
            refused("/", 404).host("no.matching.host"),
        ],
    )
    .await;
}
