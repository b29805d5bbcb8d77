//! ingress-nginx's default access-log line (its `log-format-upstream`):
//!
//! `$remote_addr - $remote_user [$time_local] "$request" $status
//! $body_bytes_sent "$http_referer" "$http_user_agent" $request_length
//! $request_time [$proxy_upstream_name] [$proxy_alternative_upstream_name]
//! $upstream_addr $upstream_response_length $upstream_response_time
//! $upstream_status $req_id`

use super::entry::{Entry, UpstreamTry};
use super::escape::{push_address, push_escaped, push_number, push_or_dash, push_seconds};
use super::local_time;
use super::session::Session;

pub fn write(out: &mut Vec<u8>, e: &Entry<'_>) {
    push_address(out, e.remote_addr);
    out.extend_from_slice(b" - ");
    push_or_dash(out, e.remote_user.as_deref().map(str::as_bytes));
    out.extend_from_slice(b" [");
    local_time::with_now(|common_log, _| out.extend_from_slice(common_log.as_bytes()));
    out.extend_from_slice(b"] \"");
    push_escaped(out, e.method.as_bytes());
    out.push(b' ');
    push_escaped(out, e.target.as_bytes());
    out.push(b' ');
    out.extend_from_slice(e.protocol.as_bytes());
    out.extend_from_slice(b"\" ");
    push_number(out, u64::from(e.status));
    out.push(b' ');
    push_number(out, e.bytes_sent);
    out.extend_from_slice(b" \"");
    push_or_dash(out, e.referer);
    out.extend_from_slice(b"\" \"");
    push_or_dash(out, e.user_agent);
    out.extend_from_slice(b"\" ");
    push_number(out, e.request_length);
    out.push(b' ');
    push_seconds(out, e.request_time);
    out.extend_from_slice(b" [");
    push_or_dash(out, e.upstream_name.map(str::as_bytes));
    // Empty, not `-`, when no canary took it: ingress-nginx sets the
    // variable to "" and lines read `[]`.
    out.extend_from_slice(b"] [");
    push_escaped(out, e.alternative_upstream_name.unwrap_or("").as_bytes());
    out.extend_from_slice(b"] ");
    for list in [UpstreamList::Address, UpstreamList::ResponseLength, UpstreamList::ResponseTime, UpstreamList::Status]
    {
        push_upstreams(out, e.upstreams, list);
        out.push(b' ');
    }
    push_or_dash(out, Some(e.request_id));
}

/// An L4 session: ingress-nginx's default `log-format-stream`
/// (`[$remote_addr] [$time_local] $protocol $status $bytes_sent
/// $bytes_received $session_time`), then the listener, `[upstream name]`,
/// the upstream address and how the session ended.
pub fn write_session(out: &mut Vec<u8>, s: &Session<'_>) {
    out.push(b'[');
    push_address(out, Some(s.client.ip()));
    out.extend_from_slice(b"] [");
    local_time::with_now(|common_log, _| out.extend_from_slice(common_log.as_bytes()));
    out.extend_from_slice(b"] ");
    out.extend_from_slice(s.protocol.as_bytes());
    out.push(b' ');
    push_number(out, u64::from(s.end.status()));
    out.push(b' ');
    push_number(out, s.bytes_sent);
    out.push(b' ');
    push_number(out, s.bytes_received);
    out.push(b' ');
    push_seconds(out, s.duration);
    out.push(b' ');
    push_escaped(out, s.listener.as_bytes());
    out.extend_from_slice(b" [");
    push_or_dash(out, s.upstream_name.map(str::as_bytes));
    out.extend_from_slice(b"] ");
    push_address(out, s.upstream_addr);
    out.push(b' ');
    out.extend_from_slice(s.end.name().as_bytes());
}

/// nginx's `$upstream_*` lists, one value an attempt.
#[derive(Clone, Copy)]
pub(super) enum UpstreamList {
    Address,
    ResponseLength,
    ResponseTime,
    /// `-` for an attempt the upstream gave no status.
    Status,
}

/// `list`, comma separated as nginx writes it; `-` when nothing was tried.
pub(super) fn push_upstreams(out: &mut Vec<u8>, tries: &[UpstreamTry], list: UpstreamList) {
    if tries.is_empty() {
        out.push(b'-');
    }
    for (i, u) in tries.iter().enumerate() {
        if i > 0 {
            out.extend_from_slice(b", ");
        }
        match list {
            UpstreamList::Address => push_address(out, Some(u.address)),
            UpstreamList::ResponseLength => push_number(out, u.response_length),
            UpstreamList::ResponseTime => push_seconds(out, u.response_time),
            UpstreamList::Status => match u.status {
                Some(status) => push_number(out, u64::from(status)),
                None => out.push(b'-'),
            },
        }
    }
}
