//! The seed BCS ingress's TCP rules into listeners: one on each
//! `listenPort`, split between Services by their weights (bcs.md §2).

use super::Translator;
use super::claims::Port;
use crate::bcs::SeedIngress;
use crate::object::{Kind, meta_ref};
use sluice_config::{Diagnostic, L4Policy, Listener, ListenerKind};
use std::net::{IpAddr, SocketAddr};

impl Translator<'_> {
    /// The seed's TCP rules: a listener on each `listenPort`.
    pub(super) fn seed_tcp_rules(&mut self, seed: &SeedIngress, bind: IpAddr) -> Vec<Listener> {
        let r = meta_ref(Kind::SeedIngress, &seed.metadata);
        let mut out = Vec::new();
        // The lbGroup verdict was given with the HTTP rules; here it is only applied.
        if seed.spec.lb_group.as_deref().unwrap_or("") != self.options.lb_group {
            return out;
        }
        for (i, rule) in seed.spec.rules.iter().enumerate() {
            match rule.effective_kind().as_deref() {
                Some("TCP") => {}
                Some("HTTP") => continue,
                other => {
                    self.diags.push(Diagnostic::error(
                        r.clone(),
                        format!("spec.rules[{i}].kind"),
                        format!("'{}' is not HTTP or TCP; rule left out", other.unwrap_or("")),
                    ));
                    continue;
                }
            }
            let tf = format!("spec.rules[{i}].tcpIngress");
            let Some(tcp) = &rule.tcp_ingress else {
                self.diags.push(Diagnostic::error(r.clone(), tf, "required for kind TCP"));
                continue;
            };
            let port = tcp
                .listen_port
                .as_ref()
                .and_then(serde_json::Value::as_u64)
                .and_then(|p| u16::try_from(p).ok())
                .filter(|p| *p != 0);
            let Some(port) = port else {
                self.diags.push(Diagnostic::error(
                    r.clone(),
                    format!("{tf}.listenPort"),
                    "required: a port in 1-65535",
                ));
                continue;
            };
            let policy = self.seed_balance(rule, &r, &format!("spec.rules[{i}]"));
            let split = self.seed_split(&r, &tcp.backend, &format!("{tf}.backend"), &policy, "TCP");
            let field = format!("{tf}.listenPort");
            if !self.claims.port_free(
                &mut self.diags,
                &r,
                &field,
                Port::tcp(self.options.l4_bind, port),
                "this rule is left out",
            ) {
                continue;
            }
            self.claims.take_port(Port::tcp(self.options.l4_bind, port), format!("{r} {field}"));
            let mut l4 = L4Policy::default();
            if let Some(max) =
                rule.max_conn.as_ref().and_then(serde_json::Value::as_u64).and_then(|m| u32::try_from(m).ok())
            {
                l4.max_connections = Some(max).filter(|m| *m > 0);
            }
            out.push(Listener {
                name: format!("tcp-{port}"),
                address: SocketAddr::new(bind, port),
                kind: ListenerKind::Tcp { split, policy: l4 },
                source: Some(r.clone()),
            });
        }
        out
    }
}
