//! Order-preserving parallel map on scoped threads, for the CPU-bound
//! phases of a run (reading and rendering thousands of models, writing
//! artifacts). Why not rayon: one small function covers what the engine
//! needs, with no new dependency; work is handed out in small chunks from
//! an atomic counter, so uneven items (a model calling many macros beside a
//! `select 1`) still balance.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// How many threads the CPU-bound phases use: the machine's cores
/// (`TARMAC_PARSE_THREADS` overrides, for benchmarks and tests).
pub fn threads() -> usize {
    std::env::var("TARMAC_PARSE_THREADS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|n| *n > 0)
        .unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        })
}

/// `items.iter().map(f).collect()`, run on up to [`threads`] threads.
/// Small inputs run on the calling thread (spawning costs ~20 µs a thread).
pub fn map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let n = threads().min(items.len() / 16).max(1);
    if n == 1 {
        return items.iter().map(f).collect();
    }
    const CHUNK: usize = 8;
    let next = AtomicUsize::new(0);
    let out: Mutex<Vec<(usize, Vec<R>)>> = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..n {
            s.spawn(|| {
                let mut mine = Vec::new();
                loop {
                    let start = next.fetch_add(CHUNK, Ordering::Relaxed);
                    if start >= items.len() {
                        break;
                    }
                    let end = (start + CHUNK).min(items.len());
                    mine.push((start, items[start..end].iter().map(&f).collect::<Vec<R>>()));
                }
                if let Ok(mut o) = out.lock() {
                    o.extend(mine);
                }
            });
        }
    });
    let mut chunks = out.into_inner().unwrap_or_else(|p| p.into_inner());
    chunks.sort_by_key(|(i, _)| *i);
    chunks.into_iter().flat_map(|(_, v)| v).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_order() {
        let v: Vec<usize> = (0..10_000).collect();
        let out = map(&v, |x| x * 2);
        assert_eq!(out.len(), 10_000);
        assert!(out.iter().enumerate().all(|(i, x)| *x == i * 2));
        assert_eq!(map(&[1, 2, 3], |x| x + 1), vec![2, 3, 4]);
        assert!(map(&Vec::<u8>::new(), |x| *x).is_empty());
    }
}
