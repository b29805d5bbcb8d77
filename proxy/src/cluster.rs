//! A cluster as requests use it: its endpoints and the rotation over them.

use crate::balancer::SmoothWrr;
use sluice_config::{Cluster, Endpoint};
use std::net::SocketAddr;

#[derive(Debug)]
pub struct ClusterState {
    pub name: String,
    /// As in the Snapshot; kept to tell whether a new Snapshot changed them.
    endpoints: Vec<Endpoint>,
    /// Endpoints taking new traffic (weight > 0, not terminating).
    active: Vec<SocketAddr>,
    active_rotation: SmoothWrr,
    /// Serving but terminating: used only when no endpoint is active.
    terminating: Vec<SocketAddr>,
    terminating_rotation: SmoothWrr,
}

impl ClusterState {
    pub fn new(c: &Cluster) -> Self {
        let (mut active, mut aw, mut terminating, mut tw) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for e in &c.endpoints {
            if e.terminating {
                terminating.push(e.address);
                tw.push(e.weight.max(1));
            } else if e.weight > 0 {
                active.push(e.address);
                aw.push(e.weight);
            }
        }
        Self {
            name: c.name.clone(),
            endpoints: c.endpoints.clone(),
            active,
            active_rotation: SmoothWrr::new(&aw),
            terminating,
            terminating_rotation: SmoothWrr::new(&tw),
        }
    }

    /// Whether `c` has exactly these endpoints (so this state, with its
    /// rotation position, can serve the new table unchanged).
    pub fn same_endpoints(&self, c: &Cluster) -> bool {
        self.endpoints == c.endpoints
    }

    /// The next endpoint not in `tried`.
    pub fn pick(&self, tried: &[SocketAddr]) -> Option<SocketAddr> {
        let (list, rotation) = if self.active.is_empty() {
            (&self.terminating, &self.terminating_rotation)
        } else {
            (&self.active, &self.active_rotation)
        };
        if tried.is_empty() {
            return rotation.next().map(|i| list[i]);
        }
        rotation.next_except(|i| tried.contains(&list[i])).map(|i| list[i])
    }

    /// Whether an endpoint not in `tried` is left.
    pub fn has_untried(&self, tried: &[SocketAddr]) -> bool {
        let list = if self.active.is_empty() { &self.terminating } else { &self.active };
        list.iter().any(|a| !tried.contains(a))
    }

    pub fn ready_endpoints(&self) -> usize {
        self.active.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_config::{Balance, ObjectRef};

    fn cluster(eps: &[(&str, u32, bool)]) -> Cluster {
        Cluster {
            name: "default/a:80".into(),
            service: ObjectRef::new("Service", "default", "a"),
            port: 80,
            balance: Balance::RoundRobin,
            endpoints: eps
                .iter()
                .map(|(a, w, t)| Endpoint {
                    address: a.parse().unwrap(),
                    weight: *w,
                    terminating: *t,
                    node: None,
                    pod: None,
                })
                .collect(),
            dns: None,
        }
    }

    #[test]
    fn round_robin_honours_weights_and_skips_zero() {
        let c = ClusterState::new(&cluster(&[
            ("192.0.2.1:80", 2, false),
            ("192.0.2.2:80", 1, false),
            ("192.0.2.3:80", 0, false),
        ]));
        let picks: Vec<String> = (0..6).map(|_| c.pick(&[]).unwrap().to_string()).collect();
        assert_eq!(picks.iter().filter(|p| *p == "192.0.2.1:80").count(), 4);
        assert!(!picks.iter().any(|p| p == "192.0.2.3:80"));
    }

    #[test]
    fn terminating_only_when_nothing_else() {
        let c = ClusterState::new(&cluster(&[("192.0.2.1:80", 1, false), ("192.0.2.2:80", 1, true)]));
        assert!((0..10).all(|_| c.pick(&[]).unwrap().to_string() == "192.0.2.1:80"));
        let c = ClusterState::new(&cluster(&[("192.0.2.2:80", 1, true)]));
        assert_eq!(c.pick(&[]).unwrap().to_string(), "192.0.2.2:80");
    }

    #[test]
    fn retries_avoid_tried_endpoints() {
        let c = ClusterState::new(&cluster(&[("192.0.2.1:80", 1, false), ("192.0.2.2:80", 1, false)]));
        let first = c.pick(&[]).unwrap();
        let second = c.pick(&[first]).unwrap();
        assert_ne!(first, second);
        assert!(!c.has_untried(&[first, second]));
        assert_eq!(c.pick(&[first, second]), None);
    }
}
