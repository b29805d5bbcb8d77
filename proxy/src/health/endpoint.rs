//! The health of one endpoint, updated by requests (passive) and probes
//! (active), read lock-free by every pick.

use sluice_config::{ActiveCheck, PassiveCheck};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

#[derive(Debug)]
pub struct EndpointHealth {
    /// The active probes' verdict; endpoints start healthy, as in nginx.
    probe_ok: AtomicBool,
    probe_streak: AtomicU32,
    consecutive_failures: AtomicU32,
    /// Ejected until this time (clock ms); 0 = not ejected.
    ejected_until: AtomicU64,
    /// Ejections in a row, for the back-off.
    ejections: AtomicU32,
}

impl Default for EndpointHealth {
    fn default() -> Self {
        Self {
            probe_ok: AtomicBool::new(true),
            probe_streak: AtomicU32::new(0),
            consecutive_failures: AtomicU32::new(0),
            ejected_until: AtomicU64::new(0),
            ejections: AtomicU32::new(0),
        }
    }
}

impl EndpointHealth {
    /// A copy of another endpoint's state (the same address in a new table).
    pub fn carried_from(other: &EndpointHealth) -> Self {
        let h = Self::default();
        h.probe_ok.store(other.probe_ok.load(Ordering::Relaxed), Ordering::Relaxed);
        h.consecutive_failures.store(other.consecutive_failures.load(Ordering::Relaxed), Ordering::Relaxed);
        h.ejected_until.store(other.ejected_until.load(Ordering::Relaxed), Ordering::Relaxed);
        h.ejections.store(other.ejections.load(Ordering::Relaxed), Ordering::Relaxed);
        h
    }

    pub fn available(&self, now_ms: u64) -> bool {
        self.probe_ok.load(Ordering::Relaxed) && now_ms >= self.ejected_until.load(Ordering::Relaxed)
    }

    /// The outcome of a request; `true` when this failure ejected the endpoint.
    pub fn record(&self, ok: bool, policy: &PassiveCheck, now_ms: u64) -> bool {
        if ok {
            self.consecutive_failures.store(0, Ordering::Relaxed);
            // Back in service long enough: the next ejection starts short again.
            let until = self.ejected_until.load(Ordering::Relaxed);
            if until != 0 && now_ms >= until.saturating_add(policy.base_ejection_ms) {
                self.ejections.store(0, Ordering::Relaxed);
                self.ejected_until.store(0, Ordering::Relaxed);
            }
            return false;
        }
        if policy.consecutive_failures == 0 {
            return false;
        }
        let failures = self.consecutive_failures.fetch_add(1, Ordering::Relaxed) + 1;
        if failures < policy.consecutive_failures || now_ms < self.ejected_until.load(Ordering::Relaxed) {
            return false;
        }
        self.consecutive_failures.store(0, Ordering::Relaxed);
        let n = self.ejections.fetch_add(1, Ordering::Relaxed).min(16);
        let duration =
            policy.base_ejection_ms.saturating_mul(1u64 << n).min(policy.max_ejection_ms.max(policy.base_ejection_ms));
        self.ejected_until.store(now_ms + duration, Ordering::Relaxed);
        true
    }

    /// A probe result; `Some(healthy)` when the verdict changed.
    pub fn record_probe(&self, ok: bool, check: &ActiveCheck) -> Option<bool> {
        let was = self.probe_ok.load(Ordering::Relaxed);
        if ok == was {
            self.probe_streak.store(0, Ordering::Relaxed);
            return None;
        }
        let streak = self.probe_streak.fetch_add(1, Ordering::Relaxed) + 1;
        let needed = if ok { check.healthy_threshold } else { check.unhealthy_threshold };
        if streak >= needed.max(1) {
            self.probe_streak.store(0, Ordering::Relaxed);
            self.probe_ok.store(ok, Ordering::Relaxed);
            return Some(ok);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_config::CheckProtocol;

    #[test]
    fn ejected_after_consecutive_failures_with_back_off() {
        let p = PassiveCheck { consecutive_failures: 3, base_ejection_ms: 1000, max_ejection_ms: 3000 };
        let h = EndpointHealth::default();
        assert!(!h.record(false, &p, 0));
        assert!(!h.record(true, &p, 0), "a success resets the count");
        assert!(!h.record(false, &p, 0) && !h.record(false, &p, 0));
        assert!(h.record(false, &p, 10));
        assert!(!h.available(500) && h.available(1010));
        // Failing again right away: twice as long.
        for _ in 0..2 {
            h.record(false, &p, 1100);
        }
        assert!(h.record(false, &p, 1100));
        assert!(!h.available(3000) && h.available(3100));
        // Then capped at the maximum.
        for _ in 0..3 {
            h.record(false, &p, 3200);
        }
        assert!(!h.available(6100) && h.available(6200));
    }

    #[test]
    fn probes_flip_after_their_thresholds() {
        let c = ActiveCheck {
            protocol: CheckProtocol::Tcp,
            port: None,
            interval_ms: 100,
            timeout_ms: 50,
            healthy_threshold: 2,
            unhealthy_threshold: 3,
        };
        let h = EndpointHealth::default();
        assert_eq!(h.record_probe(false, &c), None);
        assert_eq!(h.record_probe(false, &c), None);
        assert_eq!(h.record_probe(false, &c), Some(false));
        assert!(!h.available(0));
        assert_eq!(h.record_probe(true, &c), None);
        assert_eq!(h.record_probe(true, &c), Some(true));
        assert!(h.available(0));
    }
}
