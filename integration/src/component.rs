//! One devnet component as its own OS process: `zg-devnet component <kind> …` runs the
//! chain, one DA node, the disperser, the storage node, the archiver or an op-plugin from the same [`Plan`] as the
//! in-process devnet, prints one line `component ready {json}` with its endpoints once it
//! serves, and stops cleanly on SIGINT/SIGTERM. The fault tests kill these with SIGKILL.

use std::net::SocketAddr;
use std::path::PathBuf;

use tokio::net::TcpListener;
use zg_da_server::node::HandlerLayer;
use zg_node_kit::runtime::shutdown_signal;

use crate::devnet::{DevnetError, Plan, start_err, stop_err};

/// What to run.
#[derive(Clone, Debug)]
pub enum Component {
    /// The chain (validator `index` with `--validators`), JSON-RPC on `addr`.
    Chain {
        /// Which validator (0 without validators).
        index: usize,
    },
    /// DA node `index`, libp2p on TCP `p2p_port`, HTTP on `addr`.
    Node {
        /// Which node (its account and directory).
        index: usize,
        /// Fixed libp2p port, so a restarted node is found at its published socket.
        p2p_port: u16,
    },
    /// The disperser, API on `addr`.
    Disperser,
    /// The storage node (state in `storage/`), JSON-RPC on `addr`.
    Storage,
    /// The compute broker (state in `compute/`) on `addr`, in front of `upstream` (none:
    /// the echo server, in this process).
    Compute {
        /// OpenAI-compatible upstream (`…/v1`).
        upstream: Option<String>,
    },
    /// An op-plugin keeping its state in `datadir`, in front of the disperser at `url`.
    Plugin {
        /// Its state directory.
        datadir: PathBuf,
        /// The disperser's base URL.
        disperser: String,
        /// Archives its reads fall back to.
        archives: Vec<String>,
    },
    /// The archiver (index in `archiver/`) uploading to the storage node at `storage`,
    /// API on `addr`.
    Archiver {
        /// The storage node's JSON-RPC URL.
        storage: String,
    },
}

fn ready(what: serde_json::Value) {
    println!("component ready {what}");
}

/// Runs `component` until SIGINT/SIGTERM.
pub async fn run_component(
    plan: Plan,
    component: Component,
    rpc: Option<String>,
    addr: SocketAddr,
) -> Result<(), DevnetError> {
    run_component_with(plan, component, rpc, addr, None).await
}

/// [`run_component`], a DA node's request handler wrapped by `layer` (a fault test's
/// misbehaving node; ignored by the other components).
pub async fn run_component_with(
    plan: Plan,
    component: Component,
    rpc: Option<String>,
    addr: SocketAddr,
    layer: Option<HandlerLayer>,
) -> Result<(), DevnetError> {
    let need_rpc = || {
        rpc.clone()
            .ok_or_else(|| DevnetError::Config("--rpc is required".into()))
    };
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| start_err("listener")(format!("binding {addr}: {e}")))?;
    match component {
        Component::Chain { index } => {
            std::thread::spawn(|| {
                zg_primitives::Kzg::init_mainnet(zg_primitives::Precompute::None)
            });
            let chain = plan.start_validator(index, listener).await?;
            ready(serde_json::json!({ "rpc": chain.rpc_url() }));
            tokio::select! {
                _ = shutdown_signal() => {}
                _ = chain.cancelled() => {}
            }
            chain
                .shutdown()
                .await
                .map_err(|e| stop_err("chain")(e.to_string()))
        }
        Component::Node { index, p2p_port } => {
            let rpc = need_rpc()?;
            let nc = plan.node_config(index, &rpc, p2p_port);
            let node = plan.start_node_with(nc, index, listener, layer).await?;
            ready(serde_json::json!({
                "address": node.service.address(),
                "socket": node.socket,
                "http": format!("http://{}", node.http_addr),
            }));
            tokio::select! {
                _ = shutdown_signal() => {}
                _ = node.cancelled() => {}
            }
            node.shutdown()
                .await
                .map_err(|e| stop_err("node")(e.to_string()))
        }
        Component::Disperser => {
            let rpc = need_rpc()?;
            let d = plan.start_disperser(&rpc, listener).await?;
            ready(serde_json::json!({ "http": format!("http://{}", d.http_addr) }));
            shutdown_signal().await;
            d.shutdown()
                .await
                .map_err(|e| stop_err("disperser")(e.to_string()))
        }
        Component::Storage => {
            let rpc = need_rpc()?;
            let addr = listener
                .local_addr()
                .map_err(|e| start_err("storage")(e.to_string()))?;
            drop(listener);
            let node = plan.start_storage(&rpc, addr).await?;
            ready(serde_json::json!({ "rpc": node.rpc_url() }));
            shutdown_signal().await;
            node.shutdown()
                .await
                .map_err(|e| stop_err("storage")(e.to_string()))
        }
        Component::Compute { upstream } => {
            let rpc = need_rpc()?;
            let addr = listener
                .local_addr()
                .map_err(|e| start_err("compute")(e.to_string()))?;
            drop(listener);
            let cancel = tokio_util::sync::CancellationToken::new();
            let upstream = match upstream {
                Some(u) => u,
                None => {
                    zg_compute::upstream::spawn_echo(cancel.clone())
                        .await
                        .map_err(|e| start_err("compute upstream")(e.to_string()))?
                        .0
                }
            };
            let broker = plan.start_compute(&rpc, addr, upstream).await?;
            ready(serde_json::json!({
                "http": broker.url(),
                "provider": broker.provider(),
            }));
            shutdown_signal().await;
            broker.shutdown().await;
            cancel.cancel();
            Ok(())
        }
        Component::Archiver { storage } => {
            let rpc = need_rpc()?;
            let a = plan.start_archiver(&rpc, storage, listener).await?;
            ready(serde_json::json!({ "http": a.url(), "account": a.archiver.account() }));
            tokio::select! {
                _ = shutdown_signal() => {}
                _ = a.failed() => {}
            }
            a.shutdown()
                .await
                .map_err(|e| stop_err("archiver")(e.to_string()))
        }
        Component::Plugin {
            datadir,
            disperser,
            archives,
        } => {
            let rpc = need_rpc()?;
            let p = plan
                .start_plugin(datadir, disperser, &rpc, archives, listener)
                .await?;
            ready(serde_json::json!({ "http": p.url() }));
            shutdown_signal().await;
            p.shutdown()
                .await
                .map_err(|e| stop_err("op-plugin")(e.to_string()))
        }
    }
}
