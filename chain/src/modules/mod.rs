//! The chain's modules as stateful precompiles: their state lives in the precompile
//! account's storage (so it persists and is part of the state root) and their events are
//! ordinary logs. ABIs come from `zg_primitives::abi`.
//!
//! Gas: every module call pays [`gas::BASE`], plus per storage read/write and log the
//! EVM's own prices, plus [`gas::BLS_VERIFY`] per BLS pairing check. `docs/chain.md`
//! lists the totals per function.

mod compute;
mod da_entrance;
mod da_sampling;
mod da_signers;
pub mod flow;

use std::sync::Arc;

use alloy_primitives::{Address, B256, Bytes, Log, U256, keccak256};
use alloy_sol_types::{SolError, SolInterface};
use revm::context::{Cfg, ContextTr, JournalTr};
use revm::context_interface::Block as _;
use revm::handler::{EthPrecompiles, PrecompileProvider, precompile_output_to_interpreter_result};
use revm::interpreter::{CallInputs, CallScheme, InterpreterResult};
use revm::precompile::{PrecompileHalt, PrecompileOutput};
use revm::primitives::AddressSet;
use revm::primitives::hardfork::SpecId;
use zg_primitives::abi::{
    DA_ENTRANCE_ADDRESS, DA_SAMPLING_ADDRESS, DA_SIGNERS_ADDRESS, FLOW_ADDRESS, LEDGER_ADDRESS,
    MARKET_ADDRESS, SERVING_ADDRESS,
};

use crate::config::Genesis;

pub(crate) use da_signers::{ensure_formed, quorum_members, seat_pubkey};

/// Gas prices of module operations.
pub mod gas {
    /// Every module call.
    pub const BASE: u64 = 2_100;
    /// Reading a cold / warm storage slot (EIP-2929).
    pub const SLOAD_COLD: u64 = 2_100;
    /// Reading a warm slot.
    pub const SLOAD_WARM: u64 = 100;
    /// Setting a zero slot to non-zero.
    pub const SSTORE_SET: u64 = 20_000;
    /// Any other slot write.
    pub const SSTORE_RESET: u64 = 2_900;
    /// Per log, per topic, per data byte.
    pub const LOG: u64 = 375;
    /// Per data byte of a log.
    pub const LOG_DATA_BYTE: u64 = 8;
    /// One BLS signature check (two pairings plus hash-to-curve).
    pub const BLS_VERIFY: u64 = 120_000;
    /// Aggregating one public key.
    pub const BLS_AGGREGATE_KEY: u64 = 2_000;
    /// Moving ether out of a module.
    pub const TRANSFER: u64 = 9_000;
    /// Checking one EIP-7594 cell proof (pairings plus a 64-point interpolation).
    pub const KZG_CELL_VERIFY: u64 = 80_000;
    /// Reading a block hash.
    pub const BLOCKHASH: u64 = 20;
    /// One secp256k1 signature recovery (the `ecrecover` precompile's price).
    pub const ECRECOVER: u64 = 3_000;
    /// Ranking one registrant in quorum formation (a keccak and its share of the sort).
    pub const KECCAK_BALLOT: u64 = 100;
}

/// The module addresses this provider serves.
pub const MODULES: [Address; 7] = [
    DA_SIGNERS_ADDRESS,
    DA_ENTRANCE_ADDRESS,
    DA_SAMPLING_ADDRESS,
    FLOW_ADDRESS,
    MARKET_ADDRESS,
    LEDGER_ADDRESS,
    SERVING_ADDRESS,
];

/// Ethereum's precompiles plus the chain's modules.
#[derive(Debug, Clone)]
pub struct ChainPrecompiles {
    eth: EthPrecompiles,
    warm: AddressSet,
    genesis: Arc<Genesis>,
}

impl ChainPrecompiles {
    /// The provider for `spec`, with module parameters from `genesis`.
    pub fn new(spec: SpecId, genesis: Arc<Genesis>) -> Self {
        let eth = EthPrecompiles::new(spec);
        let mut warm = eth.warm_addresses().clone();
        warm.extend(MODULES);
        Self { eth, warm, genesis }
    }
}

impl<CTX: ContextTr> PrecompileProvider<CTX> for ChainPrecompiles {
    type Output = InterpreterResult;

    fn set_spec(&mut self, spec: <CTX::Cfg as Cfg>::Spec) -> bool {
        let changed = <EthPrecompiles as PrecompileProvider<CTX>>::set_spec(&mut self.eth, spec);
        if changed {
            self.warm = self.eth.warm_addresses().clone();
            self.warm.extend(MODULES);
        }
        changed
    }

    fn run(
        &mut self,
        ctx: &mut CTX,
        inputs: &CallInputs,
    ) -> Result<Option<InterpreterResult>, String> {
        if !MODULES.contains(&inputs.bytecode_address) {
            return <EthPrecompiles as PrecompileProvider<CTX>>::run(&mut self.eth, ctx, inputs);
        }
        let input = Bytes::copy_from_slice(&inputs.input.as_bytes(&*ctx));
        let mut call = Call {
            me: inputs.bytecode_address,
            caller: inputs.caller,
            value: inputs.call_value(),
            is_static: inputs.is_static,
            gas: 0,
            limit: inputs.gas_limit,
            genesis: &self.genesis,
            ctx,
        };
        let result = if !matches!(inputs.scheme, CallScheme::Call | CallScheme::StaticCall) {
            Err(Exit::Revert(Bytes::from_static(
                b"module: delegatecall not allowed",
            )))
        } else {
            call.charge(gas::BASE).and_then(|()| match call.me {
                DA_SIGNERS_ADDRESS => da_signers::dispatch(&mut call, &input),
                DA_SAMPLING_ADDRESS => da_sampling::dispatch(&mut call, &input),
                FLOW_ADDRESS => flow::dispatch_flow(&mut call, &input),
                MARKET_ADDRESS => flow::dispatch_market(&mut call, &input),
                LEDGER_ADDRESS => compute::dispatch_ledger(&mut call, &input),
                SERVING_ADDRESS => compute::dispatch_serving(&mut call, &input),
                _ => da_entrance::dispatch(&mut call, &input),
            })
        };
        let out = match result {
            Ok(data) => PrecompileOutput::new(call.gas, data, inputs.reservoir),
            Err(Exit::Revert(data)) => PrecompileOutput::revert(call.gas, data, inputs.reservoir),
            Err(Exit::OutOfGas) => {
                PrecompileOutput::halt(PrecompileHalt::OutOfGas, inputs.reservoir)
            }
            Err(Exit::Fatal(e)) => return Err(e),
        };
        Ok(Some(precompile_output_to_interpreter_result(
            out,
            inputs.gas_limit,
        )))
    }

    fn warm_addresses(&self) -> &AddressSet {
        &self.warm
    }
}

/// How a module call ends other than successfully.
#[derive(Debug)]
pub(crate) enum Exit {
    /// Revert with data (a custom error).
    Revert(Bytes),
    /// Out of gas.
    OutOfGas,
    /// Database failure: aborts the transaction.
    Fatal(String),
}

impl Exit {
    pub(crate) fn error<E: SolError>(e: E) -> Self {
        Self::Revert(Bytes::from(e.abi_encode()))
    }
}

/// Decodes a module call's input as one of the functions of `C`, as a Solidity contract's
/// dispatcher does: input that matches no function reverts without data, and so does value
/// sent to a function `payable` refuses (a non-payable function).
pub(crate) fn decode_call<C: SolInterface, CTX>(
    call: &Call<'_, CTX>,
    input: &[u8],
    payable: impl FnOnce(&C) -> bool,
) -> Result<C, Exit> {
    let Ok(decoded) = C::abi_decode(input) else {
        return Err(Exit::Revert(Bytes::new()));
    };
    if !call.value.is_zero() && !payable(&decoded) {
        return Err(Exit::Revert(Bytes::new()));
    }
    Ok(decoded)
}

/// One module call in progress: context, caller, value and gas accounting.
pub(crate) struct Call<'a, CTX> {
    pub(crate) me: Address,
    pub(crate) caller: Address,
    pub(crate) value: U256,
    pub(crate) is_static: bool,
    gas: u64,
    limit: u64,
    pub(crate) genesis: &'a Genesis,
    ctx: &'a mut CTX,
}

impl<CTX: ContextTr> Call<'_, CTX> {
    pub(crate) fn charge(&mut self, gas: u64) -> Result<(), Exit> {
        self.gas = self.gas.saturating_add(gas);
        if self.gas > self.limit {
            Err(Exit::OutOfGas)
        } else {
            Ok(())
        }
    }

    pub(crate) fn block_number(&self) -> u64 {
        self.ctx.block().number().saturating_to()
    }

    /// Hash of block `number`, as `BLOCKHASH`: zero unless it is one of the 256 blocks
    /// before the current one.
    pub(crate) fn block_hash(&mut self, number: u64) -> Result<B256, Exit> {
        use revm::Database as _;
        self.charge(gas::BLOCKHASH)?;
        let current = self.block_number();
        if number >= current || current - number > 256 {
            return Ok(B256::ZERO);
        }
        self.ctx
            .db_mut()
            .block_hash(number)
            .map_err(|e| Exit::Fatal(e.to_string()))
    }

    /// The block's timestamp (seconds).
    pub(crate) fn timestamp(&self) -> u64 {
        self.ctx.block().timestamp().saturating_to()
    }

    /// Loads account `at` into the journal (before writing another module's storage).
    pub(crate) fn load(&mut self, at: Address) -> Result<(), Exit> {
        self.ctx
            .journal_mut()
            .load_account(at)
            .map(|_| ())
            .map_err(|e| Exit::Fatal(e.to_string()))
    }

    /// Moves `amount` between two accounts; `false` if `from` lacks it.
    pub(crate) fn transfer(
        &mut self,
        from: Address,
        to: Address,
        amount: U256,
    ) -> Result<bool, Exit> {
        self.charge(gas::TRANSFER)?;
        let err = self
            .ctx
            .journal_mut()
            .transfer(from, to, amount)
            .map_err(|e| Exit::Fatal(e.to_string()))?;
        Ok(err.is_none())
    }

    pub(crate) fn chain_id(&self) -> u64 {
        self.ctx.cfg().chain_id()
    }

    pub(crate) fn require_mutable(&self) -> Result<(), Exit> {
        if self.is_static {
            Err(Exit::Revert(Bytes::from_static(
                b"module: state change in static call",
            )))
        } else {
            Ok(())
        }
    }

    /// Reads a slot of module `at`.
    pub(crate) fn sload_at(&mut self, at: Address, slot: U256) -> Result<U256, Exit> {
        if at != self.me {
            // The journal's sload expects the account loaded (the callee always is).
            self.ctx
                .journal_mut()
                .load_account(at)
                .map_err(|e| Exit::Fatal(e.to_string()))?;
        }
        let r = self
            .ctx
            .journal_mut()
            .sload(at, slot)
            .map_err(|e| Exit::Fatal(e.to_string()))?;
        self.charge(if r.is_cold {
            gas::SLOAD_COLD
        } else {
            gas::SLOAD_WARM
        })?;
        Ok(r.data)
    }

    pub(crate) fn sload(&mut self, slot: U256) -> Result<U256, Exit> {
        self.sload_at(self.me, slot)
    }

    pub(crate) fn sstore(&mut self, slot: U256, value: U256) -> Result<(), Exit> {
        self.sstore_at(self.me, slot, value)
    }

    /// Writes a slot of module `at` (the DA modules share state: anchoring forms the
    /// signers module's quorums when nobody has).
    pub(crate) fn sstore_at(&mut self, at: Address, slot: U256, value: U256) -> Result<(), Exit> {
        if at != self.me {
            self.load(at)?;
        }
        let r = self
            .ctx
            .journal_mut()
            .sstore(at, slot, value)
            .map_err(|e| Exit::Fatal(e.to_string()))?;
        let set = r.data.original_value.is_zero() && !value.is_zero();
        self.charge(if set {
            gas::SSTORE_SET
        } else {
            gas::SSTORE_RESET
        })
    }

    pub(crate) fn log(&mut self, log: alloy_primitives::LogData) -> Result<(), Exit> {
        self.log_at(self.me, log)
    }

    /// Emits `log` from module `at` (an event of another module this call acts for).
    pub(crate) fn log_at(
        &mut self,
        at: Address,
        log: alloy_primitives::LogData,
    ) -> Result<(), Exit> {
        self.charge(
            gas::LOG * (1 + log.topics().len() as u64) + gas::LOG_DATA_BYTE * log.data.len() as u64,
        )?;
        self.ctx.journal_mut().log(Log {
            address: at,
            data: log,
        });
        Ok(())
    }

    /// Sends `amount` from the module account to `to`; `false` if the module lacks it.
    pub(crate) fn transfer_out(&mut self, to: Address, amount: U256) -> Result<bool, Exit> {
        self.charge(gas::TRANSFER)?;
        let err = self
            .ctx
            .journal_mut()
            .transfer(self.me, to, amount)
            .map_err(|e| Exit::Fatal(e.to_string()))?;
        Ok(err.is_none())
    }

    /// Reads a byte string stored with [`Call::store_bytes`] in module `at`.
    pub(crate) fn load_bytes_at(&mut self, at: Address, base: U256) -> Result<Vec<u8>, Exit> {
        let len = self.sload_at(at, base)?.saturating_to::<usize>();
        let data = data_slot(base);
        let mut out = Vec::with_capacity(len);
        for i in 0..len.div_ceil(32) {
            let w = self.sload_at(at, data + U256::from(i))?;
            out.extend_from_slice(&w.to_be_bytes::<32>());
        }
        out.truncate(len);
        Ok(out)
    }

    /// Stores a byte string: its length at `base`, its words from `keccak256(base)`.
    pub(crate) fn store_bytes(&mut self, base: U256, bytes: &[u8]) -> Result<(), Exit> {
        self.sstore(base, U256::from(bytes.len()))?;
        let data = data_slot(base);
        for (i, chunk) in bytes.chunks(32).enumerate() {
            let mut w = [0u8; 32];
            w[..chunk.len()].copy_from_slice(chunk);
            self.sstore(data + U256::from(i), U256::from_be_bytes(w))?;
        }
        Ok(())
    }
}

fn data_slot(base: U256) -> U256 {
    U256::from_be_bytes(keccak256(base.to_be_bytes::<32>()).0)
}

/// A storage slot: `keccak256(tag ‖ parts…)`.
pub(crate) fn slot(tag: &str, parts: &[&[u8]]) -> U256 {
    let mut buf = Vec::with_capacity(tag.len() + parts.iter().map(|p| p.len()).sum::<usize>());
    buf.extend_from_slice(tag.as_bytes());
    for p in parts {
        buf.extend_from_slice(p);
    }
    U256::from_be_bytes(keccak256(buf).0)
}

pub(crate) fn word(v: u64) -> [u8; 32] {
    U256::from(v).to_be_bytes::<32>()
}

pub(crate) fn addr_word(a: &Address) -> U256 {
    U256::from_be_bytes(a.into_word().0)
}

pub(crate) fn word_addr(v: U256) -> Address {
    Address::from_word(B256::from(v.to_be_bytes::<32>()))
}
