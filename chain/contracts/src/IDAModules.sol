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

    /// Staking parameters: the least bonded stake of a signer, the stake per ballot
    /// (weight) and the most ballots one signer holds, the unbonding period and the
    /// most registrants kept per epoch.
    struct StakeParams {
        uint256 minStake;
        uint256 stakePerBallot;
        uint64 maxBallots;
        uint64 unbondingEpochs;
        uint64 maxRegistrants;
    }

    event NewSigner(address indexed signer, bytes pubkey, string socket);
    event SocketUpdated(address indexed signer, string socket);
    /// `weight`: the ballots the signer's bonded stake gave it for `epoch`.
    event EpochRegistered(address indexed signer, uint256 indexed epoch, uint256 weight);
    /// A heavier registrant took this signer's place in a full registration list.
    event RegistrationDisplaced(address indexed signer, uint256 indexed epoch);
    /// The quorums of `epoch` were fixed from the registrants with `seed`.
    event QuorumsFormed(uint256 indexed epoch, bytes32 seed, uint256 quorums);
    event StakeAdded(address indexed signer, uint256 amount, uint256 bonded);
    event UnbondingStarted(address indexed signer, uint256 amount, uint256 releaseEpoch);
    event StakeWithdrawn(address indexed signer, uint256 amount);
    /// The sampling lottery ejected `signer` (it signed payloads whose cells its quorum
    /// kept winning while it never did): no registration up to `untilEpoch`, and
    /// `slashed` of its stake moved to the sampling reward pool.
    event SignerEjected(address indexed signer, uint256 untilEpoch, uint256 slashed);

    error InvalidPublicKey();
    error InvalidProofOfPossession();
    error SignerMismatch(address sender, address signer);
    error SignerAlreadyRegistered(address signer);
    error PublicKeyInUse(address owner);
    error NotASigner(address account);
    error AlreadyRegisteredForEpoch(address signer, uint256 epoch);
    error InvalidEpochSignature();
    error UnknownQuorum(uint256 epoch, uint256 quorumId);
    /// Stake below what the call needs (`minStake`, or the amount to unbond).
    error InsufficientStake(uint256 stake, uint256 required);
    /// The epoch's registration list is full of registrants at least as heavy.
    error RegistrationFull(uint256 epoch, uint256 weight, uint256 lightest);
    /// The unbonding stake is released at `releaseEpoch`.
    error StillBonded(uint256 releaseEpoch, uint256 current);
    error NothingToWithdraw();
    error ZeroAmount();
    /// The epoch's quorums cannot be formed: registration is still open, or its seed
    /// block is more than 256 blocks old and nobody formed them in time.
    error SeedUnavailable(uint256 epoch);
    /// The signer was ejected and may not register for epochs up to `untilEpoch`.
    error Ejected(address signer, uint256 untilEpoch);

    /// Registers `msg.sender` (must equal `signer.signer`) with a BLS key and a proof
    /// of possession: a signature with DST `BLS_POP_…` over
    /// `keccak256(abi.encode("zg-da/pop/v1", chainid, signer, pubkey))`. The value
    /// sent is bonded as stake and must be at least `minStake`.
    function registerSigner(SignerDetail calldata signer, bytes calldata pop) external payable;
    /// Updates the caller's socket.
    function updateSocket(string calldata socket) external;
    /// Registers the caller for the next epoch with a BLS signature over
    /// `keccak256(abi.encode("zg-da/epoch/v1", chainid, sender, epochNumber() + 1))`,
    /// with the weight its bonded stake gives; first forms the current epoch's
    /// quorums if nobody has.
    function registerNextEpoch(bytes calldata signature) external;
    /// Bonds the value sent as more stake of the caller (a signer).
    function addStake() external payable;
    /// Starts unbonding `amount` of the caller's stake; what stays bonded must be zero
    /// or at least `minStake`. Released `unbondingEpochs` after the current epoch.
    function unbond(uint256 amount) external;
    /// Pays out the caller's released unbonding stake.
    function withdrawStake() external;
    /// Fixes the quorums of `epoch` (already begun) with the hash of its seed block
    /// `epoch · epochBlocks − 1`; does nothing if they are fixed.
    function formQuorums(uint256 epoch) external;

    function epochNumber() external view returns (uint256);
    function quorumCount(uint256 epoch) external view returns (uint256);
    /// Ordered members of a quorum; member `k` holds columns `j ≡ k (mod n)`.
    function getQuorum(uint256 epoch, uint256 quorumId) external view returns (address[] memory);
    function getSigner(address[] calldata accounts) external view returns (SignerDetail[] memory);
    function isSigner(address account) external view returns (bool);
    function registeredForEpoch(address account, uint256 epoch) external view returns (bool);
    function quorumThreshold(uint256 epoch, uint256 quorumId) external view returns (uint256);
    function params() external view returns (Params memory);
    function stakeParams() external view returns (StakeParams memory);
    /// Bonded stake, stake unbonding and the epoch it is released at.
    function stakeOf(address account) external view returns (uint256 bonded, uint256 unbonding, uint256 releaseEpoch);
    /// The ballots the account's bonded stake gives (zero below `minStake`).
    function ballotWeight(address account) external view returns (uint256);
    /// Registrants kept for `epoch`.
    function registrantCount(uint256 epoch) external view returns (uint256);
    /// The seed `epoch`'s quorums were formed with; zero until they are.
    function epochSeed(uint256 epoch) external view returns (bytes32);
    /// The last epoch an ejected signer may not register for (zero: never ejected).
    function ejectedUntil(address account) external view returns (uint256);
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
    /// How an anchored payload's fee was paid out: `perSigner` to each of the
    /// `signers` whose bits are set (the first `fee mod signers` of them, in bitmap
    /// order, one wei more), `toPool` to the sampling reward pool.
    event FeeSplit(bytes32 indexed dataRoot, uint256 signers, uint256 perSigner, uint256 toPool);
    event RewardsClaimed(address indexed account, uint256 amount);
    event RewardPoolFunded(address indexed from, uint256 amount);

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
    error NothingToClaim();

    function deposit() external payable;
    function withdraw(uint256 amount) external;
    function balanceOf(address account) external view returns (uint256);
    /// Fee per blob, charged from the submitter's deposit when anchored.
    function blobFee() external view returns (uint256);
    /// Verifies and anchors each submission; an already anchored
    /// `(dataRoot, epoch, quorumId)` is skipped (no event, no fee), so retries are safe.
    function submitVerifiedCommitRoots(CommitRootSubmission[] calldata submissions) external;
    function commitmentExists(bytes32 dataRoot, uint256 epoch, uint256 quorumId) external view returns (bool);
    /// Pays the caller the rewards it has earned (fee shares and lottery wins).
    function claimRewards() external;
    /// Rewards earned and not yet claimed.
    function rewardsOf(address account) external view returns (uint256);
    /// What the sampling reward pool holds.
    function rewardPool() external view returns (uint256);
    /// Adds the value sent to the sampling reward pool (an emission anyone may fund).
    function fundRewardPool() external payable;
    /// The share of each fee (basis points) that funds the pool, and the reward per
    /// lottery win (paid while the pool holds it).
    function rewardParams() external view returns (uint256 poolShareBps, uint256 sampleReward);
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
    /// A win's reward, credited in the entrance module (`rewardsOf`) from its pool.
    event SampleRewarded(uint256 indexed round, address indexed custodian, uint256 amount);

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
    /// Wins by other custodians on payloads `signer` signed since its own last win (an
    /// ejection counter: `ejectAfterWins` of them eject it).
    function droughtOf(address signer) external view returns (uint256);
    /// The ejection rule: `afterWins` wins of others with none of its own eject a signer
    /// for `epochs` epochs and slash `slashBps` of its stake to the reward pool.
    function ejectionParams() external view returns (uint256 afterWins, uint256 epochs, uint256 slashBps);
}
