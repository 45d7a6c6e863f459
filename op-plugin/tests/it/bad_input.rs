use std::io::{Read, Write};
use zg_primitives::{AltDaCommitment, Certificate};
use zg_testkit::da::{Cluster, ClusterOptions, TempDir};

use tokio_util::sync::CancellationToken;
use zg_da_server::ClientToken;

use crate::{OpClient, batch, keccak_commitment, random_root, start_plugin, start_plugin_at};

/// Every malformed request gets its 4xx with a message; none gets a 500; the server
/// keeps serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_bad_request_gets_its_status() {
    let cluster = Cluster::start(ClusterOptions::default()).await;
    let dir = TempDir::new("plugin-bad");
    let plugin = start_plugin(&cluster, &dir, |c| c.max_blob_size = 64 * 1024).await;
    let client = OpClient::new(&plugin);

    let generic = AltDaCommitment::Generic(Certificate {
        epoch: 1,
        quorum_id: 0,
        data_root: random_root(1),
    })
    .to_bytes();
    let mut foreign = generic.clone();
    foreign[1] = 0x0c; // Celestia's DA byte
    let cases: Vec<(String, u16, &str)> = vec![
        (format!("/get/{}", hex::encode(&generic)), 400, "0x"),
        ("/get/0xzz".into(), 400, "hex"),
        ("/get/0x0".into(), 400, "hex"),
        ("/get/0x".into(), 400, "empty"),
        ("/get/0x02aabb".into(), 400, "unknown commitment type"),
        (
            format!("/get/0x{}", hex::encode(&generic[..49])),
            400,
            "50 bytes",
        ),
        (
            format!("/get/0x{}00", hex::encode(&generic)),
            400,
            "50 bytes",
        ),
        (format!("/get/0x{}", hex::encode(&foreign)), 400, "0x0c"),
        (format!("/get/0x00{}", "ab".repeat(31)), 400, "33 bytes"),
        ("/get/".into(), 400, "missing commitment"),
        ("/get".into(), 400, "missing commitment"),
        // Unknown commitments: 404 (nothing put under that keccak; a certificate that
        // is not anchored).
        (
            format!("/get/0x{}", hex::encode(keccak_commitment(b"never put"))),
            404,
            "keccak",
        ),
        (format!("/get/0x{}", hex::encode(&generic)), 404, "anchored"),
        ("/nope".into(), 404, "no such route"),
        ("/put".into(), 405, "POST or PUT"),
    ];
    for (path, status, needle) in &cases {
        let a = client.get_path(path).await;
        assert_eq!(
            a.status,
            *status,
            "{path}: {}",
            String::from_utf8_lossy(&a.body)
        );
        let m = a.message();
        assert!(m.contains(needle), "{path}: {m:?} lacks {needle:?}");
    }

    let post = |path: &str, body: Vec<u8>| {
        client
            .raw()
            .post(client.url(path))
            .header("Content-Type", "application/octet-stream")
            .body(body)
    };
    let good = batch(1000, 5);
    let cases = vec![
        (post("/put", vec![]), 400, "empty"),
        (post("/put/", vec![]), 400, "empty"),
        // Keccak mode: hash mismatch, wrong type, bad hex, wrong length.
        (
            post(
                &format!("/put/0x{}", hex::encode(keccak_commitment(b"other"))),
                good.clone(),
            ),
            400,
            "keccak256 of the body",
        ),
        (
            post(&format!("/put/0x{}", hex::encode(&generic)), good.clone()),
            400,
            "only keccak",
        ),
        (post("/put/0x00zz", good.clone()), 400, "hex"),
        (post("/put/00abcd", good.clone()), 400, "0x"),
        (post("/put/0x00abcd", good.clone()), 400, "33 bytes"),
        // Over --max-blob-size, declared up front.
        (post("/put", vec![0u8; 64 * 1024 + 1]), 413, "maximum"),
        (
            post(
                &format!("/put/0x{}", hex::encode(keccak_commitment(&[1u8; 70_000]))),
                vec![1u8; 70_000],
            ),
            413,
            "maximum",
        ),
    ];
    for (req, status, needle) in cases {
        let a = client.send(req).await;
        assert_eq!(a.status, status, "{}", String::from_utf8_lossy(&a.body));
        assert!(
            a.message().contains(needle),
            "{:?} lacks {needle:?}",
            a.message()
        );
    }

    // Over the limit without a Content-Length (chunked): 413 while reading.
    assert_eq!(chunked_put(plugin.addr, 20, 8192).await, 413);

    // Still serving, and no 500 was ever answered.
    let ok = client.put_generic(&good).await;
    assert_eq!(ok.status, 200, "{}", String::from_utf8_lossy(&ok.body));
    assert!(client.get(&ok.body).await.body == good);
    let metrics = String::from_utf8(client.get_path("/metrics").await.body).unwrap();
    assert!(!metrics.contains("status=\"500\""), "{metrics}");

    // With verify-on-read off an unknown certificate is still a 404 (no node has it).
    let dir2 = TempDir::new("plugin-trusting");
    let trusting = start_plugin(&cluster, &dir2, |c| c.verify_on_read = false).await;
    let a = OpClient::new(&trusting).get(&generic).await;
    assert_eq!(a.status, 404, "{}", String::from_utf8_lossy(&a.body));
    // And an unknown quorum too.
    let unknown_quorum = AltDaCommitment::Generic(Certificate {
        epoch: 1,
        quorum_id: 9,
        data_root: random_root(2),
    })
    .to_bytes();
    assert_eq!(
        OpClient::new(&trusting).get(&unknown_quorum).await.status,
        404
    );

    trusting.shutdown().await.unwrap();

    // A misconfigured plugin (its disperser wants a token it does not have) is the
    // operator's fault, not the batch's and not the DA layer's: 500 with the reason; with
    // the token the same put succeeds.
    let locked_dir = TempDir::new("locked-disperser");
    let mut dc = cluster.disperser_config();
    dc.datadir = locked_dir.0.clone();
    dc.access.tokens = vec![ClientToken {
        name: "rollup".into(),
        token: "s3cret".into(),
    }];
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let locked = zg_da_server::disperser::start(dc, listener, CancellationToken::new())
        .await
        .unwrap();
    let dir3 = TempDir::new("plugin-no-token");
    let url = format!("http://{}", locked.http_addr);
    let no_token = start_plugin_at(&cluster, &dir3, url.clone(), |_| {}).await;
    let a = OpClient::new(&no_token).put_generic(&batch(500, 6)).await;
    assert_eq!(a.status, 500, "{}", String::from_utf8_lossy(&a.body));
    assert!(a.message().contains("credentials"), "{}", a.message());
    no_token.shutdown().await.unwrap();
    let dir4 = TempDir::new("plugin-token");
    let mut config = zg_op_plugin::PluginConfig::new(dir4.0.clone());
    config.put_timeout = std::time::Duration::from_secs(120);
    let upstream = zg_op_plugin::UpstreamConfig::Remote {
        url,
        token: Some("s3cret".into()),
        chain: zg_da_server::ChainConfig::new(cluster.chain.rpc_url()),
        net: zg_da_server::NetConfig::default(),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let with_token = zg_op_plugin::start(config, upstream, listener, CancellationToken::new())
        .await
        .unwrap();
    let a = OpClient::new(&with_token).put_generic(&batch(500, 6)).await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    with_token.shutdown().await.unwrap();
    locked.shutdown().await.unwrap();

    plugin.shutdown().await.unwrap();
    cluster.shutdown().await;
}

/// A `POST /put` with a chunked body (no Content-Length) of `chunks` × `size` bytes,
/// written by hand; the answer's status.
async fn chunked_put(addr: std::net::SocketAddr, chunks: usize, size: usize) -> u16 {
    tokio::task::spawn_blocking(move || {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(std::time::Duration::from_secs(30)))
            .unwrap();
        let head = format!("POST /put HTTP/1.1\r\nHost: {addr}\r\nTransfer-Encoding: chunked\r\nContent-Type: application/octet-stream\r\n\r\n");
        s.write_all(head.as_bytes()).unwrap();
        for _ in 0..chunks {
            let mut c = format!("{size:x}\r\n").into_bytes();
            c.extend(std::iter::repeat_n(7u8, size));
            c.extend_from_slice(b"\r\n");
            // The server may answer and close before the whole body is sent.
            if s.write_all(&c).is_err() {
                break;
            }
        }
        let _ = s.write_all(b"0\r\n\r\n");
        let mut buf = vec![0u8; 1024];
        let n = s.read(&mut buf).unwrap();
        let text = String::from_utf8_lossy(&buf[..n]).to_string();
        text.split(' ').nth(1).unwrap().parse().unwrap()
    })
    .await
    .unwrap()
}
