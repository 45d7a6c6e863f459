//! The Ethereum JSON-RPC API of the node.

mod filters;
mod server;

use alloy_consensus::transaction::{Recovered, SignerRecoverable};
use alloy_consensus::{Header, Transaction as _, TxEnvelope};
use alloy_eips::{BlockId, BlockNumberOrTag};
use alloy_primitives::{Address, B256, Bytes, U64, U256};
use alloy_rpc_types_eth::{
    Block, BlockTransactions, FeeHistory, Filter, FilterBlockOption, Log, Transaction,
    TransactionReceipt, TransactionRequest, Withdrawals,
};
use revm::context::result::{EVMError, ExecutionResult, HaltReason};
use revm::database::CacheDB;
use revm::{ExecuteEvm, context::TxEnv};

use serde_json::{Value, json};

pub use server::{router, serve};
pub use zg_node_kit::jsonrpc::{RpcError, codes};
use zg_node_kit::jsonrpc::{ok, opt_param, param};

use crate::error::ChainError;
use crate::executor::{self, CallRequest, Mode, StoreDb};
use crate::metrics::Metrics;
use crate::node::Node;

/// Suggested priority fee (1 gwei).
pub const DEFAULT_TIP: u128 = 1_000_000_000;
/// Most blocks one `eth_feeHistory` covers.
const MAX_FEE_HISTORY: u64 = 1024;
/// Most blocks one `anvil_mine` produces.
const MAX_DEV_BLOCKS: u64 = 10_000;

impl From<ChainError> for RpcError {
    fn from(e: ChainError) -> Self {
        match e {
            ChainError::TxRejected(m) => Self::server(m),
            ChainError::InvalidParams(m) => Self::invalid_params(m),
            ChainError::Reverted { reason, data } => Self {
                code: codes::EXECUTION_REVERTED,
                message: match reason {
                    Some(r) => format!("execution reverted: {r}"),
                    None => "execution reverted".into(),
                },
                data: Some(Value::String(data.to_string())),
            },
            ChainError::Halted(m) => Self::server(m),
            ChainError::ShuttingDown => Self::server("node is shutting down"),
            e @ (ChainError::Storage(_) | ChainError::Corrupt(_) | ChainError::Config(_)) => {
                tracing::error!(target: "zg_chain::rpc", error = %e, "internal error");
                Self::new(codes::INTERNAL_ERROR, "internal error")
            }
        }
    }
}

const METHODS: &[&str] = &[
    "web3_clientVersion",
    "web3_sha3",
    "net_version",
    "net_listening",
    "net_peerCount",
    "eth_chainId",
    "eth_blockNumber",
    "eth_syncing",
    "eth_accounts",
    "eth_coinbase",
    "eth_mining",
    "eth_gasPrice",
    "eth_maxPriorityFeePerGas",
    "eth_blobBaseFee",
    "eth_feeHistory",
    "eth_getBalance",
    "eth_getCode",
    "eth_getStorageAt",
    "eth_getProof",
    "eth_getTransactionCount",
    "eth_getBlockByNumber",
    "eth_getBlockByHash",
    "eth_getBlockTransactionCountByNumber",
    "eth_getBlockTransactionCountByHash",
    "eth_getBlockReceipts",
    "eth_getTransactionByHash",
    "eth_getTransactionByBlockNumberAndIndex",
    "eth_getTransactionByBlockHashAndIndex",
    "eth_getTransactionReceipt",
    "eth_sendRawTransaction",
    "eth_call",
    "eth_estimateGas",
    "eth_getLogs",
    "eth_newFilter",
    "eth_newBlockFilter",
    "eth_getFilterChanges",
    "eth_getFilterLogs",
    "eth_uninstallFilter",
    "eth_getUncleCountByBlockNumber",
    "eth_getUncleCountByBlockHash",
    "evm_mine",
    "anvil_mine",
    "zg_getFinalityCertificate",
    "zg_getRawBlock",
    "debug_getRawHeader",
];

/// Whether `m` is a method this node serves.
pub fn is_known_method(m: &str) -> bool {
    METHODS.contains(&m)
}

fn hex_u64(n: u64) -> Value {
    Value::String(format!("{n:#x}"))
}

/// Methods that read many blocks, recover signers or run the EVM: they run on the
/// blocking pool, at most [`crate::config::RpcConfig::max_heavy`] at once, within the
/// EVM time budget.
const HEAVY: &[&str] = &[
    "eth_getProof",
    "eth_getFilterChanges",
    "eth_getFilterLogs",
    "eth_call",
    "eth_estimateGas",
    "eth_getLogs",
    "eth_getBlockReceipts",
    "eth_getTransactionReceipt",
    "eth_feeHistory",
    "eth_getBlockByNumber",
    "eth_getBlockByHash",
];

/// Most `rewardPercentiles` in one `eth_feeHistory` (as geth).
const MAX_REWARD_PERCENTILES: usize = 100;

/// Most storage keys one `eth_getProof` proves.
const MAX_PROOF_KEYS: usize = 1024;

/// Most logs one `eth_getLogs` returns.
const MAX_LOGS: usize = 10_000;

/// The wall-clock budget of one heavy call.
#[derive(Clone, Copy, Debug)]
struct Budget {
    deadline: std::time::Instant,
}

impl Budget {
    fn check(&self, what: &str) -> Result<(), RpcError> {
        if std::time::Instant::now() >= self.deadline {
            return Err(RpcError::new(
                codes::TIMEOUT,
                format!("{what} exceeded the node's time budget for one call"),
            ));
        }
        Ok(())
    }
}

/// The `eth_` API over a node. Cheap to clone.
#[derive(Clone, Debug)]
pub struct EthApi {
    node: Node,
    /// Heavy-call places of untrusted clients.
    heavy: std::sync::Arc<tokio::sync::Semaphore>,
    /// Heavy-call places of trusted clients (the node's own sidecars): they never queue
    /// behind the public's calls.
    heavy_trusted: std::sync::Arc<tokio::sync::Semaphore>,
    /// Installed polling filters.
    filters: std::sync::Arc<filters::Filters>,
}

impl EthApi {
    /// The API of `node`.
    pub fn new(node: Node) -> Self {
        let places = node.config().rpc.max_heavy.max(1);
        let heavy = std::sync::Arc::new(tokio::sync::Semaphore::new(places));
        let heavy_trusted = std::sync::Arc::new(tokio::sync::Semaphore::new(places));
        Self {
            node,
            heavy,
            heavy_trusted,
            filters: std::sync::Arc::default(),
        }
    }

    /// Runs a heavy call on the blocking pool once one of the node's heavy-call places
    /// is free (waiting at most the EVM time budget), within that budget. A panic in it
    /// is an internal error of this call, never of the node. Trusted clients have their
    /// own places; an untrusted client is charged a unit per millisecond the call took
    /// (see `zg_node_kit::clients`), so its share of the node's time is its rate.
    async fn heavy<T: Send + 'static>(
        &self,
        f: impl FnOnce(&EthApi, &Budget) -> Result<T, RpcError> + Send + 'static,
    ) -> Result<T, RpcError> {
        let budget_time = self.node.config().rpc.evm_timeout;
        let client = zg_node_kit::ClientMeter::current();
        let lane = if client.is_trusted() {
            &self.heavy_trusted
        } else {
            &self.heavy
        };
        let permit = match tokio::time::timeout(budget_time, lane.clone().acquire_owned()).await {
            Ok(Ok(p)) => p,
            _ => {
                self.node.metrics().rpc_refused.inc();
                return Err(RpcError::new(
                    codes::LIMIT_EXCEEDED,
                    "the node is busy with other heavy requests; retry later",
                ));
            }
        };
        let api = self.clone();
        let budget = Budget {
            deadline: std::time::Instant::now() + budget_time,
        };
        let started = std::time::Instant::now();
        let out = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            f(&api, &budget)
        })
        .await
        .unwrap_or_else(|e| {
            tracing::error!(target: "zg_chain::rpc", error = %e, "a heavy call panicked");
            Err(RpcError::internal("internal error"))
        });
        client.charge(started.elapsed().as_millis() as u64);
        out
    }

    /// The node's metrics.
    pub fn metrics(&self) -> &Metrics {
        self.node.metrics()
    }

    /// Health: head number and pool size.
    pub fn health(&self) -> Result<Value, RpcError> {
        let head = self.node.head();
        Ok(json!({ "status": "ok", "head": head.header.number, "pending": self.node.pool_len() }))
    }

    /// Dispatches one call.
    pub async fn call(&self, method: &str, p: Vec<Value>) -> Result<Value, RpcError> {
        match method {
            "evm_mine" | "anvil_mine" => self.dev_call(method, &p).await,
            m if HEAVY.contains(&m) => {
                let m = m.to_string();
                self.heavy(move |api, budget| api.call_sync(&m, &p, budget))
                    .await
            }
            _ => {
                let budget = Budget {
                    deadline: std::time::Instant::now() + self.node.config().rpc.evm_timeout,
                };
                self.call_sync(method, &p, &budget)
            }
        }
    }

    /// The state-bending development methods: only on a node started with `dev`.
    async fn dev_call(&self, method: &str, p: &[Value]) -> Result<Value, RpcError> {
        let n = &self.node;
        if !n.config().dev {
            return Err(RpcError::method_not_found(method));
        }
        match method {
            "evm_mine" => ok(hex_u64(n.mine_one().await?)),
            _ => {
                let count = opt_param::<U64>(p, 0, "blocks")?.map_or(1, |c| c.to::<u64>());
                if count > MAX_DEV_BLOCKS {
                    return Err(RpcError::invalid_params(format!(
                        "at most {MAX_DEV_BLOCKS} blocks per call"
                    )));
                }
                let mut last = n.head().header.number;
                for _ in 0..count {
                    last = n.mine_one().await?;
                }
                ok(hex_u64(last))
            }
        }
    }

    fn call_sync(&self, method: &str, p: &[Value], budget: &Budget) -> Result<Value, RpcError> {
        let n = &self.node;
        let p = p.to_vec();
        match method {
            "web3_clientVersion" => ok(format!("zg-chain/v{}", env!("CARGO_PKG_VERSION"))),
            "web3_sha3" => ok(alloy_primitives::keccak256(param::<Bytes>(&p, 0, "data")?)),
            "net_version" => ok(n.chain_id().to_string()),
            "net_listening" => ok(true),
            "net_peerCount" => ok(hex_u64(0)),
            "eth_chainId" => ok(hex_u64(n.chain_id())),
            "eth_blockNumber" => ok(hex_u64(n.head().header.number)),
            "zg_getFinalityCertificate" => self.finality_certificate(&p),
            "zg_getRawBlock" => {
                let tag: BlockNumberOrTag = param(&p, 0, "block")?;
                let Some(num) = self.resolve(BlockId::Number(tag))? else {
                    return ok(Value::Null);
                };
                let store = n.store();
                match store.header(num)? {
                    None => ok(Value::Null),
                    Some(header) => {
                        let block = crate::consensus::ZgBlock::new(header, store.block_txs(num)?);
                        ok(Bytes::from(
                            commonware_codec::Encode::encode(&block).to_vec(),
                        ))
                    }
                }
            }
            // As geth and reth serve it: the RLP header, whose keccak is the block hash
            // (what a light client checks a finality certificate's block against).
            "debug_getRawHeader" => {
                let id: BlockId = param(&p, 0, "block")?;
                let Some(num) = self.resolve(id)? else {
                    return ok(Value::Null);
                };
                match n.store().header(num)? {
                    None => ok(Value::Null),
                    Some(header) => ok(Bytes::from(alloy_rlp::encode(&header))),
                }
            }
            "eth_syncing" | "eth_mining" => ok(false),
            "eth_accounts" => ok(Vec::<Address>::new()),
            "eth_coinbase" => ok(n.config().coinbase),
            "eth_gasPrice" => ok(U256::from(u128::from(n.next_base_fee()) + DEFAULT_TIP)),
            "eth_maxPriorityFeePerGas" => ok(U256::from(DEFAULT_TIP)),
            "eth_blobBaseFee" => ok(hex_u64(1)),
            "eth_feeHistory" => self.fee_history(&p, budget),
            "eth_getBalance" => {
                let a: Address = param(&p, 0, "address")?;
                let at = self.state_at(opt_param(&p, 1, "block")?)?;
                ok(self.account(&a, at)?.map(|a| a.balance).unwrap_or_default())
            }
            "eth_getCode" => {
                let a: Address = param(&p, 0, "address")?;
                let at = self.state_at(opt_param(&p, 1, "block")?)?;
                let code = match self.account(&a, at)? {
                    Some(acc) if acc.code_hash != alloy_trie::KECCAK_EMPTY => {
                        n.store().code(&acc.code_hash)?.unwrap_or_default()
                    }
                    _ => Bytes::new(),
                };
                ok(code)
            }
            "eth_getStorageAt" => {
                let a: Address = param(&p, 0, "address")?;
                let slot: U256 = param(&p, 1, "slot")?;
                let value = match self.state_at(opt_param(&p, 2, "block")?)? {
                    None => n.store().storage(&a, &slot)?,
                    Some(h) => n.store().storage_at(h.state_root, &a, &slot)?,
                };
                ok(B256::from(value.to_be_bytes::<32>()))
            }
            "eth_getProof" => self.get_proof(&p, budget),
            "eth_getTransactionCount" => {
                let a: Address = param(&p, 0, "address")?;
                let block: Option<BlockId> = opt_param(&p, 1, "block")?;
                if matches!(block, Some(BlockId::Number(BlockNumberOrTag::Pending))) {
                    return ok(hex_u64(n.pending_nonce(&a)?));
                }
                let at = self.state_at(block)?;
                ok(hex_u64(self.account(&a, at)?.map_or(0, |a| a.nonce)))
            }
            "eth_getBlockByNumber" => {
                let tag: BlockNumberOrTag = param(&p, 0, "block")?;
                let full: bool = opt_param(&p, 1, "full")?.unwrap_or(false);
                match self.resolve(BlockId::Number(tag))? {
                    Some(num) => ok(self.block(num, full)?),
                    None => ok(Value::Null),
                }
            }
            "eth_getBlockByHash" => {
                let h: B256 = param(&p, 0, "hash")?;
                let full: bool = opt_param(&p, 1, "full")?.unwrap_or(false);
                match n.store().block_number(&h)? {
                    Some(num) => ok(self.block(num, full)?),
                    None => ok(Value::Null),
                }
            }
            "eth_getBlockTransactionCountByNumber" | "eth_getBlockTransactionCountByHash" => {
                let id = if method.ends_with("Hash") {
                    BlockId::Hash(param::<B256>(&p, 0, "hash")?.into())
                } else {
                    BlockId::Number(param(&p, 0, "block")?)
                };
                match self.resolve(id)? {
                    Some(num) => ok(hex_u64(n.store().block_txs(num)?.len() as u64)),
                    None => ok(Value::Null),
                }
            }
            "eth_getUncleCountByBlockNumber" | "eth_getUncleCountByBlockHash" => ok(hex_u64(0)),
            "eth_getBlockReceipts" => {
                let id: BlockId = param(&p, 0, "block")?;
                match self.resolve(id)? {
                    Some(num) => ok(self.receipts(num)?),
                    None => ok(Value::Null),
                }
            }
            "eth_getTransactionByHash" => {
                let h: B256 = param(&p, 0, "hash")?;
                if let Some(loc) = n.store().tx_location(&h)? {
                    return ok(self.tx_at(loc.block, loc.index as usize)?);
                }
                match n.pending_tx(&h) {
                    Some(pt) => ok(Transaction {
                        inner: Recovered::new_unchecked(pt.tx, pt.sender),
                        block_hash: None,
                        block_number: None,
                        block_timestamp: None,
                        transaction_index: None,
                        effective_gas_price: None,
                    }),
                    None => ok(Value::Null),
                }
            }
            "eth_getTransactionByBlockNumberAndIndex" | "eth_getTransactionByBlockHashAndIndex" => {
                let id = if method.contains("Hash") {
                    BlockId::Hash(param::<B256>(&p, 0, "hash")?.into())
                } else {
                    BlockId::Number(param(&p, 0, "block")?)
                };
                let index: U64 = param(&p, 1, "index")?;
                match self.resolve(id)? {
                    Some(num) if (index.to::<u64>() as usize) < n.store().block_txs(num)?.len() => {
                        ok(self.tx_at(num, index.to::<u64>() as usize)?)
                    }
                    _ => ok(Value::Null),
                }
            }
            "eth_getTransactionReceipt" => {
                let h: B256 = param(&p, 0, "hash")?;
                match n.store().tx_location(&h)? {
                    Some(loc) => ok(self.receipt(loc.block, loc.index as usize)?),
                    None => ok(Value::Null),
                }
            }
            "eth_sendRawTransaction" => {
                let raw: Bytes = param(&p, 0, "data")?;
                ok(n.submit_raw(&raw)?)
            }
            "eth_call" => {
                let req: TransactionRequest = param(&p, 0, "transaction")?;
                let at = self.state_at(opt_param(&p, 1, "block")?)?;
                let req = call_request(req)?;
                let gas = req
                    .gas
                    .unwrap_or(n.config().genesis.gas_limit)
                    .min(n.config().rpc.gas_cap);
                let (result, _) = self.execute(&req, gas, at.as_ref())?;
                ok(result_output(result)?)
            }
            "eth_estimateGas" => {
                let req: TransactionRequest = param(&p, 0, "transaction")?;
                let at = self.state_at(opt_param(&p, 1, "block")?)?;
                ok(hex_u64(self.estimate_gas(
                    &call_request(req)?,
                    at.as_ref(),
                    budget,
                )?))
            }
            "eth_getLogs" => {
                let f: Filter = param(&p, 0, "filter")?;
                ok(self.logs(&f, budget)?)
            }
            "eth_newFilter" => {
                let f: Filter = param(&p, 0, "filter")?;
                let head = n.head().header.number;
                let next = match f.get_from_block() {
                    Some(from) => from,
                    None if matches!(
                        f.block_option,
                        FilterBlockOption::Range {
                            from_block: Some(BlockNumberOrTag::Earliest),
                            ..
                        }
                    ) =>
                    {
                        0
                    }
                    None => head + 1,
                };
                ok(self
                    .filters
                    .install(filters::Kind::Logs(Box::new(f)), next)?)
            }
            "eth_newBlockFilter" => {
                let next = n.head().header.number + 1;
                ok(self.filters.install(filters::Kind::Blocks, next)?)
            }
            "eth_getFilterChanges" => {
                let id: alloy_primitives::U128 = param(&p, 0, "id")?;
                self.filter_changes(id, budget)
            }
            "eth_getFilterLogs" => {
                let id: alloy_primitives::U128 = param(&p, 0, "id")?;
                match self.filters.poll(id)?.0 {
                    filters::Kind::Logs(f) => ok(self.logs(&f, budget)?),
                    filters::Kind::Blocks => Err(RpcError::server("filter not found")),
                }
            }
            "eth_uninstallFilter" => {
                let id: alloy_primitives::U128 = param(&p, 0, "id")?;
                ok(self.filters.uninstall(id))
            }
            _ => Err(RpcError::new(
                codes::METHOD_NOT_FOUND,
                format!("the method {method} does not exist/is not available"),
            )),
        }
    }

    /// `eth_getProof` (EIP-1186): the account and storage proofs at any committed block
    /// (the state trie keeps every version).
    fn get_proof(&self, p: &[Value], budget: &Budget) -> Result<Value, RpcError> {
        let address: Address = param(p, 0, "address")?;
        let keys: Vec<U256> = param(p, 1, "storageKeys")?;
        if keys.len() > MAX_PROOF_KEYS {
            return Err(RpcError::invalid_params(format!(
                "at most {MAX_PROOF_KEYS} storage keys per proof"
            )));
        }
        let id: Option<BlockId> = opt_param(p, 2, "block")?;
        let header = match self.state_at(id)? {
            Some(h) => h,
            None => self.node.head().header.clone(),
        };
        let num = header.number;
        budget.check("eth_getProof")?;
        let slots: Vec<B256> = keys
            .iter()
            .map(|k| B256::from(k.to_be_bytes::<32>()))
            .collect();
        let proof = self
            .node
            .store()
            .prove(header.state_root, &address, &slots)
            .map_err(|e| match e {
                crate::error::ChainError::Corrupt(_) => RpcError::server(format!(
                    "state of block {num} is not available on this node"
                )),
                e => e.into(),
            })?;
        let hex_nodes =
            |nodes: &[Vec<u8>]| -> Vec<Bytes> { nodes.iter().cloned().map(Bytes::from).collect() };
        let storage: Vec<Value> = proof
            .storage
            .iter()
            .map(|(key, value, nodes)| json!({ "key": key, "value": value, "proof": hex_nodes(nodes) }))
            .collect();
        ok(json!({
            "address": address,
            "balance": proof.account.balance,
            "codeHash": proof.account.code_hash,
            "nonce": hex_u64(proof.account.nonce),
            "storageHash": proof.account.storage_root,
            "accountProof": hex_nodes(&proof.proof),
            "storageProof": storage,
        }))
    }

    /// What a filter has seen since its last poll: new block hashes, or new matching
    /// logs; at most `MAX_POLL_BLOCKS` blocks per poll.
    fn filter_changes(
        &self,
        id: alloy_primitives::U128,
        budget: &Budget,
    ) -> Result<Value, RpcError> {
        let (kind, next) = self.filters.poll(id)?;
        let head = self.node.head().header.number;
        let mut end = head.min(next.saturating_add(filters::MAX_POLL_BLOCKS - 1));
        if let filters::Kind::Logs(f) = &kind
            && let Some(to) = f.get_to_block()
        {
            end = end.min(to);
        }
        if next > end {
            return ok(Vec::<Value>::new());
        }
        let out = match kind {
            filters::Kind::Blocks => {
                let mut hashes = Vec::with_capacity((end - next + 1) as usize);
                for num in next..=end {
                    budget.check("eth_getFilterChanges")?;
                    hashes.push(self.header(num)?.hash_slow());
                }
                json!(hashes)
            }
            filters::Kind::Logs(f) => {
                let window = (*f).clone().from_block(next).to_block(end);
                json!(self.logs(&window, budget)?)
            }
        };
        self.filters.advance(id, end + 1);
        ok(out)
    }

    /// `eth_subscribe` over WebSocket: `newHeads` (each committed block's header, in
    /// order), `logs` (with an optional address/topics filter, each committed block's
    /// matching logs) and `newPendingTransactions` (hashes entering the pool). The
    /// producer ends when the subscriber is gone.
    pub fn subscribe(
        &self,
        params: Vec<Value>,
        sink: tokio::sync::mpsc::Sender<Value>,
    ) -> Result<(), RpcError> {
        let kind: String = param(&params, 0, "subscription")?;
        let api = self.clone();
        match kind.as_str() {
            "newHeads" | "logs" => {
                let filter = if kind == "logs" {
                    Some(match params.get(1) {
                        None | Some(Value::Null) => Filter::default(),
                        Some(v) => serde_json::from_value::<Filter>(v.clone())
                            .map_err(|e| RpcError::invalid_params(format!("logs filter: {e}")))?,
                    })
                } else {
                    None
                };
                let mut heads = self.node.subscribe_head();
                let mut next = self.node.head().header.number + 1;
                tokio::spawn(async move {
                    loop {
                        tokio::select! {
                            r = heads.changed() => if r.is_err() { break },
                            () = sink.closed() => break,
                        }
                        let head = *heads.borrow_and_update();
                        while next <= head {
                            let notes = match &filter {
                                None => match api.block(next, false) {
                                    Ok(b) => {
                                        vec![serde_json::to_value(&b.header).unwrap_or(Value::Null)]
                                    }
                                    Err(_) => break,
                                },
                                Some(f) => {
                                    let budget = Budget {
                                        deadline: std::time::Instant::now()
                                            + api.node.config().rpc.evm_timeout,
                                    };
                                    let f = f.clone().from_block(next).to_block(next);
                                    match api.logs(&f, &budget) {
                                        Ok(logs) => logs
                                            .into_iter()
                                            .map(|l| {
                                                serde_json::to_value(&l).unwrap_or(Value::Null)
                                            })
                                            .collect(),
                                        Err(_) => break,
                                    }
                                }
                            };
                            for n in notes {
                                if sink.send(n).await.is_err() {
                                    return;
                                }
                            }
                            next += 1;
                        }
                    }
                });
                Ok(())
            }
            "newPendingTransactions" => {
                let mut pending = self.node.subscribe_pending();
                tokio::spawn(async move {
                    loop {
                        let hash = tokio::select! {
                            r = pending.recv() => match r {
                                Ok(h) => h,
                                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                                Err(_) => break,
                            },
                            () = sink.closed() => break,
                        };
                        if sink.send(serde_json::json!(hash)).await.is_err() {
                            break;
                        }
                    }
                });
                Ok(())
            }
            other => Err(RpcError::invalid_params(format!(
                "unknown subscription {other:?}: newHeads, logs or newPendingTransactions"
            ))),
        }
    }

    /// `zg_getFinalityCertificate(block)`: the certificate that finalizes `block`: its
    /// own, or that of the lowest later block with one (which finalizes `block` through
    /// the parent hashes). `null` on a chain without validators or before one exists.
    fn finality_certificate(&self, p: &[Value]) -> Result<Value, RpcError> {
        let tag: BlockNumberOrTag = param(p, 0, "block")?;
        let store = self.node.store();
        let Some(num) = self.resolve(BlockId::Number(tag))? else {
            return ok(Value::Null);
        };
        let Some((at, certificate)) = store.finality_from(num)? else {
            return ok(Value::Null);
        };
        let hash = |n: u64| -> Result<Option<B256>, RpcError> {
            Ok(store.header(n)?.map(|h| h.hash_slow()))
        };
        ok(serde_json::json!({
            "number": hex_u64(num),
            "hash": hash(num)?,
            "certifiedNumber": hex_u64(at),
            "certifiedHash": hash(at)?,
            "scheme": "bls12381-threshold-vrf-minsig",
            "certificate": Bytes::from(certificate),
        }))
    }

    /// Resolves a block id to a number; `None` if it does not exist.
    fn resolve(&self, id: BlockId) -> Result<Option<u64>, RpcError> {
        let head = self.node.head().header.number;
        Ok(match id {
            BlockId::Hash(h) => self.node.store().block_number(&h.block_hash)?,
            BlockId::Number(tag) => match tag {
                BlockNumberOrTag::Earliest => Some(0),
                BlockNumberOrTag::Number(n) => (n <= head).then_some(n),
                _ => Some(head),
            },
        })
    }

    /// The block whose state a query reads: `None` for the head (the flat state), an
    /// older block's header (its state trie) within `--rpc.state-history` blocks.
    fn state_at(&self, id: Option<BlockId>) -> Result<Option<Header>, RpcError> {
        let Some(id) = id else { return Ok(None) };
        let head = self.node.head().header.number;
        let history = self.node.config().rpc.state_history;
        match self.resolve(id)? {
            Some(n) if n == head => Ok(None),
            Some(n) if head - n <= history => Ok(Some(self.header(n)?)),
            Some(n) => Err(RpcError::server(format!(
                "historical state of block {n} is not available: this node serves the state of the last {history} blocks (head {head})"
            ))),
            None => Err(RpcError::server("header not found")),
        }
    }

    /// An account at the head (`at` = `None`) or at an older block.
    fn account(
        &self,
        a: &Address,
        at: Option<Header>,
    ) -> Result<Option<alloy_trie::TrieAccount>, RpcError> {
        Ok(match at {
            None => self.node.store().account(a)?,
            Some(h) => self.node.store().account_at(h.state_root, a)?,
        })
    }

    fn header(&self, num: u64) -> Result<Header, RpcError> {
        self.node
            .store()
            .header(num)?
            .ok_or_else(|| RpcError::server("header not found"))
    }

    fn block(&self, num: u64, full: bool) -> Result<Block, RpcError> {
        let header = self.header(num)?;
        let hash = header.hash_slow();
        let txs = self.node.store().block_txs(num)?;
        let size = alloy_rlp::Encodable::length(&header)
            + txs
                .iter()
                .map(alloy_eips::Encodable2718::encode_2718_len)
                .sum::<usize>();
        let transactions = if full {
            BlockTransactions::Full(
                txs.into_iter()
                    .enumerate()
                    .map(|(i, tx)| rpc_tx(tx, &header, hash, i))
                    .collect::<Result<_, _>>()?,
            )
        } else {
            BlockTransactions::Hashes(txs.iter().map(|t| *t.tx_hash()).collect())
        };
        Ok(Block {
            header: alloy_rpc_types_eth::Header {
                hash,
                inner: header,
                total_difficulty: Some(U256::ZERO),
                size: Some(U256::from(size)),
            },
            uncles: vec![],
            transactions,
            withdrawals: Some(Withdrawals::default()),
        })
    }

    fn tx_at(&self, num: u64, index: usize) -> Result<Transaction, RpcError> {
        let header = self.header(num)?;
        let tx = self
            .node
            .store()
            .block_txs(num)?
            .into_iter()
            .nth(index)
            .ok_or_else(|| {
                RpcError::new(codes::INTERNAL_ERROR, "transaction index out of range")
            })?;
        rpc_tx(tx, &header, header.hash_slow(), index)
    }

    fn receipts(&self, num: u64) -> Result<Vec<TransactionReceipt>, RpcError> {
        let header = self.header(num)?;
        let hash = header.hash_slow();
        let txs = self.node.store().block_txs(num)?;
        let receipts = self.node.store().receipts(num)?;
        let mut out = Vec::with_capacity(txs.len());
        let mut prev_cumulative = 0u64;
        let mut log_index = 0u64;
        for (i, (tx, r)) in txs.into_iter().zip(receipts).enumerate() {
            let (next_cumulative, next_log) =
                (r.cumulative_gas_used(), log_index + r.logs().len() as u64);
            out.push(rpc_receipt(
                &header,
                hash,
                i,
                tx,
                r,
                prev_cumulative,
                log_index,
            )?);
            prev_cumulative = next_cumulative;
            log_index = next_log;
        }
        Ok(out)
    }

    /// The receipt of transaction `index` of block `num`: only that transaction's sender
    /// is recovered (the block's earlier receipts give its gas and log offsets), so one
    /// receipt costs the same whatever the block's size.
    fn receipt(&self, num: u64, index: usize) -> Result<Option<TransactionReceipt>, RpcError> {
        let header = self.header(num)?;
        let hash = header.hash_slow();
        let mut txs = self.node.store().block_txs(num)?;
        let receipts = self.node.store().receipts(num)?;
        if index >= txs.len() || index >= receipts.len() {
            return Ok(None);
        }
        let prev_cumulative = index
            .checked_sub(1)
            .map_or(0, |p| receipts[p].cumulative_gas_used());
        let log_index: u64 = receipts[..index]
            .iter()
            .map(|r| r.logs().len() as u64)
            .sum();
        let tx = txs.swap_remove(index);
        let r = receipts.into_iter().nth(index).expect("index checked");
        rpc_receipt(&header, hash, index, tx, r, prev_cumulative, log_index).map(Some)
    }

    fn logs(&self, f: &Filter, budget: &Budget) -> Result<Vec<Log>, RpcError> {
        let store = self.node.store();
        let head = self.node.head().header.number;
        let (from, to) = match &f.block_option {
            FilterBlockOption::AtBlockHash(h) => match store.block_number(h)? {
                Some(n) => (n, n),
                None => return Err(RpcError::server("unknown block")),
            },
            FilterBlockOption::Range {
                from_block,
                to_block,
            } => {
                let num = |t: &Option<BlockNumberOrTag>| match t {
                    None => head,
                    Some(BlockNumberOrTag::Earliest) => 0,
                    Some(BlockNumberOrTag::Number(n)) => *n,
                    Some(_) => head,
                };
                (num(from_block), num(to_block).min(head))
            }
        };
        if from > to {
            return if from > head {
                Ok(vec![])
            } else {
                Err(RpcError::invalid_params("fromBlock is after toBlock"))
            };
        }
        let max = self.node.config().max_logs_range;
        if to - from >= max {
            return Err(RpcError::server(format!(
                "block range too large: at most {max} blocks per query"
            )));
        }
        let mut out = Vec::new();
        for num in from..=to {
            budget.check("eth_getLogs")?;
            let header = self.header(num)?;
            if !f.matches_bloom(header.logs_bloom) {
                continue;
            }
            let hash = header.hash_slow();
            let txs = store.block_txs(num)?;
            let receipts = store.receipts(num)?;
            let mut log_index = 0u64;
            for (i, (tx, r)) in txs.iter().zip(&receipts).enumerate() {
                for l in alloy_consensus::TxReceipt::logs(r) {
                    if f.matches(l) {
                        out.push(Log {
                            inner: l.clone(),
                            block_hash: Some(hash),
                            block_number: Some(num),
                            block_timestamp: Some(header.timestamp),
                            transaction_hash: Some(*tx.tx_hash()),
                            transaction_index: Some(i as u64),
                            log_index: Some(log_index),
                            removed: false,
                        });
                    }
                    log_index += 1;
                }
            }
            if out.len() > MAX_LOGS {
                return Err(RpcError::new(
                    codes::LIMIT_EXCEEDED,
                    format!("query returned more than {MAX_LOGS} results; narrow the range"),
                ));
            }
        }
        Ok(out)
    }

    fn fee_history(&self, p: &[Value], budget: &Budget) -> Result<Value, RpcError> {
        let count: U64 = param(p, 0, "blockCount")?;
        let newest: BlockNumberOrTag = param(p, 1, "newestBlock")?;
        let percentiles: Option<Vec<f64>> = opt_param(p, 2, "rewardPercentiles")?;
        let bad = |ps: &Vec<f64>| {
            ps.iter().any(|x| !(0.0..=100.0).contains(x)) || ps.windows(2).any(|w| w[0] > w[1])
        };
        if percentiles
            .as_ref()
            .is_some_and(|ps| ps.len() > MAX_REWARD_PERCENTILES)
        {
            return Err(RpcError::invalid_params(format!(
                "at most {MAX_REWARD_PERCENTILES} reward percentiles"
            )));
        }
        if percentiles.as_ref().is_some_and(bad) {
            return Err(RpcError::invalid_params(
                "reward percentiles must be ascending values in [0, 100]",
            ));
        }
        let newest = self
            .resolve(BlockId::Number(newest))?
            .ok_or_else(|| RpcError::server("header not found"))?;
        let count = count.to::<u64>().clamp(1, MAX_FEE_HISTORY).min(newest + 1);
        let oldest = newest + 1 - count;
        let mut base_fees = Vec::new();
        let mut ratios = Vec::new();
        let mut rewards = Vec::new();
        for num in oldest..=newest {
            budget.check("eth_feeHistory")?;
            let h = self.header(num)?;
            let base = h.base_fee_per_gas.unwrap_or_default();
            base_fees.push(u128::from(base));
            ratios.push(h.gas_used as f64 / h.gas_limit as f64);
            if let Some(ps) = &percentiles {
                let receipts = self.node.store().receipts(num)?;
                let mut tips: Vec<(u128, u64)> = Vec::new();
                let mut prev = 0;
                for (tx, r) in self.node.store().block_txs(num)?.iter().zip(&receipts) {
                    tips.push((
                        tx.effective_tip_per_gas(base).unwrap_or(0),
                        r.cumulative_gas_used() - prev,
                    ));
                    prev = r.cumulative_gas_used();
                }
                tips.sort_unstable();
                let total: u64 = tips.iter().map(|t| t.1).sum();
                rewards.push(
                    ps.iter()
                        .map(|pc| {
                            let target = (total as f64 * pc / 100.0) as u64;
                            let mut acc = 0;
                            tips.iter()
                                .find(|t| {
                                    acc += t.1;
                                    acc >= target
                                })
                                .map_or(0, |t| t.0)
                        })
                        .collect::<Vec<u128>>(),
                );
            }
        }
        let last = self.header(newest)?;
        base_fees.push(u128::from(
            alloy_eips::eip1559::BaseFeeParams::ethereum().next_block_base_fee(
                last.gas_used,
                last.gas_limit,
                last.base_fee_per_gas.unwrap_or_default(),
            ),
        ));
        ok(FeeHistory {
            base_fee_per_gas: base_fees,
            gas_used_ratio: ratios,
            base_fee_per_blob_gas: vec![0; count as usize + 1],
            blob_gas_used_ratio: vec![0.0; count as usize],
            oldest_block: oldest,
            reward: percentiles.map(|_| rewards),
        })
    }

    /// Executes a call without committing, on the state after the head (`at` = `None`)
    /// or after an older block, in the context of the block that would follow it.
    fn execute(
        &self,
        req: &CallRequest,
        gas: u64,
        at: Option<&Header>,
    ) -> Result<(ExecutionResult<HaltReason>, u64), RpcError> {
        let n = &self.node;
        let g = &n.config().genesis;
        let (parent, db) = match at {
            None => (n.head().header.clone(), StoreDb::new(n.store().clone())),
            Some(h) => (h.clone(), StoreDb::at(n.store().clone(), h.state_root)),
        };
        // Without fee fields the call is free (base fee 0), as in geth.
        let base_fee = match (req.has_fees(), at) {
            (false, _) => 0,
            (true, None) => n.next_base_fee(),
            (true, Some(h)) => h.base_fee_per_gas.unwrap_or_default(),
        };
        let env = executor::block_env(
            parent.number + 1,
            parent.timestamp + 1,
            n.config().coinbase,
            g.gas_limit,
            base_fee,
            alloy_primitives::keccak256(parent.hash_slow()),
        );
        let mut evm = executor::build_evm(CacheDB::new(db), n.genesis(), env, Mode::Call);
        let tx: TxEnv = req.tx_env(gas, n.chain_id());
        match evm.transact(tx) {
            Ok(out) => {
                let used = out.result.tx_gas_used();
                Ok((out.result, used))
            }
            Err(EVMError::Transaction(e)) => Err(RpcError::server(e.to_string())),
            Err(EVMError::Database(e)) => Err(e.into()),
            Err(e) => Err(RpcError::server(e.to_string())),
        }
    }

    fn estimate_gas(
        &self,
        req: &CallRequest,
        at: Option<&Header>,
        budget: &Budget,
    ) -> Result<u64, RpcError> {
        let config = self.node.config();
        let cap = req
            .gas
            .unwrap_or(config.genesis.gas_limit)
            .min(config.genesis.gas_limit)
            .min(config.rpc.gas_cap);
        let (result, used) = self.execute(req, cap, at)?;
        result_output(result)?;
        // Gas used is a lower bound (refunds, the 63/64 rule): search upwards from it.
        let fits = |gas: u64| -> Result<bool, RpcError> {
            budget.check("eth_estimateGas")?;
            Ok(self.execute(req, gas, at)?.0.is_success())
        };
        let mut lo = used.saturating_sub(1).max(20_999);
        let first = (used + used / 64 + 2_300).min(cap);
        if fits(first)? {
            let mut hi = first;
            while hi - lo > 1 && hi - lo > hi / 1000 {
                let mid = lo + (hi - lo) / 2;
                if fits(mid)? { hi = mid } else { lo = mid }
            }
            return Ok(hi);
        }
        lo = first;
        let mut hi = cap;
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if fits(mid)? { hi = mid } else { lo = mid }
        }
        Ok(hi)
    }
}

fn rpc_tx(
    tx: TxEnvelope,
    header: &Header,
    block_hash: B256,
    index: usize,
) -> Result<Transaction, RpcError> {
    let (num, base_fee) = (header.number, header.base_fee_per_gas);
    let from = tx
        .recover_signer()
        .map_err(|e| RpcError::new(codes::INTERNAL_ERROR, e.to_string()))?;
    let effective_gas_price = Some(tx.effective_gas_price(base_fee));
    Ok(Transaction {
        inner: Recovered::new_unchecked(tx, from),
        block_hash: Some(block_hash),
        block_number: Some(num),
        block_timestamp: Some(header.timestamp),
        transaction_index: Some(index as u64),
        effective_gas_price,
    })
}

fn call_request(r: TransactionRequest) -> Result<CallRequest, RpcError> {
    let input = r.input.into_input().unwrap_or_default();
    Ok(CallRequest {
        from: r.from,
        to: match r.to {
            Some(alloy_primitives::TxKind::Call(a)) => Some(a),
            _ => None,
        },
        gas: r.gas,
        gas_price: r.gas_price,
        max_fee_per_gas: r.max_fee_per_gas,
        max_priority_fee_per_gas: r.max_priority_fee_per_gas,
        value: r.value,
        input,
        nonce: r.nonce,
    })
}

/// The output of a successful call, or the revert/halt as an error.
fn result_output(r: ExecutionResult<HaltReason>) -> Result<Bytes, RpcError> {
    match r {
        ExecutionResult::Success { output, .. } => Ok(output.into_data()),
        ExecutionResult::Revert { output, .. } => {
            let reason = alloy_sol_types::decode_revert_reason(&output);
            Err(ChainError::Reverted {
                reason,
                data: output,
            }
            .into())
        }
        ExecutionResult::Halt { reason, .. } => {
            Err(ChainError::Halted(format!("{reason:?}")).into())
        }
    }
}

/// One transaction's RPC receipt, given the cumulative gas before it and its first log's
/// index in the block.
fn rpc_receipt(
    header: &Header,
    hash: B256,
    i: usize,
    tx: TxEnvelope,
    r: alloy_consensus::ReceiptEnvelope,
    prev_cumulative: u64,
    first_log: u64,
) -> Result<TransactionReceipt, RpcError> {
    let from = tx
        .recover_signer()
        .map_err(|e| RpcError::new(codes::INTERNAL_ERROR, e.to_string()))?;
    let gas_used = r.cumulative_gas_used() - prev_cumulative;
    let contract_address = tx.kind().is_create().then(|| from.create(tx.nonce()));
    let effective_gas_price = tx.effective_gas_price(header.base_fee_per_gas);
    let tx_hash = *tx.tx_hash();
    let num = header.number;
    let mut log_index = first_log;
    let inner = r.map_logs(|l| {
        let log = Log {
            inner: l,
            block_hash: Some(hash),
            block_number: Some(num),
            block_timestamp: Some(header.timestamp),
            transaction_hash: Some(tx_hash),
            transaction_index: Some(i as u64),
            log_index: Some(log_index),
            removed: false,
        };
        log_index += 1;
        log
    });
    Ok(TransactionReceipt {
        inner,
        transaction_hash: tx_hash,
        transaction_index: Some(i as u64),
        block_hash: Some(hash),
        block_number: Some(num),
        gas_used,
        effective_gas_price,
        blob_gas_used: None,
        blob_gas_price: None,
        from,
        to: tx.to(),
        contract_address,
    })
}
