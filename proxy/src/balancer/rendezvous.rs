//! Weighted rendezvous (highest random weight) hashing, for choosing the
//! side of a split by a client key: a client stays on its side while the
//! weights stay, and when a weight changes only clients in the moved share
//! change sides.

use super::key_hash_seeded;

/// The item for `key` among `(id, weight)` items; `None` if all weights are 0.
pub fn rendezvous(key: u64, items: &[(u64, u32)]) -> Option<usize> {
    let mut best: Option<(usize, f64)> = None;
    for (i, (id, weight)) in items.iter().enumerate() {
        if *weight == 0 {
            continue;
        }
        let h = key_hash_seeded(&key.to_le_bytes(), *id);
        // A uniform value in (0, 1]; the score -ln(u) / w is smallest for the winner.
        let u = ((h >> 11) as f64 + 1.0) / (1u64 << 53) as f64;
        let score = -u.ln() / f64::from(*weight);
        if best.is_none_or(|(_, s)| score < s) {
            best = Some((i, score));
        }
    }
    best.map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_follow_weights_and_a_weight_change_moves_only_the_moved_share() {
        let before = [(1u64, 70u32), (2, 30)];
        let after = [(1u64, 50u32), (2, 50)];
        let (mut green, mut moved, mut moved_back) = (0, 0, 0);
        for k in 0..100_000u64 {
            let a = rendezvous(k, &before).unwrap();
            let b = rendezvous(k, &after).unwrap();
            green += usize::from(a == 1);
            moved += usize::from(a == 0 && b == 1);
            moved_back += usize::from(a == 1 && b == 0);
        }
        assert!((green as f64 / 100_000.0 - 0.30).abs() < 0.01);
        assert!((moved as f64 / 100_000.0 - 0.20).abs() < 0.01, "{moved}");
        assert_eq!(moved_back, 0, "no client moves against the change");
    }
}
