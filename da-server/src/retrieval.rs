//! Retrieval: a certificate back into the exact payload.
//!
//! The header comes from any quorum member and is checked against the data_root. The
//! systematic columns 0..63 are fetched from their custodians in parallel (then no
//! erasure decoding is needed); when a member is down or serves anything that does not
//! verify, other columns are fetched from the remaining members until 64 verified
//! columns are in hand, and the payload is recovered. Every cell is verified against
//! the header's commitments before use; a member that served bad data is reported.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use alloy_primitives::Address;
use futures::future::join_all;
use zg_primitives::{
    BlobHeader, Certificate, Column, DATA_COLUMNS, HeaderRequest, HeaderResponse, Kzg,
    SampleRequest, SampleResponse, custody_columns, recover_payload, verify_columns,
};

use crate::chain::{ChainClient, Quorum, QuorumMember};
use crate::error::RetrieveError;
use crate::net::{Frame, Network};

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
#[derive(Clone, Debug)]
pub struct Retriever {
    network: Network,
    chain: ChainClient,
    kzg: &'static Kzg,
}

enum Fetched {
    Good(Vec<Column>),
    /// Some columns verified, others not (the member is reported).
    Partial(Vec<Column>, NodeReport),
    Failed(NodeReport),
}

impl Retriever {
    /// A retriever over a running network (client or node) and a chain client.
    pub fn new(network: Network, chain: ChainClient, kzg: &'static Kzg) -> Self {
        Self {
            network,
            chain,
            kzg,
        }
    }

    /// The network handle.
    pub fn network(&self) -> &Network {
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
        let asks = quorum.members.iter().map(|m| async move {
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
        });
        let mut reports = Vec::new();
        let mut found = None;
        for (m, r) in join_all(asks).await {
            match r {
                Ok(Frame::Msg(HeaderResponse::Found(h))) => match h.verify(&cert.data_root) {
                    Ok(()) => {
                        if found.is_none() {
                            found = Some(h);
                        }
                    }
                    Err(e) => reports.push(report(m, true, format!("bad header: {e}"))),
                },
                Ok(Frame::Msg(HeaderResponse::NotFound)) => {
                    reports.push(report(m, false, "header not found".into()))
                }
                Ok(Frame::Msg(HeaderResponse::Malformed(e))) => {
                    reports.push(report(m, false, format!("refused: {e}")))
                }
                Ok(_) => reports.push(report(m, true, "undecodable header response".into())),
                Err(e) => reports.push(report(m, false, e.to_string())),
            }
        }
        match found {
            Some(h) => Ok((h, reports)),
            None => Err(RetrieveError::HeaderUnavailable(cert.data_root.to_string())),
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
        let mut bad: HashSet<usize> = HashSet::new();
        // First round: the systematic columns from their custodians.
        let mut plan: Vec<(&QuorumMember, Vec<u16>)> = quorum
            .members
            .iter()
            .map(|m| {
                let cols: Vec<u16> = custody_columns(m.index, n)
                    .into_iter()
                    .filter(|&c| usize::from(c) < DATA_COLUMNS)
                    .collect();
                (m, cols)
            })
            .filter(|(_, c)| !c.is_empty())
            .collect();
        while !plan.is_empty() {
            for (_, cols) in &plan {
                asked.extend(cols.iter().copied());
            }
            let results = join_all(
                plan.iter()
                    .map(|(m, cols)| self.fetch(m, cols.clone(), header.clone())),
            )
            .await;
            for ((m, _), fetched) in plan.iter().zip(results) {
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
                        bad.insert(m.index);
                        reports.push(r);
                    }
                    Fetched::Failed(r) => {
                        bad.insert(m.index);
                        reports.push(r);
                    }
                }
            }
            if have.len() >= DATA_COLUMNS {
                break;
            }
            // Next round: not yet asked columns from members not yet failed, just enough.
            let mut need = DATA_COLUMNS - have.len();
            plan = Vec::new();
            for m in quorum.members.iter().filter(|m| !bad.contains(&m.index)) {
                if need == 0 {
                    break;
                }
                let cols: Vec<u16> = custody_columns(m.index, n)
                    .into_iter()
                    .filter(|c| !asked.contains(c))
                    .take(need)
                    .collect();
                need -= cols.len();
                if !cols.is_empty() {
                    plan.push((m, cols));
                }
            }
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
        }
        Ok(Retrieved {
            payload,
            header: Arc::unwrap_or_clone(header),
            recovered,
            reports,
        })
    }

    /// Fetches `cols` from `m` and keeps only what verifies.
    async fn fetch(&self, m: &QuorumMember, cols: Vec<u16>, header: Arc<BlobHeader>) -> Fetched {
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
