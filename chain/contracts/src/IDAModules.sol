// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.30;

// The DA modules' ABI, identical to `zg_primitives::abi` (a Rust test compares the
// compiled ABI with it signature by signature).

/// Registry of DA signers (BLS keys, sockets), epochs and quorums.
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
    /// The quorum's epoch is more than the anchor window behind the current one: its
    /// signers no longer vouch for custody; certify again in a current quorum.
    error StaleEpoch(uint256 epoch, uint256 current);

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
