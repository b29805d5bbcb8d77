//! Access logs end to end: the real binary writing its log file, read back
//! as a log pipeline would.

mod common;
use common::*;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn addrs(port: u16, ips: &[&str]) -> Vec<SocketAddr> {
    ips.iter().map(|ip| format!("{ip}:{port}").parse().unwrap()).collect()
}

/// The log's lines once it has at least `n`.
fn wait_lines(path: &Path, n: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let lines: Vec<String> = text.lines().map(str::to_owned).collect();
        if lines.len() >= n || Instant::now() > deadline {
            assert!(lines.len() >= n, "{} of {n} lines in {}:\n{text}", lines.len(), path.display());
            return lines;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn json_lines(path: &Path, n: usize) -> Vec<serde_json::Value> {
    wait_lines(path, n).iter().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_lines_carry_the_request_its_upstreams_and_its_id() {
    let port = free_port(&["127.0.0.2", "127.0.0.5"]);
    let (_e, manifests) = shop(port);
    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("access.log");
    let manifests = manifests
        + &service("empty", &[])
        + &ingress("empty", "empty.example.com", "/", "empty", &[])
        + &ingress("quiet", "quiet.example.com", "/", "shop", &[("enable-access-log", "false")]);
    let args = ["--access-log", log.to_str().unwrap(), "--access-log-format", "json"];
    let s = Sluice::start(&[("all.yaml", &manifests)], &args);
    let c = client();

    let headers = [
        ("x-request-id", "client-id-1"),
        ("user-agent", "curl/8.0 \"quoted\""),
        ("referer", "https://shop.example.com/"),
        ("authorization", "Basic YWxpY2U6c2VjcmV0"),
    ];
    let kept = send(&c, s.http, "GET", "shop.example.com", "/cart?id=7", &headers, vec![]).await.unwrap();
    assert_eq!(kept.status, 200);
    assert_eq!(kept.json()["headers"]["x-request-id"][0], "client-id-1", "the client's id goes upstream");
    let made = send(&c, s.http, "POST", "shop.example.com", "/pay", &[], b"12345".to_vec()).await.unwrap();
    let made_id = made.json()["headers"]["x-request-id"][0].as_str().unwrap().to_owned();
    assert_eq!(get(&c, s.http, "nowhere.example.com", "/").await.status, 404);
    assert_eq!(get(&c, s.http, "quiet.example.com", "/").await.status, 200);
    assert_eq!(get(&c, s.http, "empty.example.com", "/x").await.status, 503);

    // A line is queued as its request ends, on whichever worker served it,
    // so lines of requests in a row can swap: each is found by its request.
    // A last request's line, and a pause, leave the quiet route's time to show.
    let marker = get(&c, s.http, "shop.example.com", "/last").await;
    assert_eq!(marker.status, 200);
    wait_lines(&log, 5);
    std::thread::sleep(Duration::from_millis(200));
    let lines = json_lines(&log, 5);
    assert!(lines.iter().all(|l| l["host"] != "quiet.example.com"), "enable-access-log: false is not logged");
    let line = |host: &str, method: &str, status: u64| {
        let found = lines.iter().find(|l| l["host"] == host && l["method"] == method && l["status"] == status);
        found.unwrap_or_else(|| panic!("no line for {method} {host} {status} in {lines:#?}"))
    };
    let upstream = format!("127.0.0.2:{port}");
    let first = lines.iter().find(|l| l["path"] == "/cart?id=7").expect("the first request's line");
    assert_eq!(first["request_id"], "client-id-1");
    assert_eq!(first["remote_addr"], "127.0.0.1");
    assert_eq!(first["remote_user"], "alice");
    assert_eq!(first["method"], "GET");
    assert_eq!(first["host"], "shop.example.com");
    assert_eq!(first["path"], "/cart?id=7");
    assert_eq!(first["protocol"], "HTTP/1.1");
    assert_eq!(first["status"], 200);
    assert_eq!(first["bytes_sent"], kept.body.len());
    assert_eq!(first["upstream_addr"], upstream.as_str());
    assert_eq!(first["upstream_status"], "200");
    assert_eq!(first["upstream_response_length"], kept.body.len().to_string());
    assert_eq!(first["upstream_name"], "default-shop-80");
    assert_eq!(first["ingress"], "default/shop");
    assert_eq!(first["user_agent"], "curl/8.0 \"quoted\"");
    assert_eq!(first["referer"], "https://shop.example.com/");
    assert!(first["request_time"].as_f64().is_some_and(|t| (0.0..10.0).contains(&t)));
    assert!(first["time"].as_str().is_some_and(|t| t.len() == 25 && t.as_bytes()[10] == b'T'), "{}", first["time"]);

    let second = line("shop.example.com", "POST", 200);
    assert_eq!(second["request_id"], made_id.as_str(), "the id made here is the one the upstream got");
    assert!(made_id.len() == 32 && made_id.bytes().all(|b| b.is_ascii_hexdigit()), "{made_id}");
    assert!(second["request_length"].as_u64().is_some_and(|n| n > 5), "the body counts in the request length");

    let not_found = line("nowhere.example.com", "GET", 404);
    assert_eq!((not_found["status"].as_u64(), not_found["host"].as_str()), (Some(404), Some("nowhere.example.com")));
    assert!(not_found["upstream_addr"].is_null() && not_found["upstream_name"].is_null());
    assert_eq!(not_found["request_id"].as_str().map(str::len), Some(32));
    let unavailable = line("empty.example.com", "GET", 503);
    assert_eq!(
        (unavailable["status"].as_u64(), unavailable["upstream_name"].as_str()),
        (Some(503), Some("default-empty-80"))
    );
}

/// ingress-nginx's default `log-format-upstream`, as a pipeline's parser reads it.
const NGINX_LINE: &str = r#"^(?P<remote_addr>\S+) - (?P<remote_user>\S+) \[(?P<time_local>\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4})\] "(?P<request>[^"]*)" (?P<status>\d{3}) (?P<body_bytes_sent>\d+) "(?P<http_referer>[^"]*)" "(?P<http_user_agent>[^"]*)" (?P<request_length>\d+) (?P<request_time>\d+\.\d{3}) \[(?P<proxy_upstream_name>[^\]]*)\] \[(?P<proxy_alternative_upstream_name>[^\]]*)\] (?P<upstream_addr>.+?) (?P<upstream_response_length>[-\d, ]+?) (?P<upstream_response_time>[-\d., ]+?) (?P<upstream_status>[-\d, ]+?) (?P<req_id>\S+)$"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_lines_parse_in_ingress_nginx_field_order_with_retries_and_canaries() {
    let port = free_port(&["127.0.0.2", "127.0.0.3", "127.0.0.5"]);
    let _b = echo("blue", &addrs(port, &["127.0.0.2"]), None);
    let _g = echo("green", &addrs(port, &["127.0.0.3"]), None);
    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("access.log");
    // 127.0.0.5 refuses: a request sent there first is retried on blue.
    let manifests = service("blue", &addrs(port, &["127.0.0.5", "127.0.0.2"]))
        + &service("green", &addrs(port, &["127.0.0.3"]))
        + &ingress("main", "shop.example.com", "/", "blue", &[])
        + &ingress("canary", "shop.example.com", "/", "green", &[("canary", "true"), ("canary-by-header", "x-canary")]);
    let s = Sluice::start(&[("all.yaml", &manifests)], &["--access-log", log.to_str().unwrap()]);
    let c = client();
    for _ in 0..4 {
        assert_eq!(get(&c, s.http, "shop.example.com", "/a").await.status, 200);
    }
    let to_canary = send(&c, s.http, "GET", "shop.example.com", "/b", &[("x-canary", "always")], vec![]).await.unwrap();
    assert_eq!(to_canary.backend, "green");

    let pattern = regex::Regex::new(NGINX_LINE).unwrap();
    let lines = wait_lines(&log, 5);
    let fields: Vec<regex::Captures> = lines
        .iter()
        .map(|l| pattern.captures(l).unwrap_or_else(|| panic!("not ingress-nginx's format: {l}")))
        .collect();
    let (blue, dead) = (format!("127.0.0.2:{port}"), format!("127.0.0.5:{port}"));
    for f in &fields[..4] {
        assert_eq!(&f["request"], "GET /a HTTP/1.1");
        assert_eq!(
            (&f["status"], &f["proxy_upstream_name"], &f["proxy_alternative_upstream_name"]),
            ("200", "default-blue-80", "")
        );
        assert_eq!(f["req_id"].len(), 32);
    }
    let retried =
        fields[..4].iter().find(|f| f["upstream_addr"].contains(", ")).expect("a request retried past 127.0.0.5");
    assert_eq!(&retried["upstream_addr"], format!("{dead}, {blue}"));
    assert_eq!(&retried["upstream_status"], "502, 200");
    let canary = &fields[4];
    assert_eq!(
        (&canary["proxy_upstream_name"], &canary["proxy_alternative_upstream_name"]),
        ("default-blue-80", "default-green-80")
    );
    assert_eq!(&canary["upstream_addr"], format!("127.0.0.3:{port}"));
    assert_eq!(&canary["upstream_response_length"], to_canary.body.len().to_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigusr1_reopens_the_file_after_logrotate_moved_it() {
    let port = free_port(&["127.0.0.2"]);
    let (_e, manifests) = shop(port);
    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("access.log");
    let mut s = Sluice::start(&[("all.yaml", &manifests)], &["--access-log", log.to_str().unwrap()]);
    let c = client();
    get(&c, s.http, "shop.example.com", "/before").await;
    wait_lines(&log, 1);
    let rotated = logs.path().join("access.log.1");
    std::fs::rename(&log, &rotated).unwrap();
    let killed = Command::new("kill").args(["-USR1", &s.proc.0.id().to_string()]).status().unwrap();
    assert!(killed.success());
    // The writer looks for the signal every 50 ms; until it has
    // reopened, lines still go to the moved file.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !log.exists() && Instant::now() < deadline {
        get(&c, s.http, "shop.example.com", "/after").await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    get(&c, s.http, "shop.example.com", "/after").await;
    let new = wait_lines(&log, 1);
    assert!(new.iter().all(|l| l.contains("GET /after ")), "{new:?}");
    let old = std::fs::read_to_string(&rotated).unwrap();
    assert!(old.lines().next().is_some_and(|l| l.contains("GET /before ")), "{old}");
    assert!(s.proc.0.try_wait().is_ok_and(|exited| exited.is_none()), "SIGUSR1 must not end the process");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_that_cannot_keep_up_drops_and_counts_lines_and_requests_go_on() {
    let port = free_port(&["127.0.0.2"]);
    let (_e, manifests) = shop(port);
    let logs = tempfile::tempdir().unwrap();
    let fifo = logs.path().join("access.fifo");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    // A reader that never reads: the pipe fills and the writer blocks.
    let stalled = Command::new("sh")
        .args(["-c", &format!("exec sleep 600 < '{}'", fifo.display())])
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let _stalled = Proc(stalled);
    let s = Sluice::start(&[("all.yaml", &manifests)], &["--access-log", fifo.to_str().unwrap()]);
    let c = client();
    // More lines than the pipe and the writer's queue (16 384) hold.
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let (c, to) = (c.clone(), s.http);
        tasks.push(tokio::spawn(async move {
            let mut ok = 0u32;
            for _ in 0..1200 {
                ok += u32::from(get(&c, to, "shop.example.com", "/flood").await.status == 200);
            }
            ok
        }));
    }
    let mut ok = 0;
    for t in tasks {
        ok += t.await.unwrap();
    }
    assert_eq!(ok, 16 * 1200, "every request is answered while the log is stalled");
    let dropped = metrics(&s)
        .await
        .lines()
        .find_map(|l| l.strip_prefix("sluice_access_log_dropped_total ").map(|v| v.trim().parse::<u64>().unwrap()))
        .expect("sluice_access_log_dropped_total");
    assert!(dropped > 0, "lines past the queue are dropped and counted");
}

#[test]
fn an_unwritable_log_path_stops_the_start_and_names_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["run", "--manifests", dir.path().to_str().unwrap(), "--admin-listen", "127.0.0.1:0"])
        .args(["--http-listen", "127.0.0.1:0", "--access-log", "/nonexistent-dir/access.log"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("/nonexistent-dir/access.log"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_l4_connection_is_one_line_when_it_ends() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let port = free_port(&["127.0.0.2"]);
    let upstream: SocketAddr = format!("127.0.0.2:{port}").parse().unwrap();
    // Reads a 5-byte question, answers in 9 bytes and closes.
    let server = tokio::net::TcpListener::bind(upstream).await.unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = server.accept().await {
            let mut question = [0u8; 5];
            if s.read_exact(&mut question).await.is_ok() {
                let _ = s.write_all(b"answer!!\n").await;
            }
        }
    });
    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("access.log");
    let listen = free_port(&["127.0.0.1"]);
    let manifests = service("db", &[upstream])
        + &format!(
            "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: tcp-services, namespace: ingress}}\ndata:\n  \"{listen}\": \"default/db:80\"\n"
        );
    let args = ["--tcp-services-configmap", "ingress/tcp-services", "--l4-bind", "127.0.0.1"];
    let args = [&args[..], &["--access-log", log.to_str().unwrap(), "--access-log-format", "json"]].concat();
    let _s = Sluice::start(&[("all.yaml", &manifests)], &args);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut client = loop {
        match tokio::net::TcpStream::connect(("127.0.0.1", listen)).await {
            Ok(c) => break c,
            Err(e) => assert!(Instant::now() < deadline, "the L4 listener never opened: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    client.write_all(b"ping?").await.unwrap();
    let mut answer = Vec::new();
    client.read_to_end(&mut answer).await.unwrap();
    assert_eq!(answer, b"answer!!\n");
    drop(client);

    let line = &json_lines(&log, 1)[0];
    assert_eq!(line["protocol"], "TCP");
    assert_eq!(line["remote_addr"], "127.0.0.1");
    assert_eq!((line["bytes_received"].as_u64(), line["bytes_sent"].as_u64()), (Some(5), Some(9)));
    assert_eq!(line["upstream_addr"], upstream.to_string());
    assert_eq!(line["upstream_name"], "default-db-80");
    assert_eq!((line["status"].as_u64(), line["termination"].as_str()), (Some(200), Some("closed")));
    assert!(line["listener"].as_str().is_some_and(|l| l.contains(&listen.to_string())), "{}", line["listener"]);
}

fn controller_configmap(format: &str) -> String {
    format!(
        "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: sluice-config, namespace: ingress}}\ndata:\n  log-format-escape-json: \"true\"\n  log-format-upstream: {format:?}\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_controller_configmaps_log_format_replaces_the_line_and_a_bad_one_is_named() {
    let port = free_port(&["127.0.0.2"]);
    let (_e, manifests) = shop(port);
    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("access.log");
    let format = r#"{"addr": "$remote_addr", "req": "$request_method $uri", "args": "$args", "status": $status, "tenant": "$http_x_tenant", "ingress": "$namespace/$ingress_name", "service": "$service_name:$service_port", "upstream": "$upstream_status", "id": "$req_id"}"#;
    let files = [("all.yaml", manifests.as_str()), ("config.yaml", &controller_configmap(format))];
    let args = ["--configmap", "ingress/sluice-config", "--access-log", log.to_str().unwrap()];
    let s = Sluice::start(&files, &args);
    let c = client();
    let headers = [("x-tenant", "acme \"quoted\""), ("x-request-id", "id-7")];
    assert_eq!(send(&c, s.http, "GET", "shop.example.com", "/a/b?c=1", &headers, vec![]).await.unwrap().status, 200);
    let line: serde_json::Value = serde_json::from_str(&wait_lines(&log, 1)[0]).expect("the configured line is JSON");
    assert_eq!(line["addr"], "127.0.0.1");
    assert_eq!(line["req"], "GET /a/b");
    assert_eq!(line["args"], "c=1");
    assert_eq!(line["status"], 200);
    assert_eq!(line["tenant"], "acme \"quoted\"", "escaped as JSON, so the line stays JSON");
    assert_eq!(line["ingress"], "default/shop");
    assert_eq!(line["service"], "shop:80");
    assert_eq!(line["upstream"], "200");
    assert_eq!(line["id"], "id-7");

    // A variable Sluice does not have: `sluice check` names it, and the
    // running proxy keeps the last good line.
    let bad = controller_configmap("$remote_addr $geoip_country_code");
    write(&s.path(), "config.yaml", &bad);
    let out = std::process::Command::new(BIN)
        .args(["check", s.path().to_str().unwrap(), "--configmap", "ingress/sluice-config"])
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(report.contains("data[log-format-upstream]") && report.contains("$geoip_country_code"), "{report}");
    // A change after it: once served, the bad one has been read too.
    write(&s.path(), "more.yaml", &ingress("more", "more.example.com", "/", "shop", &[]));
    wait_generation(&c, &s, 2).await;
    get(&c, s.http, "shop.example.com", "/after").await;
    let line: serde_json::Value = serde_json::from_str(&wait_lines(&log, 2)[1]).expect("still the configured line");
    assert_eq!(line["req"], "GET /after");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_that_cannot_be_written_is_counted_and_traffic_goes_on() {
    let port = free_port(&["127.0.0.2"]);
    let (_e, manifests) = shop(port);
    // Opens, but every write fails (ENOSPC), as a full disk does.
    let s = Sluice::start(&[("all.yaml", &manifests)], &["--access-log", "/dev/full"]);
    let c = client();
    let deadline = Instant::now() + Duration::from_secs(10);
    let errors = loop {
        assert_eq!(get(&c, s.http, "shop.example.com", "/").await.status, 200);
        let errors = metrics(&s).await.lines().find_map(|l| {
            l.strip_prefix("sluice_access_log_write_errors_total ").map(|v| v.trim().parse::<u64>().unwrap())
        });
        if errors.is_some_and(|n| n > 0) || Instant::now() > deadline {
            break errors;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(errors.is_some_and(|n| n > 0), "failed writes are counted: {errors:?}");
    assert!(s.log().contains("cannot write the access log"), "and said once:\n{}", s.log());
}
