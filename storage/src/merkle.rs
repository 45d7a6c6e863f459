//! 0G Storage's file Merkle tree, byte-identical to 0G's SDKs and storage node.
//!
//! - A file is cut into 256-byte chunks (sectors); the last one is zero-filled.
//! - The chunk count is padded up to a multiple of `nextPow2(chunks) / 16` with zero
//!   chunks ([`padded_chunks`]), so that the file splits into at most four power-of-two
//!   subtrees ([`split_nodes`]): the submission's nodes.
//! - Leaf = `keccak256(chunk)`; node = `keccak256(left ‖ right)`; a lone last node of a
//!   level is promoted unchanged (neither duplicated nor paired with zero).
//! - The file tree's leaves are the roots of its 256 KiB segments (1024 chunks) of the
//!   padded stream; its root equals the promote-tree over all chunks, and the right fold
//!   of the submission nodes.
//! - A proof is `lemma = [leaf, siblings bottom-up…, root]` and `path[j] = true` when the
//!   node is the left child at level `j`; promoted levels add no entry; a one-leaf tree
//!   has `lemma = [root]`, `path = []`.

use std::sync::OnceLock;

use alloy_primitives::{B256, keccak256};
use serde::{Deserialize, Serialize};

/// Bytes per chunk (sector, flow entry).
pub const CHUNK_SIZE: usize = 256;
/// Chunks per segment.
pub const SEGMENT_CHUNKS: usize = 1024;
/// Bytes per segment (256 KiB).
pub const SEGMENT_SIZE: usize = CHUNK_SIZE * SEGMENT_CHUNKS;
/// log2 of [`SEGMENT_CHUNKS`].
pub const SEGMENT_HEIGHT: u32 = 10;

/// `keccak256(left ‖ right)`.
pub fn hash_pair(left: &B256, right: &B256) -> B256 {
    let mut buf = [0u8; 64];
    buf[..32].copy_from_slice(left.as_slice());
    buf[32..].copy_from_slice(right.as_slice());
    keccak256(buf)
}

/// Root of `2^height` zero chunks (0G's `FlowTreeLib.zeros`), `height < 64`.
pub fn zero_root(height: u32) -> B256 {
    static ZEROS: OnceLock<Vec<B256>> = OnceLock::new();
    ZEROS.get_or_init(|| {
        let mut z = vec![keccak256([0u8; CHUNK_SIZE])];
        for h in 1..64 {
            let prev = z[h - 1];
            z.push(hash_pair(&prev, &prev));
        }
        z
    })[height as usize]
}

/// `ceil(total / unit)`.
pub fn num_splits(total: u64, unit: u64) -> u64 {
    total.div_ceil(unit)
}

/// Chunks of a file of `size` bytes.
pub fn num_chunks(size: u64) -> u64 {
    num_splits(size, CHUNK_SIZE as u64)
}

/// Segments of a file of `size` bytes (what is uploaded and downloaded).
pub fn num_segments(size: u64) -> u64 {
    num_splits(size, SEGMENT_SIZE as u64)
}

/// The padded chunk count of a file of `chunks` chunks and `nextPow2(chunks)`.
pub fn padded_chunks(chunks: u64) -> (u64, u64) {
    let np2 = chunks.next_power_of_two();
    if np2 == chunks {
        return (np2, np2);
    }
    let min = if np2 >= 16 { np2 / 16 } else { 1 };
    (num_splits(chunks, min) * min, np2)
}

/// Sizes (in chunks, descending powers of two) of the subtrees a file of `chunks` chunks
/// is submitted as.
pub fn split_nodes(chunks: u64) -> Vec<u64> {
    let (mut padded, mut next) = padded_chunks(chunks);
    let mut out = Vec::new();
    while padded > 0 {
        if padded >= next {
            padded -= next;
            out.push(next);
        }
        next /= 2;
    }
    out
}

/// Root of the promote-tree over `leaves` (`None` when empty).
pub fn promote_root(leaves: &[B256]) -> Option<B256> {
    let mut level: Vec<B256> = leaves.to_vec();
    if level.is_empty() {
        return None;
    }
    while level.len() > 1 {
        level = next_level(&level);
    }
    Some(level[0])
}

fn next_level(level: &[B256]) -> Vec<B256> {
    level
        .chunks(2)
        .map(|p| {
            if p.len() == 2 {
                hash_pair(&p[0], &p[1])
            } else {
                p[0]
            }
        })
        .collect()
}

/// Root of a run of chunks: `data` (a multiple of 256 bytes, or zero-filled to one) plus
/// `zero_chunks` zero chunks after it.
pub fn chunks_root(data: &[u8], zero_chunks: usize) -> Option<B256> {
    let mut leaves: Vec<B256> = data
        .chunks(CHUNK_SIZE)
        .map(|c| {
            if c.len() == CHUNK_SIZE {
                keccak256(c)
            } else {
                let mut full = [0u8; CHUNK_SIZE];
                full[..c.len()].copy_from_slice(c);
                keccak256(full)
            }
        })
        .collect();
    leaves.extend(std::iter::repeat_n(zero_root(0), zero_chunks));
    promote_root(&leaves)
}

/// A Merkle proof in 0G's JSON shape.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileProof {
    /// `[leaf, siblings bottom-up…, root]`, or `[root]` for a one-leaf tree.
    pub lemma: Vec<B256>,
    /// Per level from the bottom: `true` when the node is the left child.
    pub path: Vec<bool>,
}

/// Why a proof does not prove.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// Lemma and path lengths disagree.
    #[error("malformed proof: {lemma} lemma entries for {path} path entries")]
    Malformed {
        /// Lemma entries.
        lemma: usize,
        /// Path entries.
        path: usize,
    },
    /// The proof is for another position.
    #[error("proof is for leaf {actual}, not {expected}")]
    WrongPosition {
        /// The position asked for.
        expected: u64,
        /// The position the path leads to (`u64::MAX` if none).
        actual: u64,
    },
    /// The proof's leaf is not the given data's.
    #[error("proof leaf does not match the data")]
    WrongLeaf,
    /// The proof does not lead to the root.
    #[error("proof does not lead to the root")]
    WrongRoot,
}

impl FileProof {
    /// The leaf position `path` leads to in a promote-tree of `leaves` leaves.
    pub fn position(&self, leaves: u64) -> Option<u64> {
        let mut left = leaves;
        let mut pos = 0u64;
        for &is_left in self.path.iter().rev() {
            if left <= 1 {
                return None;
            }
            // Beyond 2^63 leaves no tree exists (and the power of two would overflow).
            let sub = left.checked_next_power_of_two()? / 2;
            if is_left {
                left = sub;
            } else {
                pos += sub;
                left -= sub;
            }
        }
        (left == 1).then_some(pos)
    }

    /// Checks that `leaf` is leaf `index` of the `leaves`-leaf tree with root `root`.
    pub fn verify(
        &self,
        leaf: &B256,
        root: &B256,
        index: u64,
        leaves: u64,
    ) -> Result<(), ProofError> {
        let malformed = ProofError::Malformed {
            lemma: self.lemma.len(),
            path: self.path.len(),
        };
        let single = self.lemma.len() == 1 && self.path.is_empty();
        if !single && self.lemma.len() != self.path.len() + 2 {
            return Err(malformed);
        }
        match self.position(leaves) {
            Some(p) if p == index => {}
            other => {
                return Err(ProofError::WrongPosition {
                    expected: index,
                    actual: other.unwrap_or(u64::MAX),
                });
            }
        }
        if self.lemma[0] != *leaf {
            return Err(ProofError::WrongLeaf);
        }
        let mut h = self.lemma[0];
        for (i, &is_left) in self.path.iter().enumerate() {
            let sib = &self.lemma[i + 1];
            h = if is_left {
                hash_pair(&h, sib)
            } else {
                hash_pair(sib, &h)
            };
        }
        if h != *root || self.lemma[self.lemma.len() - 1] != *root {
            return Err(ProofError::WrongRoot);
        }
        Ok(())
    }
}

/// A promote-tree with every level kept, for proofs.
#[derive(Clone, Debug)]
pub struct Tree {
    levels: Vec<Vec<B256>>,
}

impl Tree {
    /// The tree over `leaves` (at least one).
    pub fn new(leaves: Vec<B256>) -> Option<Self> {
        if leaves.is_empty() {
            return None;
        }
        let mut levels = vec![leaves];
        while levels[levels.len() - 1].len() > 1 {
            let next = next_level(&levels[levels.len() - 1]);
            levels.push(next);
        }
        Some(Self { levels })
    }

    /// The root.
    pub fn root(&self) -> B256 {
        self.levels[self.levels.len() - 1][0]
    }

    /// Number of leaves.
    pub fn leaves(&self) -> u64 {
        self.levels[0].len() as u64
    }

    /// Leaf `i`.
    pub fn leaf(&self, i: usize) -> Option<B256> {
        self.levels[0].get(i).copied()
    }

    /// The proof of leaf `i`.
    pub fn proof(&self, i: usize) -> Option<FileProof> {
        let leaf = self.leaf(i)?;
        if self.levels.len() == 1 {
            return Some(FileProof {
                lemma: vec![leaf],
                path: vec![],
            });
        }
        let mut lemma = vec![leaf];
        let mut path = Vec::new();
        let mut idx = i;
        for level in &self.levels[..self.levels.len() - 1] {
            if idx % 2 == 1 {
                lemma.push(level[idx - 1]);
                path.push(false);
            } else if idx + 1 < level.len() {
                lemma.push(level[idx + 1]);
                path.push(true);
            }
            idx /= 2;
        }
        lemma.push(self.root());
        Some(FileProof { lemma, path })
    }
}

/// The geometry of a file of `size` bytes: what 0G's SDK uploads and its node checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileLayout {
    /// File size in bytes (≥ 1).
    pub size: u64,
}

impl FileLayout {
    /// Layout of a file of `size` bytes (`None` for an empty file, which 0G refuses).
    pub fn new(size: u64) -> Option<Self> {
        (size > 0).then_some(Self { size })
    }

    /// Chunks of the file.
    pub fn chunks(&self) -> u64 {
        num_chunks(self.size)
    }

    /// Segments of the file (uploaded, downloaded).
    pub fn segments(&self) -> u64 {
        num_segments(self.size)
    }

    /// Chunks with the flow padding.
    pub fn padded_chunks(&self) -> u64 {
        padded_chunks(self.chunks()).0
    }

    /// Leaves of the file tree (segments of the padded stream; may exceed
    /// [`FileLayout::segments`] by pure-padding segments).
    pub fn proof_leaves(&self) -> u64 {
        num_splits(self.padded_chunks(), SEGMENT_CHUNKS as u64)
    }

    /// Bytes of segment `i` as uploaded: whole chunks, the last one zero-filled.
    pub fn segment_len(&self, i: u64) -> usize {
        let first = i * SEGMENT_CHUNKS as u64;
        let chunks = (self.chunks() - first).min(SEGMENT_CHUNKS as u64);
        chunks as usize * CHUNK_SIZE
    }

    /// Chunks of padded-stream segment `i` (what its tree leaf covers).
    pub fn padded_segment_chunks(&self, i: u64) -> usize {
        let first = i * SEGMENT_CHUNKS as u64;
        (self.padded_chunks() - first).min(SEGMENT_CHUNKS as u64) as usize
    }

    /// The file tree's leaf for segment `i` given its uploaded bytes.
    pub fn segment_root(&self, i: u64, data: &[u8]) -> B256 {
        let zeros = self.padded_segment_chunks(i) - data.len().div_ceil(CHUNK_SIZE);
        chunks_root(data, zeros).unwrap_or_else(|| zero_root(0))
    }
}

/// The Merkle data of a whole file: its tree over segment roots and its submission nodes.
#[derive(Clone, Debug)]
pub struct FileMerkle {
    /// The layout.
    pub layout: FileLayout,
    /// The tree over the padded stream's segment roots.
    pub tree: Tree,
    /// Submission nodes: `(height, root)`, heights strictly decreasing.
    pub nodes: Vec<(u32, B256)>,
}

impl FileMerkle {
    /// Computes the Merkle data of `data` (`None` when empty). Segments are hashed in
    /// parallel.
    pub fn new(data: &[u8]) -> Option<Self> {
        use rayon::prelude::*;
        let layout = FileLayout::new(data.len() as u64)?;
        let leaves: Vec<B256> = (0..layout.proof_leaves())
            .into_par_iter()
            .map(|i| layout.segment_root(i, segment_slice(data, i)))
            .collect();
        let tree = Tree::new(leaves)?;
        // Each node covers 2^h chunks of the padded stream from `offset`.
        let mut nodes = Vec::new();
        let mut offset = 0u64;
        for chunks in split_nodes(layout.chunks()) {
            let h = chunks.trailing_zeros();
            let root = if h >= SEGMENT_HEIGHT {
                let first = (offset / SEGMENT_CHUNKS as u64) as usize;
                let n = (chunks / SEGMENT_CHUNKS as u64) as usize;
                promote_root(&tree.levels[0][first..first + n]).unwrap_or_default()
            } else {
                let start = (offset as usize * CHUNK_SIZE).min(data.len());
                let end = ((offset + chunks) as usize * CHUNK_SIZE).min(data.len());
                let present = (end - start).div_ceil(CHUNK_SIZE);
                chunks_root(&data[start..end], chunks as usize - present).unwrap_or_default()
            };
            nodes.push((h, root));
            offset += chunks;
        }
        Some(Self {
            layout,
            tree,
            nodes,
        })
    }

    /// The file's root (`dataMerkleRoot`).
    pub fn root(&self) -> B256 {
        self.tree.root()
    }
}

/// The bytes of segment `i` of `data` (the last one short, not zero-filled).
pub fn segment_slice(data: &[u8], i: u64) -> &[u8] {
    let start = (i as usize).saturating_mul(SEGMENT_SIZE).min(data.len());
    let end = start.saturating_add(SEGMENT_SIZE).min(data.len());
    &data[start..end]
}

/// Segment `i` as uploaded: whole chunks, the last chunk zero-filled.
pub fn segment_upload_data(data: &[u8], i: u64) -> Vec<u8> {
    let s = segment_slice(data, i);
    let mut v = s.to_vec();
    v.resize(s.len().div_ceil(CHUNK_SIZE) * CHUNK_SIZE, 0);
    v
}

/// The file root from submission nodes: their right fold (how 0G's node derives
/// `dataMerkleRoot` from a `Submit` event).
pub fn nodes_root(roots: &[B256]) -> Option<B256> {
    let (last, rest) = roots.split_last()?;
    Some(rest.iter().rev().fold(*last, |acc, r| hash_pair(r, &acc)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::b256;

    fn pattern(size: usize) -> Vec<u8> {
        (0..size).map(|i| (i % 251) as u8).collect()
    }

    #[test]
    fn generic_tree_matches_0g_vectors() {
        // 0G's own tree tests: leaf i = keccak256("chunk data - i").
        let leaves = |n: usize| -> Vec<B256> {
            (0..n)
                .map(|i| keccak256(format!("chunk data - {i}")))
                .collect()
        };
        let cases = [
            (
                1,
                b256!("0xfd010dc429a38ec352b5216af43670d5c87788775f959fd7add4c7d2b277c039"),
            ),
            (
                2,
                b256!("0xe733f492cef3dbbf28ba4584ca5a35d3e87604a6ad16ff9f10970af2c467b056"),
            ),
            (
                3,
                b256!("0x6f5d8d4ca0790ea245a280ece40fb7493d5f957b8d42931e3326ba3fd0c86e41"),
            ),
            (
                4,
                b256!("0x2418ddec22d6fb98525835c9876a95db78491cc3430df47a9ed4b2a337c5452c"),
            ),
            (
                5,
                b256!("0x2dea03c693750777940bcd0cc3f5d93543c075fa3b9a07b9fd86ec8fbaf6a8b2"),
            ),
            (
                6,
                b256!("0x318c92000aefba6ebf570a8a6daa57aa643f04350ffbe583999ddd9e24ceb147"),
            ),
            (
                7,
                b256!("0xca80116fb7fb8d6ef4a47e322f22e94ae8beb03e6fcbf8ab59c4d6f54fe42c4d"),
            ),
            (
                35,
                b256!("0x209c511bf4349096c4951cb825bebbf219de745c2b36261bed8c64a105982912"),
            ),
            (
                36,
                b256!("0xc8855b6bfb57c37673397678dd3199fbbe6cd3b0b4cda2800cfab298d271ae2a"),
            ),
        ];
        for (n, want) in cases {
            let l = leaves(n);
            assert_eq!(promote_root(&l), Some(want), "n = {n}");
            let tree = Tree::new(l.clone()).unwrap();
            assert_eq!(tree.root(), want);
            for i in 0..n {
                let p = tree.proof(i).unwrap();
                p.verify(&l[i], &want, i as u64, n as u64).unwrap();
                if n > 1 {
                    let other = (i + 1) % n;
                    assert!(p.verify(&l[i], &want, other as u64, n as u64).is_err());
                    assert_eq!(
                        p.verify(&l[other], &want, i as u64, n as u64),
                        Err(ProofError::WrongLeaf)
                    );
                }
            }
        }
    }

    #[test]
    fn zero_roots_match_flow_tree_lib() {
        assert_eq!(
            zero_root(0),
            b256!("0xd397b3b043d87fcd6fad1291ff0bfd16401c274896d8c63a923727f077b8e0b5")
        );
        assert_eq!(
            zero_root(10),
            b256!("0xe68d02859bb6211cec64f52368b77d422de3b8eac34bf615942b814b643301b5")
        );
        assert_eq!(
            zero_root(14),
            b256!("0x19b3b3886526917eae8650223d0be20a0301be960eb339696e673ad8a804440f")
        );
        // 0G node's test: N zero chunks
        assert_eq!(
            FileMerkle::new(&[0u8; 1536]).unwrap().root(),
            b256!("0x567c47a879794dd489a210dec17d31cc5919bc427d138d716a8107e025e2dbcb")
        );
        assert_eq!(
            FileMerkle::new(&[0u8; 1792]).unwrap().root(),
            b256!("0x294253ab31cbf90dbbbef755a75ff1601da790e35c365f530e7c1a1ca904dcf8")
        );
    }

    #[test]
    fn file_roots_match_the_0g_sdk() {
        // Roots and submission nodes computed by @0glabs/0g-ts-sdk 0.3.3 for files whose
        // byte i is i % 251.
        let cases: &[(usize, &str, &[u32])] = &[
            (
                255,
                "0x037a0c9cbd377fa4d88832b1adb2de77b7a2939815debfc83137ecf1b89bf984",
                &[0],
            ),
            (
                256,
                "0xe2a94a8afb5941b26a9be1be979c403e33559570b52961b48b3f7d36237fecc8",
                &[0],
            ),
            (
                257,
                "0x24b74d6cdc150cad90a1ba71ff747a7e0d377f676fc78dbcc9218d22dafa503b",
                &[1],
            ),
            (
                768,
                "0x6d7c4fcd7671d38afa95e3f95ba75ab82fb2df459f753885f0154e7627e67391",
                &[1, 0],
            ),
            (
                1000,
                "0x956cc56baf1a3c8904b6dbd16868ad086f52bba0cabb859fad91e8370508f671",
                &[2],
            ),
            (
                3072,
                "0x988849f4a3053d704f9aa43e1ffac1cc875905f0846011aadc28a8a0d80d9fa7",
                &[3, 2],
            ),
            (
                65536,
                "0xa2048a480e321cc6536682bffdb3257f226d850ff366c95efa634137e5984bfd",
                &[8],
            ),
            (
                100000,
                "0x61b0bc3b7b2c3a7c0b59497f6de642402f00f0ad13a08c380420a6072156a1c4",
                &[8, 7, 5],
            ),
            (
                262143,
                "0xf8f1aae97b95c26ee1d7b2190ac539b7f708c150b75d8f31f701ad1e1514b65a",
                &[10],
            ),
            (
                262144,
                "0x4d533607c0f4423a9287d761e7394aa61552adb7d6a080cdb278ddb65b2eacb7",
                &[10],
            ),
            (
                262145,
                "0x1458412a6ece9f4f9dc83ade0c68037378ef3e10fe484cea5d451cc10c9212d0",
                &[10, 7],
            ),
            (
                262400,
                "0x47a894214a4797bc6f58837863eedd2cc290f160d858a8d19a727d4b77949f43",
                &[10, 7],
            ),
            (
                786437,
                "0x690beef6c4719ac8fcb78d1050b8ec8691dc285c6979b79b60c4ca60920cb621",
                &[11, 10, 8],
            ),
            (
                4194304,
                "0x83eefbcdf40866aaf387878bc2614410ce7637c02977fecce90779253e49b200",
                &[14],
            ),
            (
                4194560,
                "0x0cb8b9de3b24c75beadfb73a45aca294f93b3d2e8ff60896e439941b706406ee",
                &[14, 11],
            ),
            (
                4194561,
                "0xa08eadf017d342b5a5abc2f8ad7f96fe68cbb0504b000d1de83f0cf15a93f0b8",
                &[14, 11],
            ),
            (
                5242880,
                "0x5599561c4d90d03e386a76749b9002ccb5c20c3848b0f1a216b06b9fcfeea134",
                &[14, 12],
            ),
        ];
        for &(size, root, heights) in cases {
            let data = pattern(size);
            let m = FileMerkle::new(&data).unwrap();
            assert_eq!(m.root().to_string(), root, "size {size}");
            let hs: Vec<u32> = m.nodes.iter().map(|n| n.0).collect();
            assert_eq!(hs, heights, "size {size}");
            let roots: Vec<B256> = m.nodes.iter().map(|n| n.1).collect();
            assert_eq!(nodes_root(&roots), Some(m.root()), "size {size}");
            // every uploaded segment proves against the root, as the node checks it
            for i in 0..m.layout.segments() {
                let seg = segment_upload_data(&data, i);
                assert_eq!(seg.len(), m.layout.segment_len(i));
                let leaf = m.layout.segment_root(i, &seg);
                m.tree
                    .proof(i as usize)
                    .unwrap()
                    .verify(&leaf, &m.root(), i, m.layout.proof_leaves())
                    .unwrap();
            }
        }
        // the 768-byte file's two nodes, as the SDK submits them
        let m = FileMerkle::new(&pattern(768)).unwrap();
        assert_eq!(
            m.nodes[1].1,
            b256!("0xdbbfa548665d91a9031dad160cdfc45dda4329f549f0ac02f85893d13f5d67a4")
        );
        // the 100000-byte file's node of height 7
        let m = FileMerkle::new(&pattern(100000)).unwrap();
        assert_eq!(
            m.nodes[1].1,
            b256!("0x2fcb4d5044f4de795393bc2f77f98152f88e1875dbdeba16d40ad4e55119e5a0")
        );
    }

    #[test]
    fn padding_leaves_and_proofs_match_the_sdk() {
        // 16385 chunks: 18 proof leaves for 17 segments; segment 16's proof as the SDK's.
        let data = pattern(4194560);
        let m = FileMerkle::new(&data).unwrap();
        assert_eq!(m.layout.segments(), 17);
        assert_eq!(m.layout.proof_leaves(), 18);
        assert_eq!(m.tree.leaf(17), Some(zero_root(10)));
        let p = m.tree.proof(16).unwrap();
        assert_eq!(p.path, vec![true, false]);
        assert_eq!(
            p.lemma[0],
            b256!("0xf7b1c10ea3361aa6d832ecf0771b82fe1b69bc9eb68c72fc238e6dd2b24cd576")
        );
        assert_eq!(p.lemma[1], zero_root(10));
        assert_eq!(m.tree.proof(0).unwrap().path, vec![true; 5]);
        assert_eq!(m.layout.segment_len(16), 256);
        // 786437 bytes, segment 1
        let m = FileMerkle::new(&pattern(786437)).unwrap();
        assert_eq!(
            m.tree.proof(0).unwrap().lemma[1],
            b256!("0x1935877a058f7a928762c026fcd7d6a0ca76ce38196e1c78b9d1c3ed70ae7a84")
        );
    }

    #[test]
    fn zero_files_match_the_sdk() {
        for (size, root, heights) in [
            (1usize, zero_root(0), vec![0u32]),
            (512, zero_root(1), vec![1]),
            (
                768,
                b256!("0x7f14dd29ba0909fffb51e899fe3ca63514ca780eaea16d3684febf3507bc1bf7"),
                vec![1, 0],
            ),
            (
                262145,
                b256!("0x299554912a1fd63044bc61938f7f5dc90d3a633bb5138601d89dcfe403fa1aa5"),
                vec![10, 7],
            ),
        ] {
            let m = FileMerkle::new(&vec![0u8; size]).unwrap();
            assert_eq!(m.root(), root, "size {size}");
            let hs: Vec<u32> = m.nodes.iter().map(|n| n.0).collect();
            assert_eq!(hs, heights);
            for (h, r) in &m.nodes {
                assert_eq!(*r, zero_root(*h));
            }
        }
        assert!(FileMerkle::new(&[]).is_none());
    }

    #[test]
    fn padded_sizes() {
        assert_eq!(padded_chunks(1), (1, 1));
        assert_eq!(padded_chunks(3), (3, 4));
        assert_eq!(padded_chunks(391), (416, 512));
        assert_eq!(padded_chunks(16385), (18432, 32768));
        assert_eq!(split_nodes(391), vec![256, 128, 32]);
        assert_eq!(split_nodes(3073), vec![2048, 1024, 256]);
    }
}
