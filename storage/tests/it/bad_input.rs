//! Bad input at the storage node's JSON-RPC: typed errors, nothing stored, the node
//! keeps serving.

use std::time::Duration;

use serde_json::{Value, json};
use zg_storage::{ClientError, FileMerkle, NodeClient, SEGMENT_SIZE, SegmentWithProof};
use zg_testkit::storage::Stack;

use crate::random;

async fn wait_seen(c: &NodeClient, seq: u64) {
    for _ in 0..500 {
        if c.file_info_by_seq(seq).await.unwrap().is_some() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("submission {seq} not seen");
}

/// A random file of `size` bytes submitted on chain (not uploaded) from account 0, once
/// node 0 has seen it: the client of node 0, the data, its tree and the submission.
async fn submitted(stack: &Stack, size: usize) -> (NodeClient, Vec<u8>, FileMerkle, u64) {
    let c = stack.client(0);
    let data = random(size);
    let m = FileMerkle::new(&data).unwrap();
    let (seq, _, _) = stack.uploader(0).submit(&m, &[]).await.unwrap();
    wait_seen(&c, seq).await;
    (c, data, m, seq)
}

fn segment(data: &[u8], m: &FileMerkle, i: u64) -> SegmentWithProof {
    SegmentWithProof {
        root: m.root(),
        data: zg_storage::merkle::segment_upload_data(data, i),
        index: i,
        proof: m.tree.proof(i as usize).unwrap(),
        file_size: data.len() as u64,
    }
}

/// Asserts an `Invalid params: <param>` refusal whose data contains `reason`.
fn refused(r: Result<(), ClientError>, param: &str, reason: &str) {
    match r {
        Err(ClientError::Refused {
            code: -32602,
            message,
            data,
        }) => {
            assert_eq!(message, format!("Invalid params: {param}"));
            let d = data.unwrap_or_default();
            assert!(d.contains(reason), "{param}: {d:?} lacks {reason:?}");
        }
        other => panic!("expected Invalid params: {param}, got {other:?}"),
    }
}

async fn raw_post(addr: std::net::SocketAddr, body: &[u8]) -> (u16, String) {
    let body = body.to_vec();
    tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let head = format!(
            "POST / HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            body.len()
        );
        // Write while reading: the server may answer (413) before the body is sent.
        let mut w = s.try_clone().unwrap();
        let writer = std::thread::spawn(move || {
            let _ = w.write_all(head.as_bytes());
            let _ = w.write_all(&body);
        });
        let mut out = Vec::new();
        let mut buf = [0u8; 8192];
        while let Ok(n) = s.read(&mut buf) {
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        let _ = s.shutdown(std::net::Shutdown::Both);
        let _ = writer.join();
        let text = String::from_utf8_lossy(&out).to_string();
        let status = text
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let body = text.split("\r\n\r\n").nth(1).unwrap_or_default().to_string();
        (status, body)
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_segments_are_refused_and_nothing_is_stored() {
    let stack = Stack::dev(1).await;
    let (c, data, m, seq) = submitted(&stack, 3 * SEGMENT_SIZE + 1000).await;

    // tampered data
    let mut s = segment(&data, &m, 1);
    s.data[17] ^= 1;
    refused(c.upload_segments(&[s], seq).await, "proof", "leaf");
    // another segment's proof
    let mut s = segment(&data, &m, 1);
    s.proof = m.tree.proof(2).unwrap();
    refused(c.upload_segments(&[s], seq).await, "proof", "leaf 2");
    // a proof with a forged sibling
    let mut s = segment(&data, &m, 0);
    s.proof.lemma[1] = alloy_primitives::B256::repeat_byte(9);
    refused(c.upload_segments(&[s], seq).await, "proof", "root");
    // truncated lemma
    let mut s = segment(&data, &m, 0);
    s.proof.lemma.pop();
    refused(c.upload_segments(&[s], seq).await, "proof", "malformed");
    // wrong sizes
    let mut s = segment(&data, &m, 0);
    s.data.truncate(SEGMENT_SIZE - 256);
    refused(
        c.upload_segments(&[s], seq).await,
        "data",
        "must be 262144 bytes",
    );
    let mut s = segment(&data, &m, 0);
    s.data.push(0);
    refused(
        c.upload_segments(&[s], seq).await,
        "data",
        "whole 256-byte chunks",
    );
    let mut s = segment(&data, &m, 3);
    s.data.extend_from_slice(&[0u8; 256]);
    refused(
        c.upload_segments(&[s], seq).await,
        "data",
        "must be 1024 bytes",
    );
    // another file's root, wrong file size, index out of range
    let mut s = segment(&data, &m, 0);
    s.root = alloy_primitives::B256::repeat_byte(1);
    refused(c.upload_segments(&[s], seq).await, "root", "not match");
    let mut s = segment(&data, &m, 0);
    s.file_size += 1;
    refused(
        c.upload_segments(&[s], seq).await,
        "file_size",
        "does not match",
    );
    let mut s = segment(&data, &m, 3);
    s.index = 4;
    refused(c.upload_segments(&[s], seq).await, "index", "beyond");
    // unknown submission, unknown root
    refused(
        c.upload_segments(&[segment(&data, &m, 0)], seq + 100).await,
        "tx_seq",
        "not found",
    );
    let mut s = segment(&data, &m, 0);
    s.root = alloy_primitives::B256::repeat_byte(2);
    let r: Result<Value, _> = c.request("zgs_uploadSegment", json!([s])).await;
    refused(r.map(|_| ()), "root", "not found");
    // empty and oversized batches
    refused(c.upload_segments(&[], seq).await, "segments", "no segment");
    let many: Vec<SegmentWithProof> = (0..65).map(|_| segment(&data, &m, 3)).collect();
    refused(c.upload_segments(&many, seq).await, "segments", "limit");
    // a batch with one bad segment stores none of it
    let mut bad = segment(&data, &m, 2);
    bad.data[0] ^= 0xff;
    refused(
        c.upload_segments(&[segment(&data, &m, 0), bad], seq).await,
        "proof",
        "leaf",
    );

    // nothing was stored
    let info = c.file_info_by_seq(seq).await.unwrap().unwrap();
    assert_eq!(info.uploaded_seg_num, 0);
    assert!(!info.finalized);
    // not downloadable before finalized
    assert_eq!(c.download_chunks(seq, 0, 1).await.unwrap(), None);

    // malformed calls, and the error code each gets
    for (method, params, want) in [
        ("zgs_getFileInfoByTxSeq", json!(["zero"]), -32602),
        ("zgs_getFileInfo", json!([]), -32602),
        (
            "zgs_uploadSegmentsByTxSeq",
            json!([[{"root": 1}], seq]),
            -32602,
        ),
        ("zgs_noSuchMethod", json!([]), -32601),
    ] {
        let r: Result<Value, _> = c.request(method, params).await;
        assert!(
            matches!(r, Err(ClientError::Refused { code, .. }) if code == want),
            "{method}: {r:?}"
        );
    }
    let (status, body) = raw_post(stack.node_addrs[0], b"{not json").await;
    assert_eq!(status, 200);
    assert!(body.contains("-32700"), "{body}");
    // a body over the limit
    let big = vec![b' '; 25 * 1024 * 1024];
    let (status, _) = raw_post(stack.node_addrs[0], &big).await;
    assert_eq!(status, 413);

    // the proper upload still works, then a re-upload is "already uploaded and finalized"
    let all: Vec<SegmentWithProof> = (0..4).map(|i| segment(&data, &m, i)).collect();
    c.upload_segments(&all, seq).await.unwrap();
    let info = c.file_info_by_seq(seq).await.unwrap().unwrap();
    assert!(info.finalized);
    assert_eq!(info.uploaded_seg_num, 4);
    refused(
        c.upload_segments(&all[..1], seq).await,
        "root",
        "already uploaded and finalized",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_downloads_are_refused() {
    let stack = Stack::dev(1).await;
    let c = stack.client(0);
    let data = random(SEGMENT_SIZE + 300);
    let r = stack
        .uploader(0)
        .upload(&data, &zg_storage::UploadOptions::default())
        .await
        .unwrap();
    let chunks = data.len().div_ceil(256) as u64;
    for (start, end, param) in [
        (5, 5, "start_index"),
        (9, 3, "start_index"),
        (0, 1025, "end_index"),
        (0, chunks + 1, "end_index"),
    ] {
        let r: Result<Value, _> = c
            .request("zgs_downloadSegmentByTxSeq", json!([r.seq, start, end]))
            .await;
        refused(r.map(|_| ()), param, "");
    }
    let bad: Result<Value, _> = c
        .request("zgs_downloadSegmentWithProofByTxSeq", json!([r.seq, 2]))
        .await;
    refused(bad.map(|_| ()), "index", "beyond");
    // unknown files are null, not errors
    assert_eq!(c.download_chunks(r.seq + 1, 0, 1).await.unwrap(), None);
    assert!(
        c.file_info(alloy_primitives::B256::ZERO)
            .await
            .unwrap()
            .is_none()
    );
    let v: Value = c
        .request("zgs_checkFileFinalized", json!([r.seq + 1]))
        .await
        .unwrap();
    assert_eq!(v, Value::Null);
    let v: Value = c
        .request("zgs_checkFileFinalized", json!([r.root]))
        .await
        .unwrap();
    assert_eq!(v, Value::Bool(true));
    // a range across the segment boundary
    let got = c.download_chunks(r.seq, 1020, 1026).await.unwrap().unwrap();
    assert_eq!(&got[..256 * 6 - 256 + 44], &data[1020 * 256..]);
    // still serving
    assert!(c.status().await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_upload_path_checks_as_the_json_one() {
    let stack = Stack::dev(1).await;
    let (c, data, m, seq) = submitted(&stack, 2 * SEGMENT_SIZE + 512).await;
    let seg = |i: u64| zg_storage::merkle::segment_upload_data(&data, i);
    let proof = |i: u64| m.tree.proof(i as usize).unwrap();
    let http = |r: Result<(), ClientError>, status: u16, text: &str| match r {
        Err(ClientError::Http { status: s, message }) => {
            assert_eq!(s, status, "{message}");
            assert!(message.contains(text), "{message:?} lacks {text:?}");
        }
        other => panic!("expected HTTP {status}, got {other:?}"),
    };
    // tampered data, another segment's proof, unknown submission
    let mut bad = seg(1);
    bad[3] ^= 1;
    http(
        c.upload_binary(&[(1, &bad, &proof(1))], seq).await,
        400,
        "leaf",
    );
    http(
        c.upload_binary(&[(1, &seg(1), &proof(0))], seq).await,
        400,
        "proof",
    );
    http(
        c.upload_binary(&[(0, &seg(0), &proof(0))], seq + 9).await,
        404,
        "not found",
    );
    // a truncated body and an empty one
    let raw = zg_storage::binary::encode_segments([(0u64, &seg(0)[..], &proof(0))]);
    let resp = alloy::transports::http::reqwest::Client::new()
        .post(format!("{}/v1/segments/{seq}", stack.node_url(0)))
        .body(raw[..raw.len() - 3].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    http(c.upload_binary(&[], seq).await, 400, "no segment");
    assert_eq!(
        c.file_info_by_seq(seq)
            .await
            .unwrap()
            .unwrap()
            .uploaded_seg_num,
        0
    );
    // the whole file, then "already uploaded and finalized"
    let (s0, s1, s2) = (seg(0), seg(1), seg(2));
    let (p0, p1, p2) = (proof(0), proof(1), proof(2));
    c.upload_binary(&[(0, &s0, &p0), (1, &s1, &p1), (2, &s2, &p2)], seq)
        .await
        .unwrap();
    assert!(c.file_info_by_seq(seq).await.unwrap().unwrap().finalized);
    http(
        c.upload_binary(&[(0, &s0, &p0)], seq).await,
        400,
        "already uploaded and finalized",
    );
    let back = zg_storage::Downloader::new(vec![c])
        .download(m.root())
        .await
        .unwrap();
    assert!(back == data);
}

/// A JSON-RPC proxy in front of `upstream` that reports `size` as every file's size.
async fn size_lying_proxy(upstream: String, size: u64) -> String {
    use axum::{Router, body::Bytes, extract::State, routing::post};
    async fn relay(State((upstream, size)): State<(String, u64)>, body: Bytes) -> String {
        let req: Value = serde_json::from_slice(&body).unwrap();
        let resp = alloy::transports::http::reqwest::Client::new()
            .post(&upstream)
            .header("content-type", "application/json")
            .body(body.to_vec())
            .send()
            .await
            .unwrap();
        let mut out: Value = resp.json().await.unwrap();
        let method = req["method"].as_str().unwrap_or_default();
        if method.starts_with("zgs_getFileInfo") && out["result"].is_object() {
            out["result"]["tx"]["size"] = json!(size);
        }
        out.to_string()
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = Router::new()
        .route("/", post(relay))
        .with_state((upstream, size));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

/// A node that lies about a file's size: a downloader that takes the size from the
/// chain's record gets the file exactly; one that believes the node stops at the first
/// segment that fails its proof (no terabyte allocation, no million requests).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_size_comes_from_the_chain_not_a_node() {
    use zg_primitives::abi::FLOW_ADDRESS;
    let stack = Stack::dev(1).await;
    let data = random(2 * SEGMENT_SIZE + 1000);
    let r = stack
        .uploader(0)
        .upload(&data, &zg_storage::UploadOptions::default())
        .await
        .unwrap();
    // A small lie keeps every proof valid (trailing zero bytes do not change the root).
    let small = size_lying_proxy(stack.node_url(0), data.len() as u64 + 20).await;
    // A huge one claims a terabyte.
    let huge = size_lying_proxy(stack.node_url(0), 1 << 40).await;
    for liar in [&small, &huge] {
        let back = zg_storage::Downloader::new(vec![NodeClient::new(liar).unwrap()])
            .with_chain(&stack.chain.rpc_url(), FLOW_ADDRESS)
            .unwrap()
            .download(r.root)
            .await
            .unwrap();
        assert!(back == data, "the chain's size is used");
    }
    let believing = zg_storage::Downloader::new(vec![NodeClient::new(&huge).unwrap()]);
    let started = std::time::Instant::now();
    let e = tokio::time::timeout(Duration::from_secs(30), believing.download(r.root))
        .await
        .expect("stops at the first failed segment")
        .unwrap_err();
    assert!(matches!(e, ClientError::BadData { .. }), "{e}");
    assert!(started.elapsed() < Duration::from_secs(10));
}
