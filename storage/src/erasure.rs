//! Erasure coding of segments across a cluster of storage nodes (reed-solomon-simd):
//! a segment of `len` bytes becomes `k` data shards (its bytes, zero-filled to `k` equal
//! even-sized pieces) and `m` recovery shards; any `k` of the `n = k + m` rebuild it.
//! With `m = 0` (one node, or plain replication) the single shard is the segment.

use alloy_primitives::{B256, keccak256};

/// Why coding failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodingError {
    /// `k` or `m` unusable.
    #[error("unsupported coding: {k} data and {m} recovery shards")]
    Unsupported {
        /// Data shards.
        k: usize,
        /// Recovery shards.
        m: usize,
    },
    /// Fewer than `k` usable shards.
    #[error("{have} usable shards, {need} needed")]
    TooFew {
        /// Shards at hand.
        have: usize,
        /// Shards needed.
        need: usize,
    },
    /// The library refused the shards.
    #[error("reed-solomon: {0}")]
    Library(String),
}

/// A `(k, m)` code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Coding {
    /// Data shards: any `k` shards rebuild a segment.
    pub k: usize,
    /// Recovery shards.
    pub m: usize,
}

impl Coding {
    /// A `(k, m)` code; `k ≥ 1`, `k + m ≤ 256`.
    pub fn new(k: usize, m: usize) -> Result<Self, CodingError> {
        let ok = k >= 1
            && k + m <= 256
            && (m == 0 || reed_solomon_simd::ReedSolomonEncoder::supports(k, m));
        ok.then_some(Self { k, m })
            .ok_or(CodingError::Unsupported { k, m })
    }

    /// No coding: one shard, the segment itself.
    pub const SINGLE: Self = Self { k: 1, m: 0 };

    /// Shards per segment.
    pub fn n(&self) -> usize {
        self.k + self.m
    }

    /// Bytes of each shard of a `len`-byte segment.
    pub fn shard_len(&self, len: usize) -> usize {
        if self.m == 0 && self.k == 1 {
            return len;
        }
        let per = len.div_ceil(self.k).max(2);
        per + per % 2
    }

    /// The `n` shards of `segment`.
    pub fn encode(&self, segment: &[u8]) -> Result<Vec<Vec<u8>>, CodingError> {
        if self.k == 1 && self.m == 0 {
            return Ok(vec![segment.to_vec()]);
        }
        let per = self.shard_len(segment.len());
        let mut shards: Vec<Vec<u8>> = (0..self.k)
            .map(|i| {
                let start = (i * per).min(segment.len());
                let end = ((i + 1) * per).min(segment.len());
                let mut s = segment[start..end].to_vec();
                s.resize(per, 0);
                s
            })
            .collect();
        if self.m > 0 {
            let recovery = reed_solomon_simd::encode(self.k, self.m, &shards)
                .map_err(|e| CodingError::Library(e.to_string()))?;
            shards.extend(recovery);
        }
        Ok(shards)
    }

    /// Rebuilds a `len`-byte segment from shards `(position, bytes)` (at least `k`
    /// distinct positions of the right size).
    pub fn decode(&self, shards: &[(usize, &[u8])], len: usize) -> Result<Vec<u8>, CodingError> {
        let per = self.shard_len(len);
        let mut data: Vec<Option<&[u8]>> = vec![None; self.k];
        let mut recovery: Vec<(usize, &[u8])> = Vec::new();
        for &(pos, bytes) in shards {
            if bytes.len() != per || pos >= self.n() {
                continue;
            }
            if pos < self.k {
                data[pos] = Some(bytes);
            } else if !recovery.iter().any(|(p, _)| *p == pos - self.k) {
                recovery.push((pos - self.k, bytes));
            }
        }
        let have = data.iter().filter(|d| d.is_some()).count();
        if have + recovery.len() < self.k {
            return Err(CodingError::TooFew {
                have: have + recovery.len(),
                need: self.k,
            });
        }
        let mut out = Vec::with_capacity(per * self.k);
        if have == self.k {
            for d in data.iter().flatten() {
                out.extend_from_slice(d);
            }
        } else {
            let originals: Vec<(usize, &[u8])> = data
                .iter()
                .enumerate()
                .filter_map(|(i, d)| d.map(|d| (i, d)))
                .collect();
            let restored = reed_solomon_simd::decode(
                self.k,
                self.m,
                originals.iter().copied(),
                recovery.iter().take(self.k - have).copied(),
            )
            .map_err(|e| CodingError::Library(e.to_string()))?;
            for (i, d) in data.iter().enumerate() {
                match d {
                    Some(d) => out.extend_from_slice(d),
                    None => {
                        out.extend_from_slice(restored.get(&i).ok_or_else(|| {
                            CodingError::Library(format!("shard {i} not restored"))
                        })?)
                    }
                }
            }
        }
        out.truncate(len);
        Ok(out)
    }
}

/// The hashes of a segment's shards, by position (shards are checked against it).
pub fn manifest(shards: &[Vec<u8>]) -> Vec<B256> {
    shards.iter().map(keccak256).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_k_shards_rebuild() {
        let seg: Vec<u8> = (0..262_144u32 - 256)
            .map(|i| (i * 31 % 255) as u8)
            .collect();
        for (k, m) in [(1, 0), (1, 1), (2, 2), (3, 1), (4, 4)] {
            let c = Coding::new(k, m).unwrap();
            let shards = c.encode(&seg).unwrap();
            assert_eq!(shards.len(), k + m);
            // every choice of k positions
            let n = k + m;
            for mask in 0u32..(1 << n) {
                if mask.count_ones() as usize != k {
                    continue;
                }
                let pick: Vec<(usize, &[u8])> = (0..n)
                    .filter(|i| mask & (1 << i) != 0)
                    .map(|i| (i, shards[i].as_slice()))
                    .collect();
                assert_eq!(
                    c.decode(&pick, seg.len()).unwrap(),
                    seg,
                    "k={k} m={m} mask={mask:b}"
                );
            }
            if k > 1 {
                let few: Vec<(usize, &[u8])> =
                    (0..k - 1).map(|i| (i, shards[i].as_slice())).collect();
                assert!(matches!(
                    c.decode(&few, seg.len()),
                    Err(CodingError::TooFew { .. })
                ));
            }
        }
        assert!(Coding::new(0, 2).is_err());
    }

    #[test]
    fn short_segments_code_too() {
        let c = Coding::new(3, 2).unwrap();
        for len in [256usize, 512, 1024, 256 * 7] {
            let seg: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let shards = c.encode(&seg).unwrap();
            let pick = [(1, shards[1].as_slice()), (3, &shards[3]), (4, &shards[4])];
            assert_eq!(c.decode(&pick, len).unwrap(), seg);
        }
    }
}
