//! Per-thread scratch memory reused across kernel calls, so small layers do
//! not pay an allocation, a zero fill and fresh-page faults on every run.

use std::cell::RefCell;

thread_local! {
    static SCRATCH: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
    static SCRATCH_I32: RefCell<Vec<i32>> = const { RefCell::new(Vec::new()) };
}

/// Largest scratch (elements) kept between calls: 16 MiB.
const KEEP: usize = 1 << 22;

/// Calls `f` with a slice of `len` floats of unspecified contents (whatever
/// an earlier call left), from this thread's scratch buffer. Calls must not
/// nest on one thread; a nested call gets a fresh allocation instead.
pub(crate) fn with_scratch<R>(len: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    with(&SCRATCH, len, f)
}

/// [`with_scratch`] for i32 (the int8 kernels' accumulators).
pub(crate) fn with_scratch_i32<R>(len: usize, f: impl FnOnce(&mut [i32]) -> R) -> R {
    with(&SCRATCH_I32, len, f)
}

fn with<T: Copy + Default + 'static, R>(
    key: &'static std::thread::LocalKey<RefCell<Vec<T>>>,
    len: usize,
    f: impl FnOnce(&mut [T]) -> R,
) -> R {
    key.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buf) => {
            if buf.len() < len {
                buf.resize(len, T::default());
            }
            let r = f(&mut buf[..len]);
            if buf.len() > KEEP {
                *buf = Vec::new();
            }
            r
        }
        Err(_) => f(&mut vec![T::default(); len]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_calls_get_separate_memory() {
        with_scratch(4, |a| {
            a.fill(1.0);
            with_scratch(4, |b| {
                b.fill(2.0);
            });
            assert_eq!(a, &[1.0; 4]);
        });
        with_scratch(8, |a| assert_eq!(a.len(), 8));
    }
}
