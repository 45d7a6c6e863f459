// Hardhat's node as the reorg tests run it (zg_testkit::hardhat): hardfork prague
// (EIP-2537 BLS12-381 precompiles, which the portable DA contracts need), the standard
// development mnemonic, a block per transaction and otherwise only the blocks a test
// mines (`hardhat_mine`), so the test decides when an anchor gets its confirmations.
module.exports = {
  networks: {
    hardhat: {
      hardfork: "prague",
      chainId: 31337,
      blockGasLimit: 60000000,
      allowBlocksWithSameTimestamp: true,
      mining: { auto: true, interval: 0 },
      accounts: {
        mnemonic: "test test test test test test test test test test test junk",
        count: 20,
        accountsBalance: "1000000000000000000000000",
      },
    },
  },
};
