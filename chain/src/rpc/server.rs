//! The node's JSON-RPC server: [`EthApi`] served by `zg_node_kit::jsonrpc` (single and
//! batch requests, standard error codes, a body limit, `GET /health` and `GET /metrics`).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use serde_json::Value;
use tokio::net::TcpListener;
use zg_node_kit::jsonrpc::{self, RpcLimits, RpcService};
use zg_node_kit::pubsub::{PubSubService, WsLimits};

use super::{EthApi, RpcError};

impl RpcService for EthApi {
    fn call(
        &self,
        method: &str,
        params: Vec<Value>,
    ) -> impl Future<Output = Result<Value, RpcError>> + Send {
        EthApi::call(self, method, params)
    }

    fn observe(&self, method: &str, ok: bool, took: Duration) {
        self.metrics()
            .observe_rpc(method, super::is_known_method(method), ok, took);
    }

    fn health(&self) -> Result<Value, RpcError> {
        EthApi::health(self)
    }

    fn metrics(&self) -> String {
        EthApi::metrics(self).encode()
    }
}

impl PubSubService for EthApi {
    fn subscribe(
        &self,
        params: Vec<Value>,
        sink: tokio::sync::mpsc::Sender<Value>,
    ) -> Result<(), RpcError> {
        EthApi::subscribe(self, params, sink)
    }
}

/// The router: `POST /` JSON-RPC, `GET /health`, `GET /metrics`.
pub fn router(api: Arc<EthApi>, limits: &RpcLimits) -> Router {
    jsonrpc::router(api, limits)
}

/// Serves until `shutdown` resolves, behind the node kit's HTTP guard: HTTP JSON-RPC and,
/// on the same address, WebSocket JSON-RPC with `eth_subscribe`.
pub async fn serve(
    listener: TcpListener,
    api: Arc<EthApi>,
    limits: RpcLimits,
    ws: WsLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    zg_node_kit::pubsub::serve(listener, api, &limits, ws, shutdown).await
}
