//! Splitting kernel work into independent tasks.

use crate::Threads;
use crate::parallel::width;

/// How to spend `threads` on `tasks` independent tasks that each call a GEMM:
/// (threads across tasks, threads inside each task's GEMM). Tasks go in
/// parallel when there are at least as many as pool participants; otherwise
/// they run in turn and each GEMM may split itself.
pub(crate) fn split(tasks: usize, threads: Threads) -> (Threads, Threads) {
    match threads {
        Threads::Single => (Threads::Single, Threads::Single),
        Threads::Pool if tasks >= width(threads) => (Threads::Pool, Threads::Single),
        Threads::Pool => (Threads::Single, Threads::Pool),
    }
}

pub(crate) use crate::parallel::for_each;

/// Columns `p0 .. p0 + width` of every row of one row-major block of an
/// output, as disjoint mutable row pieces (each `width` long).
#[derive(Debug)]
pub(crate) struct Tile<'a> {
    /// Index of the block in the output.
    pub block: usize,
    /// First column of the tile.
    pub p0: usize,
    /// Number of columns.
    pub width: usize,
    /// One piece per row of the block, in row order.
    pub rows: Vec<&'a mut [f32]>,
}

/// Splits `y`, a sequence of row-major blocks of `rows`×`cols`, into tiles of
/// at most `tile` columns each. `y.len()` must be a multiple of `rows·cols`
/// and all three must be non-zero.
pub(crate) fn tiles(y: &mut [f32], rows: usize, cols: usize, tile: usize) -> Vec<Tile<'_>> {
    assert!(rows > 0 && cols > 0 && tile > 0 && y.len().is_multiple_of(rows * cols));
    let per_block = cols.div_ceil(tile);
    let mut out = Vec::with_capacity(y.len() / (rows * cols) * per_block);
    for (block, y_block) in y.chunks_mut(rows * cols).enumerate() {
        let first = out.len();
        for t in 0..per_block {
            let p0 = t * tile;
            out.push(Tile { block, p0, width: tile.min(cols - p0), rows: Vec::with_capacity(rows) });
        }
        for row in y_block.chunks_mut(cols) {
            for (t, piece) in row.chunks_mut(tile).enumerate() {
                out[first + t].rows.push(piece);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiles_cover_every_element_once() {
        let mut y = vec![0.0f32; 2 * 3 * 7];
        let tiles = tiles(&mut y, 3, 7, 3);
        assert_eq!(tiles.len(), 2 * 3);
        for t in tiles {
            assert_eq!(t.rows.len(), 3);
            for (r, piece) in t.rows.into_iter().enumerate() {
                assert_eq!(piece.len(), t.width);
                for (j, v) in piece.iter_mut().enumerate() {
                    *v += (t.block * 100 + r * 10 + t.p0 + j) as f32;
                }
            }
        }
        let want: Vec<f32> =
            (0..2).flat_map(|b| (0..3).flat_map(move |r| (0..7).map(move |p| (b * 100 + r * 10 + p) as f32))).collect();
        assert_eq!(y, want);
    }
}
