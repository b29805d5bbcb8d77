//! Every listener beyond the shared HTTP and HTTPS ones, from every source
//! in age order (ConfigMaps, seed ingresses, exported Services, BCS CRD
//! rules, Gateways): the oldest object asking for a port keeps it.

use super::Translator;
use super::claims::Port;
use super::order::{AgeKey, age};
use crate::bcs::SeedIngress;
use sluice_config::{Diagnostic, Listener, ObjectRef};

impl Translator<'_> {
    pub(super) fn l4_services(&mut self) -> Vec<Listener> {
        let bind = self.options.l4_bind;
        for (flag, addr) in [("--http-listen", self.options.http_listen), ("--https-listen", self.options.https_listen)]
        {
            self.claims.take_port(Port::tcp(addr.ip(), addr.port()), flag.to_owned());
        }
        let mut out = Vec::new();
        // Every source of ports, oldest first: the first owner keeps a port.
        enum Source<'s> {
            ConfigMap(ObjectRef, bool),
            Seed(&'s SeedIngress),
            Export(&'s crate::store::Key, &'s k8s_openapi::api::core::v1::Service),
            Bcs(&'s crate::bcs::BcsIngress),
            Gateway(&'s gateway_api::apis::standard::gateways::Gateway),
        }
        let mut sources: Vec<(AgeKey, Source<'_>)> = Vec::new();
        let maps =
            [(self.options.tcp_services_configmap.clone(), false), (self.options.udp_services_configmap.clone(), true)];
        for (name, udp) in maps {
            let Some(name) = name else { continue };
            let (ns, cm) = name.split_once('/').unwrap_or(("default", name.as_str()));
            let r = ObjectRef::new("ConfigMap", ns, cm);
            match self.store.config_maps.get(&(ns.to_owned(), cm.to_owned())) {
                Some(map) => sources.push((age(&map.metadata), Source::ConfigMap(r, udp))),
                None => {
                    let flag = if udp { "--udp-services-configmap" } else { "--tcp-services-configmap" };
                    self.diags.push(Diagnostic::warning(
                        r,
                        "",
                        format!("named by {flag} but not found; no listeners from it"),
                    ));
                }
            }
        }
        for seed in self.store.seed_ingresses.values() {
            sources.push((age(&seed.metadata), Source::Seed(seed)));
        }
        let exports = if self.without_exports { None } else { Some(&self.store.services) };
        for (key, svc) in exports.into_iter().flatten() {
            if svc.metadata.labels.as_ref().is_some_and(|l| l.contains_key(super::bcs_export::GROUP_LABEL)) {
                sources.push((age(&svc.metadata), Source::Export(key, svc)));
            }
        }
        for ing in self.store.bcs_ingresses.values() {
            sources.push((age(&ing.metadata), Source::Bcs(ing)));
        }
        for gw in self.store.gateways.values() {
            sources.push((age(&gw.metadata), Source::Gateway(gw)));
        }
        sources.sort_by(|a, b| a.0.cmp(&b.0));
        for (_, source) in sources {
            match source {
                Source::ConfigMap(r, udp) => {
                    let Some(map) = self.store.config_maps.get(&(r.namespace.clone(), r.name.clone())) else {
                        continue;
                    };
                    let mut entries: Vec<(String, String)> =
                        map.data.iter().flatten().map(|(k, v)| (k.clone(), v.clone())).collect();
                    entries.sort_by_key(|(k, _)| k.parse::<u32>().unwrap_or(u32::MAX));
                    for (key, value) in entries {
                        if let Some(l) = self.l4_entry(&r, &key, &value, udp, bind) {
                            out.push(l);
                        }
                    }
                }
                Source::Seed(seed) => {
                    let listeners = self.seed_tcp_rules(seed, bind);
                    out.extend(listeners);
                }
                Source::Export(key, svc) => {
                    let listeners = self.exported_tcp(key, svc, bind);
                    out.extend(listeners);
                }
                Source::Bcs(ing) => {
                    let listeners = self.bcs_listeners(ing, bind);
                    out.extend(listeners);
                }
                Source::Gateway(gw) => {
                    let listeners = self.gateway_listeners(gw);
                    out.extend(listeners);
                }
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }
}
