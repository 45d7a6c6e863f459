//! [`FakeNetwork`]: DA nodes in this process, reached by their socket.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use alloy_primitives::{Address, B256};
use parking_lot::{Mutex, RwLock};
use zg_da_client::net::parse_peer_addr;
use zg_da_client::{ColumnNetwork, DaChain, Frame, NetError};
use zg_primitives::{
    BlobHeader, BlsPublicKey, BlsSecretKey, BlsSignature, Column, HeaderRequest, HeaderResponse,
    Kzg, SampleRefusal, SampleRequest, SampleResponse, StoreRefusal, StoreRequest, StoreResponse,
    attestation_message, verify_columns,
};

use super::chain::FakeChain;

/// Misbehaviour of a fake DA node. Combine freely; the default is an honest node.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Faults {
    /// Every request fails as a connection failure ([`NetError::Request`]), after `delay`.
    pub offline: bool,
    /// Every request is answered (or fails) only after this long.
    pub delay: Duration,
    /// Served cells have a flipped byte (they no longer verify).
    pub corrupt_cells: bool,
    /// These columns are served with a flipped byte (the others stay good).
    pub corrupt_columns: Vec<u16>,
    /// Sample requests are refused as if no column were held (`NotHeld`).
    pub withhold: bool,
    /// Sample requests are answered with empty columns (claimed, but nothing held).
    pub forget_columns: bool,
    /// The header served does not hash to the data_root.
    pub bad_header: bool,
    /// Store requests are signed over the wrong message.
    pub garbage_signature: bool,
}

impl Faults {
    /// Unreachable.
    pub fn offline() -> Self {
        Self {
            offline: true,
            ..Self::default()
        }
    }

    /// Honest but answering only after `delay`.
    pub fn slow(delay: Duration) -> Self {
        Self {
            delay,
            ..Self::default()
        }
    }

    /// Serves corrupted cells.
    pub fn corrupt() -> Self {
        Self {
            corrupt_cells: true,
            ..Self::default()
        }
    }

    /// Refuses to serve its columns.
    pub fn withholding() -> Self {
        Self {
            withhold: true,
            ..Self::default()
        }
    }
}

/// What a node holds of one payload.
#[derive(Debug)]
struct Held {
    header: BlobHeader,
    columns: BTreeMap<u16, Column>,
}

/// One in-process DA node: its account, socket and BLS key, what it stores, its faults
/// and how many requests of each protocol reached it.
#[derive(Debug)]
pub struct FakeNode {
    address: Address,
    socket: String,
    bls: BlsSecretKey,
    faults: Mutex<Faults>,
    held: Mutex<HashMap<B256, Held>>,
    attestations: Mutex<HashMap<(B256, u64, u64), BlsSignature>>,
    store_requests: AtomicUsize,
    sample_requests: AtomicUsize,
    header_requests: AtomicUsize,
}

impl FakeNode {
    /// The node's account.
    pub fn address(&self) -> Address {
        self.address
    }

    /// Its socket.
    pub fn socket(&self) -> &str {
        &self.socket
    }

    /// Its BLS public key.
    pub fn bls_public_key(&self) -> BlsPublicKey {
        self.bls.public_key()
    }

    /// Its current faults.
    pub fn faults(&self) -> Faults {
        self.faults.lock().clone()
    }

    /// Changes its faults (takes effect for the next request).
    pub fn set_faults(&self, faults: Faults) {
        *self.faults.lock() = faults;
    }

    /// Stores `columns` of a payload directly (no checks, no signature).
    pub fn put(&self, header: &BlobHeader, columns: Vec<Column>) {
        let mut held = self.held.lock();
        let entry = held.entry(header.data_root()).or_insert_with(|| Held {
            header: header.clone(),
            columns: BTreeMap::new(),
        });
        for c in columns {
            entry.columns.insert(c.index, c);
        }
    }

    /// Drops everything held of `data_root`.
    pub fn forget(&self, data_root: &B256) {
        self.held.lock().remove(data_root);
    }

    /// The columns held of `data_root` (ascending).
    pub fn held_columns(&self, data_root: &B256) -> Vec<u16> {
        self.held
            .lock()
            .get(data_root)
            .map(|h| h.columns.keys().copied().collect())
            .unwrap_or_default()
    }

    /// Store requests received.
    pub fn store_requests(&self) -> usize {
        self.store_requests.load(Ordering::Relaxed)
    }

    /// Sample requests received.
    pub fn sample_requests(&self) -> usize {
        self.sample_requests.load(Ordering::Relaxed)
    }

    /// Header requests received.
    pub fn header_requests(&self) -> usize {
        self.header_requests.load(Ordering::Relaxed)
    }

    /// The delay, then the connection failure of an offline node.
    async fn arrive(&self) -> Result<Faults, NetError> {
        let faults = self.faults();
        if !faults.delay.is_zero() {
            tokio::time::sleep(faults.delay).await;
        }
        if faults.offline {
            return Err(NetError::Request {
                peer: self.socket.clone(),
                reason: "connection refused (fake node offline)".into(),
            });
        }
        Ok(faults)
    }

    /// `/zg/da/sample/1`, as the DA node serves it.
    fn sample(&self, req: SampleRequest, faults: &Faults) -> Result<Vec<Column>, SampleRefusal> {
        req.check()?;
        let held = self.held.lock();
        let Some(payload) = held.get(&req.data_root) else {
            return Err(SampleRefusal::NotFound);
        };
        if faults.withhold {
            return Err(SampleRefusal::NotHeld(req.columns[0]));
        }
        let mut out = Vec::with_capacity(req.columns.len());
        for &c in &req.columns {
            if faults.forget_columns {
                out.push(Column {
                    index: c,
                    cells: Vec::new(),
                    proofs: Vec::new(),
                });
                continue;
            }
            let Some(col) = payload.columns.get(&c) else {
                return Err(SampleRefusal::NotHeld(c));
            };
            let mut col = col.clone();
            if faults.corrupt_cells || faults.corrupt_columns.contains(&c) {
                for cell in &mut col.cells {
                    cell.as_bytes_mut()[100] ^= 0x01;
                }
            }
            out.push(col);
        }
        Ok(out)
    }

    /// `/zg/da/header/1`.
    fn header(&self, req: HeaderRequest, faults: &Faults) -> HeaderResponse {
        match self.held.lock().get(&req.data_root) {
            Some(h) => {
                let mut header = h.header.clone();
                if faults.bad_header {
                    header.payload_len += 1;
                }
                HeaderResponse::Found(header)
            }
            None => HeaderResponse::NotFound,
        }
    }

    /// `/zg/da/store/2`: the DA node's checks (chain, header, disperser signature,
    /// membership, custody, deposit, KZG), then keep and sign.
    async fn store(
        &self,
        req: StoreRequest,
        chain: &FakeChain,
        kzg: &'static Kzg,
        faults: &Faults,
    ) -> Result<BlsSignature, StoreRefusal> {
        let chain_id = chain.chain_id();
        let disperser = req.check_origin(chain_id)?;
        let (epoch, quorum_id) = (req.epoch, req.quorum_id);
        let quorum = chain
            .quorum(epoch, quorum_id)
            .await
            .map_err(|e| StoreRefusal::Internal(e.to_string()))?
            .ok_or(StoreRefusal::UnknownQuorum { epoch, quorum_id })?;
        let member = quorum
            .member(self.address)
            .ok_or(StoreRefusal::NotInQuorum { epoch, quorum_id })?;
        req.check_custody(member.index, quorum.members.len())?;
        let root = req.data_root;
        if let Some(sig) = self.attestations.lock().get(&(root, epoch, quorum_id)) {
            return Ok(*sig);
        }
        let blob_count = req.header.blob_count;
        zg_da_client::check_deposit(chain, disperser, blob_count).await?;
        let req = Arc::new(req);
        let checked = req.clone();
        tokio::task::spawn_blocking(move || {
            verify_columns(kzg, &checked.header, &checked.columns)
                .map_err(|e| StoreRefusal::BadProof(e.to_string()))
        })
        .await
        .map_err(|e| StoreRefusal::Internal(e.to_string()))??;
        let message = if faults.garbage_signature {
            B256::repeat_byte(0x66)
        } else {
            attestation_message(chain_id, root, epoch, quorum_id, blob_count)
        };
        let signature = self.bls.sign(&message);
        let req = Arc::unwrap_or_clone(req);
        self.put(&req.header, req.columns);
        self.attestations
            .lock()
            .insert((root, epoch, quorum_id), signature);
        Ok(signature)
    }
}

/// The column network of in-process DA nodes: requests go straight to the node whose
/// socket they name (sockets are parsed like real ones, `…/p2p/<peer id>`), which
/// stores, verifies and serves with real KZG and signs with real BLS. Nodes can be made
/// slow, offline or Byzantine ([`Faults`]). Cheap to clone (shared state).
#[derive(Clone, Debug)]
pub struct FakeNetwork {
    inner: Arc<NetInner>,
}

#[derive(Debug)]
struct NetInner {
    chain: FakeChain,
    kzg: &'static Kzg,
    nodes: RwLock<HashMap<String, Arc<FakeNode>>>,
}

impl FakeNetwork {
    /// An empty network whose nodes check store requests against `chain`.
    pub fn new(chain: FakeChain, kzg: &'static Kzg) -> Self {
        Self {
            inner: Arc::new(NetInner {
                chain,
                kzg,
                nodes: RwLock::new(HashMap::new()),
            }),
        }
    }

    /// Adds a node serving at `socket` (replacing any there).
    pub fn add_node(&self, address: Address, socket: String, bls: BlsSecretKey) -> Arc<FakeNode> {
        let node = Arc::new(FakeNode {
            address,
            socket: socket.clone(),
            bls,
            faults: Mutex::new(Faults::default()),
            held: Mutex::new(HashMap::new()),
            attestations: Mutex::new(HashMap::new()),
            store_requests: AtomicUsize::new(0),
            sample_requests: AtomicUsize::new(0),
            header_requests: AtomicUsize::new(0),
        });
        self.inner.nodes.write().insert(socket, node.clone());
        node
    }

    /// Removes the node at `socket` (requests to it then fail to connect).
    pub fn remove_node(&self, socket: &str) -> Option<Arc<FakeNode>> {
        self.inner.nodes.write().remove(socket)
    }

    /// The node at `socket`.
    pub fn node(&self, socket: &str) -> Option<Arc<FakeNode>> {
        self.inner.nodes.read().get(socket).cloned()
    }

    /// Routes a request: an unparsable socket is [`NetError::BadAddress`], an unknown
    /// one a connection failure.
    fn route(&self, socket: &str) -> Result<Arc<FakeNode>, NetError> {
        let (peer, _) = parse_peer_addr(socket)?;
        self.node(socket).ok_or_else(|| NetError::Request {
            peer: peer.to_string(),
            reason: "no node at this address".into(),
        })
    }
}

impl ColumnNetwork for FakeNetwork {
    async fn store(
        &self,
        socket: &str,
        req: Frame<StoreRequest>,
    ) -> Result<Frame<StoreResponse>, NetError> {
        let node = self.route(socket)?;
        node.store_requests.fetch_add(1, Ordering::Relaxed);
        let faults = node.arrive().await?;
        let outcome = match req {
            Frame::Msg(req) => {
                node.store(req, &self.inner.chain, self.inner.kzg, &faults)
                    .await
            }
            Frame::Refused(r) => Err(r),
            Frame::Invalid(e) => Err(StoreRefusal::Malformed(e)),
            Frame::Raw(_) => Err(StoreRefusal::Malformed("raw frame".into())),
        };
        Ok(Frame::Msg(match outcome {
            Ok(signature) => StoreResponse::Signed { signature },
            Err(r) => StoreResponse::Refused(r),
        }))
    }

    async fn sample(
        &self,
        socket: &str,
        req: Frame<SampleRequest>,
    ) -> Result<Frame<SampleResponse>, NetError> {
        let node = self.route(socket)?;
        node.sample_requests.fetch_add(1, Ordering::Relaxed);
        let faults = node.arrive().await?;
        let outcome = match req {
            Frame::Msg(req) => node.sample(req, &faults),
            Frame::Invalid(e) => Err(SampleRefusal::Malformed(e)),
            Frame::Raw(_) | Frame::Refused(_) => Err(SampleRefusal::Malformed("raw frame".into())),
        };
        Ok(Frame::Msg(match outcome {
            Ok(columns) => SampleResponse::Columns(columns),
            Err(r) => SampleResponse::Refused(r),
        }))
    }

    async fn header(
        &self,
        socket: &str,
        req: Frame<HeaderRequest>,
    ) -> Result<Frame<HeaderResponse>, NetError> {
        let node = self.route(socket)?;
        node.header_requests.fetch_add(1, Ordering::Relaxed);
        let faults = node.arrive().await?;
        Ok(Frame::Msg(match req {
            Frame::Msg(req) => node.header(req, &faults),
            Frame::Invalid(e) => HeaderResponse::Malformed(e),
            Frame::Raw(_) | Frame::Refused(_) => HeaderResponse::Malformed("raw frame".into()),
        }))
    }
}
