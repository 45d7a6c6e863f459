//! Execution on revm: the database adapter over the store, EVM construction with the DA
//! module precompiles, transaction environments and state-diff accumulation.

use std::sync::Arc;

use alloy_consensus::transaction::Recovered;
use alloy_consensus::{Transaction as _, TxEnvelope, Typed2718 as _};
use alloy_primitives::{Address, B256, Bytes, TxKind, U256};
use revm::context::{BlockEnv, Context, Evm, TxEnv};
use revm::context_interface::block::BlobExcessGasAndPrice;
use revm::context_interface::either::Either;
use revm::database::{CacheDB, DBErrorMarker, DatabaseRef};
use revm::handler::EthFrame;
use revm::handler::instructions::EthInstructions;
use revm::interpreter::interpreter::EthInterpreter;
use revm::primitives::KECCAK_EMPTY;
use revm::primitives::hardfork::SpecId;
use revm::state::{AccountInfo, Bytecode, EvmState};
use revm::{MainBuilder, MainContext};

use crate::config::Genesis;
use crate::error::ChainError;
use crate::modules::ChainPrecompiles;
use crate::store::{AccountChange, StateChanges, Store};

/// The hard fork the chain runs (the newest revm 43 treats as stable).
pub const SPEC: SpecId = SpecId::OSAKA;
/// Largest contract code (EIP-170).
pub const MAX_CODE_SIZE: usize = 0x6000;

impl DBErrorMarker for ChainError {}

/// Read access to the committed state for revm: the head's (flat state), or an older
/// block's (its state trie).
#[derive(Clone, Debug)]
pub struct StoreDb {
    store: Store,
    /// The state root of the block to read, `None` for the head.
    at: Option<B256>,
}

impl StoreDb {
    /// The head's state.
    pub fn new(store: Store) -> Self {
        Self { store, at: None }
    }

    /// The state of the block with `state_root`, read from the trie.
    pub fn at(store: Store, state_root: B256) -> Self {
        Self {
            store,
            at: Some(state_root),
        }
    }
}

impl DatabaseRef for StoreDb {
    type Error = ChainError;

    fn basic_ref(&self, address: Address) -> Result<Option<AccountInfo>, ChainError> {
        let account = match self.at {
            None => self.store.account(&address)?,
            Some(root) => self.store.account_at(root, &address)?,
        };
        Ok(account.map(|a| {
            AccountInfo::default()
                .with_balance(a.balance)
                .with_nonce(a.nonce)
                .with_code_hash(a.code_hash)
        }))
    }

    fn code_by_hash_ref(&self, code_hash: B256) -> Result<Bytecode, ChainError> {
        if code_hash == KECCAK_EMPTY {
            return Ok(Bytecode::default());
        }
        let code = self
            .store
            .code(&code_hash)?
            .ok_or_else(|| ChainError::Corrupt(format!("missing code {code_hash}")))?;
        Ok(Bytecode::new_raw(code))
    }

    fn storage_ref(&self, address: Address, index: U256) -> Result<U256, ChainError> {
        match self.at {
            None => self.store.storage(&address, &index),
            Some(root) => self.store.storage_at(root, &address, &index),
        }
    }

    fn block_hash_ref(&self, number: u64) -> Result<B256, ChainError> {
        Ok(self
            .store
            .header(number)?
            .map(|h| h.hash_slow())
            .unwrap_or_default())
    }
}

/// The state revm executes against: a write cache over the committed store.
pub type Db = CacheDB<StoreDb>;
type Ctx = revm::handler::MainnetContext<Db>;
/// The configured EVM.
pub type ChainEvm =
    Evm<Ctx, (), EthInstructions<EthInterpreter, Ctx>, ChainPrecompiles, EthFrame<EthInterpreter>>;

/// How a call is being executed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// A transaction being included in a block: every check applies.
    Block,
    /// `eth_call` / `eth_estimateGas`: no nonce check, no per-tx gas cap.
    Call,
}

/// Builds an EVM over `db` for a block.
/// The genesis is shared, not copied: it may hold a large allocation table.
pub fn build_evm(db: Db, genesis: &Arc<Genesis>, block: BlockEnv, mode: Mode) -> ChainEvm {
    let chain_id = genesis.chain_id;
    Context::mainnet()
        .with_db(db)
        .with_block(block)
        .modify_cfg_chained(|c| {
            c.set_spec_and_mainnet_gas_params(SPEC);
            c.chain_id = chain_id;
            c.limit_contract_code_size = Some(MAX_CODE_SIZE);
            if mode == Mode::Call {
                c.disable_nonce_check = true;
                c.tx_gas_limit_cap = Some(u64::MAX);
            }
        })
        .build_mainnet()
        .with_precompiles(ChainPrecompiles::new(SPEC, genesis.clone()))
}

/// The block environment of block `number`.
pub fn block_env(
    number: u64,
    timestamp: u64,
    coinbase: Address,
    gas_limit: u64,
    base_fee: u64,
    prevrandao: B256,
) -> BlockEnv {
    BlockEnv {
        number: U256::from(number),
        beneficiary: coinbase,
        timestamp: U256::from(timestamp),
        gas_limit,
        basefee: base_fee,
        difficulty: U256::ZERO,
        prevrandao: Some(prevrandao),
        blob_excess_gas_and_price: Some(BlobExcessGasAndPrice::new(
            0,
            revm::primitives::eip4844::BLOB_BASE_FEE_UPDATE_FRACTION_PRAGUE,
        )),
        ..Default::default()
    }
}

/// The revm transaction environment of a signed transaction.
pub fn tx_env(tx: &Recovered<TxEnvelope>) -> TxEnv {
    let t = tx.inner();
    TxEnv {
        tx_type: t.ty(),
        caller: tx.signer(),
        gas_limit: t.gas_limit(),
        gas_price: t.max_fee_per_gas(),
        gas_priority_fee: t.max_priority_fee_per_gas(),
        kind: t.kind(),
        value: t.value(),
        data: t.input().clone(),
        nonce: t.nonce(),
        chain_id: t.chain_id(),
        access_list: t.access_list().cloned().unwrap_or_default(),
        blob_hashes: t
            .blob_versioned_hashes()
            .map(<[B256]>::to_vec)
            .unwrap_or_default(),
        max_fee_per_blob_gas: t.max_fee_per_blob_gas().unwrap_or_default(),
        authorization_list: t
            .authorization_list()
            .map(|l| l.iter().cloned().map(Either::Left).collect())
            .unwrap_or_default(),
    }
}

/// A call request's environment (`eth_call`, `eth_estimateGas`).
#[derive(Clone, Debug, Default)]
pub struct CallRequest {
    /// Sender (zero address if absent).
    pub from: Option<Address>,
    /// Target; `None` creates a contract.
    pub to: Option<Address>,
    /// Gas limit.
    pub gas: Option<u64>,
    /// Legacy gas price.
    pub gas_price: Option<u128>,
    /// EIP-1559 fee cap.
    pub max_fee_per_gas: Option<u128>,
    /// EIP-1559 tip.
    pub max_priority_fee_per_gas: Option<u128>,
    /// Value.
    pub value: Option<U256>,
    /// Calldata.
    pub input: Bytes,
    /// Nonce (ignored: calls do not check nonces).
    pub nonce: Option<u64>,
}

impl CallRequest {
    /// Its transaction environment with gas limit `gas`.
    pub fn tx_env(&self, gas: u64, chain_id: u64) -> TxEnv {
        let price = self.max_fee_per_gas.or(self.gas_price).unwrap_or(0);
        let tip = self.max_priority_fee_per_gas;
        TxEnv {
            tx_type: if self.max_fee_per_gas.is_some() || tip.is_some() {
                2
            } else {
                0
            },
            caller: self.from.unwrap_or_default(),
            gas_limit: gas,
            gas_price: price,
            gas_priority_fee: tip.map(|t| t.min(price)),
            kind: self.to.map_or(TxKind::Create, TxKind::Call),
            value: self.value.unwrap_or_default(),
            data: self.input.clone(),
            nonce: self.nonce.unwrap_or_default(),
            chain_id: Some(chain_id),
            ..Default::default()
        }
    }

    /// Whether any fee field was given (then the base fee applies).
    pub fn has_fees(&self) -> bool {
        self.gas_price.is_some() || self.max_fee_per_gas.is_some()
    }
}

/// Folds one transaction's state diff into the block's accumulated changes.
pub fn accumulate(changes: &mut StateChanges, state: &EvmState) {
    for (addr, acc) in state {
        if !acc.is_touched() {
            continue;
        }
        let entry = changes.accounts.entry(*addr).or_default();
        if acc.is_selfdestructed() || acc.is_empty() {
            // Self-destructed, or empty and touched (EIP-161): the account goes.
            *entry = AccountChange {
                info: None,
                storage_cleared: true,
                storage: Default::default(),
            };
            continue;
        }
        if acc.is_created() {
            entry.storage_cleared = true;
            entry.storage.clear();
        }
        entry.info = Some((acc.info.nonce, acc.info.balance, acc.info.code_hash));
        if let (true, Some(code)) = (acc.info.code_hash != KECCAK_EMPTY, &acc.info.code) {
            changes
                .code
                .entry(acc.info.code_hash)
                .or_insert_with(|| code.original_bytes());
        }
        for (slot, value) in acc.changed_storage_slots() {
            entry.storage.insert(*slot, value.present_value);
        }
    }
}
