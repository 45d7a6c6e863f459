//! The demo: what op-batcher and op-node do against the op-plugin, with timings.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use alloy::transports::http::reqwest;
use alloy_primitives::keccak256;
use zg_op_plugin::single_frame;
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
    /// The light client's confidence that the payload is available.
    pub confidence: f64,
    /// From the put's answer to the light client's verdict.
    pub to_confidence: Duration,
    /// Keccak-mode put.
    pub keccak_put: Duration,
    /// Keccak-mode get.
    pub keccak_get: Duration,
    /// Root of the file put through the storage node.
    pub storage_root: alloy_primitives::B256,
    /// Storage upload (submit, segments with proofs, finalized).
    pub storage_put: Duration,
    /// Storage download, every segment proven.
    pub storage_get: Duration,
    /// From the put's answer until the archive served the batch byte-identical (when
    /// the devnet runs the archiver).
    pub archived: Option<Duration>,
    /// The compute provider's answer to the demo's chat request.
    pub compute_reply: String,
    /// What the request cost (wei), metered from the upstream's usage.
    pub compute_fee: alloy_primitives::U256,
    /// The chat request through the broker.
    pub compute_call: Duration,
    /// From the answer to the fee settled on chain.
    pub compute_settled: Duration,
}

/// Bytes of the file the demo stores.
pub const DEMO_FILE_BYTES: usize = 1 << 20;
/// Dev account that pays the demo's storage fee.
pub const DEMO_STORAGE_ACCOUNT: u32 = 8;
/// Dev account that pays for the demo's inference request.
pub const DEMO_COMPUTE_ACCOUNT: u32 = 6;

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
    single_frame(channel_id, &data, true)
}

/// A batch of `len` bytes that is the same for the same `i` and differs across `i`
/// (the benchmarks' puts): pseudo-random data in one last frame of channel `i`.
pub fn numbered_batch(i: u64, len: usize) -> Vec<u8> {
    let mut x = i.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let data: Vec<u8> = (0..len.saturating_sub(24))
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let mut channel_id = [0u8; 16];
    channel_id[..8].copy_from_slice(&i.to_be_bytes());
    single_frame(channel_id, &data, true)
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

/// The devnet's endpoints the demo talks to.
#[derive(Clone, Debug)]
pub struct DemoEndpoints {
    /// op-plugin base URL.
    pub plugin: String,
    /// Disperser API base URL.
    pub disperser: String,
    /// Light-client API base URL.
    pub sampler: String,
    /// Chain JSON-RPC URL.
    pub chain: String,
    /// Storage node JSON-RPC URL.
    pub storage: String,
    /// Compute broker base URL.
    pub compute: String,
    /// Archive API base URL (when the devnet runs the archiver).
    pub archiver: Option<String>,
}

/// Puts a batch through the op-plugin in generic and keccak mode and gets it back,
/// checking the bytes; reads it cold from the DA nodes through the disperser; waits for
/// the light client's verdict; `progress` receives one line per step.
pub async fn run_demo(
    endpoints: &DemoEndpoints,
    mut progress: impl FnMut(&str),
) -> Result<DemoReport, DemoError> {
    let url = endpoints.plugin.as_str();
    let disperser = endpoints.disperser.as_str();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(300))
        .build()
        .map_err(|e| DemoError::Step {
            step: "client",
            reason: e.to_string(),
        })?;
    let body = batcher_body(120_000);
    progress(&format!(
        "[1/9] op-batcher: POST {url}/put ({} bytes, generic commitment) …",
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
    let put_done = Instant::now();
    progress(&format!(
        "      certified in {:.2} s: {}",
        put.as_secs_f64(),
        commitment.to_hex()
    ));
    progress("[2/9] op-node: GET /get/0x… …");
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
    progress("[3/9] cold read: 64 columns from the DA nodes over libp2p, every cell verified …");
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
    progress("[4/9] light client: sampling random columns of the anchored payload …");
    let (availability, sampled) = wait_available(&http, &endpoints.sampler, &cert).await?;
    progress(&format!(
        "      {} at confidence {:.6} ({} columns verified), {:.2} s after the put returned",
        availability.0,
        availability.1,
        availability.2,
        sampled.as_secs_f64()
    ));
    if let Some((head, lies)) = light_client_verification(&http, &endpoints.sampler).await? {
        if lies > 0 {
            return Err(DemoError::Step {
                step: "sampling",
                reason: format!("the light client caught {lies} unverifiable answers"),
            });
        }
        progress(&format!(
            "      verified, not trusted: finalized header {head} by certificate, the anchor by storage proof, 0 lies"
        ));
    }
    let kbody = batcher_body(60_000);
    let kc = AltDaCommitment::Keccak(keccak256(&kbody));
    progress(&format!(
        "[5/9] op-batcher (keccak mode): POST /put/{} …",
        kc.to_hex()
    ));
    let (_, keccak_put) = call(
        "keccak put",
        http.post(format!("{url}/put/{}", kc.to_hex()))
            .header("Content-Type", "application/octet-stream")
            .body(kbody.clone()),
    )
    .await?;
    progress("[6/9] op-node (keccak mode): GET /get/0x00… …");
    let (kgot, keccak_get) =
        call("keccak get", http.get(format!("{url}/get/{}", kc.to_hex()))).await?;
    if kgot != kbody {
        return Err(DemoError::Step {
            step: "keccak get",
            reason: "the bytes differ from the batch put".into(),
        });
    }
    progress(&format!(
        "[7/9] storage: a {} KiB file through the flow module and the storage node …",
        DEMO_FILE_BYTES >> 10
    ));
    let (storage_root, storage_put, storage_get) = store_file(endpoints).await?;
    progress(
        "[8/9] compute: fund a provider sub-account, chat through the broker with a 0G \
         session token, wait for the fee's settlement …",
    );
    let (compute_reply, compute_fee, compute_call, compute_settled) =
        chat_and_settle(endpoints, &http).await?;
    let archived = match &endpoints.archiver {
        Some(a) => {
            progress("[9/9] archive: the batch in zg-storage, served by data_root …");
            wait_archived(&http, a, &cert.data_root, &body).await?;
            let took = put_done.elapsed();
            progress(&format!(
                "      archived and served byte-identical {:.2} s after the put returned",
                took.as_secs_f64()
            ));
            Some(took)
        }
        None => None,
    };
    Ok(DemoReport {
        archived,
        compute_reply,
        compute_fee,
        compute_call,
        compute_settled,
        storage_root,
        storage_put,
        storage_get,
        commitment,
        batch_bytes: body.len(),
        put,
        get,
        cold_get,
        confidence: availability.1,
        to_confidence: sampled,
        keccak_put,
        keccak_get,
    })
}

/// Waits (up to two minutes) until the archive serves `data_root` as `body`.
async fn wait_archived(
    http: &reqwest::Client,
    archiver: &str,
    data_root: &alloy_primitives::B256,
    body: &[u8],
) -> Result<(), DemoError> {
    let deadline = Instant::now() + Duration::from_secs(120);
    let url = format!("{archiver}/v1/payloads/{data_root}");
    loop {
        if let Ok(r) = http.get(&url).send().await
            && r.status().is_success()
        {
            let got = r.bytes().await.map_err(|e| DemoError::Step {
                step: "archive",
                reason: e.to_string(),
            })?;
            if got.as_ref() != body {
                return Err(DemoError::Step {
                    step: "archive",
                    reason: "the archive's bytes differ from the batch put".into(),
                });
            }
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(DemoError::Step {
                step: "archive",
                reason: format!("{url} did not serve the batch within 120 s"),
            });
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Uploads a file as 0G's SDK would and downloads it back, checking the bytes.
async fn store_file(
    endpoints: &DemoEndpoints,
) -> Result<(alloy_primitives::B256, Duration, Duration), DemoError> {
    let err = |reason: String| DemoError::Step {
        step: "storage",
        reason,
    };
    let signer = zg_chain::dev_account(DEMO_STORAGE_ACCOUNT);
    let node = zg_storage::NodeClient::new(&endpoints.storage).map_err(|e| err(e.to_string()))?;
    let up = zg_storage::Uploader::new(
        vec![node.clone()],
        &endpoints.chain,
        signer,
        zg_primitives::abi::FLOW_ADDRESS,
    )
    .map_err(|e| err(e.to_string()))?;
    let data = batcher_body(DEMO_FILE_BYTES);
    let t = Instant::now();
    let receipt = up
        .upload(&data, &zg_storage::UploadOptions::default())
        .await
        .map_err(|e| err(e.to_string()))?;
    let put = t.elapsed();
    let t = Instant::now();
    let back = zg_storage::Downloader::new(vec![node])
        .download(receipt.root)
        .await
        .map_err(|e| err(e.to_string()))?;
    if back != data {
        return Err(err("the downloaded file differs".into()));
    }
    Ok((receipt.root, put, t.elapsed()))
}

/// `user`'s sub-account with `provider` in the serving module.
pub async fn sub_account<P: alloy::providers::Provider>(
    chain: &P,
    user: alloy_primitives::Address,
    provider: alloy_primitives::Address,
) -> Result<zg_primitives::abi::IInferenceServing::Account, String> {
    use zg_primitives::abi::{IInferenceServing as S, SERVING_ADDRESS};
    zg_node_kit::tx::call(
        chain,
        SERVING_ADDRESS,
        &S::getAccountCall { user, provider },
    )
    .await
    .map_err(|e| e.to_string())
}

/// The 0G compute user flow: fund the ledger and the provider's sub-account, chat with
/// a session token, and wait until the broker's settlement pays the fee on chain.
async fn chat_and_settle(
    endpoints: &DemoEndpoints,
    http: &reqwest::Client,
) -> Result<(String, alloy_primitives::U256, Duration, Duration), DemoError> {
    use alloy::network::EthereumWallet;
    use alloy::providers::ProviderBuilder;
    use alloy_primitives::{Address, U256};
    use zg_node_kit::tx::send_call;
    use zg_primitives::abi::{ILedgerManager as L, INFERENCE_SERVICE_NAME, LEDGER_ADDRESS};
    let err = |reason: String| DemoError::Step {
        step: "compute",
        reason,
    };
    let key = zg_chain::dev_account(DEMO_COMPUTE_ACCOUNT);
    let user = key.address();
    let chain = ProviderBuilder::new()
        .wallet(EthereumWallet::from(key.clone()))
        .connect_http(endpoints.chain.parse().map_err(|e| err(format!("{e}")))?);
    let svc: serde_json::Value = http
        .get(format!("{}/v1/service", endpoints.compute))
        .send()
        .await
        .map_err(|e| err(e.to_string()))?
        .json()
        .await
        .map_err(|e| err(e.to_string()))?;
    let provider: Address = svc["provider"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| err(format!("no provider in {svc}")))?;
    let ether = U256::from(10u64).pow(U256::from(18));
    let timeout = Duration::from_secs(60);
    send_call(
        &chain,
        user,
        LEDGER_ADDRESS,
        &L::depositFundCall {},
        ether * U256::from(2),
        timeout,
    )
    .await
    .map_err(|e| err(e.to_string()))?;
    let transfer = L::transferFundCall {
        provider,
        serviceName: INFERENCE_SERVICE_NAME.into(),
        amount: ether,
    };
    send_call(&chain, user, LEDGER_ADDRESS, &transfer, U256::ZERO, timeout)
        .await
        .map_err(|e| err(e.to_string()))?;
    let before = sub_account(&chain, user, provider)
        .await
        .map_err(|e| err(format!("getAccount: {e}")))?;
    let api_key = zg_compute::SessionToken::ephemeral(
        user,
        provider,
        before.generation.saturating_to(),
        3_600_000,
    )
    .api_key(&key);
    let t = Instant::now();
    let resp = http
        .post(format!("{}/v1/proxy/chat/completions", endpoints.compute))
        .bearer_auth(api_key)
        .json(&serde_json::json!({
            "messages": [{"role": "user", "content": "hello from the zg-da devnet"}],
        }))
        .send()
        .await
        .map_err(|e| err(e.to_string()))?;
    let status = resp.status();
    let body: serde_json::Value = resp.json().await.map_err(|e| err(e.to_string()))?;
    if !status.is_success() {
        return Err(err(format!("chat answered {status}: {body}")));
    }
    let call = t.elapsed();
    let reply = body["choices"][0]["message"]["content"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let price = |k: &str| {
        svc[k]
            .as_str()
            .and_then(|s| s.parse::<U256>().ok())
            .unwrap_or_default()
    };
    let tokens = |k: &str| U256::from(body["usage"][k].as_u64().unwrap_or(0));
    let fee = price("inputPrice") * tokens("prompt_tokens")
        + price("outputPrice") * tokens("completion_tokens");
    let t = Instant::now();
    loop {
        let now = sub_account(&chain, user, provider)
            .await
            .map_err(|e| err(format!("getAccount: {e}")))?;
        if now.nonce > before.nonce {
            if before.balance + ether - now.balance < fee {
                return Err(err(format!(
                    "settled {} wei, the request cost {fee}",
                    before.balance + ether - now.balance
                )));
            }
            return Ok((reply, fee, call, t.elapsed()));
        }
        if t.elapsed() > Duration::from_secs(60) {
            return Err(err("the fee was not settled within 60 s".into()));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The light client's verification, when it verifies (the devnet with validators): its
/// verified head and the number of answers it caught not verifying.
async fn light_client_verification(
    http: &reqwest::Client,
    sampler: &str,
) -> Result<Option<(u64, u64)>, DemoError> {
    let err = |reason: String| DemoError::Step {
        step: "sampling",
        reason,
    };
    let v: serde_json::Value = http
        .get(format!("{sampler}/v1/status"))
        .send()
        .await
        .map_err(|e| err(e.to_string()))?
        .json()
        .await
        .map_err(|e| err(e.to_string()))?;
    let ver = &v["verification"];
    if ver.is_null() {
        return Ok(None);
    }
    let head = ver["verified_head"]["number"]
        .as_u64()
        .ok_or_else(|| err(format!("no verified head: {ver}")))?;
    Ok(Some((head, ver["lies_total"].as_u64().unwrap_or(0))))
}

/// Polls the light client until it has a final verdict on `cert`: (status, confidence,
/// verified samples) and how long it took.
async fn wait_available(
    http: &reqwest::Client,
    sampler: &str,
    cert: &zg_primitives::Certificate,
) -> Result<((String, f64, u64), Duration), DemoError> {
    let t = Instant::now();
    let err = |reason: String| DemoError::Step {
        step: "sampling",
        reason,
    };
    loop {
        let resp = http
            .get(format!("{sampler}/v1/availability/{}", cert.data_root))
            .send()
            .await
            .map_err(|e| err(e.to_string()))?;
        if resp.status() == 200 {
            let v: serde_json::Value = resp.json().await.map_err(|e| err(e.to_string()))?;
            let latest = &v["latest"];
            let status = latest["status"].as_str().unwrap_or("").to_string();
            if status == "available" || status == "unavailable" {
                if status != "available" {
                    return Err(err(format!("the light client says {latest}")));
                }
                let confidence = latest["confidence"].as_f64().unwrap_or(0.0);
                let ok = latest["samples_ok"].as_u64().unwrap_or(0);
                return Ok(((status, confidence, ok), t.elapsed()));
            }
        }
        if t.elapsed() > Duration::from_secs(120) {
            return Err(err("no verdict within 120 s".into()));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
