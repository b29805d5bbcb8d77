//! The admin listener (loopback by default): `/healthz`, `/readyz`,
//! `/metrics`, `/debug/snapshot`.

use arc_swap::ArcSwapOption;
use async_trait::async_trait;
use http::Response;
use pingora_core::apps::http_app::ServeHttp;
use pingora_core::protocols::http::ServerSession;
use prometheus::Encoder;
use sluice_controller::Published;
use std::sync::Arc;

/// What the admin endpoints show: the Snapshot being served, once there is one.
#[derive(Default)]
pub struct AdminState {
    pub live: ArcSwapOption<Published>,
}

pub struct AdminApp {
    pub state: Arc<AdminState>,
}

fn reply(status: u16, content_type: &str, body: Vec<u8>) -> Response<Vec<u8>> {
    Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, content_type)
        .header(http::header::CONTENT_LENGTH, body.len())
        .body(body)
        .unwrap_or_else(|_| Response::new(Vec::new()))
}

#[async_trait]
impl ServeHttp for AdminApp {
    async fn response(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        let path = session.req_header().uri.path().to_owned();
        let live = self.state.live.load_full();
        match path.as_str() {
            "/healthz" => reply(200, "text/plain", b"ok\n".to_vec()),
            "/readyz" => match live.filter(|p| p.snapshot.generation > 0) {
                Some(p) => {
                    reply(200, "text/plain", format!("ready: generation {}\n", p.snapshot.generation).into_bytes())
                }
                None => reply(503, "text/plain", b"not ready: no Snapshot served yet\n".to_vec()),
            },
            "/metrics" => {
                let mut out = Vec::new();
                let encoder = prometheus::TextEncoder::new();
                match encoder.encode(&prometheus::gather(), &mut out) {
                    Ok(()) => reply(200, encoder.format_type(), out),
                    Err(e) => reply(500, "text/plain", e.to_string().into_bytes()),
                }
            }
            "/debug/snapshot" => match live {
                Some(p) => {
                    let body = serde_json::json!({ "snapshot": &*p.snapshot, "diagnostics": &p.diagnostics });
                    reply(200, "application/json", serde_json::to_vec_pretty(&body).unwrap_or_default())
                }
                None => reply(503, "application/json", b"{\"error\": \"no Snapshot served yet\"}\n".to_vec()),
            },
            _ => reply(404, "text/plain", b"not found: /healthz /readyz /metrics /debug/snapshot\n".to_vec()),
        }
    }
}
