//! Typed chain calls: an `eth_call` decoded as the Solidity function's return type, and
//! "send a call, await its receipt" with a [`TxError`] that says how to react.

use std::time::{Duration, Instant};

use alloy::network::TransactionBuilder;
use alloy::providers::Provider;
use alloy::rpc::types::{TransactionReceipt, TransactionRequest};
use alloy::sol_types::SolCall;
use alloy::transports::TransportError;
use alloy_primitives::{Address, B256, Bytes, U256};

/// How often a receipt is polled for (the bundled chain answers in milliseconds).
const RECEIPT_POLL: Duration = Duration::from_millis(20);

/// A chain call or transaction failed, classified by how the caller should react.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxError {
    /// The endpoint is unreachable or the transport failed: retry.
    #[error("chain unavailable: {0}")]
    Unavailable(String),
    /// The node answered with a JSON-RPC error other than a revert: retry.
    #[error("chain rpc error: {0}")]
    Rpc(String),
    /// The call or transaction reverted (at estimation or execution): the request
    /// itself is refused in the current state.
    #[error("reverted: {message}")]
    Reverted {
        /// The node's message, or which transaction reverted.
        message: String,
        /// The revert data, when the node returned it (decode with the ABI's errors).
        data: Option<Bytes>,
    },
    /// No receipt in time: retry later (the transaction may still land).
    #[error("no receipt for {hash} within {waited:?}")]
    Timeout {
        /// The transaction.
        hash: B256,
        /// How long was waited.
        waited: Duration,
    },
    /// A return value did not decode: the endpoint does not serve this ABI.
    #[error("undecodable return of {0}")]
    Decode(String),
}

impl TxError {
    /// Whether trying again later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::Unavailable(_) | Self::Rpc(_) | Self::Timeout { .. }
        )
    }

    /// The revert data, if this is a revert that carried some.
    pub fn revert_data(&self) -> Option<&Bytes> {
        match self {
            Self::Reverted { data, .. } => data.as_ref(),
            _ => None,
        }
    }

    /// Classifies a transport error: a JSON-RPC error with revert data (or a message
    /// naming a revert) is [`TxError::Reverted`], another JSON-RPC error is
    /// [`TxError::Rpc`], anything else [`TxError::Unavailable`].
    pub fn from_transport(e: TransportError) -> Self {
        if let Some(resp) = e.as_error_resp() {
            let data = resp.as_revert_data();
            if data.is_some() || resp.message.contains("revert") {
                return Self::Reverted {
                    message: resp.message.to_string(),
                    data,
                };
            }
            return Self::Rpc(format!("{} (code {})", resp.message, resp.code));
        }
        Self::Unavailable(e.to_string())
    }
}

impl From<TransportError> for TxError {
    fn from(e: TransportError) -> Self {
        Self::from_transport(e)
    }
}

/// `eth_call` of `call` on `to` at the latest block, decoded as its return type.
pub async fn call<C: SolCall>(
    provider: &impl Provider,
    to: Address,
    call: &C,
) -> Result<C::Return, TxError> {
    let tx = TransactionRequest::default()
        .with_to(to)
        .with_input(Bytes::from(call.abi_encode()));
    let out = provider.call(tx).await?;
    C::abi_decode_returns(&out).map_err(|e| TxError::Decode(format!("{}: {e}", C::SIGNATURE)))
}

/// `eth_call` of `call` on `to` in the state of `block`, decoded as its return type.
pub async fn call_at<C: SolCall>(
    provider: &impl Provider,
    to: Address,
    call: &C,
    block: alloy::eips::BlockId,
) -> Result<C::Return, TxError> {
    let tx = TransactionRequest::default()
        .with_to(to)
        .with_input(Bytes::from(call.abi_encode()));
    let out = provider.call(tx).block(block).await?;
    C::abi_decode_returns(&out).map_err(|e| TxError::Decode(format!("{}: {e}", C::SIGNATURE)))
}

/// The gas limit sent for an estimate of `estimate`: a transaction's gas depends on
/// the state it executes in, which other transactions change between the estimate and
/// inclusion (a storage slot another transaction set to zero costs 20 000 instead of
/// 5 000 to write again). A quarter more, and at least 25 000, covers such swings; only
/// the gas used is paid.
pub fn gas_with_margin(estimate: u64) -> u64 {
    estimate.saturating_add((estimate / 4).max(GAS_MARGIN_MIN))
}

/// The least margin [`gas_with_margin`] adds.
const GAS_MARGIN_MIN: u64 = 25_000;

/// Sends `tx` (the provider fills nonce and fees and signs; when `tx` names its sender
/// and no gas limit, the limit is the estimate with [`gas_with_margin`]) and waits up to `timeout` for its
/// receipt; a receipt with a failed status is [`TxError::Reverted`], naming the gas it
/// used of its limit (all of it: it ran out).
pub async fn send_and_confirm(
    provider: &impl Provider,
    mut tx: TransactionRequest,
    timeout: Duration,
) -> Result<TransactionReceipt, TxError> {
    if tx.gas.is_none() && tx.from.is_some() {
        let estimate = provider.estimate_gas(tx.clone()).await?;
        tx.gas = Some(gas_with_margin(estimate));
    }
    let limit = tx.gas;
    let pending = provider.send_transaction(tx).await?;
    let hash = *pending.tx_hash();
    let receipt = await_receipt(provider, hash, timeout).await?;
    if receipt.status() {
        Ok(receipt)
    } else {
        let used = receipt.gas_used;
        let of = limit.map(|l| format!(" of {l}")).unwrap_or_default();
        Err(TxError::Reverted {
            message: format!("transaction {hash} reverted (gas used {used}{of})"),
            data: None,
        })
    }
}

/// Sends a transaction from `from` (the provider's signer) calling `call` on `to` with
/// `value` attached and waits for its receipt (see [`send_and_confirm`]); a revert
/// names the function.
pub async fn send_call<C: SolCall>(
    provider: &impl Provider,
    from: Address,
    to: Address,
    call: &C,
    value: U256,
    timeout: Duration,
) -> Result<TransactionReceipt, TxError> {
    let tx = TransactionRequest::default()
        .with_from(from)
        .with_to(to)
        .with_value(value)
        .with_input(Bytes::from(call.abi_encode()));
    send_and_confirm(provider, tx, timeout)
        .await
        .map_err(|e| match e {
            TxError::Reverted { message, data } => TxError::Reverted {
                message: format!("{}: {message}", C::SIGNATURE),
                data,
            },
            e => e,
        })
}

/// Polls for the receipt of `hash` until `timeout`.
pub async fn await_receipt(
    provider: &impl Provider,
    hash: B256,
    timeout: Duration,
) -> Result<TransactionReceipt, TxError> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(r) = provider.get_transaction_receipt(hash).await? {
            return Ok(r);
        }
        if Instant::now() >= deadline {
            return Err(TxError::Timeout {
                hash,
                waited: timeout,
            });
        }
        tokio::time::sleep(RECEIPT_POLL).await;
    }
}
