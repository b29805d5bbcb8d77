//! Virtual host selection: exact host, then `*.suffix` (one label; any
//! depth for Gateway API route configs, the longest suffix first), then the
//! host-less virtual host.

use sluice_config::HostPattern;
use std::sync::Arc;

/// Hosts to what serves them. The maps are persistent (`imbl`): the next
/// table's index is this one with the hosts that changed edited in, so a
/// swap does not rebuild it whole.
#[derive(Debug)]
pub(super) struct HostIndex<V> {
    exact: imbl::HashMap<String, Arc<V>>,
    /// Keyed by the suffix with its leading dot: `.example.com`.
    wildcard: imbl::HashMap<String, Arc<V>>,
    any: Option<Arc<V>>,
    /// Two hosts share a pattern (the first is served): such an index is
    /// built whole, as editing it could drop the one that should stay.
    shared: bool,
    /// `*.suffix` covers any number of labels before the suffix.
    any_depth: bool,
}

impl<V> Default for HostIndex<V> {
    fn default() -> Self {
        Self { exact: imbl::HashMap::new(), wildcard: imbl::HashMap::new(), any: None, shared: false, any_depth: false }
    }
}

impl<V> Clone for HostIndex<V> {
    fn clone(&self) -> Self {
        Self {
            exact: self.exact.clone(),
            wildcard: self.wildcard.clone(),
            any: self.any.clone(),
            shared: self.shared,
            any_depth: self.any_depth,
        }
    }
}

impl<V> HostIndex<V> {
    /// The index of `hosts` in order: for a pattern two of them share, the first.
    pub(super) fn build<'a>(hosts: impl Iterator<Item = (&'a str, &'a Arc<V>)>) -> Self
    where
        V: 'a,
    {
        let mut index = HostIndex::default();
        for (host, value) in hosts {
            if !index.insert(host, value) {
                index.shared = true;
            }
        }
        index
    }

    /// Makes `*.suffix` cover any number of labels (Gateway API) or one.
    pub(super) fn set_wildcard_any_depth(&mut self, any_depth: bool) {
        self.any_depth = any_depth;
    }

    /// Whether some pattern has more than one host.
    pub(super) fn shared(&self) -> bool {
        self.shared
    }

    /// Adds `host`; `false` (and no change) when another host holds its pattern.
    pub(super) fn insert(&mut self, host: &str, value: &Arc<V>) -> bool {
        let slot = match HostPattern::parse(host) {
            HostPattern::Exact(h) => self.exact.entry(h),
            HostPattern::Wildcard(suffix) => self.wildcard.entry(suffix),
            HostPattern::Any => {
                if self.any.is_some() {
                    return false;
                }
                self.any = Some(value.clone());
                return true;
            }
        };
        match slot {
            imbl::hashmap::Entry::Occupied(_) => false,
            imbl::hashmap::Entry::Vacant(v) => {
                v.insert(value.clone());
                true
            }
        }
    }

    /// Removes `host` if `value` is what serves it.
    pub(super) fn remove(&mut self, host: &str, value: &Arc<V>) {
        let (map, key) = match HostPattern::parse(host) {
            HostPattern::Exact(h) => (&mut self.exact, h),
            HostPattern::Wildcard(suffix) => (&mut self.wildcard, suffix),
            HostPattern::Any => {
                if self.any.as_ref().is_some_and(|a| Arc::ptr_eq(a, value)) {
                    self.any = None;
                }
                return;
            }
        };
        if map.get(&key).is_some_and(|v| Arc::ptr_eq(v, value)) {
            map.remove(&key);
        }
    }

    pub(super) fn find(&self, host: &str) -> Option<&Arc<V>> {
        let host = strip_port(host);
        let lowered;
        let host = if host.bytes().any(|b| b.is_ascii_uppercase()) {
            lowered = host.to_ascii_lowercase();
            lowered.as_str()
        } else {
            host
        };
        if let Some(v) = self.exact.get(host) {
            return Some(v);
        }
        if !self.wildcard.is_empty()
            && let Some(dot) = host.find('.')
            && dot > 0
        {
            if let Some(v) = self.wildcard.get(&host[dot..]) {
                return Some(v);
            }
            if self.any_depth {
                let deeper = host[dot + 1..].match_indices('.').map(|(i, _)| dot + 1 + i);
                if let Some(v) = deeper.filter_map(|i| self.wildcard.get(&host[i..])).next() {
                    return Some(v);
                }
            }
        }
        self.any.as_ref()
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
