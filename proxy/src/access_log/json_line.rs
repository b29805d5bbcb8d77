//! One JSON object a request. Every field is always present (`null` when
//! the request has no value for it), so a pipeline's schema holds.

use super::entry::Entry;
use super::local_time;
use super::nginx_line::{UpstreamList, push_upstreams};
use super::session::Session;
use serde::Serialize;
use std::borrow::Cow;

#[derive(Serialize)]
struct Line<'a> {
    time: &'a str,
    remote_addr: Option<String>,
    remote_user: Option<&'a str>,
    request_id: Cow<'a, str>,
    method: &'a str,
    host: &'a str,
    path: &'a str,
    protocol: &'a str,
    status: u16,
    bytes_sent: u64,
    request_length: u64,
    /// Seconds, with milliseconds.
    request_time: f64,
    /// Comma separated, one an attempt, as nginx's `$upstream_addr`.
    upstream_addr: Option<String>,
    upstream_status: Option<String>,
    upstream_response_time: Option<String>,
    upstream_response_length: Option<String>,
    upstream_name: Option<&'a str>,
    alternative_upstream_name: Option<&'a str>,
    /// `namespace/name` of the Ingress (or other object) the route came from.
    ingress: Option<String>,
    user_agent: Option<Cow<'a, str>>,
    referer: Option<Cow<'a, str>>,
    x_forwarded_for: Option<Cow<'a, str>>,
}

pub fn write(out: &mut Vec<u8>, e: &Entry<'_>) {
    let list = |list: UpstreamList| {
        (!e.upstreams.is_empty()).then(|| {
            let mut text = Vec::new();
            push_upstreams(&mut text, e.upstreams, list);
            String::from_utf8_lossy(&text).into_owned()
        })
    };
    let upstream_addr = list(UpstreamList::Address);
    let upstream_status = list(UpstreamList::Status);
    let upstream_response_time = list(UpstreamList::ResponseTime);
    let upstream_response_length = list(UpstreamList::ResponseLength);
    local_time::with_now(|_, iso8601| {
        let line = Line {
            time: iso8601,
            remote_addr: e.remote_addr.map(|ip| ip.to_string()),
            remote_user: e.remote_user.as_deref(),
            request_id: String::from_utf8_lossy(e.request_id),
            method: e.method,
            host: e.host,
            path: e.target,
            protocol: e.protocol,
            status: e.status,
            bytes_sent: e.bytes_sent,
            request_length: e.request_length,
            request_time: e.request_time.as_millis() as f64 / 1000.0,
            upstream_addr,
            upstream_status,
            upstream_response_time,
            upstream_response_length,
            upstream_name: e.upstream_name,
            alternative_upstream_name: e.alternative_upstream_name,
            ingress: e.ingress.map(|o| format!("{}/{}", o.namespace, o.name)),
            user_agent: e.user_agent.map(String::from_utf8_lossy),
            referer: e.referer.map(String::from_utf8_lossy),
            x_forwarded_for: e.x_forwarded_for.map(String::from_utf8_lossy),
        };
        // Serializing borrowed strings and numbers into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, &line);
    });
}

#[derive(Serialize)]
struct SessionLine<'a> {
    time: &'a str,
    protocol: &'a str,
    remote_addr: String,
    remote_port: u16,
    listener: &'a str,
    status: u16,
    /// Bytes to the client.
    bytes_sent: u64,
    /// Bytes from the client.
    bytes_received: u64,
    /// Seconds, with milliseconds.
    session_time: f64,
    upstream_name: Option<&'a str>,
    upstream_addr: Option<String>,
    termination: &'a str,
}

pub fn write_session(out: &mut Vec<u8>, s: &Session<'_>) {
    local_time::with_now(|_, iso8601| {
        let line = SessionLine {
            time: iso8601,
            protocol: s.protocol,
            remote_addr: s.client.ip().to_string(),
            remote_port: s.client.port(),
            listener: s.listener,
            status: s.end.status(),
            bytes_sent: s.bytes_sent,
            bytes_received: s.bytes_received,
            session_time: s.duration.as_millis() as f64 / 1000.0,
            upstream_name: s.upstream_name,
            upstream_addr: s.upstream_addr.map(|a| a.to_string()),
            termination: s.end.name(),
        };
        let _ = serde_json::to_writer(&mut *out, &line);
    });
}
