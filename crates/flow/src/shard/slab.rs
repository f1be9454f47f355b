//! Where a shard's flows live: cells in chunks that never move.

use super::Cell;

/// Cells in chunks of 64, 128, … up to 4,096 cells, then 4,096 each: growing never moves a
/// cell, a small table stays small, and a large one wastes at most one partly filled chunk.
#[derive(Default)]
pub(super) struct Slab {
    chunks: Vec<Box<[Cell]>>,
    len: u32,
}

/// log2 of the first chunk's size.
const FIRST_CHUNK_BITS: u32 = 6;
/// log2 of the largest chunk's size.
const LAST_CHUNK_BITS: u32 = 12;
/// Cells in the growing chunks (64 + 128 + … + 4,096).
const GROWING_CELLS: u32 = (1 << (LAST_CHUNK_BITS + 1)) - (1 << FIRST_CHUNK_BITS);

impl Slab {
    /// (chunk, offset) of cell `i`.
    #[inline]
    fn locate(i: u32) -> (usize, usize) {
        if i < GROWING_CELLS {
            // Chunk k holds cells [64·(2^k − 1), 64·(2^(k+1) − 1)).
            let c = i as u64 + (1 << FIRST_CHUNK_BITS);
            let k = 63 - c.leading_zeros() - FIRST_CHUNK_BITS;
            (k as usize, (c - (1u64 << (k + FIRST_CHUNK_BITS))) as usize)
        } else {
            let j = i - GROWING_CELLS;
            let growing = (LAST_CHUNK_BITS - FIRST_CHUNK_BITS + 1) as usize;
            (
                growing + (j >> LAST_CHUNK_BITS) as usize,
                (j & ((1 << LAST_CHUNK_BITS) - 1)) as usize,
            )
        }
    }

    fn chunk_size(k: usize) -> usize {
        1usize << (k as u32 + FIRST_CHUNK_BITS).min(LAST_CHUNK_BITS)
    }

    pub(super) fn push(&mut self, cell: Cell) {
        let i = self.len;
        let (k, _) = Self::locate(i);
        if k == self.chunks.len() {
            self.chunks
                .push((0..Self::chunk_size(k)).map(|_| Cell::default()).collect());
        }
        self.len += 1;
        self[i] = cell;
    }

    pub(super) fn len(&self) -> u32 {
        self.len
    }
}

impl std::ops::Index<u32> for Slab {
    type Output = Cell;
    #[inline]
    fn index(&self, i: u32) -> &Cell {
        let (k, o) = Self::locate(i);
        &self.chunks[k][o]
    }
}

impl std::ops::IndexMut<u32> for Slab {
    #[inline]
    fn index_mut(&mut self, i: u32) -> &mut Cell {
        let (k, o) = Self::locate(i);
        &mut self.chunks[k][o]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slab_chunks_double_and_every_cell_has_one_place() {
        assert_eq!(Slab::locate(0), (0, 0));
        assert_eq!(Slab::locate(63), (0, 63));
        assert_eq!(Slab::locate(64), (1, 0));
        assert_eq!(Slab::locate(191), (1, 127));
        assert_eq!(Slab::locate(192), (2, 0));
        assert_eq!(Slab::locate(GROWING_CELLS - 1), (6, 4095));
        assert_eq!(Slab::locate(GROWING_CELLS), (7, 0));
        assert_eq!(Slab::locate(GROWING_CELLS + 4096), (8, 0));
        let mut seen = std::collections::HashSet::new();
        for i in 0..100_000 {
            let (k, o) = Slab::locate(i);
            assert!(o < Slab::chunk_size(k));
            assert!(seen.insert((k, o)));
        }
    }
}
