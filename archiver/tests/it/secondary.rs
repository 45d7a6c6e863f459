//! The object-store secondary against a local S3-compatible server (moto, started by the
//! test from the test kit's Python environment): the archiver writes every payload
//! through to the bucket, and once the storage node is gone it serves them from there,
//! refusing an object that was altered.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use alloy::transports::http::reqwest;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use zg_archiver::{ArchiverConfig, Secondary, SecondaryConfig};
use zg_testkit::da::{Cluster, ClusterOptions, TempDir};

const BUCKET: &str = "zg-archive";
const ARCHIVER_ACCOUNT: u32 = 20;

/// moto's S3 server on a free loopback port, with the bucket created; killed on drop.
struct Moto {
    child: Child,
    url: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const MOTO: &str = r#"
import sys, boto3
from moto.server import ThreadedMotoServer
s = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
s.start()
host, port = s.get_host_and_port()
url = f"http://{host}:{port}"
boto3.client("s3", endpoint_url=url, region_name="us-east-1",
             aws_access_key_id="test", aws_secret_access_key="test").create_bucket(Bucket=sys.argv[1])
print(url, flush=True)
sys.stdin.read()
s.stop()
"#;

fn moto() -> Option<Moto> {
    let py = zg_testkit::python::venv_python()?;
    let mut child = Command::new(py)
        .args(["-c", MOTO, BUCKET])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("python");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line.trim().to_string();
    assert!(url.starts_with("http://"), "moto did not start: {line:?}");
    // Keep stdin open (the server stops when it closes).
    let _ = child.stdin.as_mut().unwrap().flush();
    Some(Moto { child, url })
}

fn s3_config(url: &str) -> SecondaryConfig {
    SecondaryConfig {
        url: format!("s3://{BUCKET}/rollup-a"),
        endpoint: Some(url.to_string()),
        allow_http: true,
        region: Some("us-east-1".into()),
        credentials: Some(("test".into(), "test".into())),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_through_to_s3_and_read_back_when_storage_is_gone() {
    let Some(moto) = moto() else {
        return;
    };
    // The archiver pays from an account of its own (the cluster's nodes, disperser and
    // deployer use dev accounts 0 … 9).
    let payer = zg_testkit::dev_signer(ARCHIVER_ACCOUNT);
    let cluster = Cluster::start(ClusterOptions {
        genesis: Some(zg_testkit::da::fund(vec![payer.address()])),
        ..ClusterOptions::default()
    })
    .await;
    let rpc = cluster.chain.rpc_url();
    let (storage, _storage_dir) = zg_testkit::storage::start_node(&rpc, Vec::new()).await;
    let dir = TempDir::new("archiver");
    let mut config = ArchiverConfig::new(dir.0.clone(), vec![storage.rpc_url()]);
    config.from_block = Some(0);
    config.poll_interval = Duration::from_millis(100);
    let running = zg_archiver::start(
        config,
        cluster.chain_config(),
        payer,
        zg_da_client::NetConfig::default(),
        Some(s3_config(&moto.url)),
        TcpListener::bind("127.0.0.1:0").await.unwrap(),
        CancellationToken::new(),
    )
    .await
    .unwrap();
    let payloads: Vec<Vec<u8>> = (0..3u8)
        .map(|i| {
            (0..40_000u32 + u32::from(i) * 70_000)
                .map(|j| (j as u8) ^ i)
                .collect()
        })
        .collect();
    let mut roots = Vec::new();
    for p in &payloads {
        roots.push(cluster.put_ok(p.clone()).await.data_root.unwrap());
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while roots
        .iter()
        .any(|r| !running.archiver.index().contains(r).unwrap())
    {
        assert!(Instant::now() < deadline, "not archived in time");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Written through: the bucket holds each payload.
    let bucket = Secondary::open(&s3_config(&moto.url)).unwrap();
    for (r, p) in roots.iter().zip(&payloads) {
        assert_eq!(&bucket.get(r, p.len() as u64).await.unwrap(), p);
    }
    // The storage node goes away: reads come from the bucket, checked.
    storage.shutdown().await.unwrap();
    let http = reqwest::Client::new();
    let get = |r: alloy_primitives::B256| {
        let http = http.clone();
        let url = format!("{}/v1/payloads/{r}", running.url());
        async move { http.get(url).send().await.unwrap() }
    };
    let resp = get(roots[0]).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-archive-source"], "secondary");
    assert_eq!(resp.bytes().await.unwrap().as_ref(), payloads[0].as_slice());
    // An object altered in the bucket (same size) is refused, not served.
    let mut altered = payloads[1].clone();
    altered[7] ^= 0xff;
    bucket.put(&roots[1], &altered).await.unwrap();
    let resp = get(roots[1]).await;
    assert_eq!(resp.status(), 502, "{}", resp.text().await.unwrap());
    let metrics = http
        .get(format!("{}/metrics", running.url()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("zg_archiver_reads_total{result=\"secondary\"} 1"),
        "{metrics}"
    );
    running.shutdown().await.unwrap();
    cluster.shutdown().await;
}
