//! The chain modules' Solidity interfaces, defined once for every crate (the bundled
//! chain's precompiles, the portable contracts, and every client).
//!
//! Precompile addresses of the bundled chain: [`DA_SIGNERS_ADDRESS`],
//! [`DA_ENTRANCE_ADDRESS`], [`DA_SAMPLING_ADDRESS`]. Reverts use the custom errors
//! declared here, so that every implementation reverts with the same data.
#![allow(missing_docs, clippy::too_many_arguments)]

use alloy_primitives::{Address, address};
use alloy_sol_types::sol;

/// DA signers module (`0x…1000`).
pub const DA_SIGNERS_ADDRESS: Address = address!("0x0000000000000000000000000000000000001000");
/// DA entrance module (`0x…1001`).
pub const DA_ENTRANCE_ADDRESS: Address = address!("0x0000000000000000000000000000000000001001");
/// DA sampling module (`0x…1002`).
pub const DA_SAMPLING_ADDRESS: Address = address!("0x0000000000000000000000000000000000001002");
/// Storage flow module (`0x…1003`): 0G's Flow contract ABI.
pub const FLOW_ADDRESS: Address = address!("0x0000000000000000000000000000000000001003");
/// Storage market module (`0x…1004`): 0G's fixed-price market ABI.
pub const MARKET_ADDRESS: Address = address!("0x0000000000000000000000000000000000001004");

sol! {
    /// Registry of DA signers (BLS keys, sockets), epochs and quorums.
    #[derive(Debug, PartialEq, Eq)]
    interface IDASigners {
        /// A signer as registered: its account, libp2p multiaddr, BLS public key (48 bytes).
        struct SignerDetail {
            address signer;
            string socket;
            bytes pubkey;
        }

        /// Module parameters.
        struct Params {
            uint64 epochBlocks;
            uint64 quorumSize;
            uint64 quorumThreshold;
            uint64 maxQuorums;
        }

        event NewSigner(address indexed signer, bytes pubkey, string socket);
        event SocketUpdated(address indexed signer, string socket);
        event EpochRegistered(address indexed signer, uint256 indexed epoch, bytes32 ballot);

        error InvalidPublicKey();
        error InvalidProofOfPossession();
        error SignerMismatch(address sender, address signer);
        error SignerAlreadyRegistered(address signer);
        error PublicKeyInUse(address owner);
        error NotASigner(address account);
        error AlreadyRegisteredForEpoch(address signer, uint256 epoch);
        error InvalidEpochSignature();
        error UnknownQuorum(uint256 epoch, uint256 quorumId);

        /// Registers `msg.sender` (must equal `signer.signer`) with a BLS key and a proof
        /// of possession: a signature with DST `BLS_POP_…` over
        /// `keccak256(abi.encode("zg-da/pop/v1", chainid, signer, pubkey))`.
        function registerSigner(SignerDetail calldata signer, bytes calldata pop) external;
        /// Updates the caller's socket.
        function updateSocket(string calldata socket) external;
        /// Registers the caller for the next epoch with a BLS signature over
        /// `keccak256(abi.encode("zg-da/epoch/v1", chainid, sender, epochNumber() + 1))`;
        /// the ballot is `keccak256(signature)`.
        function registerNextEpoch(bytes calldata signature) external;

        function epochNumber() external view returns (uint256);
        function quorumCount(uint256 epoch) external view returns (uint256);
        /// Ordered members of a quorum; member `k` holds columns `j ≡ k (mod n)`.
        function getQuorum(uint256 epoch, uint256 quorumId) external view returns (address[] memory);
        function getSigner(address[] calldata accounts) external view returns (SignerDetail[] memory);
        function isSigner(address account) external view returns (bool);
        function registeredForEpoch(address account, uint256 epoch) external view returns (bool);
        function quorumThreshold(uint256 epoch, uint256 quorumId) external view returns (uint256);
        function params() external view returns (Params memory);
    }

    /// Disperser deposits, blob fees and anchoring of certified commitments.
    #[derive(Debug, PartialEq, Eq)]
    interface IDAEntrance {
        /// One certified commitment: the signers (bitmap over the ordered quorum, bit i of
        /// byte i/8 = member i) and their aggregate BLS signature over the attestation
        /// `keccak256(abi.encode("zg-da/attest/v1", chainid, dataRoot, epoch, quorumId,
        /// blobCount))`.
        struct CommitRootSubmission {
            bytes32 dataRoot;
            uint256 epoch;
            uint256 quorumId;
            uint256 blobCount;
            bytes signersBitmap;
            bytes aggregateSignature;
        }

        /// 0G's event, unchanged.
        event ErasureCommitmentVerified(bytes32 dataRoot, uint256 epoch, uint256 quorumId);
        event Deposited(address indexed account, uint256 amount);
        event Withdrawn(address indexed account, uint256 amount);
        event BlobFeeCharged(address indexed payer, bytes32 indexed dataRoot, uint256 amount);

        error UnknownQuorum(uint256 epoch, uint256 quorumId);
        error InvalidSignerBitmap();
        error BelowThreshold(uint256 signers, uint256 threshold);
        error InvalidAggregateSignature();
        error InsufficientDeposit(uint256 balance, uint256 required);
        error InvalidBlobCount();
        error ZeroAmount();

        function deposit() external payable;
        function withdraw(uint256 amount) external;
        function balanceOf(address account) external view returns (uint256);
        /// Fee per blob, charged from the submitter's deposit when anchored.
        function blobFee() external view returns (uint256);
        /// Verifies and anchors each submission; an already anchored
        /// `(dataRoot, epoch, quorumId)` is skipped (no event, no fee), so retries are safe.
        function submitVerifiedCommitRoots(CommitRootSubmission[] calldata submissions) external;
        function commitmentExists(bytes32 dataRoot, uint256 epoch, uint256 quorumId) external view returns (bool);
    }

    /// On-chain sampling record (PoDAS-style lottery over stored cells).
    #[derive(Debug, PartialEq, Eq)]
    interface IDASampling {
        /// A winning cell: `quality = keccak256(abi.encode(seed, dataRoot, column,
        /// blobIndex)) <= target`; the commitment is proven into the data_root by a
        /// Merkle path and the cell against the commitment by its KZG proof.
        struct SampleResponse {
            uint256 round;
            uint256 epoch;
            uint256 quorumId;
            bytes32 dataRoot;
            uint32 payloadLen;
            uint32 blobIndex;
            uint16 column;
            bytes32[] merkleProof;
            bytes commitment;
            bytes cell;
            bytes proof;
        }

        event NewSampleRound(uint256 indexed round, bytes32 seed, uint256 target);
        event SampleWin(uint256 indexed round, address indexed custodian, bytes32 dataRoot, uint256 epoch, uint256 quorumId, uint16 column, uint32 blobIndex, uint256 quality);

        error StaleRound(uint256 round, uint256 current);
        error NotAnchored(bytes32 dataRoot, uint256 epoch, uint256 quorumId);
        error WrongCustodian(address expected);
        error QualityAboveTarget(uint256 quality, uint256 target);
        error InvalidInclusionProof();
        error InvalidSampleProof();
        error DuplicateSample();
        /// Anchored after the round's seed block, or older than the sampling window.
        error NotEligible(bytes32 dataRoot, uint256 epoch, uint256 quorumId);
        /// The round already recorded its most wins.
        error RoundFull(uint256 round);

        /// Current round: its number, seed, target and first block.
        function currentRound() external view returns (uint256 round, bytes32 seed, uint256 target, uint256 startBlock);
        function samplePeriod() external view returns (uint256);
        /// Round length (blocks), anchors' eligible age (epochs), wanted and most wins per round.
        function sampleParams() external view returns (uint256 period, uint256 windowEpochs, uint256 targetWins, uint256 maxWins);
        function submitSamplingResponse(SampleResponse calldata response) external;
        function winsOf(address custodian) external view returns (uint256);
        function roundWins(uint256 round) external view returns (uint256);
    }
}

sol! {
    /// 0G Storage's flow: file submissions (Merkle subtree roots) appended to the log.
    /// Both 0G ABIs of `submit` are served: the original tuple (`@0glabs/0g-ts-sdk`) and
    /// the one wrapped with a submitter (`@0gfoundation/0g-ts-sdk`, the Go client).
    #[derive(Debug, PartialEq, Eq)]
    interface IFlow {
        /// A subtree of the file's Merkle tree: its root and height (log2 of its chunks).
        struct SubmissionNode { bytes32 root; uint256 height; }
        /// A file: its length in bytes, tags (KV stream ids) and its subtree roots.
        struct Submission { uint256 length; bytes tags; SubmissionNode[] nodes; }
        /// A submission made on behalf of `submitter`.
        struct SubmitterSubmission { Submission data; address submitter; }

        event Submit(address indexed sender, bytes32 indexed identity, uint256 submissionIndex, uint256 startPos, uint256 length, Submission submission);

        error NotEnoughFee(uint256 price, uint256 amount, uint256 paid);
        error InvalidSubmission();

        function submit(Submission calldata submission) external payable returns (uint256 index, bytes32 digest, uint256 startIndex, uint256 length);
        function submit(SubmitterSubmission calldata submission) external payable returns (uint256 index, bytes32 digest, uint256 startIndex, uint256 length);
        function batchSubmit(Submission[] calldata submissions) external payable returns (uint256[] memory indexes, bytes32[] memory digests, uint256[] memory startIndexes, uint256[] memory lengths);
        function market() external view returns (address);
        function numSubmissions() external view returns (uint256);
        function submissionIndex() external view returns (uint256);
        /// Flow length in entries (256-byte chunks; entry 0 is reserved) and the unstaged height (always 0 here).
        function tree() external view returns (uint256 currentLength, uint256 unstagedHeight);
    }

    /// 0G Storage's fixed-price market.
    #[derive(Debug, PartialEq, Eq)]
    interface IMarket {
        function pricePerSector() external view returns (uint256);
        function flow() external view returns (address);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_sol_types::{SolCall, SolEvent};

    #[test]
    fn selectors_are_stable() {
        // 0G's event signature, so 0G tooling can follow our anchors.
        assert_eq!(
            IDAEntrance::ErasureCommitmentVerified::SIGNATURE,
            "ErasureCommitmentVerified(bytes32,uint256,uint256)"
        );
        assert_eq!(
            IDAEntrance::commitmentExistsCall::SIGNATURE,
            "commitmentExists(bytes32,uint256,uint256)"
        );
        assert_eq!(
            IDASigners::registerSignerCall::SIGNATURE,
            "registerSigner((address,string,bytes),bytes)"
        );
        // 0G's flow selectors and event topic, as both 0G SDKs encode them.
        assert_eq!(IFlow::submit_0Call::SELECTOR, [0xef, 0x3e, 0x12, 0xdc]);
        assert_eq!(IFlow::submit_1Call::SELECTOR, [0xbc, 0x8c, 0x11, 0xf8]);
        assert_eq!(IFlow::marketCall::SELECTOR, [0x80, 0xf5, 0x56, 0x05]);
        assert_eq!(
            IMarket::pricePerSectorCall::SELECTOR,
            [0x61, 0xec, 0x50, 0x82]
        );
        assert_eq!(
            IFlow::Submit::SIGNATURE_HASH.to_string(),
            "0x167ce04d2aa1981994d3a31695da0d785373335b1078cec239a1a3a2c7675555"
        );
    }
}
