//! The DA node's request handling: the store checks, persistence and signing, and the
//! sample and header services.

use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use alloy_primitives::Address;
use futures::future::BoxFuture;
use libp2p::PeerId;
use tokio::sync::Semaphore;
use tracing::Instrument;
use zg_primitives::{
    BlsSignature, HeaderRequest, HeaderResponse, Kzg, SampleRefusal, SampleRequest, SampleResponse,
    StorePrelude, StoreRefusal, StoreRequest, StoreResponse, attestation_message, verify_columns,
};

use super::ledger::{DepositLedger, Payment};
use super::store::NodeStore;
use crate::chain::ChainClient;
use crate::keys::NodeKeys;
use crate::metrics::{NodeMetrics, result};
use crate::net::{Frame, InboundHandler};

/// Unix seconds.
pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The DA node's request handler.
pub struct NodeService {
    store: NodeStore,
    chain: ChainClient,
    kzg: &'static Kzg,
    keys: NodeKeys,
    admission: Semaphore,
    limits: StoreLimits,
    ledger: DepositLedger,
    metrics: Arc<NodeMetrics>,
}

/// What a node accepts in store requests.
#[derive(Clone, Copy, Debug)]
pub struct StoreLimits {
    /// Requests verified (KZG) at once; more are refused as over capacity.
    pub max_concurrent: usize,
    /// Largest payload in bytes.
    pub max_payload: usize,
    /// Epochs back from the current one the node signs for.
    pub signing_window_epochs: u64,
}

impl std::fmt::Debug for NodeService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeService")
            .field("address", &self.keys.address())
            .field("store", &self.store)
            .finish()
    }
}

fn refusal_kind(r: &StoreRefusal) -> &'static str {
    match r {
        StoreRefusal::WrongChain { .. } => "wrong_chain",
        StoreRefusal::UnknownQuorum { .. } => "unknown_quorum",
        StoreRefusal::NotInQuorum { .. } => "not_in_quorum",
        StoreRefusal::WrongColumns { .. } => "wrong_columns",
        StoreRefusal::HeaderMismatch(_) => "header_mismatch",
        StoreRefusal::BadProof(_) => "bad_proof",
        StoreRefusal::BadSignature(_) => "bad_signature",
        StoreRefusal::NoDeposit { .. } => "no_deposit",
        StoreRefusal::StaleEpoch { .. } => "stale_epoch",
        StoreRefusal::OverCapacity(_) => "over_capacity",
        StoreRefusal::Malformed(_) => "malformed",
        StoreRefusal::Internal(_) => "internal",
    }
}

fn sample_refusal_kind(r: &SampleRefusal) -> &'static str {
    match r {
        SampleRefusal::NotFound => "not_found",
        SampleRefusal::NotHeld(_) => "not_held",
        SampleRefusal::Malformed(_) => "malformed",
        SampleRefusal::OverCapacity => "over_capacity",
        SampleRefusal::Internal(_) => "internal",
    }
}

impl NodeService {
    pub(super) fn new(
        store: NodeStore,
        chain: ChainClient,
        kzg: &'static Kzg,
        keys: NodeKeys,
        limits: StoreLimits,
        metrics: Arc<NodeMetrics>,
    ) -> Self {
        Self {
            store,
            chain,
            kzg,
            keys,
            admission: Semaphore::new(limits.max_concurrent),
            limits,
            ledger: DepositLedger::default(),
            metrics,
        }
    }

    /// What the node has reserved against dispersers' deposits.
    pub fn ledger(&self) -> &DepositLedger {
        &self.ledger
    }

    /// The node's store.
    pub fn store(&self) -> &NodeStore {
        &self.store
    }

    /// The node's account.
    pub fn address(&self) -> Address {
        self.keys.address()
    }

    /// The node's chain client.
    pub fn chain(&self) -> &ChainClient {
        &self.chain
    }

    pub(super) fn metrics(&self) -> &NodeMetrics {
        &self.metrics
    }

    /// The checks of a store request that need no columns: origin signature, payload
    /// size, epoch, quorum membership. Returns the disperser, the oldest epoch signed
    /// for, and this node's index and the quorum's size.
    async fn check_prelude(
        &self,
        prelude: &StorePrelude,
    ) -> Result<(Address, u64, usize, usize), StoreRefusal> {
        let disperser = prelude.check_origin(self.chain.chain_id())?;
        if prelude.header.payload_len as usize > self.limits.max_payload {
            return Err(StoreRefusal::Malformed(format!(
                "payload of {} bytes, this node stores at most {}",
                prelude.header.payload_len, self.limits.max_payload
            )));
        }
        let (epoch, quorum_id) = (prelude.epoch, prelude.quorum_id);
        let current = self
            .chain
            .recent_epoch()
            .await
            .map_err(|e| StoreRefusal::Internal(e.to_string()))?;
        let oldest = current.saturating_sub(self.limits.signing_window_epochs);
        if epoch < oldest {
            return Err(StoreRefusal::StaleEpoch { epoch, current });
        }
        let quorum = self
            .chain
            .quorum(epoch, quorum_id)
            .await
            .map_err(|e| StoreRefusal::Internal(e.to_string()))?
            .ok_or(StoreRefusal::UnknownQuorum { epoch, quorum_id })?;
        let member = quorum
            .member(self.address())
            .ok_or(StoreRefusal::NotInQuorum { epoch, quorum_id })?;
        Ok((disperser, oldest, member.index, quorum.members.len()))
    }

    /// Checks a store request's prelude before its columns are read (see
    /// [`InboundHandler::admit_store`]): the most column bytes this node's custody
    /// columns of the payload can take.
    pub async fn admit_store_prelude(&self, prelude: &StorePrelude) -> Result<u64, StoreRefusal> {
        let (_, _, index, size) = self.check_prelude(prelude).await?;
        let columns = zg_primitives::custody_columns(index, size).len();
        Ok(zg_primitives::wire::columns_wire_bound(
            columns,
            prelude.header.blob_count,
        ))
    }

    /// Handles one store request: the cheap checks first (origin signature, size, epoch,
    /// quorum, custody), then the deposit, then the KZG work under the admission limit,
    /// then persist and sign.
    pub async fn handle_store(&self, req: StoreRequest) -> Result<BlsSignature, StoreRefusal> {
        let (prelude, columns) = req.into_parts();
        let checked = self.check_prelude(&prelude).await;
        let req = StoreRequest::from_parts(prelude, columns);
        let (disperser, oldest, index, size) = checked?;
        let (epoch, quorum_id) = (req.epoch, req.quorum_id);
        req.check_custody(index, size)?;
        let store = self.store.clone();
        let root = req.data_root;
        if let Some(sig) = blocking(move || store.attestation(&root, epoch, quorum_id))
            .await
            .map_err(internal)?
        {
            self.metrics
                .store_requests
                .get_or_create(&result("repeat"))
                .inc();
            return Ok(sig);
        }
        let blob_count = req.header.blob_count;
        let payment = Payment {
            disperser,
            root,
            epoch,
            quorum_id,
            blob_count,
        };
        let fee = self.ledger.reserve(&self.chain, payment, oldest).await?;
        let signed = self.verify_store_sign(req, payment, fee).await;
        if signed.is_err() {
            self.ledger.release(&payment);
        }
        signed
    }

    /// The KZG check (under the admission limit), then persist and sign.
    async fn verify_store_sign(
        &self,
        req: StoreRequest,
        payment: Payment,
        fee: alloy_primitives::U256,
    ) -> Result<BlsSignature, StoreRefusal> {
        let Payment {
            root,
            epoch,
            quorum_id,
            blob_count,
            disperser,
        } = payment;
        let kzg = self.kzg;
        let req = Arc::new(req);
        let verify_req = req.clone();
        {
            let _permit = self.admission.try_acquire().map_err(|_| {
                StoreRefusal::OverCapacity(format!(
                    "{} store requests in verification",
                    self.limits.max_concurrent
                ))
            })?;
            blocking(move || {
                verify_columns(kzg, &verify_req.header, &verify_req.columns)
                    .map_err(|e| StoreRefusal::BadProof(e.to_string()))
            })
            .await?;
        }
        let message =
            attestation_message(self.chain.chain_id(), root, epoch, quorum_id, blob_count);
        let signature = self.keys.bls.sign(&message);
        let store = self.store.clone();
        let bytes: usize = req.columns.iter().map(|c| c.cells.len() * 2096).sum();
        let put_req = req.clone();
        let new = blocking(move || {
            let fresh = store.header(&root)?.is_none();
            let columns: &[zg_primitives::Column] = &put_req.columns;
            let cert = zg_primitives::Certificate {
                epoch,
                quorum_id,
                data_root: root,
            };
            store.put(
                &cert,
                &put_req.header,
                columns,
                &signature,
                Some((disperser, fee)),
                now(),
            )?;
            Ok::<_, crate::error::StoreError>(fresh)
        })
        .await
        .map_err(internal)?;
        if new {
            self.metrics.payloads.inc();
        }
        self.metrics.stored_bytes.inc_by(bytes as u64);
        tracing::debug!(target: "zg_da::node", %root, epoch, quorum_id, blob_count, %disperser, "stored and signed");
        Ok(signature)
    }

    /// Serves columns of a stored payload.
    pub async fn handle_sample(
        &self,
        req: SampleRequest,
    ) -> Result<Vec<zg_primitives::Column>, SampleRefusal> {
        req.check()?;
        let store = self.store.clone();
        let cols = blocking(move || {
            if store.header(&req.data_root)?.is_none() {
                return Ok(Err(SampleRefusal::NotFound));
            }
            let mut out = Vec::with_capacity(req.columns.len());
            for &c in &req.columns {
                match store.column(&req.data_root, c)? {
                    Some(col) => out.push(col),
                    None => return Ok(Err(SampleRefusal::NotHeld(c))),
                }
            }
            Ok::<_, crate::error::StoreError>(Ok(out))
        })
        .await
        .map_err(|e| SampleRefusal::Internal(e.to_string()))??;
        Ok(cols)
    }

    /// Serves a stored header.
    pub async fn handle_header(&self, req: HeaderRequest) -> HeaderResponse {
        let store = self.store.clone();
        match blocking(move || store.header(&req.data_root)).await {
            Ok(Some(h)) => HeaderResponse::Found(h),
            Ok(None) => HeaderResponse::NotFound,
            Err(e) => {
                tracing::error!(target: "zg_da::node", error = %e, "header lookup failed");
                HeaderResponse::NotFound
            }
        }
    }
}

/// Runs blocking work (KZG, RocksDB) off the async workers.
async fn blocking<T: Send + 'static, E: From<JoinFailure> + Send + 'static>(
    f: impl FnOnce() -> Result<T, E> + Send + 'static,
) -> Result<T, E> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(E::from(JoinFailure(e.to_string()))))
}

/// A blocking task panicked or was cancelled.
struct JoinFailure(String);

impl From<JoinFailure> for StoreRefusal {
    fn from(e: JoinFailure) -> Self {
        StoreRefusal::Internal(e.0)
    }
}

impl From<JoinFailure> for crate::error::StoreError {
    fn from(e: JoinFailure) -> Self {
        crate::error::StoreError::Db(e.0)
    }
}

/// A store failure while serving a request: refused as internal.
fn internal(e: crate::error::StoreError) -> StoreRefusal {
    StoreRefusal::Internal(e.to_string())
}

impl InboundHandler for NodeService {
    fn admit_store(
        self: Arc<Self>,
        prelude: StorePrelude,
    ) -> BoxFuture<'static, Result<u64, StoreRefusal>> {
        // A refusal is counted once, when `store` answers it.
        Box::pin(async move { self.admit_store_prelude(&prelude).await })
    }

    fn store(
        self: Arc<Self>,
        peer: PeerId,
        req: Frame<StoreRequest>,
    ) -> BoxFuture<'static, StoreResponse> {
        let this = self;
        Box::pin(async move {
            let started = Instant::now();
            let outcome = match req {
                Frame::Msg(req) => {
                    // The node's part of the put's trace (when the disperser sent one).
                    let span = tracing::info_span!(
                        target: zg_node_kit::TRACE_TARGET,
                        "da-node.store",
                        node = %this.address(),
                        data_root = %req.data_root,
                        epoch = req.epoch,
                        quorum = req.quorum_id,
                        columns = req.columns.len(),
                        result = tracing::field::Empty,
                        store_ms = tracing::field::Empty,
                    );
                    zg_node_kit::telemetry::set_parent(&span, req.traceparent.as_deref());
                    let outcome = this.handle_store(req).instrument(span.clone()).await;
                    span.record("result", if outcome.is_ok() { "signed" } else { "refused" });
                    span.record("store_ms", started.elapsed().as_millis() as u64);
                    outcome
                }
                Frame::Refused(r) => Err(r),
                Frame::Invalid(e) => Err(StoreRefusal::Malformed(e)),
                Frame::Raw(_) => Err(StoreRefusal::Malformed("raw frame".into())),
            };
            match outcome {
                Ok(signature) => {
                    this.metrics
                        .store_requests
                        .get_or_create(&result("signed"))
                        .inc();
                    this.metrics
                        .store_seconds
                        .observe(started.elapsed().as_secs_f64());
                    StoreResponse::Signed { signature }
                }
                Err(r) => {
                    this.metrics
                        .store_requests
                        .get_or_create(&result(refusal_kind(&r)))
                        .inc();
                    tracing::info!(target: "zg_da::node", %peer, refusal = %r, "store refused");
                    StoreResponse::Refused(r)
                }
            }
        })
    }

    fn sample(
        self: Arc<Self>,
        peer: PeerId,
        req: Frame<SampleRequest>,
    ) -> BoxFuture<'static, SampleResponse> {
        let this = self;
        Box::pin(async move {
            let outcome = match req {
                Frame::Msg(req) => this.handle_sample(req).await,
                Frame::Invalid(e) => Err(SampleRefusal::Malformed(e)),
                Frame::Raw(_) | Frame::Refused(_) => {
                    Err(SampleRefusal::Malformed("raw frame".into()))
                }
            };
            match outcome {
                Ok(cols) => {
                    this.metrics
                        .sample_requests
                        .get_or_create(&result("served"))
                        .inc();
                    SampleResponse::Columns(cols)
                }
                Err(r) => {
                    this.metrics
                        .sample_requests
                        .get_or_create(&result(sample_refusal_kind(&r)))
                        .inc();
                    tracing::debug!(target: "zg_da::node", %peer, refusal = %r, "sample refused");
                    SampleResponse::Refused(r)
                }
            }
        })
    }

    fn header(
        self: Arc<Self>,
        _peer: PeerId,
        req: Frame<HeaderRequest>,
    ) -> BoxFuture<'static, HeaderResponse> {
        let this = self;
        Box::pin(async move {
            let resp = match req {
                Frame::Msg(req) => this.handle_header(req).await,
                Frame::Invalid(e) => HeaderResponse::Malformed(e),
                Frame::Raw(_) | Frame::Refused(_) => HeaderResponse::Malformed("raw frame".into()),
            };
            let label = match &resp {
                HeaderResponse::Found(_) => "found",
                HeaderResponse::NotFound => "not_found",
                HeaderResponse::Malformed(_) => "malformed",
            };
            this.metrics
                .header_requests
                .get_or_create(&result(label))
                .inc();
            resp
        })
    }
}
