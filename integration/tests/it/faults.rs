//! Faults with every component in its own OS process: SIGKILLed DA nodes (during
//! dispersal, and four at once for retrieval), a Byzantine node process, and SIGKILLed
//! disperser and chain processes mid-flight, and the storage node and compute broker
//! processes SIGKILLed with the chain.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use alloy::primitives::B256;
use alloy::providers::{Provider, ProviderBuilder};
use alloy::sol_types::SolEvent;
use alloy::transports::http::reqwest;
use zg_integration::DevnetConfig;
use zg_integration::demo::batcher_body;

use crate::ProcessStack;
use zg_primitives::abi::{DA_ENTRANCE_ADDRESS, IDAEntrance};

use crate::TempDir;

/// A generic put through the op-plugin; its 50-byte commitment.
pub(crate) async fn plugin_put(http: &reqwest::Client, plugin: &str, body: &[u8]) -> Vec<u8> {
    let r = http
        .post(format!("{plugin}/put"))
        .body(body.to_vec())
        .timeout(Duration::from_secs(180))
        .send()
        .await
        .unwrap();
    let status = r.status();
    let bytes = r.bytes().await.unwrap().to_vec();
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&bytes));
    assert_eq!(bytes.len(), 50, "a generic commitment");
    bytes
}

async fn plugin_get(http: &reqwest::Client, plugin: &str, commitment: &[u8]) -> Vec<u8> {
    let r = http
        .get(format!("{plugin}/get/0x{}", hex::encode(commitment)))
        .timeout(Duration::from_secs(120))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.bytes().await.unwrap().to_vec()
}

/// Posts to the disperser without waiting: the 202 is its acknowledgement.
async fn disperser_post(http: &reqwest::Client, url: &str, body: Vec<u8>) -> String {
    let r = http
        .post(format!("{url}/v1/blobs"))
        .body(body)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let v: serde_json::Value = r.json().await.unwrap();
    v["id"].as_str().unwrap().to_string()
}

/// Polls a disperser request until confirmed; returns its data_root.
async fn confirmed(http: &reqwest::Client, url: &str, id: &str) -> B256 {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        if let Ok(r) = http.get(format!("{url}/v1/blobs/{id}")).send().await
            && let Ok(v) = r.json::<serde_json::Value>().await
        {
            match v["status"].as_str() {
                Some("confirmed") => return v["data_root"].as_str().unwrap().parse().unwrap(),
                Some("failed") => panic!("request {id} failed: {v}"),
                _ => {}
            }
        }
        assert!(Instant::now() < deadline, "request {id} never confirmed");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// How many times each data_root was anchored.
async fn anchors(rpc: &str) -> HashMap<B256, usize> {
    let p = ProviderBuilder::new().connect_http(rpc.parse().unwrap());
    let logs = zg_testkit::da::logs_of(
        &p,
        DA_ENTRANCE_ADDRESS,
        IDAEntrance::ErasureCommitmentVerified::SIGNATURE_HASH,
    )
    .await;
    let mut out = HashMap::new();
    for l in logs {
        let e = IDAEntrance::ErasureCommitmentVerified::decode_log(&l.inner).unwrap();
        *out.entry(e.dataRoot).or_default() += 1;
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn process_faults_nodes_disperser_and_chain() {
    faults_nodes_disperser_and_chain(0).await;
}

/// The same faults on a chain of four validators (BFT finality): the SIGKILLed chain
/// process is validator 0, the one the components use, which the other three keep
/// finalizing without and which catches up when restarted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn process_faults_on_four_validators() {
    faults_nodes_disperser_and_chain(4).await;
}

async fn faults_nodes_disperser_and_chain(validators: usize) {
    let dir = TempDir::new("faults");
    let mut config = DevnetConfig::ephemeral(dir.0.clone());
    config.block_time = Duration::from_millis(500);
    config.validators = validators;
    if validators > 0 {
        // No anvil_mine on validators: the first quorum forms at an epoch boundary.
        config.epoch_blocks = 40;
    }
    let mut stack = ProcessStack::start(env!("CARGO_BIN_EXE_zg-devnet"), config, &[])
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let plugin = stack.plugin_url();

    // The OP flow, all up.
    let b1 = batcher_body(120_000);
    let c1 = plugin_put(&http, &plugin, &b1).await;
    assert!(plugin_get(&http, &plugin, &c1).await == b1);

    // SIGKILL two nodes while a put is being dispersed: still certified (6 of 8 left).
    let b2 = batcher_body(600_000);
    let put = {
        let (http, plugin, b2) = (http.clone(), plugin.clone(), b2.clone());
        tokio::spawn(async move { plugin_put(&http, &plugin, &b2).await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    stack.kill_node(0);
    stack.kill_node(1);
    let c2 = put.await.unwrap();

    // Four down: a reader with no cache still recovers from the other four.
    stack.kill_node(2);
    stack.kill_node(3);
    let reader = stack
        .spawn_plugin(dir.0.join("reader-1"), 0)
        .expect("reader plugin");
    let reader_url = reader.endpoint("http");
    assert!(plugin_get(&http, &reader_url, &c2).await == b2);
    assert!(plugin_get(&http, &reader_url, &c1).await == b1);
    reader.kill();

    // The killed nodes restart on their stores and serve: with the other four down, a
    // fresh reader gets from them alone.
    for i in 0..4 {
        stack.start_node(i).unwrap();
    }
    for i in 4..8 {
        stack.kill_node(i);
    }
    let reader = stack
        .spawn_plugin(dir.0.join("reader-2"), 0)
        .expect("reader plugin");
    let reader_url = reader.endpoint("http");
    assert!(plugin_get(&http, &reader_url, &c1).await == b1);
    reader.kill();
    for i in 4..8 {
        stack.start_node(i).unwrap();
    }

    // SIGKILL the disperser right after it acknowledged three requests: after a restart
    // every one of them is anchored, once.
    let disperser = stack.disperser_url();
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(disperser_post(&http, &disperser, batcher_body(90_000)).await);
    }
    stack.disperser.take().unwrap().kill();
    stack.start_disperser().unwrap();
    let mut roots = Vec::new();
    for id in &ids {
        roots.push(confirmed(&http, &disperser, id).await);
    }

    // SIGKILL the chain right after two more acknowledgements, restart it: both end up
    // anchored once, and everything anchored before is still there.
    let mut ids = Vec::new();
    for _ in 0..2 {
        ids.push(disperser_post(&http, &disperser, batcher_body(90_000)).await);
    }
    stack.chain.take().unwrap().kill();
    tokio::time::sleep(Duration::from_secs(2)).await;
    stack.start_chain().unwrap();
    for id in &ids {
        roots.push(confirmed(&http, &disperser, id).await);
    }
    let counts = anchors(&stack.rpc).await;
    for r in &roots {
        assert_eq!(counts.get(r), Some(&1), "{r} anchored once");
    }
    assert!(
        counts.values().all(|&n| n == 1),
        "no duplicate anchor: {counts:?}"
    );
    assert!(counts.len() >= roots.len() + 2);
    // The op-plugin still serves the first batches after all of it.
    assert!(plugin_get(&http, &plugin, &c2).await == b2);

    assert!(stack.shutdown(), "every process exits cleanly on SIGTERM");
}

/// A node process that serves corrupted cells and signs garbage: puts are still
/// certified by the honest seven (the chain verifies the aggregate, so no forged anchor
/// can land), reads are byte-identical, and the disperser reports the node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn process_byzantine_node() {
    let dir = TempDir::new("byzantine");
    let mut config = DevnetConfig::ephemeral(dir.0.clone());
    config.block_time = Duration::from_millis(500);
    let bad = 5;
    let stack = ProcessStack::start(env!("CARGO_BIN_EXE_zg-devnet"), config, &[bad])
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let disperser = stack.disperser_url();
    let data = batcher_body(400_000);
    let r = http
        .post(format!("{disperser}/v1/blobs?wait=true"))
        .body(data.clone())
        .timeout(Duration::from_secs(180))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let rec: serde_json::Value = r.json().await.unwrap();
    assert_eq!(rec["status"], "confirmed", "{rec}");
    // The garbage signature is left out of the aggregate: at most seven of eight, and at
    // least the threshold (an honest node slow under load may miss the aggregation).
    let signed = rec["signers"][0].as_u64().unwrap();
    let needed = rec["signers"][1].as_u64().unwrap();
    assert!((needed..=7).contains(&signed), "{rec}");
    let root = rec["data_root"].as_str().unwrap().to_string();
    let got = http
        .get(format!("{disperser}/v1/blobs/{root}/data"))
        .timeout(Duration::from_secs(120))
        .send()
        .await
        .unwrap();
    assert_eq!(got.status(), 200);
    assert!(got.bytes().await.unwrap().as_ref() == data.as_slice());
    // Reported (by the dispersal's signature check or by the retrieval's cell check).
    let bad_addr = stack
        .plan
        .node_keys(bad)
        .address()
        .to_string()
        .to_lowercase();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let m = zg_testkit::get_text(&http, format!("{disperser}/metrics"))
            .await
            .to_lowercase();
        if m.contains(&format!("reported_nodes_total{{node=\"{bad_addr}\"}}")) {
            break;
        }
        assert!(Instant::now() < deadline, "node not reported:\n{m}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let counts = anchors(&stack.rpc).await;
    assert_eq!(counts.get(&root.parse::<B256>().unwrap()), Some(&1));
    assert!(stack.shutdown());
}

fn dev_key(i: u32) -> alloy::signers::local::PrivateKeySigner {
    zg_chain::dev_account(i)
}

async fn tx(
    p: &impl Provider,
    to: alloy::primitives::Address,
    data: Vec<u8>,
    value: alloy::primitives::U256,
) {
    use alloy::network::TransactionBuilder;
    let t = alloy::rpc::types::TransactionRequest::default()
        .with_to(to)
        .with_input(data)
        .with_value(value);
    let r = p
        .send_transaction(t)
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    assert!(r.status());
}

/// The storage node and the compute broker as processes: a file is stored and a chat
/// billed, then both and the chain are SIGKILLed and restarted: the file downloads
/// byte-identical, and the billed fee is settled on chain exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn process_faults_storage_and_compute() {
    use alloy::sol_types::SolCall;
    use alloy_primitives::U256;
    use zg_primitives::abi::{ILedgerManager as L, INFERENCE_SERVICE_NAME, LEDGER_ADDRESS};
    let dir = TempDir::new("faults-sc");
    let mut config = DevnetConfig::ephemeral(dir.0.clone());
    config.block_time = Duration::from_millis(500);
    config.nodes = 4;
    let mut stack = ProcessStack::start(env!("CARGO_BIN_EXE_zg-devnet"), config, &[])
        .await
        .unwrap();
    stack.start_storage().unwrap();
    stack.start_compute().unwrap();

    // A file through the storage node.
    let node = zg_storage::NodeClient::new(&stack.storage_url()).unwrap();
    let up = zg_storage::Uploader::new(
        vec![node.clone()],
        &stack.rpc,
        dev_key(zg_integration::demo::DEMO_STORAGE_ACCOUNT),
        zg_primitives::abi::FLOW_ADDRESS,
    )
    .unwrap();
    let data = batcher_body(600_000);
    let receipt = up
        .upload(&data, &zg_storage::UploadOptions::default())
        .await
        .unwrap();

    // A paid chat through the broker.
    let key = dev_key(zg_integration::demo::DEMO_COMPUTE_ACCOUNT);
    let user = key.address();
    let chain = ProviderBuilder::new()
        .wallet(alloy::network::EthereumWallet::from(key.clone()))
        .connect_http(stack.rpc.parse().unwrap());
    let http = reqwest::Client::new();
    let compute = stack.compute_url();
    let svc: serde_json::Value = zg_testkit::get_json(&http, format!("{compute}/v1/service")).await;
    let provider: alloy::primitives::Address = svc["provider"].as_str().unwrap().parse().unwrap();
    let ether = U256::from(10u64).pow(U256::from(18));
    tx(
        &chain,
        LEDGER_ADDRESS,
        L::depositFundCall {}.abi_encode(),
        ether * U256::from(2),
    )
    .await;
    let transfer = L::transferFundCall {
        provider,
        serviceName: INFERENCE_SERVICE_NAME.into(),
        amount: ether,
    };
    tx(&chain, LEDGER_ADDRESS, transfer.abi_encode(), U256::ZERO).await;
    let api_key = zg_compute::SessionToken::ephemeral(user, provider, 0, 3_600_000).api_key(&key);
    let chat = |text: &'static str| {
        let (http, url, k) = (
            http.clone(),
            format!("{compute}/v1/proxy/chat/completions"),
            api_key.clone(),
        );
        async move {
            let r = http
                .post(url)
                .bearer_auth(k)
                .json(&serde_json::json!({"messages": [{"role": "user", "content": text}]}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            r.json::<serde_json::Value>().await.unwrap()
        }
    };
    let answer = chat("survive the crash please").await;
    assert_eq!(
        answer["choices"][0]["message"]["content"],
        "echo: survive the crash please"
    );
    let price = |k: &str| svc[k].as_str().unwrap().parse::<U256>().unwrap();
    let tokens = |k: &str| U256::from(answer["usage"][k].as_u64().unwrap());
    let fee = price("inputPrice") * tokens("prompt_tokens")
        + price("outputPrice") * tokens("completion_tokens");

    // SIGKILL the broker right after its answer, the storage node, then the chain.
    stack.compute.take().unwrap().kill();
    stack.storage.take().unwrap().kill();
    stack.chain.take().unwrap().kill();
    tokio::time::sleep(Duration::from_secs(1)).await;
    stack.start_chain().unwrap();
    stack.start_storage().unwrap();
    stack.start_compute().unwrap();

    // The file is served, every segment proven.
    let back = zg_storage::Downloader::new(vec![node])
        .download(receipt.root)
        .await
        .unwrap();
    assert!(back == data, "the downloaded file differs");

    // The fee is settled once: the sub-account pays exactly it.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let a = zg_integration::demo::sub_account(&chain, user, provider)
            .await
            .unwrap();
        if a.nonce > U256::ZERO {
            assert_eq!(a.balance, ether - fee, "charged exactly the fee, once");
            break;
        }
        assert!(Instant::now() < deadline, "the fee was not settled");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // And the restarted broker serves.
    chat("and again").await;
    assert!(stack.shutdown(), "every process exits cleanly on SIGTERM");
}
