// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.30;

// 0G Storage's flow and market ABI, identical to `zg_primitives::abi::{IFlow, IMarket}`
// (a Rust test compares the compiled ABI with it signature by signature).

/// 0G Storage's log of file submissions.
interface IFlow {
    /// A subtree of the file's Merkle tree: its root and height (log2 of its chunks).
    struct SubmissionNode {
        bytes32 root;
        uint256 height;
    }

    /// A file: its length in bytes, tags (KV stream ids) and its subtree roots.
    struct Submission {
        uint256 length;
        bytes tags;
        SubmissionNode[] nodes;
    }

    /// A submission made on behalf of `submitter`.
    struct SubmitterSubmission {
        Submission data;
        address submitter;
    }

    event Submit(
        address indexed sender,
        bytes32 indexed identity,
        uint256 submissionIndex,
        uint256 startPos,
        uint256 length,
        Submission submission
    );

    error NotEnoughFee(uint256 price, uint256 amount, uint256 paid);
    error InvalidSubmission();
    error NotSubmitter(address submitter, address caller);

    function submit(Submission calldata submission)
        external
        payable
        returns (uint256 index, bytes32 digest, uint256 startIndex, uint256 length);
    function submit(SubmitterSubmission calldata submission)
        external
        payable
        returns (uint256 index, bytes32 digest, uint256 startIndex, uint256 length);
    function batchSubmit(Submission[] calldata submissions)
        external
        payable
        returns (
            uint256[] memory indexes,
            bytes32[] memory digests,
            uint256[] memory startIndexes,
            uint256[] memory lengths
        );
    function market() external view returns (address);
    function numSubmissions() external view returns (uint256);
    function submissionIndex() external view returns (uint256);
    /// Flow length in entries (entry 0 is reserved) and the unstaged height (always 0).
    function tree() external view returns (uint256 currentLength, uint256 unstagedHeight);
}

/// 0G Storage's fixed-price market.
interface IMarket {
    function pricePerSector() external view returns (uint256);
    function flow() external view returns (address);
}
