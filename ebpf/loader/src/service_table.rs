//! The Snapshot's service table as the kernel maps hold it: a frontend map
//! and per-service backend slots. For a random choice each backend gets
//! slots in proportion to its weight (reduced by their common divisor, at
//! most `MAX_SLOTS` a service), so the kernel's uniformly random slot is a
//! weighted choice; for a Maglev choice (NodePort, `--ebpf-lb maglev`) the
//! slots are a `MAGLEV_SLOTS` Maglev table. Weight 0 or terminating = no
//! slot. A Service port's ClusterIP-side frontends and its NodePort have
//! separate slot sets, as their traffic policies pick different backends.
//! Ids stay with a slot set from one table to the next, so an unchanged
//! service is not rewritten.

use sluice_config::{FrontendKind, L4Protocol, ServiceVip, TrafficPolicy};
use sluice_ebpf_common::{
    BACKEND_LOCAL, Backend, FLAG_EXTERNAL_LOCAL, FLAG_INTERNAL_LOCAL, FLAG_MAGLEV, LiveKey, PROTO_SCTP, PROTO_TCP,
    PROTO_UDP, ServiceKey, ServiceValue, SlotKey,
};
use sluice_maglev::Maglev;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::Hash;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

/// Most slots one service gets for a random choice.
pub const MAX_SLOTS: u64 = 1024;
/// Slots of a Maglev table (a prime; Cilium's smallest table size is 251).
pub const MAGLEV_SLOTS: u32 = 1021;

/// How NodePort backends are chosen (`--ebpf-lb`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LbAlgorithm {
    /// A random slot: weighted, no state.
    #[default]
    Random,
    /// A Maglev table indexed by the flow's hash: a flow picks the same
    /// backend on every node, and a backend change moves few flows.
    Maglev,
}

/// What the layout depends on besides the services.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableOptions {
    /// This node's name: its endpoints serve `Local` traffic policies and
    /// keep the client's address.
    pub node: String,
    pub lb: LbAlgorithm,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceTable {
    pub services: HashMap<ServiceKey, ServiceValue>,
    pub backends: HashMap<SlotKey, Backend>,
    /// Backends that exist (affinity keeps only these).
    pub live: HashMap<LiveKey, u8>,
    /// How many slot sets have each backend (address, port), as `live` holds them.
    live_uses: HashMap<(u32, u16), u32>,
    /// Slot-set name -> id, kept across tables.
    ids: BTreeMap<String, u32>,
    /// Each service by name, as it was laid out, with what it wrote.
    laid: HashMap<String, Laid>,
    /// The options the table was laid out with.
    options: TableOptions,
    /// Two services share a frontend (the later one is served): such a
    /// table is built whole, as editing it could drop the one that serves.
    shared: bool,
    /// The services of the last build or update, in their order.
    inputs: Vec<Arc<ServiceVip>>,
    /// Whether `inputs` is sorted by name, no name twice.
    sorted: bool,
}

/// One service's part of the table.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Laid {
    input: Arc<ServiceVip>,
    frontends: Vec<ServiceKey>,
    /// Its slot sets: name, id, slot count.
    sets: Vec<(String, u32, u16)>,
    live: Vec<LiveKey>,
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

    /// What turns the maps of `from` into those of `to`.
    pub(crate) fn between(from: Maps<'_>, to: Maps<'_>) -> Diff {
        let (from_services, from_backends, from_live) = from;
        let (to_services, to_backends, to_live) = to;
        Diff {
            upsert_live: upserts(from_live, to_live).into_iter().map(|(k, _)| k).collect(),
            upsert_backends: upserts(from_backends, to_backends),
            upsert_services: upserts(from_services, to_services),
            remove_services: removals(from_services, to_services),
            remove_backends: removals(from_backends, to_backends),
            remove_live: removals(from_live, to_live),
        }
    }
}

/// Entries of `to` that `from` does not hold as they are.
fn upserts<K: Copy + Eq + Hash, V: Copy + PartialEq>(from: &HashMap<K, V>, to: &HashMap<K, V>) -> Vec<(K, V)> {
    to.iter().filter(|(k, v)| from.get(k) != Some(v)).map(|(k, v)| (*k, *v)).collect()
}

/// Keys of `from` that `to` does not hold.
fn removals<K: Copy + Eq + Hash, V>(from: &HashMap<K, V>, to: &HashMap<K, V>) -> Vec<K> {
    from.keys().filter(|k| !to.contains_key(k)).copied().collect()
}

/// The map entries of the services one update touches.
#[derive(Default)]
struct Part {
    services: HashMap<ServiceKey, ServiceValue>,
    backends: HashMap<SlotKey, Backend>,
    live: HashMap<LiveKey, u8>,
}

impl Part {
    fn maps(&self) -> Maps<'_> {
        (&self.services, &self.backends, &self.live)
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

/// A backend that can take flows: IPv4, not terminating.
struct Usable {
    ip: Ipv4Addr,
    port: u16,
    weight: u32,
    local: bool,
}

impl Usable {
    fn backend(&self) -> Backend {
        let flags = if self.local { BACKEND_LOCAL } else { 0 };
        Backend { address: u32::from(self.ip).to_be(), port: self.port.to_be(), flags }
    }
}

/// A service's frontends as map keys: those socket-LB translates (the
/// addresses a client dials), then its NodePorts (any node address).
fn frontend_keys(svc: &ServiceVip) -> (Vec<ServiceKey>, Vec<ServiceKey>) {
    let proto = protocol(svc.protocol);
    let mut dialed = Vec::new();
    let mut node_ports = Vec::new();
    for f in &svc.frontends {
        if f.kind == FrontendKind::NodePort {
            node_ports.push(ServiceKey { address: 0, port: f.port.to_be(), protocol: proto, _pad: 0 });
        } else if let IpAddr::V4(ip) = f.address {
            dialed.push(ServiceKey { address: u32::from(ip).to_be(), port: f.port.to_be(), protocol: proto, _pad: 0 });
        }
    }
    (dialed, node_ports)
}

/// How a slot set is laid out.
#[derive(Clone, Copy)]
enum Layout {
    Weighted,
    Maglev,
}

impl ServiceTable {
    /// The table for `services`, reusing `previous`'s ids.
    pub fn build(
        services: &[Arc<ServiceVip>],
        previous: Option<&ServiceTable>,
        options: &TableOptions,
    ) -> ServiceTable {
        let mut table = ServiceTable { options: options.clone(), ..ServiceTable::default() };
        let mut next_id = previous.and_then(|p| p.ids.values().max().copied()).unwrap_or(0) + 1;
        let none = BTreeMap::new();
        let ids = previous.map_or(&none, |p| &p.ids);
        for svc in services {
            let laid = table.add(svc, Some(ids), &mut next_id);
            table.shared |= table.laid.insert(svc.name.clone(), laid).is_some();
        }
        let sorted = services.windows(2).all(|w| w[0].name < w[1].name);
        table.remember(services, sorted);
        table
    }

    /// Makes the table hold `services` by difference: only services that
    /// changed, came or went are laid out again, so a one-service change
    /// costs one service whatever the table's size. Returns what turns the
    /// old maps into the new, as [`ServiceTable::diff`] would.
    pub fn update(&mut self, services: &[Arc<ServiceVip>], options: &TableOptions) -> Diff {
        let sorted = if self.sorted { self.walk_sorted(services) } else { None };
        let walked = sorted.map(|w| (w, true)).or_else(|| self.walk_by_name(services).map(|w| (w, false)));
        let ((changed, gone), sorted) = match walked {
            Some(((changed, gone), sorted))
                if !self.shared && *options == self.options && self.frontends_free(&changed, &gone) =>
            {
                ((changed, gone), sorted)
            }
            _ => {
                let next = Self::build(services, Some(self), options);
                let diff = self.diff(&next);
                *self = next;
                return diff;
            }
        };
        // What the changed and removed services held, taken out of the maps.
        let mut before = Part::default();
        let mut old_sets = HashSet::new();
        for name in changed.iter().map(|s| &s.name).chain(&gone) {
            if let Some(laid) = self.laid.remove(name) {
                self.take_out(&laid, &mut before);
                old_sets.extend(laid.sets.into_iter().map(|(set, _, _)| set));
            }
        }
        let mut next_id = self.ids.values().max().copied().unwrap_or(0) + 1;
        let mut after = Part::default();
        for svc in changed {
            let laid = self.add(svc, None, &mut next_id);
            self.part_of(&laid, &mut after);
            for (set, _, _) in &laid.sets {
                old_sets.remove(set);
            }
            self.laid.insert(svc.name.clone(), laid);
        }
        // Slot sets no service has any more give up their ids.
        for set in old_sets {
            self.ids.remove(&set);
        }
        let sorted = sorted || services.windows(2).all(|w| w[0].name < w[1].name);
        self.remember(services, sorted);
        Diff::between(before.maps(), after.maps())
    }

    /// Keeps `services` as the last input, and whether it is sorted by
    /// name with no name twice (a Snapshot's table is).
    fn remember(&mut self, services: &[Arc<ServiceVip>], sorted: bool) {
        self.sorted = sorted;
        self.inputs.clear();
        self.inputs.extend_from_slice(services);
    }

    /// The services that changed or came, and the names gone, found by
    /// walking `services` beside the last input, both sorted by name: a
    /// service that is the last one's `Arc` at its place costs a pointer's
    /// comparison, so an update that shares its unchanged services costs
    /// what changed. `None` when `services` is not sorted by name.
    fn walk_sorted<'s>(&mut self, services: &'s [Arc<ServiceVip>]) -> Option<(Vec<&'s Arc<ServiceVip>>, Vec<String>)> {
        let old = &self.inputs;
        let (mut changed, mut gone, mut kept) = (Vec::new(), Vec::new(), Vec::new());
        let mut i = 0;
        // Where the service before was found in the last input by pointer.
        let mut last_place = None;
        for (j, svc) in services.iter().enumerate() {
            while i < old.len() && !Arc::ptr_eq(&old[i], svc) && old[i].name < svc.name {
                gone.push(old[i].name.clone());
                i += 1;
            }
            let place = (i < old.len() && Arc::ptr_eq(&old[i], svc)).then_some(i);
            // Two services found in the last input by pointer are in its order.
            let follows = last_place.is_some() && place.is_some();
            if j > 0 && !follows && services[j - 1].name >= svc.name {
                return None;
            }
            last_place = place;
            if place.is_some() {
                i += 1;
            } else if i < old.len() && old[i].name == svc.name {
                if *old[i] == **svc {
                    kept.push(svc);
                } else {
                    changed.push(svc);
                }
                i += 1;
            } else {
                changed.push(svc);
            }
        }
        gone.extend(old[i..].iter().map(|s| s.name.clone()));
        // An equal service made again: the table keeps its new `Arc`.
        for svc in kept {
            if let Some(laid) = self.laid.get_mut(&svc.name) {
                laid.input = svc.clone();
            }
        }
        Some((changed, gone))
    }

    /// As [`ServiceTable::walk_sorted`], for services in any order, by a
    /// lookup of each name; `None` when a name comes twice.
    fn walk_by_name<'s>(&mut self, services: &'s [Arc<ServiceVip>]) -> Option<(Vec<&'s Arc<ServiceVip>>, Vec<String>)> {
        let mut changed = Vec::new();
        let mut met = HashSet::new();
        for svc in services {
            if !met.insert(&svc.name) {
                return None;
            }
            match self.laid.get_mut(&svc.name) {
                Some(l) if l.input == *svc => l.input = svc.clone(),
                _ => changed.push(svc),
            }
        }
        let gone = self.laid.keys().filter(|n| !met.contains(n)).cloned().collect();
        Some((changed, gone))
    }

    /// Whether the frontends of `changed` are theirs to take: no two of them
    /// share one, and none is held by a service that stays as it is.
    fn frontends_free(&self, changed: &[&Arc<ServiceVip>], gone: &[String]) -> bool {
        let freed: HashSet<&ServiceKey> = changed
            .iter()
            .map(|s| &s.name)
            .chain(gone)
            .filter_map(|n| self.laid.get(n))
            .flat_map(|l| &l.frontends)
            .collect();
        let mut claimed = HashSet::new();
        changed
            .iter()
            .flat_map(|s| {
                let (dialed, node_ports) = frontend_keys(s);
                dialed.into_iter().chain(node_ports)
            })
            .all(|k| claimed.insert(k) && (!self.services.contains_key(&k) || freed.contains(&k)))
    }

    /// Takes a service's part out of the maps, recording what it was.
    fn take_out(&mut self, laid: &Laid, part: &mut Part) {
        for k in &laid.frontends {
            if let Some(v) = self.services.remove(k) {
                part.services.insert(*k, v);
            }
        }
        for (_, id, count) in &laid.sets {
            for slot in 1..=*count {
                let k = SlotKey { id: *id, slot, _pad: 0 };
                if let Some(b) = self.backends.remove(&k) {
                    part.backends.insert(k, b);
                }
            }
        }
        for k in &laid.live {
            if let Some(v) = self.live.remove(k) {
                self.forget_use(k);
                part.live.insert(*k, v);
            }
        }
    }

    /// A service's part as the maps hold it.
    fn part_of(&self, laid: &Laid, part: &mut Part) {
        for k in &laid.frontends {
            part.services.extend(self.services.get(k).map(|v| (*k, *v)));
        }
        for (_, id, count) in &laid.sets {
            for slot in 1..=*count {
                let k = SlotKey { id: *id, slot, _pad: 0 };
                part.backends.extend(self.backends.get(&k).map(|b| (k, *b)));
            }
        }
        part.live.extend(laid.live.iter().filter_map(|k| self.live.get(k).map(|v| (*k, *v))));
    }

    /// Lays `svc` out into the maps; its slot-set ids are those `ids` (or,
    /// when `None`, the table itself) has for its names, else the next free ones.
    fn add(&mut self, svc: &Arc<ServiceVip>, ids: Option<&BTreeMap<String, u32>>, next_id: &mut u32) -> Laid {
        let options = self.options.clone();
        let mut laid = Laid { input: svc.clone(), frontends: Vec::new(), sets: Vec::new(), live: Vec::new() };
        let usable: Vec<Usable> = svc
            .backends
            .iter()
            .filter(|b| !b.terminating)
            .filter_map(|b| match b.address.ip() {
                IpAddr::V4(ip) => Some(Usable {
                    ip,
                    port: b.address.port(),
                    weight: b.weight,
                    local: b.node.as_deref() == Some(options.node.as_str()),
                }),
                IpAddr::V6(_) => None,
            })
            .collect();
        let affinity = svc.session_affinity_seconds.unwrap_or(0);
        let (dialed, node_ports) = frontend_keys(svc);

        // Socket-LB translates the addresses a client dials: ClusterIP,
        // externalIPs, LoadBalancer ingress; internalTrafficPolicy applies.
        if !dialed.is_empty() {
            let local = svc.internal_traffic_policy == TrafficPolicy::Local;
            let chosen: Vec<&Usable> = usable.iter().filter(|b| !local || b.local).collect();
            let flags = if local { FLAG_INTERNAL_LOCAL } else { 0 };
            self.add_set(&mut laid, svc.name.clone(), ids, next_id, &chosen, Layout::Weighted, flags, affinity, dialed);
        }

        // The TC program's NodePorts (any node address); externalTrafficPolicy applies.
        if !node_ports.is_empty() {
            let local = svc.external_traffic_policy == TrafficPolicy::Local;
            let chosen: Vec<&Usable> = usable.iter().filter(|b| !local || b.local).collect();
            let (layout, mut flags) = match options.lb {
                LbAlgorithm::Random => (Layout::Weighted, 0),
                LbAlgorithm::Maglev => (Layout::Maglev, FLAG_MAGLEV),
            };
            if local {
                flags |= FLAG_EXTERNAL_LOCAL;
            }
            let name = format!("{} nodeport", svc.name);
            self.add_set(&mut laid, name, ids, next_id, &chosen, layout, flags, affinity, node_ports);
        }
        laid
    }

    /// One slot set of a service and the frontends that use it.
    #[allow(clippy::too_many_arguments)]
    fn add_set(
        &mut self,
        laid: &mut Laid,
        name: String,
        ids: Option<&BTreeMap<String, u32>>,
        next_id: &mut u32,
        backends: &[&Usable],
        layout: Layout,
        flags: u16,
        affinity_seconds: u32,
        frontends: Vec<ServiceKey>,
    ) {
        let id = match ids.unwrap_or(&self.ids).get(&name) {
            Some(id) => *id,
            None => {
                *next_id += 1;
                *next_id - 1
            }
        };
        let count = self.lay_out(id, backends, layout, &mut laid.live);
        let value = ServiceValue { id, count, flags, affinity_seconds };
        for k in &frontends {
            self.shared |= self.services.insert(*k, value).is_some();
        }
        laid.frontends.extend(frontends);
        self.ids.insert(name.clone(), id);
        laid.sets.push((name, id, count));
    }

    /// Fills slot set `id` with `backends`, adding their live keys to
    /// `live` too; returns its slot count.
    fn lay_out(&mut self, id: u32, backends: &[&Usable], layout: Layout, live: &mut Vec<LiveKey>) -> u16 {
        for b in backends {
            let backend = b.backend();
            let key = LiveKey { id, address: backend.address, port: backend.port, _pad: 0 };
            if self.live.insert(key, 1).is_none() {
                *self.live_uses.entry((key.address, key.port)).or_default() += 1;
            }
            live.push(key);
        }
        let mut slot: u16 = 0;
        match layout {
            Layout::Weighted => {
                let counts = slots(&backends.iter().map(|b| u64::from(b.weight)).collect::<Vec<_>>());
                for (b, n) in backends.iter().zip(counts) {
                    for _ in 0..n {
                        slot += 1;
                        self.backends.insert(SlotKey { id, slot, _pad: 0 }, b.backend());
                    }
                }
            }
            Layout::Maglev => {
                // Item ids are the endpoint address, so every node builds the same table.
                let items: Vec<(u64, u32)> = backends
                    .iter()
                    .map(|b| ((u64::from(u32::from(b.ip)) << 16) | u64::from(b.port), b.weight))
                    .collect();
                for index in Maglev::new(&items, MAGLEV_SLOTS).slots() {
                    slot += 1;
                    self.backends.insert(SlotKey { id, slot, _pad: 0 }, backends[*index as usize].backend());
                }
            }
        }
        slot
    }

    /// What turns `self` into `next`.
    pub fn diff(&self, next: &ServiceTable) -> Diff {
        Diff::between(self.maps(), next.maps())
    }

    /// Applies `diff` to the in-memory maps (as the kernel maps get it).
    pub fn apply(&mut self, diff: &Diff) {
        for k in &diff.upsert_live {
            if self.live.insert(*k, 1).is_none() {
                *self.live_uses.entry((k.address, k.port)).or_default() += 1;
            }
        }
        self.backends.extend(diff.upsert_backends.iter().copied());
        self.services.extend(diff.upsert_services.iter().copied());
        for k in &diff.remove_services {
            self.services.remove(k);
        }
        for k in &diff.remove_backends {
            self.backends.remove(k);
        }
        for k in &diff.remove_live {
            if self.live.remove(k).is_some() {
                self.forget_use(k);
            }
        }
    }

    fn forget_use(&mut self, k: &LiveKey) {
        if let Some(uses) = self.live_uses.get_mut(&(k.address, k.port)) {
            *uses -= 1;
            if *uses == 0 {
                self.live_uses.remove(&(k.address, k.port));
            }
        }
    }

    /// Whether some slot set has the backend at `address` and `port`
    /// (network order, as the maps hold them).
    pub fn has_backend(&self, address: u32, port: u16) -> bool {
        self.live_uses.contains_key(&(address, port))
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
        let t = ServiceTable::build(
            &[Arc::new(svc("a", "203.0.113.1", &[("192.0.2.1:80", 3), ("192.0.2.2:80", 1)]))],
            None,
            &TableOptions::default(),
        );
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
        for (i, services) in steps.into_iter().enumerate() {
            let services: Vec<Arc<ServiceVip>> = services.into_iter().map(Arc::new).collect();
            let next = ServiceTable::build(&services, previous.as_ref(), &TableOptions::default());
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

    /// A NodePort has its own slot set: all ready endpoints under `Cluster`
    /// (remote ones without the local flag, so they get SNAT), only this
    /// node's under `Local`; the ClusterIP keeps every endpoint.
    #[test]
    fn node_ports_follow_the_external_traffic_policy() {
        use sluice_config::{Frontend, VipBackend};
        let mut s = svc("web", "203.0.113.1", &[]);
        s.frontends.push(Frontend { kind: FrontendKind::NodePort, address: Ipv4Addr::UNSPECIFIED.into(), port: 30080 });
        s.backends = [("192.0.2.2:8080", "node-a"), ("192.0.2.3:8080", "node-b")]
            .iter()
            .map(|(a, n)| VipBackend {
                address: a.parse().unwrap(),
                weight: 1,
                terminating: false,
                node: Some((*n).into()),
            })
            .collect();
        let options = TableOptions { node: "node-a".into(), lb: LbAlgorithm::Random };
        let node_port = ServiceKey { address: 0, port: 30080u16.to_be(), protocol: PROTO_TCP, _pad: 0 };
        let backends_of = |t: &ServiceTable, id: u32| {
            let mut v: Vec<Backend> = t.backends.iter().filter(|(k, _)| k.id == id).map(|(_, b)| *b).collect();
            v.sort_by_key(|b| b.address);
            v
        };
        let local = Backend {
            address: u32::from_be_bytes([192, 0, 2, 2]).to_be(),
            port: 8080u16.to_be(),
            flags: BACKEND_LOCAL,
        };
        let remote = Backend { address: u32::from_be_bytes([192, 0, 2, 3]).to_be(), port: 8080u16.to_be(), flags: 0 };

        let cluster = ServiceTable::build(&[Arc::new(s.clone())], None, &options);
        let np = cluster.services[&node_port];
        assert_eq!((np.count, np.flags), (2, 0));
        assert_eq!(backends_of(&cluster, np.id), [local, remote]);

        s.external_traffic_policy = TrafficPolicy::Local;
        let only_local = ServiceTable::build(&[Arc::new(s)], Some(&cluster), &options);
        let np_local = only_local.services[&node_port];
        assert_eq!((np_local.id, np_local.count, np_local.flags), (np.id, 1, FLAG_EXTERNAL_LOCAL));
        assert_eq!(backends_of(&only_local, np.id), [local]);
        let cluster_ip = only_local.services.iter().find(|(k, _)| k.address != 0).unwrap().1;
        assert_eq!(cluster_ip.count, 2, "the ClusterIP follows internalTrafficPolicy, not external");
    }

    /// `--ebpf-lb maglev`: a NodePort's slots are a Maglev table whose shares
    /// follow the weights; the ClusterIP side stays weighted-random.
    #[test]
    fn maglev_node_ports_fill_a_table() {
        use sluice_config::Frontend;
        let mut s = svc("web", "203.0.113.1", &[("192.0.2.2:80", 3), ("192.0.2.3:80", 1), ("192.0.2.4:80", 0)]);
        s.frontends.push(Frontend { kind: FrontendKind::NodePort, address: Ipv4Addr::UNSPECIFIED.into(), port: 30080 });
        let t = ServiceTable::build(&[Arc::new(s)], None, &TableOptions { node: "n".into(), lb: LbAlgorithm::Maglev });
        let np = t.services.iter().find(|(k, _)| k.address == 0).unwrap().1;
        assert_eq!((u32::from(np.count), np.flags), (MAGLEV_SLOTS, FLAG_MAGLEV));
        let first = t
            .backends
            .iter()
            .filter(|(k, b)| k.id == np.id && b.address == u32::from_be_bytes([192, 0, 2, 2]).to_be())
            .count();
        assert!((first as f64 / f64::from(MAGLEV_SLOTS) - 0.75).abs() < 0.02, "{first}");
        let zero = u32::from_be_bytes([192, 0, 2, 4]).to_be();
        assert!(!t.backends.values().any(|b| b.address == zero), "weight 0 has no slot");
        let cip = t.services.iter().find(|(k, _)| k.address != 0).unwrap().1;
        assert_eq!((cip.count, cip.flags), (4, 0));
    }

    fn any_service() -> impl proptest::strategy::Strategy<Value = ServiceVip> {
        use proptest::prelude::*;
        use sluice_config::{Frontend, VipBackend};
        let backend =
            (1u8..5, 0u32..3, any::<bool>(), any::<bool>()).prop_map(|(host, weight, terminating, here)| VipBackend {
                address: format!("192.0.2.{host}:80").parse().unwrap(),
                weight,
                terminating,
                node: Some(if here { "n" } else { "m" }.into()),
            });
        (0usize..5, 1u8..9, prop::option::of(30000u16..30003), prop::collection::vec(backend, 0..4), any::<bool>())
            .prop_map(|(name, vip, node_port, backends, local)| {
                let mut s = svc(&format!("s{name}"), &format!("203.0.113.{vip}"), &[]);
                s.backends = backends;
                s.frontends.extend(node_port.map(|port| Frontend {
                    kind: FrontendKind::NodePort,
                    address: Ipv4Addr::UNSPECIFIED.into(),
                    port,
                }));
                if local {
                    s.external_traffic_policy = TrafficPolicy::Local;
                }
                s
            })
    }

    /// How many slot sets have each backend, counted afresh.
    fn uses(live: &HashMap<LiveKey, u8>) -> HashMap<(u32, u16), u32> {
        let mut out = HashMap::new();
        for k in live.keys() {
            *out.entry((k.address, k.port)).or_default() += 1;
        }
        out
    }

    proptest::proptest! {
        /// A table updated by difference holds what a table built whole
        /// holds (ids included), and the difference it returns turns the
        /// last maps into the new: through services added, changed,
        /// removed, named twice and sharing frontends, with either
        /// balancing of NodePorts; in any order or sorted by name (as a
        /// Snapshot's), with equal services the last step's `Arc`s or not.
        #[test]
        fn updates_by_difference_equal_whole_builds(
            steps in proptest::collection::vec(
                (proptest::collection::vec(any_service(), 0..5), proptest::prelude::any::<(bool, bool)>()),
                1..8,
            ),
            maglev in proptest::prelude::any::<bool>(),
        ) {
            let options = TableOptions { node: "n".into(), lb: if maglev { LbAlgorithm::Maglev } else { LbAlgorithm::Random } };
            let mut updated = ServiceTable::default();
            let mut kernel = ServiceTable::default();
            let mut whole: Option<ServiceTable> = None;
            let mut last: Vec<Arc<ServiceVip>> = Vec::new();
            for (mut services, (sorted, shared)) in steps {
                if sorted {
                    services.sort_by(|a, b| a.name.cmp(&b.name));
                }
                let services: Vec<Arc<ServiceVip>> = services
                    .into_iter()
                    .map(|s| match last.iter().find(|l| ***l == s) {
                        Some(l) if shared => l.clone(),
                        _ => Arc::new(s),
                    })
                    .collect();
                let diff = updated.update(&services, &options);
                let built = ServiceTable::build(&services, whole.as_ref(), &options);
                proptest::prop_assert_eq!(updated.maps(), built.maps());
                kernel.apply(&diff);
                proptest::prop_assert_eq!(kernel.maps(), built.maps());
                for t in [&updated, &kernel, &built] {
                    proptest::prop_assert_eq!(&t.live_uses, &uses(&t.live));
                }
                whole = Some(built);
                last = services;
            }
        }
    }
}
