//! Weighted least connections: the usable item with the fewest requests (or
//! connections) in flight per unit of weight. Ties go to the first usable
//! item after a rotating start, so equal items share the load. Past
//! [`SCAN_LIMIT`] items a scan costs too much per pick: the better of two
//! random usable items is taken instead (power of two choices, as Envoy).

/// Largest item count scanned in full.
pub const SCAN_LIMIT: usize = 64;

/// `load(i)` is what item `i` has in flight, `weight(i)` its weight (> 0);
/// `start` varies per pick (it rotates ties and seeds the random choices).
pub fn least_loaded(
    n: usize,
    start: usize,
    usable: impl Fn(usize) -> bool,
    load: impl Fn(usize) -> u64,
    weight: impl Fn(usize) -> u64,
) -> Option<usize> {
    if n > SCAN_LIMIT {
        let mut rng = fastrand::Rng::with_seed(start as u64);
        let mut sample = || (0..8).map(|_| rng.usize(..n)).find(|i| usable(*i));
        match (sample(), sample()) {
            (Some(a), Some(b)) => {
                let better = (load(a) + 1) * weight(b).max(1) <= (load(b) + 1) * weight(a).max(1);
                return Some(if better { a } else { b });
            }
            (Some(a), None) | (None, Some(a)) => return Some(a),
            // Few usable items among many: fall back to the scan.
            (None, None) => {}
        }
    }
    let mut best: Option<(usize, u64, u64)> = None;
    for k in 0..n {
        let i = (start + k) % n;
        if !usable(i) {
            continue;
        }
        let (l, w) = (load(i), weight(i).max(1));
        // (l + 1) / w < (bl + 1) / bw, without division.
        let better = match best {
            None => true,
            Some((_, bl, bw)) => (l + 1) * bw < (bl + 1) * w,
        };
        if better {
            best = Some((i, l, w));
        }
    }
    best.map(|(i, _, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn past_the_scan_limit_two_choices_avoid_the_loaded() {
        // 1 000 items, all but item 7 heavily loaded: item 7 keeps winning its duels.
        let load = |i: usize| if i == 7 { 0 } else { 100 };
        let mut seven = 0;
        for start in 0..20_000 {
            let i = least_loaded(1000, start, |_| true, load, |_| 1).unwrap();
            seven += usize::from(i == 7);
        }
        assert!(seven > 20, "item 7 sampled and preferred ({seven})");
        // Only a few usable: they are still found.
        assert_eq!(least_loaded(1000, 3, |i| i == 999, load, |_| 1), Some(999));
    }

    #[test]
    fn picks_the_least_loaded_relative_to_weight() {
        let load = [3u64, 1, 2];
        assert_eq!(least_loaded(3, 0, |_| true, |i| load[i], |_| 1), Some(1));
        // Weight 4 with 3 in flight is less loaded than weight 1 with 1.
        let weight = [4u64, 1, 1];
        assert_eq!(least_loaded(3, 0, |_| true, |i| load[i], |i| weight[i]), Some(0));
        assert_eq!(least_loaded(3, 0, |i| i != 1, |i| load[i], |_| 1), Some(2));
        assert_eq!(least_loaded(3, 0, |_| false, |i| load[i], |_| 1), None);
    }
}
