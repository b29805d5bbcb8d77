//! `mirror-target`, `mirror-host`, `mirror-request-body`: copies of the
//! route's requests to another service, whose answers are thrown away.

use super::Reader;
use super::external_auth::url_cluster;
use sluice_config::Mirror;

/// The variables a mirror target may name.
const VARIABLES: [&str; 6] = ["request_uri", "uri", "args", "host", "http_host", "scheme"];

pub(super) fn mirror(a: &mut Reader<'_, '_, '_>) -> Option<Mirror> {
    let target = a.get("mirror-target")?.to_owned();
    let mut unknown = None;
    // Checked with the variables blanked: what remains must be an http URL.
    let blank = sluice_config::expand_variables(&target, |name| {
        if !VARIABLES.contains(&name) {
            unknown.get_or_insert_with(|| name.to_owned());
        }
        String::new()
    });
    if let Some(name) = unknown {
        a.bad("mirror-target", format!("${name} is not one of ${}; no mirror", VARIABLES.join(", $")));
        return None;
    }
    let Some(rest) = blank.strip_prefix("http://") else {
        a.bad("mirror-target", format!("'{target}' is not an http:// URL (https mirrors are not sent); no mirror"));
        return None;
    };
    let authority_text = rest.split(['/', '?']).next().unwrap_or("");
    let Ok(authority) = authority_text.parse::<http::uri::Authority>() else {
        a.bad("mirror-target", format!("'{target}' names no host; no mirror"));
        return None;
    };
    let cluster = match url_cluster(a, authority.host(), authority.port_u16().unwrap_or(80)) {
        Ok(c) => c,
        Err(e) => {
            a.bad("mirror-target", format!("{e}; no mirror"));
            return None;
        }
    };
    // The target starts with http:// as its blanked form does.
    let after_scheme = target.strip_prefix("http://").unwrap_or("");
    let path = &after_scheme[after_scheme.find(['/', '?', '$']).unwrap_or(after_scheme.len())..];
    let path = if path.is_empty() { "/".to_owned() } else { path.to_owned() };
    let host = match a.get("mirror-host").map(str::to_owned) {
        Some(h) if h.parse::<http::uri::Authority>().is_ok() && !h.contains('$') => h,
        Some(h) => {
            a.bad("mirror-host", format!("'{h}' is not a host; the target's is used"));
            authority.as_str().to_owned()
        }
        None => authority.as_str().to_owned(),
    };
    let request_body = a.flag("mirror-request-body", true);
    Some(Mirror { cluster, target: path, host, request_body, per_million: Mirror::EVERY })
}
