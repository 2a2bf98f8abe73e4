//! Output buffers the kernels fill without zeroing them first.
//!
//! A kernel that writes every element of its output can take the output as
//! `&mut [MaybeUninit<T>]`; then a caller that wants a fresh `Vec` need not
//! initialise it (a `vec![0; n]` costs a full pass over the memory, a few
//! percent of a transformer's int8 run). The public API stays safe: only
//! functions of this crate that have written every element set a `Vec`'s
//! length.

use std::mem::MaybeUninit;

/// Views an initialised slice as possibly-uninitialised, for a kernel that
/// takes its output as `&mut [MaybeUninit<T>]`.
///
/// # Safety
///
/// The caller must write only initialised values through the result (as
/// `MaybeUninit::write` does), never `MaybeUninit::uninit()`: the slice must
/// still be initialised when the borrow ends.
pub(crate) unsafe fn as_uninit<T>(s: &mut [T]) -> &mut [MaybeUninit<T>] {
    // SAFETY: `MaybeUninit<T>` has the size, alignment and ABI of `T`; the
    // caller keeps every element initialised (see above).
    unsafe { &mut *(s as *mut [T] as *mut [MaybeUninit<T>]) }
}

/// Appends `len` elements to `out`, written by `fill`, which must write
/// every element of the slice it is given (the kernels of this crate that
/// call this do: see each call).
///
/// # Safety
///
/// `fill` must initialise all `len` elements of its argument.
pub(crate) unsafe fn extend_with<T>(out: &mut Vec<T>, len: usize, fill: impl FnOnce(&mut [MaybeUninit<T>])) {
    out.reserve(len);
    let start = out.len();
    fill(&mut out.spare_capacity_mut()[..len]);
    // SAFETY: the caller guarantees `fill` initialised `start..start + len`,
    // and `reserve` made room for them.
    unsafe { out.set_len(start + len) };
}
