//! libp2p networking: TCP and QUIC, noise, yamux, identify, kademlia, and the three
//! request-response protocols `/zg/da/store/2`, `/zg/da/sample/1`, `/zg/da/header/1`.
//!
//! A [`Network`] is a handle; a worker task owns the swarm. Inbound requests go to an
//! [`InboundHandler`] on their own tasks, so a slow store never blocks sampling.
//!
//! Framing is libp2p's CBOR request-response framing: one CBOR value per stream, the
//! request then the response, each bounded in size. Unlike libp2p's stock codec, a
//! request that does not decode is handed to the handler as [`Frame::Invalid`], so the
//! peer gets a typed `Malformed` refusal instead of a reset stream. A store request is
//! the exception ([`StoreCodec`]): a length-prefixed prelude the handler checks before
//! the columns are read, then the columns. Every inbound read shares one byte budget
//! ([`NetConfig::max_inbound_bytes`]).

use std::collections::HashMap;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, StreamExt};
use libp2p::identity::Keypair;
use libp2p::multiaddr::Protocol;
use libp2p::request_response::{self, OutboundRequestId, ProtocolSupport, ResponseChannel};
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{Multiaddr, PeerId, StreamProtocol, identify, kad, noise, tcp, yamux};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use zg_primitives::wire::{HEADER_PROTOCOL, SAMPLE_PROTOCOL, STORE_PROTOCOL};
use zg_primitives::wire::{MAX_STORE_PRELUDE_BYTES, StorePrelude};
use zg_primitives::{
    Column, HeaderRequest, HeaderResponse, SampleRequest, SampleResponse, StoreRefusal,
    StoreRequest, StoreResponse,
};

use crate::error::NetError;

/// One message on a stream: decoded, raw bytes to send verbatim, or bytes received that
/// did not decode.
#[derive(Clone, Debug)]
pub enum Frame<T> {
    /// A well-formed message.
    Msg(T),
    /// Bytes sent as they are (diagnostics and tests of peers' input handling).
    Raw(Vec<u8>),
    /// Received bytes that are not a valid message, and why.
    Invalid(String),
    /// A store request the node refused from its prelude, before reading its columns
    /// (see [`InboundHandler::admit_store`]).
    Refused(StoreRefusal),
}

/// CBOR request-response codec with size limits and lenient inbound decoding.
#[derive(Debug)]
pub struct CborCodec<Req, Resp> {
    max_request: u64,
    max_response: u64,
    /// The process's budget of inbound request bytes being read (in KiB permits),
    /// shared by every stream of every protocol.
    inbound: Option<Arc<Semaphore>>,
    _marker: std::marker::PhantomData<fn() -> (Req, Resp)>,
}

impl<Req, Resp> Clone for CborCodec<Req, Resp> {
    fn clone(&self) -> Self {
        Self {
            max_request: self.max_request,
            max_response: self.max_response,
            inbound: self.inbound.clone(),
            _marker: std::marker::PhantomData,
        }
    }
}

impl<Req, Resp> CborCodec<Req, Resp> {
    fn new(max_request: u64, max_response: u64, inbound: Option<Arc<Semaphore>>) -> Self {
        Self {
            max_request,
            max_response,
            inbound,
            _marker: std::marker::PhantomData,
        }
    }
}

/// Bytes read per step of an inbound request, and per budget permit.
const READ_CHUNK: usize = 64 * 1024;

/// Reads one message of at most `limit` bytes. With a `budget`, the bytes are read a
/// chunk at a time, each chunk only once the budget has room for it: the requests
/// being read, from every peer, together hold at most the budget (a full budget stops
/// reading, and the senders' flow control pushes back, until the request timeout).
async fn read_frame<T: DeserializeOwned, R: AsyncRead + Unpin + Send>(
    io: &mut R,
    limit: u64,
    budget: Option<&Arc<Semaphore>>,
) -> io::Result<Frame<T>> {
    let mut buf = Vec::new();
    let mut held: Option<OwnedSemaphorePermit> = None;
    let mut io = io.take(limit + 1);
    loop {
        if let Some(b) = budget {
            let permit = b
                .clone()
                .acquire_many_owned((READ_CHUNK / 1024) as u32)
                .await
                .map_err(|_| io::Error::other("inbound budget closed"))?;
            match held.as_mut() {
                Some(h) => h.merge(permit),
                None => held = Some(permit),
            }
        }
        let start = buf.len();
        buf.resize(start + READ_CHUNK, 0);
        let mut filled = start;
        while filled < buf.len() {
            let n = io.read(&mut buf[filled..]).await?;
            if n == 0 {
                break;
            }
            filled += n;
        }
        buf.truncate(filled);
        if filled < start + READ_CHUNK {
            break; // end of stream
        }
    }
    if buf.len() as u64 > limit {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("message exceeds {limit} bytes"),
        ));
    }
    Ok(match ciborium::from_reader::<T, _>(buf.as_slice()) {
        Ok(v) => Frame::Msg(v),
        Err(e) => Frame::Invalid(format!(
            "undecodable CBOR message ({} bytes): {e}",
            buf.len()
        )),
    })
}

async fn write_frame<T: Serialize, W: AsyncWrite + Unpin + Send>(
    io: &mut W,
    frame: Frame<T>,
) -> io::Result<()> {
    let bytes = match frame {
        Frame::Msg(v) => {
            let mut out = Vec::new();
            ciborium::into_writer(&v, &mut out)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
            out
        }
        Frame::Raw(b) => b,
        Frame::Invalid(reason) => {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, reason));
        }
        Frame::Refused(r) => {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, r.to_string()));
        }
    };
    io.write_all(&bytes).await?;
    io.close().await
}

impl<Req, Resp> request_response::Codec for CborCodec<Req, Resp>
where
    Req: Send + Serialize + DeserializeOwned + 'static,
    Resp: Send + Serialize + DeserializeOwned + 'static,
{
    type Protocol = StreamProtocol;
    type Request = Frame<Req>;
    type Response = Frame<Resp>;

    fn read_request<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &Self::Protocol,
        io: &mut T,
    ) -> impl Future<Output = io::Result<Self::Request>> + Send {
        read_frame(io, self.max_request, self.inbound.as_ref())
    }

    fn read_response<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &Self::Protocol,
        io: &mut T,
    ) -> impl Future<Output = io::Result<Self::Response>> + Send {
        read_frame(io, self.max_response, None)
    }

    fn write_request<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &Self::Protocol,
        io: &mut T,
        req: Self::Request,
    ) -> impl Future<Output = io::Result<()>> + Send {
        write_frame(io, req)
    }

    fn write_response<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &Self::Protocol,
        io: &mut T,
        res: Self::Response,
    ) -> impl Future<Output = io::Result<()>> + Send {
        write_frame(io, res)
    }
}

/// The `/zg/da/store/2` codec: a request travels as a length-prefixed CBOR prelude and
/// then its CBOR columns. Inbound, the prelude is read (at most
/// [`MAX_STORE_PRELUDE_BYTES`]) and checked by the handler's
/// [`InboundHandler::admit_store`] before any column byte is read; a refused request's
/// columns are skipped unbuffered (so the sender still reads the typed refusal), an
/// admitted one's are read up to the size the handler allows.
#[derive(Clone)]
pub struct StoreCodec {
    inner: CborCodec<StoreRequest, StoreResponse>,
    gate: Option<Arc<dyn InboundHandler>>,
}

impl StoreCodec {
    async fn read_store<T: AsyncRead + Unpin + Send>(
        &self,
        io: &mut T,
    ) -> io::Result<Frame<StoreRequest>> {
        let budget = self.inner.inbound.as_ref();
        let mut len = [0u8; 4];
        io.read_exact(&mut len).await?;
        let len = u32::from_be_bytes(len);
        if len > MAX_STORE_PRELUDE_BYTES {
            return Ok(Frame::Invalid(format!(
                "store prelude of {len} bytes exceeds {MAX_STORE_PRELUDE_BYTES}"
            )));
        }
        let mut prelude_io = io.take(u64::from(len));
        let prelude =
            match read_frame::<StorePrelude, _>(&mut prelude_io, u64::from(len), budget).await? {
                Frame::Msg(p) => p,
                Frame::Invalid(e) => return Ok(Frame::Invalid(format!("store prelude: {e}"))),
                Frame::Raw(_) | Frame::Refused(_) => unreachable!("read_frame decodes or refuses"),
            };
        let limit = match &self.gate {
            Some(gate) => gate.clone().admit_store(prelude.clone()).await,
            None => Ok(self.inner.max_request),
        };
        let limit = match limit {
            Ok(limit) => limit.min(self.inner.max_request),
            Err(refusal) => {
                // Skip the columns without keeping them, up to the request limit, so the
                // sender finishes writing and reads the refusal.
                futures::io::copy(io.take(self.inner.max_request), &mut futures::io::sink())
                    .await?;
                return Ok(Frame::Refused(refusal));
            }
        };
        Ok(
            match read_frame::<Vec<Column>, _>(io, limit, budget).await? {
                Frame::Msg(columns) => Frame::Msg(StoreRequest::from_parts(prelude, columns)),
                Frame::Invalid(e) => Frame::Invalid(format!("store columns: {e}")),
                Frame::Raw(_) | Frame::Refused(_) => unreachable!("read_frame decodes or refuses"),
            },
        )
    }
}

impl request_response::Codec for StoreCodec {
    type Protocol = StreamProtocol;
    type Request = Frame<StoreRequest>;
    type Response = Frame<StoreResponse>;

    fn read_request<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &Self::Protocol,
        io: &mut T,
    ) -> impl Future<Output = io::Result<Self::Request>> + Send {
        let this = self.clone();
        async move { this.read_store(io).await }
    }

    fn read_response<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &Self::Protocol,
        io: &mut T,
    ) -> impl Future<Output = io::Result<Self::Response>> + Send {
        read_frame(io, self.inner.max_response, None)
    }

    async fn write_request<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &Self::Protocol,
        io: &mut T,
        req: Self::Request,
    ) -> io::Result<()> {
        let bytes = match req {
            Frame::Msg(req) => encode_store_request(req)?,
            Frame::Raw(b) => b,
            Frame::Invalid(reason) => {
                return Err(io::Error::new(io::ErrorKind::InvalidInput, reason));
            }
            Frame::Refused(r) => {
                return Err(io::Error::new(io::ErrorKind::InvalidInput, r.to_string()));
            }
        };
        io.write_all(&bytes).await?;
        io.close().await
    }

    fn write_response<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &Self::Protocol,
        io: &mut T,
        res: Self::Response,
    ) -> impl Future<Output = io::Result<()>> + Send {
        write_frame(io, res)
    }
}

/// A store request's bytes on the wire: the prelude's length (4 bytes, big-endian), the
/// prelude, the columns.
pub fn encode_store_request(req: StoreRequest) -> io::Result<Vec<u8>> {
    let (prelude, columns) = req.into_parts();
    let mut out = vec![0u8; 4];
    ciborium::into_writer(&prelude, &mut out)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
    let len = u32::try_from(out.len() - 4)
        .ok()
        .filter(|&l| l <= MAX_STORE_PRELUDE_BYTES)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "store prelude too large"))?;
    out[..4].copy_from_slice(&len.to_be_bytes());
    ciborium::into_writer(&columns, &mut out)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
    Ok(out)
}

type Rr<Req, Resp> = request_response::Behaviour<CborCodec<Req, Resp>>;

/// The swarm's behaviour.
#[derive(NetworkBehaviour)]
#[behaviour(prelude = "libp2p::swarm::derive_prelude")]
struct Behaviour {
    limits: libp2p::connection_limits::Behaviour,
    store: request_response::Behaviour<StoreCodec>,
    sample: Rr<SampleRequest, SampleResponse>,
    header: Rr<HeaderRequest, HeaderResponse>,
    identify: identify::Behaviour,
    kad: kad::Behaviour<kad::store::MemoryStore>,
}

/// Serves inbound requests. Each call runs on its own task.
pub trait InboundHandler: Send + Sync + 'static {
    /// `/zg/da/store/2`, before the columns are read: checks the request's prelude and
    /// answers the most column bytes to read, or the refusal (then the columns are
    /// skipped unread and [`InboundHandler::store`] gets [`Frame::Refused`]).
    fn admit_store(
        self: Arc<Self>,
        prelude: StorePrelude,
    ) -> BoxFuture<'static, Result<u64, StoreRefusal>>;
    /// `/zg/da/store/2`.
    fn store(
        self: Arc<Self>,
        peer: PeerId,
        req: Frame<StoreRequest>,
    ) -> BoxFuture<'static, StoreResponse>;
    /// `/zg/da/sample/1`.
    fn sample(
        self: Arc<Self>,
        peer: PeerId,
        req: Frame<SampleRequest>,
    ) -> BoxFuture<'static, SampleResponse>;
    /// `/zg/da/header/1`.
    fn header(
        self: Arc<Self>,
        peer: PeerId,
        req: Frame<HeaderRequest>,
    ) -> BoxFuture<'static, HeaderResponse>;
}

/// Network settings.
#[derive(Clone, Debug)]
pub struct NetConfig {
    /// Listen addresses (`/ip4/…/tcp/…`, `/ip4/…/udp/…/quic-v1`); empty for a client.
    pub listen: Vec<Multiaddr>,
    /// Largest request accepted (a store request carries a member's columns).
    pub max_request_bytes: u64,
    /// Largest response accepted.
    pub max_response_bytes: u64,
    /// Per-request timeout (dial, send, answer).
    pub request_timeout: Duration,
    /// Concurrent inbound and outbound streams per connection and protocol.
    pub max_concurrent_streams: usize,
    /// Kademlia bootstrap peers (`…/p2p/<id>`).
    pub bootstrap: Vec<Multiaddr>,
    /// Established connections at most, in total (inbound and outbound).
    pub max_connections: u32,
    /// Established connections at most per peer.
    pub max_connections_per_peer: u32,
    /// Inbound connections still in their handshake at most.
    pub max_pending_incoming: u32,
    /// Bytes of inbound requests being read at once, over every peer and stream: what
    /// unauthenticated peers can make this process buffer (a request's signature is
    /// checked once it is read whole).
    pub max_inbound_bytes: u64,
}

/// Largest sample or header request: both are a few dozen bytes of CBOR (a data_root,
/// a cell list of at most 128 indices), so nothing bigger is read.
pub const MAX_SMALL_REQUEST_BYTES: u64 = 4 * 1024;

/// Default budget of inbound request bytes being read at once (four full store
/// requests).
pub const DEFAULT_MAX_INBOUND_BYTES: u64 = 256 * 1024 * 1024;

impl Default for NetConfig {
    fn default() -> Self {
        Self {
            listen: Vec::new(),
            max_request_bytes: 64 * 1024 * 1024,
            max_response_bytes: 64 * 1024 * 1024,
            request_timeout: Duration::from_secs(30),
            max_concurrent_streams: 64,
            bootstrap: Vec::new(),
            max_connections: 1024,
            max_connections_per_peer: 4,
            max_pending_incoming: 128,
            max_inbound_bytes: DEFAULT_MAX_INBOUND_BYTES,
        }
    }
}

type Reply<T> = oneshot::Sender<Result<Frame<T>, NetError>>;

enum Command {
    Store(
        PeerId,
        Vec<Multiaddr>,
        Frame<StoreRequest>,
        Reply<StoreResponse>,
    ),
    Sample(
        PeerId,
        Vec<Multiaddr>,
        Frame<SampleRequest>,
        Reply<SampleResponse>,
    ),
    Header(
        PeerId,
        Vec<Multiaddr>,
        Frame<HeaderRequest>,
        Reply<HeaderResponse>,
    ),
}

enum Answer {
    Store(ResponseChannel<Frame<StoreResponse>>, StoreResponse),
    Sample(ResponseChannel<Frame<SampleResponse>>, SampleResponse),
    Header(ResponseChannel<Frame<HeaderResponse>>, HeaderResponse),
}

/// Handle of the libp2p network. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Network {
    commands: mpsc::Sender<Command>,
    peer_id: PeerId,
    listen_addrs: Arc<Vec<Multiaddr>>,
}

/// Splits `…/p2p/<peer id>` into the peer and its dialable address.
pub fn parse_peer_addr(socket: &str) -> Result<(PeerId, Multiaddr), NetError> {
    let mut addr: Multiaddr = socket
        .trim()
        .parse()
        .map_err(|e| NetError::BadAddress(format!("{socket}: {e}")))?;
    match addr.pop() {
        Some(Protocol::P2p(peer)) => Ok((peer, addr)),
        _ => Err(NetError::BadAddress(format!(
            "{socket}: must end with /p2p/<peer id>"
        ))),
    }
}

impl Network {
    /// Starts the swarm; with a handler, it serves the three protocols. Returns once
    /// every listen address is bound.
    pub async fn start(
        keypair: Keypair,
        config: NetConfig,
        handler: Option<Arc<dyn InboundHandler>>,
        cancel: CancellationToken,
    ) -> Result<(Self, JoinHandle<()>), NetError> {
        let setup = |e: &dyn std::fmt::Display| NetError::Setup(e.to_string());
        let support = if handler.is_some() {
            ProtocolSupport::Full
        } else {
            ProtocolSupport::Outbound
        };
        let rr_config = request_response::Config::default()
            .with_request_timeout(config.request_timeout)
            .with_max_concurrent_streams(config.max_concurrent_streams);
        let (maxq, maxr) = (config.max_request_bytes, config.max_response_bytes);
        // At least one full request fits, so a large one is never starved for good.
        let budget_kib = config
            .max_inbound_bytes
            .max(maxq + READ_CHUNK as u64)
            .div_ceil(1024)
            .min(u64::from(u32::MAX >> 3)) as usize;
        let inbound = Some(Arc::new(Semaphore::new(budget_kib)));
        let no_bootstrap = config.bootstrap.is_empty();
        let conn_limits = libp2p::connection_limits::ConnectionLimits::default()
            .with_max_established(Some(config.max_connections))
            .with_max_established_per_peer(Some(config.max_connections_per_peer))
            .with_max_pending_incoming(Some(config.max_pending_incoming));
        let mut swarm = libp2p::SwarmBuilder::with_existing_identity(keypair)
            .with_tokio()
            .with_tcp(
                tcp::Config::default().nodelay(true),
                noise::Config::new,
                yamux::Config::default,
            )
            .map_err(|e| setup(&e))?
            .with_quic()
            .with_behaviour(|key| {
                let peer = key.public().to_peer_id();
                let mut kad_cfg = kad::Config::new(StreamProtocol::new("/zg/da/kad/1"));
                kad_cfg.set_query_timeout(Duration::from_secs(30));
                if no_bootstrap {
                    // Nothing to bootstrap from: peers join the routing table as they
                    // connect (dispersers, retrievers, samplers dial on-chain sockets).
                    kad_cfg.set_periodic_bootstrap_interval(None);
                }
                Behaviour {
                    limits: libp2p::connection_limits::Behaviour::new(conn_limits),
                    store: request_response::Behaviour::with_codec(
                        StoreCodec {
                            inner: CborCodec::new(maxq, maxr, inbound.clone()),
                            gate: handler.clone(),
                        },
                        [(StreamProtocol::new(STORE_PROTOCOL), support.clone())],
                        rr_config.clone(),
                    ),
                    sample: request_response::Behaviour::with_codec(
                        CborCodec::new(MAX_SMALL_REQUEST_BYTES, maxr, inbound.clone()),
                        [(StreamProtocol::new(SAMPLE_PROTOCOL), support.clone())],
                        rr_config.clone(),
                    ),
                    header: request_response::Behaviour::with_codec(
                        CborCodec::new(MAX_SMALL_REQUEST_BYTES, maxr, inbound.clone()),
                        [(StreamProtocol::new(HEADER_PROTOCOL), support.clone())],
                        rr_config.clone(),
                    ),
                    identify: identify::Behaviour::new(identify::Config::new(
                        "/zg/da/id/1".into(),
                        key.public(),
                    )),
                    kad: kad::Behaviour::with_config(
                        peer,
                        kad::store::MemoryStore::new(peer),
                        kad_cfg,
                    ),
                }
            })
            .map_err(|e| setup(&e))?
            .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(120)))
            .build();
        let peer_id = *swarm.local_peer_id();
        swarm
            .behaviour_mut()
            .kad
            .set_mode(Some(if handler.is_some() {
                kad::Mode::Server
            } else {
                kad::Mode::Client
            }));
        for addr in &config.listen {
            swarm.listen_on(addr.clone()).map_err(|e| setup(&e))?;
        }
        // Wait for every listener's address.
        let mut listen_addrs = Vec::new();
        while listen_addrs.len() < config.listen.len() {
            match tokio::time::timeout(Duration::from_secs(10), swarm.select_next_some()).await {
                Ok(SwarmEvent::NewListenAddr { address, .. }) => {
                    listen_addrs.push(address.with(Protocol::P2p(peer_id)))
                }
                Ok(SwarmEvent::ListenerError { error, .. }) => return Err(setup(&error)),
                Ok(SwarmEvent::ListenerClosed { reason, .. }) => {
                    return Err(NetError::Setup(format!("listener closed: {reason:?}")));
                }
                Ok(_) => {}
                Err(_) => return Err(NetError::Setup("listen addresses not bound in 10 s".into())),
            }
        }
        let mut bootstrapped = false;
        for addr in &config.bootstrap {
            if let Ok((peer, a)) = parse_peer_addr(&addr.to_string()) {
                swarm.behaviour_mut().kad.add_address(&peer, a);
                bootstrapped = true;
            }
        }
        if bootstrapped {
            let _ = swarm.behaviour_mut().kad.bootstrap();
        }
        let (tx, rx) = mpsc::channel(1024);
        let worker = Worker {
            swarm,
            handler,
            commands: rx,
            answers: mpsc::unbounded_channel(),
            pending_store: HashMap::new(),
            pending_sample: HashMap::new(),
            pending_header: HashMap::new(),
        };
        let task = tokio::spawn(worker.run(cancel));
        tracing::info!(target: "zg_da::net", %peer_id, addrs = ?listen_addrs, "libp2p started");
        Ok((
            Self {
                commands: tx,
                peer_id,
                listen_addrs: Arc::new(listen_addrs),
            },
            task,
        ))
    }

    /// This node's peer id.
    pub fn peer_id(&self) -> PeerId {
        self.peer_id
    }

    /// Bound listen addresses, each ending in `/p2p/<peer id>`.
    pub fn listen_addrs(&self) -> &[Multiaddr] {
        &self.listen_addrs
    }

    async fn request<T>(
        &self,
        socket: &str,
        make: impl FnOnce(PeerId, Vec<Multiaddr>, Reply<T>) -> Command,
    ) -> Result<Frame<T>, NetError> {
        let (peer, addr) = parse_peer_addr(socket)?;
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(make(peer, vec![addr], tx))
            .await
            .map_err(|_| NetError::Stopped)?;
        rx.await.map_err(|_| NetError::Stopped)?
    }

    /// Sends a store request to the node at `socket`.
    pub async fn store(
        &self,
        socket: &str,
        req: Frame<StoreRequest>,
    ) -> Result<Frame<StoreResponse>, NetError> {
        self.request(socket, |p, a, r| Command::Store(p, a, req, r))
            .await
    }

    /// Sends a sample request to the node at `socket`.
    pub async fn sample(
        &self,
        socket: &str,
        req: Frame<SampleRequest>,
    ) -> Result<Frame<SampleResponse>, NetError> {
        self.request(socket, |p, a, r| Command::Sample(p, a, req, r))
            .await
    }

    /// Sends a header request to the node at `socket`.
    pub async fn header(
        &self,
        socket: &str,
        req: Frame<HeaderRequest>,
    ) -> Result<Frame<HeaderResponse>, NetError> {
        self.request(socket, |p, a, r| Command::Header(p, a, req, r))
            .await
    }
}

struct Worker {
    swarm: libp2p::Swarm<Behaviour>,
    handler: Option<Arc<dyn InboundHandler>>,
    commands: mpsc::Receiver<Command>,
    answers: (
        mpsc::UnboundedSender<Answer>,
        mpsc::UnboundedReceiver<Answer>,
    ),
    pending_store: HashMap<OutboundRequestId, Reply<StoreResponse>>,
    pending_sample: HashMap<OutboundRequestId, Reply<SampleResponse>>,
    pending_header: HashMap<OutboundRequestId, Reply<HeaderResponse>>,
}

fn failure(peer: PeerId, e: request_response::OutboundFailure) -> NetError {
    match e {
        request_response::OutboundFailure::Timeout => NetError::Timeout(peer.to_string()),
        other => NetError::Request {
            peer: peer.to_string(),
            reason: other.to_string(),
        },
    }
}

/// Routes one request-response event: responses and failures to their waiting caller,
/// requests to the handler.
macro_rules! route {
    ($self:ident, $ev:expr, $pending:ident, $method:ident, $answer:ident) => {
        match $ev {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Request {
                    request, channel, ..
                } => {
                    if let Some(h) = $self.handler.clone() {
                        let out = $self.answers.0.clone();
                        tokio::spawn(async move {
                            let resp = h.$method(peer, request).await;
                            let _ = out.send(Answer::$answer(channel, resp));
                        });
                    }
                }
                request_response::Message::Response {
                    request_id,
                    response,
                } => {
                    if let Some(tx) = $self.$pending.remove(&request_id) {
                        let _ = tx.send(Ok(response));
                    }
                }
            },
            request_response::Event::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            } => {
                if let Some(tx) = $self.$pending.remove(&request_id) {
                    let _ = tx.send(Err(failure(peer, error)));
                }
            }
            request_response::Event::InboundFailure { peer, error, .. } => {
                tracing::debug!(target: "zg_da::net", %peer, %error, "inbound request failed");
            }
            request_response::Event::ResponseSent { .. } => {}
        }
    };
}

impl Worker {
    async fn run(mut self, cancel: CancellationToken) {
        loop {
            tokio::select! {
                _ = cancel.cancelled() => break,
                cmd = self.commands.recv() => match cmd {
                    Some(cmd) => self.command(cmd),
                    None => break,
                },
                Some(answer) = self.answers.1.recv() => self.answer(answer),
                ev = self.swarm.select_next_some() => self.event(ev),
            }
        }
        tracing::debug!(target: "zg_da::net", "libp2p worker stopped");
    }

    fn command(&mut self, cmd: Command) {
        let b = self.swarm.behaviour_mut();
        match cmd {
            Command::Store(peer, addrs, req, reply) => {
                let id = b.store.send_request_with_addresses(&peer, req, addrs);
                self.pending_store.insert(id, reply);
            }
            Command::Sample(peer, addrs, req, reply) => {
                let id = b.sample.send_request_with_addresses(&peer, req, addrs);
                self.pending_sample.insert(id, reply);
            }
            Command::Header(peer, addrs, req, reply) => {
                let id = b.header.send_request_with_addresses(&peer, req, addrs);
                self.pending_header.insert(id, reply);
            }
        }
    }

    fn answer(&mut self, answer: Answer) {
        let b = self.swarm.behaviour_mut();
        let sent = match answer {
            Answer::Store(ch, r) => b.store.send_response(ch, Frame::Msg(r)).is_ok(),
            Answer::Sample(ch, r) => b.sample.send_response(ch, Frame::Msg(r)).is_ok(),
            Answer::Header(ch, r) => b.header.send_response(ch, Frame::Msg(r)).is_ok(),
        };
        if !sent {
            tracing::debug!(target: "zg_da::net", "response dropped: requester gone");
        }
    }

    fn event(&mut self, ev: SwarmEvent<BehaviourEvent>) {
        match ev {
            SwarmEvent::Behaviour(BehaviourEvent::Store(e)) => {
                route!(self, e, pending_store, store, Store)
            }
            SwarmEvent::Behaviour(BehaviourEvent::Sample(e)) => {
                route!(self, e, pending_sample, sample, Sample)
            }
            SwarmEvent::Behaviour(BehaviourEvent::Header(e)) => {
                route!(self, e, pending_header, header, Header)
            }
            SwarmEvent::Behaviour(BehaviourEvent::Identify(identify::Event::Received {
                peer_id,
                info,
                ..
            })) => {
                for addr in info.listen_addrs {
                    self.swarm.behaviour_mut().kad.add_address(&peer_id, addr);
                }
            }
            SwarmEvent::NewListenAddr { address, .. } => {
                tracing::debug!(target: "zg_da::net", %address, "listening");
            }
            SwarmEvent::OutgoingConnectionError { peer_id, error, .. } => {
                tracing::debug!(target: "zg_da::net", ?peer_id, %error, "dial failed");
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(len: usize) -> Vec<u8> {
        let mut out = Vec::new();
        ciborium::into_writer(&vec![7u8; len], &mut out).unwrap();
        out
    }

    /// A gate with a fixed answer (the node's prelude checks stand-in).
    struct Gate(Result<u64, StoreRefusal>);

    impl InboundHandler for Gate {
        fn admit_store(
            self: Arc<Self>,
            _: StorePrelude,
        ) -> BoxFuture<'static, Result<u64, StoreRefusal>> {
            Box::pin(async move { self.0.clone() })
        }
        fn store(
            self: Arc<Self>,
            _: PeerId,
            _: Frame<StoreRequest>,
        ) -> BoxFuture<'static, StoreResponse> {
            unreachable!()
        }
        fn sample(
            self: Arc<Self>,
            _: PeerId,
            _: Frame<SampleRequest>,
        ) -> BoxFuture<'static, SampleResponse> {
            unreachable!()
        }
        fn header(
            self: Arc<Self>,
            _: PeerId,
            _: Frame<HeaderRequest>,
        ) -> BoxFuture<'static, HeaderResponse> {
            unreachable!()
        }
    }

    fn store_request(cells: usize) -> StoreRequest {
        StoreRequest {
            chain_id: 1,
            epoch: 2,
            quorum_id: 0,
            data_root: alloy_primitives::B256::repeat_byte(3),
            header: zg_primitives::BlobHeader {
                version: 0,
                payload_len: 1,
                blob_count: 1,
                commitments: Vec::new(),
            },
            columns: vec![Column {
                index: 5,
                cells: (0..cells)
                    .map(|_| zg_primitives::Cell(Box::new([7u8; 2048])))
                    .collect(),
                proofs: Vec::new(),
            }],
            disperser_signature: vec![1; 65],
            traceparent: None,
        }
    }

    fn codec(gate: Result<u64, StoreRefusal>, budget_kib: usize) -> StoreCodec {
        StoreCodec {
            inner: CborCodec::new(
                64 << 20,
                64 << 20,
                Some(Arc::new(Semaphore::new(budget_kib))),
            ),
            gate: Some(Arc::new(Gate(gate))),
        }
    }

    #[tokio::test]
    async fn store_requests_are_admitted_from_their_prelude() {
        let req = store_request(3);
        let wire = encode_store_request(req.clone()).unwrap();
        // Admitted: the request comes back whole.
        let got = codec(Ok(1 << 20), 1024)
            .read_store(&mut futures::io::Cursor::new(wire.clone()))
            .await
            .unwrap();
        assert!(matches!(got, Frame::Msg(r) if r == req));
        // Admitted for fewer column bytes than sent: refused as oversized.
        assert!(
            codec(Ok(1024), 1024)
                .read_store(&mut futures::io::Cursor::new(wire))
                .await
                .is_err()
        );
    }

    /// A refused request's 10 MiB of columns are skipped, never buffered: the inbound
    /// budget (128 KiB here) could not hold them, yet the refusal comes back at once.
    #[tokio::test]
    async fn a_refused_store_request_is_not_buffered() {
        let wire = encode_store_request(store_request(5_000)).unwrap();
        assert!(wire.len() > 10_000_000);
        let refusal = StoreRefusal::BadSignature("forged".into());
        let c = codec(Err(refusal.clone()), 128);
        let mut io = futures::io::Cursor::new(wire);
        let got = tokio::time::timeout(Duration::from_secs(5), c.read_store(&mut io))
            .await
            .expect("no wait for budget")
            .unwrap();
        assert!(matches!(got, Frame::Refused(r) if r == refusal));
        assert_eq!(
            io.position() as usize,
            io.get_ref().len(),
            "the columns were skipped"
        );
        assert_eq!(c.inner.inbound.as_ref().unwrap().available_permits(), 128);
        // A prelude that claims more than the cap is refused without reading further.
        let mut huge = (MAX_STORE_PRELUDE_BYTES + 1).to_be_bytes().to_vec();
        huge.extend_from_slice(&[0; 16]);
        let got = c
            .read_store(&mut futures::io::Cursor::new(huge))
            .await
            .unwrap();
        assert!(matches!(got, Frame::Invalid(_)));
    }

    /// Reading waits for room in the shared budget, and gives it all back once read.
    #[tokio::test]
    async fn inbound_reads_hold_the_shared_budget() {
        let budget = Arc::new(Semaphore::new(256));
        let bytes = message(200 * 1024);
        // Someone else holds most of the budget: the read cannot take its chunks.
        let others = budget.clone().acquire_many_owned(200).await.unwrap();
        let mut io = futures::io::Cursor::new(bytes.clone());
        let read = read_frame::<Vec<u8>, _>(&mut io, 1 << 20, Some(&budget));
        tokio::pin!(read);
        assert!(
            tokio::time::timeout(Duration::from_millis(100), &mut read)
                .await
                .is_err(),
            "a read must wait for budget"
        );
        drop(others);
        match read.await.unwrap() {
            Frame::Msg(b) => assert_eq!(b.len(), 200 * 1024),
            other => panic!("{other:?}"),
        }
        assert_eq!(budget.available_permits(), 256, "the budget is given back");
        // Over the size limit: refused, budget given back.
        let mut io = futures::io::Cursor::new(bytes);
        assert!(
            read_frame::<Vec<u8>, _>(&mut io, 1024, Some(&budget))
                .await
                .is_err()
        );
        assert_eq!(budget.available_permits(), 256);
    }
}
