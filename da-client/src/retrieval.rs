//! Retrieval: a certificate back into the exact payload.
//!
//! The header comes from any quorum member and is checked against the data_root. The
//! systematic columns 0..63 are fetched from their custodians in parallel (then no
//! erasure decoding is needed); when a member is down or serves anything that does not
//! verify, other columns are fetched from the remaining members until 64 verified
//! columns are in hand, and the payload is recovered. Every cell is verified against
//! the header's commitments before use; a member that served bad data is reported.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use alloy_primitives::Address;
use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use zg_primitives::{
    BlobHeader, Certificate, Column, DATA_COLUMNS, HeaderRequest, HeaderResponse, Kzg,
    SampleRequest, SampleResponse, custody_columns, recover_payload, verify_columns,
};

use crate::chain::{ChainClient, Quorum, QuorumMember};
use crate::error::RetrieveError;
use crate::net::{Frame, Network};
use crate::traits::{ColumnNetwork, DaChain};

/// Stragglers get this many times the first answer's latency before their columns are
/// asked of other members.
const HEDGE_FACTOR: f64 = 2.0;
/// The least time stragglers get.
const MIN_HEDGE: Duration = Duration::from_millis(50);

/// A quorum member that failed to serve, and how.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeReport {
    /// The member's account.
    pub address: Address,
    /// Its socket.
    pub socket: String,
    /// Whether it served invalid data (as opposed to being unreachable or refusing).
    pub misbehaved: bool,
    /// What happened.
    pub problem: String,
}

/// A retrieved payload.
#[derive(Clone, Debug)]
pub struct Retrieved {
    /// The payload, byte-identical to what was dispersed.
    pub payload: Vec<u8>,
    /// Its header.
    pub header: BlobHeader,
    /// Whether erasure recovery was needed (some systematic column was missing).
    pub recovered: bool,
    /// Members that failed or misbehaved.
    pub reports: Vec<NodeReport>,
}

/// Fetches headers and payloads from DA nodes. Cheap to clone.
///
/// Generic over the column network and the chain (libp2p and the JSON-RPC client by
/// default; in-memory fakes in tests).
#[derive(Clone, Debug)]
pub struct Retriever<N = Network, C = ChainClient> {
    network: N,
    chain: C,
    kzg: &'static Kzg,
    reports: Option<tokio::sync::mpsc::UnboundedSender<NodeReport>>,
}

enum Fetched {
    Good(Vec<Column>),
    /// Some columns verified, others not (the member is reported).
    Partial(Vec<Column>, NodeReport),
    Failed(NodeReport),
}

impl<N: ColumnNetwork, C: DaChain> Retriever<N, C> {
    /// A retriever over a running network (client or node) and a chain client.
    pub fn new(network: N, chain: C, kzg: &'static Kzg) -> Self {
        Self {
            network,
            chain,
            kzg,
            reports: None,
        }
    }

    /// Also sends every report to `sink`, including those about answers that arrived
    /// after the retrieval had finished (so misbehaviour is never lost).
    pub fn with_report_sink(
        mut self,
        sink: tokio::sync::mpsc::UnboundedSender<NodeReport>,
    ) -> Self {
        self.reports = Some(sink);
        self
    }

    /// The network handle.
    pub fn network(&self) -> &N {
        &self.network
    }

    async fn quorum(&self, cert: &Certificate) -> Result<Arc<Quorum>, RetrieveError> {
        self.chain
            .quorum(cert.epoch, cert.quorum_id)
            .await?
            .ok_or(RetrieveError::UnknownQuorum {
                epoch: cert.epoch,
                quorum_id: cert.quorum_id,
            })
    }

    /// The header of a certified payload, from the first member that serves one matching
    /// the data_root.
    pub async fn header(
        &self,
        cert: &Certificate,
    ) -> Result<(BlobHeader, Vec<NodeReport>), RetrieveError> {
        let quorum = self.quorum(cert).await?;
        self.header_from(&quorum, cert).await
    }

    async fn header_from(
        &self,
        quorum: &Quorum,
        cert: &Certificate,
    ) -> Result<(BlobHeader, Vec<NodeReport>), RetrieveError> {
        // Ask everyone at once and take the first header that matches: a member that is
        // down (a QUIC dial can take seconds to fail) does not delay the answer.
        let mut asks: FuturesUnordered<_> = quorum
            .members
            .iter()
            .map(|m| async move {
                let r = self
                    .network
                    .header(
                        &m.socket,
                        Frame::Msg(HeaderRequest {
                            data_root: cert.data_root,
                        }),
                    )
                    .await;
                (m, r)
            })
            .collect();
        let mut reports = Vec::new();
        let mut not_found = 0;
        while let Some((m, r)) = asks.next().await {
            match r {
                Ok(Frame::Msg(HeaderResponse::Found(h))) => match h.verify(&cert.data_root) {
                    Ok(()) => return Ok((h, reports)),
                    Err(e) => reports.push(report(m, true, format!("bad header: {e}"))),
                },
                Ok(Frame::Msg(HeaderResponse::NotFound)) => {
                    not_found += 1;
                    reports.push(report(m, false, "header not found".into()))
                }
                Ok(Frame::Msg(HeaderResponse::Malformed(e))) => {
                    reports.push(report(m, false, format!("refused: {e}")))
                }
                Ok(_) => reports.push(report(m, true, "undecodable header response".into())),
                Err(e) => reports.push(report(m, false, e.to_string())),
            }
        }
        // A certified payload was stored by at least `threshold` members: only when more
        // than `n - threshold` say they do not hold it is it gone. Otherwise the silent
        // members may hold it (an outage is not "missing data": op-node reads 404 as
        // that).
        let members = quorum.members.len();
        if not_found > members.saturating_sub(quorum.threshold.max(1)) {
            Err(RetrieveError::HeaderUnavailable(cert.data_root.to_string()))
        } else {
            Err(RetrieveError::MembersUnavailable {
                data_root: cert.data_root.to_string(),
                not_found,
                members,
            })
        }
    }

    /// Retrieves and verifies a certified payload.
    pub async fn retrieve(&self, cert: &Certificate) -> Result<Retrieved, RetrieveError> {
        let quorum = self.quorum(cert).await?;
        let (header, mut reports) = self.header_from(&quorum, cert).await?;
        let header = Arc::new(header);
        let n = quorum.members.len();
        let mut have: BTreeMap<u16, Column> = BTreeMap::new();
        let mut asked: HashSet<u16> = HashSet::new();
        // Members that failed or misbehaved are not asked again.
        let mut bad: HashSet<usize> = HashSet::new();
        // Requests in flight: id → columns asked; written-off ones (stragglers past the
        // hedge deadline) no longer count towards the 64, but their answers are used.
        let mut inflight: HashMap<usize, usize> = HashMap::new();
        let mut written_off: HashSet<usize> = HashSet::new();
        let mut next_id = 0usize;
        // Requests outstanding per member: a member still answering (or hanging) is not
        // asked for more.
        let mut busy: HashMap<usize, usize> = HashMap::new();
        let mut outstanding = FuturesUnordered::new();
        macro_rules! ask {
            ($m:expr, $cols:expr) => {{
                let cols: Vec<u16> = $cols;
                let id = next_id;
                next_id += 1;
                inflight.insert(id, cols.len());
                *busy.entry($m.index).or_insert(0usize) += 1;
                outstanding.push(Self::fetch(
                    self.clone(),
                    id,
                    $m.clone(),
                    cols,
                    header.clone(),
                ));
            }};
        }
        // First: the systematic columns from their custodians.
        for m in &quorum.members {
            let cols: Vec<u16> = custody_columns(m.index, n)
                .into_iter()
                .filter(|&c| usize::from(c) < DATA_COLUMNS)
                .collect();
            if !cols.is_empty() {
                asked.extend(cols.iter().copied());
                ask!(m, cols);
            }
        }
        let started = Instant::now();
        // Stragglers get `HEDGE_FACTOR ×` the first answer's time (at least `MIN_HEDGE`);
        // then their columns are asked of other members too. Failures are replaced at once.
        let mut hedge_at: Option<Instant> = None;
        loop {
            if have.len() >= DATA_COLUMNS {
                break;
            }
            let next = match hedge_at {
                _ if outstanding.is_empty() => None,
                Some(at) => match tokio::time::timeout_at(at.into(), outstanding.next()).await {
                    Ok(next) => next,
                    Err(_) => {
                        written_off.extend(inflight.keys().copied());
                        hedge_at = None;
                        None
                    }
                },
                None => outstanding.next().await,
            };
            if let Some((id, index, fetched)) = next {
                inflight.remove(&id);
                written_off.remove(&id);
                if let Some(b) = busy.get_mut(&index) {
                    *b = b.saturating_sub(1);
                }
                match fetched {
                    Fetched::Good(cols) => {
                        for c in cols {
                            have.insert(c.index, c);
                        }
                    }
                    Fetched::Partial(cols, r) => {
                        for c in cols {
                            have.insert(c.index, c);
                        }
                        bad.insert(index);
                        reports.push(r);
                    }
                    Fetched::Failed(r) => {
                        bad.insert(index);
                        reports.push(r);
                    }
                }
                if hedge_at.is_none() && !outstanding.is_empty() {
                    let waited = started.elapsed().mul_f64(HEDGE_FACTOR).max(MIN_HEDGE);
                    hedge_at = Some(Instant::now() + waited);
                }
            }
            if have.len() >= DATA_COLUMNS {
                break;
            }
            // Columns still expected from requests that are not written off.
            let expected: usize = inflight
                .iter()
                .filter(|(id, _)| !written_off.contains(id))
                .map(|(_, n)| n)
                .sum();
            let mut need = DATA_COLUMNS.saturating_sub(have.len() + expected);
            if need > 0 {
                let candidates: Vec<&QuorumMember> = quorum
                    .members
                    .iter()
                    .filter(|m| !bad.contains(&m.index))
                    .filter(|m| busy.get(&m.index).copied().unwrap_or(0) == 0)
                    .collect();
                for m in candidates {
                    if need == 0 {
                        break;
                    }
                    let cols: Vec<u16> = custody_columns(m.index, n)
                        .into_iter()
                        .filter(|c| !asked.contains(c))
                        .take(need)
                        .collect();
                    if cols.is_empty() {
                        continue;
                    }
                    need -= cols.len();
                    asked.extend(cols.iter().copied());
                    ask!(m, cols);
                }
                if hedge_at.is_none() && !outstanding.is_empty() {
                    hedge_at = Some(Instant::now() + MIN_HEDGE.max(started.elapsed()));
                }
            }
            if outstanding.is_empty() {
                break;
            }
            if hedge_at.is_none() {
                let waited = started.elapsed().mul_f64(HEDGE_FACTOR).max(MIN_HEDGE);
                hedge_at = Some(Instant::now() + waited);
            }
        }
        // Answers still on their way are checked in the background, so a member that
        // serves bad data is reported even when it answered too late to be needed.
        if !outstanding.is_empty() {
            let sink = self.reports.clone();
            tokio::spawn(async move {
                while let Some((_, _, fetched)) = outstanding.next().await {
                    if let Fetched::Partial(_, r) | Fetched::Failed(r) = fetched {
                        late_report(&sink, r);
                    }
                }
            });
        }
        if have.len() < DATA_COLUMNS {
            return Err(RetrieveError::NotEnoughColumns { got: have.len() });
        }
        let recovered = (0..DATA_COLUMNS as u16).any(|i| !have.contains_key(&i));
        let kzg = self.kzg;
        let columns: Vec<Column> = have.into_values().collect();
        let h = header.clone();
        let payload = tokio::task::spawn_blocking(move || recover_payload(kzg, &h, &columns))
            .await
            .map_err(|e| RetrieveError::HeaderUnavailable(format!("recovery task: {e}")))??;
        for r in &reports {
            tracing::warn!(target: "zg_da::retrieval", node = %r.address, misbehaved = r.misbehaved, problem = %r.problem, "quorum member failed to serve");
            if let Some(sink) = &self.reports {
                let _ = sink.send(r.clone());
            }
        }
        Ok(Retrieved {
            payload,
            header: Arc::unwrap_or_clone(header),
            recovered,
            reports,
        })
    }

    /// Fetches `cols` from `m` and keeps only what verifies.
    async fn fetch(
        self,
        id: usize,
        m: QuorumMember,
        cols: Vec<u16>,
        header: Arc<BlobHeader>,
    ) -> (usize, usize, Fetched) {
        let fetched = self.fetch_inner(&m, cols, header).await;
        (id, m.index, fetched)
    }

    async fn fetch_inner(
        &self,
        m: &QuorumMember,
        cols: Vec<u16>,
        header: Arc<BlobHeader>,
    ) -> Fetched {
        let data_root = header.data_root();
        let resp = self
            .network
            .sample(
                &m.socket,
                Frame::Msg(SampleRequest {
                    data_root,
                    columns: cols.clone(),
                }),
            )
            .await;
        let got = match resp {
            Ok(Frame::Msg(SampleResponse::Columns(c))) => c,
            Ok(Frame::Msg(SampleResponse::Refused(r))) => {
                return Fetched::Failed(report(m, false, format!("refused: {r}")));
            }
            Ok(_) => return Fetched::Failed(report(m, true, "undecodable sample response".into())),
            Err(e) => return Fetched::Failed(report(m, false, e.to_string())),
        };
        let returned: Vec<u16> = got.iter().map(|c| c.index).collect();
        if returned != cols {
            return Fetched::Failed(report(
                m,
                true,
                format!("asked for columns {cols:?}, got {returned:?}"),
            ));
        }
        let kzg = self.kzg;
        let verdict = tokio::task::spawn_blocking(move || {
            if verify_columns(kzg, &header, &got).is_ok() {
                return (got, None);
            }
            // Keep the columns that verify on their own.
            let mut good = Vec::new();
            let mut failed = Vec::new();
            for c in got {
                match verify_columns(kzg, &header, std::slice::from_ref(&c)) {
                    Ok(()) => good.push(c),
                    Err(e) => failed.push(format!("column {}: {e}", c.index)),
                }
            }
            (good, Some(failed.join("; ")))
        })
        .await;
        match verdict {
            Ok((good, None)) => Fetched::Good(good),
            Ok((good, Some(problem))) => Fetched::Partial(good, report(m, true, problem)),
            Err(e) => Fetched::Failed(report(m, false, format!("verification task: {e}"))),
        }
    }
}

fn report(m: &QuorumMember, misbehaved: bool, problem: String) -> NodeReport {
    NodeReport {
        address: m.address,
        socket: m.socket.clone(),
        misbehaved,
        problem,
    }
}

fn late_report(sink: &Option<tokio::sync::mpsc::UnboundedSender<NodeReport>>, r: NodeReport) {
    tracing::warn!(target: "zg_da::retrieval", node = %r.address, misbehaved = r.misbehaved, problem = %r.problem, "quorum member failed to serve (late answer)");
    if let Some(sink) = sink {
        let _ = sink.send(r);
    }
}
