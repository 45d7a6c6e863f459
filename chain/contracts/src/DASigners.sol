// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.30;

import {IDASigners} from "./IDAModules.sol";
import {BLS12381} from "./BLS12381.sol";
import {Raw} from "./Raw.sol";

/// DA signers, as the bundled chain's `0x…1000` precompile: registration with a proof of
/// possession, sockets, per-epoch registration and deterministic quorums (the signers
/// registered for an epoch sorted by ballot, then address, cut into runs of
/// `quorumSize`, at most `maxQuorums`). Same ABI, events and revert data.
contract DASigners is IDASigners {
    bytes private constant DST_SIGNATURE = "BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_";
    bytes private constant DST_POP = "BLS_POP_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_";
    uint256 private constant MAX_SOCKET_LEN = 512;

    uint64 private immutable EPOCH_BLOCKS;
    uint64 private immutable QUORUM_SIZE;
    uint64 private immutable QUORUM_THRESHOLD;
    uint64 private immutable MAX_QUORUMS;

    mapping(address => bytes) private _pubkey; // compressed, as registered (48 bytes)
    mapping(address => bytes) private _point; // uncompressed, EIP-2537 (128 bytes)
    mapping(address => string) private _socket;
    mapping(bytes32 => address) private _keyOwner;
    address[] private _signers;
    mapping(uint256 => address[]) private _epochSigners;
    mapping(uint256 => mapping(address => bytes32)) private _ballot;

    constructor(Params memory p) {
        require(p.epochBlocks > 0 && p.quorumSize > 0 && p.maxQuorums > 0, "DASigners: zero parameter");
        require(p.quorumThreshold <= p.quorumSize, "DASigners: threshold above quorum size");
        EPOCH_BLOCKS = p.epochBlocks;
        QUORUM_SIZE = p.quorumSize;
        QUORUM_THRESHOLD = p.quorumThreshold;
        MAX_QUORUMS = p.maxQuorums;
    }

    function registerSigner(SignerDetail calldata signer, bytes calldata pop) external {
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
        _pubkey[signer.signer] = signer.pubkey;
        _point[signer.signer] = point;
        _socket[signer.signer] = signer.socket;
        _keyOwner[keyHash] = signer.signer;
        _signers.push(signer.signer);
        emit NewSigner(signer.signer, signer.pubkey, signer.socket);
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
        uint256 next = epochNumber() + 1;
        if (_ballot[next][msg.sender] != bytes32(0)) revert AlreadyRegisteredForEpoch(msg.sender, next);
        (bytes memory sig, bool ok,) = BLS12381.decompressG2(signature);
        bytes32 message = keccak256(abi.encode("zg-da/epoch/v1", block.chainid, msg.sender, next));
        if (!ok || !BLS12381.verify(point, message, DST_SIGNATURE, sig)) revert InvalidEpochSignature();
        bytes32 ballot = keccak256(signature);
        _ballot[next][msg.sender] = ballot;
        _epochSigners[next].push(msg.sender);
        emit EpochRegistered(msg.sender, next, ballot);
    }

    function epochNumber() public view returns (uint256) {
        return block.number / EPOCH_BLOCKS;
    }

    function quorumCount(uint256 epoch) public view returns (uint256) {
        Raw.requireU64(epoch);
        if (epoch > epochNumber()) return 0; // registration still open: not formed yet
        uint256 n = _epochSigners[epoch].length / QUORUM_SIZE;
        return n < MAX_QUORUMS ? n : MAX_QUORUMS;
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
        return _ballot[epoch][account] != bytes32(0);
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

    /// The signers of `epoch` ordered by (ballot, address), cut into quorum `quorumId`.
    function _members(uint256 epoch, uint256 quorumId) private view returns (bool, address[] memory members) {
        if (quorumId >= quorumCount(epoch)) return (false, members);
        address[] storage all = _epochSigners[epoch];
        uint256 count = all.length;
        bytes32[] memory ballots = new bytes32[](count);
        address[] memory accounts = new address[](count);
        mapping(address => bytes32) storage ballotOf = _ballot[epoch];
        for (uint256 i = 0; i < count; i++) {
            address a = all[i];
            bytes32 b = ballotOf[a];
            // Insertion sort (epochs hold at most maxQuorums · quorumSize useful signers).
            uint256 j = i;
            while (j > 0 && (ballots[j - 1] > b || (ballots[j - 1] == b && accounts[j - 1] > a))) {
                ballots[j] = ballots[j - 1];
                accounts[j] = accounts[j - 1];
                j--;
            }
            ballots[j] = b;
            accounts[j] = a;
        }
        uint256 n = QUORUM_SIZE;
        members = new address[](n);
        for (uint256 k = 0; k < n; k++) {
            members[k] = accounts[quorumId * n + k];
        }
        return (true, members);
    }
}
