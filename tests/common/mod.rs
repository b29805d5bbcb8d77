//! End-to-end harness: the real `sluice` binary, real echo upstreams in
//! their own processes, real HTTP clients, loopback addresses only.
#![allow(dead_code)]

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_sluice");

/// A child process killed (by PID) and reaped when dropped.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A port free on every given loopback address, never handed out twice in
/// this process (tests run in parallel and bind their ports later). Taken
/// below the kernel's ephemeral range (32768 and up), so that the thousands
/// of outgoing connections a test makes cannot be holding it.
pub fn free_port(ips: &[&str]) -> u16 {
    static NEXT: std::sync::Mutex<u16> = std::sync::Mutex::new(0);
    let mut next = NEXT.lock().unwrap();
    if *next == 0 {
        *next = 20_000 + (std::process::id() % 6_000) as u16;
    }
    for _ in 0..12_000 {
        let port = *next;
        *next = if *next >= 31_999 { 20_000 } else { *next + 1 };
        let udp = ips.iter().all(|ip| std::net::UdpSocket::bind(format!("{ip}:{port}")).is_ok());
        if udp && ips.iter().all(|ip| TcpListener::bind(format!("{ip}:{port}")).is_ok()) {
            return port;
        }
    }
    panic!("no free port on {ips:?}");
}

pub fn wait_connectable(addr: SocketAddr) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        assert!(Instant::now() < deadline, "{addr} never accepted connections");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// An echo upstream named `name` on each address.
pub fn echo(name: &str, addrs: &[SocketAddr], status: Option<u16>) -> Proc {
    echo_with(name, addrs, status, &[])
}

/// An echo upstream serving HTTPS (HTTP/1.1 and HTTP/2 by ALPN), self-signed.
pub fn echo_tls(name: &str, addrs: &[SocketAddr]) -> Proc {
    echo_with(name, addrs, None, &["--tls"])
}

fn echo_with(name: &str, addrs: &[SocketAddr], status: Option<u16>, extra: &[&str]) -> Proc {
    let mut cmd = Command::new(BIN);
    cmd.arg("echo-backend").arg("--name").arg(name).args(extra);
    for a in addrs {
        cmd.arg("--listen").arg(a.to_string());
    }
    if let Some(s) = status {
        cmd.arg("--status").arg(s.to_string());
    }
    let child = cmd.stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("start echo backend");
    let mut p = Proc(child);
    for a in addrs {
        wait_connectable(*a);
    }
    // Connectable, and by this process: one that failed to bind has exited.
    std::thread::sleep(Duration::from_millis(20));
    assert!(p.0.try_wait().unwrap().is_none(), "echo backend {name} could not listen on {addrs:?}");
    p
}

/// An address that never completes a TCP handshake: a listener with a
/// backlog of 0 that never accepts, its queue already full. Keep the
/// returned value alive while it is used.
pub fn blackhole(ip: &str) -> (SocketAddr, Vec<std::net::TcpStream>, socket2::Socket) {
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    let addr: SocketAddr = format!("{ip}:0").parse().unwrap();
    sock.bind(&addr.into()).unwrap();
    sock.listen(0).unwrap();
    let addr = sock.local_addr().unwrap().as_socket().unwrap();
    let mut fillers = Vec::new();
    for _ in 0..4 {
        if let Ok(s) = std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
            fillers.push(s);
        }
    }
    (addr, fillers, sock)
}

/// A Service `name` port 80 whose EndpointSlice lists `endpoints`.
pub fn service(name: &str, endpoints: &[SocketAddr]) -> String {
    let port = endpoints.first().map(|e| e.port()).unwrap_or(8080);
    let ready: Vec<(SocketAddr, bool)> = endpoints.iter().map(|e| (*e, false)).collect();
    service_only(name, port) + &endpoint_slice(name, port, &ready)
}

/// A Service `name`, port 80 to `port`, without endpoints.
pub fn service_only(name: &str, port: u16) -> String {
    format!(
        "---\napiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: default}}\nspec:\n  ports: [{{name: http, port: 80, targetPort: {port}}}]\n"
    )
}

/// The EndpointSlice of Service `name` (port `port`): each endpoint ready,
/// or terminating (`true`: still serving, as a pod in its grace period).
pub fn endpoint_slice(name: &str, port: u16, endpoints: &[(SocketAddr, bool)]) -> String {
    let eps: String = endpoints
        .iter()
        .map(|(a, terminating)| {
            let conditions =
                if *terminating { "{ready: false, serving: true, terminating: true}" } else { "{ready: true}" };
            format!("- addresses: [\"{}\"]\n  conditions: {conditions}\n", a.ip())
        })
        .collect();
    format!(
        "---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {{name: {name}-x, namespace: default, labels: {{kubernetes.io/service-name: {name}}}}}\naddressType: IPv4\nports: [{{name: http, port: {port}}}]\nendpoints:\n{}",
        if eps.is_empty() { "  []\n".to_owned() } else { eps }
    )
}

/// An Ingress `name` for one host with ingress-nginx annotations and
/// (path, pathType, service) paths.
pub fn ingress_paths(name: &str, host: &str, annotations: &[(&str, &str)], paths: &[(&str, &str, &str)]) -> String {
    let mut a = String::new();
    for (k, v) in annotations {
        a += &format!("    nginx.ingress.kubernetes.io/{k}: {v:?}\n");
    }
    let annotations = if a.is_empty() { String::new() } else { format!("  annotations:\n{a}") };
    let mut p = String::new();
    for (path, ty, svc) in paths {
        p += &format!(
            "      - {{path: {path:?}, pathType: {ty}, backend: {{service: {{name: {svc}, port: {{number: 80}}}}}}}}\n"
        );
    }
    format!(
        "---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: {name}\n  namespace: default\n{annotations}spec:\n  ingressClassName: sluice\n  rules:\n  - host: {host}\n    http:\n      paths:\n{p}"
    )
}

/// An Ingress `name` for host/path to `svc`, with ingress-nginx annotations.
pub fn ingress(name: &str, host: &str, path: &str, svc: &str, annotations: &[(&str, &str)]) -> String {
    let mut a = String::new();
    for (k, v) in annotations {
        a += &format!("    nginx.ingress.kubernetes.io/{k}: {v:?}\n");
    }
    let annotations = if a.is_empty() { String::new() } else { format!("  annotations:\n{a}") };
    format!(
        "---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: {name}\n  namespace: default\n{annotations}spec:\n  ingressClassName: sluice\n  rules:\n  - host: {host}\n    http:\n      paths:\n      - {{path: {path}, pathType: Prefix, backend: {{service: {{name: {svc}, port: {{number: 80}}}}}}}}\n"
    )
}

/// A ConfigMap `default/name` with `data`.
pub fn configmap(name: &str, data: &[(&str, &str)]) -> String {
    let data: String = data.iter().map(|(k, v)| format!("  {k}: {v:?}\n")).collect();
    format!("---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}, namespace: default}}\ndata:\n{data}")
}

/// An echo upstream `shop` on 127.0.0.2:`port`, and the Service and Ingress
/// (shop.example.com) in front of it.
pub fn shop(port: u16) -> (Proc, String) {
    let at: SocketAddr = format!("127.0.0.2:{port}").parse().unwrap();
    let manifests = service("shop", &[at]) + &ingress("shop", "shop.example.com", "/", "shop", &[]);
    (echo("shop", &[at], None), manifests)
}

/// Writes a file atomically (write, then rename), as editors and ConfigMap mounts do.
pub fn write(dir: &Path, name: &str, text: &str) {
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, dir.join(name)).unwrap();
}

/// A running `sluice run` on a manifest directory of its own.
pub struct Sluice {
    pub proc: Proc,
    pub http: SocketAddr,
    pub https: SocketAddr,
    pub admin: SocketAddr,
    pub dir: tempfile::TempDir,
}

impl Sluice {
    pub fn start(files: &[(&str, &str)], extra: &[&str]) -> Sluice {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            write(dir.path(), name, text);
        }
        let manifests = dir.path().display().to_string();
        Self::spawn(dir, &["--manifests", &manifests], extra)
    }

    /// Sluice reading the API server a kubeconfig names.
    pub fn start_kube(kubeconfig: &str, extra: &[&str]) -> Sluice {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".kubeconfig");
        std::fs::write(&path, kubeconfig).unwrap();
        let path = path.display().to_string();
        Self::spawn(dir, &["--kube", "--kubeconfig", &path], extra)
    }

    fn spawn(dir: tempfile::TempDir, source: &[&str], extra: &[&str]) -> Sluice {
        let s = Self::launch(dir, source, extra, None);
        wait_connectable(s.http);
        s
    }

    /// Sluice reading the API server a kubeconfig names, with its HTTPS
    /// listener on `https` if given; waits only for the admin listener (the
    /// others open with the first Snapshot, which may not come).
    pub fn start_kube_at(kubeconfig: &str, https: Option<SocketAddr>, extra: &[&str]) -> Sluice {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".kubeconfig");
        std::fs::write(&path, kubeconfig).unwrap();
        let path = path.display().to_string();
        Self::launch(dir, &["--kube", "--kubeconfig", &path], extra, https)
    }

    fn launch(dir: tempfile::TempDir, source: &[&str], extra: &[&str], https: Option<SocketAddr>) -> Sluice {
        let http: SocketAddr = format!("127.0.0.1:{}", free_port(&["127.0.0.1"])).parse().unwrap();
        let admin: SocketAddr = format!("127.0.0.1:{}", free_port(&["127.0.0.1"])).parse().unwrap();
        let https = https.unwrap_or_else(|| format!("127.0.0.1:{}", free_port(&["127.0.0.1"])).parse().unwrap());
        let log = std::fs::File::create(dir.path().join(".sluice.log")).unwrap();
        let child = Command::new(BIN)
            .arg("run")
            .args(source)
            .args(["--http-listen", &http.to_string(), "--admin-listen", &admin.to_string()])
            .args(if extra.contains(&"--threads") { &[][..] } else { &["--threads", "2"][..] })
            .args(["--https-listen", &https.to_string()])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start sluice");
        let mut s = Sluice { proc: Proc(child), http, https, admin, dir };
        wait_connectable(admin);
        assert!(s.proc.0.try_wait().unwrap().is_none(), "sluice exited at start:\n{}", s.log());
        s
    }

    pub fn path(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join(".sluice.log")).unwrap_or_default()
    }
}

pub type HttpClient = Client<HttpConnector, Full<Bytes>>;

pub fn client() -> HttpClient {
    client_from(None)
}

/// A client whose connections come from `source` (a loopback address).
pub fn client_from(source: Option<std::net::IpAddr>) -> HttpClient {
    let mut c = HttpConnector::new();
    c.set_nodelay(true);
    c.set_local_address(source);
    Client::builder(TokioExecutor::new()).pool_max_idle_per_host(256).build(c)
}

pub struct Reply {
    pub status: u16,
    pub backend: String,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

impl Reply {
    /// A response header as text, or `""` when absent.
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
    }
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// One request through Sluice with a Host header and extra headers.
pub async fn send(
    c: &HttpClient,
    to: SocketAddr,
    method: &str,
    host: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> Result<Reply, String> {
    let mut req = http::Request::builder().method(method).uri(format!("http://{to}{path}")).header("host", host);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req.body(Full::new(Bytes::from(body))).map_err(|e| e.to_string())?;
    let resp = c.request(req).await.map_err(|e| format!("{e:?}"))?;
    let status = resp.status().as_u16();
    let backend = resp.headers().get("x-backend").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let headers = resp.headers().clone();
    let body = resp.into_body().collect().await.map_err(|e| e.to_string())?.to_bytes();
    Ok(Reply { status, backend, headers, body })
}

pub async fn get(c: &HttpClient, to: SocketAddr, host: &str, path: &str) -> Reply {
    send(c, to, "GET", host, path, &[], vec![]).await.expect("request")
}

/// Sluice's `/metrics` text, from its admin listener.
pub async fn metrics(s: &Sluice) -> String {
    String::from_utf8_lossy(&get(&client(), s.admin, "admin", "/metrics").await.body).into_owned()
}

/// Polls `/metrics` until `n` requests are in flight: a request sent just
/// before is then held by the proxy, not on its way to it.
pub async fn wait_in_flight(s: &Sluice, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let want = format!("sluice_http_active_requests {n}\n");
    while !metrics(s).await.contains(&want) {
        assert!(Instant::now() < deadline, "never {n} requests in flight; log:\n{}", s.log());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Polls `/debug/snapshot` until its generation reaches `generation`.
pub async fn wait_generation(c: &HttpClient, s: &Sluice, generation: u64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = get(c, s.admin, "admin", "/debug/snapshot").await;
        if r.json()["snapshot"]["generation"].as_u64().unwrap_or(0) >= generation {
            return;
        }
        assert!(Instant::now() < deadline, "generation {generation} never served; log:\n{}", s.log());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A WebSocket through Sluice to the echo upstream's `/ws`: the upgrade is
/// answered 101, and text and binary messages come back as sent.
pub async fn websocket_round_trips(s: &Sluice, host: &str) {
    websocket_round_trips_at(s.http, host).await
}

/// As `websocket_round_trips`, through the listener at `at`.
pub async fn websocket_round_trips_at(at: SocketAddr, host: &str) {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest};
    let mut req = format!("ws://{at}/ws").into_client_request().unwrap();
    req.headers_mut().insert("host", host.parse().unwrap());
    let (mut ws, resp) = tokio_tungstenite::connect_async(req).await.expect("upgrade through Sluice");
    assert_eq!(resp.status(), 101);
    for i in 0..20 {
        ws.send(Message::text(format!("hello {i}"))).await.unwrap();
        let back = tokio::time::timeout(Duration::from_secs(5), ws.next()).await.unwrap().unwrap().unwrap();
        assert_eq!(back, Message::text(format!("hello {i}")));
    }
    ws.send(Message::binary(vec![0u8, 1, 2, 255])).await.unwrap();
    let back = ws.next().await.unwrap().unwrap();
    assert_eq!(back, Message::binary(vec![0u8, 1, 2, 255]));
}

/// A TCP server that greets with its name, then echoes lines.
pub async fn echo_server(addr: SocketAddr, name: &'static str) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let l = tokio::net::TcpListener::bind(addr).await.unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((s, _)) = l.accept().await else { return };
            tokio::spawn(async move {
                let (r, mut w) = s.into_split();
                if w.write_all(format!("{name}\n").as_bytes()).await.is_err() {
                    return;
                }
                let mut lines = BufReader::new(r).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    if w.write_all(format!("{line}\n").as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
}

/// A UDP server that answers each datagram with `name:` and the datagram.
pub async fn udp_echo(addr: SocketAddr, name: &'static str) {
    let s = tokio::net::UdpSocket::bind(addr).await.unwrap();
    tokio::spawn(async move {
        let mut buf = [0u8; 1500];
        loop {
            let Ok((n, from)) = s.recv_from(&mut buf).await else { return };
            let mut reply = format!("{name}:").into_bytes();
            reply.extend_from_slice(&buf[..n]);
            let _ = s.send_to(&reply, from).await;
        }
    });
}

/// A self-signed certificate for `names`, its subject CN `cn`, as a TLS
/// Secret `name` in the Gateway API conformance namespace.
pub fn tls_secret(name: &str, cn: &str, names: &[&str]) -> String {
    let mut params = rcgen::CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    params.distinguished_name.push(rcgen::DnType::CommonName, cn);
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    let v = serde_json::json!({
        "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
        "metadata": {"name": name, "namespace": "gateway-conformance-infra"},
        "stringData": {"tls.crt": cert.pem(), "tls.key": key.serialize_pem()},
    });
    format!("---\n{v}\n")
}

/// `curl` over HTTPS to `host` resolved to `at`: (status, the backend that
/// answered).
pub fn curl_https(at: SocketAddr, host: &str) -> (String, String) {
    curl_tls(at, host, "/", &[], "x-backend")
}

/// `curl` over HTTPS for `path`, the connection made for `sni` resolved to
/// `at`, with `extra` arguments: (status, response header `header`). A
/// status of `000` is no answer.
pub fn curl_tls(at: SocketAddr, sni: &str, path: &str, extra: &[&str], header: &str) -> (String, String) {
    let url = format!("https://{sni}:{}{path}", at.port());
    let resolve = format!("{sni}:{}:{}", at.port(), at.ip());
    let out = Command::new("curl")
        .args(["-sk", "--max-time", "5", "--resolve", &resolve, "-o", "/dev/null"])
        .args(["-w", &format!("%{{http_code}} %header{{{header}}}")])
        .args(extra)
        .arg(&url)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (code, value) = text.split_once(' ').unwrap_or((&text, ""));
    (code.to_owned(), value.to_owned())
}

/// The subject CN of the certificate served for `sni`.
pub fn served_cn(at: SocketAddr, sni: &str) -> String {
    let cmd = format!(
        "openssl s_client -connect {at} -servername {sni} </dev/null 2>/dev/null | openssl x509 -noout -subject"
    );
    let out = Command::new("sh").arg("-c").arg(cmd).output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().rsplit(['=', ' ']).next().unwrap_or("").to_owned()
}
