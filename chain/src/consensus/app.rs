//! The application consensus drives: proposals are blocks built on the head from the
//! pool, a peer's proposal gets a vote only if re-executing it reproduces its header
//! (state root, receipts root, bloom, gas), and finalized blocks are committed in order.

use std::future::Future;
use std::time::Duration;

use commonware_actor::Feedback;
use commonware_consensus::marshal::Update;
use commonware_consensus::marshal::ancestry::Ancestry;
use commonware_consensus::simplex::types::Context;
use commonware_consensus::{Application, Heightable, Reporter};
use commonware_cryptography::Digested;
use commonware_runtime::{Clock, Metrics, Spawner};
use futures::future::{Either, select};
use tokio::sync::mpsc;

use super::block::{Digest, ZgBlock, hash_of};
use super::keys::{Identity, Scheme};
use crate::{ChainError, Node};

/// How long a proposal or verification waits between looks at the head.
const HEAD_POLL: Duration = Duration::from_millis(200);

/// Rewrites a validator's own proposals before they are broadcast: how the fault tests
/// make a Byzantine proposer (like the DA nodes' handler layers).
#[derive(Clone)]
pub struct ProposalLayer(pub std::sync::Arc<dyn Fn(ZgBlock) -> ZgBlock + Send + Sync>);

impl std::fmt::Debug for ProposalLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ProposalLayer")
    }
}

/// The consensus application over a [`Node`].
#[derive(Clone)]
pub struct ChainApp {
    node: Node,
    /// Least time between a block's commit and the proposal of its child.
    block_time: Duration,
    layer: Option<ProposalLayer>,
    /// Charge the wall-clock time of execution to the runtime's clock (simulations, where
    /// work otherwise takes no simulated time).
    charge_cpu: bool,
}

impl ChainApp {
    /// An application over `node`, pacing proposals at `block_time`.
    pub fn new(node: Node, block_time: Duration, layer: Option<ProposalLayer>) -> Self {
        Self {
            node,
            block_time,
            layer,
            charge_cpu: false,
        }
    }

    /// Makes execution (building and re-executing proposals) take, on the runtime's
    /// clock, the wall-clock time it took: how a simulation on a deterministic runtime
    /// accounts for the work of each validator.
    #[must_use]
    pub fn charging_cpu(mut self) -> Self {
        self.charge_cpu = true;
        self
    }

    /// Runs `f` off the consensus tasks, charged to the clock when simulating.
    async fn execute<E, T, F>(
        &self,
        context: &E,
        label: &'static str,
        f: F,
    ) -> Result<T, ChainError>
    where
        E: Spawner + Metrics + Clock,
        T: Send + 'static,
        F: FnOnce() -> Result<T, ChainError> + Send + 'static,
    {
        let started = std::time::Instant::now();
        let out = blocking(context, label, f).await;
        if self.charge_cpu {
            context.sleep(started.elapsed()).await;
        }
        out
    }

    /// Waits until the head is `parent` (`true`), or until it is clear it never will be
    /// (`false`: the head is at or past `parent_height` on another block).
    async fn head_reaches<E: Clock>(
        &self,
        context: &E,
        parent: alloy_primitives::B256,
        parent_height: u64,
    ) -> bool {
        let mut heads = self.node.subscribe_head();
        loop {
            let head = self.node.head();
            if head.hash == parent {
                return true;
            }
            if head.header.number >= parent_height {
                return false;
            }
            let changed = Box::pin(heads.changed());
            let timeout = Box::pin(context.sleep(HEAD_POLL));
            if let Either::Left((Err(_), _)) = select(changed, timeout).await {
                return false;
            }
        }
    }
}

/// Runs blocking work (execution, commits) off the consensus tasks.
async fn blocking<E, T, F>(context: &E, label: &'static str, f: F) -> Result<T, ChainError>
where
    E: Spawner + Metrics,
    T: Send + 'static,
    F: FnOnce() -> Result<T, ChainError> + Send + 'static,
{
    context
        .child(label)
        .shared(true)
        .spawn(move |_| async move { f() })
        .await
        .map_err(|e| ChainError::Storage(format!("{label} task: {e}")))?
}

impl<E> Application<E> for ChainApp
where
    E: Spawner + Metrics + Clock,
{
    type SigningScheme = Scheme;
    type Context = Context<Digest, Identity>;
    type Block = ZgBlock;
    type Input = ();

    fn propose(
        &mut self,
        (context, consensus): (E, Self::Context),
        ancestry: impl Ancestry<Self::Block>,
        _input: (),
    ) -> impl Future<Output = Option<Digested<Self::Block>>> + Send {
        let this = self.clone();
        async move {
            let parent = hash_of(&consensus.parent.1);
            let parent_height = ancestry.peek()?.height().get();
            if !this.head_reaches(&context, parent, parent_height).await {
                return None;
            }
            let age = this.node.head_age();
            if age < this.block_time {
                context.sleep(this.block_time - age).await;
            }
            let node = this.node.clone();
            match this
                .execute(&context, "propose", move || node.propose_block(parent))
                .await
            {
                Ok(Some(block)) => {
                    let block = match &this.layer {
                        Some(layer) => (layer.0)(block),
                        None => block,
                    };
                    let digest = super::block::digest_of(block.hash());
                    tracing::debug!(target: "zg_chain::consensus", number = block.header.number, txs = block.txs.len(), view = %consensus.round.view(), "proposing");
                    Some(Digested::precomputed(block, digest))
                }
                Ok(None) => None,
                Err(e) => {
                    tracing::error!(target: "zg_chain::consensus", error = %e, "building a proposal failed");
                    None
                }
            }
        }
    }

    fn verify(
        &mut self,
        (context, _consensus): (E, Self::Context),
        ancestry: impl Ancestry<Self::Block>,
    ) -> impl Future<Output = bool> + Send {
        let this = self.clone();
        async move {
            let Some(block) = ancestry.peek().cloned() else {
                return false;
            };
            let number = block.inner().header.number;
            let parent = block.inner().header.parent_hash;
            if number == 0 || !this.head_reaches(&context, parent, number - 1).await {
                tracing::info!(target: "zg_chain::consensus", number, "not voting: the proposal does not extend the finalized chain");
                return false;
            }
            let node = this.node.clone();
            let inner = block.inner_shared();
            match this
                .execute(&context, "verify", move || node.verify_block(&inner))
                .await
            {
                Ok(Some(Ok(()))) => true,
                Ok(Some(Err(why))) => {
                    tracing::warn!(target: "zg_chain::consensus", number, %why, "not voting for an invalid proposal");
                    false
                }
                // The head moved off the parent meanwhile: the parent is not final.
                Ok(None) => false,
                Err(e) => {
                    // A local failure says nothing about the block: abstain (never
                    // resolve) rather than vote against it.
                    tracing::error!(target: "zg_chain::consensus", number, error = %e, "verifying a proposal failed");
                    futures::future::pending::<bool>().await
                }
            }
        }
    }
}

/// Receives finalized blocks from marshal, in height order, for the committer.
#[derive(Clone)]
pub struct Finalized {
    tx: mpsc::UnboundedSender<Update<ZgBlock>>,
}

impl Finalized {
    /// A reporter and the receiver the committer reads.
    pub fn channel() -> (Self, mpsc::UnboundedReceiver<Update<ZgBlock>>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Self { tx }, rx)
    }
}

impl Reporter for Finalized {
    type Activity = Update<ZgBlock>;

    fn report(&mut self, activity: Self::Activity) -> Feedback {
        // Marshal holds at most `max_pending_acks` blocks unacknowledged, which bounds
        // this queue.
        match self.tx.send(activity) {
            Ok(()) => Feedback::Ok,
            Err(_) => Feedback::Closed,
        }
    }
}
