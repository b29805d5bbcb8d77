//! Client address -> endpoint, forgotten after `timeout` without use
//! (kube-proxy's `sessionAffinity: ClientIP`).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;

const SHARDS: usize = 16;

#[derive(Debug)]
pub struct ClientIpTable {
    timeout_ms: u64,
    shards: Vec<Mutex<HashMap<IpAddr, (SocketAddr, u64)>>>,
}

impl ClientIpTable {
    pub fn new(timeout_seconds: u32) -> Self {
        Self {
            timeout_ms: u64::from(timeout_seconds) * 1000,
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }

    fn shard(&self, ip: &IpAddr) -> &Mutex<HashMap<IpAddr, (SocketAddr, u64)>> {
        let h = match ip {
            IpAddr::V4(v4) => crate::balancer::key_hash(&v4.octets()),
            IpAddr::V6(v6) => crate::balancer::key_hash(&v6.octets()),
        };
        &self.shards[(h % SHARDS as u64) as usize]
    }

    /// The endpoint `ip` last used, unless that was `timeout` ago or more.
    pub fn get(&self, ip: IpAddr, now_ms: u64) -> Option<SocketAddr> {
        let mut shard = self.shard(&ip).lock().unwrap_or_else(|e| e.into_inner());
        match shard.get(&ip) {
            Some((addr, last)) if now_ms.saturating_sub(*last) < self.timeout_ms => Some(*addr),
            Some(_) => {
                shard.remove(&ip);
                None
            }
            None => None,
        }
    }

    /// Records a use; expired entries of the shard are dropped as it grows.
    pub fn touch(&self, ip: IpAddr, endpoint: SocketAddr, now_ms: u64) {
        let mut shard = self.shard(&ip).lock().unwrap_or_else(|e| e.into_inner());
        if shard.len() >= 4096 && shard.len().is_power_of_two() {
            let timeout = self.timeout_ms;
            shard.retain(|_, (_, last)| now_ms.saturating_sub(*last) < timeout);
        }
        shard.insert(ip, (endpoint, now_ms));
    }

    /// Entries still live whose endpoint is in `keep`, for the next table.
    pub fn carry_into(&self, next: &ClientIpTable, keep: impl Fn(&SocketAddr) -> bool, now_ms: u64) {
        for shard in &self.shards {
            let shard = shard.lock().unwrap_or_else(|e| e.into_inner());
            for (ip, (addr, last)) in shard.iter() {
                if keep(addr) && now_ms.saturating_sub(*last) < next.timeout_ms {
                    next.touch(*ip, *addr, *last);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_after_the_idle_timeout() {
        let t = ClientIpTable::new(10);
        let ip: IpAddr = "203.0.113.9".parse().unwrap();
        let ep: SocketAddr = "192.0.2.1:80".parse().unwrap();
        t.touch(ip, ep, 1_000);
        assert_eq!(t.get(ip, 10_999), Some(ep));
        t.touch(ip, ep, 10_999);
        assert_eq!(t.get(ip, 20_998), Some(ep), "each use restarts the timeout");
        assert_eq!(t.get(ip, 20_999), None, "expired exactly at the timeout");
        assert_eq!(t.get(ip, 21_000), None);
    }
}
