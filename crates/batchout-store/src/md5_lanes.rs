//! The `Content-MD5`s of a file's next blocks, computed together in SIMD
//! lanes.
//!
//! One MD5 cannot be made much faster on a core: each 64-byte step needs the
//! result of the one before. Independent MD5s can share a core, one in each
//! lane of its vector registers ([`md5_many`]), and together they go several
//! times as fast as one at a time, the more so the more lanes there are
//! ([decision 0009](../../../../docs/decisions/0009-md5-in-lanes.md) has the
//! figures).
//!
//! So a large upload that sends `Content-MD5` reads its file twice
//! ([decision 0009](../../../../docs/decisions/0009-md5-in-lanes.md)):
//! [`Md5Lanes`] reads the next group of blocks, a slice of each at a time, at
//! their offsets (the file's position does not move), and hashes them
//! together. Then each block is read again, in order, to be sent. The second
//! read finds the bytes in the page cache, since a group spans at most
//! [`WINDOW_MAX`] bytes. Each block's CRC-64/NVME is taken in both reads and
//! compared by the caller, so a block whose bytes changed in between is refused
//! as a changed file, and never sent with the MD5 of other bytes.

use std::collections::VecDeque;
use std::fs::File;
use std::io;

use crc_fast::CrcAlgorithm::Crc64Nvme;
use md5_many::{Md5Many, Md5State};

/// The most bytes one group of blocks may span: how far the hashing may read
/// ahead of the sending, all of which must stay in the page cache until it is
/// read again.
pub(crate) const WINDOW_MAX: u64 = 256 * 1024 * 1024;

/// The fewest blocks worth hashing together. Four lanes (SSE, NEON) gained
/// too little over one MD5 to pay for reading every byte twice (decision
/// 0009, `docs/decisions/0009-md5-in-lanes.md`, has the figures).
const MIN_LANES: usize = 8;

/// How much of each block is read before the group's lanes are fed: the
/// group's slices (16 × 64 KiB) stay in a core's cache until they are hashed.
const LANE_SLICE: u64 = 64 * 1024;

/// The checksums of one block, from the read that hashed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BlockSums {
    /// Where the block starts in the file.
    pub(crate) offset: u64,
    /// Its length.
    pub(crate) len: u64,
    /// Its MD5.
    pub(crate) md5: [u8; 16],
    /// Its CRC-64/NVME, for the caller to compare with that of the bytes it
    /// reads again.
    pub(crate) crc64nvme: u64,
}

/// Hashes a file's blocks a group at a time, ahead of their sending.
pub(crate) struct Md5Lanes {
    engine: Md5Many,
    group: usize,
    block_size: u64,
    file_len: u64,
    ready: VecDeque<BlockSums>,
    buffer: Vec<u8>,
}

impl Md5Lanes {
    /// Lanes for a file of `file_len` bytes sent in blocks of `block_size`;
    /// `None` where hashing in lanes does not pay: this processor has fewer
    /// than [`MIN_LANES`] lanes, blocks are too large for that many to fit in
    /// [`WINDOW_MAX`], or the file has fewer blocks than that.
    pub(crate) fn for_file(block_size: u64, file_len: u64) -> Option<Self> {
        if !cfg!(unix) || block_size == 0 {
            return None;
        }
        let engine = Md5Many::new();
        let fit = usize::try_from(WINDOW_MAX / block_size).unwrap_or(usize::MAX);
        let group = engine.lanes().min(fit);
        let blocks = usize::try_from(file_len.div_ceil(block_size)).unwrap_or(usize::MAX);
        (group >= MIN_LANES && blocks >= MIN_LANES)
            .then(|| Self::with_group(engine, group, block_size, file_len))
    }

    /// Lanes hashing `group` blocks at a time, whatever the processor.
    pub(crate) fn with_group(
        engine: Md5Many,
        group: usize,
        block_size: u64,
        file_len: u64,
    ) -> Self {
        let slice = usize::try_from(LANE_SLICE.min(block_size)).unwrap_or(0);
        Self {
            engine,
            group: group.max(1),
            block_size,
            file_len,
            ready: VecDeque::with_capacity(group),
            buffer: vec![0; slice * group.max(1)],
        }
    }

    /// The checksums of the next block in order, the one at `offset`: hashed
    /// already with the group it belongs to, or with the group that starts
    /// there, read and hashed now.
    ///
    /// # Errors
    ///
    /// A read that fails, or finds the file shorter than `file_len`
    /// ([`io::ErrorKind::UnexpectedEof`]).
    pub(crate) fn next(&mut self, file: &File, offset: u64) -> io::Result<BlockSums> {
        if self.ready.front().is_none_or(|sums| sums.offset != offset) {
            self.ready.clear();
            self.hash_group(file, offset)?;
        }
        self.ready
            .pop_front()
            .ok_or_else(|| io::Error::other(format!("no block starts at byte {offset}")))
    }

    /// Reads and hashes the blocks of the group that starts at `offset`.
    fn hash_group(&mut self, file: &File, offset: u64) -> io::Result<()> {
        let blocks: Vec<(u64, u64)> = (0..self.group as u64)
            .map(|index| offset + index * self.block_size)
            .take_while(|start| *start < self.file_len)
            .map(|start| (start, self.block_size.min(self.file_len - start)))
            .collect();
        let mut md5s = vec![Md5State::new(); blocks.len()];
        let mut crcs: Vec<crc_fast::Digest> = blocks
            .iter()
            .map(|_| crc_fast::Digest::new(Crc64Nvme))
            .collect();
        let longest = blocks.iter().map(|(_, len)| *len).max().unwrap_or(0);
        let slice = self.buffer.len() / self.group;
        let mut done = 0;
        while done < longest {
            let mut slices: Vec<&[u8]> = Vec::with_capacity(blocks.len());
            for ((start, len), room) in blocks.iter().zip(self.buffer.chunks_mut(slice)) {
                let take =
                    usize::try_from(len.saturating_sub(done)).map_or(slice, |left| left.min(slice));
                read_exact_at(file, &mut room[..take], start + done)?;
                slices.push(&room[..take]);
            }
            for (crc, bytes) in crcs.iter_mut().zip(&slices) {
                crc.update(bytes);
            }
            self.engine.update_many(&mut md5s, &slices);
            done += slice as u64;
        }
        let mut digests = vec![[0; 16]; blocks.len()];
        self.engine.finalize_many(&md5s, &mut digests);
        for (((offset, len), md5), crc) in blocks.into_iter().zip(digests).zip(crcs) {
            self.ready.push_back(BlockSums {
                offset,
                len,
                md5,
                crc64nvme: crc.finalize(),
            });
        }
        Ok(())
    }
}

/// Fills `buffer` from the file at `offset`, without moving its position.
#[cfg(unix)]
fn read_exact_at(file: &File, buffer: &mut [u8], offset: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buffer, offset)
}

/// Elsewhere, positional reads move the file's position: never used there
/// ([`Md5Lanes::for_file`] gives no lanes).
#[cfg(not(unix))]
fn read_exact_at(_file: &File, _buffer: &mut [u8], _offset: u64) -> io::Result<()> {
    Err(io::Error::from(io::ErrorKind::Unsupported))
}

#[cfg(test)]
mod tests {
    use super::*;
    use md5::Digest;

    fn file_of(data: &[u8]) -> (tempfile::TempDir, File) {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("f.bin");
        std::fs::write(&path, data).expect("write");
        let file = File::open(&path).expect("open");
        (dir, file)
    }

    fn data(len: u64, seed: u8) -> Vec<u8> {
        (0..len)
            .map(|i| ((i.wrapping_mul(2_654_435_761) >> 13) as u8) ^ seed)
            .collect()
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(32))]

        /// Whatever the file, block and group sizes, every block's sums are
        /// those of its bytes, as the `md-5` crate and a one-go CRC compute
        /// them, and the file's position is where it was.
        #[test]
        fn each_block_has_the_sums_of_its_bytes(
            len in 1..(3 * LANE_SLICE + 777),
            block_size in 1..(LANE_SLICE + 100),
            group in 1..18_usize,
            seed in proptest::num::u8::ANY,
        ) {
            let data = data(len, seed);
            let (_dir, file) = file_of(&data);
            let mut lanes = Md5Lanes::with_group(Md5Many::new(), group, block_size, len);
            let mut offset = 0;
            while offset < len {
                let sums = lanes.next(&file, offset).expect("hashed");
                let body = &data[offset as usize..(offset + sums.len) as usize];
                proptest::prop_assert_eq!(sums.offset, offset);
                proptest::prop_assert_eq!(sums.len, block_size.min(len - offset));
                proptest::prop_assert_eq!(&sums.md5[..], &md5::Md5::digest(body)[..]);
                proptest::prop_assert_eq!(
                    sums.crc64nvme,
                    crc_fast::checksum(Crc64Nvme, body)
                );
                offset += sums.len;
            }
            let position = std::io::Seek::stream_position(&mut &file).expect("position");
            proptest::prop_assert_eq!(position, 0);
        }
    }

    #[test]
    fn a_block_asked_for_out_of_order_is_hashed_again_from_there() {
        let data = data(10_000, 7);
        let (_dir, file) = file_of(&data);
        let mut lanes = Md5Lanes::with_group(Md5Many::new(), 4, 1000, 10_000);
        lanes.next(&file, 0).expect("first");
        let sums = lanes.next(&file, 5000).expect("another");
        assert_eq!(sums.offset, 5000);
        assert_eq!(&sums.md5[..], &md5::Md5::digest(&data[5000..6000])[..]);
    }

    #[test]
    fn a_file_shorter_than_announced_fails_to_hash() {
        let (_dir, file) = file_of(&data(1000, 1));
        let mut lanes = Md5Lanes::with_group(Md5Many::new(), 8, 300, 2000);
        let err = lanes.next(&file, 0).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }

    #[test]
    fn lanes_are_used_only_where_they_pay() {
        let mib = 1024 * 1024;
        // Too few blocks, or blocks too large to hash enough of them together.
        assert!(Md5Lanes::for_file(8 * mib, 7 * 8 * mib).is_none());
        assert!(Md5Lanes::for_file(WINDOW_MAX / 4, 64 * WINDOW_MAX).is_none());
        assert!(Md5Lanes::for_file(0, mib).is_none());
        // Enough blocks, on a processor with at least eight lanes.
        let wide = Md5Many::new().lanes() >= MIN_LANES;
        let lanes = Md5Lanes::for_file(8 * mib, 1024 * mib);
        assert_eq!(lanes.is_some(), wide && cfg!(unix));
        if let Some(lanes) = lanes {
            assert!(lanes.group as u64 * 8 * mib <= WINDOW_MAX);
        }
    }
}
