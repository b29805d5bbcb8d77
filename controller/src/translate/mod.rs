//! `translate(&Store, &Options) -> (Snapshot, Vec<Diagnostic>)`: pure,
//! deterministic, no I/O, no panics. Each input problem becomes a diagnostic
//! naming the object and field; the rest of the configuration still applies.

mod annotations;
pub(crate) use annotations::NGINX;
pub use annotations::catalogue::table as annotation_table;
mod backend;
mod backend_tls;
mod bcs_backends;
mod bcs_export;
mod bcs_ingress;
mod bcs_listeners;
mod bcs_seed;
mod bcs_validation;
mod certificates;
mod claims;
mod class;
mod clusters;
mod controller_configmap;
use controller_configmap::ControllerConfig;
mod diagnostics;
mod endpoints;
mod frontend_validation;
mod gateway_listeners;
mod gateway_status;
mod grpc_routes;
mod http_routes;
mod ingress_routes;
mod l4_configmap;
mod listener_sets;
mod listeners;
mod nginx_values;
mod order;
mod reference_grants;
mod route_config;
mod route_refs;
mod seed_listeners;
mod seed_routes;
mod service_export;
mod service_vip;
mod stream_routes;
mod tls_secret;
mod translation;
use translation::Parts;
pub use translation::Translation;

use crate::store::Key;
use crate::store::Store;
use certificates::{CertificateRegistry, Referrer};
use claims::Claims;
use clusters::{ClusterRegistry, SliceIndex};
use diagnostics::Diagnostics;
use k8s_openapi::api::core::v1::Service;
use sluice_config::{Diagnostic, Listener, ListenerKind, ObjectRef, Options, RouteConfig, ServiceVip, Snapshot};
use std::sync::Arc;

/// Name of the route config that holds the Kubernetes Ingress rules, served
/// on the HTTP and HTTPS listeners.
pub const INGRESS_ROUTES: &str = "ingress";

/// Greatest common divisor, for reducing weights.
pub(crate) fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// Least common multiple, for putting shares over one denominator.
fn lcm(a: u64, b: u64) -> u64 {
    if a == 0 || b == 0 { a.max(b) } else { a / gcd(a, b) * b }
}

/// Translates the store into a Snapshot (generation 0) and its diagnostics.
pub fn translate(store: &Store, options: &Options) -> (Snapshot, Vec<Diagnostic>) {
    Translation::new(options.clone()).translate(store)
}

/// The whole store in one pass: what a store with BCS or seed sources
/// takes (their routes and ports interleave by age with everything else),
/// and the reference a translation by difference is held to.
pub fn translate_whole(store: &Store, options: &Options) -> (Snapshot, Vec<Diagnostic>) {
    let mut diags = Diagnostics::default();
    let slices = SliceIndex::of(store);
    slices.report(&mut diags);
    let mut t = Translator::new(store, options, Arc::new(slices), diags);
    let routes = t.ingresses();
    let mut l4 = t.l4_services();
    t.gateway_route_configs(&mut l4);
    let services = t.service_vips();
    t.finish(routes, l4, services, Parts::default())
}

/// Working state of one translation.
pub(crate) struct Translator<'a> {
    store: &'a Store,
    options: &'a Options,
    diags: Diagnostics,
    clusters: ClusterRegistry<'a>,
    /// Hosts and paths of the shared route config, ports of this instance.
    claims: Claims,
    certs: CertificateRegistry<'a>,
    /// Route configs of L7 listeners on their own ports (BCS Ingress rules,
    /// Gateway listeners).
    extra_route_configs: Vec<RouteConfig>,
    /// The ports of served Gateways, which HTTPRoutes attach to.
    gateway_ports: Vec<gateway_listeners::GatewayPort>,
    /// What translation found of the Gateway API objects, for their status.
    gateway_facts: gateway_status::GatewayApiFacts,
    /// The BackendTLSPolicies by the Service ports they target.
    backend_tls: backend_tls::BackendTlsPolicies,
    /// The controller ConfigMap.
    config: ControllerConfig,
    /// The Services this translation looked up, found or not: a group
    /// translated by difference is made again when one of them changes.
    services_read: Vec<Key>,
    /// The store is known to hold no Service exported to a BCS group (a
    /// translation by difference checks), so none is looked for.
    without_exports: bool,
}

impl<'a> Translator<'a> {
    /// A translator that reads the controller ConfigMap (and registers the
    /// global auth service's cluster): the one that makes the whole Snapshot.
    fn new(store: &'a Store, options: &'a Options, slices: Arc<SliceIndex>, mut diags: Diagnostics) -> Self {
        let config = ControllerConfig::read(store, options, &mut diags);
        let mut t = Self::with_config(store, options, slices, config);
        t.diags = diags;
        // Its cluster is registered like any other, so it comes after the registry.
        t.config.global_auth = t.global_auth();
        t
    }

    /// A translator of some of the routes, with the ConfigMap read already.
    fn with_config(store: &'a Store, options: &'a Options, slices: Arc<SliceIndex>, config: ControllerConfig) -> Self {
        Translator {
            store,
            options,
            diags: Diagnostics::default(),
            clusters: ClusterRegistry::new(store, slices),
            claims: Claims::default(),
            certs: CertificateRegistry::new(&store.secrets),
            extra_route_configs: Vec::new(),
            gateway_ports: Vec::new(),
            gateway_facts: Default::default(),
            backend_tls: Default::default(),
            config,
            services_read: Vec::new(),
            without_exports: false,
        }
    }

    /// Service `key`, noted as read.
    fn service(&mut self, key: &Key) -> Option<&'a Service> {
        self.services_read.push(key.clone());
        let store: &'a Store = self.store;
        store.services.get(key).map(|s| &**s)
    }

    /// The Snapshot: its own listeners and whatever it translated, with
    /// `parts` (the routes, clusters and certificates translated apart).
    fn finish(
        mut self,
        mut routes: RouteConfig,
        l4: Vec<Listener>,
        services: Vec<Arc<ServiceVip>>,
        parts: Parts,
    ) -> (Snapshot, Vec<Diagnostic>) {
        let default_certificate = self.default_certificate();
        let gateway_status = self.gateway_statuses();
        let (mut certificates, mut certificate_authorities) = self.certs.into_parts();
        let (mut clusters, cluster_diags) = self.clusters.into_clusters();
        self.diags.extend(cluster_diags);
        self.diags.extend(parts.diagnostics);
        if routes.virtual_hosts.is_empty() {
            routes.virtual_hosts = parts.virtual_hosts;
        } else {
            routes.virtual_hosts.extend(parts.virtual_hosts.iter().cloned());
        }
        if let Some((split, policy)) = parts.default_backend {
            routes.default_backend = Some(split);
            routes.default_policy = policy;
        }
        merge_by_name(&mut clusters, parts.clusters, |c| &c.name);
        merge_by_name(&mut certificates, parts.certificates, |c| &c.name);
        merge_by_name(&mut certificate_authorities, parts.certificate_authorities, |c| &c.name);
        let snapshot = Snapshot {
            generation: 0,
            listeners: [
                Listener {
                    name: "http".into(),
                    address: self.options.http_listen,
                    kind: ListenerKind::Http { route_config: INGRESS_ROUTES.into() },
                    source: None,
                },
                Listener {
                    name: "https".into(),
                    address: self.options.https_listen,
                    kind: ListenerKind::Https {
                        route_config: INGRESS_ROUTES.into(),
                        default_certificate,
                        streams_only: false,
                    },
                    source: None,
                },
            ]
            .into_iter()
            .chain(l4)
            .collect(),
            route_configs: std::iter::once(routes).chain(std::mem::take(&mut self.extra_route_configs)).collect(),
            clusters,
            certificates,
            services,
            certificate_authorities,
            access_log_format: self.config.log_format.clone(),
            hsts: self.config.hsts.clone(),
            real_ip: self.config.real_ip.clone(),
            blocklist: self.config.blocklist.clone(),
            connections: self.config.connections.clone(),
            gateway_status,
        };
        let problems = match &parts.fresh {
            Some(fresh) => snapshot.validate_fresh(fresh),
            None => snapshot.validate(),
        };
        for problem in problems {
            self.diags.push(Diagnostic::error(
                ObjectRef::new("Snapshot", "", "translation"),
                problem.at,
                format!("internal inconsistency, please report: {}", problem.message),
            ));
        }
        (snapshot, self.diags.finish())
    }

    /// `--default-certificate NAMESPACE/NAME`, loaded like any TLS Secret.
    fn default_certificate(&mut self) -> Option<String> {
        let spec = self.options.default_certificate.clone()?;
        let user = ObjectRef::new("Options", "", "--default-certificate");
        match spec.split_once('/') {
            Some((ns, name)) if !ns.is_empty() && !name.is_empty() => {
                self.certs.certificate(&mut self.diags, ns, name, Referrer { object: &user, field: "" })
            }
            _ => {
                self.diags.push(Diagnostic::error(user, "", format!("'{spec}' is not NAMESPACE/NAME")));
                None
            }
        }
    }
}

/// `extra` added to `items` (sorted by name), those of a name present left out.
fn merge_by_name<T>(items: &mut Vec<T>, extra: Vec<T>, name: impl Fn(&T) -> &String) {
    if extra.is_empty() {
        return;
    }
    items.extend(extra);
    items.sort_by(|a, b| name(a).cmp(name(b)));
    items.dedup_by(|later, first| name(later) == name(first));
}
