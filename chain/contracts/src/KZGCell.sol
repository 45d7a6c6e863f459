// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.30;

import {BLS12381} from "./BLS12381.sol";

/// EIP-7594 cell proofs checked with the EIP-2537 precompiles.
///
/// Cell `k` holds the evaluations of the blob polynomial on the coset `h·⟨ω₆₄⟩`,
/// `h = ω₈₁₉₂^rev₇(k)`, element `j` at `h·ω₆₄^rev₆(j)` (the spec's bit-reversed domain). The
/// check is `e(π, [τ⁶⁴ − h⁶⁴]₂) = e(C − [I(τ)]₁, [1]₂)` with `I` the interpolant of the
/// cell, rearranged into one MSM and a two-pair pairing:
/// `e(π, [τ⁶⁴]₂) · e(Σ cᵢ[τⁱ]₁ − C − h⁶⁴·π, [1]₂) = 1`, where `cᵢ` are `I`'s coefficients
/// (an inverse FFT of the cell over ⟨ω₆₄⟩, scaled by `h⁻ⁱ`).
///
/// The setup (the first 64 monomial G1 points, `[1]₂` and `[τ⁶⁴]₂` of the Ethereum KZG
/// ceremony, 8704 bytes in EIP-2537 encoding) is read from a data contract's code.
library KZGCell {
    uint256 internal constant R = 0x73eda753299d7d483339d80809a1d80553bda402fffe5bfeffffffff00000001;
    uint256 private constant W8192 = 0x485d512737b1da3d2ccddea2972e89ed146b58bc434906ac6fdd00bfc78c8967;
    uint256 private constant W8192_INV = 0x57e6990d4981b177d548fda262008419204f9476cecef2df68946aad325251ed;
    uint256 private constant W64_INV = 0x640d097461a2eeaf4e84b3cd7dc75b61db872ef3dce28e788d28c143168bba2c;
    uint256 private constant INV64 = 0x721df0b5dcf70753126cf0a7e97b50a53e6ead72f3fe628f03ffffff04000001;

    /// Length of the setup data.
    uint256 internal constant SETUP_LEN = 64 * 128 + 2 * 256;
    /// keccak256 of the setup data: the deployment is checked against it.
    bytes32 internal constant SETUP_HASH = 0x33f9e970468a1623d3ad9496578c222a75ab102de5d3ea7f374d4de2d51085e4;

    uint256 private constant CELL_BYTES = 2048;

    function _pow(uint256 b, uint256 e) private pure returns (uint256 r) {
        r = 1;
        while (e > 0) {
            if (e & 1 == 1) r = mulmod(r, b, R);
            b = mulmod(b, b, R);
            e >>= 1;
        }
    }

    function _rev7(uint256 k) private pure returns (uint256 r) {
        for (uint256 i = 0; i < 7; i++) {
            r = (r << 1) | ((k >> i) & 1);
        }
    }

    /// Verifies `cell` (2048 bytes) of column `column` against `commitment` and `proof`
    /// (compressed G1). False for any malformed input.
    function verify(address setup, bytes memory commitment, uint256 column, bytes memory cell, bytes memory proof)
        internal
        view
        returns (bool)
    {
        if (column >= 128 || cell.length != CELL_BYTES) return false;
        (bytes memory c, bool okC,) = BLS12381.decompressG1(commitment);
        (bytes memory pi, bool okP,) = BLS12381.decompressG1(proof);
        if (!okC || !okP) return false;

        // The cell in order is the coset evaluations in bit-reversed order: exactly the
        // input a decimation-in-time FFT wants. Inverse FFT over ⟨ω₆₄⟩.
        uint256[64] memory a;
        for (uint256 j = 0; j < 64; j++) {
            uint256 v;
            assembly ("memory-safe") {
                v := mload(add(add(cell, 32), mul(j, 32)))
            }
            if (v >= R) return false;
            a[j] = v;
        }
        for (uint256 len = 2; len <= 64; len <<= 1) {
            uint256 wlen = _pow(W64_INV, 64 / len);
            uint256 halfLen = len >> 1;
            for (uint256 i = 0; i < 64; i += len) {
                uint256 w = 1;
                for (uint256 j = 0; j < halfLen; j++) {
                    uint256 u = a[i + j];
                    uint256 v = mulmod(a[i + j + halfLen], w, R);
                    a[i + j] = addmod(u, v, R);
                    a[i + j + halfLen] = addmod(u, R - v, R);
                    w = mulmod(w, wlen, R);
                }
            }
        }
        uint256 rk = _rev7(column);
        uint256 hInv = _pow(W8192_INV, rk);
        uint256 h64 = _pow(_pow(W8192, rk), 64);

        // MSM input: 64 setup points with cᵢ, then C with −1 and π with −h⁶⁴.
        bytes memory msm = new bytes(66 * 160);
        uint256 scale = INV64;
        assembly ("memory-safe") {
            let base := add(msm, 32)
            for { let i := 0 } lt(i, 64) { i := add(i, 1) } {
                let dst := add(base, mul(i, 160))
                // point i of the setup's G1 monomials (the data contract's code starts
                // with one STOP byte).
                extcodecopy(setup, dst, add(1, mul(i, 128)), 128)
                mstore(add(dst, 128), mulmod(mload(add(a, mul(i, 32))), scale, R))
                scale := mulmod(scale, hInv, R)
            }
            let atC := add(base, mul(64, 160))
            let srcC := add(c, 32)
            mstore(atC, mload(srcC))
            mstore(add(atC, 32), mload(add(srcC, 32)))
            mstore(add(atC, 64), mload(add(srcC, 64)))
            mstore(add(atC, 96), mload(add(srcC, 96)))
            mstore(add(atC, 128), sub(R, 1))
            let atP := add(base, mul(65, 160))
            let srcP := add(pi, 32)
            mstore(atP, mload(srcP))
            mstore(add(atP, 32), mload(add(srcP, 32)))
            mstore(add(atP, 64), mload(add(srcP, 64)))
            mstore(add(atP, 96), mload(add(srcP, 96)))
            mstore(add(atP, 128), sub(R, h64))
        }
        (bytes memory p, bool okMsm) = BLS12381.g1Msm(msm);
        if (!okMsm) return false;

        // Pairing input: π ‖ [τ⁶⁴]₂ ‖ P ‖ [1]₂.
        bytes memory pairs = new bytes(768);
        assembly ("memory-safe") {
            let dst := add(pairs, 32)
            let srcP := add(pi, 32)
            mstore(dst, mload(srcP))
            mstore(add(dst, 32), mload(add(srcP, 32)))
            mstore(add(dst, 64), mload(add(srcP, 64)))
            mstore(add(dst, 96), mload(add(srcP, 96)))
            extcodecopy(setup, add(dst, 128), add(1, add(mul(64, 128), 256)), 256)
            let srcM := add(p, 32)
            mstore(add(dst, 384), mload(srcM))
            mstore(add(dst, 416), mload(add(srcM, 32)))
            mstore(add(dst, 448), mload(add(srcM, 64)))
            mstore(add(dst, 480), mload(add(srcM, 96)))
            extcodecopy(setup, add(dst, 512), add(1, mul(64, 128)), 256)
        }
        return BLS12381.pairingCheck(pairs);
    }

    /// Deploys `data` as a contract's code behind one STOP byte; reverts unless it is the
    /// Ethereum setup.
    function deploySetup(bytes memory data) internal returns (address setup) {
        require(data.length == SETUP_LEN && keccak256(data) == SETUP_HASH, "KZGCell: not the Ethereum KZG setup");
        // PUSH2 len, DUP1, PUSH1 12, PUSH1 0, CODECOPY, PUSH1 0, RETURN, then the code.
        bytes memory init = abi.encodePacked(
            hex"61", uint16(data.length + 1), hex"80600c6000396000f3", hex"00", data
        );
        assembly ("memory-safe") {
            setup := create(0, add(init, 32), mload(init))
        }
        require(setup != address(0), "KZGCell: setup deployment failed");
    }
}
