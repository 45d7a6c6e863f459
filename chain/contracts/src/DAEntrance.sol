// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.30;

import {IDAEntrance} from "./IDAModules.sol";
import {BLS12381} from "./BLS12381.sol";
import {DASigners} from "./DASigners.sol";

/// DA entrance, as the bundled chain's `0x…1001` precompile: disperser deposits, blob fees
/// and anchoring of quorum-certified commitments (aggregate BLS signature over the
/// attestation, checked against the aggregate of the bitmap's members' keys). Same ABI,
/// events and revert data.
contract DAEntrance is IDAEntrance {
    bytes private constant DST_SIGNATURE = "BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_";
    /// Most blobs one commitment may declare (a 4 GiB payload).
    uint256 private constant MAX_BLOB_COUNT = 1 << 16;

    DASigners public immutable signers;
    uint256 private immutable BLOB_FEE;
    uint64 private immutable QUORUM_THRESHOLD;
    /// Anchors of quorums more than this many epochs behind the current one are refused.
    uint64 private immutable ANCHOR_WINDOW;

    mapping(address => uint256) private _deposit;
    /// `keccak256(abi.encode(dataRoot, epoch, quorumId))` → the anchor record: the block
    /// anchored at (non-zero) in the low 64 bits, bit `64 + k` set if member `k` signed.
    mapping(bytes32 => uint256) private _anchoredAt;
    /// Blob fees charged so far.
    uint256 public feesCollected;
    /// Rewards earned and not claimed (fee shares and lottery wins).
    mapping(address => uint256) private _rewards;
    /// The sampling reward pool.
    uint256 private _pool;
    /// The sampling contract, the one caller that may pay lottery wins from the pool.
    address public sampling;

    /// Share of each fee (basis points) that funds the sampling reward pool.
    uint256 private immutable POOL_SHARE_BPS;
    /// Reward per lottery win.
    uint256 private immutable SAMPLE_REWARD;
    /// Who deployed this contract: only a sampling contract it deploys may bind.
    address private immutable DEPLOYER;

    constructor(DASigners signers_, uint256 blobFee_, uint64 anchorWindow_, uint256 poolShareBps_, uint256 sampleReward_) {
        require(poolShareBps_ <= 10_000, "DAEntrance: pool share above 100%");
        signers = signers_;
        BLOB_FEE = blobFee_;
        ANCHOR_WINDOW = anchorWindow_;
        QUORUM_THRESHOLD = signers_.params().quorumThreshold;
        POOL_SHARE_BPS = poolShareBps_;
        SAMPLE_REWARD = sampleReward_;
        DEPLOYER = msg.sender;
    }

    /// For the sampling contract's constructor (not part of the precompile ABI): binds it
    /// as the contract that pays lottery wins; once, and only in a deployment by this
    /// contract's deployer.
    function bindSampling() external {
        require(sampling == address(0) && tx.origin == DEPLOYER, "DAEntrance: cannot bind");
        sampling = msg.sender;
    }

    /// For the sampling contract (not part of the precompile ABI): pays one win's reward
    /// to `custodian` from the pool, as much of `SAMPLE_REWARD` as it holds; the amount.
    function payWin(address custodian) external returns (uint256 reward) {
        require(msg.sender == sampling, "DAEntrance: not the sampling contract");
        reward = SAMPLE_REWARD < _pool ? SAMPLE_REWARD : _pool;
        if (reward != 0) {
            _pool -= reward;
            _rewards[custodian] += reward;
        }
    }

    function claimRewards() external {
        uint256 amount = _rewards[msg.sender];
        if (amount == 0) revert NothingToClaim();
        _rewards[msg.sender] = 0;
        (bool ok,) = msg.sender.call{value: amount}("");
        require(ok, "DAEntrance: transfer failed");
        emit RewardsClaimed(msg.sender, amount);
    }

    function rewardsOf(address account) external view returns (uint256) {
        return _rewards[account];
    }

    function rewardPool() external view returns (uint256) {
        return _pool;
    }

    function fundRewardPool() external payable {
        if (msg.value == 0) revert ZeroAmount();
        _pool += msg.value;
        emit RewardPoolFunded(msg.sender, msg.value);
    }

    function rewardParams() external view returns (uint256 poolShareBps, uint256 sampleReward) {
        return (POOL_SHARE_BPS, SAMPLE_REWARD);
    }

    function deposit() external payable {
        if (msg.value == 0) revert ZeroAmount();
        _deposit[msg.sender] += msg.value;
        emit Deposited(msg.sender, msg.value);
    }

    function withdraw(uint256 amount) external {
        if (amount == 0) revert ZeroAmount();
        uint256 bal = _deposit[msg.sender];
        if (bal < amount) revert InsufficientDeposit(bal, amount);
        _deposit[msg.sender] = bal - amount;
        (bool ok,) = msg.sender.call{value: amount}("");
        require(ok, "DAEntrance: transfer failed");
        emit Withdrawn(msg.sender, amount);
    }

    function balanceOf(address account) external view returns (uint256) {
        return _deposit[account];
    }

    function blobFee() external view returns (uint256) {
        return BLOB_FEE;
    }

    function commitmentExists(bytes32 dataRoot, uint256 epoch, uint256 quorumId) external view returns (bool) {
        return _anchoredAt[_key(dataRoot, epoch, quorumId)] != 0;
    }

    /// For the sampling module (not part of the precompile ABI): a commitment's anchor
    /// record (block anchored at, signers' bitmap above bit 64), zero if it is not.
    function anchorRecord(bytes32 dataRoot, uint256 epoch, uint256 quorumId) external view returns (uint256) {
        return _anchoredAt[_key(dataRoot, epoch, quorumId)];
    }

    function submitVerifiedCommitRoots(CommitRootSubmission[] calldata submissions) external {
        for (uint256 i = 0; i < submissions.length; i++) {
            _submit(submissions[i]);
        }
    }

    function _key(bytes32 dataRoot, uint256 epoch, uint256 quorumId) private pure returns (bytes32) {
        return keccak256(abi.encode(dataRoot, epoch, quorumId));
    }

    function _submit(CommitRootSubmission calldata s) private {
        if (s.epoch > type(uint64).max || s.quorumId > type(uint64).max) revert UnknownQuorum(s.epoch, s.quorumId);
        if (s.blobCount == 0 || s.blobCount > MAX_BLOB_COUNT) revert InvalidBlobCount();
        bytes32 key = _key(s.dataRoot, s.epoch, s.quorumId);
        if (_anchoredAt[key] != 0) return; // already anchored: idempotent, no event, no fee
        // A quorum of an epoch that left the window no longer vouches for custody.
        uint256 current = signers.epochNumber();
        if (s.epoch + ANCHOR_WINDOW < current) revert StaleEpoch(s.epoch, current);
        // The first anchor of an epoch nobody formed forms it (stored once; later anchors
        // read `quorumSize` seats whatever the number of registrants).
        signers.ensureFormed(s.epoch);
        (bool exists, address[] memory members, bytes memory points) = signers.quorumKeys(s.epoch, s.quorumId);
        if (!exists) revert UnknownQuorum(s.epoch, s.quorumId);
        if (s.aggregateSignature.length != 96) revert InvalidAggregateSignature();
        // The bitmap: exactly ceil(n/8) bytes, no bit beyond the quorum.
        uint256 n = members.length;
        bytes calldata bitmap = s.signersBitmap;
        if (bitmap.length != (n + 7) / 8) revert InvalidSignerBitmap();
        uint256 signed;
        uint256 bits;
        bytes memory aggregate;
        address[] memory signedBy = new address[](n);
        for (uint256 i = 0; i < bitmap.length * 8; i++) {
            if ((uint8(bitmap[i / 8]) >> (i % 8)) & 1 == 0) continue;
            if (i >= n) revert InvalidSignerBitmap();
            signedBy[signed] = members[i];
            signed++;
            bits |= 1 << i;
            bytes memory key_ = _slice128(points, i);
            aggregate = aggregate.length == 0 ? key_ : BLS12381.g1Add(aggregate, key_);
        }
        uint256 threshold = QUORUM_THRESHOLD;
        if (signed < (threshold > 0 ? threshold : 1)) revert BelowThreshold(signed, threshold);
        (bytes memory sig, bool sigOk,) = BLS12381.decompressG2(s.aggregateSignature);
        bytes32 message =
            keccak256(abi.encode("zg-da/attest/v1", block.chainid, s.dataRoot, s.epoch, s.quorumId, s.blobCount));
        if (!sigOk || !BLS12381.verify(aggregate, message, DST_SIGNATURE, sig)) revert InvalidAggregateSignature();
        uint256 fee = BLOB_FEE * s.blobCount;
        uint256 bal = _deposit[msg.sender];
        if (bal < fee) revert InsufficientDeposit(bal, fee);
        _deposit[msg.sender] = bal - fee;
        feesCollected += fee;
        _anchoredAt[key] = (block.number > 0 ? block.number : 1) | (bits << 64);
        // The fee: a share to the sampling pool, the rest to the signers, to the last wei.
        uint256 toPool = fee * POOL_SHARE_BPS / 10_000;
        uint256 rest = fee - toPool;
        uint256 per = rest / signed;
        uint256 remainder = rest % signed;
        for (uint256 i = 0; i < signed; i++) {
            _rewards[signedBy[i]] += i < remainder ? per + 1 : per;
        }
        if (toPool != 0) _pool += toPool;
        emit ErasureCommitmentVerified(s.dataRoot, s.epoch, s.quorumId);
        emit BlobFeeCharged(msg.sender, s.dataRoot, fee);
        emit FeeSplit(s.dataRoot, signed, per, toPool);
    }

    function _slice128(bytes memory all, uint256 i) private pure returns (bytes memory out) {
        out = new bytes(128);
        assembly ("memory-safe") {
            let src := add(add(all, 32), mul(i, 128))
            let dst := add(out, 32)
            mstore(dst, mload(src))
            mstore(add(dst, 32), mload(add(src, 32)))
            mstore(add(dst, 64), mload(add(src, 64)))
            mstore(add(dst, 96), mload(add(src, 96)))
        }
    }
}
