//! The admin listener (loopback by default): `/healthz` (503 while the
//! process cannot serve: no Snapshot yet, or a listener of its own flags
//! that cannot bind), `/readyz` (ready once the first Snapshot is live),
//! `/metrics`, `/debug/snapshot`.

use crate::publish::Publisher;
use arc_swap::ArcSwapOption;
use async_trait::async_trait;
use http::Response;
use pingora_core::apps::http_app::ServeHttp;
use pingora_core::protocols::http::ServerSession;
use prometheus::Encoder;
use sluice_config::{Consumer, Diagnostic, Published};
use std::sync::Arc;

/// What the admin endpoints show: the Snapshot being served, once there is
/// one, with every consumer's reports.
#[derive(Default)]
pub struct AdminState {
    pub live: ArcSwapOption<Published>,
}

impl Consumer for AdminState {
    fn name(&self) -> &'static str {
        "admin"
    }

    fn apply(&self, published: &Arc<Published>) -> Vec<Diagnostic> {
        self.live.store(Some(published.clone()));
        Vec::new()
    }
}

pub struct AdminApp {
    pub state: Arc<AdminState>,
    pub publisher: Arc<Publisher>,
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
            "/healthz" => match self.publisher.unhealthy() {
                problems if problems.is_empty() => reply(200, "text/plain", b"ok\n".to_vec()),
                problems => reply(503, "text/plain", format!("unhealthy: {}\n", problems.join("; ")).into_bytes()),
            },
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
