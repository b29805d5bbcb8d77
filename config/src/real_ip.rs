//! Where a request's client address comes from behind another proxy
//! (ingress-nginx `use-forwarded-headers`, `enable-real-ip`,
//! `forwarded-for-header`, `real-ip-header`, `proxy-real-ip-cidr`): the
//! connection's peer, or, when the peer is trusted, the header it sets.

use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RealIp {
    /// The header, lower case (`x-forwarded-for`).
    pub header: String,
    /// Peers whose header is believed (`proxy-real-ip-cidr`).
    pub trusted: Vec<IpNet>,
    /// `use-forwarded-headers`: a trusted peer's `X-Forwarded-Proto`,
    /// `-Host` and `-Port` pass to the upstream as they came.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pass_forwarded: bool,
}

impl RealIp {
    pub fn trusts(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        self.trusted.iter().any(|n| n.contains(&ip))
    }

    /// The client of a request from `peer` whose header has `values`: as
    /// nginx's `real_ip_recursive on`, the rightmost address of the list
    /// that is not trusted (the leftmost when all are); the peer when it is
    /// not trusted or the header has no address.
    pub fn client<'v>(&self, peer: IpAddr, values: impl Iterator<Item = &'v str>) -> IpAddr {
        if !self.trusts(peer) {
            return peer;
        }
        let list: Vec<IpAddr> = values.flat_map(|v| v.split(',')).filter_map(address).collect();
        list.iter().rev().find(|ip| !self.trusts(**ip)).or(list.first()).copied().unwrap_or(peer)
    }
}

/// An address of a forwarding list: `192.0.2.1`, `192.0.2.1:5000`,
/// `2001:db8::1`, `[2001:db8::1]:5000`.
fn address(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    entry
        .parse()
        .ok()
        .or_else(|| entry.parse::<std::net::SocketAddr>().ok().map(|s| s.ip()))
        .or_else(|| entry.strip_prefix('[')?.strip_suffix(']')?.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn real_ip(trusted: &[&str]) -> RealIp {
        RealIp {
            header: "x-forwarded-for".into(),
            trusted: trusted.iter().map(|n| n.parse().unwrap()).collect(),
            pass_forwarded: false,
        }
    }

    #[test]
    fn the_rightmost_untrusted_address_is_the_client() {
        let r = real_ip(&["10.0.0.0/8"]);
        let peer: IpAddr = "10.0.0.1".parse().unwrap();
        let client = |values: &[&str]| r.client(peer, values.iter().copied()).to_string();
        assert_eq!(client(&["198.51.100.7, 10.0.0.9"]), "198.51.100.7");
        assert_eq!(
            client(&["203.0.113.1", "198.51.100.7:4000, 10.1.1.1"]),
            "198.51.100.7",
            "spoofed left entries are skipped"
        );
        assert_eq!(client(&["10.2.2.2, 10.3.3.3"]), "10.2.2.2", "all trusted: the leftmost");
        assert_eq!(client(&["junk"]), "10.0.0.1");
        assert_eq!(client(&[]), "10.0.0.1");
        let outsider: IpAddr = "192.0.2.9".parse().unwrap();
        assert_eq!(r.client(outsider, ["198.51.100.7"].into_iter()), outsider, "an untrusted peer's header is ignored");
    }
}
