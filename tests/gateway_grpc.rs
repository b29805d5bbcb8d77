//! Gateway API GRPCRoutes, reproduced from upstream's conformance cases
//! (GRPCExactMethodMatching, GRPCRouteHeaderMatching, GRPCRouteWeight,
//! GRPCRouteNamedRule) against the real binary in manifest mode, with tonic
//! clients and servers. Upstream's backends are an echo service that names
//! the pod; here each backend is the standard gRPC health service, told
//! apart by the overall status it reports (v1 SERVING, v2 NOT_SERVING, v3
//! UNKNOWN), and upstream's `Echo` / `EchoTwo` methods are the health
//! service's `Check` / `Watch`.

mod common;
use common::*;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};
use tonic::transport::{Channel, Endpoint, Server};
use tonic_health::ServingStatus;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus as Reported;
use tonic_health::pb::health_client::HealthClient;

const NS: &str = "gateway-conformance-infra";
const HEALTH: &str = "grpc.health.v1.Health";

/// The backends, the overall status each is told to report and the one
/// its answers carry.
const BACKENDS: [(&str, ServingStatus, Reported); 3] = [
    ("grpc-infra-backend-v1", ServingStatus::Serving, Reported::Serving),
    ("grpc-infra-backend-v2", ServingStatus::NotServing, Reported::NotServing),
    ("grpc-infra-backend-v3", ServingStatus::Unknown, Reported::Unknown),
];

fn backend_of(status: i32) -> &'static str {
    BACKENDS.iter().find(|(.., r)| *r as i32 == status).map_or("(unknown)", |(name, ..)| name)
}

/// Sluice serving `routes` on Gateway `same-namespace` (on `ip`), in front
/// of the three health backends; the Gateway's listener address.
async fn start(ip: &str, routes: &str) -> (Sluice, SocketAddr) {
    let mut manifests = "apiVersion: gateway.networking.k8s.io/v1\nkind: GatewayClass\nmetadata: {name: sluice}\nspec: {controllerName: sluice.io/gateway-controller}\n".to_owned();
    for (name, status, _) in BACKENDS {
        let at = SocketAddr::from(([127, 0, 0, 1], free_port(&["127.0.0.1"])));
        let (reporter, health) = tonic_health::server::health_reporter();
        reporter.set_service_status("", status).await;
        tokio::spawn(Server::builder().add_service(health).serve(at));
        wait_connectable(at);
        manifests += &format!(
            "---\napiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: {NS}}}\nspec:\n  ports: [{{name: grpc, port: 8080, targetPort: {port}}}]\n---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {{name: {name}-x, namespace: {NS}, labels: {{kubernetes.io/service-name: {name}}}}}\naddressType: IPv4\nports: [{{name: grpc, port: {port}}}]\nendpoints:\n- addresses: [\"127.0.0.1\"]\n",
            port = at.port()
        );
    }
    let ip: IpAddr = ip.parse().unwrap();
    let port = free_port(&[&ip.to_string()]);
    manifests += &format!(
        "---\napiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {{name: same-namespace, namespace: {NS}}}\nspec:\n  gatewayClassName: sluice\n  addresses: [{{type: IPAddress, value: \"{ip}\"}}]\n  listeners:\n  - {{name: http, port: {port}, protocol: HTTP, allowedRoutes: {{namespaces: {{from: Same}}}}}}\n---\n{routes}"
    );
    let s = Sluice::start(&[("gateway.yaml", &manifests)], &[]);
    (s, SocketAddr::new(ip, port))
}

async fn client(at: SocketAddr) -> HealthClient<Channel> {
    HealthClient::new(Endpoint::from_shared(format!("http://{at}")).unwrap().connect_lazy())
}

/// Request metadata: (name, value) pairs.
type Metadata = &'static [(&'static str, &'static str)];

/// The backend that answered a call, or the call's code.
type Answer = Result<&'static str, tonic::Code>;

/// `Check` with `metadata`.
async fn check(c: &mut HealthClient<Channel>, metadata: Metadata) -> Answer {
    let mut req = tonic::Request::new(HealthCheckRequest { service: String::new() });
    for (k, v) in metadata {
        req.metadata_mut().insert(*k, v.parse().unwrap());
    }
    match tokio::time::timeout(Duration::from_secs(5), c.check(req)).await {
        Ok(Ok(r)) => Ok(backend_of(r.into_inner().status)),
        Ok(Err(status)) => Err(status.code()),
        Err(_) => Err(tonic::Code::DeadlineExceeded),
    }
}

/// `Watch`: the backend whose first message answered.
async fn watch(c: &mut HealthClient<Channel>) -> Answer {
    let req = tonic::Request::new(HealthCheckRequest { service: String::new() });
    let mut stream = c.watch(req).await.map_err(|s| s.code())?.into_inner();
    match tokio::time::timeout(Duration::from_secs(5), stream.message()).await {
        Ok(Ok(Some(r))) => Ok(backend_of(r.status)),
        Ok(Err(status)) => Err(status.code()),
        _ => Err(tonic::Code::DeadlineExceeded),
    }
}

/// Retries `call` until it gives `want`, for at most 10 s (the Snapshot
/// with the Gateway may be on its way).
async fn eventually<F, Fut>(what: &str, s: &Sluice, want: Answer, mut call: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Answer>,
{
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let got = call().await;
        if got == want {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: got {got:?}, want {want:?}\nlog:\n{}", s.log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `curl` over h2c with a gRPC content type: the HTTP status of a call to
/// `path`.
fn h2c_status(at: SocketAddr, path: &str) -> String {
    let out = std::process::Command::new("curl")
        .args(["-s", "--http2-prior-knowledge", "--max-time", "5", "-o", "/dev/null", "-w", "%{http_code}"])
        .args(["-X", "POST", "-H", "content-type: application/grpc", "-H", "te: trailers"])
        .arg(format!("http://{at}{path}"))
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `Check` goes to grpc-infra-backend-v1 and `Watch` to v2 through
/// `routes` on Gateway address `ip`; the Sluice serving them and where.
async fn check_and_watch(ip: &str, routes: &str) -> (Sluice, SocketAddr) {
    let (s, at) = start(ip, routes).await;
    let mut c = client(at).await;
    eventually("Check", &s, Ok("grpc-infra-backend-v1"), || {
        let mut c = c.clone();
        async move { check(&mut c, &[]).await }
    })
    .await;
    assert_eq!(watch(&mut c).await, Ok("grpc-infra-backend-v2"));
    (s, at)
}

/// GRPCExactMethodMatching: `Check` and `Watch` go to the rules naming
/// them; a method no rule names gets 404, which gRPC reads as
/// Unimplemented.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exact_method_matching() {
    let routes = format!(
        "apiVersion: gateway.networking.k8s.io/v1\nkind: GRPCRoute\nmetadata: {{name: exact-matching, namespace: {NS}}}\nspec:\n  parentRefs: [{{name: same-namespace}}]\n  rules:\n  - matches: [{{method: {{service: {HEALTH}, method: Check}}}}]\n    backendRefs: [{{name: grpc-infra-backend-v1, port: 8080}}]\n  - matches: [{{method: {{service: {HEALTH}, method: Watch}}}}]\n    backendRefs: [{{name: grpc-infra-backend-v2, port: 8080}}]\n"
    );
    let (_s, at) = check_and_watch("127.0.3.1", &routes).await;
    assert_eq!(h2c_status(at, &format!("/{HEALTH}/List")), "404");
}

/// GRPCRouteHeaderMatching: upstream's five rules and eleven calls; the
/// rule with more header matches wins, then the earlier rule.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn header_matching() {
    let routes = format!(
        r#"apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {{name: grpc-header-matching, namespace: {NS}}}
spec:
  parentRefs: [{{name: same-namespace}}]
  rules:
  - matches: [{{headers: [{{name: version, value: one}}]}}]
    backendRefs: [{{name: grpc-infra-backend-v1, port: 8080}}]
  - matches: [{{headers: [{{name: version, value: two}}]}}]
    backendRefs: [{{name: grpc-infra-backend-v2, port: 8080}}]
  - matches: [{{headers: [{{name: version, value: two}}, {{name: color, value: orange}}]}}]
    backendRefs: [{{name: grpc-infra-backend-v1, port: 8080}}]
  - matches: [{{headers: [{{name: color, value: blue}}]}}, {{headers: [{{name: color, value: green}}]}}]
    backendRefs: [{{name: grpc-infra-backend-v1, port: 8080}}]
  - matches: [{{headers: [{{name: color, value: red}}]}}, {{headers: [{{name: color, value: yellow}}]}}]
    backendRefs: [{{name: grpc-infra-backend-v2, port: 8080}}]
"#
    );
    let (s, at) = start("127.0.3.2", &routes).await;
    let c = client(at).await;
    let (v1, v2, none) = (Ok("grpc-infra-backend-v1"), Ok("grpc-infra-backend-v2"), Err(tonic::Code::Unimplemented));
    let cases: [(Metadata, Answer); 11] = [
        (&[("version", "one")], v1),
        (&[("version", "two")], v2),
        (&[("version", "two"), ("color", "orange")], v1),
        (&[("version", "two"), ("color", "blue")], v2),
        (&[("color", "orange")], none),
        (&[("some-other-header", "one")], none),
        (&[("color", "blue")], v1),
        (&[("color", "green")], v1),
        (&[("color", "red")], v2),
        (&[("color", "yellow")], v2),
        (&[("color", "purple")], none),
    ];
    for (metadata, want) in cases {
        eventually(&format!("{metadata:?}"), &s, want, || {
            let mut c = c.clone();
            async move { check(&mut c, metadata).await }
        })
        .await;
    }
}

/// GRPCRouteWeight: 70/30/0 over 500 calls on one connection, v1's share
/// within four standard deviations of 70%.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weight() {
    let routes = format!(
        "apiVersion: gateway.networking.k8s.io/v1\nkind: GRPCRoute\nmetadata: {{name: weighted-backends, namespace: {NS}}}\nspec:\n  parentRefs: [{{name: same-namespace}}]\n  rules:\n  - backendRefs:\n    - {{name: grpc-infra-backend-v1, port: 8080, weight: 70}}\n    - {{name: grpc-infra-backend-v2, port: 8080, weight: 30}}\n    - {{name: grpc-infra-backend-v3, port: 8080, weight: 0}}\n"
    );
    let (s, at) = start("127.0.3.3", &routes).await;
    let mut c = client(at).await;
    eventually("any answer", &s, Ok("grpc-infra-backend-v1"), || {
        let mut c = c.clone();
        async move { check(&mut c, &[]).await }
    })
    .await;
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for _ in 0..500 {
        *seen.entry(check(&mut c, &[]).await.expect("every call answered")).or_default() += 1;
    }
    let v1 = seen.get("grpc-infra-backend-v1").copied().unwrap_or(0);
    assert_eq!(v1 + seen.get("grpc-infra-backend-v2").copied().unwrap_or(0), 500, "v3 has weight 0: {seen:?}");
    assert!((309..=391).contains(&v1), "about 70% to v1: {seen:?}");
}

/// GRPCRouteNamedRule: a rule's `name` changes nothing it serves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn named_rule() {
    let routes = format!(
        "apiVersion: gateway.networking.k8s.io/v1\nkind: GRPCRoute\nmetadata: {{name: grpc-named-rules, namespace: {NS}}}\nspec:\n  parentRefs: [{{name: same-namespace}}]\n  rules:\n  - name: named-rule\n    matches: [{{method: {{service: {HEALTH}, method: Check}}}}]\n    backendRefs: [{{name: grpc-infra-backend-v1, port: 8080}}]\n  - matches: [{{method: {{service: {HEALTH}, method: Watch}}}}]\n    backendRefs: [{{name: grpc-infra-backend-v2, port: 8080}}]\n"
    );
    check_and_watch("127.0.3.4", &routes).await;
}
