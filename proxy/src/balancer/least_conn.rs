//! Weighted least connections: the usable item with the fewest requests (or
//! connections) in flight per unit of weight. Ties go to the first usable
//! item after a rotating start, so equal items share the load.

/// `load(i)` is what item `i` has in flight, `weight(i)` its weight (> 0).
pub fn least_loaded(
    n: usize,
    start: usize,
    usable: impl Fn(usize) -> bool,
    load: impl Fn(usize) -> u64,
    weight: impl Fn(usize) -> u64,
) -> Option<usize> {
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
