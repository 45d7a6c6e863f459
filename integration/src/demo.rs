//! The demo: what op-batcher and op-node do against the op-plugin, with timings.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use alloy::transports::http::reqwest;
use alloy_primitives::keccak256;
use zg_op_plugin::{Frame, encode_frames};
use zg_primitives::AltDaCommitment;

/// What the demo did and measured.
#[derive(Clone, Debug)]
pub struct DemoReport {
    /// The generic commitment op-batcher would post to L1 (after its 0x01 version byte).
    pub commitment: AltDaCommitment,
    /// Bytes of the batch.
    pub batch_bytes: usize,
    /// Generic put (disperse, sign, anchor).
    pub put: Duration,
    /// Generic get.
    pub get: Duration,
    /// Retrieval from the DA nodes (no cache).
    pub cold_get: Duration,
    /// Keccak-mode put.
    pub keccak_put: Duration,
    /// Keccak-mode get.
    pub keccak_get: Duration,
}

/// Why the demo failed.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// HTTP failure.
    #[error("{step}: {reason}")]
    Step {
        /// Which step.
        step: &'static str,
        /// Why.
        reason: String,
    },
}

/// A 120 KB batch as op-batcher sends it: derivation version 0 and one frame.
pub fn batcher_body(len: usize) -> Vec<u8> {
    let mut x = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1)
        | 1;
    let data: Vec<u8> = (0..len.saturating_sub(24))
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let mut channel_id = [0u8; 16];
    channel_id.copy_from_slice(&keccak256(&data)[..16]);
    encode_frames(&[Frame {
        channel_id,
        number: 0,
        data: &data,
        is_last: true,
    }])
}

async fn call(
    step: &'static str,
    req: reqwest::RequestBuilder,
) -> Result<(Vec<u8>, Duration), DemoError> {
    let err = |reason: String| DemoError::Step { step, reason };
    let t = Instant::now();
    let resp = req.send().await.map_err(|e| err(e.to_string()))?;
    let status = resp.status();
    let body = resp.bytes().await.map_err(|e| err(e.to_string()))?.to_vec();
    if status != 200 {
        return Err(err(format!(
            "HTTP {status}: {}",
            String::from_utf8_lossy(&body)
        )));
    }
    Ok((body, t.elapsed()))
}

/// Puts a batch through the op-plugin at `url` in generic and keccak mode and gets it
/// back, checking the bytes; reads it cold from the DA nodes through the disperser at
/// `disperser`; `progress` receives one line per step.
pub async fn run_demo(
    url: &str,
    disperser: &str,
    mut progress: impl FnMut(&str),
) -> Result<DemoReport, DemoError> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(300))
        .build()
        .map_err(|e| DemoError::Step {
            step: "client",
            reason: e.to_string(),
        })?;
    let body = batcher_body(120_000);
    progress(&format!(
        "[1/5] op-batcher: POST {url}/put ({} bytes, generic commitment) …",
        body.len()
    ));
    let (raw, put) = call(
        "generic put",
        http.post(format!("{url}/put"))
            .header("Content-Type", "application/octet-stream")
            .body(body.clone()),
    )
    .await?;
    let commitment = AltDaCommitment::from_bytes(&raw).map_err(|e| DemoError::Step {
        step: "generic put",
        reason: format!("answer is not a commitment: {e}"),
    })?;
    progress(&format!(
        "      certified in {:.2} s: {}",
        put.as_secs_f64(),
        commitment.to_hex()
    ));
    progress("[2/5] op-node: GET /get/0x… …");
    let (got, get) = call(
        "generic get",
        http.get(format!("{url}/get/{}", commitment.to_hex())),
    )
    .await?;
    if got != body {
        return Err(DemoError::Step {
            step: "generic get",
            reason: "the bytes differ from the batch put".into(),
        });
    }
    progress(&format!(
        "      {} bytes back, byte-identical, in {:.0} ms (the plugin's cache)",
        got.len(),
        get.as_secs_f64() * 1e3
    ));
    let AltDaCommitment::Generic(cert) = commitment else {
        return Err(DemoError::Step {
            step: "generic put",
            reason: "a keccak commitment came back".into(),
        });
    };
    progress("[3/5] cold read: 64 columns from the DA nodes over libp2p, every cell verified …");
    let (cold, cold_get) = call(
        "cold read",
        http.get(format!(
            "{disperser}/v1/blobs/{}/data?epoch={}&quorum_id={}",
            cert.data_root, cert.epoch, cert.quorum_id
        )),
    )
    .await?;
    if cold != body {
        return Err(DemoError::Step {
            step: "cold read",
            reason: "the bytes differ from the batch put".into(),
        });
    }
    progress(&format!(
        "      byte-identical, in {:.0} ms",
        cold_get.as_secs_f64() * 1e3
    ));
    let kbody = batcher_body(60_000);
    let kc = AltDaCommitment::Keccak(keccak256(&kbody));
    progress(&format!(
        "[4/5] op-batcher (keccak mode): POST /put/{} …",
        kc.to_hex()
    ));
    let (_, keccak_put) = call(
        "keccak put",
        http.post(format!("{url}/put/{}", kc.to_hex()))
            .header("Content-Type", "application/octet-stream")
            .body(kbody.clone()),
    )
    .await?;
    progress("[5/5] op-node (keccak mode): GET /get/0x00… …");
    let (kgot, keccak_get) =
        call("keccak get", http.get(format!("{url}/get/{}", kc.to_hex()))).await?;
    if kgot != kbody {
        return Err(DemoError::Step {
            step: "keccak get",
            reason: "the bytes differ from the batch put".into(),
        });
    }
    Ok(DemoReport {
        commitment,
        batch_bytes: body.len(),
        put,
        get,
        cold_get,
        keccak_put,
        keccak_get,
    })
}
