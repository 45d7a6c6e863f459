//! Byzantine DA nodes: a wrapper around an honest node's request handler that
//! misbehaves on the wire, so fault tests need no switch inside the node itself.

use std::sync::Arc;

use futures::future::BoxFuture;
use libp2p::PeerId;
use zg_da_client::net::{Frame, InboundHandler};
use zg_da_server::node::HandlerLayer;
use zg_da_server::{NodeKeys, NodeService};
use zg_primitives::{
    B256, Column, HeaderRequest, HeaderResponse, SampleRefusal, SampleRequest, SampleResponse,
    StoreRequest, StoreResponse,
};

/// Misbehaviour a test can switch on in a node.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Faults {
    /// Serve cells with flipped bytes.
    pub corrupt_cells: bool,
    /// Answer store requests with a signature over the wrong message.
    pub garbage_signature: bool,
    /// Sign without keeping the columns, and answer samples with empty columns.
    pub forget_columns: bool,
}

impl Faults {
    /// Whether any misbehaviour is on.
    pub fn any(&self) -> bool {
        self.corrupt_cells || self.garbage_signature || self.forget_columns
    }

    /// The handler layer that makes a node with `keys` misbehave so (none if honest).
    pub fn layer(&self, keys: &NodeKeys) -> Option<HandlerLayer> {
        if !self.any() {
            return None;
        }
        let faults = self.clone();
        let keys = keys.clone();
        Some(Arc::new(move |inner: Arc<NodeService>| {
            Arc::new(Byzantine {
                inner,
                faults: faults.clone(),
                keys: keys.clone(),
            }) as Arc<dyn InboundHandler>
        }))
    }
}

/// An honest node's handler, wrapped.
struct Byzantine {
    inner: Arc<NodeService>,
    faults: Faults,
    keys: NodeKeys,
}

impl InboundHandler for Byzantine {
    fn admit_store(
        self: Arc<Self>,
        prelude: zg_primitives::StorePrelude,
    ) -> BoxFuture<'static, Result<u64, zg_primitives::StoreRefusal>> {
        InboundHandler::admit_store(self.inner.clone(), prelude)
    }

    fn store(
        self: Arc<Self>,
        peer: PeerId,
        req: Frame<StoreRequest>,
    ) -> BoxFuture<'static, StoreResponse> {
        Box::pin(async move {
            let root = match &req {
                Frame::Msg(r) => Some(r.data_root),
                _ => None,
            };
            let resp = InboundHandler::store(self.inner.clone(), peer, req).await;
            match resp {
                StoreResponse::Signed { signature } => {
                    if self.faults.forget_columns
                        && let Some(root) = root
                    {
                        let store = NodeService::store(&self.inner).clone();
                        let _ =
                            tokio::task::spawn_blocking(move || store.drop_columns(&root)).await;
                    }
                    let signature = if self.faults.garbage_signature {
                        self.keys.bls.sign(&B256::repeat_byte(0x66))
                    } else {
                        signature
                    };
                    StoreResponse::Signed { signature }
                }
                refused => refused,
            }
        })
    }

    fn sample(
        self: Arc<Self>,
        peer: PeerId,
        req: Frame<SampleRequest>,
    ) -> BoxFuture<'static, SampleResponse> {
        Box::pin(async move {
            let asked = match &req {
                Frame::Msg(r) => Some((r.data_root, r.columns.clone())),
                _ => None,
            };
            let resp = InboundHandler::sample(self.inner.clone(), peer, req).await;
            match (resp, asked) {
                // Claims the columns it threw away, holds nothing.
                (SampleResponse::Refused(SampleRefusal::NotHeld(_)), Some((_, columns)))
                    if self.faults.forget_columns =>
                {
                    SampleResponse::Columns(
                        columns
                            .into_iter()
                            .map(|index| Column {
                                index,
                                cells: Vec::new(),
                                proofs: Vec::new(),
                            })
                            .collect(),
                    )
                }
                (SampleResponse::Columns(mut cols), _) if self.faults.corrupt_cells => {
                    for c in &mut cols {
                        for cell in &mut c.cells {
                            cell.as_bytes_mut()[100] ^= 0x01;
                        }
                    }
                    SampleResponse::Columns(cols)
                }
                (resp, _) => resp,
            }
        })
    }

    fn header(
        self: Arc<Self>,
        peer: PeerId,
        req: Frame<HeaderRequest>,
    ) -> BoxFuture<'static, HeaderResponse> {
        InboundHandler::header(self.inner.clone(), peer, req)
    }
}
