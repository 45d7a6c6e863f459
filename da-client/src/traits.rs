//! The two seams between the DA clients' logic and the outside world: the chain
//! ([`DaChain`]) and the column network ([`ColumnNetwork`]).
//!
//! [`ChainClient`] and [`Network`] are the production implementations; the retriever
//! and the sampler are generic over these traits (with the real types as defaults), so
//! tests can run them over in-memory fakes (the `zg-testkit` crate) with real KZG and
//! BLS but no chain process and no libp2p.
//!
//! The traits are generic-friendly rather than object-safe: their methods return
//! `impl Future + Send`, implementations may write `async fn`, and call sites read the
//! same as on the concrete types. Implementations are cheap-to-clone handles.

use std::future::Future;
use std::sync::Arc;

use alloy_primitives::{Address, B256, U256};
use zg_primitives::abi::IDAEntrance::CommitRootSubmission;
use zg_primitives::{
    Certificate, HeaderRequest, HeaderResponse, SampleRequest, SampleResponse, StoreRequest,
    StoreResponse,
};

use crate::chain::{ChainClient, Quorum, TxStatus};
use crate::error::{ChainClientError, NetError};
use crate::net::{Frame, Network};

/// The chain reads and writes of the DA modules that dispersers, DA nodes, retrievers
/// and samplers make.
pub trait DaChain: Clone + Send + Sync + 'static {
    /// The chain id (signed into store requests and attestations).
    fn chain_id(&self) -> u64;

    /// Current epoch.
    fn epoch(&self) -> impl Future<Output = Result<u64, ChainClientError>> + Send;

    /// A quorum with its members' details; `Ok(None)` when it does not exist (yet).
    fn quorum(
        &self,
        epoch: u64,
        quorum_id: u64,
    ) -> impl Future<Output = Result<Option<Arc<Quorum>>, ChainClientError>> + Send;

    /// The quorums of `epoch`.
    fn quorums(
        &self,
        epoch: u64,
    ) -> impl Future<Output = Result<Vec<Arc<Quorum>>, ChainClientError>> + Send;

    /// Whether a certificate is anchored.
    fn commitment_exists(
        &self,
        cert: &Certificate,
    ) -> impl Future<Output = Result<bool, ChainClientError>> + Send;

    /// Whether a certificate is anchored in the newest state final by the chain's
    /// finality rule.
    fn commitment_final(
        &self,
        cert: &Certificate,
    ) -> impl Future<Output = Result<bool, ChainClientError>> + Send;

    /// Where a transaction stands (a reorg may have dropped it).
    fn transaction_status(
        &self,
        hash: B256,
    ) -> impl Future<Output = Result<TxStatus, ChainClientError>> + Send;

    /// Anchors certified commitments in one transaction; its hash.
    fn submit_commit_roots(
        &self,
        submissions: Vec<CommitRootSubmission>,
    ) -> impl Future<Output = Result<B256, ChainClientError>> + Send;

    /// Deposit of `account` in the entrance module.
    fn deposit_of(
        &self,
        account: Address,
    ) -> impl Future<Output = Result<U256, ChainClientError>> + Send;

    /// Fee per blob.
    fn blob_fee(&self) -> impl Future<Output = Result<U256, ChainClientError>> + Send;
}

/// The deposit check of a store request: `disperser` holds at least the fee of
/// `blob_count` blobs in the entrance module (and not nothing).
pub async fn check_deposit<C: DaChain>(
    chain: &C,
    disperser: Address,
    blob_count: u32,
) -> Result<(), zg_primitives::StoreRefusal> {
    let internal = |e: ChainClientError| zg_primitives::StoreRefusal::Internal(e.to_string());
    let fee = chain.blob_fee().await.map_err(internal)? * U256::from(blob_count);
    let balance = chain.deposit_of(disperser).await.map_err(internal)?;
    if balance < fee || balance.is_zero() {
        return Err(zg_primitives::StoreRefusal::NoDeposit {
            disperser,
            balance,
            required: fee,
        });
    }
    Ok(())
}

/// Requests to a DA node at a socket (its on-chain libp2p multiaddr): the three
/// protocols `/zg/da/store/2`, `/zg/da/sample/1` and `/zg/da/header/1`.
pub trait ColumnNetwork: Clone + Send + Sync + 'static {
    /// Sends a store request to the node at `socket`.
    fn store(
        &self,
        socket: &str,
        req: Frame<StoreRequest>,
    ) -> impl Future<Output = Result<Frame<StoreResponse>, NetError>> + Send;

    /// Sends a sample request to the node at `socket`.
    fn sample(
        &self,
        socket: &str,
        req: Frame<SampleRequest>,
    ) -> impl Future<Output = Result<Frame<SampleResponse>, NetError>> + Send;

    /// Sends a header request to the node at `socket`.
    fn header(
        &self,
        socket: &str,
        req: Frame<HeaderRequest>,
    ) -> impl Future<Output = Result<Frame<HeaderResponse>, NetError>> + Send;
}

impl DaChain for ChainClient {
    fn chain_id(&self) -> u64 {
        ChainClient::chain_id(self)
    }

    async fn epoch(&self) -> Result<u64, ChainClientError> {
        ChainClient::epoch(self).await
    }

    async fn quorum(
        &self,
        epoch: u64,
        quorum_id: u64,
    ) -> Result<Option<Arc<Quorum>>, ChainClientError> {
        ChainClient::quorum(self, epoch, quorum_id).await
    }

    async fn quorums(&self, epoch: u64) -> Result<Vec<Arc<Quorum>>, ChainClientError> {
        ChainClient::quorums(self, epoch).await
    }

    async fn commitment_exists(&self, cert: &Certificate) -> Result<bool, ChainClientError> {
        ChainClient::commitment_exists(self, cert).await
    }

    async fn commitment_final(&self, cert: &Certificate) -> Result<bool, ChainClientError> {
        ChainClient::commitment_final(self, cert).await
    }

    async fn transaction_status(&self, hash: B256) -> Result<TxStatus, ChainClientError> {
        ChainClient::transaction_status(self, hash).await
    }

    async fn submit_commit_roots(
        &self,
        submissions: Vec<CommitRootSubmission>,
    ) -> Result<B256, ChainClientError> {
        ChainClient::submit_commit_roots(self, submissions).await
    }

    async fn deposit_of(&self, account: Address) -> Result<U256, ChainClientError> {
        ChainClient::deposit_of(self, account).await
    }

    async fn blob_fee(&self) -> Result<U256, ChainClientError> {
        ChainClient::blob_fee(self).await
    }
}

impl ColumnNetwork for Network {
    async fn store(
        &self,
        socket: &str,
        req: Frame<StoreRequest>,
    ) -> Result<Frame<StoreResponse>, NetError> {
        Network::store(self, socket, req).await
    }

    async fn sample(
        &self,
        socket: &str,
        req: Frame<SampleRequest>,
    ) -> Result<Frame<SampleResponse>, NetError> {
        Network::sample(self, socket, req).await
    }

    async fn header(
        &self,
        socket: &str,
        req: Frame<HeaderRequest>,
    ) -> Result<Frame<HeaderResponse>, NetError> {
        Network::header(self, socket, req).await
    }
}
