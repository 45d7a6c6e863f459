use std::time::Duration;

use alloy::transports::http::reqwest;
use zg_integration::demo::batcher_body;
use zg_integration::{Devnet, DevnetConfig};

use crate::TempDir;

/// Bad input at every HTTP and JSON-RPC surface of the devnet gets a 4xx or a JSON-RPC
/// error with a message, and every server keeps serving afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_surface_refuses_bad_input_and_keeps_serving() {
    let dir = TempDir::new("bad");
    let mut config = DevnetConfig::ephemeral(dir.0.clone());
    config.block_time = Duration::from_millis(500);
    let devnet = Devnet::start(config).await.unwrap();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let plugin = devnet.plugin.url();
    let disperser = format!("http://{}", devnet.disperser.http_addr);
    let sampler = devnet.sampler.url();
    let node = format!("http://{}", devnet.nodes[0].http_addr);
    let rpc = devnet.chain.rpc_url();
    let storage = devnet.storage.rpc_url();

    let gets = [
        (format!("{plugin}/get/0xzz"), 400),
        (format!("{plugin}/get/0x02ff"), 400),
        (format!("{disperser}/v1/blobs/not-hex"), 400),
        (
            format!("{disperser}/v1/blobs/0x{}/data", "11".repeat(32)),
            404,
        ),
        (format!("{sampler}/v1/availability/0x12"), 400),
        (format!("{sampler}/v1/blocks/minus-one"), 400),
        (format!("{node}/sampling/v1/availability/zz"), 400),
    ];
    for (url, status) in gets {
        let r = http.get(&url).send().await.unwrap();
        assert_eq!(r.status().as_u16(), status, "{url}");
        let v: serde_json::Value = r.json().await.unwrap();
        assert!(
            v["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{url}: {v}"
        );
    }
    for url in [format!("{plugin}/put"), format!("{disperser}/v1/blobs")] {
        let r = http.post(&url).body(Vec::<u8>::new()).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 400, "{url}");
    }
    // JSON-RPC (chain and storage node): malformed JSON, unknown methods, bad params.
    let stream = zg_integration::devnet::kv_stream();
    let bodies = [
        (&rpc, "{\"jsonrpc\":\"2.0\",".to_string(), -32700),
        (
            &rpc,
            "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"eth_nope\",\"params\":[]}".into(),
            -32601,
        ),
        (&storage, "{\"jsonrpc\":\"2.0\",".into(), -32700),
        (
            &storage,
            "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"zgs_nope\",\"params\":[]}".into(),
            -32601,
        ),
        (
            &storage,
            "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"zgs_getFileInfo\",\"params\":[\"0xzz\",true]}".into(),
            -32602,
        ),
        (
            &storage,
            "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"zgs_uploadSegmentsByTxSeq\",\"params\":[[{\"root\":1}],0]}".into(),
            -32602,
        ),
        (
            &storage,
            format!("{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"kv_getValue\",\"params\":[\"{stream}\",\"\",0,1]}}"),
            -32602,
        ),
    ];
    for (url, body, code) in bodies {
        let r = http
            .post(url.as_str())
            .header("Content-Type", "application/json")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        let v: serde_json::Value = r.json().await.unwrap();
        assert_eq!(v["error"]["code"], code, "{url} {body}: {v}");
        assert!(
            v["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
    }

    // The compute broker: no token, a garbage token, a body that is not JSON, an unknown
    // route; every refusal is {"error": "..."}.
    let compute = devnet.compute.url();
    let chat = format!("{compute}/v1/proxy/chat/completions");
    let cases = [
        (http.post(&chat).body("{}"), 401),
        (http.post(&chat).bearer_auth("app-sk-AAAA").body("{}"), 401),
        (
            http.post(format!("{compute}/v1/proxy/files")).body("{}"),
            404,
        ),
        (
            http.get(format!("{compute}/v1/user/0x12/unsettledfee")),
            401,
        ),
    ];
    for (req, status) in cases {
        let r = req.send().await.unwrap();
        assert_eq!(r.status().as_u16(), status);
        let v: serde_json::Value = r.json().await.unwrap();
        assert!(v["error"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
    }

    // Everyone still serves: a put through the plugin, a get, the light client's verdict.
    for url in [
        format!("{compute}/health"),
        format!("{plugin}/health"),
        format!("{disperser}/health"),
        format!("{sampler}/health"),
        format!("{node}/health"),
        format!("{storage}/health"),
    ] {
        assert_eq!(http.get(&url).send().await.unwrap().status(), 200, "{url}");
    }
    let body = batcher_body(20_000);
    let put = http
        .post(format!("{plugin}/put"))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 200);
    let c = put.bytes().await.unwrap();
    let got = http
        .get(format!("{plugin}/get/0x{}", hex::encode(&c)))
        .send()
        .await
        .unwrap();
    assert_eq!(got.bytes().await.unwrap().to_vec(), body);
    devnet.shutdown().await.unwrap();
}
