//! `0x…1003` storage flow and `0x…1004` storage market: 0G Storage's log of file
//! submissions, with 0G's ABI (`zg_primitives::abi::IFlow`, `IMarket`) so that 0G's SDKs
//! and storage nodes work against it unchanged.
//!
//! The flow is a sequence of 256-byte entries (sectors); entry 0 is reserved. A
//! submission names its file's Merkle subtree roots (heights strictly decreasing); it is
//! placed as 0G's `FlowTreeLib` places it: its first subtree aligned to its own size, a
//! file smaller than a segment (1024 entries) never straddling a segment boundary, the
//! subtrees contiguous after it. The fee is `sectors × pricePerSector`; the value sent
//! must cover it and stays with the module.
//!
//! Storage: `flow.length` (next free entry, 0 meaning 1), `flow.count` (submissions).

use alloy_primitives::{Address, B256, Bytes, U256, keccak256};
use alloy_sol_types::{SolCall, SolEvent};
use revm::context::ContextTr;
use zg_primitives::abi::{FLOW_ADDRESS, IFlow, IMarket, MARKET_ADDRESS};

use super::{Call, Exit, decode_call, slot};

/// Entries per segment (256 KiB).
const SEGMENT_ENTRIES: u128 = 1024;
/// Most subtrees one submission may name.
const MAX_NODES: usize = 4;

fn length_slot() -> U256 {
    slot("flow.length", &[])
}
fn count_slot() -> U256 {
    slot("flow.count", &[])
}

/// Entries (sectors) a submission occupies, or `None` when it is not a valid 0G
/// submission (0G's `Submission.valid()`).
pub fn submission_sectors(s: &IFlow::Submission) -> Option<u128> {
    let n = s.nodes.len();
    if n == 0 || n > MAX_NODES {
        return None;
    }
    let mut heights = Vec::with_capacity(n);
    for node in &s.nodes {
        let h = u32::try_from(node.height).ok().filter(|&h| h < 64)?;
        if heights.last().is_some_and(|&prev| prev <= h) {
            return None;
        }
        heights.push(h);
    }
    if heights[0] - heights[n - 1] >= MAX_NODES as u32 {
        return None;
    }
    let cap: u128 = heights.iter().map(|&h| 1u128 << h).sum();
    let last_cap = if cap < 16 {
        cap - 1
    } else if n == 1 {
        cap - (cap >> 4)
    } else {
        cap - (1u128 << (heights[0] - 3))
    };
    let length = u128::try_from(s.length).ok()?;
    (length <= cap * 256 && length > last_cap * 256).then_some(cap)
}

fn next_align(x: u128, exp: u32) -> u128 {
    if x == 0 {
        0
    } else {
        (((x - 1) >> exp) + 1) << exp
    }
}

/// Where a submission of subtree heights `heights` lands in a flow of `length` entries:
/// its first entry and the flow length after it (0G's `FlowTreeLib` placement).
pub fn place(length: u128, heights: &[u32]) -> (u128, u128) {
    let size: u128 = heights.iter().map(|&h| 1u128 << h).sum();
    let mut cur = length.max(1);
    let start = next_align(cur, heights[0]);
    if !start.is_multiple_of(SEGMENT_ENTRIES)
        && start / SEGMENT_ENTRIES != (start + size - 1) / SEGMENT_ENTRIES
    {
        cur = start - start % SEGMENT_ENTRIES + SEGMENT_ENTRIES;
    }
    let mut first = None;
    for &h in heights {
        let s = next_align(cur, h);
        first.get_or_insert(s);
        cur = s + (1u128 << h);
    }
    (first.unwrap_or(cur), cur)
}

fn invalid() -> Exit {
    Exit::error(IFlow::InvalidSubmission {})
}

struct Placed {
    index: U256,
    digest: B256,
    start: U256,
    length: U256,
}

/// Appends one submission; `paid` is what is left of the call's value for it.
fn submit_one<CTX: ContextTr>(
    call: &mut Call<'_, CTX>,
    sender: Address,
    s: IFlow::Submission,
    paid: &mut U256,
) -> Result<Placed, Exit> {
    let sectors = submission_sectors(&s).ok_or_else(invalid)?;
    let price = call.genesis.storage.price_per_sector;
    let fee = price.checked_mul(U256::from(sectors)).ok_or_else(invalid)?;
    if fee > *paid {
        return Err(Exit::error(IFlow::NotEnoughFee {
            price,
            amount: U256::from(sectors),
            paid: *paid,
        }));
    }
    *paid -= fee;
    let heights: Vec<u32> = s.nodes.iter().map(|n| n.height.to::<u32>()).collect();
    let length = call.sload(length_slot())?.saturating_to::<u128>();
    let (start, end) = place(length, &heights);
    if end > u128::from(u64::MAX) {
        return Err(invalid());
    }
    let index = call.sload(count_slot())?;
    call.sstore(length_slot(), U256::from(end))?;
    call.sstore(count_slot(), index + U256::from(1))?;
    let mut roots = Vec::with_capacity(32 * s.nodes.len());
    for n in &s.nodes {
        roots.extend_from_slice(n.root.as_slice());
    }
    let digest = keccak256(&roots);
    let placed = Placed {
        index,
        digest,
        start: U256::from(start),
        length: U256::from(sectors),
    };
    call.log(
        IFlow::Submit {
            sender,
            identity: digest,
            submissionIndex: placed.index,
            startPos: placed.start,
            length: placed.length,
            submission: s,
        }
        .encode_log_data(),
    )?;
    Ok(placed)
}

pub(super) fn dispatch_flow<CTX: ContextTr>(
    call: &mut Call<'_, CTX>,
    input: &[u8],
) -> Result<Bytes, Exit> {
    use IFlow::IFlowCalls as C;
    let decoded = decode_call(call, input, |c| {
        matches!(c, C::submit_0(_) | C::submit_1(_) | C::batchSubmit(_))
    })?;
    let mut paid = call.value;
    let single = |p: Placed| (p.index, p.digest, p.start, p.length);
    match decoded {
        C::submit_0(c) => {
            call.require_mutable()?;
            let caller = call.caller;
            let p = single(submit_one(call, caller, c.submission, &mut paid)?);
            Ok(
                IFlow::submit_0Call::abi_encode_returns(&IFlow::submit_0Return {
                    index: p.0,
                    digest: p.1,
                    startIndex: p.2,
                    length: p.3,
                })
                .into(),
            )
        }
        C::submit_1(c) => {
            call.require_mutable()?;
            let submitter = c.submission.submitter;
            if submitter.is_zero() {
                return Err(invalid());
            }
            // The submitter is who the storage and KV layers take the data from: only
            // that account may name itself.
            if submitter != call.caller {
                return Err(Exit::error(IFlow::NotSubmitter {
                    submitter,
                    caller: call.caller,
                }));
            }
            let p = single(submit_one(call, submitter, c.submission.data, &mut paid)?);
            Ok(
                IFlow::submit_1Call::abi_encode_returns(&IFlow::submit_1Return {
                    index: p.0,
                    digest: p.1,
                    startIndex: p.2,
                    length: p.3,
                })
                .into(),
            )
        }
        C::batchSubmit(c) => {
            call.require_mutable()?;
            let caller = call.caller;
            let mut out = IFlow::batchSubmitReturn {
                indexes: Vec::new(),
                digests: Vec::new(),
                startIndexes: Vec::new(),
                lengths: Vec::new(),
            };
            if c.submissions.is_empty() {
                return Err(invalid());
            }
            for s in c.submissions {
                let p = submit_one(call, caller, s, &mut paid)?;
                out.indexes.push(p.index);
                out.digests.push(p.digest);
                out.startIndexes.push(p.start);
                out.lengths.push(p.length);
            }
            Ok(IFlow::batchSubmitCall::abi_encode_returns(&out).into())
        }
        C::market(_) => Ok(IFlow::marketCall::abi_encode_returns(&MARKET_ADDRESS).into()),
        C::numSubmissions(_) | C::submissionIndex(_) => {
            let n = call.sload(count_slot())?;
            Ok(IFlow::numSubmissionsCall::abi_encode_returns(&n).into())
        }
        C::tree(_) => {
            let len = call.sload(length_slot())?.max(U256::from(1));
            Ok(IFlow::treeCall::abi_encode_returns(&IFlow::treeReturn {
                currentLength: len,
                unstagedHeight: U256::ZERO,
            })
            .into())
        }
    }
}

pub(super) fn dispatch_market<CTX: ContextTr>(
    call: &mut Call<'_, CTX>,
    input: &[u8],
) -> Result<Bytes, Exit> {
    use IMarket::IMarketCalls as C;
    let decoded = decode_call(call, input, |_: &C| false)?;
    match decoded {
        C::pricePerSector(_) => Ok(IMarket::pricePerSectorCall::abi_encode_returns(
            &call.genesis.storage.price_per_sector,
        )
        .into()),
        C::flow(_) => Ok(IMarket::flowCall::abi_encode_returns(&FLOW_ADDRESS).into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::Bytes as AbiBytes;

    fn sub(length: u64, heights: &[u64]) -> IFlow::Submission {
        IFlow::Submission {
            length: U256::from(length),
            tags: AbiBytes::new(),
            nodes: heights
                .iter()
                .map(|&h| IFlow::SubmissionNode {
                    root: B256::ZERO,
                    height: U256::from(h),
                })
                .collect(),
        }
    }

    #[test]
    fn validity_matches_0g() {
        assert_eq!(submission_sectors(&sub(1, &[0])), Some(1));
        assert_eq!(submission_sectors(&sub(768, &[1, 0])), Some(3));
        assert_eq!(submission_sectors(&sub(100_000, &[8, 7, 5])), Some(416));
        assert_eq!(submission_sectors(&sub(262_145, &[10, 7])), Some(1152));
        assert_eq!(submission_sectors(&sub(4_194_560, &[14, 11])), Some(18432));
        // empty, too long, too short, heights not decreasing, spread over 4
        assert_eq!(submission_sectors(&sub(0, &[0])), None);
        assert_eq!(submission_sectors(&sub(257, &[0])), None);
        assert_eq!(submission_sectors(&sub(256, &[1])), None);
        assert_eq!(submission_sectors(&sub(768, &[0, 1])), None);
        assert_eq!(submission_sectors(&sub(768, &[1, 1])), None);
        assert_eq!(submission_sectors(&sub(5000, &[])), None);
        assert_eq!(submission_sectors(&sub(1 << 20, &[12, 8])), None);
        assert_eq!(submission_sectors(&sub(1, &[64])), None);
        // 1024 sectors: only lengths above 960 sectors may claim a single 2^10 node
        assert_eq!(submission_sectors(&sub(960 * 256, &[10])), None);
        assert_eq!(submission_sectors(&sub(960 * 256 + 1, &[10])), Some(1024));
    }

    #[test]
    fn placement_matches_flow_tree_lib() {
        // first file: entry 0 is reserved
        assert_eq!(place(0, &[0]), (1, 2));
        assert_eq!(place(1, &[1, 0]), (2, 5));
        // aligned to its first subtree
        assert_eq!(place(5, &[3, 2]), (8, 20));
        // a small file does not straddle a segment boundary
        assert_eq!(place(1000, &[5]), (1024, 1056));
        assert_eq!(place(1016, &[3, 2]), (1024, 1036));
        // a multi-segment file starts on a segment
        assert_eq!(place(1056, &[10, 7]), (2048, 3200));
        assert_eq!(place(3200, &[11, 10, 8]), (4096, 7424));
    }
}
