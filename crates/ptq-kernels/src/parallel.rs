//! Where [`Threads::Pool`] work goes: the [`crate::Pool`] installed on the
//! calling thread, else rayon's current pool; inside a pool task, nowhere
//! (the work runs on the calling thread).

use std::sync::{Mutex, PoisonError};

use rayon::prelude::*;

use crate::Threads;
use crate::pool::{Current, current};

/// Participants `threads` spreads work over: 1 for [`Threads::Single`] or
/// inside a pool task, else the size of the current pool.
pub fn width(threads: Threads) -> usize {
    match threads {
        Threads::Single => 1,
        Threads::Pool => match current() {
            Current::InTask => 1,
            Current::Ours(pool) => pool.threads(),
            Current::Rayon => rayon::current_num_threads(),
        },
    }
}

/// Runs `f` on every item, in parallel under [`Threads::Pool`]. Each
/// participant makes its scratch state with `init` once (or, on rayon, once
/// per split) and reuses it for the items it runs. Items run in no
/// particular order; a panic in `f` reaches the caller.
pub fn for_each<T, S>(
    items: Vec<T>,
    threads: Threads,
    init: impl Fn() -> S + Sync + Send,
    f: impl Fn(&mut S, T) + Sync + Send,
) where
    T: Send,
{
    let sequential = |items: Vec<T>| {
        let mut state = init();
        for item in items {
            f(&mut state, item);
        }
    };
    if threads == Threads::Single || items.len() < 2 {
        return sequential(items);
    }
    match current() {
        Current::InTask => sequential(items),
        Current::Ours(pool) => {
            let slots: Vec<Mutex<Option<T>>> = items.into_iter().map(|t| Mutex::new(Some(t))).collect();
            pool.run(slots.len(), &|claims| {
                let mut state = None;
                while let Some(i) = claims.next() {
                    let item = slots[i].lock().unwrap_or_else(PoisonError::into_inner).take();
                    if let Some(item) = item {
                        f(state.get_or_insert_with(&init), item);
                    }
                }
            });
        }
        Current::Rayon => items.into_par_iter().for_each_init(init, f),
    }
}

/// [`for_each`] over the `chunk`-long pieces of `data` (the last may be
/// shorter), each with its index. Panics if `chunk` is 0.
pub fn for_each_chunk_mut<T, S>(
    data: &mut [T],
    chunk: usize,
    threads: Threads,
    init: impl Fn() -> S + Sync + Send,
    f: impl Fn(&mut S, (usize, &mut [T])) + Sync + Send,
) where
    T: Send,
{
    assert!(chunk > 0, "for_each_chunk_mut: chunk is 0");
    for_each(data.chunks_mut(chunk).enumerate().collect(), threads, init, f);
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::Pool;

    #[test]
    fn chunks_are_visited_once_on_every_kind_of_pool() {
        let pool = Arc::new(Pool::new(2).expect("pool"));
        for (threads, ours) in [(Threads::Single, false), (Threads::Pool, false), (Threads::Pool, true)] {
            let mut data = vec![0usize; 103];
            let inits = AtomicUsize::new(0);
            let mut go = || {
                for_each_chunk_mut(
                    &mut data,
                    10,
                    threads,
                    || inits.fetch_add(1, Ordering::Relaxed),
                    |_, (i, c)| c.iter_mut().for_each(|v| *v += i + 1),
                )
            };
            if ours {
                pool.install(go)
            } else {
                go()
            }
            for (j, v) in data.iter().enumerate() {
                assert_eq!(*v, j / 10 + 1, "{threads:?} ours={ours}");
            }
            if ours {
                assert!(inits.load(Ordering::Relaxed) <= 2);
                assert_eq!(pool.install(|| width(Threads::Pool)), 2);
            }
        }
        assert_eq!(width(Threads::Single), 1);
    }
}
