//! Sampling one certified payload: header from any quorum member (checked against the
//! data_root), `s` random columns from their custodians over `/zg/da/sample/1`, every
//! cell of every sampled column verified against the header's KZG commitments.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use alloy_primitives::Address;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use serde::{Deserialize, Serialize};
use zg_da_client::{ChainClient, ColumnNetwork, DaChain, Frame, Network, QuorumMember, Retriever};
use zg_primitives::{
    BlobHeader, Certificate, Column, Kzg, SampleRefusal, SampleRequest, SampleResponse, custodian,
    verify_columns,
};

use crate::confidence::{confidence, samples_needed};
use crate::draw::draw;

/// Sampling settings.
#[derive(Clone, Debug)]
pub struct SamplerConfig {
    /// Columns drawn per payload (raised to what `target` needs).
    pub samples: usize,
    /// Confidence at which a payload is declared available.
    pub target: f64,
    /// Attempts per custodian for network errors and busy refusals.
    pub attempts: u32,
    /// Time allowed per request.
    pub timeout: Duration,
}

impl Default for SamplerConfig {
    fn default() -> Self {
        Self {
            samples: 16,
            target: 0.9999,
            attempts: 2,
            timeout: Duration::from_secs(10),
        }
    }
}

impl SamplerConfig {
    /// Columns actually drawn: `samples`, or more if the target needs more.
    pub fn draws(&self) -> usize {
        self.samples.max(samples_needed(self.target)).min(128)
    }
}

/// Where a payload stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Availability {
    /// Seen on chain, not sampled yet.
    Pending,
    /// Being sampled.
    Sampling,
    /// Every sample verified and the confidence reached the target.
    Available,
    /// A sample failed after retries (or nothing could be verified).
    Unavailable,
}

/// The outcome of sampling a payload.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SampleReport {
    /// The payload.
    pub certificate: Certificate,
    /// Status.
    pub status: Availability,
    /// Confidence that the payload is recoverable, from the verified samples.
    pub confidence: f64,
    /// Columns drawn.
    pub columns: Vec<u16>,
    /// Columns whose every cell verified.
    pub samples_ok: usize,
    /// Columns that failed (not served, refused, or did not verify).
    pub samples_failed: usize,
    /// Why samples failed (one line per failure).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failures: Vec<String>,
    /// Quorum members that served invalid data.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub misbehaving: Vec<Address>,
    /// What each custodian asked served: columns that verified and columns that did not.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<MemberSamples>,
    /// Block of the anchor, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block: Option<u64>,
    /// Unix milliseconds when sampling finished.
    pub finished_at_ms: u64,
    /// Milliseconds sampling took.
    pub duration_ms: u64,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// One custodian's part of a sampling: the columns asked of it that verified and those
/// that did not (not served, refused, timed out or invalid).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberSamples {
    /// The quorum member.
    pub address: Address,
    /// Columns that verified.
    pub ok: usize,
    /// Columns that failed.
    pub failed: usize,
}

/// What one custodian's answer came to.
struct MemberOutcome {
    ok: Vec<u16>,
    failed: Vec<(u16, String)>,
    misbehaved: bool,
}

/// Samples payloads. Cheap to clone.
///
/// Generic over the column network and the chain (libp2p and the JSON-RPC client by
/// default; in-memory fakes in tests).
#[derive(Clone, Debug)]
pub struct Sampler<N = Network, C = ChainClient> {
    network: N,
    chain: C,
    retriever: Retriever<N, C>,
    kzg: &'static Kzg,
    config: Arc<SamplerConfig>,
}

impl<N: ColumnNetwork, C: DaChain> Sampler<N, C> {
    /// A sampler over a running network and chain client.
    pub fn new(network: N, chain: C, kzg: &'static Kzg, config: SamplerConfig) -> Self {
        Self {
            retriever: Retriever::new(network.clone(), chain.clone(), kzg),
            network,
            chain,
            kzg,
            config: Arc::new(config),
        }
    }

    /// Settings.
    pub fn config(&self) -> &SamplerConfig {
        &self.config
    }

    /// Samples `cert` with freshly drawn columns.
    pub async fn sample(&self, cert: &Certificate) -> SampleReport {
        self.sample_columns(cert, draw(self.config.draws())).await
    }

    /// Samples `cert` at the given columns (distinct, < 128).
    pub async fn sample_columns(&self, cert: &Certificate, columns: Vec<u16>) -> SampleReport {
        let started = Instant::now();
        let s = columns.len();
        let mut report = SampleReport {
            certificate: *cert,
            status: Availability::Unavailable,
            confidence: 0.0,
            columns: columns.clone(),
            samples_ok: 0,
            samples_failed: s,
            failures: Vec::new(),
            misbehaving: Vec::new(),
            members: Vec::new(),
            block: None,
            finished_at_ms: 0,
            duration_ms: 0,
        };
        let finish = |mut r: SampleReport| {
            r.finished_at_ms = now_ms();
            r.duration_ms = started.elapsed().as_millis() as u64;
            r
        };
        let quorum = match self.chain.quorum(cert.epoch, cert.quorum_id).await {
            Ok(Some(q)) => q,
            Ok(None) => {
                report.failures.push(format!(
                    "quorum {} of epoch {} does not exist",
                    cert.quorum_id, cert.epoch
                ));
                return finish(report);
            }
            Err(e) => {
                report.failures.push(format!("chain: {e}"));
                return finish(report);
            }
        };
        let header = match self.retriever.header(cert).await {
            Ok((h, reports)) => {
                report
                    .misbehaving
                    .extend(reports.iter().filter(|r| r.misbehaved).map(|r| r.address));
                Arc::new(h)
            }
            Err(e) => {
                report.failures.push(format!("header: {e}"));
                return finish(report);
            }
        };
        let n = quorum.members.len();
        let mut by_member: BTreeMap<usize, Vec<u16>> = BTreeMap::new();
        for &c in &columns {
            if let Some(m) = custodian(c, n) {
                by_member.entry(m).or_default().push(c);
            }
        }
        let mut asks: FuturesUnordered<_> = by_member
            .into_iter()
            .map(|(m, cols)| {
                let member = &quorum.members[m];
                let header = header.clone();
                async move { self.ask(member, cert, &header, cols).await }
            })
            .collect();
        let mut ok = 0usize;
        while let Some((member, outcome)) = asks.next().await {
            ok += outcome.ok.len();
            report.members.push(MemberSamples {
                address: member.address,
                ok: outcome.ok.len(),
                failed: outcome.failed.len(),
            });
            for (c, why) in outcome.failed {
                report
                    .failures
                    .push(format!("column {c} from {}: {why}", member.address));
            }
            if outcome.misbehaved {
                report.misbehaving.push(member.address);
            }
        }
        report.misbehaving.sort();
        report.misbehaving.dedup();
        report.members.sort_by_key(|m| m.address);
        report.samples_ok = ok;
        report.samples_failed = s - ok;
        report.confidence = confidence(ok, s);
        report.status = if report.samples_failed == 0 && report.confidence >= self.config.target {
            Availability::Available
        } else {
            Availability::Unavailable
        };
        finish(report)
    }

    /// Asks one custodian for its sampled columns (with retries) and verifies them.
    async fn ask<'q>(
        &self,
        member: &'q QuorumMember,
        cert: &Certificate,
        header: &BlobHeader,
        cols: Vec<u16>,
    ) -> (&'q QuorumMember, MemberOutcome) {
        let fail_all = |why: String, misbehaved: bool| MemberOutcome {
            ok: Vec::new(),
            failed: cols.iter().map(|&c| (c, why.clone())).collect(),
            misbehaved,
        };
        let mut last = String::from("no attempt");
        for attempt in 0..self.config.attempts.max(1) {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(100 << attempt.min(4))).await;
            }
            let req = Frame::Msg(SampleRequest {
                data_root: cert.data_root,
                columns: cols.clone(),
            });
            let answer = tokio::time::timeout(
                self.config.timeout,
                self.network.sample(&member.socket, req),
            )
            .await;
            match answer {
                Err(_) => last = format!("timed out after {:?}", self.config.timeout),
                Ok(Err(e)) => last = e.to_string(),
                Ok(Ok(Frame::Msg(SampleResponse::Columns(got)))) => {
                    return (member, self.check(header, &cols, got));
                }
                Ok(Ok(Frame::Msg(SampleResponse::Refused(SampleRefusal::OverCapacity)))) => {
                    last = "over capacity".into()
                }
                Ok(Ok(Frame::Msg(SampleResponse::Refused(r)))) => {
                    return (member, fail_all(format!("refused: {r}"), false));
                }
                Ok(Ok(_)) => {
                    return (member, fail_all("undecodable answer".into(), true));
                }
            }
        }
        (member, fail_all(last, false))
    }

    /// Verifies the columns a custodian returned against the ones asked for.
    fn check(&self, header: &BlobHeader, asked: &[u16], got: Vec<Column>) -> MemberOutcome {
        let mut out = MemberOutcome {
            ok: Vec::new(),
            failed: Vec::new(),
            misbehaved: false,
        };
        let in_order =
            got.len() == asked.len() && got.iter().zip(asked).all(|(c, &a)| c.index == a);
        if !in_order {
            out.misbehaved = true;
            out.failed = asked
                .iter()
                .map(|&c| (c, "answer does not match the columns asked".into()))
                .collect();
            return out;
        }
        if verify_columns(self.kzg, header, &got).is_ok() {
            out.ok = asked.to_vec();
            return out;
        }
        // Find which ones are bad.
        for c in &got {
            match verify_columns(self.kzg, header, std::slice::from_ref(c)) {
                Ok(()) => out.ok.push(c.index),
                Err(e) => {
                    out.misbehaved = true;
                    out.failed.push((c.index, format!("does not verify: {e}")));
                }
            }
        }
        out
    }
}
