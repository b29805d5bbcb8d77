//! Who owns what: a host and path of the shared route config, a port of
//! this instance. The first claim keeps it; sources claim in age order, so
//! the older object wins (bcs.md §5), and a later claim is refused with a
//! diagnostic naming the owner.

use super::diagnostics::Diagnostics;
use sluice_config::{Diagnostic, ObjectRef, PathMatch};
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

/// A port of this instance on an address (unspecified: every address).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Port {
    pub number: u16,
    pub udp: bool,
    pub ip: IpAddr,
}

impl Port {
    pub(super) fn tcp(ip: IpAddr, number: u16) -> Self {
        Port { number, udp: false, ip }
    }

    /// Whether two sockets would collide: the same port and protocol on
    /// the same address, or on every address.
    fn overlaps(self, other: Port) -> bool {
        self.number == other.number
            && self.udp == other.udp
            && (self.ip == other.ip || self.ip.is_unspecified() || other.ip.is_unspecified())
    }

    fn protocol(self) -> &'static str {
        if self.udp { "UDP" } else { "TCP" }
    }
}

#[derive(Default)]
pub(super) struct Claims {
    /// `(host, path)` -> the object that holds it.
    routes: HashMap<(String, PathMatch), ObjectRef>,
    /// Port -> who holds it, as diagnostics name it.
    ports: BTreeMap<Port, String>,
}

impl Claims {
    /// Claims a host and path for `r`; false (with a diagnostic on `field`)
    /// when an older object, or an earlier path of the same one, holds it.
    pub(super) fn route(
        &mut self,
        diags: &mut Diagnostics,
        r: &ObjectRef,
        field: &str,
        host: &str,
        path: &PathMatch,
    ) -> bool {
        let key = (host.to_owned(), path.clone());
        if let Some(owner) = self.routes.get(&key) {
            let message = if owner == r {
                format!("duplicate of an earlier path of this object for host '{host}'; left out")
            } else {
                format!(
                    "host '{host}' {:?} path '{}' is already served by {owner}, which is older and keeps it; left out",
                    path.kind, path.path
                )
            };
            diags.push(Diagnostic::error(r.clone(), field, message));
            return false;
        }
        self.routes.insert(key, r.clone());
        true
    }

    /// Whether `port` is free; when not, a diagnostic on `r`'s `field` names
    /// its owner and ends in `consequence` ("this rule is left out").
    pub(super) fn port_free(
        &self,
        diags: &mut Diagnostics,
        r: &ObjectRef,
        field: &str,
        port: Port,
        consequence: &str,
    ) -> bool {
        let Some(owner) = self.ports.iter().find(|(p, _)| p.overlaps(port)).map(|(_, o)| o) else { return true };
        diags.push(Diagnostic::error(
            r.clone(),
            field,
            format!(
                "port {}/{} is already taken by {owner}, which keeps it; {consequence}",
                port.number,
                port.protocol()
            ),
        ));
        false
    }

    /// Gives `port` to `owner` (checked free with `port_free` first).
    pub(super) fn take_port(&mut self, port: Port, owner: String) {
        self.ports.insert(port, owner);
    }
}
