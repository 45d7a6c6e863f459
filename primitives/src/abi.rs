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
/// Compute ledger module (`0x…1005`): 0G's `LedgerManager` ABI.
pub const LEDGER_ADDRESS: Address = address!("0x0000000000000000000000000000000000001005");
/// Compute inference-serving module (`0x…1006`): 0G's `InferenceServing` ABI.
pub const SERVING_ADDRESS: Address = address!("0x0000000000000000000000000000000000001006");
/// The name under which the ledger knows the inference-serving module.
pub const INFERENCE_SERVICE_NAME: &str = "inference-v1.0";

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
        /// A submission on behalf of an account other than the caller (it would act as
        /// that account, a KV stream's admin or writer say).
        error NotSubmitter(address submitter, address caller);

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

sol! {
    /// 0G's compute ledger: a user's main account, funding per-provider sub-accounts in
    /// the serving module. Amounts in wei ("neuron").
    #[derive(Debug, PartialEq, Eq)]
    interface ILedgerManager {
        struct Ledger { address user; uint256 availableBalance; uint256 totalBalance; string additionalInfo; }
        struct ServiceInfo {
            address serviceAddress; address serviceContract; string serviceType; string version;
            string fullName; string description; bool isRecommended; uint256 registeredAt;
        }

        event LedgerInfoUpdated(address indexed user, string additionalInfo);
        event FundSpent(address indexed user, address indexed service, uint256 amount);

        error LedgerNotExists(address user);
        error LedgerExists(address user);
        error InsufficientBalance(address user);
        error TooManyProvidersForService(uint256 current, uint256 max);
        error ServiceNotFound(address service);
        error MinimumDepositRequired(uint256 provided, uint256 required);
        error AdditionalInfoTooLong(uint256 length, uint256 max);
        error ZeroAmountNotAllowed();
        error ZeroAddressNotAllowed();
        error InsufficientAvailableBalance(uint256 available, uint256 required);
        error TransferFailed();
        error MustWithdrawAllFundsFirst(uint256 totalBalance);
        error TooManyProviders(uint256 count, uint256 max);
        error DirectDepositsDisabled();

        function MIN_ACCOUNT_BALANCE() external view returns (uint256);
        function MIN_TRANSFER_AMOUNT() external view returns (uint256);
        function addLedger(string additionalInfo) external payable returns (uint256, uint256);
        function depositFund() external payable;
        function depositFundFor(address recipient) external payable;
        function updateAdditionalInfo(string additionalInfo) external;
        function refund(uint256 amount) external;
        function transferFund(address provider, string serviceName, uint256 amount) external;
        function retrieveFund(address[] providers, string serviceName) external;
        function deleteLedger() external;
        function getLedger(address user) external view returns (Ledger memory);
        function getLedgerProviders(address user, string serviceName) external view returns (address[] memory);
        function getServiceInfo(address serviceAddress) external view returns (ServiceInfo memory);
        function getServiceAddressByName(string serviceName) external view returns (address);
        function getAllActiveServices() external view returns (ServiceInfo[] memory);
    }

    /// 0G's inference serving: provider services, per-(user, provider) sub-accounts with
    /// two-step refunds, and fee settlement signed by the provider's TEE key (EIP-712).
    #[derive(Debug, PartialEq, Eq)]
    interface IInferenceServing {
        struct ServiceParams {
            string serviceType; string url; string model; string verifiability;
            uint256 inputPrice; uint256 outputPrice; string additionalInfo; address teeSignerAddress;
        }
        struct Service {
            address provider; string serviceType; string url; uint256 inputPrice; uint256 outputPrice;
            uint256 updatedAt; string model; string verifiability; string additionalInfo;
            address teeSignerAddress; bool teeSignerAcknowledged;
        }
        struct Refund { uint256 index; uint256 amount; uint256 createdAt; bool processed; }
        struct Account {
            address user; address provider; uint256 nonce; uint256 balance; uint256 pendingRefund;
            Refund[] refunds; string additionalInfo; bool acknowledged; uint256 validRefundsLength;
            uint256 generation; uint256 revokedBitmap;
        }
        struct TEESettlementData { address user; address provider; uint256 totalFee; bytes32 requestsHash; uint256 nonce; bytes signature; }

        event BalanceUpdated(address indexed user, address indexed provider, uint256 amount, uint256 pendingRefund);
        event RefundRequested(address indexed user, address indexed provider, uint256 indexed index, uint256 timestamp);
        event ServiceUpdated(address indexed service, string serviceType, string url, uint256 inputPrice, uint256 outputPrice, uint256 updatedAt, string model, string verifiability);
        event ServiceRemoved(address indexed service);
        /// `status`: 0 success, 1 partial, 2 provider mismatch, 3 no TEE signer, 4 invalid nonce, 5 invalid signature.
        event TEESettlementResult(address indexed user, uint8 status, uint256 unsettledAmount);
        event ProviderTEESignerAcknowledged(address indexed provider, address indexed teeSignerAddress, bool acknowledged);
        event ProviderStaked(address indexed provider, uint256 amount);
        event ProviderStakeReturned(address indexed provider, uint256 amount);
        event TokenRevoked(address indexed user, address indexed provider, uint8 tokenId);
        event TokensRevoked(address indexed user, address indexed provider, uint8[] tokenIds);
        event AllTokensRevoked(address indexed user, address indexed provider, uint256 newGeneration);
        event AccountDeleted(address indexed user, address indexed provider, uint256 refundedAmount);

        error AccountNotExists(address user, address provider);
        error ServiceNotExist(address provider);
        error AdditionalInfoTooLong();
        error LimitTooLarge(uint256 limit, uint256 max);
        error InvalidAddress(address addr);
        error CannotAddStakeWhenUpdating();
        error InsufficientStake(uint256 provided, uint256 required);
        error NoSettlementsProvided();
        error TooManySettlements(uint256 count, uint256 max);
        error TooManyRefunds(address user, address provider);
        error CannotRevokeWithNonZeroBalance(address user, address provider, uint256 balance);
        error ProviderCannotBeUser();
        error DirectDepositsDisabled();
        error CallerNotOwner(address caller);
        error TransferFailed();

        function lockTime() external view returns (uint256);
        function ledgerAddress() external view returns (address);
        function owner() external view returns (address);
        function addOrUpdateService(ServiceParams calldata params) external payable;
        function removeService() external;
        function getService(address provider) external view returns (Service memory);
        function getAllServices(uint256 offset, uint256 limit) external view returns (Service[] memory services, uint256 total);
        function serviceExists(address provider) external view returns (bool);
        function acknowledgeTEESignerByOwner(address provider) external;
        function revokeTEESignerAcknowledgement(address provider) external;
        function acknowledgeTEESigner(address provider, bool acknowledged) external;
        function getAccount(address user, address provider) external view returns (Account memory);
        function accountExists(address user, address provider) external view returns (bool);
        function getPendingRefund(address user, address provider) external view returns (uint256);
        function revokeToken(address provider, uint8 tokenId) external;
        function revokeTokens(address provider, uint8[] tokenIds) external;
        function revokeAllTokens(address provider) external;
        function isTokenRevoked(address user, address provider, uint8 tokenId) external view returns (bool);
        function settleFeesWithTEE(TEESettlementData[] calldata settlements) external returns (uint8[] memory statuses);
        function previewSettlementResults(TEESettlementData[] calldata settlements) external view
            returns (address[] memory failedUsers, uint8[] memory failureReasons, address[] memory partialUsers, uint256[] memory partialAmounts);
    }
}

/// EIP-712 of 0G's TEE settlement: domain `"0G Inference Serving"` version `"1"`, the
/// chain id and the serving contract; struct
/// `TEESettlement(bytes32 requestsHash,uint256 nonce,address provider,address user,uint256 totalFee)`.
/// Returns the digest the TEE key signs (no personal-sign prefix).
pub fn tee_settlement_digest(
    chain_id: u64,
    serving: Address,
    requests_hash: alloy_primitives::B256,
    nonce: alloy_primitives::U256,
    provider: Address,
    user: Address,
    total_fee: alloy_primitives::U256,
) -> alloy_primitives::B256 {
    use alloy_primitives::{U256, keccak256};
    let domain_type = keccak256(
        "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)",
    );
    let mut d = Vec::with_capacity(160);
    d.extend_from_slice(domain_type.as_slice());
    d.extend_from_slice(keccak256("0G Inference Serving").as_slice());
    d.extend_from_slice(keccak256("1").as_slice());
    d.extend_from_slice(&U256::from(chain_id).to_be_bytes::<32>());
    d.extend_from_slice(serving.into_word().as_slice());
    let domain = keccak256(&d);
    let struct_type = keccak256(
        "TEESettlement(bytes32 requestsHash,uint256 nonce,address provider,address user,uint256 totalFee)",
    );
    let mut st = Vec::with_capacity(192);
    st.extend_from_slice(struct_type.as_slice());
    st.extend_from_slice(requests_hash.as_slice());
    st.extend_from_slice(&nonce.to_be_bytes::<32>());
    st.extend_from_slice(provider.into_word().as_slice());
    st.extend_from_slice(user.into_word().as_slice());
    st.extend_from_slice(&total_fee.to_be_bytes::<32>());
    let hash = keccak256(&st);
    let mut m = Vec::with_capacity(66);
    m.extend_from_slice(b"\x19\x01");
    m.extend_from_slice(domain.as_slice());
    m.extend_from_slice(hash.as_slice());
    keccak256(&m)
}

/// The storage slot of the DA entrance module (at [`DA_ENTRANCE_ADDRESS`]) that holds
/// the anchor record of `data_root` for `(epoch, quorum)` ([`AnchorRecord`]; zero if it
/// was not anchored): `keccak256("anchor" ‖ data_root ‖ u256(epoch) ‖ u256(quorum))`. What a light
/// client proves with `eth_getProof` to learn that a payload is anchored.
pub fn entrance_anchor_slot(
    data_root: &[u8; 32],
    epoch: u64,
    quorum: u64,
) -> alloy_primitives::B256 {
    let mut buf = Vec::with_capacity(6 + 32 * 3);
    buf.extend_from_slice(b"anchor");
    buf.extend_from_slice(data_root);
    buf.extend_from_slice(&alloy_primitives::U256::from(epoch).to_be_bytes::<32>());
    buf.extend_from_slice(&alloy_primitives::U256::from(quorum).to_be_bytes::<32>());
    alloy_primitives::keccak256(buf)
}

/// An anchor as both entrance modules store it, in one word: the block it was anchored
/// at in the low 64 bits, and above them the bitmap of the quorum seats that signed it
/// (bit `64 + k`: member `k`), which the sampling lottery's ejection rule reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AnchorRecord {
    /// The block it was anchored at (non-zero).
    pub block: u64,
    /// Bit `k`: quorum member `k` signed.
    pub signers: alloy_primitives::U256,
}

impl AnchorRecord {
    /// The stored word.
    pub fn to_word(&self) -> alloy_primitives::U256 {
        alloy_primitives::U256::from(self.block) | (self.signers << 64)
    }

    /// The record a stored word holds (`None`: zero, not anchored).
    pub fn from_word(w: alloy_primitives::U256) -> Option<Self> {
        (!w.is_zero()).then(|| Self {
            block: (w & alloy_primitives::U256::from(u64::MAX)).to::<u64>(),
            signers: w >> 64,
        })
    }
}

/// The storage slot of `DAEntrance.sol`'s `_anchoredAt` mapping (declaration order:
/// `_deposit` 0, `_anchoredAt` 1; constants and immutables take no slot).
pub const SOLIDITY_ANCHORED_AT_SLOT: u64 = 1;

/// The storage slot of the portable `DAEntrance.sol` that holds the [`AnchorRecord`] of
/// `data_root` for `(epoch, quorum)`: the mapping entry
/// `keccak256(abi.encode(keccak256(abi.encode(data_root, epoch, quorum)), 1))`.
pub fn solidity_anchor_slot(
    data_root: &[u8; 32],
    epoch: u64,
    quorum: u64,
) -> alloy_primitives::B256 {
    let mut inner = Vec::with_capacity(96);
    inner.extend_from_slice(data_root);
    inner.extend_from_slice(&alloy_primitives::U256::from(epoch).to_be_bytes::<32>());
    inner.extend_from_slice(&alloy_primitives::U256::from(quorum).to_be_bytes::<32>());
    let key = alloy_primitives::keccak256(inner);
    let mut outer = Vec::with_capacity(64);
    outer.extend_from_slice(key.as_slice());
    outer.extend_from_slice(
        &alloy_primitives::U256::from(SOLIDITY_ANCHORED_AT_SLOT).to_be_bytes::<32>(),
    );
    alloy_primitives::keccak256(outer)
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

    #[test]
    fn tee_settlement_digest_is_eip712() {
        use alloy_primitives::{B256, U256};
        use alloy_sol_types::{SolStruct, eip712_domain};
        sol! {
            struct TEESettlement { bytes32 requestsHash; uint256 nonce; address provider; address user; uint256 totalFee; }
        }
        let (provider, user) = (Address::repeat_byte(0xaa), Address::repeat_byte(0xbb));
        let s = TEESettlement {
            requestsHash: B256::repeat_byte(7),
            nonce: U256::from(42),
            provider,
            user,
            totalFee: U256::from(1_000_000),
        };
        let domain = eip712_domain! {
            name: "0G Inference Serving",
            version: "1",
            chain_id: 16602,
            verifying_contract: SERVING_ADDRESS,
        };
        assert_eq!(
            tee_settlement_digest(
                16602,
                SERVING_ADDRESS,
                s.requestsHash,
                s.nonce,
                provider,
                user,
                s.totalFee
            ),
            s.eip712_signing_hash(&domain)
        );
        assert_eq!(
            IInferenceServing::settleFeesWithTEECall::SIGNATURE,
            "settleFeesWithTEE((address,address,uint256,bytes32,uint256,bytes)[])"
        );
        assert_eq!(
            IInferenceServing::addOrUpdateServiceCall::SIGNATURE,
            "addOrUpdateService((string,string,string,string,uint256,uint256,string,address))"
        );
    }
}
