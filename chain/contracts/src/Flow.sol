// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.30;

import {IFlow, IMarket} from "./IStorage.sol";

/// 0G Storage's flow and its fixed-price market in one contract, as the bundled chain's
/// `0x…1003` / `0x…1004` precompiles: same ABI, events and revert data, so storage nodes
/// and 0G's SDKs follow and submit to any EVM chain. The contract is its own market
/// (`market()` and `flow()` both answer its address).
///
/// The flow is a sequence of 256-byte entries (sectors); entry 0 is reserved. A
/// submission is placed as 0G's `FlowTreeLib` places it: its first subtree aligned to
/// its own size, a file smaller than a segment (1024 entries) never straddling a segment
/// boundary, the subtrees contiguous after it. The fee is `sectors × pricePerSector`;
/// the value sent must cover it and stays with the contract.
contract Flow is IFlow, IMarket {
    uint256 private constant SEGMENT_ENTRIES = 1024;
    uint256 private constant MAX_NODES = 4;

    uint256 private immutable PRICE_PER_SECTOR;
    /// Next free entry (0 meaning 1).
    uint256 private _length;
    /// Submissions so far.
    uint256 private _count;

    constructor(uint256 pricePerSector_) {
        PRICE_PER_SECTOR = pricePerSector_;
    }

    function submit(Submission calldata submission)
        external
        payable
        returns (uint256 index, bytes32 digest, uint256 startIndex, uint256 length)
    {
        (index, digest, startIndex, length,) = _submit(msg.sender, submission, msg.value);
    }

    function submit(SubmitterSubmission calldata submission)
        external
        payable
        returns (uint256 index, bytes32 digest, uint256 startIndex, uint256 length)
    {
        address submitter = submission.submitter;
        if (submitter == address(0)) revert InvalidSubmission();
        if (submitter != msg.sender) revert NotSubmitter(submitter, msg.sender);
        (index, digest, startIndex, length,) = _submit(submitter, submission.data, msg.value);
    }

    function batchSubmit(Submission[] calldata submissions)
        external
        payable
        returns (
            uint256[] memory indexes,
            bytes32[] memory digests,
            uint256[] memory startIndexes,
            uint256[] memory lengths
        )
    {
        uint256 n = submissions.length;
        if (n == 0) revert InvalidSubmission();
        indexes = new uint256[](n);
        digests = new bytes32[](n);
        startIndexes = new uint256[](n);
        lengths = new uint256[](n);
        uint256 paid = msg.value;
        for (uint256 i = 0; i < n; i++) {
            (indexes[i], digests[i], startIndexes[i], lengths[i], paid) =
                _submit(msg.sender, submissions[i], paid);
        }
    }

    function market() external view returns (address) {
        return address(this);
    }

    function flow() external view returns (address) {
        return address(this);
    }

    function pricePerSector() external view returns (uint256) {
        return PRICE_PER_SECTOR;
    }

    function numSubmissions() external view returns (uint256) {
        return _count;
    }

    function submissionIndex() external view returns (uint256) {
        return _count;
    }

    function tree() external view returns (uint256 currentLength, uint256 unstagedHeight) {
        currentLength = _length == 0 ? 1 : _length;
        unstagedHeight = 0;
    }

    /// Places one submission, charges its fee from `paid` and emits `Submit`; what is
    /// left of `paid`.
    function _submit(address sender, Submission calldata s, uint256 paid)
        private
        returns (uint256 index, bytes32 digest, uint256 start, uint256 sectors, uint256 left)
    {
        uint256[] memory heights;
        (sectors, heights) = _sectors(s);
        uint256 price = PRICE_PER_SECTOR;
        if (price != 0 && sectors > type(uint256).max / price) revert InvalidSubmission();
        uint256 fee = price * sectors;
        if (fee > paid) revert NotEnoughFee(price, sectors, paid);
        left = paid - fee;
        uint256 end;
        (start, end) = _place(_length, heights);
        if (end > type(uint64).max) revert InvalidSubmission();
        index = _count;
        _length = end;
        _count = index + 1;
        bytes memory roots = new bytes(32 * s.nodes.length);
        for (uint256 i = 0; i < s.nodes.length; i++) {
            bytes32 r = s.nodes[i].root;
            assembly {
                mstore(add(add(roots, 32), mul(i, 32)), r)
            }
        }
        digest = keccak256(roots);
        emit Submit(sender, digest, index, start, sectors, s);
    }

    /// Entries a submission occupies and its subtree heights; reverts with
    /// `InvalidSubmission` unless it is a valid 0G submission (`Submission.valid()`).
    function _sectors(Submission calldata s) private pure returns (uint256 cap, uint256[] memory heights) {
        uint256 n = s.nodes.length;
        if (n == 0 || n > MAX_NODES) revert InvalidSubmission();
        heights = new uint256[](n);
        for (uint256 i = 0; i < n; i++) {
            uint256 h = s.nodes[i].height;
            if (h >= 64) revert InvalidSubmission();
            if (i > 0 && heights[i - 1] <= h) revert InvalidSubmission();
            heights[i] = h;
        }
        if (heights[0] - heights[n - 1] >= MAX_NODES) revert InvalidSubmission();
        for (uint256 i = 0; i < n; i++) {
            cap += uint256(1) << heights[i];
        }
        uint256 lastCap;
        if (cap < 16) {
            lastCap = cap - 1;
        } else if (n == 1) {
            lastCap = cap - (cap >> 4);
        } else {
            lastCap = cap - (uint256(1) << (heights[0] - 3));
        }
        uint256 length = s.length;
        if (length > cap * 256 || length <= lastCap * 256) revert InvalidSubmission();
    }

    function _nextAlign(uint256 x, uint256 exp) private pure returns (uint256) {
        if (x == 0) return 0;
        return (((x - 1) >> exp) + 1) << exp;
    }

    /// Where a submission of subtrees `heights` lands after `length` entries: its first
    /// entry and the flow's new length.
    function _place(uint256 length, uint256[] memory heights)
        private
        pure
        returns (uint256 first, uint256 cur)
    {
        uint256 size;
        for (uint256 i = 0; i < heights.length; i++) {
            size += uint256(1) << heights[i];
        }
        cur = length == 0 ? 1 : length;
        uint256 start = _nextAlign(cur, heights[0]);
        if (start % SEGMENT_ENTRIES != 0 && start / SEGMENT_ENTRIES != (start + size - 1) / SEGMENT_ENTRIES)
        {
            cur = start - start % SEGMENT_ENTRIES + SEGMENT_ENTRIES;
        }
        for (uint256 i = 0; i < heights.length; i++) {
            uint256 s = _nextAlign(cur, heights[i]);
            if (i == 0) first = s;
            cur = s + (uint256(1) << heights[i]);
        }
    }
}
