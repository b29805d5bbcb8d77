//! A route config's virtual hosts, by host name in order. The map is
//! persistent (`imbl`): a Snapshot translated by difference shares the
//! hosts it did not touch with the last one, equality skips what two
//! Snapshots share, and a consumer finds the hosts that changed with
//! [`VirtualHosts::diff`], so a change costs what it touches, not the
//! number of hosts.

use crate::VirtualHost;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::sync::Arc;

#[derive(Clone, Default, PartialEq, Eq)]
pub struct VirtualHosts {
    hosts: imbl::OrdMap<String, Arc<VirtualHost>>,
    /// Hosts written otherwise than their pattern (upper case, or empty,
    /// which is `*`): only with some can two hosts share a pattern.
    irregular: usize,
}

/// One host that differs between two [`VirtualHosts`].
#[derive(Debug)]
pub enum HostChange<'a> {
    Added(&'a Arc<VirtualHost>),
    Changed { old: &'a Arc<VirtualHost>, new: &'a Arc<VirtualHost> },
    Removed(&'a Arc<VirtualHost>),
}

fn irregular(host: &str) -> bool {
    host.is_empty() || host.bytes().any(|b| b.is_ascii_uppercase())
}

impl VirtualHosts {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.hosts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.hosts.is_empty()
    }

    /// In host order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &Arc<VirtualHost>> {
        self.hosts.values()
    }

    pub fn get(&self, host: &str) -> Option<&Arc<VirtualHost>> {
        self.hosts.get(host)
    }

    /// Adds `vh`, replacing the one of its host; returns that one.
    pub fn insert(&mut self, vh: Arc<VirtualHost>) -> Option<Arc<VirtualHost>> {
        let odd = irregular(&vh.host);
        let before = self.hosts.insert(vh.host.clone(), vh);
        if before.is_none() && odd {
            self.irregular += 1;
        }
        before
    }

    pub fn remove(&mut self, host: &str) -> Option<Arc<VirtualHost>> {
        let gone = self.hosts.remove(host);
        if gone.is_some() && irregular(host) {
            self.irregular -= 1;
        }
        gone
    }

    /// Whether two hosts may share a pattern (one written in upper case, or
    /// an empty one beside `*`); otherwise no two do.
    pub fn may_share_patterns(&self) -> bool {
        self.irregular > 0
    }

    /// The hosts that differ from `self` in `next`, in host order; the
    /// subtrees both share are skipped.
    pub fn diff<'a>(&'a self, next: &'a VirtualHosts) -> impl Iterator<Item = HostChange<'a>> {
        self.hosts.diff(&next.hosts).map(|d| match d {
            imbl::ordmap::DiffItem::Add(_, vh) => HostChange::Added(vh),
            imbl::ordmap::DiffItem::Remove(_, vh) => HostChange::Removed(vh),
            imbl::ordmap::DiffItem::Update { old: (_, old), new: (_, new) } => HostChange::Changed { old, new },
        })
    }
}

/// A later host replaces an earlier one of the same name.
impl FromIterator<Arc<VirtualHost>> for VirtualHosts {
    fn from_iter<I: IntoIterator<Item = Arc<VirtualHost>>>(iter: I) -> Self {
        let mut hosts = VirtualHosts::new();
        hosts.extend(iter);
        hosts
    }
}

impl Extend<Arc<VirtualHost>> for VirtualHosts {
    fn extend<I: IntoIterator<Item = Arc<VirtualHost>>>(&mut self, iter: I) {
        for vh in iter {
            self.insert(vh);
        }
    }
}

impl From<Vec<Arc<VirtualHost>>> for VirtualHosts {
    fn from(hosts: Vec<Arc<VirtualHost>>) -> Self {
        hosts.into_iter().collect()
    }
}

impl<'a> IntoIterator for &'a VirtualHosts {
    type Item = &'a Arc<VirtualHost>;
    type IntoIter = imbl::ordmap::Values<'a, String, Arc<VirtualHost>, imbl::shared_ptr::DefaultSharedPtr>;

    fn into_iter(self) -> Self::IntoIter {
        self.hosts.values()
    }
}

impl fmt::Debug for VirtualHosts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// A list, sorted by host.
impl Serialize for VirtualHosts {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

/// From a list; a host listed twice is an error.
impl<'de> Deserialize<'de> for VirtualHosts {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let list = Vec::<Arc<VirtualHost>>::deserialize(deserializer)?;
        let mut hosts = VirtualHosts::new();
        for vh in list {
            let host = vh.host.clone();
            if hosts.insert(vh).is_some() {
                return Err(D::Error::custom(format!("virtual host '{host}' is listed twice")));
            }
        }
        Ok(hosts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(name: &str, routes: usize) -> Arc<VirtualHost> {
        let route = |i: usize| crate::Route {
            path: crate::PathMatch::exact(format!("/{i}")),
            conditions: None,
            split: crate::Split::single("c"),
            canaries: vec![],
            policy: Default::default(),
            source: crate::ObjectRef::new("Ingress", "default", name),
        };
        Arc::new(VirtualHost { host: name.into(), routes: (0..routes).map(route).collect(), tls: None })
    }

    #[test]
    fn hosts_are_kept_by_name_in_order_and_listed_as_a_list() {
        let hosts: VirtualHosts = vec![host("b.com", 1), host("a.com", 1), host("b.com", 2)].into();
        let names: Vec<&str> = hosts.iter().map(|vh| vh.host.as_str()).collect();
        assert_eq!(names, ["a.com", "b.com"]);
        assert_eq!(hosts.get("b.com").unwrap().routes.len(), 2, "the later of a name replaces the earlier");
        let json = serde_json::to_value(&hosts).unwrap();
        assert_eq!(json.as_array().map(Vec::len), Some(2));
        assert_eq!(serde_json::from_value::<VirtualHosts>(json).unwrap(), hosts);
        let twice = serde_json::to_value([&*host("a.com", 1), &*host("a.com", 2)]).unwrap();
        let e = serde_json::from_value::<VirtualHosts>(twice).unwrap_err().to_string();
        assert!(e.contains("'a.com' is listed twice"), "{e}");
    }

    #[test]
    fn a_difference_lists_what_changed_and_only_that() {
        let before: VirtualHosts = (0..1000).map(|i| host(&format!("h{i}.com"), 1)).collect();
        let mut after = before.clone();
        after.insert(host("h5.com", 2));
        after.remove("h7.com");
        after.insert(host("new.com", 1));
        let changes: Vec<String> = before
            .diff(&after)
            .map(|c| match c {
                HostChange::Added(vh) => format!("+{}", vh.host),
                HostChange::Changed { old, new } => format!("{}:{}>{}", old.host, old.routes.len(), new.routes.len()),
                HostChange::Removed(vh) => format!("-{}", vh.host),
            })
            .collect();
        assert_eq!(changes, ["h5.com:1>2", "-h7.com", "+new.com"]);
        assert_ne!(before, after);
        after.insert(before.get("h5.com").unwrap().clone());
        after.insert(before.get("h7.com").unwrap().clone());
        after.remove("new.com");
        assert_eq!(before, after);
    }

    #[test]
    fn only_hosts_written_unlike_their_pattern_may_share_one() {
        let mut hosts: VirtualHosts = vec![host("a.com", 1), host("*", 1), host("*.a.com", 1)].into();
        assert!(!hosts.may_share_patterns());
        hosts.insert(host("A.com", 1));
        assert!(hosts.may_share_patterns());
        hosts.remove("A.com");
        hosts.insert(host("", 1));
        assert!(hosts.may_share_patterns());
        hosts.remove("");
        assert!(!hosts.may_share_patterns());
    }
}
