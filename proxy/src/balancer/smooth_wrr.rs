//! nginx's smooth weighted round robin.
//!
//! Each pick adds every item's weight to its running value, takes the item
//! with the largest value and subtracts the total from it: 5:1:1 gives
//! `a a b a c a a`, interleaved, not pingora's run-of-repeats `a a a a a b c`.
//! With integer weights the sequence repeats every `Σw / gcd` picks, so it is
//! computed once when a table is compiled and then served lock-free from an
//! atomic position. Longer cycles run the algorithm live under a mutex.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Longest cycle kept precomputed (entries of 4 bytes).
const MAX_CYCLE: u64 = 16_384;

#[derive(Debug)]
pub struct SmoothWrr {
    picks: Picks,
    items: usize,
}

#[derive(Debug)]
enum Picks {
    /// All weights 0, or no items.
    Empty,
    /// A single item: nothing to keep (most routes and many clusters).
    One,
    Cycle {
        sequence: Box<[u32]>,
        position: AtomicUsize,
    },
    Live(Mutex<Live>),
}

#[derive(Debug)]
struct Live {
    weights: Vec<i64>,
    current: Vec<i64>,
    total: i64,
}

impl Live {
    fn new(weights: &[u32]) -> Self {
        let weights: Vec<i64> = weights.iter().map(|w| i64::from(*w)).collect();
        Self { total: weights.iter().sum(), current: vec![0; weights.len()], weights }
    }

    fn next(&mut self) -> usize {
        let mut best = 0;
        for i in 0..self.weights.len() {
            self.current[i] += self.weights[i];
            if self.current[i] > self.current[best] {
                best = i;
            }
        }
        self.current[best] -= self.total;
        best
    }
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

impl SmoothWrr {
    /// Items are `0..weights.len()`; weight 0 items are never picked.
    pub fn new(weights: &[u32]) -> Self {
        let items = weights.len();
        let g = weights.iter().fold(0u64, |g, w| gcd(g, u64::from(*w)));
        if g == 0 {
            return Self { picks: Picks::Empty, items };
        }
        if items == 1 {
            return Self { picks: Picks::One, items };
        }
        let reduced: Vec<u32> = weights.iter().map(|w| (u64::from(*w) / g) as u32).collect();
        let period: u64 = reduced.iter().map(|w| u64::from(*w)).sum();
        if period > MAX_CYCLE {
            return Self { picks: Picks::Live(Mutex::new(Live::new(&reduced))), items };
        }
        let mut live = Live::new(&reduced);
        let sequence = (0..period).map(|_| live.next() as u32).collect();
        Self { picks: Picks::Cycle { sequence, position: AtomicUsize::new(0) }, items }
    }

    /// The next item, or `None` when every weight is 0.
    pub fn next(&self) -> Option<usize> {
        match &self.picks {
            Picks::Empty => None,
            Picks::One => Some(0),
            Picks::Cycle { sequence, position } => {
                let p = position.fetch_add(1, Ordering::Relaxed);
                Some(sequence[p % sequence.len()] as usize)
            }
            Picks::Live(live) => Some(live.lock().unwrap_or_else(|e| e.into_inner()).next()),
        }
    }

    /// The next item for which `skip` is false (a retry avoiding endpoints
    /// already tried, or ejected ones); `None` when every pickable item is
    /// skipped. One step of the shared rotation, then a scan from there:
    /// stepping it once per look would let concurrent pickers take each
    /// other's steps and see only skipped items.
    pub fn next_except(&self, skip: impl Fn(usize) -> bool) -> Option<usize> {
        match &self.picks {
            Picks::Empty => None,
            Picks::One => (!skip(0)).then_some(0),
            Picks::Cycle { sequence, position } => {
                let p = position.fetch_add(1, Ordering::Relaxed);
                (0..sequence.len()).map(|i| sequence[(p + i) % sequence.len()] as usize).find(|i| !skip(*i))
            }
            Picks::Live(live) => {
                let mut live = live.lock().unwrap_or_else(|e| e.into_inner());
                let bound = self.items.saturating_mul(64).min(MAX_CYCLE as usize);
                (0..bound).map(|_| live.next()).find(|i| !skip(*i))
            }
        }
    }

    /// Position in the cycle, carried into the next table when the weights
    /// are unchanged, so a swap does not restart the rotation.
    pub fn position(&self) -> usize {
        match &self.picks {
            Picks::Cycle { position, .. } => position.load(Ordering::Relaxed),
            _ => 0,
        }
    }

    pub fn set_position(&self, p: usize) {
        if let Picks::Cycle { position, .. } = &self.picks {
            position.store(p, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn take(w: &SmoothWrr, n: usize) -> Vec<usize> {
        (0..n).map(|_| w.next().unwrap()).collect()
    }

    #[test]
    fn nginx_sequence_for_5_1_1() {
        // The example of nginx's commit introducing smooth weighted round robin.
        assert_eq!(take(&SmoothWrr::new(&[5, 1, 1]), 7), [0, 0, 1, 0, 2, 0, 0]);
    }

    #[test]
    fn exact_shares_over_a_cycle_and_zero_gets_nothing() {
        let w = SmoothWrr::new(&[70, 30, 0]);
        let picks = take(&w, 1000);
        assert_eq!(picks.iter().filter(|i| **i == 0).count(), 700);
        assert_eq!(picks.iter().filter(|i| **i == 1).count(), 300);
        assert!(!picks.contains(&2));
        // Interleaved: never more than 3 of one in a row for 7:3.
        assert!(picks.windows(4).all(|w| !(w.iter().all(|i| *i == 0))));
    }

    #[test]
    fn all_zero_picks_nothing() {
        assert_eq!(SmoothWrr::new(&[0, 0]).next(), None);
        assert_eq!(SmoothWrr::new(&[]).next(), None);
    }

    #[test]
    fn long_cycles_run_live_with_the_same_shares() {
        let w = SmoothWrr::new(&[10_007, 9_973]);
        assert!(matches!(w.picks, Picks::Live(_)));
        let picks = take(&w, 19_980);
        assert_eq!(picks.iter().filter(|i| **i == 0).count(), 10_007);
    }

    #[test]
    fn next_except_skips_tried_items() {
        let w = SmoothWrr::new(&[1, 1, 1]);
        assert_eq!(w.next_except(|i| i != 2), Some(2));
        assert_eq!(w.next_except(|_| true), None);
    }

    #[test]
    fn concurrent_pickers_skipping_one_item_always_find_the_other() {
        let w = std::sync::Arc::new(SmoothWrr::new(&[1, 1]));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let w = w.clone();
                std::thread::spawn(move || (0..50_000).filter(|_| w.next_except(|i| i == 0) != Some(1)).count())
            })
            .collect();
        let misses: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
        assert_eq!(misses, 0, "a healthy item was available on every pick");
    }
}
