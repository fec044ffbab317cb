//! Fixed hashing and random helpers.
//!
//! Everything the simulator produces must be a pure function of the seed and
//! the request, on every machine and every Rust release. So no
//! `std::collections::hash_map::RandomState` (randomly keyed per process) and
//! no `rand` distribution helpers whose algorithms may change between minor
//! versions: inputs are hashed with FNV-1a plus a SplitMix64 finaliser, and
//! the only generator used is ChaCha8 (whose output is fixed by its spec),
//! read through the few helpers below.

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// SplitMix64's finaliser: spreads FNV's weak low bits over the whole word.
pub(crate) fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// FNV-1a over length-prefixed parts, so ("ab","c") and ("a","bc") differ.
#[derive(Debug, Clone)]
pub(crate) struct Hasher(u64);

impl Hasher {
    pub(crate) fn new(domain: &str) -> Self {
        let mut h = Hasher(FNV_OFFSET);
        h.str(domain);
        h
    }

    fn raw(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(FNV_PRIME);
        }
    }

    pub(crate) fn bytes(&mut self, bytes: &[u8]) -> &mut Self {
        self.raw(&(bytes.len() as u64).to_le_bytes());
        self.raw(bytes);
        self
    }

    pub(crate) fn str(&mut self, s: &str) -> &mut Self {
        self.bytes(s.as_bytes())
    }

    pub(crate) fn u64(&mut self, v: u64) -> &mut Self {
        self.bytes(&v.to_le_bytes())
    }

    pub(crate) fn finish(&self) -> u64 {
        splitmix64(self.0)
    }
}

/// A uniform number in [0, 1) from 53 bits of `x`.
pub(crate) fn unit(x: u64) -> f64 {
    (x >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// The generator used everywhere, seeded from a hash.
pub(crate) struct Rng(ChaCha8Rng);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Rng(ChaCha8Rng::seed_from_u64(seed))
    }

    pub(crate) fn u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// Uniform in [0, 1).
    pub(crate) fn unit(&mut self) -> f64 {
        unit(self.u64())
    }

    pub(crate) fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// Uniform integer in [0, n); 0 when n == 0.
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        // Multiply-shift: bias is below 2^-64 * n, irrelevant here.
        ((u128::from(self.u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform integer in [lo, hi); lo when the range is empty.
    pub(crate) fn range(&mut self, lo: i64, hi: i64) -> i64 {
        if hi <= lo {
            return lo;
        }
        lo + self.below((hi - lo) as u64) as i64
    }

    /// Index drawn with probability proportional to `weight(item)`; None for
    /// an empty slice or all-zero weights.
    pub(crate) fn pick_index<T>(
        &mut self,
        items: &[T],
        weight: impl Fn(&T) -> f64,
    ) -> Option<usize> {
        let total: f64 = items.iter().map(|t| weight(t).max(0.0)).sum();
        if total.is_nan() || total <= 0.0 {
            return None;
        }
        let mut x = self.unit() * total;
        let mut last = None;
        for (i, t) in items.iter().enumerate() {
            let w = weight(t).max(0.0);
            if w <= 0.0 {
                continue;
            }
            last = Some(i);
            if x < w {
                return Some(i);
            }
            x -= w;
        }
        last
    }

    /// Item of a `(value, weight)` table.
    pub(crate) fn pick<'a, T, W: Copy + Into<f64>>(
        &mut self,
        table: &'a [(T, W)],
    ) -> Option<&'a T> {
        self.pick_index(table, |(_, w)| (*w).into())
            .map(|i| &table[i].0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashing_is_fixed_and_part_aware() {
        let a = Hasher::new("x").str("ab").str("c").finish();
        let b = Hasher::new("x").str("a").str("bc").finish();
        assert_ne!(a, b);
        assert_eq!(a, Hasher::new("x").str("ab").str("c").finish());
        // Pinned (computed independently in Python): changing the hash
        // silently changes every generated day and every fault draw.
        assert_eq!(Hasher::new("pin").u64(42).finish(), 0x62a2_514b_994a_9f50);
        assert_ne!(
            Hasher::new("pin").u64(42).finish(),
            Hasher::new("pin").u64(43).finish()
        );
    }

    #[test]
    fn rng_helpers_stay_in_range() {
        let mut r = Rng::new(7);
        for _ in 0..1000 {
            let u = r.unit();
            assert!((0.0..1.0).contains(&u));
            assert!(r.below(5) < 5);
            let x = r.range(-3, 4);
            assert!((-3..4).contains(&x));
        }
        assert_eq!(r.below(0), 0);
        assert_eq!(r.range(5, 5), 5);
        let table = [("a", 0u32), ("b", 3), ("c", 0)];
        for _ in 0..100 {
            assert_eq!(r.pick(&table), Some(&"b"));
        }
        let empty: [(&str, u32); 0] = [];
        assert_eq!(r.pick(&empty), None);
    }

    #[test]
    fn same_seed_same_stream() {
        let mut a = Rng::new(99);
        let mut b = Rng::new(99);
        for _ in 0..10 {
            assert_eq!(a.u64(), b.u64());
        }
    }
}
