use std::time::Duration;

use alloy::signers::SignerSync;
use alloy::signers::local::PrivateKeySigner;
use alloy::transports::http::reqwest;
use alloy_primitives::B256;
use tokio_util::sync::CancellationToken;
use zg_da_server::disperser::ClientToken;
use zg_da_server::{AccessConfig, Frame, Network};
use zg_primitives::wire::store_request_digest;
use zg_primitives::{
    HeaderRequest, HeaderResponse, Kzg, SampleRefusal, SampleRequest, SampleResponse, StoreRefusal,
    StoreRequest, StoreResponse, custody_columns, encode,
};

use zg_testkit::da::{Cluster, ClusterOptions, DISPERSER_ACCOUNT, dev_signer, payload};

const TOKEN: &str = "test-token-0123456789";

fn access() -> AccessConfig {
    AccessConfig {
        tokens: vec![ClientToken {
            name: "rollup".into(),
            token: TOKEN.into(),
        }],
        rate_per_sec: 0.0001,
        burst: 40,
        quota_bytes_per_hour: 600_000,
        allow_open: false,
    }
}

async fn call(
    c: &Cluster,
    method: reqwest::Method,
    path: &str,
    body: Vec<u8>,
) -> (u16, serde_json::Value) {
    let resp = c
        .http
        .request(method, c.api(path))
        .bearer_auth(TOKEN)
        .body(body)
        .timeout(Duration::from_secs(120))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn http_api_rejects_bad_input() {
    let cluster = Cluster::start(ClusterOptions {
        access: Some(access()),
        max_payload: Some(1 << 20),
        stay_in_epoch_zero: true,
        ..ClusterOptions::default()
    })
    .await;
    use reqwest::Method;
    // Epoch 0 has no quorum.
    let (s, b) = call(&cluster, Method::POST, "/v1/blobs", vec![1, 2, 3]).await;
    assert_eq!((s, b["error"].as_str()), (503, Some("no_quorum")), "{b}");
    cluster.enter_epoch_one().await;

    // Authentication.
    let r = cluster
        .http
        .post(cluster.api("/v1/blobs"))
        .body(vec![1])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let r = cluster
        .http
        .post(cluster.api("/v1/blobs"))
        .bearer_auth("wrong-token-wrong-token")
        .body(vec![1])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);

    let (s, b) = call(&cluster, Method::POST, "/v1/blobs", vec![]).await;
    assert_eq!((s, b["error"].as_str()), (400, Some("empty")), "{b}");
    let (s, b) = call(&cluster, Method::POST, "/v1/blobs", vec![7; (1 << 20) + 1]).await;
    assert_eq!((s, b["error"].as_str()), (413, Some("too_large")), "{b}");
    let (s, _) = call(&cluster, Method::POST, "/v1/blobs?wait=maybe", vec![1]).await;
    assert_eq!(s, 400);
    let (s, _) = call(&cluster, Method::GET, "/v1/blobs/0x1234", vec![]).await;
    assert_eq!(s, 400);
    let (s, _) = call(&cluster, Method::GET, "/v1/blobs/not-hex-at-all", vec![]).await;
    assert_eq!(s, 400);
    let unknown = B256::repeat_byte(0xab);
    let (s, _) = call(
        &cluster,
        Method::GET,
        &format!("/v1/blobs/{unknown}"),
        vec![],
    )
    .await;
    assert_eq!(s, 404);
    let (s, _) = call(
        &cluster,
        Method::GET,
        &format!("/v1/blobs/{unknown}/data"),
        vec![],
    )
    .await;
    assert_eq!(s, 404);
    let (s, _) = call(
        &cluster,
        Method::GET,
        &format!("/v1/blobs/{unknown}/header"),
        vec![],
    )
    .await;
    assert_eq!(s, 404);
    let (s, _) = call(
        &cluster,
        Method::GET,
        &format!("/v1/blobs/{unknown}/data?epoch=x&quorum_id=0"),
        vec![],
    )
    .await;
    assert_eq!(s, 400);
    let (s, b) = call(
        &cluster,
        Method::GET,
        &format!("/v1/blobs/{unknown}/data?epoch=1&quorum_id=9"),
        vec![],
    )
    .await;
    assert_eq!(s, 404, "{b}");
    // Unknown data_root in a real quorum: no member has its header.
    let (s, b) = call(
        &cluster,
        Method::GET,
        &format!("/v1/blobs/{unknown}/data?epoch=1&quorum_id=0"),
        vec![],
    )
    .await;
    assert_eq!(s, 404, "{b}");
    let (s, _) = call(&cluster, Method::GET, "/v2/nothing", vec![]).await;
    assert_eq!(s, 404);

    // A real put works with the token; the quota then runs out.
    let (s, b) = call(
        &cluster,
        Method::POST,
        "/v1/blobs?wait=true",
        payload(500_000, 1),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let (s, b) = call(&cluster, Method::POST, "/v1/blobs", payload(200_000, 2)).await;
    assert_eq!(
        (s, b["error"].as_str()),
        (429, Some("quota_exceeded")),
        "{b}"
    );
    // And the request rate.
    let mut limited = false;
    for _ in 0..60 {
        let (s, _) = call(
            &cluster,
            Method::GET,
            &format!("/v1/blobs/{unknown}"),
            vec![],
        )
        .await;
        if s == 429 {
            limited = true;
            break;
        }
    }
    assert!(limited, "rate limit never applied");
    // Nothing stored for the refused requests: one payload per node.
    for i in 0..8 {
        assert_eq!(cluster.node(i).service.store().payload_count(), 1);
    }
    cluster.shutdown().await;
}

fn signed_request(
    who: &PrivateKeySigner,
    chain_id: u64,
    epoch: u64,
    quorum_id: u64,
    enc: &zg_primitives::EncodedPayload,
    member: usize,
) -> StoreRequest {
    let digest = store_request_digest(
        chain_id,
        enc.data_root,
        epoch,
        quorum_id,
        enc.header.blob_count,
    );
    StoreRequest {
        chain_id,
        epoch,
        quorum_id,
        data_root: enc.data_root,
        header: enc.header.clone(),
        columns: enc.columns(&custody_columns(member, 8)),
        disperser_signature: who.sign_hash_sync(&digest).unwrap().as_bytes().to_vec(),
        traceparent: None,
    }
}

async fn store(net: &Network, socket: &str, req: StoreRequest) -> StoreResponse {
    match net.store(socket, Frame::Msg(req)).await.unwrap() {
        Frame::Msg(r) => r,
        other => panic!("undecodable response {other:?}"),
    }
}

fn refusal(r: StoreResponse) -> StoreRefusal {
    match r {
        StoreResponse::Refused(r) => r,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn libp2p_protocols_refuse_bad_requests() {
    let mut cluster = Cluster::start(ClusterOptions::default()).await;
    let chain_id = cluster.chain_client().await.chain_id();
    let (net, _task) = zg_testkit::da::client_network().await;
    let socket = cluster.node(0).socket.clone();
    // Quorum members are ordered by ballot: node 0 is member `me`.
    let quorum = cluster.quorum(1, 0).await;
    let me = quorum.member(cluster.node_keys[0].address()).unwrap().index;
    let other = (me + 1) % 8;

    // Garbage on every protocol: typed Malformed answers.
    let garbage = vec![0xff, 0x00, 0x13, 0x37, 0xde, 0xad];
    match net
        .store(&socket, Frame::Raw(garbage.clone()))
        .await
        .unwrap()
    {
        Frame::Msg(StoreResponse::Refused(StoreRefusal::Malformed(_))) => {}
        other => panic!("{other:?}"),
    }
    match net
        .sample(&socket, Frame::Raw(garbage.clone()))
        .await
        .unwrap()
    {
        Frame::Msg(SampleResponse::Refused(SampleRefusal::Malformed(_))) => {}
        other => panic!("{other:?}"),
    }
    match net.header(&socket, Frame::Raw(garbage)).await.unwrap() {
        Frame::Msg(HeaderResponse::Malformed(_)) => {}
        other => panic!("{other:?}"),
    }
    // Sample and header requests are tiny: a 1 MiB one is cut off at 4 KiB (the stream
    // is reset, nothing is buffered or answered), and the node keeps serving.
    let big = vec![0xa0; 1 << 20];
    assert!(net.sample(&socket, Frame::Raw(big.clone())).await.is_err());
    assert!(net.header(&socket, Frame::Raw(big)).await.is_err());
    match net
        .header(
            &socket,
            Frame::Msg(zg_primitives::HeaderRequest {
                data_root: B256::repeat_byte(7),
            }),
        )
        .await
        .unwrap()
    {
        Frame::Msg(HeaderResponse::NotFound) => {}
        other => panic!("{other:?}"),
    }

    let enc = encode(Kzg::mainnet(), &payload(100_000, 5), 1 << 24).unwrap();
    let disperser = dev_signer(DISPERSER_ACCOUNT);
    let good = signed_request(&disperser, chain_id, 1, 0, &enc, me);

    let mut r = good.clone();
    r.chain_id += 1;
    let got = refusal(store(&net, &socket, r).await);
    assert!(matches!(got, StoreRefusal::WrongChain { .. }), "{got:?}");
    let mut r = good.clone();
    r.data_root = B256::repeat_byte(1);
    let got = refusal(store(&net, &socket, r).await);
    assert!(matches!(got, StoreRefusal::HeaderMismatch(_)), "{got:?}");
    let mut r = good.clone();
    r.disperser_signature = vec![1, 2, 3];
    let got = refusal(store(&net, &socket, r).await);
    assert!(matches!(got, StoreRefusal::BadSignature(_)), "{got:?}");
    // The same with 40 MiB of columns: refused from its prelude, before a byte of the
    // columns is read (they are skipped unbuffered, so the typed refusal still arrives).
    let mut r = good.clone();
    r.disperser_signature = vec![9; 65];
    r.columns = vec![r.columns[0].clone(); 20_000];
    let got = refusal(store(&net, &socket, r).await);
    assert!(matches!(got, StoreRefusal::BadSignature(_)), "{got:?}");
    let r = signed_request(&disperser, chain_id, 1, 3, &enc, me);
    let refused = refusal(store(&net, &socket, r).await);
    assert!(matches!(refused, StoreRefusal::UnknownQuorum { .. }) && refused.is_retryable());
    let r = signed_request(&disperser, chain_id, 1, 0, &enc, other);
    let got = refusal(store(&net, &socket, r).await);
    assert!(matches!(got, StoreRefusal::WrongColumns { .. }), "{got:?}");
    let mut r = good.clone();
    r.columns.pop();
    let got = refusal(store(&net, &socket, r).await);
    assert!(matches!(got, StoreRefusal::WrongColumns { .. }), "{got:?}");
    // A payload over the node's limit (16 MiB), refused before any chain call or KZG
    // work: a consistent header of 136 (dummy) commitments, signed by the disperser.
    let big_len = zg_primitives::DEFAULT_MAX_PAYLOAD as u32 + 1;
    let commitments = vec![enc.header.commitments[0]; zg_primitives::blob_count(big_len as usize)];
    let header = zg_primitives::BlobHeader::new(big_len, commitments);
    let big = zg_primitives::EncodedPayload {
        data_root: header.data_root(),
        header,
        ..enc.clone()
    };
    let r = signed_request(&disperser, chain_id, 1, 0, &big, me);
    let got = refusal(store(&net, &socket, r).await);
    assert!(
        matches!(&got, StoreRefusal::Malformed(m) if m.contains("at most")),
        "{got:?}"
    );
    // A requester without deposit.
    let r = signed_request(&dev_signer(0), chain_id, 1, 0, &enc, me);
    let got = refusal(store(&net, &socket, r).await);
    assert!(matches!(got, StoreRefusal::NoDeposit { .. }), "{got:?}");
    // A cell that fails its proof.
    let mut r = good.clone();
    r.columns[3].cells[0].as_bytes_mut()[200] ^= 1;
    let got = refusal(store(&net, &socket, r).await);
    assert!(matches!(got, StoreRefusal::BadProof(_)), "{got:?}");
    // Column shape that does not match the header.
    let mut r = good.clone();
    r.columns[1].proofs.pop();
    let got = refusal(store(&net, &socket, r).await);
    assert!(matches!(got, StoreRefusal::BadProof(_)), "{got:?}");
    assert_eq!(
        cluster.node(0).service.store().payload_count(),
        0,
        "garbage stored"
    );

    // Sample and header refusals.
    let sample = |columns: Vec<u16>, data_root| SampleRequest { data_root, columns };
    for cols in [
        vec![0, 0],
        vec![200],
        vec![],
        (0..129).map(|i| i % 128).collect(),
    ] {
        match net
            .sample(&socket, Frame::Msg(sample(cols, enc.data_root)))
            .await
            .unwrap()
        {
            Frame::Msg(SampleResponse::Refused(SampleRefusal::Malformed(_))) => {}
            other => panic!("{other:?}"),
        }
    }
    match net
        .sample(&socket, Frame::Msg(sample(vec![0], enc.data_root)))
        .await
        .unwrap()
    {
        Frame::Msg(SampleResponse::Refused(SampleRefusal::NotFound)) => {}
        other => panic!("{other:?}"),
    }
    match net
        .header(
            &socket,
            Frame::Msg(HeaderRequest {
                data_root: enc.data_root,
            }),
        )
        .await
        .unwrap()
    {
        Frame::Msg(HeaderResponse::NotFound) => {}
        other => panic!("{other:?}"),
    }

    // The well-formed request is signed, once; a repeat gets the same signature.
    let StoreResponse::Signed { signature } = store(&net, &socket, good.clone()).await else {
        panic!("not signed")
    };
    let StoreResponse::Signed { signature: again } = store(&net, &socket, good.clone()).await
    else {
        panic!("not signed")
    };
    assert_eq!(signature, again);
    assert_eq!(cluster.node(0).service.store().payload_count(), 1);
    let not_mine = custody_columns(other, 8)[0];
    match net
        .sample(&socket, Frame::Msg(sample(vec![not_mine], enc.data_root)))
        .await
        .unwrap()
    {
        Frame::Msg(SampleResponse::Refused(SampleRefusal::NotHeld(c))) if c == not_mine => {}
        other => panic!("{other:?}"),
    }

    // A node outside the quorum refuses.
    let keys = zg_da_server::NodeKeys::from_eth_key(dev_signer(0), b"outsider");
    let dir = zg_testkit::da::TempDir::new("outsider");
    let mut config = cluster.node_config(0);
    config.keys = keys;
    config.datadir = dir.0.clone();
    let http = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let outsider = zg_da_server::node::start(config, http, CancellationToken::new())
        .await
        .unwrap();
    let refused = refusal(store(&net, &outsider.socket, good).await);
    assert!(
        matches!(refused, StoreRefusal::NotInQuorum { .. }),
        "{refused:?}"
    );
    outsider.shutdown().await.unwrap();
    cluster.stop_node(1).await;
    cluster.shutdown().await;
}
