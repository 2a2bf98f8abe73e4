//! A small thread pool for short parallel sections.
//!
//! Running one model step on two cores pays only if handing the work to the
//! other core costs far less than the step. rayon's idle workers sleep on a
//! futex, and a call from outside its pool waits on a lock latch, so each
//! hand-off costs tens of microseconds, more than whole layers of a small
//! model. A [`Pool`]'s workers instead spin for [`SPIN`] after each job
//! before they park, so back-to-back parallel steps reach a worker that is
//! already awake (the same policy as onnxruntime's intra-op pool), and the
//! calling thread takes tasks itself instead of waiting.
//!
//! A job is `n` task indices claimed from a shared counter by the caller and
//! by every worker that joins while the job is open. The caller closes the
//! job when no index is left and waits only for workers that joined, so a
//! parked worker never delays a job it did not take part in.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long an idle worker spins before it parks.
pub const SPIN: Duration = Duration::from_micros(200);

/// The shared view of one job: claim task indices until none is left.
#[derive(Debug)]
pub struct Claims<'a> {
    next: &'a AtomicUsize,
    n: usize,
}

impl Claims<'_> {
    /// The next unclaimed task index, or `None` when every task is taken.
    pub fn next(&self) -> Option<usize> {
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        (i < self.n).then_some(i)
    }
}

/// A job's body, called once by every participant.
type Body<'a> = dyn Fn(&Claims<'_>) + Sync + 'a;

/// `state` layout: the job's epoch in the high 32 bits, [`CLOSED`], and the
/// number of workers inside the job in the low bits.
const CLOSED: u64 = 1 << 31;
const JOINED: u64 = CLOSED - 1;

#[derive(Default)]
struct Shared {
    state: AtomicU64,
    /// The open job's body, lifetime erased (see [`Pool::run`]).
    body: Mutex<Option<&'static Body<'static>>>,
    next: AtomicUsize,
    n: AtomicUsize,
    /// Workers parked (or about to park) on `wake`.
    parked: AtomicUsize,
    sleep: Mutex<()>,
    wake: Condvar,
    shutdown: AtomicBool,
    /// The first panic a worker caught in the current job.
    panic: Mutex<Option<Box<dyn Any + Send>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A fixed set of worker threads that run index-parallel jobs with the
/// calling thread; see the module docs. Jobs from several threads at once
/// take turns. Dropping the pool stops and joins its workers.
pub struct Pool {
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
    /// Serialises jobs (one job is open at a time).
    turn: Mutex<()>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool").field("threads", &self.threads()).finish()
    }
}

thread_local! {
    /// Set on pool workers, and on a caller while it runs tasks: nested
    /// parallel sections run sequentially there.
    static IN_TASK: Cell<bool> = const { Cell::new(false) };
    /// The pool [`Pool::install`] made current on this thread.
    static CURRENT: RefCell<Option<Arc<Pool>>> = const { RefCell::new(None) };
}

/// Where [`crate::Threads::Pool`] work runs on this thread.
pub(crate) enum Current {
    /// Inside a task of a [`Pool`] job: run sequentially.
    InTask,
    /// A [`Pool`] installed with [`Pool::install`].
    Ours(Arc<Pool>),
    /// No pool installed: rayon's current pool.
    Rayon,
}

/// The pool parallel work on this thread goes to.
pub(crate) fn current() -> Current {
    if IN_TASK.with(Cell::get) {
        return Current::InTask;
    }
    CURRENT.with(|c| c.borrow().clone()).map_or(Current::Rayon, Current::Ours)
}

impl Pool {
    /// A pool of `threads` participants: the caller plus `threads - 1`
    /// workers (none for 0 or 1).
    pub fn new(threads: usize) -> std::io::Result<Pool> {
        let shared = Arc::new(Shared::default());
        let workers = (1..threads.max(1))
            .map(|i| {
                let shared = Arc::clone(&shared);
                std::thread::Builder::new().name(format!("ptq-pool-{i}")).spawn(move || work(&shared))
            })
            .collect::<std::io::Result<Vec<_>>>()?;
        Ok(Pool { shared, workers, turn: Mutex::new(()) })
    }

    /// Participants in a job: the caller plus the workers.
    pub fn threads(&self) -> usize {
        self.workers.len() + 1
    }

    /// Runs `f` with `self` as this thread's current pool: kernels called
    /// with [`crate::Threads::Pool`] inside `f` split their work over it.
    pub fn install<R>(self: &Arc<Self>, f: impl FnOnce() -> R) -> R {
        struct Restore(Option<Arc<Pool>>);
        impl Drop for Restore {
            fn drop(&mut self) {
                CURRENT.with(|c| *c.borrow_mut() = self.0.take());
            }
        }
        let _restore = Restore(CURRENT.with(|c| c.borrow_mut().replace(Arc::clone(self))));
        f()
    }

    /// Calls `f(i)` for every `i` in `0..n`, spread over the caller and the
    /// workers; returns when all calls have returned. A panic in any call is
    /// re-raised here after the others finish. Called from inside a task, it
    /// runs every call on the calling thread.
    pub fn for_range(&self, n: usize, f: &(dyn Fn(usize) + Sync)) {
        self.run(n, &|claims: &Claims<'_>| {
            while let Some(i) = claims.next() {
                f(i);
            }
        });
    }

    /// Runs a job of `n` tasks: `body` is called once by the caller and once
    /// by every worker that joins, and each call claims task indices from its
    /// [`Claims`] until none is left. Panics as [`Pool::for_range`].
    pub fn run(&self, n: usize, body: &Body<'_>) {
        let next = AtomicUsize::new(0);
        if n <= 1 || self.workers.is_empty() || IN_TASK.with(Cell::get) {
            body(&Claims { next: &next, n });
            return;
        }
        let _turn = lock(&self.turn);
        let s = &*self.shared;
        // SAFETY: only the lifetime is erased. The reference is stored while
        // the job is closed with no worker inside (the previous job's caller
        // waited for that), workers copy it only after joining the open job,
        // and this function clears it after closing the job and waiting for
        // every joined worker to leave, so no use outlives the borrow.
        let erased: &'static Body<'static> = unsafe { std::mem::transmute::<&Body<'_>, &'static Body<'static>>(body) };
        *lock(&s.body) = Some(erased);
        s.next.store(0, Ordering::Relaxed);
        s.n.store(n, Ordering::Relaxed);
        let epoch = (s.state.load(Ordering::Relaxed) >> 32).wrapping_add(1) & 0xFFFF_FFFF;
        s.state.store(epoch << 32, Ordering::SeqCst);
        if s.parked.load(Ordering::SeqCst) > 0 {
            let _g = lock(&s.sleep);
            s.wake.notify_all();
        }
        IN_TASK.with(|t| t.set(true));
        let mine = catch_unwind(AssertUnwindSafe(|| body(&Claims { next: &s.next, n })));
        IN_TASK.with(|t| t.set(false));
        // No worker may join from here on; wait for those inside.
        s.state.fetch_or(CLOSED, Ordering::SeqCst);
        let mut spins = 0u32;
        while s.state.load(Ordering::Acquire) & JOINED != 0 {
            spins = spins.saturating_add(1);
            if spins < 1 << 12 { std::hint::spin_loop() } else { std::thread::yield_now() }
        }
        *lock(&s.body) = None;
        let theirs = lock(&s.panic).take();
        if let Err(p) = mine {
            resume_unwind(p);
        }
        if let Some(p) = theirs {
            resume_unwind(p);
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        let s = &*self.shared;
        s.shutdown.store(true, Ordering::SeqCst);
        {
            let _g = lock(&s.sleep);
            s.wake.notify_all();
        }
        for w in self.workers.drain(..) {
            // A worker catches task panics, so join fails only if the thread
            // itself was torn down; nothing is left to clean up then.
            let _ = w.join();
        }
    }
}

/// A worker's loop: wait for an open job, join it, take tasks, leave.
fn work(s: &Shared) {
    IN_TASK.with(|t| t.set(true));
    // Epoch 0 is the state before the first job: a worker that starts late
    // still joins the job that may already be open.
    let mut seen = 0;
    loop {
        let Some(state) = wait_for_job(s, seen) else { return };
        seen = state >> 32;
        if state & CLOSED != 0
            || s.state.compare_exchange(state, state + 1, Ordering::AcqRel, Ordering::Relaxed).is_err()
        {
            continue;
        }
        let body = *lock(&s.body);
        if let Some(body) = body {
            let n = s.n.load(Ordering::Relaxed);
            if let Err(p) = catch_unwind(AssertUnwindSafe(|| body(&Claims { next: &s.next, n }))) {
                lock(&s.panic).get_or_insert(p);
            }
        }
        s.state.fetch_sub(1, Ordering::Release);
    }
}

/// Spins for [`SPIN`], then parks, until the job epoch differs from `seen`;
/// returns the new state, or `None` on shutdown.
fn wait_for_job(s: &Shared, seen: u64) -> Option<u64> {
    let started = Instant::now();
    let mut spins = 0u32;
    loop {
        if s.shutdown.load(Ordering::Relaxed) {
            return None;
        }
        let state = s.state.load(Ordering::Acquire);
        if state >> 32 != seen {
            return Some(state);
        }
        spins = spins.wrapping_add(1);
        if !spins.is_multiple_of(256) || started.elapsed() < SPIN {
            std::hint::spin_loop();
            continue;
        }
        let mut g = lock(&s.sleep);
        s.parked.fetch_add(1, Ordering::SeqCst);
        while s.state.load(Ordering::SeqCst) >> 32 == seen && !s.shutdown.load(Ordering::SeqCst) {
            g = s.wake.wait(g).unwrap_or_else(PoisonError::into_inner);
        }
        s.parked.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_index_runs_once() {
        let pool = Pool::new(3).expect("pool");
        for n in [0, 1, 2, 7, 1000] {
            let hits: Vec<AtomicUsize> = (0..n).map(|_| AtomicUsize::new(0)).collect();
            pool.for_range(n, &|i| {
                hits[i].fetch_add(1, Ordering::Relaxed);
            });
            assert!(hits.iter().all(|h| h.load(Ordering::Relaxed) == 1), "n = {n}");
        }
    }

    #[test]
    fn workers_take_part_and_wake_after_parking() {
        let pool = Pool::new(2).expect("pool");
        for round in 0..3 {
            if round > 0 {
                std::thread::sleep(SPIN * 5);
            }
            let threads = Mutex::new(std::collections::HashSet::new());
            // Tasks block until two threads have arrived, so the worker must join.
            let arrived = AtomicUsize::new(0);
            pool.for_range(2, &|_| {
                lock(&threads).insert(std::thread::current().id());
                arrived.fetch_add(1, Ordering::SeqCst);
                let t = Instant::now();
                while arrived.load(Ordering::SeqCst) < 2 && t.elapsed() < Duration::from_secs(10) {
                    std::thread::yield_now();
                }
            });
            assert_eq!(lock(&threads).len(), 2, "round {round}");
        }
    }

    #[test]
    fn nested_jobs_run_inline() {
        let pool = Arc::new(Pool::new(2).expect("pool"));
        let total = AtomicUsize::new(0);
        pool.for_range(4, &|_| {
            assert!(matches!(current(), Current::InTask));
            pool.for_range(3, &|_| {
                total.fetch_add(1, Ordering::Relaxed);
            });
        });
        assert_eq!(total.load(Ordering::Relaxed), 12);
        assert!(matches!(current(), Current::Rayon));
        pool.install(|| assert!(matches!(current(), Current::Ours(_))));
        assert!(matches!(current(), Current::Rayon));
    }

    #[test]
    fn a_task_panic_reaches_the_caller_and_the_pool_survives() {
        let pool = Pool::new(2).expect("pool");
        let r = catch_unwind(AssertUnwindSafe(|| pool.for_range(64, &|i| assert!(i != 37, "task 37"))));
        assert!(r.is_err());
        let count = AtomicUsize::new(0);
        pool.for_range(10, &|_| {
            count.fetch_add(1, Ordering::Relaxed);
        });
        assert_eq!(count.load(Ordering::Relaxed), 10);
    }

    #[test]
    fn jobs_from_several_threads_take_turns() {
        let pool = Pool::new(2).expect("pool");
        let count = AtomicUsize::new(0);
        std::thread::scope(|sc| {
            for _ in 0..4 {
                sc.spawn(|| {
                    for _ in 0..50 {
                        pool.for_range(8, &|_| {
                            count.fetch_add(1, Ordering::Relaxed);
                        });
                    }
                });
            }
        });
        assert_eq!(count.load(Ordering::Relaxed), 4 * 50 * 8);
    }
}
