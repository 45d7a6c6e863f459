// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.30;

/// BLS12-381 on the EIP-2537 precompiles, compatible with blst's `min_pk` scheme as the DA
/// stack uses it: public keys and KZG commitments are compressed G1 points (48 bytes),
/// signatures compressed G2 points (96 bytes), messages hashed to G2 per RFC 9380
/// (`BLS12381G2_XMD:SHA-256_SSWU_RO_`), the ciphersuite's DST given by the caller.
///
/// Base-field elements are two words `(h, l)` = `h·2²⁵⁶ + l`, which is exactly EIP-2537's
/// 64-byte field encoding. Decompression needs square roots in Fp and Fp2: Fp products are
/// computed with the MODEXP precompile (`ab = ((a+b)² − (a−b)²) / 4`), roots as
/// `a^((p+1)/4)` (p ≡ 3 mod 4).
library BLS12381 {
    struct Fp {
        uint256 h;
        uint256 l;
    }

    uint256 internal constant P_H = 0x1a0111ea397fe69a4b1ba7b6434bacd7;
    uint256 internal constant P_L = 0x64774b84f38512bf6730d2a0f6b0f6241eabfffeb153ffffb9feffffffffaaab;
    // (p − 1) / 2: an element above it is "lexicographically largest".
    uint256 private constant HALF_H = 0xd0088f51cbff34d258dd3db21a5d66b;
    uint256 private constant HALF_L = 0xb23ba5c279c2895fb39869507b587b120f55ffff58a9ffffdcff7fffffffd555;
    // (p + 1) / 4 and (p − 3) / 4.
    uint256 private constant SQRT_E_H = 0x0680447a8e5ff9a692c6e9ed90d2eb35;
    uint256 private constant SQRT_E_L = 0xd91dd2e13ce144afd9cc34a83dac3d8907aaffffac54ffffee7fbfffffffeaab;
    uint256 private constant ISQRT_E_H = 0x0680447a8e5ff9a692c6e9ed90d2eb35;
    uint256 private constant ISQRT_E_L = 0xd91dd2e13ce144afd9cc34a83dac3d8907aaffffac54ffffee7fbfffffffeaaa;

    // −G1 (the generator, negated) in EIP-2537 encoding.
    uint256 private constant NG1_X_H = 0x17f1d3a73197d7942695638c4fa9ac0f;
    uint256 private constant NG1_X_L = 0xc3688c4f9774b905a14e3a3f171bac586c55e83ff97a1aeffb3af00adb22c6bb;
    uint256 private constant NG1_Y_H = 0x114d1d6855d545a8aa7d76c8cf2e21f2;
    uint256 private constant NG1_Y_L = 0x67816aef1db507c96655b9d5caac42364e6f38ba0ecb751bad54dcd6b939c2ca;

    address private constant G1ADD = address(0x0b);
    address private constant G1MSM = address(0x0c);
    address private constant G2ADD = address(0x0d);
    address private constant PAIRING = address(0x0f);
    address private constant MAP_FP2_TO_G2 = address(0x11);

    // ---------------------------------------------------------------- Fp arithmetic

    function _isZero(Fp memory a) private pure returns (bool) {
        return a.h == 0 && a.l == 0;
    }

    function _eq(Fp memory a, Fp memory b) private pure returns (bool) {
        return a.h == b.h && a.l == b.l;
    }

    /// `a < p`.
    function _canonical(Fp memory a) private pure returns (bool) {
        return a.h < P_H || (a.h == P_H && a.l < P_L);
    }

    /// `a > (p − 1) / 2`.
    function _large(Fp memory a) private pure returns (bool) {
        return a.h > HALF_H || (a.h == HALF_H && a.l > HALF_L);
    }

    function _rawAdd(uint256 ah, uint256 al, uint256 bh, uint256 bl) private pure returns (uint256 h, uint256 l) {
        unchecked {
            l = al + bl;
            h = ah + bh + (l < al ? 1 : 0);
        }
    }

    function _rawSub(uint256 ah, uint256 al, uint256 bh, uint256 bl) private pure returns (uint256 h, uint256 l) {
        unchecked {
            l = al - bl;
            h = ah - bh - (al < bl ? 1 : 0);
        }
    }

    function _add(Fp memory a, Fp memory b) private pure returns (Fp memory r) {
        (uint256 h, uint256 l) = _rawAdd(a.h, a.l, b.h, b.l);
        if (h > P_H || (h == P_H && l >= P_L)) {
            (h, l) = _rawSub(h, l, P_H, P_L);
        }
        r = Fp(h, l);
    }

    function _sub(Fp memory a, Fp memory b) private pure returns (Fp memory r) {
        (uint256 h, uint256 l) = (a.h, a.l);
        if (a.h < b.h || (a.h == b.h && a.l < b.l)) {
            (h, l) = _rawAdd(h, l, P_H, P_L);
        }
        (h, l) = _rawSub(h, l, b.h, b.l);
        r = Fp(h, l);
    }

    function _neg(Fp memory a) private pure returns (Fp memory) {
        if (_isZero(a)) return Fp(0, 0);
        (uint256 h, uint256 l) = _rawSub(P_H, P_L, a.h, a.l);
        return Fp(h, l);
    }

    /// `a / 2 mod p`.
    function _half(Fp memory a) private pure returns (Fp memory) {
        (uint256 h, uint256 l) = (a.h, a.l);
        if (l & 1 == 1) (h, l) = _rawAdd(h, l, P_H, P_L);
        return Fp(h >> 1, (l >> 1) | (h << 255));
    }

    /// `base^e mod p` through MODEXP, with 48-byte base and modulus and an exponent of
    /// `elen` bytes (32: `el` alone; 48: `eh ‖ el`).
    function _pow(Fp memory base, uint256 eh, uint256 el, uint256 elen) private view returns (Fp memory r) {
        uint256 rh;
        uint256 rl;
        bool ok;
        assembly ("memory-safe") {
            let m := mload(0x40)
            // Fields are written back to front: each 48-byte value's 16 zero bytes spill
            // into the field before it, which is written afterwards.
            let modAt := add(add(m, 144), elen)
            mstore(add(modAt, 16), P_L)
            mstore(sub(modAt, 16), P_H)
            switch elen
            case 32 { mstore(add(m, 144), el) }
            default {
                mstore(add(m, 160), el)
                mstore(add(m, 128), eh)
            }
            mstore(add(m, 112), mload(add(base, 32)))
            mstore(add(m, 80), mload(base))
            mstore(add(m, 64), 48)
            mstore(add(m, 32), elen)
            mstore(m, 48)
            ok := staticcall(gas(), 0x05, m, add(192, elen), m, 48)
            rh := shr(128, mload(m))
            rl := mload(add(m, 16))
        }
        require(ok, "bls: modexp failed");
        r = Fp(rh, rl);
    }

    function _sq(Fp memory a) private view returns (Fp memory) {
        return _pow(a, 0, 2, 32);
    }

    function _mul(Fp memory a, Fp memory b) private view returns (Fp memory) {
        Fp memory s = _sq(_add(a, b));
        Fp memory d = _sq(_sub(a, b));
        return _half(_half(_sub(s, d)));
    }

    /// A square root of `a`, if it has one.
    function _sqrt(Fp memory a) private view returns (Fp memory y, bool ok) {
        y = _pow(a, SQRT_E_H, SQRT_E_L, 48);
        ok = _eq(_sq(y), a);
    }

    /// A square root of a non-zero `a` and its inverse, with one exponentiation:
    /// `w = a^((p−3)/4)`, `y = a·w`; then `y·w = a^((p−1)/2) = 1` when `a` is a square.
    function _sqrtAndInverse(Fp memory a) private view returns (Fp memory y, Fp memory w, bool ok) {
        w = _pow(a, ISQRT_E_H, ISQRT_E_L, 48);
        y = _mul(a, w);
        ok = _eq(_sq(y), a);
    }

    // ---------------------------------------------------------------- Fp2 (u² = −1)

    function _mul2(Fp memory a0, Fp memory a1, Fp memory b0, Fp memory b1)
        private
        view
        returns (Fp memory, Fp memory)
    {
        // Karatsuba: (a0b0 − a1b1, (a0+a1)(b0+b1) − a0b0 − a1b1).
        Fp memory t0 = _mul(a0, b0);
        Fp memory t1 = _mul(a1, b1);
        Fp memory t2 = _mul(_add(a0, a1), _add(b0, b1));
        return (_sub(t0, t1), _sub(_sub(t2, t0), t1));
    }

    /// A square root of `a0 + a1·u`, if it has one (the norm method for p ≡ 3 mod 4).
    function _sqrt2(Fp memory a0, Fp memory a1) private view returns (Fp memory y0, Fp memory y1, bool ok) {
        if (_isZero(a1)) {
            (y0, ok) = _sqrt(a0);
            if (ok) return (y0, Fp(0, 0), true);
            // −1 is a non-residue, so −a0 is a residue.
            (y1, ok) = _sqrt(_neg(a0));
            return (Fp(0, 0), y1, ok);
        }
        (Fp memory s, bool normOk) = _sqrt(_add(_sq(a0), _sq(a1)));
        if (!normOk) return (y0, y1, false);
        // y0² is (a0 ± s)/2, non-zero since a1 ≠ 0; then y1 = a1 / (2·y0).
        Fp memory w;
        (y0, w, ok) = _sqrtAndInverse(_half(_add(a0, s)));
        if (!ok) {
            (y0, w, ok) = _sqrtAndInverse(_half(_sub(a0, s)));
            if (!ok) return (y0, y1, false);
        }
        y1 = _half(_mul(a1, w));
        // (y0 + y1·u)² must give back a.
        (Fp memory c0, Fp memory c1) = _mul2(y0, y1, y0, y1);
        ok = _eq(c0, a0) && _eq(c1, a1);
    }

    // ---------------------------------------------------------------- decompression

    /// Parses a 48-byte compressed base-field element with its three flag bits.
    function _readFp48(bytes memory b, uint256 offset) private pure returns (Fp memory x, uint256 flags) {
        uint256 w0;
        uint256 w1;
        assembly ("memory-safe") {
            w0 := mload(add(add(b, 32), offset))
            w1 := mload(add(add(b, 48), offset))
        }
        flags = w0 >> 253;
        x = Fp((w0 >> 128) & ((1 << 125) - 1), w1);
    }

    /// Decompresses a G1 point (ZCash encoding) to EIP-2537's 128 bytes. `ok` is false
    /// for a malformed encoding or an x with no point; the identity gives 128 zero bytes
    /// with `infinity` set. Subgroup membership is left to the precompiles that use it.
    function decompressG1(bytes memory b) internal view returns (bytes memory point, bool ok, bool infinity) {
        point = new bytes(128);
        if (b.length != 48) return (point, false, false);
        (Fp memory x, uint256 flags) = _readFp48(b, 0);
        if (flags & 4 == 0) return (point, false, false); // not compressed
        if (flags & 2 != 0) {
            // The identity: no sign, no other bits.
            return (point, flags == 6 && _isZero(x), true);
        }
        if (!_canonical(x)) return (point, false, false);
        Fp memory rhs = _add(_pow(x, 0, 3, 32), Fp(0, 4));
        (Fp memory y, bool isSquare) = _sqrt(rhs);
        if (!isSquare) return (point, false, false);
        if (_large(y) != (flags & 1 == 1)) y = _neg(y);
        point = abi.encodePacked(x.h, x.l, y.h, y.l);
        ok = true;
    }

    /// Decompresses a G2 point (ZCash encoding: `x.c1 ‖ x.c0`) to EIP-2537's 256 bytes
    /// (`x.c0 ‖ x.c1 ‖ y.c0 ‖ y.c1`); as [`decompressG1`].
    function decompressG2(bytes memory b) internal view returns (bytes memory point, bool ok, bool infinity) {
        point = new bytes(256);
        if (b.length != 96) return (point, false, false);
        (Fp memory x1, uint256 flags) = _readFp48(b, 0);
        (Fp memory x0,) = _readFp48(b, 48);
        x0.h = x0.h | ((uint256(uint8(b[48])) >> 5) << 125); // the second half has no flags
        if (flags & 4 == 0) return (point, false, false);
        if (flags & 2 != 0) {
            return (point, flags == 6 && _isZero(x0) && _isZero(x1), true);
        }
        if (!_canonical(x0) || !_canonical(x1)) return (point, false, false);
        // y² = x³ + 4(1 + u)
        (Fp memory s0, Fp memory s1) = _mul2(x0, x1, x0, x1);
        (Fp memory r0, Fp memory r1) = _mul2(s0, s1, x0, x1);
        r0 = _add(r0, Fp(0, 4));
        r1 = _add(r1, Fp(0, 4));
        (Fp memory y0, Fp memory y1, bool isSquare) = _sqrt2(r0, r1);
        if (!isSquare) return (point, false, false);
        bool large = _isZero(y1) ? _large(y0) : _large(y1);
        if (large != (flags & 1 == 1)) {
            y0 = _neg(y0);
            y1 = _neg(y1);
        }
        point = abi.encodePacked(x0.h, x0.l, x1.h, x1.l, y0.h, y0.l, y1.h, y1.l);
        ok = true;
    }

    // ---------------------------------------------------------------- hash to G2

    /// Reduces a 64-byte big-endian integer modulo p.
    function _reduce(bytes32 hi, bytes32 lo) private view returns (Fp memory r) {
        uint256 rh;
        uint256 rl;
        bool ok;
        assembly ("memory-safe") {
            let m := mload(0x40)
            // [64][1][48] base(64) exponent(1) modulus(48), written back to front.
            mstore(add(m, 177), P_L)
            mstore(add(m, 145), P_H)
            mstore(add(m, 96), hi)
            mstore(add(m, 128), lo)
            mstore8(add(m, 160), 1)
            mstore(add(m, 64), 48)
            mstore(add(m, 32), 1)
            mstore(m, 64)
            ok := staticcall(gas(), 0x05, m, 209, m, 48)
            rh := shr(128, mload(m))
            rl := mload(add(m, 16))
        }
        require(ok, "bls: modexp failed");
        r = Fp(rh, rl);
    }

    /// `hash_to_curve` for G2 (RFC 9380, `expand_message_xmd` with SHA-256).
    function hashToG2(bytes32 message, bytes memory dst) internal view returns (bytes memory point) {
        bytes memory dstPrime = abi.encodePacked(dst, uint8(dst.length));
        bytes32 b0 = sha256(abi.encodePacked(bytes32(0), bytes32(0), message, uint16(256), uint8(0), dstPrime));
        bytes32[8] memory b;
        b[0] = sha256(abi.encodePacked(b0, uint8(1), dstPrime));
        for (uint256 i = 1; i < 8; i++) {
            b[i] = sha256(abi.encodePacked(b0 ^ b[i - 1], uint8(i + 1), dstPrime));
        }
        bytes memory q0 = _map(_reduce(b[0], b[1]), _reduce(b[2], b[3]));
        bytes memory q1 = _map(_reduce(b[4], b[5]), _reduce(b[6], b[7]));
        bool ok;
        (ok, point) = G2ADD.staticcall(abi.encodePacked(q0, q1));
        require(ok && point.length == 256, "bls: g2 add failed");
    }

    function _map(Fp memory c0, Fp memory c1) private view returns (bytes memory point) {
        bool ok;
        (ok, point) = MAP_FP2_TO_G2.staticcall(abi.encodePacked(c0.h, c0.l, c1.h, c1.l));
        require(ok && point.length == 256, "bls: map to g2 failed");
    }

    // ---------------------------------------------------------------- group operations

    /// `a + b` in G1 (EIP-2537 encodings).
    function g1Add(bytes memory a, bytes memory b) internal view returns (bytes memory sum) {
        bool ok;
        (ok, sum) = G1ADD.staticcall(abi.encodePacked(a, b));
        require(ok && sum.length == 128, "bls: g1 add failed");
    }

    /// Whether a G1 point (EIP-2537 encoding) is on the curve and in the subgroup (the
    /// MSM precompile checks both).
    function g1InSubgroup(bytes memory point) internal view returns (bool) {
        (bool ok, bytes memory out) = G1MSM.staticcall(abi.encodePacked(point, uint256(1)));
        return ok && out.length == 128;
    }

    /// `Σ sᵢ·Pᵢ` over `(point, scalar)` pairs of 160 bytes; `ok` false when a point is
    /// off the curve or outside the subgroup.
    function g1Msm(bytes memory pairs) internal view returns (bytes memory out, bool ok) {
        (ok, out) = G1MSM.staticcall(pairs);
        ok = ok && out.length == 128;
    }

    /// Whether `Π e(Pᵢ, Qᵢ) = 1` over `(G1, G2)` pairs of 384 bytes; false also for a
    /// point off the curve or outside its subgroup.
    function pairingCheck(bytes memory pairs) internal view returns (bool) {
        (bool ok, bytes memory out) = PAIRING.staticcall(pairs);
        return ok && out.length == 32 && uint256(bytes32(out)) == 1;
    }

    /// Verifies a signature (G2, EIP-2537 encoding) of `message` under `pubkey` (G1):
    /// `e(pk, H(m)) · e(−g1, σ) = 1`.
    function verify(bytes memory pubkey, bytes32 message, bytes memory dst, bytes memory signature)
        internal
        view
        returns (bool)
    {
        bytes memory h = hashToG2(message, dst);
        return pairingCheck(abi.encodePacked(pubkey, h, NG1_X_H, NG1_X_L, NG1_Y_H, NG1_Y_L, signature));
    }
}
