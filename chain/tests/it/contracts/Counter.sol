// SPDX-License-Identifier: MIT
// Test contract for zg-chain's integration tests. Regenerate Counter.bin with
// `npx solcjs@0.8.30 --bin --optimize Counter.sol` (the solc npm package).
pragma solidity ^0.8.24;

contract Counter {
    uint256 public count;
    address public owner;

    event Incremented(address indexed by, uint256 newValue, bytes32 indexed tag);

    error TooLarge(uint256 value, uint256 max);

    constructor(uint256 start) payable {
        count = start;
        owner = msg.sender;
    }

    function increment(bytes32 tag) external returns (uint256) {
        count += 1;
        emit Incremented(msg.sender, count, tag);
        return count;
    }

    function add(uint256 v) external {
        if (v > 1000) revert TooLarge(v, 1000);
        count += v;
    }

    function mustBeOwner() external view {
        require(msg.sender == owner, "not the owner");
    }

    function burn(uint256 rounds) external {
        for (uint256 i; i < rounds; i++) {
            count = uint256(keccak256(abi.encode(count)));
        }
    }

    /// Calls a chain module from a contract (checks precompile calls from contracts).
    function callModule(address m, bytes calldata data) external returns (bytes memory) {
        (bool ok, bytes memory out) = m.call(data);
        require(ok, "module call failed");
        return out;
    }
}
