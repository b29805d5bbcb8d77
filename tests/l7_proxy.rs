//! The L7 proxy end to end: the real binary, echo upstreams on 127.0.0.2 and
//! 127.0.0.3 sharing a port, requests as a client sends them.

mod common;
use common::*;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

fn addrs(port: u16, ips: &[&str]) -> Vec<SocketAddr> {
    ips.iter().map(|ip| format!("{ip}:{port}").parse().unwrap()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_path_routing_and_default_backend() {
    let port = free_port(&["127.0.0.2", "127.0.0.3", "127.0.0.4"]);
    let _a = echo("apache", &addrs(port, &["127.0.0.2"]), None);
    let _n = echo("nginx", &addrs(port, &["127.0.0.3"]), None);
    let _d = echo("default", &addrs(port, &["127.0.0.4"]), None);
    let manifests = service("my-apache", &addrs(port, &["127.0.0.2"]))
        + &service("my-nginx", &addrs(port, &["127.0.0.3"]))
        + &service("fallback", &addrs(port, &["127.0.0.4"]))
        + &ingress("apache", "test.apache.ingress", "/", "my-apache", &[])
        + &ingress("nginx", "test.nginx.ingress", "/", "my-nginx", &[])
        + &ingress("api", "test.nginx.ingress", "/api", "my-apache", &[]);
    let s = Sluice::start(&[("all.yaml", &manifests)], &[]);
    let c = client();
    assert_eq!(get(&c, s.http, "test.apache.ingress", "/").await.backend, "apache");
    assert_eq!(get(&c, s.http, "test.nginx.ingress", "/index.html").await.backend, "nginx");
    assert_eq!(get(&c, s.http, "test.nginx.ingress", "/api/v1").await.backend, "apache", "the longer prefix wins");
    assert_eq!(
        get(&c, s.http, "test.nginx.ingress", "/apiary").await.backend,
        "nginx",
        "prefixes match whole segments"
    );
    assert_eq!(get(&c, s.http, "TEST.nginx.ingress:80", "/").await.backend, "nginx", "host case and port are ignored");
    let miss = get(&c, s.http, "web3", "/").await;
    assert_eq!(miss.status, 404, "no rule and no default backend");

    // A default backend (T-35) takes what no rule matches.
    let with_default = manifests
        + "---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: catch-all, namespace: default}\nspec:\n  ingressClassName: sluice\n  defaultBackend: {service: {name: fallback, port: {number: 80}}}\n";
    write(&s.path(), "all.yaml", &with_default);
    wait_generation(&c, &s, 2).await;
    let miss = get(&c, s.http, "web3", "/").await;
    assert_eq!((miss.status, miss.backend.as_str()), (200, "default"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canary_weight_70_30_over_10000_requests() {
    let port = free_port(&["127.0.0.2", "127.0.0.3"]);
    let _b = echo("blue", &addrs(port, &["127.0.0.2"]), None);
    let _g = echo("green", &addrs(port, &["127.0.0.3"]), None);
    let manifests = service("blue", &addrs(port, &["127.0.0.2"]))
        + &service("green", &addrs(port, &["127.0.0.3"]))
        + &ingress("main", "shop.example.com", "/", "blue", &[])
        + &ingress("canary", "shop.example.com", "/", "green", &[("canary", "true"), ("canary-weight", "30")]);
    let s = Sluice::start(&[("all.yaml", &manifests)], &[]);
    let c = client();
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let c = c.clone();
        let to = s.http;
        tasks.push(tokio::spawn(async move {
            let mut green = 0u32;
            for _ in 0..625 {
                let r = get(&c, to, "shop.example.com", "/").await;
                assert_eq!(r.status, 200);
                green += u32::from(r.backend == "green");
            }
            green
        }));
    }
    let mut green = 0;
    for t in tasks {
        green += t.await.unwrap();
    }
    let share = f64::from(green) / 10_000.0;
    eprintln!("canary share over 10000 requests: {:.2}%", share * 100.0);
    assert!((share - 0.30).abs() <= 0.02, "green got {:.2}%", share * 100.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn header_and_cookie_canaries() {
    let port = free_port(&["127.0.0.2", "127.0.0.3", "127.0.0.4"]);
    let _b = echo("blue", &addrs(port, &["127.0.0.2"]), None);
    let _g = echo("green", &addrs(port, &["127.0.0.3"]), None);
    let _r = echo("red", &addrs(port, &["127.0.0.4"]), None);
    let manifests = service("blue", &addrs(port, &["127.0.0.2"]))
        + &service("green", &addrs(port, &["127.0.0.3"]))
        + &service("red", &addrs(port, &["127.0.0.4"]))
        + &ingress("main", "shop.example.com", "/", "blue", &[])
        + &ingress(
            "by-header",
            "shop.example.com",
            "/",
            "green",
            &[("canary", "true"), ("canary-by-header", "X-Canary"), ("canary-by-cookie", "beta")],
        )
        + &ingress(
            "by-value",
            "shop.example.com",
            "/",
            "red",
            &[("canary", "true"), ("canary-by-header", "X-Region"), ("canary-by-header-pattern", "eu-.*")],
        );
    let s = Sluice::start(&[("all.yaml", &manifests)], &[]);
    let c = client();
    let via = |headers: &'static [(&'static str, &'static str)]| {
        let c = c.clone();
        let to = s.http;
        async move { send(&c, to, "GET", "shop.example.com", "/", headers, vec![]).await.unwrap().backend }
    };
    assert_eq!(via(&[]).await, "blue");
    assert_eq!(via(&[("x-canary", "always")]).await, "green");
    assert_eq!(via(&[("x-canary", "never"), ("cookie", "beta=always")]).await, "blue", "header before cookie");
    assert_eq!(
        via(&[("x-canary", "maybe"), ("cookie", "a=b; beta=always")]).await,
        "green",
        "undecided header, then cookie"
    );
    assert_eq!(via(&[("cookie", "beta=never")]).await, "blue");
    assert_eq!(via(&[("x-region", "eu-west-1")]).await, "red", "pattern match");
    assert_eq!(via(&[("x-region", "us-east-1")]).await, "blue", "pattern mismatch falls through");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_seen_by_the_upstream() {
    let port = free_port(&["127.0.0.2"]);
    let _b = echo("blue", &addrs(port, &["127.0.0.2"]), None);
    let manifests =
        service("blue", &addrs(port, &["127.0.0.2"])) + &ingress("main", "blue.bk.tencent.com", "/", "blue", &[]);
    let s = Sluice::start(&[("all.yaml", &manifests)], &[]);
    let c = client();
    let r = send(
        &c,
        s.http,
        "GET",
        "blue.bk.tencent.com",
        "/a/b?x=1",
        &[("x-forwarded-for", "203.0.113.7"), ("proxy", "http://evil.example"), ("upgrade-insecure-requests", "1")],
        vec![],
    )
    .await
    .unwrap();
    let h = &r.json()["headers"];
    let one = |k: &str| h[k][0].as_str().unwrap_or("<absent>").to_owned();
    assert_eq!(one("host"), "blue.bk.tencent.com");
    assert_eq!(one("x-real-ip"), "127.0.0.1");
    assert_eq!(one("x-forwarded-for"), "203.0.113.7, 127.0.0.1");
    assert_eq!(one("x-original-forwarded-for"), "203.0.113.7");
    assert_eq!(one("x-forwarded-host"), "blue.bk.tencent.com");
    assert_eq!(one("x-forwarded-port"), s.http.port().to_string());
    assert_eq!(one("x-forwarded-proto"), "http");
    assert_eq!(one("x-original-uri"), "/a/b?x=1");
    assert_eq!(one("proxy"), "<absent>", "httpoxy: the Proxy header never reaches the upstream");
    assert_eq!(r.json()["uri"], "/a/b?x=1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_echo() {
    let port = free_port(&["127.0.0.2"]);
    let _b = echo("blue", &addrs(port, &["127.0.0.2"]), None);
    let manifests =
        service("blue", &addrs(port, &["127.0.0.2"])) + &ingress("main", "ws.example.com", "/", "blue", &[]);
    let s = Sluice::start(&[("all.yaml", &manifests)], &[]);
    websocket_round_trips(&s, "ws.example.com").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_timeout_gives_504_and_connect_timeout_is_bounded() {
    let port = free_port(&["127.0.0.2"]);
    let _b = echo("slow", &addrs(port, &["127.0.0.2"]), None);
    let (hole, _fillers, _listener) = blackhole("127.0.0.5");
    let manifests = service("slow", &addrs(port, &["127.0.0.2"]))
        + &service("hole", &[hole])
        + &ingress("slow", "slow.example.com", "/", "slow", &[("proxy-read-timeout", "1")])
        + &ingress("hole", "hole.example.com", "/", "hole", &[("proxy-connect-timeout", "1")]);
    let s = Sluice::start(&[("all.yaml", &manifests)], &[]);
    let c = client();
    let t = Instant::now();
    let r = get(&c, s.http, "slow.example.com", "/sleep/3000").await;
    let took = t.elapsed();
    assert_eq!(r.status, 504);
    assert!(took < Duration::from_millis(2900), "the read timeout cut the wait: {took:?}");
    assert_eq!(get(&c, s.http, "slow.example.com", "/sleep/100").await.status, 200);

    let t = Instant::now();
    let r = get(&c, s.http, "hole.example.com", "/").await;
    let took = t.elapsed();
    assert_eq!(r.status, 504, "connect timeout");
    assert!(took < Duration::from_secs(4), "bounded by the 1 s connect timeout: {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_when_one_endpoint_is_down_or_failing() {
    let port = free_port(&["127.0.0.2", "127.0.0.3", "127.0.0.4"]);
    let _ok = echo("ok", &addrs(port, &["127.0.0.2"]), None);
    let _bad = echo("bad", &addrs(port, &["127.0.0.4"]), Some(503));
    // 127.0.0.3 has nothing listening: connection refused.
    let manifests = service("refused", &addrs(port, &["127.0.0.2", "127.0.0.3"]))
        + &service("failing", &addrs(port, &["127.0.0.2", "127.0.0.4"]))
        + &ingress("refused", "refused.example.com", "/", "refused", &[])
        + &ingress("failing", "failing.example.com", "/", "failing", &[]);
    let s = Sluice::start(&[("all.yaml", &manifests)], &[]);
    let c = client();
    // A POST is not idempotent: not retried after a 503 (nginx's default), so
    // the POSTs that reach the failing endpoint get its 503.
    let mut saw_503 = false;
    for _ in 0..4 {
        let r = send(&c, s.http, "POST", "failing.example.com", "/", &[], b"order".to_vec()).await.unwrap();
        saw_503 |= r.status == 503;
    }
    assert!(saw_503, "POSTs that hit the failing endpoint get its 503");
    // Idempotent requests are tried again on the other endpoint.
    for host in ["refused.example.com", "failing.example.com"] {
        for i in 0..40 {
            let r = get(&c, s.http, host, "/").await;
            assert_eq!(
                (r.status, r.backend.as_str()),
                (200, "ok"),
                "{host} request {i}: retried on the other endpoint"
            );
        }
    }
    // After 5 failures in a row each failing endpoint is ejected: POSTs are safe again.
    for _ in 0..10 {
        let r = send(&c, s.http, "POST", "failing.example.com", "/", &[], b"order".to_vec()).await.unwrap();
        assert_eq!(r.status, 200);
    }
    let metrics = String::from_utf8_lossy(&get(&c, s.admin, "admin", "/metrics").await.body).into_owned();
    for want in [
        "sluice_upstream_retries_total{cluster=\"default/failing:80\",reason=\"http_503\"}",
        "sluice_endpoint_ejections_total{cluster=\"default/failing:80\"} 1",
        "sluice_endpoint_ejections_total{cluster=\"default/refused:80\"} 1",
    ] {
        assert!(metrics.contains(want), "missing {want} in:\n{metrics}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn body_limit_413_and_no_endpoints_503() {
    let port = free_port(&["127.0.0.2"]);
    let _b = echo("blue", &addrs(port, &["127.0.0.2"]), None);
    let manifests = service("blue", &addrs(port, &["127.0.0.2"]))
        + &service("empty", &[])
        + &ingress("small", "upload.example.com", "/", "blue", &[("proxy-body-size", "1k")])
        + &ingress("empty", "empty.example.com", "/", "empty", &[]);
    let s = Sluice::start(&[("all.yaml", &manifests)], &[]);
    let c = client();
    let ok = send(&c, s.http, "POST", "upload.example.com", "/", &[], vec![b'x'; 1000]).await.unwrap();
    assert_eq!((ok.status, ok.json()["bodyBytes"].as_u64()), (200, Some(1000)));
    let big = send(&c, s.http, "POST", "upload.example.com", "/", &[], vec![b'x'; 4096]).await.unwrap();
    assert_eq!(big.status, 413);
    assert_eq!(get(&c, s.http, "empty.example.com", "/").await.status, 503);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_endpoints() {
    let port = free_port(&["127.0.0.2"]);
    let _b = echo("blue", &addrs(port, &["127.0.0.2"]), None);
    let manifests = service("blue", &addrs(port, &["127.0.0.2"])) + &ingress("main", "a.example.com", "/", "blue", &[]);
    let s = Sluice::start(&[("all.yaml", &manifests)], &[]);
    let c = client();
    assert_eq!(get(&c, s.admin, "admin", "/healthz").await.status, 200);
    assert_eq!(get(&c, s.admin, "admin", "/readyz").await.status, 200);
    let snap = get(&c, s.admin, "admin", "/debug/snapshot").await.json();
    assert_eq!(snap["snapshot"]["generation"], 1);
    assert_eq!(snap["snapshot"]["routeConfigs"][0]["virtualHosts"][0]["host"], "a.example.com");
    get(&c, s.http, "a.example.com", "/").await;
    // Requests are counted once logged, just after their response is sent.
    let mut metrics = String::new();
    for _ in 0..100 {
        metrics = String::from_utf8_lossy(&get(&c, s.admin, "admin", "/metrics").await.body).into_owned();
        if metrics.contains("code=\"200\",host=\"a.example.com\"") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for want in [
        "sluice_http_requests_total{cluster=\"default/blue:80\",code=\"200\",host=\"a.example.com\",route=\"Prefix /\"} 1",
        "sluice_config_generation 1",
        "sluice_cluster_endpoints{cluster=\"default/blue:80\"} 1",
        "sluice_config_diagnostics{severity=\"error\"} 0",
        "sluice_upstream_response_seconds_bucket",
        "sluice_config_swap_seconds_count 1",
    ] {
        assert!(metrics.contains(want), "missing {want} in:\n{metrics}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2c_to_upstreams_and_from_clients() {
    let port = free_port(&["127.0.0.2"]);
    let _b = echo("grpc", &addrs(port, &["127.0.0.2"]), None);
    let manifests = service("grpc", &addrs(port, &["127.0.0.2"]))
        + &ingress("h1", "h1.example.com", "/", "grpc", &[])
        + &ingress("h2", "h2.example.com", "/", "grpc", &[("backend-protocol", "GRPC")]);
    let s = Sluice::start(&[("all.yaml", &manifests)], &[]);
    let c = client();
    assert_eq!(get(&c, s.http, "h1.example.com", "/").await.json()["version"], "HTTP/1.1");
    assert_eq!(
        get(&c, s.http, "h2.example.com", "/").await.json()["version"],
        "HTTP/2.0",
        "h2c prior knowledge upstream"
    );

    // A client speaking h2c (prior knowledge) to Sluice, as a user would try it.
    let out = std::process::Command::new("curl")
        .args(["-s", "--http2-prior-knowledge", "-o", "/dev/null", "-w", "%{http_version} %{http_code}"])
        .args(["-H", "Host: h1.example.com", &format!("http://{}/x", s.http)])
        .output()
        .expect("curl");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "2 200");
}

/// An HTTP/2 client that gives up while the upstream thinks is counted as
/// nginx counts it (499), not logged as an error of the proxy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_h2_client_that_gives_up_is_a_499_not_an_error() {
    let silent = std::net::TcpListener::bind("127.0.0.2:0").unwrap();
    let upstream = silent.local_addr().unwrap();
    std::thread::spawn(move || {
        let held: Vec<_> = silent.incoming().take(4).collect();
        std::thread::sleep(Duration::from_secs(30));
        drop(held);
    });
    let manifests = service("slow", &[upstream]) + &ingress("slow", "slow.example.com", "/", "slow", &[]);
    let s = Sluice::start(&[("all.yaml", &manifests)], &[]);
    let out = std::process::Command::new("curl")
        .args(["-s", "--http2-prior-knowledge", "--max-time", "1", "-o", "/dev/null", "-w", "%{http_code}"])
        .args(["-H", "Host: slow.example.com", &format!("http://{}/x", s.http)])
        .output()
        .expect("curl");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "000", "curl gave up without an answer");
    let counted_499 =
        |text: &str| text.lines().any(|l| l.starts_with("sluice_http_requests_total") && l.contains(r#"code="499""#));
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut text = metrics(&s).await;
    while !counted_499(&text) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        text = metrics(&s).await;
    }
    assert!(counted_499(&text), "no 499 in:\n{text}");
    assert!(!s.log().contains("ERROR"), "a client going away was logged as an error:\n{}", s.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunked_body_over_the_limit_is_refused() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let port = free_port(&["127.0.0.2"]);
    let _b = echo("blue", &addrs(port, &["127.0.0.2"]), None);
    let manifests = service("blue", &addrs(port, &["127.0.0.2"]))
        + &ingress("small", "upload.example.com", "/", "blue", &[("proxy-body-size", "1k")]);
    let s = Sluice::start(&[("all.yaml", &manifests)], &[]);
    let mut tcp = tokio::net::TcpStream::connect(s.http).await.unwrap();
    let chunk = "x".repeat(1000);
    let mut req = String::from("POST / HTTP/1.1\r\nHost: upload.example.com\r\nTransfer-Encoding: chunked\r\n\r\n");
    for _ in 0..4 {
        req += &format!("{:x}\r\n{chunk}\r\n", chunk.len());
    }
    req += "0\r\n\r\n";
    tcp.write_all(req.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut buf)).await.unwrap().unwrap();
    let head = String::from_utf8_lossy(&buf[..n]);
    assert!(head.starts_with("HTTP/1.1 413"), "{head}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_edit_keeps_the_last_good_route_serving() {
    let port = free_port(&["127.0.0.2", "127.0.0.3"]);
    let _b = echo("blue", &addrs(port, &["127.0.0.2"]), None);
    let _g = echo("green", &addrs(port, &["127.0.0.3"]), None);
    let services = service("blue", &addrs(port, &["127.0.0.2"])) + &service("green", &addrs(port, &["127.0.0.3"]));
    let s = Sluice::start(
        &[("svc.yaml", &services), ("ing.yaml", &ingress("web", "a.example.com", "/", "blue", &[]))],
        &[],
    );
    let c = client();
    assert_eq!(get(&c, s.http, "a.example.com", "/").await.backend, "blue");
    // The edit names green but breaks the port: the Ingress keeps its last good form.
    let broken = ingress("web", "a.example.com", "/", "green", &[]).replace("number: 80", "number: eighty");
    write(&s.path(), "ing.yaml", &broken);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let snap = get(&c, s.admin, "admin", "/debug/snapshot").await.json();
        let errors: Vec<_> =
            snap["diagnostics"].as_array().unwrap().iter().filter(|d| d["severity"] == "error").cloned().collect();
        if !errors.is_empty() {
            assert_eq!(errors[0]["object"]["name"], "web");
            assert_eq!(errors[0]["field"], "spec.rules[0].http.paths[0].backend.service.port.number");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the error was never reported");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for _ in 0..20 {
        assert_eq!(get(&c, s.http, "a.example.com", "/").await.backend, "blue", "the last good version serves");
    }
}

/// ingress-nginx's per-client limits: `limit-rps` lets a client's burst
/// through then refuses with 503 while another client is served;
/// `limit-connections` refuses a client's third request in progress and
/// serves it again once one ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_client_rate_and_connection_limits() {
    let port = free_port(&["127.0.0.2"]);
    let _b = echo("blue", &addrs(port, &["127.0.0.2"]), None);
    let manifests = service("blue", &addrs(port, &["127.0.0.2"]))
        + &ingress("rps", "rps.example.com", "/", "blue", &[("limit-rps", "1"), ("limit-burst-multiplier", "3")])
        + &ingress("conns", "conns.example.com", "/", "blue", &[("limit-connections", "2")]);
    let s = Sluice::start(&[("all.yaml", &manifests)], &[]);
    let c = client();
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(get(&c, s.http, "rps.example.com", "/").await.status);
    }
    assert_eq!(statuses, [200, 200, 200, 503, 503, 503], "a burst of 3, then refused");
    let other = client_from(Some("127.0.0.9".parse().unwrap()));
    assert_eq!(get(&other, s.http, "rps.example.com", "/").await.status, 200, "another client has its own budget");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(get(&c, s.http, "rps.example.com", "/").await.status, 200, "a token a second");

    let slow = |c: HttpClient, addr| async move { get(&c, addr, "conns.example.com", "/sleep/1500").await.status };
    let first = tokio::spawn(slow(c.clone(), s.http));
    let second = tokio::spawn(slow(c.clone(), s.http));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(get(&c, s.http, "conns.example.com", "/").await.status, 503, "a third request in progress");
    assert_eq!((first.await.unwrap(), second.await.unwrap()), (200, 200));
    assert_eq!(get(&c, s.http, "conns.example.com", "/").await.status, 200, "places freed");
}

/// A change elsewhere in the configuration does not reset a route's client
/// limits (nginx keeps its zones across reloads): a request in progress
/// still counts after the swap; changing the limit itself starts afresh.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn client_limits_survive_a_swap_that_leaves_them_alone() {
    let port = free_port(&["127.0.0.2"]);
    let _b = echo("blue", &addrs(port, &["127.0.0.2"]), None);
    let base = service("blue", &addrs(port, &["127.0.0.2"]))
        + &ingress("conns", "conns.example.com", "/", "blue", &[("limit-connections", "1")]);
    let s = Sluice::start(&[("all.yaml", &base)], &[]);
    let c = client();
    let first = tokio::spawn({
        let (c, to) = (c.clone(), s.http);
        async move { get(&c, to, "conns.example.com", "/sleep/2000").await.status }
    });
    wait_in_flight(&s, 1).await;
    // An unrelated Ingress arrives: a new Snapshot is swapped in.
    write(&s.path(), "other.yaml", &ingress("other", "other.example.com", "/", "blue", &[]));
    wait_generation(&c, &s, 2).await;
    assert_eq!(get(&c, s.http, "other.example.com", "/").await.status, 200, "the new Snapshot serves");
    assert_eq!(get(&c, s.http, "conns.example.com", "/").await.status, 503, "the request in progress still counts");
    assert_eq!(first.await.unwrap(), 200);
    assert_eq!(get(&c, s.http, "conns.example.com", "/").await.status, 200, "its place is free once it ends");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_listener_at_max_connections_holds_the_next_until_one_closes() {
    use std::io::{Read, Write};
    let port = free_port(&["127.0.0.2"]);
    let _b = echo("blue", &addrs(port, &["127.0.0.2"]), None);
    let manifests = service("blue", &addrs(port, &["127.0.0.2"])) + &ingress("web", "web.test", "/", "blue", &[]);
    let s = Sluice::start(&[("all.yaml", &manifests)], &["--max-connections", "2"]);
    let request = b"GET / HTTP/1.1\r\nHost: web.test\r\n\r\n";
    let answered = |stream: &mut std::net::TcpStream| {
        let mut buf = [0u8; 12];
        stream.read_exact(&mut buf).map(|_| String::from_utf8_lossy(&buf).into_owned())
    };
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut c = std::net::TcpStream::connect(s.http).unwrap();
        c.write_all(request).unwrap();
        assert_eq!(answered(&mut c).unwrap(), "HTTP/1.1 200");
        held.push(c);
    }
    // The third connection completes in the kernel but is not served...
    let mut third = std::net::TcpStream::connect(s.http).unwrap();
    third.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
    third.write_all(request).unwrap();
    assert!(answered(&mut third).is_err(), "served beyond --max-connections 2");
    // ...until one of the two closes; then it is, without a retry.
    drop(held.pop());
    third.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    assert_eq!(answered(&mut third).unwrap(), "HTTP/1.1 200");
    let metrics = get(&client(), s.admin, "admin", "/metrics").await;
    let text = String::from_utf8_lossy(&metrics.body);
    assert!(text.contains("sluice_http_listener_full_total{listener=\"http\"}"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn source_ranges_allow_and_deny_clients_by_address() {
    let port = free_port(&["127.0.0.2"]);
    let (_e, manifests) = shop(port);
    let manifests = manifests
        + &ingress("allow", "allow.example.com", "/", "shop", &[("whitelist-source-range", "127.0.0.1/32, 127.0.0.7")])
        + &ingress("deny", "deny.example.com", "/", "shop", &[("denylist-source-range", "127.0.0.5")])
        + &ingress(
            "both",
            "both.example.com",
            "/",
            "shop",
            &[("allowlist-source-range", "127.0.0.0/8"), ("denylist-source-range", "127.0.0.5/32")],
        )
        + &ingress("broken", "broken.example.com", "/", "shop", &[("whitelist-source-range", "127.0.0.0/33")]);
    let s = Sluice::start(&[("all.yaml", &manifests)], &[]);
    let from = |ip: &str| client_from(Some(ip.parse().unwrap()));
    let (one, five, seven) = (from("127.0.0.1"), from("127.0.0.5"), from("127.0.0.7"));
    let status = |c: HttpClient, host: &'static str| {
        let to = s.http;
        async move { get(&c, to, host, "/").await.status }
    };
    assert_eq!(status(one.clone(), "allow.example.com").await, 200);
    assert_eq!(status(seven.clone(), "allow.example.com").await, 200, "a bare address is a /32");
    assert_eq!(status(five.clone(), "allow.example.com").await, 403);
    assert_eq!(status(five.clone(), "deny.example.com").await, 403);
    assert_eq!(status(one.clone(), "deny.example.com").await, 200);
    assert_eq!(status(one.clone(), "both.example.com").await, 200);
    assert_eq!(status(five.clone(), "both.example.com").await, 403, "the denylist wins over the allowlist");
    assert_eq!(status(one.clone(), "broken.example.com").await, 403, "a range that cannot be read fails closed");
    assert_eq!(status(seven, "shop.example.com").await, 200, "other Ingresses are not touched");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirect_annotations_answer_at_the_edge() {
    let port = free_port(&["127.0.0.2"]);
    let (_e, manifests) = shop(port);
    let manifests = manifests
        + &ingress("moved", "old.example.com", "/", "shop", &[("permanent-redirect", "https://new.example.com/x")])
        + &ingress(
            "moved-308",
            "old308.example.com",
            "/",
            "shop",
            &[("permanent-redirect", "https://new.example.com/"), ("permanent-redirect-code", "308")],
        )
        + &ingress(
            "both",
            "both.example.com",
            "/",
            "shop",
            &[("permanent-redirect", "https://p.example.com/"), ("temporal-redirect", "https://t.example.com/")],
        )
        + &ingress("root", "app.example.com", "/", "shop", &[("app-root", "/app1")]);
    let s = Sluice::start(&[("all.yaml", &manifests)], &[]);
    let redirect = |host: &'static str, path: &'static str| {
        let to = s.http;
        async move {
            let mut conn = tokio::net::TcpStream::connect(to).await.unwrap();
            let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
            tokio::io::AsyncWriteExt::write_all(&mut conn, request.as_bytes()).await.unwrap();
            let mut answer = String::new();
            tokio::io::AsyncReadExt::read_to_string(&mut conn, &mut answer).await.unwrap();
            let status = answer.split(' ').nth(1).unwrap_or("").to_owned();
            let location = answer
                .lines()
                .find_map(|l| l.strip_prefix("location: ").or_else(|| l.strip_prefix("Location: ")))
                .unwrap_or("")
                .to_owned();
            (status, location)
        }
    };
    assert_eq!(redirect("old.example.com", "/any?q=1").await, ("301".into(), "https://new.example.com/x".into()));
    assert_eq!(redirect("old308.example.com", "/").await, ("308".into(), "https://new.example.com/".into()));
    assert_eq!(redirect("both.example.com", "/").await, ("302".into(), "https://t.example.com/".into()));
    assert_eq!(redirect("app.example.com", "/").await, ("302".into(), "http://app.example.com/app1".into()));
    let c = client();
    assert_eq!(get(&c, s.http, "app.example.com", "/app1").await.status, 200, "only / is redirected");
}
