//! `sluice demo`: the built-in example, live. Starts a blue and a green echo
//! backend, writes a manifest directory where an ingress-nginx canary
//! Ingress sends part of `shop.demo.local` to green, runs `sluice run` on it,
//! and walks the split 70/30 -> 50/50 -> 0/100 -> 100/0 by editing the
//! canary weight, showing the share each side gets.

use crate::echo;
use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

const HOST: &str = "shop.demo.local";

/// The built-in example: two Services with their endpoints, the main
/// Ingress (blue) and the canary Ingress (green).
fn base_manifests(blue: SocketAddr, green: SocketAddr) -> String {
    let service = |name: &str, at: SocketAddr| {
        format!(
            "---\napiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: demo}}\nspec:\n  ports: [{{name: http, port: 80, targetPort: {port}}}]\n---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {{name: {name}-1, namespace: demo, labels: {{kubernetes.io/service-name: {name}}}}}\naddressType: IPv4\nports: [{{name: http, port: {port}}}]\nendpoints: [{{addresses: [\"{ip}\"], conditions: {{ready: true}}}}]\n",
            port = at.port(),
            ip = at.ip()
        )
    };
    service("blue", blue)
        + &service("green", green)
        + "---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: shop, namespace: demo}\nspec:\n  ingressClassName: sluice\n  rules:\n  - host: shop.demo.local\n    http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: blue, port: {number: 80}}}}]}\n"
}

fn canary_manifest(weight: u32) -> String {
    format!(
        "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: shop-canary\n  namespace: demo\n  annotations:\n    nginx.ingress.kubernetes.io/canary: \"true\"\n    nginx.ingress.kubernetes.io/canary-weight: \"{weight}\"\n    nginx.ingress.kubernetes.io/canary-by-header: X-Canary\nspec:\n  ingressClassName: sluice\n  rules:\n  - host: shop.demo.local\n    http: {{paths: [{{path: /, pathType: Prefix, backend: {{service: {{name: green, port: {{number: 80}}}}}}}}]}}\n"
    )
}

fn write(dir: &Path, name: &str, text: &str) -> std::io::Result<()> {
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, text)?;
    std::fs::rename(tmp, dir.join(name))
}

/// Kills (by PID) and reaps the `sluice run` child on every exit path.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn run(http: SocketAddr, https: SocketAddr, admin: SocketAddr, step: Duration) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("sluice demo: {e}");
            return ExitCode::from(1);
        }
    };
    match rt.block_on(demo(http, https, admin, step)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sluice demo: {e}");
            ExitCode::from(1)
        }
    }
}

async fn demo(http: SocketAddr, https: SocketAddr, admin: SocketAddr, step: Duration) -> Result<(), String> {
    let blue = TcpListener::bind("127.0.0.1:0").await.map_err(|e| e.to_string())?;
    let green = TcpListener::bind("127.0.0.1:0").await.map_err(|e| e.to_string())?;
    let (blue_at, green_at) =
        (blue.local_addr().map_err(|e| e.to_string())?, green.local_addr().map_err(|e| e.to_string())?);
    tokio::spawn(echo::serve(blue, Arc::from("blue"), None));
    tokio::spawn(echo::serve(green, Arc::from("green"), None));

    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    write(dir.path(), "shop.yaml", &base_manifests(blue_at, green_at)).map_err(|e| e.to_string())?;
    write(dir.path(), "shop-canary.yaml", &canary_manifest(30)).map_err(|e| e.to_string())?;

    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let child = Command::new(exe)
        .args(["run", "--threads", "1", "--manifests"])
        .arg(dir.path())
        .args(["--http-listen", &http.to_string(), "--admin-listen", &admin.to_string()])
        .args(["--https-listen", &https.to_string()])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start sluice run: {e}"))?;
    let mut child = Child(child);
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut up = false;
    for _ in 0..100 {
        if let Ok(Some(status)) = child.0.try_wait() {
            return Err(format!("sluice run exited ({status}); is {http} or {admin} already in use?"));
        }
        if ask(&client, http, &[]).await.is_ok() {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if !up {
        return Err(format!("sluice run did not come up on {http}"));
    }

    println!("Sluice is serving the built-in example from {}:", dir.path().display());
    println!("  blue  echo backend on {blue_at}, green on {green_at}");
    println!("  shop.demo.local -> Service blue, and a canary Ingress sending a share to green\n");
    println!("Try it:");
    println!("  curl -s -H 'Host: {HOST}' http://{http}/ | head -c 200");
    println!("  curl -s -H 'Host: {HOST}' -H 'X-Canary: always' http://{http}/   # the canary by header");
    println!("  curl -s http://{admin}/debug/snapshot   # the live Snapshot");
    println!("  curl -s http://{admin}/metrics | grep sluice_http_requests_total\n");
    println!("Moving the canary weight by editing shop-canary.yaml; 200 requests at each step:");
    for weight in [30u32, 50, 100, 0] {
        write(dir.path(), "shop-canary.yaml", &canary_manifest(weight)).map_err(|e| e.to_string())?;
        tokio::time::sleep(Duration::from_millis(150)).await;
        let (mut b, mut g, mut failed) = (0u32, 0u32, 0u32);
        for _ in 0..200 {
            match ask(&client, http, &[]).await {
                Ok(name) if name == "blue" => b += 1,
                Ok(name) if name == "green" => g += 1,
                _ => failed += 1,
            }
        }
        let bar = |n: u32| "#".repeat((n / 5) as usize);
        println!(
            "  canary-weight {weight:>3}: blue {:>3}% {:<40} green {:>3}% {:<40}{}",
            b / 2,
            bar(b),
            g / 2,
            bar(g),
            if failed > 0 { format!(" ({failed} failed)") } else { String::new() }
        );
        tokio::time::sleep(step).await;
    }
    let forced = ask(&client, http, &[("x-canary", "always")]).await.unwrap_or_default();
    println!("  with X-Canary: always at weight 0 -> {forced}");

    if std::io::stdin().is_terminal() {
        println!("\nStill serving on {http} (admin {admin}); Ctrl-C to stop.");
        let _ = tokio::signal::ctrl_c().await;
    }
    drop(child);
    Ok(())
}

/// One request through the proxy; the name of the backend that answered.
async fn ask(
    client: &Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
    http: SocketAddr,
    headers: &[(&str, &str)],
) -> Result<String, String> {
    let mut req = http::Request::builder().uri(format!("http://{http}/")).header("host", HOST);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req.body(Full::new(Bytes::new())).map_err(|e| e.to_string())?;
    let resp = tokio::time::timeout(Duration::from_secs(5), client.request(req))
        .await
        .map_err(|_| "timeout".to_string())?
        .map_err(|e| e.to_string())?;
    Ok(resp.headers().get("x-backend").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned())
}
