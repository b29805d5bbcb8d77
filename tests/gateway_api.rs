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

/// The requests in-process backends saw: (backend, URI), in arrival order.
type Seen = std::sync::Arc<std::sync::Mutex<Vec<(String, String)>>>;

/// The base backends: Service name and namespace.
const BACKENDS: &[(&str, &str)] = &[
    ("infra-backend-v1", INFRA),
    ("infra-backend-v2", INFRA),
    ("infra-backend-v3", INFRA),
    ("app-backend-v1", APP),
    ("app-backend-v2", APP),
    ("web-backend", WEB),
];

/// The base Namespaces, GatewayClass and Gateways, as upstream has them
/// (the HTTPS one joins when a case needs its certificate).
const BASE_GATEWAYS: &str = r#"
apiVersion: v1
kind: Namespace
metadata:
  name: gateway-conformance-infra
  labels:
    gateway-conformance: infra
---
apiVersion: v1
kind: Namespace
metadata:
  name: gateway-conformance-app-backend
  labels:
    gateway-conformance: backend
---
apiVersion: v1
kind: Namespace
metadata:
  name: gateway-conformance-web-backend
  labels:
    gateway-conformance: backend
---
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
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: backend-namespaces
  namespace: gateway-conformance-infra
spec:
  gatewayClassName: "{GATEWAY_CLASS_NAME}"
  listeners:
    - name: http
      port: 80
      protocol: HTTP
      allowedRoutes:
        namespaces:
          from: Selector
          selector:
            matchLabels:
              gateway-conformance: backend
"#;

/// The base, the echo backends and Sluice serving them with a case's manifests.
struct Conformance {
    sluice: Sluice,
    _backends: Vec<Proc>,
    /// What the backends served in this process saw: (backend, URI).
    seen: Seen,
    /// Gateway name -> its loopback address.
    addresses: HashMap<String, IpAddr>,
    /// A listener port as the manifests say it -> the port it was moved to.
    ports: HashMap<i64, u16>,
}

impl Conformance {
    fn start(case: &str) -> Conformance {
        Self::start_with(case, &[])
    }

    /// As `start`, with the base backends `in_process` served by this
    /// process as upstream's echo-basic serves them (see `echo_basic`),
    /// each request they get recorded as echo-basic logs it.
    fn start_with(case: &str, in_process: &[&'static str]) -> Conformance {
        let seen = Seen::default();
        let mut backends = Vec::new();
        let mut manifests = String::new();
        for (name, ns) in BACKENDS {
            let port = free_port(&["127.0.0.1"]);
            let at = SocketAddr::from(([127, 0, 0, 1], port));
            if in_process.contains(name) {
                let listener = std::net::TcpListener::bind(at).unwrap();
                listener.set_nonblocking(true).unwrap();
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                tokio::spawn(self::echo_basic(listener, name, seen.clone()));
            } else {
                backends.push(echo(name, &[at], None));
            }
            manifests.push_str(&format!(
                "---\napiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: {ns}}}\nspec:\n  ports:\n  - {{name: first-port, protocol: TCP, port: 8080, targetPort: {port}}}\n  - {{name: second-port, protocol: TCP, appProtocol: kubernetes.io/h2c, port: 8081, targetPort: {port}}}\n  - {{name: third-port, protocol: TCP, appProtocol: kubernetes.io/ws, port: 8082, targetPort: {port}}}\n---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {{name: {name}-x, namespace: {ns}, labels: {{kubernetes.io/service-name: {name}}}}}\naddressType: IPv4\nports: [{{name: first-port, port: {port}}}, {{name: second-port, port: {port}}}, {{name: third-port, port: {port}}}]\nendpoints:\n- addresses: [\"127.0.0.1\"]\n  conditions: {{ready: true}}\n"
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
        // A ListenerSet's listeners are served on its Gateway's address.
        for doc in docs.iter_mut().filter(|d| d["kind"] == "Gateway" || d["kind"] == "ListenerSet") {
            for l in doc["spec"]["listeners"].as_array_mut().into_iter().flatten() {
                let port = l["port"].as_i64().unwrap();
                let moved = *ports.entry(port).or_insert_with(|| free_port(&ips));
                l["port"] = moved.into();
            }
        }
        // A parentRef's port names a listener's port as the manifests say it,
        // so it moves with the listener; one no listener has stays as it is.
        for doc in docs.iter_mut().filter(|d| d["kind"] == "HTTPRoute") {
            for parent in doc["spec"]["parentRefs"].as_array_mut().into_iter().flatten() {
                if let Some(moved) = parent["port"].as_i64().and_then(|p| ports.get(&p)) {
                    parent["port"] = (*moved).into();
                }
            }
        }
        for doc in docs.iter().filter(|d| !d.is_null()) {
            manifests.push_str("---\n");
            manifests.push_str(&serde_json::to_string(doc).unwrap());
            manifests.push('\n');
        }
        let sluice = Sluice::start(&[("conformance.yaml", &manifests)], &[]);
        Conformance { sluice, _backends: backends, seen, addresses, ports }
    }

    /// How many requests for `path` backend `name` saw.
    fn seen_by(&self, name: &str, path: &str) -> usize {
        let seen = self.seen.lock().unwrap();
        seen.iter().filter(|(b, uri)| b == name && uri == path).count()
    }

    /// The address of Gateway `gateway`'s listener on (manifest) port `port`.
    fn addr(&self, gateway: &str, port: i64) -> SocketAddr {
        SocketAddr::new(self.addresses[gateway], self.ports[&port])
    }

    /// Deletes object `namespace/name` of `kind` from the manifests, as
    /// upstream's test deletes it from the cluster.
    fn delete(&self, kind: &str, namespace: &str, name: &str) {
        let text = std::fs::read_to_string(self.sluice.path().join("conformance.yaml")).unwrap();
        let docs: Vec<serde_json::Value> = serde_saphyr::from_multiple(&text).unwrap();
        let kept: String = docs
            .iter()
            .filter(|d| !d.is_null())
            .filter(|d| {
                !(d["kind"] == kind && d["metadata"]["namespace"] == namespace && d["metadata"]["name"] == name)
            })
            .map(|d| format!("---\n{d}\n"))
            .collect();
        write(&self.sluice.path(), "conformance.yaml", &kept);
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
            // As upstream's suite asks echo-basic to set response headers.
            let set: Vec<String> = case.backend_sets.iter().map(|(name, value)| format!("{name}:{value}")).collect();
            let set = set.join(",");
            let mut headers: Vec<(&str, &str)> = case.headers.clone();
            if !set.is_empty() {
                headers.push(("X-Echo-Set-Header", &set));
            }
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                let got = send(&c, to, case.method, case.host, case.path, &headers, vec![]).await;
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
                        headers,
                        check.json()["diagnostics"],
                        self.sluice.log()
                    );
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

/// Serves `listener` as the echo backend `name` would, and also sets on each
/// response the `name:value` pairs its request lists in `X-Echo-Set-Header`,
/// as upstream's echo-basic does: the response header cases modify headers
/// the backend sent, and Sluice's echo backend sets none on request.
async fn echo_basic(listener: tokio::net::TcpListener, name: &'static str, seen: Seen) {
    use http_body_util::{BodyExt, Full};
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        let seen = seen.clone();
        let svc = hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
            seen.lock().unwrap().push((name.to_owned(), req.uri().to_string()));
            async move {
                let mut headers = serde_json::Map::new();
                for (k, v) in req.headers() {
                    let values = headers.entry(k.as_str()).or_insert_with(|| serde_json::json!([]));
                    values.as_array_mut().unwrap().push(String::from_utf8_lossy(v.as_bytes()).into());
                }
                let echo = serde_json::json!({
                    "backend": name, "method": req.method().as_str(), "uri": req.uri().to_string(), "headers": headers,
                });
                let set = req.headers().get("x-echo-set-header").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
                let _ = req.into_body().collect().await;
                let mut resp = http::Response::new(Full::new(bytes::Bytes::from(echo.to_string())));
                resp.headers_mut().insert("x-backend", http::HeaderValue::from_static(name));
                for (k, v) in set.split(',').filter_map(|pair| pair.split_once(':')) {
                    resp.headers_mut().insert(
                        http::HeaderName::try_from(k.trim()).unwrap(),
                        http::HeaderValue::try_from(v.trim()).unwrap(),
                    );
                }
                Ok::<_, std::convert::Infallible>(resp)
            }
        });
        tokio::spawn(async move {
            let io = hyper_util::rt::TokioIo::new(stream);
            let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, svc).await;
        });
    }
}

/// A request and what its answer must be: upstream's `ExpectedResponse`.
/// Where an answer is a backend's, the request it saw must be the one sent
/// (path, method, headers) but for what the `seen_*`, `seen` and `unseen`
/// say, as upstream's `ExpectedRequest` (it defaults to the request).
struct Expect {
    method: &'static str,
    host: &'static str,
    path: &'static str,
    headers: Vec<(&'static str, &'static str)>,
    status: u16,
    backend: Option<&'static str>,
    /// The path (and query) the backend must see instead of `path`.
    seen_path: Option<&'static str>,
    /// The Host the backend must see.
    seen_host: Option<&'static str>,
    /// Request headers the backend must see with these values (several
    /// joined by ","), over the ones sent.
    seen_headers: Vec<(&'static str, &'static str)>,
    /// Request headers the backend must not see.
    unseen: Vec<&'static str>,
    /// Response headers the backend is asked to set (`X-Echo-Set-Header`).
    backend_sets: Vec<(&'static str, &'static str)>,
    /// Response headers the answer must have (several values joined by ",").
    answer_headers: Vec<(&'static str, &'static str)>,
    /// Response headers the answer must not have.
    answer_lacks: Vec<&'static str>,
    /// Where a redirect must point.
    location: Option<String>,
}

/// A GET of `path` (Host `example.com`) answered with `status` by `backend`,
/// or by Sluice itself when `None`.
fn request(path: &'static str, status: u16, backend: Option<&'static str>) -> Expect {
    Expect {
        method: "GET",
        host: "example.com",
        path,
        headers: Vec::new(),
        status,
        backend,
        seen_path: None,
        seen_host: None,
        seen_headers: Vec::new(),
        unseen: Vec::new(),
        backend_sets: Vec::new(),
        answer_headers: Vec::new(),
        answer_lacks: Vec::new(),
        location: None,
    }
}

/// A GET of `path` answered by `backend`.
fn to(path: &'static str, backend: &'static str) -> Expect {
    request(path, 200, Some(backend))
}

/// A GET of `path` answered by Sluice itself with `status`.
fn refused(path: &'static str, status: u16) -> Expect {
    request(path, status, None)
}

/// A GET of `path` that Sluice redirects with `status` to `location`.
fn redirect(path: &'static str, status: u16, location: String) -> Expect {
    Expect { location: Some(location), ..request(path, status, None) }
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

    fn seen_path(mut self, path: &'static str) -> Self {
        self.seen_path = Some(path);
        self
    }

    fn seen_host(mut self, host: &'static str) -> Self {
        self.seen_host = Some(host);
        self
    }

    fn seen(mut self, name: &'static str, value: &'static str) -> Self {
        self.seen_headers.push((name, value));
        self
    }

    fn unseen(mut self, name: &'static str) -> Self {
        self.unseen.push(name);
        self
    }

    fn backend_sets(mut self, name: &'static str, value: &'static str) -> Self {
        self.backend_sets.push((name, value));
        self
    }

    fn answer_has(mut self, name: &'static str, value: &'static str) -> Self {
        self.answer_headers.push((name, value));
        self
    }

    fn answer_lacks(mut self, name: &'static str) -> Self {
        self.answer_lacks.push(name);
        self
    }

    /// What is wrong with `reply`, if anything.
    fn problem(&self, reply: &Reply) -> Option<String> {
        if reply.status != self.status {
            return Some(format!("status {} (backend '{}'), want {}", reply.status, reply.backend, self.status));
        }
        match self.backend {
            Some(b) if reply.backend != b => return Some(format!("answered by '{}', want {b}", reply.backend)),
            Some(_) => {
                if let Some(problem) = self.seen_problem(reply) {
                    return Some(problem);
                }
            }
            None if !reply.backend.is_empty() => {
                return Some(format!("answered by backend '{}', want Sluice", reply.backend));
            }
            None => {}
        }
        if let Some(want) = &self.location
            && target(reply.header("location")) != target(want)
        {
            return Some(format!("redirected to '{}', want {want}", reply.header("location")));
        }
        for (name, want) in &self.answer_headers {
            let got: Vec<&str> = reply.headers.get_all(*name).iter().filter_map(|v| v.to_str().ok()).collect();
            if got.join(",") != *want {
                return Some(format!("answered {name}: {got:?}, want {want}"));
            }
        }
        let lacks = self.answer_lacks.iter().find(|name| reply.headers.contains_key(**name));
        lacks.map(|name| format!("answered {name}: {:?}, want none", reply.header(name)))
    }

    /// What is wrong with the request the backend saw (echoed in `reply`).
    fn seen_problem(&self, reply: &Reply) -> Option<String> {
        let echo = reply.json();
        let seen = |name: &str| -> Option<String> {
            let values = echo["headers"][name.to_ascii_lowercase()].as_array()?;
            Some(values.iter().filter_map(|v| v.as_str()).collect::<Vec<_>>().join(","))
        };
        let path = self.seen_path.unwrap_or(self.path);
        // Over HTTP/2 the request target carries scheme and authority too.
        let uri = echo["uri"].as_str().and_then(|u| u.parse::<http::Uri>().ok());
        let seen_path = uri.as_ref().and_then(|u| u.path_and_query()).map(|p| p.as_str());
        if seen_path != Some(path) {
            return Some(format!("backend saw {}, want {path}", echo["uri"]));
        }
        if echo["method"] != self.method {
            return Some(format!("backend saw method {}, want {}", echo["method"], self.method));
        }
        if let Some(host) = self.seen_host
            && seen("host").as_deref() != Some(host)
        {
            return Some(format!("backend saw Host {:?}, want {host}", seen("host")));
        }
        let named = |name: &str| {
            self.seen_headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name))
                || self.unseen.iter().any(|n| n.eq_ignore_ascii_case(name))
        };
        let sent = self.headers.iter().filter(|(name, _)| !named(name));
        for (name, want) in sent.chain(&self.seen_headers) {
            if seen(name).as_deref() != Some(*want) {
                return Some(format!("backend saw {name}: {:?}, want {want}", seen(name)));
            }
        }
        if let Some(name) = self.unseen.iter().find(|name| seen(name).is_some()) {
            return Some(format!("backend saw {name}: {:?}, want none", seen(name)));
        }
        None
    }
}

/// A redirect target as upstream compares them: scheme, host, port (a
/// scheme's well-known one may be left out) and path.
fn target(location: &str) -> Option<(String, String, u16, String)> {
    let uri: http::Uri = location.parse().ok()?;
    let scheme = uri.scheme_str()?.to_ascii_lowercase();
    let port = uri.port_u16().or(match scheme.as_str() {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    })?;
    Some((scheme, uri.host()?.to_owned(), port, uri.path().to_owned()))
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

/// HTTPRouteSimpleSameNamespace.
#[tokio::test(flavor = "multi_thread")]
async fn simple_same_namespace() {
    let c = Conformance::start(
        r#"
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: gateway-conformance-infra-test
  namespace: gateway-conformance-infra
spec:
  parentRefs:
  - name: same-namespace
  rules:
  - backendRefs:
    - name: infra-backend-v1
      port: 8080
"#,
    );
    c.expect("same-namespace", &[to("/", "infra-backend-v1")]).await;
}

/// HTTPRouteCrossNamespace: a route in a namespace the listener's selector
/// matches (by the Namespace's labels) attaches; one in a namespace it does
/// not match is not served there. GatewayWithAttachedRoutes' selector on
/// `kubernetes.io/metadata.name`, a label every namespace has, lets its
/// own namespace in.
#[tokio::test(flavor = "multi_thread")]
async fn cross_namespace() {
    let c = Conformance::start(
        r#"
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: cross-namespace
  namespace: gateway-conformance-web-backend
spec:
  parentRefs:
  - name: backend-namespaces
    namespace: gateway-conformance-infra
  rules:
  - backendRefs:
    - name: web-backend
      port: 8080
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: from-infra
  namespace: gateway-conformance-infra
spec:
  parentRefs:
  - name: backend-namespaces
  rules:
  - matches: [{path: {type: PathPrefix, value: /infra}}]
    backendRefs:
    - name: infra-backend-v1
      port: 8080
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: gateway-with-one-attached-route
  namespace: gateway-conformance-infra
spec:
  gatewayClassName: "{GATEWAY_CLASS_NAME}"
  listeners:
  - name: http
    port: 80
    protocol: HTTP
    allowedRoutes:
      kinds:
      - kind: HTTPRoute
      namespaces:
        from: Selector
        selector:
          matchLabels:
            kubernetes.io/metadata.name: gateway-conformance-infra
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: http-route-1
  namespace: gateway-conformance-infra
spec:
  parentRefs:
  - name: gateway-with-one-attached-route
  rules:
  - backendRefs:
    - name: infra-backend-v1
      port: 8080
"#,
    );
    c.expect("backend-namespaces", &[to("/", "web-backend"), to("/infra", "web-backend")]).await;
    c.expect("gateway-with-one-attached-route", &[to("/", "infra-backend-v1")]).await;
}

/// ListenerSetHTTPRouting: a Gateway takes the listeners of two
/// ListenerSets on its port; a route naming the Gateway and both sets
/// serves every listener's hostname, one naming the Gateway only the
/// Gateway's, one naming a listener (sectionName) only that listener's,
/// one naming a set only that set's. A ListenerSet the Gateway's
/// `allowedListeners` does not let in serves nothing.
#[tokio::test(flavor = "multi_thread")]
async fn listener_set_http_routing() {
    let set = |name: &str| {
        format!(
            r#"
---
apiVersion: gateway.networking.k8s.io/v1
kind: ListenerSet
metadata:
  name: {name}
  namespace: gateway-conformance-infra
spec:
  parentRef:
    kind: Gateway
    group: gateway.networking.k8s.io
    name: gateway-with-listener-sets-http-routing
    namespace: gateway-conformance-infra
  listeners:
  - name: {name}-listener-1
    port: 80
    protocol: HTTP
    hostname: "{name}-listener-1.com"
    allowedRoutes:
      namespaces:
        from: All
  - name: {name}-listener-2
    port: 80
    protocol: HTTP
    hostname: "{name}-listener-2.com"
    allowedRoutes:
      namespaces:
        from: All
"#
        )
    };
    let route = |name: &str, path: &str, backend: &str, parents: &str| {
        format!(
            "\n---\napiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {{name: {name}, namespace: gateway-conformance-infra}}\nspec:\n  parentRefs:\n{parents}  rules:\n  - matches: [{{path: {{type: PathPrefix, value: {path}}}}}]\n    backendRefs: [{{name: {backend}, port: 8080}}]\n"
        )
    };
    let gateway = "  - {name: gateway-with-listener-sets-http-routing, namespace: gateway-conformance-infra}\n";
    let of_set = |name: &str| {
        format!(
            "  - {{kind: ListenerSet, group: gateway.networking.k8s.io, name: {name}, namespace: gateway-conformance-infra}}\n"
        )
    };
    let case = r#"
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: gateway-with-listener-sets-http-routing
  namespace: gateway-conformance-infra
spec:
  gatewayClassName: "{GATEWAY_CLASS_NAME}"
  listeners:
  - name: gateway-listener-1
    port: 80
    protocol: HTTP
    hostname: "gateway-listener-1.com"
    allowedRoutes:
      namespaces:
        from: All
  - name: gateway-listener-2
    port: 80
    protocol: HTTP
    hostname: "gateway-listener-2.com"
    allowedRoutes:
      namespaces:
        from: All
  allowedListeners:
    namespaces:
      from: All
---
apiVersion: gateway.networking.k8s.io/v1
kind: ListenerSet
metadata:
  name: listener-set-not-allowed
  namespace: gateway-conformance-infra
spec:
  parentRef: {name: same-namespace}
  listeners:
  - {name: not-allowed, port: 80, protocol: HTTP, hostname: not-allowed.com}
"#
    .to_owned()
        + &set("listener-set-http-routing-1")
        + &set("listener-set-http-routing-2")
        + &route(
            "attaches-to-all-listeners",
            "/route",
            "infra-backend-v1",
            &(gateway.to_owned() + &of_set("listener-set-http-routing-1") + &of_set("listener-set-http-routing-2")),
        )
        + &route("gateway-route", "/gateway-route", "infra-backend-v2", gateway)
        + &route(
            "gateway-section-route",
            "/gateway-section-route",
            "infra-backend-v3",
            "  - {name: gateway-with-listener-sets-http-routing, sectionName: gateway-listener-1}\n",
        )
        + &route("set-route", "/set-route", "infra-backend-v3", &of_set("listener-set-http-routing-1"))
        + &route(
            "not-allowed-route",
            "/",
            "infra-backend-v3",
            "  - {kind: ListenerSet, group: gateway.networking.k8s.io, name: listener-set-not-allowed}\n",
        );
    let c = Conformance::start(&case);
    let gw = "gateway-with-listener-sets-http-routing";
    let mut cases = Vec::new();
    for host in [
        "gateway-listener-1.com",
        "gateway-listener-2.com",
        "listener-set-http-routing-1-listener-1.com",
        "listener-set-http-routing-1-listener-2.com",
        "listener-set-http-routing-2-listener-1.com",
        "listener-set-http-routing-2-listener-2.com",
    ] {
        let on_gateway = host.starts_with("gateway-");
        let on_set_1 = host.starts_with("listener-set-http-routing-1");
        cases.push(to("/route", "infra-backend-v1").host(host));
        cases.push(
            if on_gateway { to("/gateway-route", "infra-backend-v2") } else { refused("/gateway-route", 404) }
                .host(host),
        );
        let section = host == "gateway-listener-1.com";
        cases.push(
            if section {
                to("/gateway-section-route", "infra-backend-v3")
            } else {
                refused("/gateway-section-route", 404)
            }
            .host(host),
        );
        cases.push(if on_set_1 { to("/set-route", "infra-backend-v3") } else { refused("/set-route", 404) }.host(host));
    }
    c.expect(gw, &cases).await;
    // The same-namespace Gateway lets no ListenerSet in: its name is not served there.
    c.expect("same-namespace", &[refused("/", 404).host("not-allowed.com")]).await;
    let out = std::process::Command::new(BIN).arg("check").arg(c.sluice.path()).output().unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let statuses = report["snapshot"]["gatewayStatus"].as_array().cloned().unwrap_or_default();
    let status = |kind: &str, name: &str| {
        statuses
            .iter()
            .find(|e| e["object"]["kind"] == kind && e["object"]["name"] == name)
            .cloned()
            .unwrap_or_default()
    };
    assert_eq!(status("Gateway", gw)["attachedListenerSets"], 2);
    let accepted = |s: &serde_json::Value| {
        s["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == "Accepted")
            .map(|c| (c["status"].clone(), c["reason"].clone()))
    };
    let set = status("ListenerSet", "listener-set-http-routing-1");
    assert_eq!(accepted(&set), Some((true.into(), "Accepted".into())));
    let first = set["listeners"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["name"] == "listener-set-http-routing-1-listener-1")
        .unwrap()
        .clone();
    assert_eq!(first["attachedRoutes"], 2, "attaches-to-all-listeners and set-route");
    assert_eq!(accepted(&status("ListenerSet", "listener-set-not-allowed")), Some((false.into(), "NotAllowed".into())));
}

/// HTTPRoutePathMatchOrder: Exact before PathPrefix, longer prefixes first.
#[tokio::test(flavor = "multi_thread")]
async fn path_match_order() {
    let c = Conformance::start(
        r#"
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: path-matching-order
  namespace: gateway-conformance-infra
spec:
  parentRefs:
  - name: same-namespace
  rules:
  - matches:
    - path:
        type: Exact
        value: /match
    backendRefs:
    - name: infra-backend-v1
      port: 8080
  - matches:
    - path:
        type: Exact
        value: /match/exact
    backendRefs:
    - name: infra-backend-v2
      port: 8080
  - matches:
    - path:
        type: Exact
        value: /match/exact/one
    backendRefs:
    - name: infra-backend-v3
      port: 8080
  - matches:
    - path:
        type: PathPrefix
        value: /match/
    backendRefs:
    - name: infra-backend-v3
      port: 8080
  - matches:
    - path:
        type: PathPrefix
        value: /match/prefix/
    backendRefs:
    - name: infra-backend-v1
      port: 8080
  - matches:
    - path:
        type: PathPrefix
        value: /match/prefix/one
    backendRefs:
    - name: infra-backend-v2
      port: 8080
"#,
    );
    let (v1, v2, v3) = ("infra-backend-v1", "infra-backend-v2", "infra-backend-v3");
    c.expect(
        "same-namespace",
        &[
            to("/match/exact/one", v3),
            to("/match/exact", v2),
            to("/match", v1),
            to("/match/prefix/one/any", v2),
            to("/match/prefix/any", v1),
            to("/match/any", v3),
        ],
    )
    .await;
}

/// HTTPRouteMatchingAcrossRoutes: the matches of two routes on one Gateway
/// are ordered together, each within its own hostnames.
#[tokio::test(flavor = "multi_thread")]
async fn matching_across_routes() {
    let c = Conformance::start(
        r#"
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: matching-part1
  namespace: gateway-conformance-infra
spec:
  parentRefs:
  - name: same-namespace
  hostnames:
  - example.com
  - example.net
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
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: matching-part2
  namespace: gateway-conformance-infra
spec:
  hostnames:
  - example.com
  parentRefs:
  - name: same-namespace
  rules:
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
            to("/example", v1).host("example.net"),
            to("/example", v1).with("Version", "one"),
            to("/v2", v2),
            // v2 matches are limited to example.com.
            to("/v2", v1).host("example.net"),
            to("/v2/example", v2),
            to("/", v2).with("Version", "two"),
        ],
    )
    .await;
}

/// HTTPRouteHostnameIntersection: a route attaches to a listener only where
/// their hostnames intersect, and serves only the intersection.
#[tokio::test(flavor = "multi_thread")]
async fn hostname_intersection() {
    let c = Conformance::start(
        r#"
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: httproute-hostname-intersection
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
    hostname: very.specific.com
  - name: listener-2
    port: 80
    protocol: HTTP
    allowedRoutes:
      namespaces:
        from: Same
    hostname: "*.wildcard.io"
  - name: listener-3
    port: 80
    protocol: HTTP
    allowedRoutes:
      namespaces:
        from: Same
    hostname: "*.anotherwildcard.io"
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: httproute-hostname-intersection-all
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
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: specific-host-matches-listener-specific-host
  namespace: gateway-conformance-infra
spec:
  parentRefs:
  - name: httproute-hostname-intersection
    namespace: gateway-conformance-infra
  hostnames:
  - non.matching.com
  - "*.nonmatchingwildcard.io"
  - very.specific.com  #  matches listener-1's specific host
  rules:
  - matches:
    - path:
        type: PathPrefix
        value: /s1
    backendRefs:
    - name: infra-backend-v1
      port: 8080
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: specific-host-matches-listener-wildcard-host
  namespace: gateway-conformance-infra
spec:
  parentRefs:
  - name: httproute-hostname-intersection
    namespace: gateway-conformance-infra
  hostnames:
  - non.matching.com
  - wildcard.io
  - foo.wildcard.io  #  matches listener-2's wildcard host
  - bar.wildcard.io  #  matches listener-2's wildcard host
  - foo.bar.wildcard.io  #  matches listener-2's wildcard host
  rules:
  - matches:
    - path:
        type: PathPrefix
        value: /s2
    backendRefs:
    - name: infra-backend-v2
      port: 8080
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: wildcard-host-matches-listener-specific-host
  namespace: gateway-conformance-infra
spec:
  parentRefs:
  - name: httproute-hostname-intersection
    namespace: gateway-conformance-infra
  hostnames:
  - non.matching.com
  - "*.specific.com"  # matches listener-1's specific host
  rules:
  - matches:
    - path:
        type: PathPrefix
        value: /s3
    backendRefs:
    - name: infra-backend-v3
      port: 8080
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: wildcard-host-matches-listener-wildcard-host
  namespace: gateway-conformance-infra
spec:
  parentRefs:
  - name: httproute-hostname-intersection
    namespace: gateway-conformance-infra
  hostnames:
  - "*.anotherwildcard.io"  # matches listener-3's wildcard host
  rules:
  - matches:
    - path:
        type: PathPrefix
        value: /s4
    backendRefs:
    - name: infra-backend-v1
      port: 8080
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: no-intersecting-hosts
  namespace: gateway-conformance-infra
spec:
  parentRefs:
  - name: httproute-hostname-intersection
    namespace: gateway-conformance-infra
  hostnames:
  - specific.but.wrong.com
  - wildcard.io
  rules:
  - matches:
    - path:
        type: PathPrefix
        value: /s5
    backendRefs:
    - name: infra-backend-v2
      port: 8080
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: httproute-hostname-intersection-all
  namespace: gateway-conformance-infra
spec:
  parentRefs:
  - name: httproute-hostname-intersection-all
    namespace: gateway-conformance-infra
  hostnames:
  - first.com
  - sub.first.com
  - second.com
  - sub.second.com
  rules:
  - backendRefs:
    - name: infra-backend-v2
      port: 8080
"#,
    );
    let (v1, v2, v3) = ("infra-backend-v1", "infra-backend-v2", "infra-backend-v3");
    c.expect(
        "httproute-hostname-intersection",
        &[
            // specific-host-matches-listener-specific-host
            to("/s1", v1).host("very.specific.com"),
            // The port in Host is no part of the hostname matched.
            to("/s1", v1).host("very.specific.com:1234"),
            refused("/s1", 404).host("non.matching.com"),
            refused("/s1", 404).host("foo.nonmatchingwildcard.io"),
            refused("/s1", 404).host("foo.wildcard.io"),
            refused("/non-matching-prefix", 404).host("very.specific.com"),
            // specific-host-matches-listener-wildcard-host
            to("/s2", v2).host("foo.wildcard.io"),
            to("/s2", v2).host("bar.wildcard.io"),
            to("/s2", v2).host("foo.bar.wildcard.io"),
            refused("/s2", 404).host("non.matching.com"),
            refused("/s2", 404).host("wildcard.io"),
            refused("/s2", 404).host("very.specific.com"),
            refused("/non-matching-prefix", 404).host("foo.wildcard.io"),
            // wildcard-host-matches-listener-specific-host
            to("/s3", v3).host("very.specific.com"),
            refused("/s3", 404).host("non.matching.com"),
            refused("/s3", 404).host("foo.specific.com"),
            refused("/s3", 404).host("foo.wildcard.io"),
            refused("/non-matching-prefix", 404).host("very.specific.com"),
            // wildcard-host-matches-listener-wildcard-host
            to("/s4", v1).host("foo.anotherwildcard.io"),
            to("/s4", v1).host("bar.anotherwildcard.io"),
            to("/s4", v1).host("foo.bar.anotherwildcard.io"),
            refused("/s4", 404).host("anotherwildcard.io"),
            refused("/s4", 404).host("foo.wildcard.io"),
            refused("/s4", 404).host("very.specific.com"),
            refused("/non-matching-prefix", 404).host("foo.anotherwildcard.io"),
            // no-intersecting-hosts attaches nowhere.
            refused("/s5", 404).host("specific.but.wrong.com"),
            refused("/s5", 404).host("wildcard.io"),
        ],
    )
    .await;
    c.expect(
        "httproute-hostname-intersection-all",
        &[
            to("/", v2).host("first.com"),
            to("/", v2).host("sub.first.com"),
            to("/", v2).host("second.com"),
            to("/", v2).host("sub.second.com"),
            refused("/", 404).host("third.com"),
            refused("/", 404).host("sub.third.com"),
        ],
    )
    .await;
}

/// HTTPRouteListenerPortMatching: a parentRef's `port` picks the listeners
/// of that port. Each request goes to the listener its Host's port names
/// (moved, as all listener ports here), its Host as upstream sends it.
#[tokio::test(flavor = "multi_thread")]
async fn listener_port_matching() {
    let c = Conformance::start(
        r#"
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: httproute-listener-port-matching
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
    hostname: foo.com
  - name: listener-2
    port: 8080
    protocol: HTTP
    allowedRoutes:
      namespaces:
        from: Same
    hostname: foo.com
  - name: listener-3
    port: 8080
    protocol: HTTP
    allowedRoutes:
      namespaces:
        from: Same
    hostname: bar.com
  - name: listener-4
    port: 8090
    protocol: HTTP
    allowedRoutes:
      namespaces:
        from: Same
    hostname: foo.com
  - name: listener-5
    port: 8090
    protocol: HTTP
    allowedRoutes:
      namespaces:
        from: Same
    hostname: bar.com
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: backend-v1
  namespace: gateway-conformance-infra
spec:
  parentRefs:
  - name: httproute-listener-port-matching
    namespace: gateway-conformance-infra
    port: 80
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
  - name: httproute-listener-port-matching
    namespace: gateway-conformance-infra
    port: 8080
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
  - name: httproute-listener-port-matching
    namespace: gateway-conformance-infra
    port: 8090
    sectionName: listener-4
  rules:
  - backendRefs:
    - name: infra-backend-v3
      port: 8080
"#,
    );
    let gw = "httproute-listener-port-matching";
    c.expect(gw, &[to("/", "infra-backend-v1").host("foo.com")]).await;
    c.expect_at(
        c.addr(gw, 8080),
        &[to("/", "infra-backend-v2").host("foo.com:8080"), to("/", "infra-backend-v2").host("bar.com:8080")],
    )
    .await;
    c.expect_at(
        c.addr(gw, 8090),
        &[to("/", "infra-backend-v3").host("foo.com:8090"), refused("/", 404).host("bar.com:8090")],
    )
    .await;
}

/// HTTPRouteInvalidCrossNamespaceBackendRef: a backendRef to another
/// namespace without a ReferenceGrant is not followed; its share answers 500.
#[tokio::test(flavor = "multi_thread")]
async fn invalid_cross_namespace_backend_ref() {
    let c = Conformance::start(
        r#"
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: invalid-cross-namespace-backend-ref
  namespace: gateway-conformance-infra
spec:
  parentRefs:
  - name: same-namespace
  rules:
  - backendRefs:
    - name: web-backend
      namespace: gateway-conformance-web-backend
      port: 8080
"#,
    );
    c.expect("same-namespace", &[refused("/", 500)]).await;
}

/// HTTPRouteInvalidNonExistentBackendRef.
#[tokio::test(flavor = "multi_thread")]
async fn invalid_nonexistent_backend_ref() {
    let c = Conformance::start(
        r#"
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: invalid-nonexistent-backend-ref
  namespace: gateway-conformance-infra
spec:
  parentRefs:
  - name: same-namespace
  rules:
  - backendRefs:
    - name: nonexistent
      namespace: gateway-conformance-infra
      port: 8080
"#,
    );
    c.expect("same-namespace", &[refused("/", 500)]).await;
}

/// HTTPRouteInvalidBackendRefUnknownKind: a backendRef of a kind Sluice
/// does not know is not followed, though a Service has its name.
#[tokio::test(flavor = "multi_thread")]
async fn invalid_backend_ref_unknown_kind() {
    let c = Conformance::start(
        r#"
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: invalid-backend-ref-unknown-kind
  namespace: gateway-conformance-infra
spec:
  parentRefs:
  - name: same-namespace
  rules:
  - backendRefs:
    - group: unknownkind.example.com
      kind: NonExistent
      name: infra-backend-v1
      port: 8080
"#,
    );
    c.expect("same-namespace", &[refused("/v2", 500)]).await;
}

/// HTTPRouteInvalidReferenceGrant: ReferenceGrants each wrong in one field
/// (namespace, from group, kind or namespace, to group, kind or name)
/// permit nothing.
#[tokio::test(flavor = "multi_thread")]
async fn invalid_reference_grant() {
    let c = Conformance::start(
        r#"
---
apiVersion: gateway.networking.k8s.io/v1
kind: ReferenceGrant
metadata:
  name: reference-grant-wrong-namespace
  namespace: gateway-conformance-infra
spec:
  from:
    - group: gateway.networking.k8s.io
      kind: HTTPRoute
      namespace: gateway-conformance-infra
  to:
    - group: ""
      kind: Service
      name: web-backend
---
apiVersion: gateway.networking.k8s.io/v1
kind: ReferenceGrant
metadata:
  name: reference-grant-wrong-from-group
  namespace: gateway-conformance-web-backend
spec:
  from:
    - group: not-the-group-youre-looking-for
      kind: HTTPRoute
      namespace: gateway-conformance-infra
  to:
    - group: ""
      kind: Service
      name: web-backend
---
apiVersion: gateway.networking.k8s.io/v1
kind: ReferenceGrant
metadata:
  name: reference-grant-wrong-from-kind
  namespace: gateway-conformance-web-backend
spec:
  from:
    - group: gateway.networking.k8s.io
      kind: Gateway
      namespace: gateway-conformance-infra
  to:
    - group: ""
      kind: Service
      name: web-backend
---
apiVersion: gateway.networking.k8s.io/v1
kind: ReferenceGrant
metadata:
  name: reference-grant-wrong-from-namespace
  namespace: gateway-conformance-web-backend
spec:
  from:
    - group: gateway.networking.k8s.io
      kind: HTTPRoute
      namespace: not-the-namespace-youre-looking-for
  to:
    - group: ""
      kind: Service
      name: web-backend
---
apiVersion: gateway.networking.k8s.io/v1
kind: ReferenceGrant
metadata:
  name: reference-grant-wrong-to-group
  namespace: gateway-conformance-web-backend
spec:
  from:
    - group: gateway.networking.k8s.io
      kind: HTTPRoute
      namespace: gateway-conformance-infra
  to:
    - group: not-the-group-youre-looking-for
      kind: Service
      name: web-backend
---
apiVersion: gateway.networking.k8s.io/v1
kind: ReferenceGrant
metadata:
  name: reference-grant-wrong-to-kind
  namespace: gateway-conformance-web-backend
spec:
  from:
    - group: gateway.networking.k8s.io
      kind: HTTPRoute
      namespace: gateway-conformance-infra
  to:
    - group: ""
      kind: Secret
      name: web-backend
---
apiVersion: gateway.networking.k8s.io/v1
kind: ReferenceGrant
metadata:
  name: reference-grant-wrong-to-name
  namespace: gateway-conformance-web-backend
spec:
  from:
    - group: gateway.networking.k8s.io
      kind: HTTPRoute
      namespace: gateway-conformance-infra
  to:
    - group: ""
      kind: Secret
      name: not-the-service-youre-looking-for
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: reference-grant
  namespace: gateway-conformance-infra
spec:
  parentRefs:
    - name: same-namespace
  rules:
    - backendRefs:
        - name: web-backend
          namespace: gateway-conformance-web-backend
          port: 8080
"#,
    );
    c.expect("same-namespace", &[refused("/", 500)]).await;
}

/// HTTPRouteReferenceGrant: a ReferenceGrant permits the cross-namespace
/// backendRef, and deleting it withdraws the permission.
#[tokio::test(flavor = "multi_thread")]
async fn reference_grant() {
    let c = Conformance::start(
        r#"
apiVersion: gateway.networking.k8s.io/v1
kind: ReferenceGrant
metadata:
  name: reference-grant
  namespace: gateway-conformance-web-backend
spec:
  from:
    - group: gateway.networking.k8s.io
      kind: HTTPRoute
      namespace: gateway-conformance-infra
  to:
    - group: ""
      kind: Service
      name: web-backend
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: reference-grant
  namespace: gateway-conformance-infra
spec:
  parentRefs:
    - name: same-namespace
  rules:
    - backendRefs:
        - name: web-backend
          namespace: gateway-conformance-web-backend
          port: 8080
"#,
    );
    c.expect("same-namespace", &[to("/", "web-backend")]).await;
    c.delete("ReferenceGrant", WEB, "reference-grant");
    c.expect("same-namespace", &[refused("/", 500)]).await;
}

/// HTTPRoutePartiallyInvalidViaInvalidReferenceGrant: a ReferenceGrant for
/// one Service of a namespace permits no other; the rule with the permitted
/// one still serves.
#[tokio::test(flavor = "multi_thread")]
async fn partially_invalid_via_invalid_reference_grant() {
    let c = Conformance::start(
        r#"
apiVersion: gateway.networking.k8s.io/v1
kind: ReferenceGrant
metadata:
  name: invalid-reference-grant
  namespace: gateway-conformance-app-backend
spec:
  from:
    - group: gateway.networking.k8s.io
      kind: HTTPRoute
      namespace: gateway-conformance-infra
  to:
    - group: ""
      kind: Service
      name: app-backend-v1
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: invalid-reference-grant
  namespace: gateway-conformance-infra
spec:
  parentRefs:
    - name: same-namespace
  rules:
    - matches:
        - path:
            type: PathPrefix
            value: "/v2"
      backendRefs:
        - name: app-backend-v2
          namespace: gateway-conformance-app-backend
          port: 8080
    - backendRefs:
        - name: app-backend-v1
          namespace: gateway-conformance-app-backend
          port: 8080
"#,
    );
    c.expect("same-namespace", &[refused("/v2", 500), to("/", "app-backend-v1")]).await;
}

/// HTTPRouteNoBackendRefs: rules with omitted or empty backendRefs answer 500.
#[tokio::test(flavor = "multi_thread")]
async fn no_backend_refs() {
    let c = Conformance::start(
        r#"
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: omitted-backendrefs
  namespace: gateway-conformance-infra
spec:
  parentRefs:
  - name: same-namespace
  rules:
  - matches:
    - path:
        type: Exact
        value: /omitted-no-forward
  - matches:
    - path:
        type: Exact
        value: /empty-no-forward
    backendRefs: []
  - matches:
    - path:
        type: PathPrefix
        value: /
    backendRefs:
    - name: infra-backend-v1
      port: 8080
"#,
    );
    c.expect(
        "same-namespace",
        &[to("/forward", "infra-backend-v1"), refused("/omitted-no-forward", 500), refused("/empty-no-forward", 500)],
    )
    .await;
}

/// HTTPRouteRequestHeaderModifier: set, add and remove, header names in any
/// case.
#[tokio::test(flavor = "multi_thread")]
async fn request_header_modifier() {
    let c = Conformance::start(
        r#"
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: request-header-modifier
  namespace: gateway-conformance-infra
spec:
  parentRefs:
  - name: same-namespace
  rules:
  - matches:
    - path:
        type: PathPrefix
        value: /set
    filters:
    - type: RequestHeaderModifier
      requestHeaderModifier:
        set:
        - name: X-Header-Set
          value: set-overwrites-values
    backendRefs:
    - name: infra-backend-v1
      port: 8080
  - matches:
    - path:
        type: PathPrefix
        value: /add
    filters:
    - type: RequestHeaderModifier
      requestHeaderModifier:
        add:
        - name: X-Header-Add
          value: add-appends-values
    backendRefs:
    - name: infra-backend-v1
      port: 8080
  - matches:
    - path:
        type: PathPrefix
        value: /remove
    filters:
    - type: RequestHeaderModifier
      requestHeaderModifier:
        remove:
        - X-Header-Remove
    backendRefs:
    - name: infra-backend-v1
      port: 8080
  - matches:
    - path:
        type: PathPrefix
        value: /multiple
    filters:
    - type: RequestHeaderModifier
      requestHeaderModifier:
        set:
        - name: X-Header-Set-1
          value: header-set-1
        - name: X-Header-Set-2
          value: header-set-2
        add:
        - name: X-Header-Add-1
          value: header-add-1
        - name: X-Header-Add-2
          value: header-add-2
        - name: X-Header-Add-3
          value: header-add-3
        remove:
        - X-Header-Remove-1
        - X-Header-Remove-2
    backendRefs:
    - name: infra-backend-v1
      port: 8080
  - matches:
    - path:
        type: PathPrefix
        value: /case-insensitivity
    filters:
    - type: RequestHeaderModifier
      requestHeaderModifier:
        set:
        - name: X-Header-Set
          value: header-set
        add:
        - name: X-Header-Add
          value: header-add
        remove:
        - X-Header-Remove
    backendRefs:
    - name: infra-backend-v1
      port: 8080
"#,
    );
    let v1 = "infra-backend-v1";
    c.expect(
        "same-namespace",
        &[
            to("/set", v1).with("Some-Other-Header", "val").seen("X-Header-Set", "set-overwrites-values"),
            to("/set", v1)
                .with("Some-Other-Header", "val")
                .with("X-Header-Set", "some-other-value")
                .seen("X-Header-Set", "set-overwrites-values"),
            to("/add", v1).with("Some-Other-Header", "val").seen("X-Header-Add", "add-appends-values"),
            to("/add", v1)
                .with("Some-Other-Header", "val")
                .with("X-Header-Add", "some-other-value")
                .seen("X-Header-Add", "some-other-value,add-appends-values"),
            to("/remove", v1).with("X-Header-Remove", "val").unseen("X-Header-Remove"),
            to("/multiple", v1)
                .with("X-Header-Set-2", "set-val-2")
                .with("X-Header-Add-2", "add-val-2")
                .with("X-Header-Remove-2", "remove-val-2")
                .with("Another-Header", "another-header-val")
                .seen("X-Header-Set-1", "header-set-1")
                .seen("X-Header-Set-2", "header-set-2")
                .seen("X-Header-Add-1", "header-add-1")
                .seen("X-Header-Add-2", "add-val-2,header-add-2")
                .seen("X-Header-Add-3", "header-add-3")
                .unseen("X-Header-Remove-1")
                .unseen("X-Header-Remove-2"),
            // The filter names headers canonically, the request in lower case.
            to("/case-insensitivity", v1)
                .with("x-header-set", "original-val-set")
                .with("x-header-add", "original-val-add")
                .with("x-header-remove", "original-val-remove")
                .with("Another-Header", "another-header-val")
                .seen("X-Header-Set", "header-set")
                .seen("X-Header-Add", "original-val-add,header-add")
                .unseen("X-Header-Remove"),
        ],
    )
    .await;
}

/// HTTPRouteResponseHeaderModifier: set, add and remove on the headers the
/// backend answered with (infra-backend-v1 sets those asked for, as
/// upstream's echo-basic), and with a RequestHeaderModifier beside.
#[tokio::test(flavor = "multi_thread")]
async fn response_header_modifier() {
    let c = Conformance::start_with(
        r#"
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: response-header-modifier
  namespace: gateway-conformance-infra
spec:
  parentRefs:
  - name: same-namespace
  rules:
  - matches:
    - path:
        type: PathPrefix
        value: /set
    filters:
    - type: ResponseHeaderModifier
      responseHeaderModifier:
        set:
        - name: X-Header-Set
          value: set-overwrites-values
    backendRefs:
    - name: infra-backend-v1
      port: 8080
  - matches:
    - path:
        type: PathPrefix
        value: /add
    filters:
    - type: ResponseHeaderModifier
      responseHeaderModifier:
        add:
        - name: X-Header-Add
          value: add-appends-values
    backendRefs:
    - name: infra-backend-v1
      port: 8080
  - matches:
    - path:
        type: PathPrefix
        value: /remove
    filters:
    - type: ResponseHeaderModifier
      responseHeaderModifier:
        remove:
        - X-Header-Remove
    backendRefs:
    - name: infra-backend-v1
      port: 8080
  - matches:
    - path:
        type: PathPrefix
        value: /multiple
    filters:
    - type: ResponseHeaderModifier
      responseHeaderModifier:
        set:
        - name: X-Header-Set-1
          value: header-set-1
        - name: X-Header-Set-2
          value: header-set-2
        add:
        - name: X-Header-Add-1
          value: header-add-1
        - name: X-Header-Add-2
          value: header-add-2
        - name: X-Header-Add-3
          value: header-add-3
        remove:
        - X-Header-Remove-1
        - X-Header-Remove-2
    backendRefs:
    - name: infra-backend-v1
      port: 8080
  - matches:
    - path:
        type: PathPrefix
        value: /case-insensitivity
    filters:
    - type: ResponseHeaderModifier
      responseHeaderModifier:
        set:
        - name: X-Header-Set
          value: header-set
        add:
        - name: X-Header-Add
          value: header-add
        - name: x-lowercase-add
          value: lowercase-add
        - name: x-Mixedcase-ADD-1
          value: mixedcase-add-1
        - name: X-mixeDcase-add-2
          value: mixedcase-add-2
        - name: X-UPPERCASE-ADD
          value: uppercase-add
        remove:
        - X-Header-Remove
    backendRefs:
    - name: infra-backend-v1
      port: 8080
  - matches:
    - path:
        type: PathPrefix
        value: /response-and-request-header-modifiers
    filters:
    - type: ResponseHeaderModifier
      responseHeaderModifier:
        set:
        - name: X-Header-Set-1
          value: header-set-1
        - name: X-Header-Set-2
          value: header-set-2
        add:
        - name: X-Header-Add-1
          value: header-add-1
        - name: X-Header-Add-2
          value: header-add-2
        remove:
        - X-Header-Remove-1
        - X-Header-Remove-2
    - type: RequestHeaderModifier
      requestHeaderModifier:
        set:
        - name: X-Header-Set
          value: set-overwrites-values
        add:
        - name: X-Header-Add
          value: header-val-1
        - name: X-Header-Add-Append
          value: header-val-2
        remove:
        - X-Header-Remove
    backendRefs:
    - name: infra-backend-v1
      port: 8080
"#,
        &["infra-backend-v1"],
    );
    let v1 = "infra-backend-v1";
    c.expect(
        "same-namespace",
        &[
            to("/set", v1)
                .backend_sets("Some-Other-Header", "val")
                .answer_has("Some-Other-Header", "val")
                .answer_has("X-Header-Set", "set-overwrites-values"),
            to("/set", v1)
                .backend_sets("Some-Other-Header", "val")
                .backend_sets("X-Header-Set", "some-other-value")
                .answer_has("Some-Other-Header", "val")
                .answer_has("X-Header-Set", "set-overwrites-values"),
            to("/add", v1)
                .backend_sets("Some-Other-Header", "val")
                .answer_has("Some-Other-Header", "val")
                .answer_has("X-Header-Add", "add-appends-values"),
            to("/add", v1)
                .backend_sets("Some-Other-Header", "val")
                .backend_sets("X-Header-Add", "some-other-value")
                .answer_has("Some-Other-Header", "val")
                .answer_has("X-Header-Add", "some-other-value,add-appends-values"),
            to("/remove", v1).backend_sets("X-Header-Remove", "val").answer_lacks("X-Header-Remove"),
            to("/multiple", v1)
                .backend_sets("X-Header-Set-2", "set-val-2")
                .backend_sets("X-Header-Add-2", "add-val-2")
                .backend_sets("X-Header-Remove-2", "remove-val-2")
                .backend_sets("Another-Header", "another-header-val")
                .backend_sets("X-Header-Remove-1", "val")
                .answer_has("X-Header-Set-1", "header-set-1")
                .answer_has("X-Header-Set-2", "header-set-2")
                .answer_has("X-Header-Add-1", "header-add-1")
                .answer_has("X-Header-Add-2", "add-val-2,header-add-2")
                .answer_has("X-Header-Add-3", "header-add-3")
                .answer_has("Another-Header", "another-header-val")
                .answer_lacks("X-Header-Remove-1")
                .answer_lacks("X-Header-Remove-2"),
            to("/case-insensitivity", v1)
                .backend_sets("x-header-set", "original-val-set")
                .backend_sets("x-header-add", "original-val-add")
                .backend_sets("x-header-remove", "original-val-remove")
                .backend_sets("Another-Header", "another-header-val")
                .answer_has("X-Header-Set", "header-set")
                .answer_has("X-Header-Add", "original-val-add,header-add")
                .answer_has("X-Lowercase-Add", "lowercase-add")
                .answer_has("X-Mixedcase-Add-1", "mixedcase-add-1")
                .answer_has("X-Mixedcase-Add-2", "mixedcase-add-2")
                .answer_has("X-Uppercase-Add", "uppercase-add")
                .answer_has("Another-Header", "another-header-val")
                .answer_lacks("X-Header-Remove"),
            to("/response-and-request-header-modifiers", v1)
                .with("X-Header-Remove", "remove-val")
                .with("X-Header-Add-Append", "append-val-1")
                .with("X-Header-Echo", "echo")
                .backend_sets("X-Header-Set-2", "set-val-2")
                .backend_sets("X-Header-Add-2", "add-val-2")
                .backend_sets("X-Header-Remove-2", "remove-val-2")
                .backend_sets("Another-Header", "another-header-val")
                .backend_sets("X-Header-Remove-1", "remove-val-1")
                .backend_sets("X-Header-Echo", "echo")
                .seen("X-Header-Add", "header-val-1")
                .seen("X-Header-Set", "set-overwrites-values")
                .seen("X-Header-Add-Append", "append-val-1,header-val-2")
                .seen("X-Header-Echo", "echo")
                .unseen("X-Header-Remove")
                .answer_has("X-Header-Set-1", "header-set-1")
                .answer_has("X-Header-Set-2", "header-set-2")
                .answer_has("X-Header-Add-1", "header-add-1")
                .answer_has("X-Header-Add-2", "add-val-2,header-add-2")
                .answer_has("Another-Header", "another-header-val")
                .answer_has("X-Header-Echo", "echo")
                .answer_lacks("X-Header-Remove-1")
                .answer_lacks("X-Header-Remove-2"),
        ],
    )
    .await;
}

/// HTTPRouteWeight: over 500 requests each backend takes its weight's share,
/// within 0.1 (about five standard deviations, where upstream allows 0.05
/// and retries ten times), and the one of weight 0 none.
#[tokio::test(flavor = "multi_thread")]
async fn weight() {
    let c = Conformance::start(
        r#"
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: weighted-backends
  namespace: gateway-conformance-infra
spec:
  parentRefs:
  - name: same-namespace
  rules:
  - backendRefs:
    - name: infra-backend-v1
      port: 8080
      weight: 70
    - name: infra-backend-v2
      port: 8080
      weight: 30
    - name: infra-backend-v3
      port: 8080
      weight: 0
"#,
    );
    // The route is served: infra-backend-v1, 70 in 100, answers soon.
    c.expect("same-namespace", &[to("/", "infra-backend-v1")]).await;
    let (http, at) = (client(), c.addr("same-namespace", 80));
    let mut answered: HashMap<String, u32> = HashMap::new();
    for _ in 0..500 {
        let reply = send(&http, at, "GET", "example.com", "/", &[], vec![]).await.expect("request");
        assert_eq!(reply.status, 200, "answered by '{}'", reply.backend);
        *answered.entry(reply.backend).or_default() += 1;
    }
    for (backend, weight) in [("infra-backend-v1", 0.7), ("infra-backend-v2", 0.3)] {
        let share = f64::from(answered.get(backend).copied().unwrap_or(0)) / 500.0;
        assert!((share - weight).abs() <= 0.1, "{backend} took {share} of the requests, want {weight}: {answered:?}");
    }
    assert_eq!(answered.len(), 2, "only the backends of weight above 0 answer: {answered:?}");
}

// The redirect cases: upstream's listener is on port 80 and a Location
// without a port passes for it. Here the listener's port is moved, so where
// the filter sets neither port nor scheme the Location must carry the moved
// port (the spec: the redirect port is then the listener's); where it sets
// either, the well-known-port rule applies as upstream has it.

/// HTTPRouteRedirectHostAndStatus.
#[tokio::test(flavor = "multi_thread")]
async fn redirect_host_and_status() {
    let c = Conformance::start(
        r#"
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: redirect-host-and-status
  namespace: gateway-conformance-infra
spec:
  parentRefs:
  - name: same-namespace
  rules:
  - matches:
    - path:
        type: PathPrefix
        value: /hostname-redirect
    filters:
    - type: RequestRedirect
      requestRedirect:
        hostname: example.org
  - matches:
    - path:
        type: PathPrefix
        value: /host-and-status
    filters:
    - type: RequestRedirect
      requestRedirect:
        statusCode: 301
        hostname: example.org
"#,
    );
    let port = c.ports[&80];
    c.expect(
        "same-namespace",
        &[
            redirect("/hostname-redirect", 302, format!("http://example.org:{port}/hostname-redirect")),
            redirect("/host-and-status", 301, format!("http://example.org:{port}/host-and-status")),
        ],
    )
    .await;
}

/// HTTPRouteRedirectPath: ReplacePrefixMatch and ReplaceFullPath, with a
/// hostname or status beside.
#[tokio::test(flavor = "multi_thread")]
async fn redirect_path() {
    let c = Conformance::start(
        r#"
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: redirect-path
  namespace: gateway-conformance-infra
spec:
  parentRefs:
  - name: same-namespace
  rules:
  - matches:
    - path:
        type: PathPrefix
        value: /original-prefix
    filters:
    - type: RequestRedirect
      requestRedirect:
        path:
          type: ReplacePrefixMatch
          replacePrefixMatch: /replacement-prefix
  - matches:
    - path:
        type: PathPrefix
        value: /full
    filters:
    - type: RequestRedirect
      requestRedirect:
        path:
          type: ReplaceFullPath
          replaceFullPath: /full-path-replacement
  - matches:
    - path:
        type: PathPrefix
        value: /path-and-host
    filters:
    - type: RequestRedirect
      requestRedirect:
        hostname: example.org
        path:
          type: ReplacePrefixMatch
          replacePrefixMatch: /replacement-prefix
  - matches:
    - path:
        type: PathPrefix
        value: /path-and-status
    filters:
    - type: RequestRedirect
      requestRedirect:
        path:
          type: ReplacePrefixMatch
          replacePrefixMatch: /replacement-prefix
        statusCode: 301
  - matches:
    - path:
        type: PathPrefix
        value: /full-path-and-host
    filters:
    - type: RequestRedirect
      requestRedirect:
        hostname: example.org
        path:
          type: ReplaceFullPath
          replaceFullPath: /replacement-full
  - matches:
    - path:
        type: PathPrefix
        value: /full-path-and-status
    filters:
    - type: RequestRedirect
      requestRedirect:
        path:
          type: ReplaceFullPath
          replaceFullPath: /replacement-full
        statusCode: 301
"#,
    );
    let port = c.ports[&80];
    c.expect(
        "same-namespace",
        &[
            redirect("/original-prefix/lemon", 302, format!("http://example.com:{port}/replacement-prefix/lemon")),
            redirect("/full/path/original", 302, format!("http://example.com:{port}/full-path-replacement")),
            redirect("/path-and-host", 302, format!("http://example.org:{port}/replacement-prefix")),
            redirect("/path-and-status", 301, format!("http://example.com:{port}/replacement-prefix")),
            redirect("/full-path-and-host", 302, format!("http://example.org:{port}/replacement-full")),
            redirect("/full-path-and-status", 301, format!("http://example.com:{port}/replacement-full")),
        ],
    )
    .await;
}

/// HTTPRouteRedirectPort.
#[tokio::test(flavor = "multi_thread")]
async fn redirect_port() {
    let c = Conformance::start(
        r#"
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: redirect-port
  namespace: gateway-conformance-infra
spec:
  parentRefs:
  - name: same-namespace
  rules:
  - matches:
    - path:
        type: PathPrefix
        value: /port
    filters:
    - type: RequestRedirect
      requestRedirect:
        port: 8083
  - matches:
    - path:
        type: PathPrefix
        value: /port-and-host
    filters:
    - type: RequestRedirect
      requestRedirect:
        hostname: example.org
        port: 8083
  - matches:
    - path:
        type: PathPrefix
        value: /port-and-status
    filters:
    - type: RequestRedirect
      requestRedirect:
        port: 8083
        statusCode: 301
  - matches:
    - path:
        type: PathPrefix
        value: /port-and-host-and-status
    filters:
    - type: RequestRedirect
      requestRedirect:
        port: 8083
        hostname: example.org
        statusCode: 302
"#,
    );
    c.expect(
        "same-namespace",
        &[
            redirect("/port", 302, "http://example.com:8083/port".into()),
            redirect("/port-and-host", 302, "http://example.org:8083/port-and-host".into()),
            redirect("/port-and-status", 301, "http://example.com:8083/port-and-status".into()),
            redirect("/port-and-host-and-status", 302, "http://example.org:8083/port-and-host-and-status".into()),
        ],
    )
    .await;
}

/// HTTPRouteRedirectScheme: to https, whose port is then 443.
#[tokio::test(flavor = "multi_thread")]
async fn redirect_scheme() {
    let c = Conformance::start(
        r#"
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: redirect-scheme
  namespace: gateway-conformance-infra
spec:
  parentRefs:
  - name: same-namespace
  rules:
  - matches:
    - path:
        type: PathPrefix
        value: /scheme
    filters:
    - type: RequestRedirect
      requestRedirect:
        scheme: "https"
  - matches:
    - path:
        type: PathPrefix
        value: /scheme-and-host
    filters:
    - type: RequestRedirect
      requestRedirect:
        hostname: example.org
        scheme: "https"
  - matches:
    - path:
        type: PathPrefix
        value: /scheme-and-status
    filters:
    - type: RequestRedirect
      requestRedirect:
        scheme: "https"
        statusCode: 301
  - matches:
    - path:
        type: PathPrefix
        value: /scheme-and-host-and-status
    filters:
    - type: RequestRedirect
      requestRedirect:
        scheme: "https"
        statusCode: 302
        hostname: example.org
"#,
    );
    c.expect(
        "same-namespace",
        &[
            redirect("/scheme", 302, "https://example.com/scheme".into()),
            redirect("/scheme-and-host", 302, "https://example.org/scheme-and-host".into()),
            redirect("/scheme-and-status", 301, "https://example.com/scheme-and-status".into()),
            redirect("/scheme-and-host-and-status", 302, "https://example.org/scheme-and-host-and-status".into()),
        ],
    )
    .await;
}

/// HTTPRouteRedirectPortAndScheme, its HTTP listeners (on 80 and on 8080);
/// the cases of its HTTPS listener wait for the TLS cases, and its route
/// for that listener stays unattached meanwhile.
#[tokio::test(flavor = "multi_thread")]
async fn redirect_port_and_scheme() {
    let c = Conformance::start(
        r#"
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: same-namespace-with-http-listener-on-8080
  namespace: gateway-conformance-infra
spec:
  gatewayClassName: "{GATEWAY_CLASS_NAME}"
  listeners:
  - name: http
    port: 8080
    protocol: HTTP
    allowedRoutes:
      namespaces:
        from: Same
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: http-route-for-listener-on-port-80
  namespace: gateway-conformance-infra
spec:
  parentRefs:
  - name: same-namespace
  rules:
  - matches:
    - path:
        type: PathPrefix
        value: /scheme-nil-and-port-nil
    filters:
    - type: RequestRedirect
      requestRedirect:
        hostname: example.org
  - matches:
    - path:
        type: PathPrefix
        value: /scheme-nil-and-port-80
    filters:
    - type: RequestRedirect
      requestRedirect:
        port: 80
        hostname: example.org
  - matches:
    - path:
        type: PathPrefix
        value: /scheme-nil-and-port-8080
    filters:
    - type: RequestRedirect
      requestRedirect:
        port: 8080
        hostname: example.org
  - matches:
    - path:
        type: PathPrefix
        value: /scheme-https-and-port-nil
    filters:
    - type: RequestRedirect
      requestRedirect:
        scheme: "https"
        hostname: example.org
  - matches:
    - path:
        type: PathPrefix
        value: /scheme-https-and-port-443
    filters:
    - type: RequestRedirect
      requestRedirect:
        scheme: "https"
        port: 443
        hostname: example.org
  - matches:
    - path:
        type: PathPrefix
        value: /scheme-https-and-port-8443
    filters:
    - type: RequestRedirect
      requestRedirect:
        scheme: "https"
        port: 8443
        hostname: example.org
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: http-route-for-listener-on-port-8080
  namespace: gateway-conformance-infra
spec:
  parentRefs:
  - name: same-namespace-with-http-listener-on-8080
  rules:
  - matches:
    - path:
        type: PathPrefix
        value: /scheme-nil-and-port-nil
    filters:
    - type: RequestRedirect
      requestRedirect:
        hostname: example.org
  - matches:
    - path:
        type: PathPrefix
        value: /scheme-nil-and-port-80
    filters:
    - type: RequestRedirect
      requestRedirect:
        port: 80
        hostname: example.org
  - matches:
    - path:
        type: PathPrefix
        value: /scheme-https-and-port-nil
    filters:
    - type: RequestRedirect
      requestRedirect:
        scheme: "https"
        hostname: example.org
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: http-route-for-listener-on-port-443
  namespace: gateway-conformance-infra
spec:
  parentRefs:
  - name: same-namespace-with-https-listener
  rules:
  - matches:
    - path:
        type: PathPrefix
        value: /scheme-nil-and-port-nil
    filters:
    - type: RequestRedirect
      requestRedirect:
        hostname: example.org
  - matches:
    - path:
        type: PathPrefix
        value: /scheme-nil-and-port-443
    filters:
    - type: RequestRedirect
      requestRedirect:
        port: 443
        hostname: example.org
  - matches:
    - path:
        type: PathPrefix
        value: /scheme-nil-and-port-8443
    filters:
    - type: RequestRedirect
      requestRedirect:
        port: 8443
        hostname: example.org
  - matches:
    - path:
        type: PathPrefix
        value: /scheme-http-and-port-nil
    filters:
    - type: RequestRedirect
      requestRedirect:
        scheme: "http"
        hostname: example.org
  - matches:
    - path:
        type: PathPrefix
        value: /scheme-http-and-port-80
    filters:
    - type: RequestRedirect
      requestRedirect:
        scheme: "http"
        port: 80
        hostname: example.org
  - matches:
    - path:
        type: PathPrefix
        value: /scheme-http-and-port-8080
    filters:
    - type: RequestRedirect
      requestRedirect:
        scheme: "http"
        port: 8080
        hostname: example.org
"#,
    );
    let (p80, p8080) = (c.ports[&80], c.ports[&8080]);
    c.expect(
        "same-namespace",
        &[
            redirect("/scheme-nil-and-port-nil", 302, format!("http://example.org:{p80}/scheme-nil-and-port-nil")),
            redirect("/scheme-nil-and-port-80", 302, "http://example.org/scheme-nil-and-port-80".into()),
            redirect("/scheme-nil-and-port-8080", 302, "http://example.org:8080/scheme-nil-and-port-8080".into()),
            redirect("/scheme-https-and-port-nil", 302, "https://example.org/scheme-https-and-port-nil".into()),
            redirect("/scheme-https-and-port-443", 302, "https://example.org/scheme-https-and-port-443".into()),
            redirect("/scheme-https-and-port-8443", 302, "https://example.org:8443/scheme-https-and-port-8443".into()),
        ],
    )
    .await;
    c.expect_at(
        c.addr("same-namespace-with-http-listener-on-8080", 8080),
        &[
            redirect("/scheme-nil-and-port-nil", 302, format!("http://example.org:{p8080}/scheme-nil-and-port-nil")),
            redirect("/scheme-nil-and-port-80", 302, "http://example.org/scheme-nil-and-port-80".into()),
            redirect("/scheme-https-and-port-nil", 302, "https://example.org/scheme-https-and-port-nil".into()),
        ],
    )
    .await;
}

/// HTTPRoute303Redirect: a POST answered 303 See Other.
#[tokio::test(flavor = "multi_thread")]
async fn redirect_303() {
    let c = Conformance::start(
        r#"
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: 303-redirect
  namespace: gateway-conformance-infra
spec:
  parentRefs:
  - name: same-namespace
  rules:
  - matches:
    - path:
        type: PathPrefix
        value: /see-other
    filters:
    - type: RequestRedirect
      requestRedirect:
        statusCode: 303
"#,
    );
    let port = c.ports[&80];
    c.expect(
        "same-namespace",
        &[redirect("/see-other", 303, format!("http://example.com:{port}/see-other")).method("POST")],
    )
    .await;
}

/// HTTPRoute307Redirect.
#[tokio::test(flavor = "multi_thread")]
async fn redirect_307() {
    let c = Conformance::start(
        r#"
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: 307-redirect
  namespace: gateway-conformance-infra
spec:
  parentRefs:
  - name: same-namespace
  rules:
  - matches:
    - path:
        type: PathPrefix
        value: /temporary
    filters:
    - type: RequestRedirect
      requestRedirect:
        statusCode: 307
"#,
    );
    let port = c.ports[&80];
    c.expect("same-namespace", &[redirect("/temporary", 307, format!("http://example.com:{port}/temporary"))]).await;
}

/// HTTPRoute308Redirect.
#[tokio::test(flavor = "multi_thread")]
async fn redirect_308() {
    let c = Conformance::start(
        r#"
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: 308-redirect
  namespace: gateway-conformance-infra
spec:
  parentRefs:
  - name: same-namespace
  rules:
  - matches:
    - path:
        type: PathPrefix
        value: /permanent
    filters:
    - type: RequestRedirect
      requestRedirect:
        statusCode: 308
"#,
    );
    let port = c.ports[&80];
    c.expect("same-namespace", &[redirect("/permanent", 308, format!("http://example.com:{port}/permanent"))]).await;
}

/// HTTPRouteRewriteHost: the backend sees the rewritten Host, with a
/// RequestHeaderModifier beside.
#[tokio::test(flavor = "multi_thread")]
async fn rewrite_host() {
    let c = Conformance::start(
        r#"
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: rewrite-host
  namespace: gateway-conformance-infra
spec:
  hostnames:
    - "rewrite.example"
  parentRefs:
    - name: same-namespace
  rules:
    - matches:
        - path:
            type: PathPrefix
            value: /one
      filters:
        - type: URLRewrite
          urlRewrite:
            hostname: one.example.org
      backendRefs:
        - name: infra-backend-v1
          port: 8080
    - filters:
        - type: URLRewrite
          urlRewrite:
            hostname: example.org
      backendRefs:
        - name: infra-backend-v2
          port: 8080
    - matches:
        - path:
            type: PathPrefix
            value: /rewrite-host-and-modify-headers
      filters:
        - type: URLRewrite
          urlRewrite:
            hostname: test.example.org
        - type: RequestHeaderModifier
          requestHeaderModifier:
            set:
              - name: X-Header-Set
                value: set-overwrites-values
            add:
              - name: X-Header-Add
                value: header-val-1
              - name: X-Header-Add-Append
                value: header-val-2
            remove:
              - X-Header-Remove
      backendRefs:
        - name: infra-backend-v2
          port: 8080
"#,
    );
    c.expect(
        "same-namespace",
        &[
            to("/one", "infra-backend-v1").host("rewrite.example").seen_host("one.example.org"),
            to("/two", "infra-backend-v2").host("rewrite.example").seen_host("example.org"),
            to("/rewrite-host-and-modify-headers", "infra-backend-v2")
                .host("rewrite.example")
                .with("X-Header-Remove", "remove-val")
                .with("X-Header-Add-Append", "append-val-1")
                .seen_host("test.example.org")
                .seen("X-Header-Add", "header-val-1")
                .seen("X-Header-Add-Append", "append-val-1,header-val-2")
                .seen("X-Header-Set", "set-overwrites-values")
                .unseen("X-Header-Remove"),
        ],
    )
    .await;
}

/// HTTPRouteRewritePath: ReplacePrefixMatch (to `/` too) and ReplaceFullPath,
/// with a RequestHeaderModifier beside.
#[tokio::test(flavor = "multi_thread")]
async fn rewrite_path() {
    let c = Conformance::start(
        r#"
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: rewrite-path
  namespace: gateway-conformance-infra
spec:
  parentRefs:
  - name: same-namespace
  rules:
  - matches:
    - path:
        type: PathPrefix
        value: /prefix/one
    filters:
    - type: URLRewrite
      urlRewrite:
        path:
          type: ReplacePrefixMatch
          replacePrefixMatch: /one
    backendRefs:
    - name: infra-backend-v1
      port: 8080
  - matches:
    - path:
        type: PathPrefix
        value: /strip-prefix
    filters:
    - type: URLRewrite
      urlRewrite:
        path:
          type: ReplacePrefixMatch
          replacePrefixMatch: /
    backendRefs:
    - name: infra-backend-v1
      port: 8080
  - matches:
    - path:
        type: PathPrefix
        value: /full/one
    filters:
    - type: URLRewrite
      urlRewrite:
        path:
          type: ReplaceFullPath
          replaceFullPath: /one
    backendRefs:
    - name: infra-backend-v1
      port: 8080
  - matches:
    - path:
        type: PathPrefix
        value: /full/rewrite-path-and-modify-headers
    filters:
    - type: URLRewrite
      urlRewrite:
        path:
          type: ReplaceFullPath
          replaceFullPath: /test
    - type: RequestHeaderModifier
      requestHeaderModifier:
        set:
        - name: X-Header-Set
          value: set-overwrites-values
        add:
        - name: X-Header-Add
          value: header-val-1
        - name: X-Header-Add-Append
          value: header-val-2
        remove:
        - X-Header-Remove
    backendRefs:
    - name: infra-backend-v1
      port: 8080
  - matches:
    - path:
        type: PathPrefix
        value: /prefix/rewrite-path-and-modify-headers
    filters:
    - type: URLRewrite
      urlRewrite:
        path:
          type: ReplacePrefixMatch
          replacePrefixMatch: /prefix
    - type: RequestHeaderModifier
      requestHeaderModifier:
        set:
        - name: X-Header-Set
          value: set-overwrites-values
        add:
        - name: X-Header-Add
          value: header-val-1
        - name: X-Header-Add-Append
          value: header-val-2
        remove:
        - X-Header-Remove
    backendRefs:
    - name: infra-backend-v1
      port: 8080
"#,
    );
    let v1 = "infra-backend-v1";
    c.expect(
        "same-namespace",
        &[
            to("/prefix/one/two", v1).seen_path("/one/two"),
            to("/strip-prefix/three", v1).seen_path("/three"),
            to("/strip-prefix", v1).seen_path("/"),
            to("/full/one/two", v1).seen_path("/one"),
            to("/full/rewrite-path-and-modify-headers/test", v1)
                .with("X-Header-Remove", "remove-val")
                .with("X-Header-Add-Append", "append-val-1")
                .with("X-Header-Set", "set-val")
                .seen_path("/test")
                .seen("X-Header-Add", "header-val-1")
                .seen("X-Header-Add-Append", "append-val-1,header-val-2")
                .seen("X-Header-Set", "set-overwrites-values")
                .unseen("X-Header-Remove"),
            to("/prefix/rewrite-path-and-modify-headers/one", v1)
                .with("X-Header-Remove", "remove-val")
                .with("X-Header-Add-Append", "append-val-1")
                .with("X-Header-Set", "set-val")
                .seen_path("/prefix/one")
                .seen("X-Header-Add", "header-val-1")
                .seen("X-Header-Add-Append", "append-val-1,header-val-2")
                .seen("X-Header-Set", "set-overwrites-values")
                .unseen("X-Header-Remove"),
        ],
    )
    .await;
}

// The invalid parentRef cases: upstream checks only status (the route not
// Accepted, NoMatchingParent; the Gateway with 0 routes attached). What a
// request sees of that is a Gateway routing nothing: 404. The listener
// opens with the Snapshot that has the route, so the 404 is not an early one.

/// HTTPRouteInvalidParentRefNotMatchingListenerPort: no listener on 81.
#[tokio::test(flavor = "multi_thread")]
async fn invalid_parent_ref_not_matching_listener_port() {
    let c = Conformance::start(
        r#"
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: httproute-listener-not-matching-route-port
  namespace: gateway-conformance-infra
spec:
  parentRefs:
  - name: same-namespace
    namespace: gateway-conformance-infra
    # mismatched port here (81 is not an available gateway listener) triggers NoMatchingParent reason
    port: 81
  rules:
  - backendRefs:
    - name: infra-backend-v1
      kind: Service
      port: 8080
"#,
    );
    c.expect("same-namespace", &[refused("/", 404)]).await;
}

/// HTTPRouteInvalidParentRefNotMatchingSectionName: no listener `http1`.
#[tokio::test(flavor = "multi_thread")]
async fn invalid_parent_ref_not_matching_section_name() {
    let c = Conformance::start(
        r#"
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: httproute-listener-not-matching-section-name
  namespace: gateway-conformance-infra
spec:
  parentRefs:
  - name: same-namespace
    namespace: gateway-conformance-infra
    port: 80
    # mismatched sectionName here (http1 is not an available gateway listener) triggers NoMatchingParent reason
    sectionName: http1
  rules:
  - backendRefs:
    - name: infra-backend-v1
      kind: Service
      port: 8080
"#,
    );
    c.expect("same-namespace", &[refused("/", 404)]).await;
}

/// HTTPRouteInvalidParentRefSectionNameNotMatchingPort: listener `http` is
/// not on 81.
#[tokio::test(flavor = "multi_thread")]
async fn invalid_parent_ref_section_name_not_matching_port() {
    let c = Conformance::start(
        r#"
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: gateway-with-one-not-matching-port-and-section-name-route
  namespace: gateway-conformance-infra
spec:
  gatewayClassName: "{GATEWAY_CLASS_NAME}"
  listeners:
  - name: http
    port: 80
    protocol: HTTP
    allowedRoutes:
      kinds:
      - kind: HTTPRoute
      namespaces:
        from: All
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: httproute-listener-section-name-not-matching-port
  namespace: gateway-conformance-infra
spec:
  parentRefs:
  - name: gateway-with-one-not-matching-port-and-section-name-route
    namespace: gateway-conformance-infra
    sectionName: http
    # mismatched port value here (81 does not match gateway http listener's port) triggers NoMatchingParent reason
    port: 81
  rules:
  - backendRefs:
    - name: infra-backend-v1
      kind: Service
      port: 8080
"#,
    );
    c.expect("gateway-with-one-not-matching-port-and-section-name-route", &[refused("/", 404)]).await;
}

/// HTTPRouteRequestTimeout (extended): `timeouts.request` answers 504 past
/// it; `0s` turns it off. Our echo backend takes upstream's `?delay=`.
#[tokio::test(flavor = "multi_thread")]
async fn request_timeout() {
    let c = Conformance::start(
        r#"
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: request-timeout
  namespace: gateway-conformance-infra
spec:
  parentRefs:
  - name: same-namespace
  rules:
  - matches:
    - path:
        type: PathPrefix
        value: /request-timeout
    backendRefs:
    - name: infra-backend-v1
      port: 8080
    timeouts:
      request: 500ms
  - matches:
    - path:
        type: PathPrefix
        value: /disable-request-timeout
    backendRefs:
    - name: infra-backend-v1
      port: 8080
    timeouts:
      request: "0s"
"#,
    );
    c.expect(
        "same-namespace",
        &[
            to("/request-timeout", "infra-backend-v1"),
            refused("/request-timeout?delay=1s", 504),
            to("/disable-request-timeout?delay=1s", "infra-backend-v1"),
        ],
    )
    .await;
}

/// HTTPRouteBackendProtocolH2C (extended): a backend port of appProtocol
/// `kubernetes.io/h2c` is spoken to in HTTP/2 with prior knowledge.
#[tokio::test(flavor = "multi_thread")]
async fn backend_protocol_h2c() {
    let c = Conformance::start(
        r#"
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: backend-protocol-h2c
  namespace: gateway-conformance-infra
spec:
  parentRefs:
  - name: same-namespace
  rules:
  - backendRefs:
    - name: infra-backend-v1
      port: 8081
"#,
    );
    c.expect("same-namespace", &[to("/", "infra-backend-v1")]).await;
    let reply = get(&client(), c.addr("same-namespace", 80), "example.com", "/").await;
    assert_eq!(reply.json()["version"], "HTTP/2.0", "the backend was not spoken to in h2c: {:?}", reply.json());
}

/// HTTPRouteBackendTimeout (extended): `timeouts.backendRequest` bounds each
/// attempt; `0s` turns it off.
#[tokio::test(flavor = "multi_thread")]
async fn backend_request_timeout() {
    let c = Conformance::start(
        r#"
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: backend-request-timeout
  namespace: gateway-conformance-infra
spec:
  parentRefs:
  - name: same-namespace
  rules:
  - matches:
    - path:
        type: PathPrefix
        value: /backend-timeout
    backendRefs:
    - name: infra-backend-v1
      port: 8080
    timeouts:
      backendRequest: 500ms
  - matches:
    - path:
        type: PathPrefix
        value: /disable-backend-timeout
    backendRefs:
    - name: infra-backend-v1
      port: 8080
    timeouts:
      backendRequest: "0s"
"#,
    );
    c.expect(
        "same-namespace",
        &[
            to("/backend-timeout", "infra-backend-v1"),
            refused("/backend-timeout?delay=1s", 504),
            to("/disable-backend-timeout?delay=1s", "infra-backend-v1"),
        ],
    )
    .await;
}

impl Conformance {
    /// Sends `n` requests for `path` to Gateway `gateway`, each answered by
    /// `backend`; then waits for the copies mirrored meanwhile to land and
    /// returns how many each backend of `mirrors` saw.
    async fn mirrored(&self, gateway: &str, path: &str, n: usize, backend: &str, mirrors: &[&str]) -> Vec<usize> {
        let c = client();
        let before = self.settled(path, mirrors).await;
        for _ in 0..n {
            let reply = send(&c, self.addr(gateway, 80), "GET", "example.com", path, &[], vec![]).await.unwrap();
            assert_eq!((reply.status, reply.backend.as_str()), (200, backend), "{path}");
        }
        let after = self.settled(path, mirrors).await;
        after.iter().zip(&before).map(|(a, b)| a - b).collect()
    }

    /// How many requests for `path` each of `mirrors` saw, once no more
    /// arrive for a second (copies are sent after their request is
    /// answered, so they trail it).
    async fn settled(&self, path: &str, mirrors: &[&str]) -> Vec<usize> {
        let count = || mirrors.iter().map(|m| self.seen_by(m, path)).collect::<Vec<usize>>();
        let mut last = count();
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let now = count();
            if now == last || Instant::now() > deadline {
                return now;
            }
            last = now;
        }
    }
}

/// Within four standard deviations of `n` draws of probability `p`, as
/// upstream's distribution checks allow.
fn binomial_close(count: usize, n: usize, p: f64) -> bool {
    let (n, count) = (n as f64, count as f64);
    (count - n * p).abs() <= 4.0 * (n * p * (1.0 - p)).sqrt()
}

const MIRROR_ROUTE_HEADERS: &str = r#"
    - type: RequestHeaderModifier
      requestHeaderModifier:
        set:
        - name: X-Header-Set
          value: set-overwrites-values
        add:
        - name: X-Header-Add
          value: header-val-1
        - name: X-Header-Add-Append
          value: header-val-2
        remove:
        - X-Header-Remove"#;

/// The modified request the backend sees in the mirror cases with headers.
fn modified(path: &'static str) -> Expect {
    to(path, "infra-backend-v1")
        .with("X-Header-Remove", "remove-val")
        .with("X-Header-Add-Append", "append-val-1")
        .seen("X-Header-Add", "header-val-1")
        .seen("X-Header-Add-Append", "append-val-1,header-val-2")
        .seen("X-Header-Set", "set-overwrites-values")
        .unseen("X-Header-Remove")
}

/// HTTPRouteRequestMirror: each request is answered by infra-backend-v1 and
/// a copy reaches infra-backend-v2, with a RequestHeaderModifier beside.
#[tokio::test(flavor = "multi_thread")]
async fn request_mirror() {
    let case = format!(
        r#"
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: request-mirror
  namespace: gateway-conformance-infra
spec:
  parentRefs:
  - name: same-namespace
  rules:
  - matches:
    - path:
        type: PathPrefix
        value: /mirror
    filters:
    - type: RequestMirror
      requestMirror:
        backendRef:
          name: infra-backend-v2
          namespace: gateway-conformance-infra
          port: 8080
    backendRefs:
    - name: infra-backend-v1
      port: 8080
      namespace: gateway-conformance-infra
  - matches:
    - path:
        type: PathPrefix
        value: /mirror-and-modify-headers
    filters:{MIRROR_ROUTE_HEADERS}
    - type: RequestMirror
      requestMirror:
        backendRef:
          name: infra-backend-v2
          namespace: gateway-conformance-infra
          port: 8080
    backendRefs:
    - name: infra-backend-v1
      port: 8080
      namespace: gateway-conformance-infra
"#
    );
    let c = Conformance::start_with(&case, &["infra-backend-v2"]);
    c.expect("same-namespace", &[to("/mirror", "infra-backend-v1"), modified("/mirror-and-modify-headers")]).await;
    let mirrored = c.mirrored("same-namespace", "/mirror", 5, "infra-backend-v1", &["infra-backend-v2"]).await;
    assert_eq!(mirrored, [5], "every request of /mirror copied once");
    let mirrored =
        c.mirrored("same-namespace", "/mirror-and-modify-headers", 5, "infra-backend-v1", &["infra-backend-v2"]).await;
    assert_eq!(mirrored, [5]);
}

/// HTTPRouteRequestMultipleMirrors: two RequestMirror filters, a copy to
/// each of infra-backend-v2 and infra-backend-v3.
#[tokio::test(flavor = "multi_thread")]
async fn request_multiple_mirrors() {
    let mirrors = r#"
    - type: RequestMirror
      requestMirror:
        backendRef:
          name: infra-backend-v2
          namespace: gateway-conformance-infra
          port: 8080
    - type: RequestMirror
      requestMirror:
        backendRef:
          name: infra-backend-v3
          namespace: gateway-conformance-infra
          port: 8080"#;
    let case = format!(
        r#"
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: request-multiple-mirrors
  namespace: gateway-conformance-infra
spec:
  parentRefs:
  - name: same-namespace
  rules:
  - matches:
    - path:
        type: PathPrefix
        value: /multi-mirror
    filters:{mirrors}
    backendRefs:
    - name: infra-backend-v1
      port: 8080
      namespace: gateway-conformance-infra
  - matches:
    - path:
        type: PathPrefix
        value: /multi-mirror-and-modify-request-headers
    filters:{MIRROR_ROUTE_HEADERS}{mirrors}
    backendRefs:
    - name: infra-backend-v1
      port: 8080
      namespace: gateway-conformance-infra
"#
    );
    let both = ["infra-backend-v2", "infra-backend-v3"];
    let c = Conformance::start_with(&case, &both);
    let modify = "/multi-mirror-and-modify-request-headers";
    c.expect("same-namespace", &[to("/multi-mirror", "infra-backend-v1"), modified(modify)]).await;
    assert_eq!(c.mirrored("same-namespace", "/multi-mirror", 5, "infra-backend-v1", &both).await, [5, 5]);
    assert_eq!(c.mirrored("same-namespace", modify, 5, "infra-backend-v1", &both).await, [5, 5]);
}

/// HTTPRoutePercentageMirror: `percent: 20`, `fraction: 25/50` and
/// `percent: 35` copy that share of 500 requests, within upstream's
/// binomial tolerance.
#[tokio::test(flavor = "multi_thread")]
async fn request_percentage_mirror() {
    let rule = |path: &str, share: &str, headers: &str| {
        format!(
            r#"
  - matches:
    - path:
        type: PathPrefix
        value: {path}
    filters:{headers}
    - type: RequestMirror
      requestMirror:
        backendRef:
          name: infra-backend-v2
          namespace: gateway-conformance-infra
          port: 8080
        {share}
    backendRefs:
    - name: infra-backend-v1
      port: 8080
      namespace: gateway-conformance-infra"#
        )
    };
    let case = format!(
        "
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: request-percentage-mirror
  namespace: gateway-conformance-infra
spec:
  parentRefs:
  - name: same-namespace
  rules:{}{}{}
",
        rule("/percent-mirror", "percent: 20", ""),
        rule("/percent-mirror-fraction", "fraction: {numerator: 25, denominator: 50}", ""),
        rule("/percent-mirror-and-modify-headers", "percent: 35", MIRROR_ROUTE_HEADERS),
    );
    let c = Conformance::start_with(&case, &["infra-backend-v2"]);
    let modify = "/percent-mirror-and-modify-headers";
    c.expect("same-namespace", &[to("/percent-mirror", "infra-backend-v1"), modified(modify)]).await;
    for (path, p) in [("/percent-mirror", 0.2), ("/percent-mirror-fraction", 0.5), (modify, 0.35)] {
        let copies = c.mirrored("same-namespace", path, 500, "infra-backend-v1", &["infra-backend-v2"]).await[0];
        assert!(binomial_close(copies, 500, p), "{path}: {copies} of 500 mirrored, expected about {}", 500.0 * p);
    }
}

/// A preflight for `path` from `origin` asking for `method`, answered by
/// Sluice with 204.
fn preflight(path: &'static str, origin: &'static str, method: &'static str) -> Expect {
    refused(path, 204).method("OPTIONS").with("Origin", origin).with("access-control-request-method", method)
}

/// HTTPRouteCORS: upstream's four routes and eighteen requests; where the
/// spec lets an answer be one of several, the one Sluice gives.
#[tokio::test(flavor = "multi_thread")]
async fn cors() {
    let c = Conformance::start(
        r#"
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: cors-multiple-origins-methods-headers
  namespace: gateway-conformance-infra
spec:
  parentRefs:
  - name: same-namespace
  rules:
  - filters:
    - type: CORS
      cors:
        allowOrigins:
        - "https://www.foo.com"
        - "https://*.bar.com"
        allowMethods:
        - GET
        - OPTIONS
        allowHeaders:
        - "x-header-1"
        - "x-header-2"
        exposeHeaders:
        - "x-header-3"
        - "x-header-4"
        allowCredentials: true
        maxAge: 3600
    matches:
    - path:
        type: PathPrefix
        value: /cors-1
    backendRefs:
    - name: infra-backend-v1
      port: 8080
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: cors-wildcard-methods
  namespace: gateway-conformance-infra
spec:
  parentRefs:
  - name: same-namespace
  rules:
  - filters:
    - type: CORS
      cors:
        allowOrigins:
        - "https://www.foo.com"
        allowMethods: ["*"]
    matches:
    - path:
        type: PathPrefix
        value: /cors-2
    backendRefs:
    - name: infra-backend-v1
      port: 8080
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: cors-wildcard-origin
  namespace: gateway-conformance-infra
spec:
  parentRefs:
  - name: same-namespace
  rules:
  - filters:
    - type: CORS
      cors:
        allowOrigins:
        - "*"
        allowMethods: ["PUT"]
        allowCredentials: false
    matches:
    - path:
        type: PathPrefix
        value: /cors-wildcard-origin
    backendRefs:
    - name: infra-backend-v1
      port: 8080
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: cors-wildcard-methods-headers
  namespace: gateway-conformance-infra
spec:
  parentRefs:
  - name: same-namespace
  rules:
  - filters:
    - type: CORS
      cors:
        allowOrigins:
        - "*"
        allowMethods: ["*"]
        allowHeaders: ["*"]
        allowCredentials: true
    matches:
    - path:
        type: PathPrefix
        value: /cors-wildcard-methods-headers
    backendRefs:
    - name: infra-backend-v1
      port: 8080
  - filters:
    - type: CORS
      cors:
        allowOrigins:
        - "*"
        allowMethods: ["*"]
        allowHeaders: ["*"]
        allowCredentials: false
    matches:
    - path:
        type: PathPrefix
        value: /cors-wildcard-methods-headers-unauth
    backendRefs:
    - name: infra-backend-v1
      port: 8080
"#,
    );
    let full = |origin: &'static str| {
        preflight("/cors-1", origin, "GET")
            .with("access-control-request-headers", "x-header-1, x-header-2")
            .answer_has("access-control-allow-origin", origin)
            .answer_has("access-control-allow-methods", "GET, OPTIONS")
            .answer_has("access-control-allow-headers", "x-header-1, x-header-2")
            .answer_has("access-control-expose-headers", "x-header-3, x-header-4")
            .answer_has("access-control-max-age", "3600")
            .answer_has("access-control-allow-credentials", "true")
    };
    let v1 = "infra-backend-v1";
    let wildcard_unauth = "/cors-wildcard-methods-headers-unauth";
    c.expect(
        "same-namespace",
        &[
            full("https://www.foo.com"),
            full("https://www.bar.com"),
            // `*` takes any number of labels.
            full("https://xpto.www.bar.com"),
            // Not let in: the request goes on to the backend, without the headers.
            to("/cors-1", v1)
                .method("OPTIONS")
                .with("Origin", "https://foobar.com")
                .with("access-control-request-method", "GET")
                .answer_lacks("access-control-allow-origin"),
            to("/cors-1", v1)
                .with("Origin", "https://www.foo.com")
                .answer_has("access-control-allow-origin", "https://www.foo.com"),
            to("/cors-1", v1)
                .with("Origin", "https://www.bar.com")
                .answer_has("access-control-allow-origin", "https://www.bar.com"),
            to("/cors-1", v1).with("Origin", "https://foobar.com").answer_lacks("access-control-allow-origin"),
            preflight("/cors-2", "https://www.foo.com", "POST")
                .answer_has("access-control-allow-methods", "POST")
                .answer_has("access-control-allow-origin", "https://www.foo.com")
                .answer_lacks("access-control-allow-credentials"),
            preflight("/cors-wildcard-origin", "https://foobar.com", "PUT")
                .answer_has("access-control-allow-origin", "*")
                .answer_has("access-control-allow-methods", "PUT")
                .answer_lacks("access-control-allow-credentials"),
            preflight("/cors-wildcard-origin", "https://foobar.com:12345", "PUT")
                .answer_has("access-control-allow-origin", "*")
                .answer_has("access-control-allow-methods", "PUT")
                .answer_lacks("access-control-allow-credentials"),
            to("/cors-wildcard-origin", v1)
                .method("PUT")
                .with("Origin", "https://foobar.com:12345")
                .answer_has("access-control-allow-origin", "*"),
            to("/cors-wildcard-origin", v1)
                .method("PUT")
                .with("Origin", "https://foobar.com")
                .answer_has("access-control-allow-origin", "*")
                .answer_lacks("access-control-allow-credentials"),
            // With credentials, no `*`: what the request asked for.
            preflight("/cors-wildcard-methods-headers", "https://other.foo.com", "PUT")
                .with("access-control-request-headers", "x-header-1, x-header-2")
                .answer_has("access-control-allow-origin", "https://other.foo.com")
                .answer_has("access-control-allow-methods", "PUT")
                .answer_has("access-control-allow-headers", "x-header-1, x-header-2")
                .answer_has("access-control-allow-credentials", "true"),
            preflight(wildcard_unauth, "https://other.foo.com", "PUT")
                .with("access-control-request-headers", "x-header-1, x-header-2")
                .answer_has("access-control-allow-origin", "*")
                .answer_has("access-control-allow-methods", "PUT")
                .answer_has("access-control-allow-headers", "x-header-1, x-header-2")
                .answer_lacks("access-control-allow-credentials"),
            to("/cors-wildcard-methods-headers", v1)
                .with("Origin", "https://other.foo.com")
                .answer_has("access-control-allow-origin", "https://other.foo.com")
                .answer_has("access-control-allow-credentials", "true"),
            to(wildcard_unauth, v1)
                .with("Origin", "https://other.foo.com")
                .answer_has("access-control-allow-origin", "*")
                .answer_lacks("access-control-allow-credentials"),
        ],
    )
    .await;
}

/// GatewayHTTPListenerIsolation, both of upstream's Gateways: a request
/// whose host a more specific listener takes is served only by that
/// listener's routes, whatever hostnames the others' routes name.
#[tokio::test(flavor = "multi_thread")]
async fn http_listener_isolation() {
    let c = Conformance::start(
        r#"
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: http-listener-isolation
  namespace: gateway-conformance-infra
spec:
  gatewayClassName: "{GATEWAY_CLASS_NAME}"
  listeners:
  - name: empty-hostname
    port: 80
    protocol: HTTP
    allowedRoutes:
      namespaces:
        from: All
  - name: wildcard-example-com
    port: 80
    protocol: HTTP
    hostname: "*.example.com"
    allowedRoutes:
      namespaces:
        from: All
  - name: wildcard-foo-example-com
    port: 80
    protocol: HTTP
    hostname: "*.foo.example.com"
    allowedRoutes:
      namespaces:
        from: All
  - name: abc-foo-example-com
    port: 80
    protocol: HTTP
    hostname: "abc.foo.example.com"
    allowedRoutes:
      namespaces:
        from: All
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: attaches-to-empty-hostname
  namespace: gateway-conformance-infra
spec:
  parentRefs:
  - name: http-listener-isolation
    namespace: gateway-conformance-infra
    sectionName: empty-hostname
  rules:
  - matches:
    - path:
        type: PathPrefix
        value: /empty-hostname
    backendRefs:
    - name: infra-backend-v1
      port: 8080
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: attaches-to-wildcard-example-com
  namespace: gateway-conformance-infra
spec:
  parentRefs:
  - name: http-listener-isolation
    namespace: gateway-conformance-infra
    sectionName: wildcard-example-com
  rules:
  - matches:
    - path:
        type: PathPrefix
        value: /wildcard-example-com
    backendRefs:
    - name: infra-backend-v1
      port: 8080
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: attaches-to-wildcard-foo-example-com
  namespace: gateway-conformance-infra
spec:
  parentRefs:
  - name: http-listener-isolation
    namespace: gateway-conformance-infra
    sectionName: wildcard-foo-example-com
  rules:
  - matches:
    - path:
        type: PathPrefix
        value: /wildcard-foo-example-com
    backendRefs:
    - name: infra-backend-v1
      port: 8080
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: attaches-to-abc-foo-example-com
  namespace: gateway-conformance-infra
spec:
  parentRefs:
  - name: http-listener-isolation
    namespace: gateway-conformance-infra
    sectionName: abc-foo-example-com
  rules:
  - matches:
    - path:
        type: PathPrefix
        value: /abc-foo-example-com
    backendRefs:
    - name: infra-backend-v1
      port: 8080
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: http-listener-isolation-with-hostname-intersection
  namespace: gateway-conformance-infra
spec:
  gatewayClassName: "{GATEWAY_CLASS_NAME}"
  listeners:
  - name: empty-hostname
    port: 80
    protocol: HTTP
    allowedRoutes:
      namespaces:
        from: All
  - name: wildcard-example-com
    port: 80
    protocol: HTTP
    hostname: "*.example.com"
    allowedRoutes:
      namespaces:
        from: All
  - name: wildcard-foo-example-com
    port: 80
    protocol: HTTP
    hostname: "*.foo.example.com"
    allowedRoutes:
      namespaces:
        from: All
  - name: abc-foo-example-com
    port: 80
    protocol: HTTP
    hostname: "abc.foo.example.com"
    allowedRoutes:
      namespaces:
        from: All
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: attaches-to-empty-hostname-with-hostname-intersection
  namespace: gateway-conformance-infra
spec:
  parentRefs:
  - name: http-listener-isolation-with-hostname-intersection
    namespace: gateway-conformance-infra
    sectionName: empty-hostname
  hostnames:
  - "bar.com"
  - "*.example.com"
  - "*.foo.example.com"
  - "abc.foo.example.com"
  rules:
  - matches:
    - path:
        type: PathPrefix
        value: /empty-hostname
    backendRefs:
    - name: infra-backend-v1
      port: 8080
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: attaches-to-wildcard-example-com-with-hostname-intersection
  namespace: gateway-conformance-infra
spec:
  parentRefs:
  - name: http-listener-isolation-with-hostname-intersection
    namespace: gateway-conformance-infra
    sectionName: wildcard-example-com
  hostnames:
  - "bar.com"
  - "*.example.com"
  - "*.foo.example.com"
  - "abc.foo.example.com"
  rules:
  - matches:
    - path:
        type: PathPrefix
        value: /wildcard-example-com
    backendRefs:
    - name: infra-backend-v1
      port: 8080
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: attaches-to-wildcard-foo-example-com-with-hostname-intersection
  namespace: gateway-conformance-infra
spec:
  parentRefs:
  - name: http-listener-isolation-with-hostname-intersection
    namespace: gateway-conformance-infra
    sectionName: wildcard-foo-example-com
  hostnames:
  - "bar.com"
  - "*.example.com"
  - "*.foo.example.com"
  - "abc.foo.example.com"
  rules:
  - matches:
    - path:
        type: PathPrefix
        value: /wildcard-foo-example-com
    backendRefs:
    - name: infra-backend-v1
      port: 8080
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: attaches-to-abc-foo-example-com-with-hostname-intersection
  namespace: gateway-conformance-infra
spec:
  parentRefs:
  - name: http-listener-isolation-with-hostname-intersection
    namespace: gateway-conformance-infra
    sectionName: abc-foo-example-com
  hostnames:
  - "bar.com"
  - "*.example.com"
  - "*.foo.example.com"
  - "abc.foo.example.com"
  rules:
  - matches:
    - path:
        type: PathPrefix
        value: /abc-foo-example-com
    backendRefs:
    - name: infra-backend-v1
      port: 8080
"#,
    );
    let v1 = "infra-backend-v1";
    let paths = ["/empty-hostname", "/wildcard-example-com", "/wildcard-foo-example-com", "/abc-foo-example-com"];
    // Each host is served the one path of the listener that takes it.
    let hosts = ["bar.com", "bar.example.com", "bar.foo.example.com", "abc.foo.example.com"];
    let mut cases = Vec::new();
    for (h, host) in hosts.iter().enumerate() {
        for (p, path) in paths.iter().enumerate() {
            let case = if h == p { to(path, v1) } else { refused(path, 404) };
            cases.push(case.host(host));
        }
    }
    for gateway in ["http-listener-isolation", "http-listener-isolation-with-hostname-intersection"] {
        c.expect(gateway, &cases).await;
    }
}

/// HTTPRouteBackendProtocolWebSocket: a backend port of `appProtocol:
/// kubernetes.io/ws` takes the upgrade, text and binary frames both ways.
#[tokio::test(flavor = "multi_thread")]
async fn backend_protocol_websocket() {
    let c = Conformance::start(
        r#"
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: backend-protocol-ws
  namespace: gateway-conformance-infra
spec:
  parentRefs:
  - name: same-namespace
  rules:
  - backendRefs:
    - name: infra-backend-v1
      port: 8082
"#,
    );
    c.expect("same-namespace", &[to("/", "infra-backend-v1")]).await;
    websocket_round_trips_at(c.addr("same-namespace", 80), "example.com").await;
}

/// HTTPRouteNamedRouteRule: a rule's `name` changes nothing it serves.
#[tokio::test(flavor = "multi_thread")]
async fn named_rule() {
    let c = Conformance::start(
        r#"
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: http-named-rules
  namespace: gateway-conformance-infra
spec:
  parentRefs:
  - name: same-namespace
  rules:
  - name: named-rule
    matches:
    - path:
        type: PathPrefix
        value: /named
    backendRefs:
    - name: infra-backend-v1
      port: 8080
  - matches:
    - path:
        type: PathPrefix
        value: /unnamed
    backendRefs:
    - name: infra-backend-v2
      port: 8080
"#,
    );
    c.expect("same-namespace", &[to("/named", "infra-backend-v1"), to("/unnamed", "infra-backend-v2")]).await;
}
