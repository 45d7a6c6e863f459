// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.30;

import {IDASampling} from "./IDAModules.sol";
import {DASigners} from "./DASigners.sol";
import {DAEntrance} from "./DAEntrance.sol";
import {KZGCell} from "./KZGCell.sol";

/// DA sampling, as the bundled chain's `0x…1002` precompile: a PoDAS-style lottery over
/// the cells DA nodes keep (rounds of `period` blocks seeded by the block hash before
/// them; a custodian's cell wins when `keccak256(abi.encode(seed, dataRoot, column,
/// blobIndex)) <= target`; the target moves toward `targetWins` per round). Same ABI,
/// events and revert data; the cell's KZG proof is checked with the EIP-2537 precompiles.
contract DASampling is IDASampling {
    struct Config {
        uint256 period;
        uint256 windowEpochs;
        uint256 targetWins;
        uint256 maxWins;
        uint256 initialTarget;
        uint256 ejectAfterWins;
        uint256 ejectEpochs;
        uint256 ejectSlashBps;
    }

    /// Bytes of payload one blob carries (31 usable bytes × 4096 elements).
    uint256 private constant STREAM_BYTES_PER_BLOB = 126_976;
    /// The payload header's length.
    uint256 private constant PAYLOAD_HEADER_LEN = 5;

    DASigners public immutable signers;
    DAEntrance public immutable entrance;
    /// The data contract holding the KZG setup points.
    address public immutable kzgSetup;
    uint256 private immutable PERIOD;
    uint256 private immutable WINDOW_EPOCHS;
    uint256 private immutable TARGET_WINS;
    uint256 private immutable MAX_WINS;
    uint256 private immutable INITIAL_TARGET;
    uint256 private immutable EPOCH_BLOCKS;
    uint256 private immutable EJECT_AFTER_WINS;
    uint256 private immutable EJECT_EPOCHS;
    uint256 private immutable EJECT_SLASH_BPS;

    uint256 private _last; // last touched round + 1 (0 = none)
    uint256 private _target; // its target
    mapping(uint256 => uint256) private _roundWins;
    mapping(address => uint256) private _winsOf;
    mapping(bytes32 => bool) private _done;
    /// Wins of others on payloads the signer signed since its own last win, + 1 once
    /// counted (a reset rewrites a non-zero word).
    mapping(address => uint256) private _drought;

    constructor(DASigners signers_, DAEntrance entrance_, Config memory c, bytes memory setup) {
        require(
            c.period > 0 && c.targetWins > 0 && c.initialTarget > 0 && c.ejectAfterWins > 0 && c.ejectEpochs > 0,
            "DASampling: zero parameter"
        );
        require(c.ejectSlashBps <= 10_000, "DASampling: slash above 100%");
        signers = signers_;
        entrance = entrance_;
        PERIOD = c.period;
        WINDOW_EPOCHS = c.windowEpochs;
        TARGET_WINS = c.targetWins;
        MAX_WINS = c.maxWins;
        INITIAL_TARGET = c.initialTarget;
        EJECT_AFTER_WINS = c.ejectAfterWins;
        EJECT_EPOCHS = c.ejectEpochs;
        EJECT_SLASH_BPS = c.ejectSlashBps;
        EPOCH_BLOCKS = signers_.params().epochBlocks;
        kzgSetup = KZGCell.deploySetup(setup);
        entrance_.bindSampling();
        signers_.bindSampling();
    }

    /// Slashed stake passes through on its way to the reward pool.
    receive() external payable {
        require(msg.sender == address(signers), "DASampling: not the signers contract");
    }

    function droughtOf(address signer) external view returns (uint256) {
        uint256 d = _drought[signer];
        return d == 0 ? 0 : d - 1;
    }

    function ejectionParams() external view returns (uint256 afterWins, uint256 epochs, uint256 slashBps) {
        return (EJECT_AFTER_WINS, EJECT_EPOCHS, EJECT_SLASH_BPS);
    }

    function currentRound() external view returns (uint256 round, bytes32 seed, uint256 target, uint256 startBlock) {
        (round, seed, startBlock) = _round();
        (target,) = _targetFor(round);
    }

    function samplePeriod() external view returns (uint256) {
        return PERIOD;
    }

    function sampleParams()
        external
        view
        returns (uint256 period, uint256 windowEpochs, uint256 targetWins, uint256 maxWins)
    {
        return (PERIOD, WINDOW_EPOCHS, TARGET_WINS, MAX_WINS);
    }

    function winsOf(address custodian) external view returns (uint256) {
        return _winsOf[custodian];
    }

    function roundWins(uint256 round) external view returns (uint256) {
        return _roundWins[round];
    }

    function submitSamplingResponse(SampleResponse calldata r) external {
        (uint256 round, bytes32 seed, uint256 startBlock) = _round();
        if (r.round != round) revert StaleRound(r.round, round);
        // Roll the stored round state forward to this round.
        (uint256 target, bool roll) = _targetFor(round);
        if (roll) {
            _last = round + 1;
            _target = target;
        }
        uint256 wins = _roundWins[round];
        if (wins >= MAX_WINS) revert RoundFull(r.round);
        if (r.epoch > type(uint64).max || r.quorumId > type(uint64).max) {
            revert NotAnchored(r.dataRoot, r.epoch, r.quorumId);
        }
        uint256 record = entrance.anchorRecord(r.dataRoot, r.epoch, r.quorumId);
        uint256 anchoredAt = record & type(uint64).max;
        if (record == 0) revert NotAnchored(r.dataRoot, r.epoch, r.quorumId);
        if (anchoredAt >= startBlock || r.epoch + WINDOW_EPOCHS < block.number / EPOCH_BLOCKS) {
            revert NotEligible(r.dataRoot, r.epoch, r.quorumId);
        }
        if (r.column >= 128) revert InvalidSampleProof();
        address[] memory members = signers.getQuorum(r.epoch, r.quorumId);
        address custodian = members[r.column % members.length];
        if (msg.sender != custodian) revert WrongCustodian(custodian);
        uint256 quality = uint256(keccak256(abi.encode(seed, r.dataRoot, uint256(r.column), uint256(r.blobIndex))));
        if (quality > target) revert QualityAboveTarget(quality, target);
        bytes32 done = keccak256(abi.encode(round, r.dataRoot, r.epoch, r.quorumId, r.column, r.blobIndex));
        if (_done[done]) revert DuplicateSample();
        if (!_included(r)) revert InvalidInclusionProof();
        if (!KZGCell.verify(kzgSetup, r.commitment, r.column, r.cell, r.proof)) revert InvalidSampleProof();
        _done[done] = true;
        _roundWins[round] = wins + 1;
        _winsOf[custodian] += 1;
        emit SampleWin(r.round, custodian, r.dataRoot, r.epoch, r.quorumId, r.column, r.blobIndex, quality);
        uint256 reward = entrance.payWin(custodian);
        if (reward != 0) emit SampleRewarded(r.round, custodian, reward);
        _countDroughts(members, custodian, record >> 64);
    }

    /// The ejection counters after a win of `custodian` on a payload the members set in
    /// `bits` signed: its drought resets, each other signer's grows, and a signer whose
    /// drought reaches `EJECT_AFTER_WINS` is ejected (already ejected ones are skipped).
    function _countDroughts(address[] memory members, address custodian, uint256 bits) private {
        _drought[custodian] = 1;
        uint256 next = block.number / EPOCH_BLOCKS + 1;
        for (uint256 k = 0; k < members.length; k++) {
            address m = members[k];
            if (m == custodian || (bits >> k) & 1 == 0 || signers.ejectedUntil(m) >= next) continue;
            uint256 d = _drought[m];
            if (d == 0) d = 1;
            if (d >= EJECT_AFTER_WINS) {
                _drought[m] = 1;
                uint256 slashed = signers.eject(m, EJECT_EPOCHS, EJECT_SLASH_BPS);
                if (slashed != 0) entrance.fundRewardPool{value: slashed}();
            } else {
                _drought[m] = d + 1;
            }
        }
    }

    /// The commitment is blob `blobIndex` of the payload behind the data root.
    function _included(SampleResponse calldata r) private pure returns (bool) {
        if (r.commitment.length != 48) return false;
        uint256 blobs = (PAYLOAD_HEADER_LEN + r.payloadLen + STREAM_BYTES_PER_BLOB - 1) / STREAM_BYTES_PER_BLOB;
        uint256 depth = 0;
        while ((1 << depth) < blobs) depth++;
        if (r.blobIndex >= blobs || r.merkleProof.length != depth) return false;
        bytes32 acc = keccak256(r.commitment);
        for (uint256 d = 0; d < depth; d++) {
            bytes32 s = r.merkleProof[d];
            acc = (r.blobIndex >> d) & 1 == 0 ? keccak256(abi.encodePacked(acc, s)) : keccak256(abi.encodePacked(s, acc));
        }
        return keccak256(abi.encodePacked(uint8(0), r.payloadLen, acc)) == r.dataRoot;
    }

    function _round() private view returns (uint256 round, bytes32 seed, uint256 startBlock) {
        round = block.number / PERIOD;
        startBlock = round * PERIOD;
        uint256 seedBlock = (startBlock > 0 ? startBlock : 1) - 1;
        seed = keccak256(abi.encodePacked(blockhash(seedBlock), round));
    }

    /// The target of `round` and whether the stored state must be rolled forward to it.
    function _targetFor(uint256 round) private view returns (uint256, bool) {
        uint256 last = _last;
        if (last == 0) return (INITIAL_TARGET, true);
        last -= 1;
        if (last == round) return (_target, false);
        return (adjust(_target, _roundWins[last], TARGET_WINS, round - last), true);
    }

    /// The target `rounds` rounds after one with target `target` and `wins` wins: toward
    /// `wanted` wins (clamped to ×½…×2), doubled for each round without submissions.
    function adjust(uint256 target, uint256 wins, uint256 wanted, uint256 rounds) public pure returns (uint256 next) {
        uint256 lo = target / 2;
        uint256 hi = _satMul(target, 2);
        if (wins == 0) {
            next = hi;
        } else {
            next = _satMul(target / wins, wanted);
            if (next < lo) next = lo;
            if (next > hi) next = hi;
        }
        uint256 extra = rounds < 257 ? rounds : 257;
        for (uint256 i = 1; i < extra; i++) {
            next = _satMul(next, 2);
        }
        if (next == 0) next = 1;
    }

    function _satMul(uint256 a, uint256 b) private pure returns (uint256) {
        unchecked {
            if (a == 0) return 0;
            uint256 c = a * b;
            return c / a == b ? c : type(uint256).max;
        }
    }
}
