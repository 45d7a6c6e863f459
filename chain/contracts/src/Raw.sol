// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.30;

/// Reverts shaped like the bundled chain's precompiles, so both implementations return
/// the same revert data.
library Raw {
    /// Reverts with `message`'s bytes as the whole revert data (no `Error(string)`).
    function revertWith(bytes memory message) internal pure {
        assembly ("memory-safe") {
            revert(add(message, 32), mload(message))
        }
    }

    /// The precompiles take epochs, quorum ids and rounds as 64-bit integers.
    function requireU64(uint256 v) internal pure {
        if (v > type(uint64).max) revertWith("module: integer out of range");
    }
}
