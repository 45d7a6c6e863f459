//! The broker's view of the chain: the provider's service, users' sub-accounts, and
//! sending registrations and settlements (signed by the provider's account key).

use alloy::network::{EthereumWallet, TransactionBuilder};
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::rpc::types::TransactionRequest;
use alloy::signers::local::PrivateKeySigner;
use alloy_primitives::{Address, Bytes, U256};
use alloy_sol_types::{SolCall, SolError, SolEvent};
use zg_primitives::abi::IInferenceServing as S;

use crate::error::BrokerError;

/// A chain client bound to the provider's account.
#[derive(Clone, Debug)]
pub struct ChainClient {
    provider: DynProvider,
    /// The provider (the account that registers the service and receives fees).
    pub address: Address,
    /// The serving contract (the bundled chain's module by default).
    pub serving: Address,
    /// The chain's EIP-155 id.
    pub chain_id: u64,
}

fn unavailable(e: impl std::fmt::Display) -> BrokerError {
    BrokerError::Unavailable(format!("chain: {e}"))
}

impl ChainClient {
    /// Connects to `rpc` as `key`, reading the chain id.
    pub async fn connect(
        rpc: &str,
        key: PrivateKeySigner,
        serving: Address,
    ) -> Result<Self, BrokerError> {
        let address = key.address();
        let url = rpc
            .parse()
            .map_err(|e| BrokerError::InvalidInput(format!("chain rpc {rpc}: {e}")))?;
        let provider = ProviderBuilder::default()
            .with_gas_estimation()
            .with_simple_nonce_management()
            .fetch_chain_id()
            .wallet(EthereumWallet::from(key))
            .connect_http(url)
            .erased();
        let chain_id = provider.get_chain_id().await.map_err(unavailable)?;
        Ok(Self {
            provider,
            address,
            serving,
            chain_id,
        })
    }

    async fn view<C: SolCall>(&self, c: C) -> Result<C::Return, BrokerError> {
        let tx = TransactionRequest::default()
            .with_from(self.address)
            .with_to(self.serving)
            .with_input(Bytes::from(c.abi_encode()));
        let out = self.provider.call(tx).await.map_err(unavailable)?;
        C::abi_decode_returns(&out).map_err(|e| unavailable(format!("{}: {e}", C::SIGNATURE)))
    }

    /// Sends a call to the serving contract; its pending transaction once the node took it.
    async fn submit<C: SolCall>(
        &self,
        c: C,
        value: U256,
    ) -> Result<alloy::providers::PendingTransactionBuilder<alloy::network::Ethereum>, BrokerError>
    {
        let tx = TransactionRequest::default()
            .with_to(self.serving)
            .with_value(value)
            .with_input(Bytes::from(c.abi_encode()));
        self.provider
            .send_transaction(tx)
            .await
            .map_err(|e| match e.as_error_resp() {
                Some(r) => BrokerError::InvalidInput(format!("{}: {}", C::SIGNATURE, r.message)),
                None => unavailable(e),
            })
    }

    /// This provider's service, if registered.
    pub async fn service(&self) -> Result<Option<S::Service>, BrokerError> {
        let provider = self.address;
        if !self.view(S::serviceExistsCall { provider }).await? {
            return Ok(None);
        }
        self.view(S::getServiceCall { provider }).await.map(Some)
    }

    /// `user`'s sub-account with this provider, if any.
    pub async fn account(&self, user: Address) -> Result<Option<S::Account>, BrokerError> {
        let provider = self.address;
        let tx = TransactionRequest::default()
            .with_from(self.address)
            .with_to(self.serving)
            .with_input(Bytes::from(
                S::getAccountCall { user, provider }.abi_encode(),
            ));
        // One call: a revert with `AccountNotExists` means there is none.
        match self.provider.call(tx).await {
            Ok(out) => S::getAccountCall::abi_decode_returns(&out)
                .map(Some)
                .map_err(|e| unavailable(format!("getAccount: {e}"))),
            Err(e) => {
                let data = e.as_error_resp().and_then(|r| r.as_revert_data());
                match data.map(|d| <S::AccountNotExists as SolError>::abi_decode(&d)) {
                    Some(Ok(_)) => Ok(None),
                    _ => Err(unavailable(e)),
                }
            }
        }
    }

    /// Registers or updates the service (`stake` is paid only on first registration).
    pub async fn register(&self, params: S::ServiceParams, stake: U256) -> Result<(), BrokerError> {
        let value = if self.service().await?.is_some() {
            U256::ZERO
        } else {
            stake
        };
        let receipt = self
            .submit(S::addOrUpdateServiceCall { params }, value)
            .await?
            .get_receipt()
            .await
            .map_err(unavailable)?;
        if !receipt.status() {
            return Err(BrokerError::InvalidInput(format!(
                "addOrUpdateService reverted in {}",
                receipt.transaction_hash
            )));
        }
        Ok(())
    }

    /// Sends one settlement batch; returns its transaction hash as soon as the node took
    /// it (before it is mined), so the caller can record it.
    pub async fn send_settlement(
        &self,
        items: Vec<S::TEESettlementData>,
    ) -> Result<alloy_primitives::B256, BrokerError> {
        let pending = self
            .submit(S::settleFeesWithTEECall { settlements: items }, U256::ZERO)
            .await?;
        Ok(*pending.tx_hash())
    }

    /// The per-item results (user, status, unsettled amount) of settlement transaction
    /// `hash`, waiting up to `wait` for it to be mined; `None` when it was not.
    pub async fn settlement_results(
        &self,
        hash: alloy_primitives::B256,
        wait: std::time::Duration,
    ) -> Result<Option<Mined>, BrokerError> {
        let deadline = std::time::Instant::now() + wait;
        loop {
            if let Some(r) = self
                .provider
                .get_transaction_receipt(hash)
                .await
                .map_err(unavailable)?
            {
                if !r.status() {
                    return Ok(Some(Mined::Reverted));
                }
                return Ok(Some(Mined::Results(
                    r.inner
                        .logs()
                        .iter()
                        .filter(|l| l.address() == self.serving)
                        .filter_map(|l| S::TEESettlementResult::decode_log_data(l.data()).ok())
                        .map(|e| (e.user, e.status, e.unsettledAmount))
                        .collect(),
                )));
            }
            if std::time::Instant::now() > deadline {
                return Ok(None);
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
}

/// A mined settlement transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mined {
    /// Its per-item results: user, status, unsettled amount.
    Results(Vec<(Address, u8, U256)>),
    /// It reverted: nothing was settled.
    Reverted,
}
