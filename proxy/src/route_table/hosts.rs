//! Virtual host selection: exact host, then `*.suffix` (one label), then the
//! host-less virtual host.

use sluice_config::HostPattern;
use std::collections::HashMap;

#[derive(Debug, Default)]
pub(super) struct HostIndex {
    exact: HashMap<String, usize>,
    /// Keyed by the suffix with its leading dot: `.example.com`.
    wildcard: HashMap<String, usize>,
    any: Option<usize>,
}

impl HostIndex {
    pub(super) fn build<'a>(hosts: impl Iterator<Item = &'a str>) -> Self {
        let mut index = HostIndex::default();
        for (i, host) in hosts.enumerate() {
            match HostPattern::parse(host) {
                HostPattern::Exact(h) => {
                    index.exact.entry(h).or_insert(i);
                }
                HostPattern::Wildcard(suffix) => {
                    index.wildcard.entry(suffix).or_insert(i);
                }
                HostPattern::Any => {
                    index.any.get_or_insert(i);
                }
            }
        }
        index
    }

    pub(super) fn find(&self, host: &str) -> Option<usize> {
        let host = strip_port(host);
        let lowered;
        let host = if host.bytes().any(|b| b.is_ascii_uppercase()) {
            lowered = host.to_ascii_lowercase();
            lowered.as_str()
        } else {
            host
        };
        if let Some(i) = self.exact.get(host) {
            return Some(*i);
        }
        if !self.wildcard.is_empty()
            && let Some(dot) = host.find('.')
            && dot > 0
            && let Some(i) = self.wildcard.get(&host[dot..])
        {
            return Some(*i);
        }
        self.any
    }
}

/// `example.com:8080` -> `example.com`; `[2001:db8::1]:80` -> `[2001:db8::1]`.
fn strip_port(host: &str) -> &str {
    match host.rfind(':') {
        Some(i) if !host[i + 1..].is_empty() && host[i + 1..].bytes().all(|b| b.is_ascii_digit()) => {
            let name = &host[..i];
            if name.contains(':') && !name.ends_with(']') { host } else { name }
        }
        _ => host,
    }
}
