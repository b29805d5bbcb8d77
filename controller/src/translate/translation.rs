//! Translation by difference. A [`Translation`] keeps what it made from the
//! last store and compares the next one with it object by object (a store
//! copy shares its unchanged objects, so most comparisons are a pointer's);
//! only what depends on a changed object is made again:
//!
//! - Ingresses fall into groups that share a name (a rule's host, a
//!   `server-alias`, the other name of a www redirect, and one name for the
//!   default backend). Everything a group's hosts serve depends on its
//!   Ingresses alone (claims, canaries, aliases, fallbacks stay inside it),
//!   so a changed Ingress makes its group again, with the groups it joins
//!   or leaves.
//! - A Service cluster and a Service's entries in the kernel's service table
//!   depend on the Service and its endpoints: a Service, EndpointSlice or
//!   Endpoints change makes those of its Service again, a Pod change those
//!   of its namespace.
//! - A group is made again when a Service it looked up (found or not)
//!   changes: routes name a Service's ports.
//! - The rest (the controller ConfigMap, the listeners, the default
//!   certificate) is made each time; it is small next to the routes.
//!
//! A change to any other kind (a Secret, a ConfigMap, an IngressClass), or a
//! store with BCS or seed sources, exported Services or Gateway API
//! Gateways and HTTPRoutes (their routes and ports interleave with
//! everything else by age), is translated whole. The
//! result is always the one a translation from nothing gives, diagnostics
//! included (`controller/tests/translation_by_difference.rs` holds it to that).

use super::annotations::NGINX;
use super::bcs_export::GROUP_LABEL;
use super::clusters::{ClusterRegistry, ClusterRequest, SliceIndex, slice_service};
use super::controller_configmap::ControllerConfig;
use super::diagnostics::Diagnostics;
use super::order::age;
use super::route_config::Source;
use super::{INGRESS_ROUTES, Translator, translate_whole};
use crate::store::{Key, Objects, Store};
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::networking::v1::Ingress;
use sluice_config::{
    Certificate, CertificateAuthority, Cluster, Diagnostic, Options, RouteConfig, RoutePolicy, ServiceVip, Snapshot,
    Split, VirtualHost, VirtualHosts,
};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

/// The name every Ingress made only of a `defaultBackend` is grouped by:
/// the oldest one is the route config's default backend.
const DEFAULT_BACKEND: &str = "";

/// Translations of successive stores, each made by difference from the last.
pub struct Translation {
    options: Options,
    exports: Exports,
    last: Option<Last>,
}

/// The Services exported to a BCS group (a store with any is translated
/// whole), kept by difference from the Services of the last store.
#[derive(Default)]
struct Exports {
    services: Objects<Service>,
    exported: BTreeSet<Key>,
}

/// The parts of a Snapshot translated apart from the rest, merged in by
/// [`Translator::finish`].
#[derive(Default)]
pub(super) struct Parts {
    pub virtual_hosts: VirtualHosts,
    pub default_backend: Option<(Split, RoutePolicy)>,
    pub clusters: Vec<Cluster>,
    pub certificates: Vec<Certificate>,
    pub certificate_authorities: Vec<CertificateAuthority>,
    pub diagnostics: Vec<Diagnostic>,
    /// The virtual hosts of the groups made in this translation; the
    /// others were checked when theirs were made, and are not checked again.
    pub fresh: Option<Vec<Arc<VirtualHost>>>,
}

/// What the last translation made, by what it was made from.
#[derive(Default)]
struct Last {
    store: Store,
    /// The store's EndpointSlices by Service.
    slices: Arc<SliceIndex>,
    groups: HashMap<u64, Group>,
    group_of: HashMap<Key, u64>,
    /// The names each Ingress is grouped by, and the Ingresses of each name.
    names_of: HashMap<Key, Vec<String>>,
    /// A few Ingresses a name at most, as a rule: a list, not a tree node
    /// (544 bytes for one key) a name.
    named_by: HashMap<String, Vec<Key>>,
    /// Every group's virtual hosts.
    hosts: VirtualHosts,
    /// The groups with more than routes (diagnostics, certificates, clusters
    /// of their own): only these are read for them.
    extras: BTreeSet<u64>,
    /// Each Service cluster some group names: how many do, and what builds it.
    uses: BTreeMap<String, (usize, ClusterRequest)>,
    /// Service clusters as last built, while some group names them.
    built: HashMap<String, Built>,
    /// Named and not built (new, or their endpoints changed).
    unbuilt: BTreeSet<String>,
    next_group: u64,
    /// Each Service some group looked up, by a number of its own (a group
    /// keeps the numbers, not the names), and the groups that did.
    service_numbers: HashMap<Key, u32>,
    readers: HashMap<u32, (Key, BTreeSet<u64>)>,
    next_service_number: u32,
    /// The kernel's service table by entry name, the names of each
    /// Service's entries, and what making them found wrong.
    vips: BTreeMap<String, Arc<ServiceVip>>,
    vips_of: HashMap<Key, Vec<String>>,
    vip_diagnostics: BTreeMap<Key, Vec<Diagnostic>>,
}

/// One group of Ingresses and what they make.
struct Group {
    ingresses: Vec<Key>,
    virtual_hosts: Vec<Arc<VirtualHost>>,
    /// Boxed: most groups have none, and a policy is over a kilobyte.
    default_backend: Option<Box<(Split, RoutePolicy)>>,
    diagnostics: Vec<Diagnostic>,
    certificates: Vec<Certificate>,
    certificate_authorities: Vec<CertificateAuthority>,
    /// Clusters that are not a Service's (an auth service by address).
    clusters: Vec<Cluster>,
    /// The Service clusters its routes name ([`Last::uses`] holds what
    /// builds them).
    service_clusters: Box<[String]>,
    /// The Services it looked up, found or not, by their numbers in
    /// [`Last::service_numbers`].
    services_read: Vec<u32>,
}

/// A Service cluster and what building it found wrong.
struct Built {
    cluster: Cluster,
    request: ClusterRequest,
    diagnostics: Vec<Diagnostic>,
}

/// How two stores differ, when a translation by difference can follow it.
struct Changes {
    ingresses: BTreeSet<Key>,
    /// Services that changed themselves.
    services: BTreeSet<Key>,
    /// Services whose endpoints changed (those that changed themselves
    /// too), and namespaces whose Pods did.
    endpoints: HashSet<Key>,
    namespaces: HashSet<String>,
}

impl Translation {
    pub fn new(options: Options) -> Self {
        Self { options, exports: Exports::default(), last: None }
    }

    /// The Snapshot (generation 0) of `store` and its diagnostics.
    pub fn translate(&mut self, store: &Store) -> (Snapshot, Vec<Diagnostic>) {
        if self.interleaved(store) {
            self.last = None;
            return translate_whole(store, &self.options);
        }
        let previous = self.last.take();
        let changes = previous.as_ref().and_then(|last| changes(&last.store, store));
        let (mut last, mut changes) = match (previous, changes) {
            (Some(mut last), Some(mut changes)) => {
                last.follow_slices(store, &mut changes.endpoints);
                (last, changes)
            }
            _ => {
                let all = Changes {
                    ingresses: store.ingresses.keys().cloned().collect(),
                    services: store.services.keys().cloned().collect(),
                    endpoints: HashSet::new(),
                    namespaces: HashSet::new(),
                };
                (Last { slices: Arc::new(SliceIndex::of(store)), ..Last::default() }, all)
            }
        };
        last.add_readers(&mut changes);
        last.forget_stale_clusters(&changes);

        let mut diags = Diagnostics::default();
        last.slices.report(&mut diags);
        let slices = last.slices.clone();
        let mut whole = Translator::new(store, &self.options, slices.clone(), diags);
        whole.without_exports = true;
        let mut fresh = Vec::new();
        for ingresses in last.regroup(store, &changes.ingresses) {
            let made = Group::make(store, &self.options, &slices, &whole.config, ingresses, &mut last.built);
            fresh.extend(made.group.virtual_hosts.iter().cloned());
            last.insert(made);
        }
        last.build_missing(store, &slices);
        let mut vip_translator = Translator::with_config(store, &self.options, slices, whole.config.clone());
        last.remake_vips(&mut vip_translator, &changes);

        let routes = RouteConfig {
            wildcard_any_depth: false,
            name: INGRESS_ROUTES.into(),
            virtual_hosts: VirtualHosts::new(),
            default_backend: None,
            default_policy: RoutePolicy::default(),
        };
        let l4 = whole.l4_services();
        let services = last.vips.values().cloned().collect();
        whole.diags.extend(last.vip_diagnostics.values().flatten().cloned());
        let mut parts = last.parts();
        parts.fresh = Some(fresh);
        let out = whole.finish(routes, l4, services, parts);
        last.store = store.clone();
        self.last = Some(last);
        out
    }
}

impl Translation {
    /// Whether `store` holds sources whose routes and ports interleave by
    /// age with the Ingresses' (seed ingresses, BCS Ingresses, exported
    /// Services, Gateways and their routes).
    fn interleaved(&mut self, store: &Store) -> bool {
        let exports = &mut self.exports;
        for (key, _, is) in differences(&exports.services, &store.services) {
            if is.is_some_and(|s| s.metadata.labels.as_ref().is_some_and(|l| l.contains_key(GROUP_LABEL))) {
                exports.exported.insert(key.clone());
            } else {
                exports.exported.remove(key);
            }
        }
        exports.services = store.services.clone();
        !exports.exported.is_empty()
            || !store.seed_ingresses.is_empty()
            || !store.bcs_ingresses.is_empty()
            || !store.gateways.is_empty()
            || !store.http_routes.is_empty()
            || !store.grpc_routes.is_empty()
            || !store.tls_routes.is_empty()
            || !store.tcp_routes.is_empty()
            || !store.udp_routes.is_empty()
    }
}

/// How `new` differs from `old`; `None` when a kind changed that only a
/// whole translation follows.
fn changes(old: &Store, new: &Store) -> Option<Changes> {
    let same = |a: bool| a.then_some(());
    same(differences(&old.ingress_classes, &new.ingress_classes).next().is_none())?;
    same(differences(&old.secrets, &new.secrets).next().is_none())?;
    same(differences(&old.config_maps, &new.config_maps).next().is_none())?;
    let ingresses = differences(&old.ingresses, &new.ingresses).map(|(k, _, _)| k.clone()).collect();
    let services: BTreeSet<Key> = differences(&old.services, &new.services).map(|(k, _, _)| k.clone()).collect();
    // The Services whose EndpointSlices changed are added as the slice
    // index follows them (`Last::follow_slices`).
    let mut endpoints: HashSet<Key> = services.iter().cloned().collect();
    endpoints.extend(differences(&old.endpoints, &new.endpoints).map(|(k, _, _)| k.clone()));
    let namespaces = differences(&old.pods, &new.pods).map(|(k, _, _)| k.0.clone()).collect();
    Some(Changes { ingresses, services, endpoints, namespaces })
}

/// The keys whose object differs between `old` and `new` (added, removed or
/// changed), with both versions.
fn differences<'s, K: PartialEq>(
    old: &'s Objects<K>,
    new: &'s Objects<K>,
) -> impl Iterator<Item = (&'s Key, Option<&'s Arc<K>>, Option<&'s Arc<K>>)> + 's {
    // imbl's diff skips the subtrees both maps share, so an edit costs its
    // path in the tree; it reports an update only for unequal values.
    old.diff(new).map(|d| match d {
        imbl::ordmap::DiffItem::Add(k, n) => (k, None, Some(n)),
        imbl::ordmap::DiffItem::Remove(k, o) => (k, Some(o), None),
        imbl::ordmap::DiffItem::Update { old: (k, o), new: (_, n) } => (k, Some(o), Some(n)),
    })
}

/// The names an Ingress is grouped by: its rules' hosts (`*` for a rule
/// without one), each with its www twin, its `server-alias` names, and the
/// default backend's name when it has no rules. More names than it uses
/// only make groups larger, never wrong.
fn names(ing: &Ingress) -> Vec<String> {
    let mut out = Vec::new();
    let spec = ing.spec.as_ref();
    let rules = spec.and_then(|s| s.rules.as_deref()).unwrap_or_default();
    if rules.is_empty() && spec.is_some_and(|s| s.default_backend.is_some()) {
        out.push(DEFAULT_BACKEND.to_owned());
    }
    for rule in rules {
        let host = rule.host.as_deref().filter(|h| !h.is_empty()).unwrap_or("*").to_ascii_lowercase();
        match host.strip_prefix("www.") {
            Some(bare) => out.push(bare.to_owned()),
            None => out.push(format!("www.{host}")),
        }
        out.push(host);
    }
    let annotations = ing.metadata.annotations.as_ref();
    if let Some(aliases) = annotations.and_then(|a| a.get(&format!("{NGINX}server-alias"))) {
        let split = aliases.split([',', ' ', '\t', '\n']).filter(|a| !a.is_empty());
        out.extend(split.map(str::to_ascii_lowercase));
    }
    out.sort();
    out.dedup();
    out
}

impl Last {
    /// Edits into the slice index the EndpointSlices that differ between
    /// the last store and `store`, adding the Services they belong (or
    /// belonged) to to `touched`.
    fn follow_slices(&mut self, store: &Store, touched: &mut HashSet<Key>) {
        let index = Arc::make_mut(&mut self.slices);
        for (key, was, is) in differences(&self.store.endpoint_slices, &store.endpoint_slices) {
            for slice in was.into_iter().chain(is) {
                if let Some(service) = slice_service(slice) {
                    touched.insert((key.0.clone(), service.to_owned()));
                }
            }
            if let Some(was) = was {
                index.remove(key, was);
            }
            if let Some(is) = is {
                index.put(key, is);
            }
        }
    }

    /// Counts the Ingresses of each group that looked up a changed Service
    /// as changed, so their groups are made again.
    fn add_readers(&self, changes: &mut Changes) {
        for key in &changes.services {
            let number = self.service_numbers.get(key);
            let readers = number.and_then(|n| self.readers.get(n)).map(|(_, groups)| groups);
            for id in readers.into_iter().flatten() {
                if let Some(group) = self.groups.get(id) {
                    changes.ingresses.extend(group.ingresses.iter().cloned());
                }
            }
        }
    }

    /// Makes again the kernel service-table entries of the Services whose
    /// object or endpoints changed, with `t` (a translator of its own, so
    /// each Service's diagnostics are its own).
    fn remake_vips(&mut self, t: &mut Translator<'_>, changes: &Changes) {
        let store = t.store;
        let mut keys: BTreeSet<&Key> = changes.services.iter().chain(&changes.endpoints).collect();
        for namespace in &changes.namespaces {
            let from = (namespace.clone(), String::new());
            keys.extend(store.services.range(from..).map(|(k, _)| k).take_while(|k| k.0 == *namespace));
        }
        for key in keys {
            for name in self.vips_of.remove(key).unwrap_or_default() {
                self.vips.remove(&name);
            }
            self.vip_diagnostics.remove(key);
            let Some(svc) = store.services.get(key) else { continue };
            let vips = t.service_vips_of(key, svc);
            let diagnostics = t.diags.take();
            if !diagnostics.is_empty() {
                self.vip_diagnostics.insert(key.clone(), diagnostics);
            }
            if !vips.is_empty() {
                self.vips_of.insert(key.clone(), vips.iter().map(|v| v.name.clone()).collect());
                self.vips.extend(vips.into_iter().map(|v| (v.name.clone(), v)));
            }
        }
    }

    /// Takes apart the groups `changed` Ingresses were in or now join, and
    /// returns the groups their Ingresses fall into now.
    fn regroup(&mut self, store: &Store, changed: &BTreeSet<Key>) -> Vec<Vec<Key>> {
        let mut seeds: Vec<Key> = Vec::new();
        for key in changed {
            if let Some(id) = self.group_of.get(key).copied() {
                seeds.extend(self.remove(id));
            }
            for name in self.names_of.remove(key).unwrap_or_default() {
                if let Some(set) = self.named_by.get_mut(&name) {
                    set.retain(|k| k != key);
                    if set.is_empty() {
                        self.named_by.remove(&name);
                    }
                }
            }
            if let Some(ing) = store.ingresses.get(key) {
                let names = names(ing);
                for name in &names {
                    let set = self.named_by.entry(name.clone()).or_default();
                    if !set.contains(key) {
                        set.push(key.clone());
                    }
                }
                self.names_of.insert(key.clone(), names);
                seeds.push(key.clone());
            }
        }
        seeds.retain(|k| store.ingresses.contains_key(k));

        // Each seed's group as the names tie them now; a group it reaches
        // that is still whole is taken apart to join it.
        let mut placed: HashSet<Key> = HashSet::new();
        let mut groups = Vec::new();
        for seed in seeds {
            if placed.contains(&seed) {
                continue;
            }
            let mut group = Vec::new();
            let mut todo = vec![seed.clone()];
            placed.insert(seed);
            while let Some(key) = todo.pop() {
                if let Some(id) = self.group_of.get(&key).copied() {
                    self.remove(id);
                }
                for name in self.names_of.get(&key).into_iter().flatten() {
                    for other in self.named_by.get(name).into_iter().flatten() {
                        if placed.insert(other.clone()) {
                            todo.push(other.clone());
                        }
                    }
                }
                group.push(key);
            }
            group.sort();
            groups.push(group);
        }
        groups
    }

    /// Drops the Service clusters whose endpoints `changes` touch, to be
    /// built again.
    fn forget_stale_clusters(&mut self, changes: &Changes) {
        let unbuilt = &mut self.unbuilt;
        self.built.retain(|name, b| {
            let stale =
                changes.endpoints.contains(&b.request.service) || changes.namespaces.contains(&b.request.service.0);
            if stale {
                unbuilt.insert(name.clone());
            }
            !stale
        });
    }

    /// Removes a group and its hosts; returns its Ingresses.
    fn remove(&mut self, id: u64) -> Vec<Key> {
        let Some(group) = self.groups.remove(&id) else { return Vec::new() };
        self.extras.remove(&id);
        for vh in &group.virtual_hosts {
            self.hosts.remove(&vh.host);
        }
        for key in &group.ingresses {
            self.group_of.remove(key);
        }
        for number in &group.services_read {
            if let Some((key, readers)) = self.readers.get_mut(number) {
                readers.remove(&id);
                if readers.is_empty() {
                    self.service_numbers.remove(key);
                    self.readers.remove(number);
                }
            }
        }
        for name in &group.service_clusters {
            if let Some((count, _)) = self.uses.get_mut(name) {
                *count -= 1;
                if *count == 0 {
                    self.uses.remove(name);
                    self.built.remove(name);
                    self.unbuilt.remove(name);
                }
            }
        }
        group.ingresses
    }

    /// Adds a group made.
    fn insert(&mut self, made: Made) {
        let Made { mut group, read, requests } = made;
        let id = self.next_group;
        self.next_group += 1;
        for key in read {
            let number = match self.service_numbers.get(&key) {
                Some(n) => *n,
                None => {
                    self.next_service_number += 1;
                    self.service_numbers.insert(key.clone(), self.next_service_number);
                    self.next_service_number
                }
            };
            self.readers.entry(number).or_insert_with(|| (key, BTreeSet::new())).1.insert(id);
            group.services_read.push(number);
        }
        for vh in &group.virtual_hosts {
            self.hosts.insert(vh.clone());
        }
        for key in &group.ingresses {
            self.group_of.insert(key.clone(), id);
        }
        for (name, request) in requests {
            if !self.built.contains_key(&name) {
                self.unbuilt.insert(name.clone());
            }
            self.uses.entry(name).or_insert_with(|| (0, request)).0 += 1;
        }
        let extra = group.default_backend.is_some()
            || !group.diagnostics.is_empty()
            || !group.certificates.is_empty()
            || !group.certificate_authorities.is_empty()
            || !group.clusters.is_empty();
        if extra {
            self.extras.insert(id);
        }
        self.groups.insert(id, group);
    }

    /// Builds the Service clusters some group names and none has built
    /// since their endpoints changed.
    fn build_missing(&mut self, store: &Store, slices: &Arc<SliceIndex>) {
        let unbuilt = std::mem::take(&mut self.unbuilt);
        let missing: Vec<&ClusterRequest> = unbuilt
            .iter()
            .filter(|name| !self.built.contains_key(*name))
            .filter_map(|name| self.uses.get(name).map(|(_, request)| request))
            .collect();
        if missing.is_empty() {
            return;
        }
        let mut registry = ClusterRegistry::new(store, slices.clone());
        for request in missing {
            registry.rebuild(request);
        }
        keep_built(&mut self.built, registry);
    }

    /// Every group's part of the Snapshot.
    fn parts(&self) -> Parts {
        let mut parts = Parts { virtual_hosts: self.hosts.clone(), ..Parts::default() };
        for group in self.extras.iter().filter_map(|id| self.groups.get(id)) {
            if group.default_backend.is_some() {
                parts.default_backend = group.default_backend.as_deref().cloned();
            }
            parts.diagnostics.extend(group.diagnostics.iter().cloned());
            parts.certificates.extend(group.certificates.iter().cloned());
            parts.certificate_authorities.extend(group.certificate_authorities.iter().cloned());
            parts.clusters.extend(group.clusters.iter().cloned());
        }
        for built in self.uses.keys().filter_map(|name| self.built.get(name)) {
            parts.clusters.push(built.cluster.clone());
            parts.diagnostics.extend(built.diagnostics.iter().cloned());
        }
        parts
    }
}

/// Keeps the Service clusters `registry` built (the first build of a name
/// stays); returns their names with what builds them, and the other clusters.
fn keep_built(
    built: &mut HashMap<String, Built>,
    registry: ClusterRegistry<'_>,
) -> (Vec<(String, ClusterRequest)>, Vec<Cluster>) {
    let (mut named, mut others) = (Vec::new(), Vec::new());
    for (cluster, how) in registry.into_built() {
        match how {
            Some((request, diagnostics)) => {
                named.push((cluster.name.clone(), request.clone()));
                built.entry(cluster.name.clone()).or_insert(Built { cluster, request, diagnostics });
            }
            None => others.push(cluster),
        }
    }
    (named, others)
}

impl Group {
    /// Translates `ingresses` (the keys of one group) as the whole
    /// translation would: oldest first, main Ingresses before canaries.
    fn make<'a>(
        store: &'a Store,
        options: &'a Options,
        slices: &Arc<SliceIndex>,
        config: &ControllerConfig,
        ingresses: Vec<Key>,
        built: &mut HashMap<String, Built>,
    ) -> Made {
        let mut t = Translator::with_config(store, options, slices.clone(), config.clone());
        let mut sources: Vec<_> =
            ingresses.iter().filter_map(|k| store.ingresses.get(k)).map(|i| (age(&i.metadata), &**i)).collect();
        sources.sort_by(|a, b| a.0.cmp(&b.0));
        let routes = t.routes_of(sources.into_iter().map(|(_, i)| Source::Ingress(i)));
        let mut read = std::mem::take(&mut t.services_read);
        read.sort();
        read.dedup();
        let (certificates, certificate_authorities) = t.certs.into_parts();
        let (requests, clusters) = keep_built(built, t.clusters);
        let group = Group {
            ingresses,
            virtual_hosts: routes.virtual_hosts.iter().cloned().collect(),
            default_backend: routes.default_backend.map(|split| Box::new((split, routes.default_policy))),
            diagnostics: t.diags.take(),
            certificates,
            certificate_authorities,
            clusters,
            service_clusters: requests.iter().map(|(name, _)| name.clone()).collect(),
            services_read: Vec::new(),
        };
        Made { group, read, requests }
    }
}

/// A group as [`Group::make`] made it, with what [`Last::insert`] files
/// apart from it: the Services it looked up, and what builds each Service
/// cluster it names.
struct Made {
    group: Group,
    read: Vec<Key>,
    requests: Vec<(String, ClusterRequest)>,
}
