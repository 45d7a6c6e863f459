// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.30;

import {IDASigners} from "./IDAModules.sol";
import {BLS12381} from "./BLS12381.sol";
import {Raw} from "./Raw.sol";

/// DA signers, as the bundled chain's `0x…1000` precompile: registration with a proof of
/// possession and bonded stake, sockets, unbonding, per-epoch registration weighted by
/// stake (the heaviest `maxRegistrants` kept), and quorums formed once from the hash of
/// the block that closed registration (`zg_primitives::committee`): registrants ordered
/// by `keccak256(seed ‖ epoch ‖ signer) / weight`, then address, cut into runs of
/// `quorumSize`, at most `maxQuorums`. Same ABI, events and revert data.
contract DASigners is IDASigners {
    bytes private constant DST_SIGNATURE = "BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_";
    bytes private constant DST_POP = "BLS_POP_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_";
    uint256 private constant MAX_SOCKET_LEN = 512;
    /// The largest `maxRegistrants` (formation reads every registrant once an epoch).
    uint256 private constant MAX_REGISTRANTS_LIMIT = 4096;

    uint64 private immutable EPOCH_BLOCKS;
    uint64 private immutable QUORUM_SIZE;
    uint64 private immutable QUORUM_THRESHOLD;
    uint64 private immutable MAX_QUORUMS;
    uint256 private immutable MIN_STAKE;
    uint256 private immutable STAKE_PER_BALLOT;
    uint64 private immutable MAX_BALLOTS;
    uint64 private immutable UNBONDING_EPOCHS;
    uint64 private immutable MAX_REGISTRANTS;

    mapping(address => bytes) private _pubkey; // compressed, as registered (48 bytes)
    mapping(address => bytes) private _point; // uncompressed, EIP-2537 (128 bytes)
    mapping(address => string) private _socket;
    mapping(bytes32 => address) private _keyOwner;
    address[] private _signers;
    mapping(address => uint256) private _bonded;
    mapping(address => uint256) private _unbonding;
    mapping(address => uint256) private _release;
    /// Registrants per epoch, each `weight << 160 | address`.
    mapping(uint256 => uint256[]) private _registrants;
    /// A registrant's index in the epoch's list + 1 (zero: not registered).
    mapping(uint256 => mapping(address => uint256)) private _regIndex;
    /// Quorums + 1 once formed.
    mapping(uint256 => uint256) private _formed;
    mapping(uint256 => bytes32) private _seed;
    mapping(uint256 => address[]) private _seats;
    /// The last epoch an ejected signer may not register for.
    mapping(address => uint256) private _ejectedUntil;
    /// The sampling contract, the one caller that may eject.
    address public sampling;
    /// Who deployed this contract: only a sampling contract it deploys may bind.
    address private immutable DEPLOYER;

    constructor(Params memory p, StakeParams memory s) {
        require(p.epochBlocks > 0 && p.quorumSize > 0 && p.maxQuorums > 0, "DASigners: zero parameter");
        require(p.quorumThreshold <= p.quorumSize, "DASigners: threshold above quorum size");
        require(
            s.stakePerBallot > 0 && s.minStake >= s.stakePerBallot && s.maxBallots > 0,
            "DASigners: stake parameters"
        );
        require(
            s.maxRegistrants >= p.quorumSize && s.maxRegistrants <= MAX_REGISTRANTS_LIMIT,
            "DASigners: maxRegistrants out of range"
        );
        EPOCH_BLOCKS = p.epochBlocks;
        QUORUM_SIZE = p.quorumSize;
        QUORUM_THRESHOLD = p.quorumThreshold;
        MAX_QUORUMS = p.maxQuorums;
        MIN_STAKE = s.minStake;
        STAKE_PER_BALLOT = s.stakePerBallot;
        MAX_BALLOTS = s.maxBallots;
        UNBONDING_EPOCHS = s.unbondingEpochs;
        MAX_REGISTRANTS = s.maxRegistrants;
        DEPLOYER = msg.sender;
    }

    /// For the sampling contract's constructor (not part of the precompile ABI): binds it
    /// as the contract that ejects; once, and only in a deployment by this contract's
    /// deployer.
    function bindSampling() external {
        require(sampling == address(0) && tx.origin == DEPLOYER, "DASigners: cannot bind");
        sampling = msg.sender;
    }

    /// For the sampling contract (not part of the precompile ABI): ejects `signer` for
    /// `epochs` epochs after the current one, takes it out of the next epoch's
    /// registrants, and slashes `slashBps` of its stake (bonded first, then unbonding),
    /// sent to the caller for the reward pool; the amount slashed.
    function eject(address signer, uint256 epochs, uint256 slashBps) external returns (uint256 slashed) {
        require(msg.sender == sampling, "DASigners: not the sampling contract");
        uint256 current = epochNumber();
        uint256 until = current + epochs;
        _ejectedUntil[signer] = until;
        uint256 next = current + 1;
        uint256 reg = _regIndex[next][signer];
        if (reg != 0) {
            _regIndex[next][signer] = 0;
            _registrants[next][reg - 1] = uint256(uint160(signer)); // weight zero
        }
        uint256 bonded = _bonded[signer];
        uint256 unbonding = _unbonding[signer];
        slashed = (bonded + unbonding) * slashBps / 10_000;
        uint256 fromBonded = slashed < bonded ? slashed : bonded;
        if (fromBonded != 0) _bonded[signer] = bonded - fromBonded;
        if (slashed > fromBonded) _unbonding[signer] = unbonding - (slashed - fromBonded);
        emit SignerEjected(signer, until, slashed);
        if (slashed != 0) {
            (bool sent,) = msg.sender.call{value: slashed}("");
            require(sent, "DASigners: transfer failed");
        }
    }

    function ejectedUntil(address account) external view returns (uint256) {
        return _ejectedUntil[account];
    }

    function registerSigner(SignerDetail calldata signer, bytes calldata pop) external payable {
        if (signer.signer != msg.sender) revert SignerMismatch(msg.sender, signer.signer);
        (bytes memory point, bool ok, bool infinity) = BLS12381.decompressG1(signer.pubkey);
        if (!ok || infinity || !BLS12381.g1InSubgroup(point)) revert InvalidPublicKey();
        if (bytes(signer.socket).length > MAX_SOCKET_LEN) Raw.revertWith("module: socket too long");
        if (_point[signer.signer].length != 0) revert SignerAlreadyRegistered(signer.signer);
        // Possession first: whoever cannot prove the key learns nothing about its owner.
        (bytes memory sig, bool sigOk,) = BLS12381.decompressG2(pop);
        bytes32 message = keccak256(abi.encode("zg-da/pop/v1", block.chainid, signer.signer, signer.pubkey));
        if (!sigOk || !BLS12381.verify(point, message, DST_POP, sig)) revert InvalidProofOfPossession();
        bytes32 keyHash = keccak256(signer.pubkey);
        address owner = _keyOwner[keyHash];
        if (owner != address(0)) revert PublicKeyInUse(owner);
        if (msg.value < MIN_STAKE) revert InsufficientStake(msg.value, MIN_STAKE);
        _pubkey[signer.signer] = signer.pubkey;
        _point[signer.signer] = point;
        _socket[signer.signer] = signer.socket;
        _keyOwner[keyHash] = signer.signer;
        _signers.push(signer.signer);
        _bonded[signer.signer] = msg.value;
        emit NewSigner(signer.signer, signer.pubkey, signer.socket);
        emit StakeAdded(signer.signer, msg.value, msg.value);
    }

    function updateSocket(string calldata socket) external {
        if (_point[msg.sender].length == 0) revert NotASigner(msg.sender);
        if (bytes(socket).length > MAX_SOCKET_LEN) Raw.revertWith("module: socket too long");
        _socket[msg.sender] = socket;
        emit SocketUpdated(msg.sender, socket);
    }

    function registerNextEpoch(bytes calldata signature) external {
        bytes memory point = _point[msg.sender];
        if (point.length == 0) revert NotASigner(msg.sender);
        uint256 current = epochNumber();
        _ensureFormed(current);
        uint256 next = current + 1;
        uint256 until = _ejectedUntil[msg.sender];
        if (until >= next) revert Ejected(msg.sender, until);
        if (_regIndex[next][msg.sender] != 0) revert AlreadyRegisteredForEpoch(msg.sender, next);
        (bytes memory sig, bool ok,) = BLS12381.decompressG2(signature);
        bytes32 message = keccak256(abi.encode("zg-da/epoch/v1", block.chainid, msg.sender, next));
        if (!ok || !BLS12381.verify(point, message, DST_SIGNATURE, sig)) revert InvalidEpochSignature();
        uint256 weight = _weight(msg.sender);
        if (weight == 0) revert InsufficientStake(_bonded[msg.sender], MIN_STAKE);
        uint256 entry = (weight << 160) | uint256(uint160(msg.sender));
        uint256[] storage regs = _registrants[next];
        uint256 count = regs.length;
        uint256 index = count;
        if (count < MAX_REGISTRANTS) {
            regs.push(entry);
        } else {
            // Full: the newcomer takes the place of the lightest (the latest of equals).
            uint256 li;
            uint256 lw = type(uint256).max;
            for (uint256 i = 0; i < count; i++) {
                uint256 w = regs[i] >> 160;
                if (w <= lw) {
                    lw = w;
                    li = i;
                }
            }
            if (weight <= lw) revert RegistrationFull(next, weight, lw);
            address out = address(uint160(regs[li]));
            _regIndex[next][out] = 0;
            emit RegistrationDisplaced(out, next);
            regs[li] = entry;
            index = li;
        }
        _regIndex[next][msg.sender] = index + 1;
        emit EpochRegistered(msg.sender, next, weight);
    }

    function addStake() external payable {
        if (msg.value == 0) revert ZeroAmount();
        if (_point[msg.sender].length == 0) revert NotASigner(msg.sender);
        uint256 bonded = _bonded[msg.sender] + msg.value;
        _bonded[msg.sender] = bonded;
        emit StakeAdded(msg.sender, msg.value, bonded);
    }

    function unbond(uint256 amount) external {
        if (amount == 0) revert ZeroAmount();
        uint256 bonded = _bonded[msg.sender];
        if (bonded < amount) revert InsufficientStake(bonded, amount);
        uint256 left = bonded - amount;
        if (left != 0 && left < MIN_STAKE) revert InsufficientStake(left, MIN_STAKE);
        uint256 release = epochNumber() + UNBONDING_EPOCHS;
        _bonded[msg.sender] = left;
        _unbonding[msg.sender] += amount;
        _release[msg.sender] = release;
        emit UnbondingStarted(msg.sender, amount, release);
    }

    function withdrawStake() external {
        uint256 amount = _unbonding[msg.sender];
        if (amount == 0) revert NothingToWithdraw();
        uint256 release = _release[msg.sender];
        uint256 current = epochNumber();
        if (current < release) revert StillBonded(release, current);
        _unbonding[msg.sender] = 0;
        (bool sent,) = msg.sender.call{value: amount}("");
        require(sent, "DASigners: transfer failed");
        emit StakeWithdrawn(msg.sender, amount);
    }

    function formQuorums(uint256 epoch) external {
        Raw.requireU64(epoch);
        if (!_ensureFormed(epoch)) revert SeedUnavailable(epoch);
    }

    /// For the entrance module (not part of the precompile ABI): forms `epoch`'s quorums
    /// if nobody has; whether they exist (formed now or before).
    function ensureFormed(uint256 epoch) external returns (bool) {
        return _ensureFormed(epoch);
    }

    function epochNumber() public view returns (uint256) {
        return block.number / EPOCH_BLOCKS;
    }

    function quorumCount(uint256 epoch) public view returns (uint256 quorums) {
        Raw.requireU64(epoch);
        (, quorums,,) = _formation(epoch);
    }

    function getQuorum(uint256 epoch, uint256 quorumId) external view returns (address[] memory members) {
        Raw.requireU64(epoch);
        Raw.requireU64(quorumId);
        bool exists;
        (exists, members) = _members(epoch, quorumId);
        if (!exists) revert UnknownQuorum(epoch, quorumId);
    }

    function getSigner(address[] calldata accounts) external view returns (SignerDetail[] memory out) {
        out = new SignerDetail[](accounts.length);
        for (uint256 i = 0; i < accounts.length; i++) {
            address a = accounts[i];
            if (_point[a].length == 0) revert NotASigner(a);
            out[i] = SignerDetail(a, _socket[a], _pubkey[a]);
        }
    }

    function isSigner(address account) external view returns (bool) {
        return _point[account].length != 0;
    }

    function registeredForEpoch(address account, uint256 epoch) external view returns (bool) {
        Raw.requireU64(epoch);
        return _regIndex[epoch][account] != 0;
    }

    function quorumThreshold(uint256 epoch, uint256 quorumId) external view returns (uint256) {
        Raw.requireU64(epoch);
        Raw.requireU64(quorumId);
        if (quorumId >= quorumCount(epoch)) revert UnknownQuorum(epoch, quorumId);
        return QUORUM_THRESHOLD;
    }

    function params() external view returns (Params memory) {
        return Params(EPOCH_BLOCKS, QUORUM_SIZE, QUORUM_THRESHOLD, MAX_QUORUMS);
    }

    function stakeParams() external view returns (StakeParams memory) {
        return StakeParams(MIN_STAKE, STAKE_PER_BALLOT, MAX_BALLOTS, UNBONDING_EPOCHS, MAX_REGISTRANTS);
    }

    function stakeOf(address account) external view returns (uint256 bonded, uint256 unbonding, uint256 releaseEpoch) {
        return (_bonded[account], _unbonding[account], _release[account]);
    }

    function ballotWeight(address account) external view returns (uint256) {
        return _weight(account);
    }

    function registrantCount(uint256 epoch) external view returns (uint256) {
        Raw.requireU64(epoch);
        return _registrants[epoch].length;
    }

    function epochSeed(uint256 epoch) external view returns (bytes32) {
        Raw.requireU64(epoch);
        return _seed[epoch];
    }

    /// For the other modules (not part of the precompile ABI): whether quorum `quorumId`
    /// of `epoch` exists, its ordered members and their public keys as concatenated
    /// EIP-2537 G1 points (128 bytes each).
    function quorumKeys(uint256 epoch, uint256 quorumId)
        external
        view
        returns (bool exists, address[] memory members, bytes memory points)
    {
        (exists, members) = _members(epoch, quorumId);
        if (!exists) return (false, members, points);
        points = new bytes(128 * members.length);
        for (uint256 i = 0; i < members.length; i++) {
            bytes memory p = _point[members[i]];
            assembly ("memory-safe") {
                let dst := add(add(points, 32), mul(i, 128))
                let src := add(p, 32)
                mstore(dst, mload(src))
                mstore(add(dst, 32), mload(add(src, 32)))
                mstore(add(dst, 64), mload(add(src, 64)))
                mstore(add(dst, 96), mload(add(src, 96)))
            }
        }
    }

    function _weight(address account) private view returns (uint256) {
        uint256 bonded = _bonded[account];
        if (bonded < MIN_STAKE) return 0;
        uint256 w = bonded / STAKE_PER_BALLOT;
        return w < MAX_BALLOTS ? w : MAX_BALLOTS;
    }

    /// Forms and stores `epoch`'s quorums if nobody has; whether they can exist.
    function _ensureFormed(uint256 epoch) private returns (bool) {
        (uint8 kind, uint256 quorums, bytes32 seed, address[] memory seats) = _formation(epoch);
        if (kind == KIND_UNAVAILABLE) return false;
        if (kind == KIND_STORED) return true;
        address[] storage stored = _seats[epoch];
        for (uint256 i = 0; i < seats.length; i++) {
            stored.push(seats[i]);
        }
        _seed[epoch] = seed;
        _formed[epoch] = quorums + 1;
        emit QuorumsFormed(epoch, seed, quorums);
        return true;
    }

    uint8 private constant KIND_UNAVAILABLE = 0;
    uint8 private constant KIND_STORED = 1;
    uint8 private constant KIND_COMPUTED = 2;

    /// `epoch`'s quorums: stored, computed from the seed (seats in order), or unavailable
    /// (registration open, or the seed block out of `blockhash`'s reach).
    function _formation(uint256 epoch)
        private
        view
        returns (uint8 kind, uint256 quorums, bytes32 seed, address[] memory seats)
    {
        if (epoch > epochNumber()) return (KIND_UNAVAILABLE, 0, 0, seats);
        uint256 formed = _formed[epoch];
        if (formed > 0) return (KIND_STORED, formed - 1, _seed[epoch], seats);
        uint256[] storage regs = _registrants[epoch];
        // Registrants of weight zero (ejected after registering) take no part.
        uint256[] memory entries = new uint256[](regs.length);
        uint256 count;
        for (uint256 i = 0; i < regs.length; i++) {
            uint256 entry = regs[i];
            if (entry >> 160 != 0) entries[count++] = entry;
        }
        if (count < QUORUM_SIZE) return (KIND_COMPUTED, 0, 0, seats);
        seed = blockhash(epoch * EPOCH_BLOCKS - 1);
        if (seed == 0) return (KIND_UNAVAILABLE, 0, 0, seats);
        uint256[] memory ballots = new uint256[](count);
        address[] memory accounts = new address[](count);
        for (uint256 i = 0; i < count; i++) {
            uint256 entry = entries[i];
            address a = address(uint160(entry));
            accounts[i] = a;
            ballots[i] = uint256(keccak256(abi.encodePacked(seed, epoch, a))) / (entry >> 160);
        }
        _sort(ballots, accounts, 0, int256(count) - 1);
        quorums = count / QUORUM_SIZE;
        if (quorums > MAX_QUORUMS) quorums = MAX_QUORUMS;
        seats = new address[](quorums * QUORUM_SIZE);
        for (uint256 i = 0; i < seats.length; i++) {
            seats[i] = accounts[i];
        }
        kind = KIND_COMPUTED;
    }

    /// Sorts by (ballot, account) ascending (quicksort; ballots are hashes).
    function _sort(uint256[] memory b, address[] memory a, int256 lo, int256 hi) private pure {
        while (lo < hi) {
            uint256 mid = uint256(lo + (hi - lo) / 2);
            (uint256 pb, address pa) = (b[mid], a[mid]);
            int256 i = lo;
            int256 j = hi;
            while (i <= j) {
                while (b[uint256(i)] < pb || (b[uint256(i)] == pb && a[uint256(i)] < pa)) i++;
                while (b[uint256(j)] > pb || (b[uint256(j)] == pb && a[uint256(j)] > pa)) j--;
                if (i <= j) {
                    (b[uint256(i)], b[uint256(j)]) = (b[uint256(j)], b[uint256(i)]);
                    (a[uint256(i)], a[uint256(j)]) = (a[uint256(j)], a[uint256(i)]);
                    i++;
                    j--;
                }
            }
            // Recurse into the smaller side, loop on the larger.
            if (j - lo < hi - i) {
                _sort(b, a, lo, j);
                lo = i;
            } else {
                _sort(b, a, i, hi);
                hi = j;
            }
        }
    }

    /// Quorum `quorumId` of `epoch`: whether it exists and its ordered members.
    function _members(uint256 epoch, uint256 quorumId) private view returns (bool, address[] memory members) {
        (uint8 kind, uint256 quorums,, address[] memory seats) = _formation(epoch);
        if (kind == KIND_UNAVAILABLE || quorumId >= quorums) return (false, members);
        uint256 n = QUORUM_SIZE;
        members = new address[](n);
        if (kind == KIND_STORED) {
            address[] storage stored = _seats[epoch];
            for (uint256 k = 0; k < n; k++) {
                members[k] = stored[quorumId * n + k];
            }
        } else {
            for (uint256 k = 0; k < n; k++) {
                members[k] = seats[quorumId * n + k];
            }
        }
        return (true, members);
    }
}
