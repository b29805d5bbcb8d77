//! The Snapshot's service table as the kernel maps hold it: a frontend map
//! and per-service backend slots. Each backend gets slots in proportion to
//! its weight (reduced by their common divisor, at most `MAX_SLOTS` a
//! service), so the kernel's uniformly random slot is a weighted choice;
//! weight 0 or terminating = no slot. Service ids stay with a service from
//! one table to the next, so an unchanged service is not rewritten.

use sluice_config::{FrontendKind, L4Protocol, ServiceVip};
use sluice_ebpf_common::{Backend, LiveKey, PROTO_SCTP, PROTO_TCP, PROTO_UDP, ServiceKey, ServiceValue, SlotKey};
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

/// Most slots one service gets.
pub const MAX_SLOTS: u64 = 1024;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceTable {
    pub services: HashMap<ServiceKey, ServiceValue>,
    pub backends: HashMap<SlotKey, Backend>,
    /// Backends that exist (affinity keeps only these).
    pub live: HashMap<LiveKey, u8>,
    /// Service name -> id, kept across tables.
    ids: BTreeMap<String, u32>,
}

/// A table's maps: services, backend slots, live backends.
pub type Maps<'a> = (&'a HashMap<ServiceKey, ServiceValue>, &'a HashMap<SlotKey, Backend>, &'a HashMap<LiveKey, u8>);

/// What turns one table into another, in the order it must be applied:
/// slots first (so a count never points past them), then frontends, then
/// what is gone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diff {
    pub upsert_live: Vec<LiveKey>,
    pub upsert_backends: Vec<(SlotKey, Backend)>,
    pub upsert_services: Vec<(ServiceKey, ServiceValue)>,
    pub remove_services: Vec<ServiceKey>,
    pub remove_backends: Vec<SlotKey>,
    pub remove_live: Vec<LiveKey>,
}

impl Diff {
    pub fn is_empty(&self) -> bool {
        self.upsert_live.is_empty()
            && self.upsert_backends.is_empty()
            && self.upsert_services.is_empty()
            && self.remove_services.is_empty()
            && self.remove_backends.is_empty()
            && self.remove_live.is_empty()
    }
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// Slots of each backend, in proportion to the weights.
fn slots(weights: &[u64]) -> Vec<u64> {
    let g = weights.iter().fold(0, |g, w| gcd(g, *w)).max(1);
    let reduced: Vec<u64> = weights.iter().map(|w| w / g).collect();
    let total: u64 = reduced.iter().sum();
    if total <= MAX_SLOTS {
        return reduced;
    }
    reduced.iter().map(|w| if *w == 0 { 0 } else { (w * MAX_SLOTS / total).max(1) }).collect()
}

fn protocol(p: L4Protocol) -> u8 {
    match p {
        L4Protocol::Tcp => PROTO_TCP,
        L4Protocol::Udp => PROTO_UDP,
        L4Protocol::Sctp => PROTO_SCTP,
    }
}

impl ServiceTable {
    /// The table for `services`, reusing `previous`'s ids.
    pub fn build(services: &[ServiceVip], previous: Option<&ServiceTable>) -> ServiceTable {
        let mut table = ServiceTable::default();
        let mut next_id = previous.and_then(|p| p.ids.values().max().copied()).unwrap_or(0) + 1;
        for svc in services {
            let id = match previous.and_then(|p| p.ids.get(&svc.name)) {
                Some(id) => *id,
                None => {
                    next_id += 1;
                    next_id - 1
                }
            };
            table.ids.insert(svc.name.clone(), id);
            let usable: Vec<(std::net::Ipv4Addr, u16, u64)> = svc
                .backends
                .iter()
                .filter(|b| !b.terminating)
                .filter_map(|b| match b.address.ip() {
                    IpAddr::V4(ip) => Some((ip, b.address.port(), u64::from(b.weight))),
                    IpAddr::V6(_) => None,
                })
                .collect();
            let counts = slots(&usable.iter().map(|b| b.2).collect::<Vec<_>>());
            let mut slot: u16 = 0;
            for (ip, port, _) in &usable {
                let live = LiveKey { id, address: u32::from(*ip).to_be(), port: port.to_be(), _pad: 0 };
                table.live.insert(live, 1);
            }
            for ((ip, port, weight), n) in usable.iter().zip(counts) {
                for _ in 0..n {
                    slot += 1;
                    let backend = Backend {
                        address: u32::from(*ip).to_be(),
                        port: port.to_be(),
                        weight: u16::try_from(*weight).unwrap_or(u16::MAX),
                    };
                    table.backends.insert(SlotKey { id, slot, _pad: 0 }, backend);
                }
            }
            let value =
                ServiceValue { id, count: slot, flags: 0, affinity_seconds: svc.session_affinity_seconds.unwrap_or(0) };
            for f in &svc.frontends {
                // Socket-LB translates the addresses a client dials; NodePort is the TC program's.
                if f.kind == FrontendKind::NodePort {
                    continue;
                }
                let IpAddr::V4(ip) = f.address else { continue };
                let key = ServiceKey {
                    address: u32::from(ip).to_be(),
                    port: f.port.to_be(),
                    protocol: protocol(svc.protocol),
                    _pad: 0,
                };
                table.services.insert(key, value);
            }
        }
        table
    }

    /// What turns `self` into `next`.
    pub fn diff(&self, next: &ServiceTable) -> Diff {
        let mut d = Diff {
            upsert_live: next.live.keys().filter(|k| !self.live.contains_key(k)).copied().collect(),
            remove_live: self.live.keys().filter(|k| !next.live.contains_key(k)).copied().collect(),
            ..Diff::default()
        };
        for (k, v) in &next.backends {
            if self.backends.get(k) != Some(v) {
                d.upsert_backends.push((*k, *v));
            }
        }
        for (k, v) in &next.services {
            if self.services.get(k) != Some(v) {
                d.upsert_services.push((*k, *v));
            }
        }
        d.remove_services = self.services.keys().filter(|k| !next.services.contains_key(k)).copied().collect();
        d.remove_backends = self.backends.keys().filter(|k| !next.backends.contains_key(k)).copied().collect();
        d
    }

    /// Applies `diff` to the in-memory maps (as the kernel maps get it).
    pub fn apply(&mut self, diff: &Diff) {
        self.live.extend(diff.upsert_live.iter().map(|k| (*k, 1)));
        self.backends.extend(diff.upsert_backends.iter().copied());
        self.services.extend(diff.upsert_services.iter().copied());
        for k in &diff.remove_services {
            self.services.remove(k);
        }
        for k in &diff.remove_backends {
            self.backends.remove(k);
        }
        for k in &diff.remove_live {
            self.live.remove(k);
        }
    }

    /// The maps only (what the kernel holds), for comparing tables.
    pub fn maps(&self) -> Maps<'_> {
        (&self.services, &self.backends, &self.live)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc(name: &str, vip: &str, backends: &[(&str, u32)]) -> ServiceVip {
        let frontend = format!("{vip}:80").parse().unwrap();
        ServiceVip::cluster_ip(name, L4Protocol::Tcp, frontend, backends.iter().map(|(a, w)| (a.parse().unwrap(), *w)))
    }

    #[test]
    fn slots_follow_weights() {
        assert_eq!(slots(&[70, 30]), [7, 3]);
        assert_eq!(slots(&[1, 0, 1]), [1, 0, 1]);
        assert_eq!(slots(&[5000, 1]), [1023, 1]);
        let t = ServiceTable::build(&[svc("a", "203.0.113.1", &[("192.0.2.1:80", 3), ("192.0.2.2:80", 1)])], None);
        let value = t.services.values().next().unwrap();
        assert_eq!(value.count, 4);
        let first = t.backends.values().filter(|b| b.address == u32::from_be_bytes([192, 0, 2, 1]).to_be()).count();
        assert_eq!(first, 3);
    }

    /// Maps after diffs equal maps built from scratch, through a sequence of
    /// adds, weight changes, endpoint removals and service removals; an
    /// unchanged service is not rewritten.
    #[test]
    fn diffs_reach_the_same_maps_as_a_fresh_build() {
        let steps = [
            vec![svc("a", "203.0.113.1", &[("192.0.2.1:80", 1), ("192.0.2.2:80", 1)])],
            vec![
                svc("a", "203.0.113.1", &[("192.0.2.1:80", 1), ("192.0.2.2:80", 1)]),
                svc("b", "203.0.113.2", &[("192.0.2.3:80", 1)]),
            ],
            vec![
                svc("a", "203.0.113.1", &[("192.0.2.1:80", 1)]),
                svc("b", "203.0.113.2", &[("192.0.2.3:80", 2), ("192.0.2.4:80", 1)]),
            ],
            vec![svc("b", "203.0.113.2", &[("192.0.2.4:80", 1)])],
            vec![],
        ];
        let mut live = ServiceTable::default();
        let mut previous: Option<ServiceTable> = None;
        for (i, services) in steps.iter().enumerate() {
            let next = ServiceTable::build(services, previous.as_ref());
            let diff = live.diff(&next);
            live.apply(&diff);
            assert_eq!(live.maps(), next.maps(), "step {i}");
            if i == 1 {
                let a_key =
                    *next.services.keys().find(|k| k.address == u32::from_be_bytes([203, 0, 113, 1]).to_be()).unwrap();
                assert!(!diff.upsert_services.iter().any(|(k, _)| *k == a_key), "service a unchanged: not rewritten");
            }
            previous = Some(next);
        }
        assert!(live.services.is_empty() && live.backends.is_empty() && live.live.is_empty());
    }
}
