//! The block consensus orders: our executed EVM block (header and transactions), in a
//! canonical encoding, identified by its Ethereum block hash.

use alloy_consensus::{Header, TxEnvelope};
use alloy_eips::eip2718::{Decodable2718, Encodable2718};
use alloy_primitives::B256;
use alloy_rlp::{Decodable, Encodable};
use bytes::BufMut;
use commonware_codec::{Buf, EncodeSize, Error as CodecError, Read, Write};
use commonware_consensus::types::Height;
use commonware_consensus::{Block, BoundedBlock, Heightable};
use commonware_cryptography::{Digestible, keccak256};

/// Digest of a block: its Ethereum block hash (keccak of the RLP header), which commits
/// to the transactions through the transactions root.
pub type Digest = keccak256::Digest;

/// Converts a block hash to a consensus digest.
pub fn digest_of(hash: B256) -> Digest {
    keccak256::Digest(hash.0)
}

/// Converts a consensus digest to a block hash.
pub fn hash_of(digest: &Digest) -> B256 {
    B256::from(digest.0)
}

/// Bounds a decoder applies to a block from the network.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockLimits {
    /// Most transactions in one block.
    pub max_txs: usize,
    /// Most bytes of one block's encoding.
    pub max_bytes: usize,
}

impl Default for BlockLimits {
    fn default() -> Self {
        // A 30M-gas block holds at most 30M / 21000 transactions; calldata is bounded by
        // gas too (16 gas per byte: under 2 MB). 8 MiB leaves room for either.
        Self {
            max_txs: 1_500,
            max_bytes: 8 * 1024 * 1024,
        }
    }
}

/// A block: header and transactions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZgBlock {
    /// The header (its hash is the block's digest).
    pub header: Header,
    /// The transactions, in order.
    pub txs: Vec<TxEnvelope>,
    hash: B256,
}

impl ZgBlock {
    /// A block from its parts; the hash is computed once.
    pub fn new(header: Header, txs: Vec<TxEnvelope>) -> Self {
        let hash = header.hash_slow();
        Self { header, txs, hash }
    }

    /// The block hash.
    pub fn hash(&self) -> B256 {
        self.hash
    }

    /// Whether the transactions are those the header's transactions root commits to.
    pub fn transactions_match(&self) -> bool {
        alloy_consensus::proofs::calculate_transaction_root(&self.txs)
            == self.header.transactions_root
    }
}

fn header_bytes(header: &Header) -> Vec<u8> {
    let mut out = Vec::with_capacity(header.length());
    header.encode(&mut out);
    out
}

impl Write for ZgBlock {
    fn write(&self, buf: &mut impl BufMut) {
        let header = header_bytes(&self.header);
        buf.put_u32(header.len() as u32);
        buf.put_slice(&header);
        buf.put_u32(self.txs.len() as u32);
        for tx in &self.txs {
            let raw = tx.encoded_2718();
            buf.put_u32(raw.len() as u32);
            buf.put_slice(&raw);
        }
    }
}

impl EncodeSize for ZgBlock {
    fn encode_size(&self) -> usize {
        4 + self.header.length()
            + 4
            + self
                .txs
                .iter()
                .map(|t| 4 + t.encode_2718_len())
                .sum::<usize>()
    }
}

fn take<'a>(
    buf: &mut impl Buf,
    len: usize,
    scratch: &'a mut Vec<u8>,
) -> Result<&'a [u8], CodecError> {
    if buf.remaining() < len {
        return Err(CodecError::EndOfBuffer);
    }
    scratch.clear();
    scratch.resize(len, 0);
    buf.copy_to_slice(scratch);
    Ok(scratch)
}

fn u32_len(buf: &mut impl Buf) -> Result<usize, CodecError> {
    if buf.remaining() < 4 {
        return Err(CodecError::EndOfBuffer);
    }
    Ok(buf.get_u32() as usize)
}

impl Read for ZgBlock {
    type Cfg = BlockLimits;

    fn read_cfg(buf: &mut impl Buf, limits: &BlockLimits) -> Result<Self, CodecError> {
        let mut scratch = Vec::new();
        let mut total = 8usize;
        let len = u32_len(buf)?;
        if len > limits.max_bytes {
            return Err(CodecError::InvalidLength(len));
        }
        total += len;
        let raw = take(buf, len, &mut scratch)?;
        let mut slice = raw;
        let header = Header::decode(&mut slice)
            .map_err(|_| CodecError::Invalid("ZgBlock", "header is not RLP"))?;
        // Canonical: the bytes are exactly the header's encoding.
        if !slice.is_empty() || header_bytes(&header) != raw {
            return Err(CodecError::Invalid(
                "ZgBlock",
                "header encoding is not canonical",
            ));
        }
        let n = u32_len(buf)?;
        if n > limits.max_txs {
            return Err(CodecError::InvalidLength(n));
        }
        let mut txs = Vec::with_capacity(n);
        for _ in 0..n {
            let len = u32_len(buf)?;
            total += 4 + len;
            if total > limits.max_bytes {
                return Err(CodecError::InvalidLength(total));
            }
            let raw = take(buf, len, &mut scratch)?;
            let mut slice = raw;
            let tx = TxEnvelope::decode_2718(&mut slice)
                .map_err(|_| CodecError::Invalid("ZgBlock", "transaction is not EIP-2718"))?;
            if !slice.is_empty() || tx.encoded_2718() != raw {
                return Err(CodecError::Invalid(
                    "ZgBlock",
                    "transaction encoding is not canonical",
                ));
            }
            txs.push(tx);
        }
        Ok(Self::new(header, txs))
    }
}

impl Digestible for ZgBlock {
    type Digest = Digest;

    fn digest(&self) -> Digest {
        digest_of(self.hash)
    }
}

impl Heightable for ZgBlock {
    fn height(&self) -> Height {
        Height::new(self.header.number)
    }
}

impl Block for ZgBlock {
    fn parent(&self) -> Digest {
        digest_of(self.header.parent_hash)
    }
}

impl BoundedBlock for ZgBlock {
    fn max_encode_size(limits: &BlockLimits) -> usize {
        limits.max_bytes + 8
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_codec::{Copying, Decode, Encode};

    fn block() -> ZgBlock {
        let header = Header {
            number: 7,
            gas_limit: 30_000_000,
            timestamp: 1_700_000_000,
            base_fee_per_gas: Some(7),
            ..Default::default()
        };
        ZgBlock::new(header, Vec::new())
    }

    #[test]
    fn round_trips_and_refuses_bad_bytes() {
        let b = block();
        let bytes = b.encode();
        assert_eq!(bytes.len(), b.encode_size());
        let limits = BlockLimits::default();
        let back = ZgBlock::decode_cfg(bytes.clone(), &limits).unwrap();
        assert_eq!(back, b);
        assert_eq!(back.digest(), digest_of(b.header.hash_slow()));
        // Truncated, trailing bytes, an absurd length: refused, never a panic.
        for cut in 0..bytes.len() {
            assert!(ZgBlock::decode_cfg(Copying(&bytes[..cut]), &limits).is_err());
        }
        let mut longer = bytes.to_vec();
        longer.push(0);
        assert!(ZgBlock::decode_cfg(Copying(&longer), &limits).is_err());
        let mut huge = bytes.to_vec();
        huge[..4].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(ZgBlock::decode_cfg(Copying(&huge), &limits).is_err());
        // A count of transactions beyond the limit.
        let mut many = bytes.to_vec();
        let at = 4 + b.header.length();
        many[at..at + 4].copy_from_slice(&(limits.max_txs as u32 + 1).to_be_bytes());
        assert!(ZgBlock::decode_cfg(Copying(&many), &limits).is_err());
    }
}
