//! The pipeline: each accepted request goes queued → encoding → dispersing →
//! anchoring → confirmed (or failed). The payload travels in memory from `submit` to
//! the encoder (a resumed request reads it from the journal once); the journal records
//! only the states a restart resumes from, once each.

use std::sync::Arc;
use std::time::{Duration, Instant};

use alloy_primitives::{B256, Bytes};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use zg_primitives::encode;

use super::{BlobRecord, BlobStatus, Disperser, anchor, blocking};
use crate::error::{ChainClientError, DisperseError, StoreError};
use crate::metrics::result;
use zg_da_client::{ColumnNetwork, DaChain};

/// How many times a request whose anchor the chain refused as stale is certified again
/// before it fails.
const MAX_RECERTIFY: u32 = 2;

/// A request for the pipeline: its id, and its payload unless it was resumed from the
/// journal.
#[derive(Debug)]
pub(super) struct Work {
    pub(super) id: B256,
    pub(super) payload: Option<Bytes>,
    /// The span of the request that submitted it (its trace), or none when resumed.
    pub(super) span: tracing::Span,
}

impl<N: ColumnNetwork, C: DaChain> Disperser<N, C> {
    pub(super) async fn run_pipeline(
        self,
        mut work: mpsc::UnboundedReceiver<Work>,
        cancel: CancellationToken,
    ) {
        let slots = Arc::new(Semaphore::new(self.inner.config.max_in_flight.max(1)));
        let mut running = tokio::task::JoinSet::new();
        loop {
            let job = tokio::select! {
                _ = cancel.cancelled() => break,
                job = work.recv() => match job { Some(job) => job, None => break },
                Some(_) = running.join_next(), if !running.is_empty() => continue,
            };
            let permit = tokio::select! {
                _ = cancel.cancelled() => break,
                p = slots.clone().acquire_owned() => p.expect("semaphore is never closed"),
            };
            let this = self.clone();
            let task_cancel = cancel.clone();
            running.spawn(async move {
                this.inner.metrics.in_flight.inc();
                tokio::select! {
                    _ = task_cancel.cancelled() => {}
                    _ = this.process(job, permit) => {}
                }
                this.inner.metrics.in_flight.dec();
            });
        }
        // Unfinished requests stay journaled and resume at the next start.
        running.shutdown().await;
    }

    /// Takes one request through the pipeline from wherever it stands. `slot` (a place
    /// among the requests that encode and disperse at once) is given back as soon as the
    /// request waits for anchoring, which costs no CPU and is batched.
    async fn process(&self, job: Work, slot: OwnedSemaphorePermit) {
        let id = job.id;
        let started = Instant::now();
        let mut record = match self.status(id).await {
            Ok(Some(r)) => r,
            Ok(None) => return,
            Err(e) => {
                tracing::error!(target: "zg_da::disperser", %id, error = %e, "journal read failed");
                return;
            }
        };
        if record.status.is_terminal() {
            return;
        }
        let span = tracing::info_span!(
            target: zg_node_kit::TRACE_TARGET,
            parent: &job.span,
            "disperser.pipeline",
            id = %id,
            data_root = tracing::field::Empty,
            encode_ms = tracing::field::Empty,
            certify_ms = tracing::field::Empty,
            anchor_ms = tracing::field::Empty,
        );
        match self
            .drive(&mut record, job.payload, slot)
            .instrument(span)
            .await
        {
            Ok(()) => {
                self.inner
                    .metrics
                    .finished
                    .get_or_create(&result("confirmed"))
                    .inc();
                self.inner
                    .metrics
                    .put_seconds
                    .observe(started.elapsed().as_secs_f64());
            }
            Err(e) => {
                if matches!(e, DisperseError::Shutdown | DisperseError::Store(_)) {
                    tracing::warn!(target: "zg_da::disperser", %id, error = %e, "request interrupted");
                    return;
                }
                record.fail(&e.to_failure());
                self.inner
                    .metrics
                    .finished
                    .get_or_create(&result("failed"))
                    .inc();
                tracing::warn!(target: "zg_da::disperser", %id, error = %e, "request failed");
                if let Err(e) = self.save(&mut record).await {
                    tracing::error!(target: "zg_da::disperser", %id, error = %e, "journal write failed");
                }
            }
        }
    }

    async fn drive(
        &self,
        record: &mut BlobRecord,
        mut payload: Option<Bytes>,
        slot: OwnedSemaphorePermit,
    ) -> Result<(), DisperseError> {
        let mut slot = Some(slot);
        for round in 0.. {
            self.certify_once(record, payload.take()).await?;
            // Anchoring waits on the chain, not the CPU: the slot goes to the next request.
            drop(slot.take());
            match self.anchor(record).await {
                // The chain moved past the quorum's epoch before the anchor landed (a
                // long outage, a restart from an old journal): certify again in a current
                // quorum, from the journaled payload. The re-encode runs outside the
                // slots; it is rare and bounded by `MAX_RECERTIFY`.
                Err(DisperseError::Chain(ChainClientError::StaleEpoch { epoch, current }))
                    if round < MAX_RECERTIFY =>
                {
                    tracing::warn!(target: "zg_da::disperser", id = %record.id, epoch, current, "anchor refused as stale; certifying again");
                    record.pending_anchor = None;
                    record.signers = None;
                    record.status = BlobStatus::Encoding;
                }
                other => return other,
            }
        }
        unreachable!("the loop returns")
    }

    /// Encodes and certifies a record that has no signed submission yet (a no-op for
    /// one waiting to be anchored), leaving it journaled as anchoring.
    async fn certify_once(
        &self,
        record: &mut BlobRecord,
        payload: Option<Bytes>,
    ) -> Result<(), DisperseError> {
        let id = record.id;
        if record.status != BlobStatus::Anchoring || record.pending_anchor.is_none() {
            record.status = BlobStatus::Encoding;
            self.touch(record);
            let payload =
                match payload {
                    Some(p) => p,
                    None => {
                        let journal = self.inner.journal.clone();
                        Bytes::from(blocking(move || journal.payload(&id)).await?.ok_or_else(
                            || {
                                StoreError::corrupt(
                                    id.to_string(),
                                    "payload missing from the journal",
                                )
                            },
                        )?)
                    }
                };
            let kzg = self.inner.kzg;
            let max = self.inner.config.max_payload;
            let t = Instant::now();
            let stage = tracing::info_span!(
                target: zg_node_kit::TRACE_TARGET,
                "disperser.encode",
                bytes = payload.len(),
                blobs = tracing::field::Empty,
                encode_ms = tracing::field::Empty,
            );
            let encoded = tokio::task::spawn_blocking(move || encode(kzg, &payload, max))
                .instrument(stage.clone())
                .await
                .map_err(|e| DisperseError::Encode(e.to_string()))??;
            self.inner
                .metrics
                .encode_seconds
                .observe(t.elapsed().as_secs_f64());
            let ms = t.elapsed().as_millis() as u64;
            stage.record("blobs", encoded.header.blob_count);
            stage.record("encode_ms", ms);
            let pipeline = tracing::Span::current();
            pipeline.record("encode_ms", ms);
            pipeline.record("data_root", tracing::field::display(encoded.data_root));
            record.data_root = Some(encoded.data_root);
            record.blob_count = Some(encoded.header.blob_count);
            record.status = BlobStatus::Dispersing;
            self.touch(record);
            let t = Instant::now();
            let stage = tracing::info_span!(
                target: zg_node_kit::TRACE_TARGET,
                "disperser.certify",
                signers = tracing::field::Empty,
                threshold = tracing::field::Empty,
                certify_ms = tracing::field::Empty,
            );
            let (pending, count, threshold) = self
                .certify(Arc::new(encoded))
                .instrument(stage.clone())
                .await?;
            self.inner
                .metrics
                .certify_seconds
                .observe(t.elapsed().as_secs_f64());
            let ms = t.elapsed().as_millis() as u64;
            stage.record("signers", count);
            stage.record("threshold", threshold);
            stage.record("certify_ms", ms);
            tracing::Span::current().record("certify_ms", ms);
            tracing::debug!(target: "zg_da::disperser", %id, ms = t.elapsed().as_millis() as u64, signers = count, "certified");
            record.signers = Some((count, threshold));
            record.pending_anchor = Some(pending);
            record.status = BlobStatus::Anchoring;
            self.save(record).await?;
        }
        Ok(())
    }

    /// Anchors a signed record, retrying what the chain may accept later.
    async fn anchor(&self, record: &mut BlobRecord) -> Result<(), DisperseError> {
        let submission = record
            .submission()
            .expect("pending anchor with a data_root");
        let cert = zg_primitives::Certificate {
            epoch: submission.epoch.saturating_to(),
            quorum_id: submission.quorumId.saturating_to(),
            data_root: submission.dataRoot,
        };
        let stage = tracing::info_span!(
            target: zg_node_kit::TRACE_TARGET,
            "disperser.anchor",
            epoch = cert.epoch,
            quorum = cert.quorum_id,
            tx = tracing::field::Empty,
            anchor_ms = tracing::field::Empty,
        );
        let pipeline = tracing::Span::current();
        let started = Instant::now();
        let outcome = self
            .anchor_attempts(record, submission, cert, started)
            .instrument(stage.clone())
            .await;
        let ms = started.elapsed().as_millis() as u64;
        stage.record("anchor_ms", ms);
        pipeline.record("anchor_ms", ms);
        if let Some(tx) = record.tx_hash {
            stage.record("tx", tracing::field::display(tx));
        }
        outcome
    }

    async fn anchor_attempts(
        &self,
        record: &mut BlobRecord,
        submission: zg_primitives::abi::IDAEntrance::CommitRootSubmission,
        cert: zg_primitives::Certificate,
        started: Instant,
    ) -> Result<(), DisperseError> {
        let id = record.id;
        let mut last_err = String::new();
        let deadline = started + self.inner.config.chain_grace;
        for attempt in 0.. {
            let (tx, rx) = tokio::sync::oneshot::channel();
            self.inner
                .anchor
                .send(anchor::Job {
                    submission: submission.clone(),
                    cert,
                    reply: tx,
                })
                .await
                .map_err(|_| DisperseError::Shutdown)?;
            match rx.await.map_err(|_| DisperseError::Shutdown)? {
                Ok(tx_hash) => {
                    self.inner
                        .metrics
                        .anchor_seconds
                        .observe(started.elapsed().as_secs_f64());
                    record.confirm(cert, tx_hash);
                    self.save(record).await?;
                    tracing::info!(target: "zg_da::disperser", %id, data_root = %cert.data_root, epoch = cert.epoch, quorum = cert.quorum_id, "confirmed");
                    return Ok(());
                }
                Err(e @ ChainClientError::StaleEpoch { .. }) => return Err(e.into()),
                Err(e) => {
                    last_err = e.to_string();
                    let attempts_left = attempt + 1 < self.inner.config.anchor_attempts;
                    if !e.is_retryable() || (!attempts_left && Instant::now() >= deadline) {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(250 << attempt.min(4))).await;
                }
            }
        }
        Err(DisperseError::Anchor(last_err))
    }
}
