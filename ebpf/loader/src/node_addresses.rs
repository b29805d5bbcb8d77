//! The node's own IPv4 addresses, the ones a NodePort answers on (as
//! kube-proxy's default `--nodeport-addresses`: every address of the node).

use std::net::Ipv4Addr;

pub fn ipv4_addresses() -> std::io::Result<Vec<Ipv4Addr>> {
    let addrs = nix::ifaddrs::getifaddrs().map_err(std::io::Error::from)?;
    Ok(addrs.filter_map(|a| a.address?.as_sockaddr_in().map(|s| s.ip())).filter(|ip| !ip.is_loopback()).collect())
}
