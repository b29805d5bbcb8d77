//! The floor pingora 0.9 sets under Sluice's L7 path: a proxy written the
//! way pingora's own examples write one, doing the L7 comparison's job (Host
//! and path prefix, a 3:1 split over two upstream addresses, upstream
//! keep-alive, the same forwarded headers), on pingora's own server, listener
//! and runtime, with Sluice's allocator. `benches/compare-l7` measures it
//! beside Sluice, nginx and HAProxy, so what Sluice adds to pingora and what
//! pingora costs against nginx are told apart.
//!
//! ```text
//! bare_pingora LISTEN UPSTREAM_A UPSTREAM_B
//! ```

use async_trait::async_trait;
use pingora_core::Result;
use pingora_core::server::Server;
use pingora_core::server::configuration::ServerConf;
use pingora_core::upstreams::peer::HttpPeer;
use pingora_http::RequestHeader;
use pingora_proxy::{ProxyHttp, Session};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct Bare {
    upstreams: [SocketAddr; 2],
    next: AtomicUsize,
}

#[async_trait]
impl ProxyHttp for Bare {
    type CTX = ();

    fn new_ctx(&self) {}

    async fn request_filter(&self, session: &mut Session, _ctx: &mut ()) -> Result<bool> {
        let req = session.req_header();
        let host = req.headers.get("host").map(|h| h.as_bytes());
        if host == Some(b"bench.local") && req.uri.path().starts_with("/api") {
            return Ok(false);
        }
        session.respond_error(404).await?;
        Ok(true)
    }

    async fn upstream_peer(&self, _session: &mut Session, _ctx: &mut ()) -> Result<Box<HttpPeer>> {
        let turn = self.next.fetch_add(1, Ordering::Relaxed) % 4;
        let addr = self.upstreams[usize::from(turn == 3)];
        Ok(Box::new(HttpPeer::new(addr, false, String::new())))
    }

    async fn upstream_request_filter(
        &self,
        session: &mut Session,
        upstream: &mut RequestHeader,
        _ctx: &mut (),
    ) -> Result<()> {
        let client = session.client_addr().and_then(|a| a.as_inet()).map(|a| a.ip().to_string()).unwrap_or_default();
        let host = session.req_header().headers.get("host").cloned();
        let uri = session.req_header().uri.to_string();
        upstream.insert_header("x-real-ip", &client)?;
        upstream.insert_header("x-forwarded-for", &client)?;
        if let Some(host) = host {
            upstream.insert_header("x-forwarded-host", host)?;
        }
        upstream.insert_header("x-forwarded-port", "80")?;
        upstream.insert_header("x-forwarded-proto", "http")?;
        upstream.insert_header("x-scheme", "http")?;
        upstream.insert_header("x-original-uri", uri)?;
        upstream.remove_header("proxy");
        Ok(())
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [listen, a, b] = args.as_slice() else {
        eprintln!("usage: bare_pingora LISTEN UPSTREAM_A UPSTREAM_B");
        std::process::exit(2);
    };
    let parse = |s: &String| {
        s.parse::<SocketAddr>().unwrap_or_else(|e| {
            eprintln!("{s}: {e}");
            std::process::exit(2)
        })
    };
    let conf = ServerConf {
        threads: 1,
        grace_period_seconds: Some(0),
        graceful_shutdown_timeout_seconds: Some(0),
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();
    let bare = Bare { upstreams: [parse(a), parse(b)], next: AtomicUsize::new(0) };
    let mut service = pingora_proxy::http_proxy_service(&server.configuration, bare);
    service.add_tcp(listen);
    server.add_service(service);
    server.run_forever();
}
