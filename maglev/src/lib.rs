//! Maglev consistent hashing (Eisenbud et al., NSDI 2016), weighted as in
//! Envoy: each item fills table slots in proportion to its weight, following
//! its own permutation of the table. A lookup is one array read; removing
//! one of N items moves about 1/N of the keys. One crate for the proxy's
//! consistent hashing and the kernel's NodePort tables, so both spread the
//! same way.

fn key_hash_seeded(bytes: &[u8], seed: u64) -> u64 {
    xxhash_rust::xxh3::xxh3_64_with_seed(bytes, seed)
}

const OFFSET_SEED: u64 = 0x5eed_0ff5;
const SKIP_SEED: u64 = 0x5eed_5c1b;

#[derive(Debug)]
pub struct Maglev {
    /// Item index per slot; empty when no item has weight.
    table: Box<[u32]>,
}

impl Maglev {
    /// `items` are (stable id, weight); ids must differ. `size` should be a
    /// prime larger than 100 × the number of items for an even spread.
    pub fn new(items: &[(u64, u32)], size: u32) -> Self {
        let size = u64::from(size.max(3));
        let live: Vec<usize> = (0..items.len()).filter(|i| items[*i].1 > 0).collect();
        if live.is_empty() {
            return Self { table: Box::new([]) };
        }
        let max_weight = live.iter().map(|i| u64::from(items[*i].1)).max().unwrap_or(1);
        struct Entry {
            index: u32,
            offset: u64,
            skip: u64,
            next: u64,
            weight: u64,
            target: u64,
        }
        let mut entries: Vec<Entry> = live
            .iter()
            .map(|&i| {
                let id = items[i].0.to_le_bytes();
                Entry {
                    index: i as u32,
                    offset: key_hash_seeded(&id, OFFSET_SEED) % size,
                    skip: key_hash_seeded(&id, SKIP_SEED) % (size - 1) + 1,
                    next: 0,
                    weight: u64::from(items[i].1),
                    target: 0,
                }
            })
            .collect();
        let mut table = vec![u32::MAX; size as usize];
        let mut filled = 0u64;
        let mut iteration = 1u64;
        while filled < size {
            for e in entries.iter_mut() {
                if filled == size {
                    break;
                }
                // An item of the largest weight takes a slot every round; one of a
                // third of it every third round.
                if iteration * e.weight < e.target {
                    continue;
                }
                e.target += max_weight;
                let mut slot = (e.offset + e.skip * e.next) % size;
                while table[slot as usize] != u32::MAX {
                    e.next += 1;
                    slot = (e.offset + e.skip * e.next) % size;
                }
                table[slot as usize] = e.index;
                e.next += 1;
                filled += 1;
            }
            iteration += 1;
        }
        Self { table: table.into_boxed_slice() }
    }

    /// The item for a key hash, or `None` when no item has weight.
    pub fn get(&self, hash: u64) -> Option<usize> {
        self.slot(hash).map(|s| self.table[s] as usize)
    }

    /// The first item from the key's slot on that `usable` accepts, so an
    /// unusable item's keys spread over the others and no other key moves.
    pub fn get_usable(&self, hash: u64, usable: impl Fn(usize) -> bool) -> Option<usize> {
        let start = self.slot(hash)?;
        let n = self.table.len();
        (0..n).map(|k| self.table[(start + k) % n] as usize).find(|i| usable(*i))
    }

    /// The item index of every slot (empty when no item has weight), for
    /// laying the table out elsewhere, as the kernel's slot maps do.
    pub fn slots(&self) -> &[u32] {
        &self.table
    }

    fn slot(&self, hash: u64) -> Option<usize> {
        if self.table.is_empty() { None } else { Some((hash % self.table.len() as u64) as usize) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key_hash(bytes: &[u8]) -> u64 {
        xxhash_rust::xxh3::xxh3_64(bytes)
    }

    fn ids(n: u64) -> Vec<(u64, u32)> {
        (0..n).map(|i| (key_hash(format!("192.0.2.{i}:80").as_bytes()), 1)).collect()
    }

    #[test]
    fn shares_follow_weights() {
        let items = [(11, 3), (22, 1), (33, 0)];
        let m = Maglev::new(&items, 65537);
        let mut counts = [0usize; 3];
        for k in 0..200_000u64 {
            counts[m.get(key_hash(&k.to_le_bytes())).unwrap()] += 1;
        }
        let share = counts[0] as f64 / 200_000.0;
        assert!((share - 0.75).abs() < 0.01, "{counts:?}");
        assert_eq!(counts[2], 0);
    }

    #[test]
    fn unusable_items_move_only_their_keys() {
        let m = Maglev::new(&ids(5), 65537);
        for k in 0..10_000u64 {
            let h = key_hash(&k.to_le_bytes());
            let home = m.get(h).unwrap();
            let other = m.get_usable(h, |i| i != 2).unwrap();
            assert_ne!(other, 2);
            if home != 2 {
                assert_eq!(home, other);
            }
        }
    }
}
