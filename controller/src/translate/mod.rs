//! `translate(&Store, &Options) -> (Snapshot, Vec<Diagnostic>)`: pure,
//! deterministic, no I/O, no panics. Each input problem becomes a diagnostic
//! naming the object and field; the rest of the configuration still applies.

mod annotations;
pub use annotations::catalogue::table as annotation_table;
mod backend;
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
mod ingress_routes;
mod l4_configmap;
mod listeners;
mod nginx_values;
mod order;
mod route_config;
mod seed_listeners;
mod seed_routes;
mod service_export;
mod service_vip;
mod tls_secret;

use crate::store::Store;
use certificates::{CertificateRegistry, Referrer};
use claims::Claims;
use clusters::ClusterRegistry;
use diagnostics::Diagnostics;
use sluice_config::{
    Diagnostic, Listener, ListenerKind, LogFormat, ObjectRef, Options, RouteConfig, ServiceVip, Snapshot,
};

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
    let mut t = Translator::new(store, options);
    let routes = t.ingresses();
    let l4 = t.l4_services();
    let services = t.service_vips();
    let access_log_format = t.config.log_format.clone();
    t.finish(routes, l4, services, access_log_format)
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
    /// Route configs of L7 listeners on their own ports (BCS Ingress rules).
    extra_route_configs: Vec<RouteConfig>,
    /// The controller ConfigMap.
    config: ControllerConfig,
}

impl<'a> Translator<'a> {
    fn new(store: &'a Store, options: &'a Options) -> Self {
        let mut diags = Diagnostics::default();
        let clusters = ClusterRegistry::new(store, &mut diags);
        let config = ControllerConfig::read(store, options, &mut diags);
        let mut t = Translator {
            store,
            options,
            diags,
            clusters,
            claims: Claims::default(),
            certs: CertificateRegistry::new(&store.secrets),
            extra_route_configs: Vec::new(),
            config,
        };
        // Its cluster is registered like any other, so it comes after the registry.
        t.config.global_auth = t.global_auth();
        t
    }

    fn finish(
        mut self,
        routes: RouteConfig,
        l4: Vec<Listener>,
        services: Vec<ServiceVip>,
        access_log_format: Option<LogFormat>,
    ) -> (Snapshot, Vec<Diagnostic>) {
        let default_certificate = self.default_certificate();
        let (certificates, certificate_authorities) = self.certs.into_parts();
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
                    kind: ListenerKind::Https { route_config: INGRESS_ROUTES.into(), default_certificate },
                    source: None,
                },
            ]
            .into_iter()
            .chain(l4)
            .collect(),
            route_configs: std::iter::once(routes).chain(std::mem::take(&mut self.extra_route_configs)).collect(),
            clusters: self.clusters.into_clusters(),
            certificates,
            services,
            certificate_authorities,
            access_log_format,
            hsts: self.config.hsts.clone(),
            real_ip: self.config.real_ip.clone(),
            blocklist: self.config.blocklist.clone(),
            connections: self.config.connections.clone(),
        };
        for problem in snapshot.validate() {
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
