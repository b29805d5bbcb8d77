//! A line in the controller ConfigMap's `log-format-upstream`.

use super::entry::Entry;
use super::escape::{push_address, push_escaped, push_number, push_seconds};
use super::local_time;
use super::nginx_line::{UpstreamList, push_upstreams};
use sluice_config::{LogEscape, LogFormat, LogPart, LogVar};
use std::io::Write as _;

/// A checked format, ready to write lines.
pub struct CustomLine {
    /// What it was made from, so an unchanged Snapshot keeps it.
    pub source: LogFormat,
    parts: Vec<LogPart>,
}

impl CustomLine {
    pub fn new(source: &LogFormat) -> Result<CustomLine, String> {
        Ok(CustomLine { parts: source.parse()?, source: source.clone() })
    }

    pub fn write(&self, out: &mut Vec<u8>, e: &Entry<'_>) {
        for part in &self.parts {
            match part {
                LogPart::Text(text) => out.extend_from_slice(text.as_bytes()),
                LogPart::Var(var) => self.var(out, var, e),
            }
        }
    }

    /// A value, escaped as the format asks; `-` when the request has none.
    fn push(&self, out: &mut Vec<u8>, value: Option<&[u8]>) {
        let Some(value) = value else {
            out.push(b'-');
            return;
        };
        match self.source.escape {
            LogEscape::Default => push_escaped(out, value),
            LogEscape::Json => push_json_escaped(out, value),
            LogEscape::None => out.extend_from_slice(value),
        }
    }

    fn var(&self, out: &mut Vec<u8>, var: &LogVar, e: &Entry<'_>) {
        match var {
            LogVar::RemoteAddr => push_address(out, e.remote_addr),
            LogVar::RemoteUser => self.push(out, e.remote_user.as_deref().map(str::as_bytes)),
            LogVar::TimeLocal => local_time::with_now(|local, _| out.extend_from_slice(local.as_bytes())),
            LogVar::TimeIso8601 => local_time::with_now(|_, iso| out.extend_from_slice(iso.as_bytes())),
            LogVar::Msec => {
                let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
                push_seconds(out, now);
            }
            LogVar::Request => {
                let mut request = Vec::with_capacity(e.method.len() + e.target.len() + 10);
                let _ = write!(request, "{} {} {}", e.method, e.target, e.protocol);
                self.push(out, Some(&request));
            }
            LogVar::RequestMethod => self.push(out, Some(e.method.as_bytes())),
            LogVar::RequestUri => self.push(out, Some(e.target.as_bytes())),
            LogVar::Uri => self.push(out, Some(e.target.split_once('?').map_or(e.target, |(path, _)| path).as_bytes())),
            LogVar::Args => self.push(out, e.target.split_once('?').map(|(_, query)| query.as_bytes())),
            LogVar::ServerProtocol => out.extend_from_slice(e.protocol.as_bytes()),
            LogVar::Scheme => out.extend_from_slice(e.scheme.as_bytes()),
            LogVar::Host => self.push(out, Some(e.host.as_bytes())),
            LogVar::Status => push_number(out, u64::from(e.status)),
            LogVar::BodyBytesSent => push_number(out, e.bytes_sent),
            LogVar::RequestLength => push_number(out, e.request_length),
            LogVar::RequestTime => push_seconds(out, e.request_time),
            LogVar::ProxyUpstreamName => self.push(out, e.upstream_name.map(str::as_bytes)),
            LogVar::ProxyAlternativeUpstreamName => {
                self.push(out, Some(e.alternative_upstream_name.unwrap_or("").as_bytes()));
            }
            LogVar::UpstreamAddr => push_upstreams(out, e.upstreams, UpstreamList::Address),
            LogVar::UpstreamResponseLength => push_upstreams(out, e.upstreams, UpstreamList::ResponseLength),
            LogVar::UpstreamResponseTime => push_upstreams(out, e.upstreams, UpstreamList::ResponseTime),
            LogVar::UpstreamStatus => push_upstreams(out, e.upstreams, UpstreamList::Status),
            LogVar::RequestId => self.push(out, Some(e.request_id)),
            LogVar::Namespace => self.push(out, e.ingress.map(|o| o.namespace.as_bytes())),
            LogVar::IngressName => self.push(out, e.ingress.map(|o| o.name.as_bytes())),
            LogVar::ServiceName => self.push(out, service(e).map(|(name, _)| name.as_bytes())),
            LogVar::ServicePort => self.push(out, service(e).map(|(_, port)| port.as_bytes())),
            LogVar::Header(name) => self.push(out, e.headers.get(name.as_str()).map(http::HeaderValue::as_bytes)),
        }
    }
}

/// The Service name and port of the cluster that took the request
/// (`namespace/service:port~tags`).
fn service<'a>(e: &Entry<'a>) -> Option<(&'a str, &'a str)> {
    let cluster = e.cluster?;
    let (_, rest) = cluster.split('~').next().unwrap_or(cluster).split_once('/')?;
    rest.rsplit_once(':')
}

/// `value` as inside a JSON string (`log-format-escape-json`).
fn push_json_escaped(out: &mut Vec<u8>, value: &[u8]) {
    for &b in value {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0..0x20 => {
                let _ = write!(out, "\\u{b:04x}");
            }
            _ => out.push(b),
        }
    }
}
