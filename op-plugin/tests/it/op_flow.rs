use alloy_primitives::U256;
use futures::future::join_all;
use zg_da_server::{ChainClient, ChainConfig, DisperserConfig};
use zg_op_plugin::{PluginConfig, UpstreamConfig};
use zg_primitives::{AltDaCommitment, Certificate, Kzg};
use zg_testkit::da::{Cluster, ClusterOptions, TempDir, dev_signer};

use crate::{OpClient, batch, keccak_commitment, metric, start_plugin};

fn disperser_requests(cluster: &Cluster) -> u64 {
    cluster
        .disperser
        .as_ref()
        .unwrap()
        .disperser
        .metrics()
        .requests
        .get()
}

/// The OP flow end to end: generic and keccak puts as op-batcher sends them, gets as
/// op-node sends them, from the plugin that put (cache) and from a fresh plugin that must
/// retrieve from the DA nodes; idempotent re-puts; concurrent puts.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn generic_and_keccak_round_trips() {
    let cluster = Cluster::start(ClusterOptions::default()).await;
    let dir = TempDir::new("plugin-a");
    let plugin = start_plugin(&cluster, &dir, |_| {}).await;
    let client = OpClient::new(&plugin);

    // Generic: 120 KB, op-batcher's default frame size.
    let data = batch(120_000 - 1 - 23, 1);
    assert_eq!(data.len(), 120_000);
    let put = client.put_generic(&data).await;
    assert_eq!(put.status, 200, "{}", String::from_utf8_lossy(&put.body));
    assert_eq!(put.body.len(), 50);
    assert_eq!(&put.body[..2], &[0x01, 0x47]);
    assert_eq!(put.headers["content-type"], "application/octet-stream");
    let AltDaCommitment::Generic(cert) = AltDaCommitment::from_bytes(&put.body).unwrap() else {
        panic!("generic commitment expected");
    };
    assert_eq!(cert.epoch, 1);
    let chain = cluster.chain_client().await;
    assert!(chain.commitment_exists(&cert).await.unwrap());
    let got = client.get(&put.body).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.headers["x-zg-source"], "cache");
    assert!(got.body == data, "byte-identical");

    // Keccak mode: empty 200, then a get by the keccak commitment.
    let kdata = batch(50_000, 2);
    let kput = client.put_keccak(&kdata).await;
    assert_eq!(kput.status, 200, "{}", String::from_utf8_lossy(&kput.body));
    assert!(kput.body.is_empty());
    let kget = client.get(&keccak_commitment(&kdata)).await;
    assert_eq!(kget.status, 200);
    assert!(kget.body == kdata);

    // Idempotence: the batcher re-submits after a timeout; PUT and `/put/` are served
    // too. Same commitment, no new dispersal.
    let before = disperser_requests(&cluster);
    let again = client.put_generic(&data).await;
    assert_eq!(again.body, put.body);
    let via_put = client
        .send(client.raw().put(client.url("/put/")).body(data.clone()))
        .await;
    assert_eq!((via_put.status, &via_put.body), (200, &put.body));
    assert_eq!(client.put_keccak(&kdata).await.status, 200);
    assert_eq!(disperser_requests(&cluster), before, "no second dispersal");

    // A second plugin (its own store, empty cache) retrieves from the DA nodes and
    // verifies against the chain.
    let dir_b = TempDir::new("plugin-b");
    let other = start_plugin(&cluster, &dir_b, |_| {}).await;
    let other_client = OpClient::new(&other);
    let fetched = other_client.get(&put.body).await;
    assert_eq!(fetched.status, 200);
    assert_ne!(fetched.headers["x-zg-source"], "cache");
    assert!(fetched.body == data);
    // Then it has it cached.
    let fetched = other_client.get(&put.body).await;
    assert_eq!(fetched.headers["x-zg-source"], "cache");
    // Keccak mappings are per plugin store: the other plugin never saw that put.
    assert_eq!(
        other_client.get(&keccak_commitment(&kdata)).await.status,
        404
    );

    // Concurrent puts, as with `--altda.max-concurrent-da-requests`: 8 distinct bodies
    // and 4 copies of one more, all at once.
    let before = disperser_requests(&cluster);
    let bodies: Vec<Vec<u8>> = (0..8).map(|i| batch(20_000 + i, 100 + i as u64)).collect();
    let dup = batch(30_000, 200);
    let puts = bodies.iter().chain(std::iter::repeat_n(&dup, 4));
    let answers = join_all(puts.map(|b| client.put_generic(b))).await;
    for a in &answers {
        assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    }
    let dup_commitments: Vec<&Vec<u8>> = answers[8..].iter().map(|a| &a.body).collect();
    assert!(dup_commitments.iter().all(|c| *c == dup_commitments[0]));
    assert_eq!(disperser_requests(&cluster), before + 9);
    for (b, a) in bodies.iter().zip(&answers) {
        let got = other_client.get(&a.body).await;
        assert_eq!(got.status, 200);
        assert!(&got.body == b);
    }

    // Metrics by route and status, frames and channels.
    let m = client.get_path("/metrics").await;
    let text = String::from_utf8(m.body).unwrap();
    assert!(
        metric(
            &text,
            "zg_op_plugin_requests_total{route=\"put\",method=\"POST\",status=\"200\"}"
        ) >= 14.0,
        "{text}"
    );
    assert!(metric(&text, "zg_op_plugin_frames_total") >= 15.0, "{text}");
    assert!(
        metric(&text, "zg_op_plugin_channels_total") >= 11.0,
        "{text}"
    );
    assert!(metric(&text, "zg_op_plugin_puts_total{result=\"duplicate\"}") >= 3.0);
    assert_eq!(client.get_path("/health").await.status, 200);

    other.shutdown().await.unwrap();
    plugin.shutdown().await.unwrap();
    cluster.shutdown().await;
}

/// The plugin with a disperser in its own process (`UpstreamConfig::Local`).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn embedded_disperser_round_trip() {
    let cluster = Cluster::start(ClusterOptions::default()).await;
    // The embedded disperser pays from its own account: deposit first.
    let account = dev_signer(0);
    let payer = ChainClient::connect(
        ChainConfig::new(cluster.chain.rpc_url()),
        Some(account.clone()),
    )
    .await
    .unwrap();
    payer.deposit(U256::from(10u128.pow(18))).await.unwrap();
    let dir = TempDir::new("plugin-embedded");
    let mut config = PluginConfig::new(dir.0.clone());
    config.strict_frames = true;
    let dc = DisperserConfig::new(
        dir.0.join("disperser"),
        account,
        ChainConfig::new(cluster.chain.rpc_url()),
    );
    // The disperser runs in this process and is handed to the plugin as its
    // certificate source (the plugin crate itself knows only `zg_da_client::Disperse`).
    let api = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let embedded =
        zg_da_server::disperser::start(dc, api, tokio_util::sync::CancellationToken::new())
            .await
            .unwrap();
    let d = embedded.disperser.clone();
    let plugin = start_local(config, std::sync::Arc::new(d.clone()), &d).await;
    let client = OpClient::new(&plugin);
    let data = batch(70_000, 9);
    let put = client.put_generic(&data).await;
    assert_eq!(put.status, 200, "{}", String::from_utf8_lossy(&put.body));
    let cert: Certificate = match AltDaCommitment::from_bytes(&put.body).unwrap() {
        AltDaCommitment::Generic(c) => c,
        other => panic!("{other:?}"),
    };
    assert!(
        cluster
            .chain_client()
            .await
            .commitment_exists(&cert)
            .await
            .unwrap()
    );
    let got = client.get(&put.body).await;
    assert!(got.status == 200 && got.body == data);
    // Strict mode: a body that is not derivation data is refused, nothing dispersed.
    let refused = client.put_generic(b"\x01not frames").await;
    assert_eq!(refused.status, 400);
    assert!(
        refused.message().contains("strict"),
        "{}",
        refused.message()
    );
    plugin.shutdown().await.unwrap();

    // A disperser that lies: the certificate of other (anchored) data, then one with
    // the body's data_root that was never anchored. Both are refused with 503 and
    // nothing is cached or remembered.
    let other = batch(30_000, 10);
    let unanchored = Certificate {
        data_root: zg_primitives::payload_data_root(Kzg::mainnet(), &other).unwrap(),
        ..cert
    };
    for (lie, needle) in [(cert, "names data_root"), (unanchored, "not anchored")] {
        let dir = TempDir::new("plugin-lied-to");
        let config = PluginConfig::new(dir.0.clone());
        let lying = start_local(config, std::sync::Arc::new(Lying(lie)), &d).await;
        let c = OpClient::new(&lying);
        let put = c.put_generic(&other).await;
        assert_eq!(put.status, 503, "{}", String::from_utf8_lossy(&put.body));
        assert!(put.message().contains(needle), "{}", put.message());
        let commitment = AltDaCommitment::Generic(lie).to_bytes();
        if lie == unanchored {
            // Not cached: a get of the lie finds nothing anchored.
            assert_eq!(c.get(&commitment).await.status, 404);
        }
        let metrics = String::from_utf8(c.get_path("/metrics").await.body).unwrap();
        assert!(metrics.contains("result=\"bad_certificate\""), "{metrics}");
        lying.shutdown().await.unwrap();
    }
    embedded.shutdown().await.unwrap();
    cluster.shutdown().await;
}

/// A certificate source that answers every put with the same certificate.
#[derive(Debug)]
struct Lying(Certificate);

impl zg_da_client::Disperse for Lying {
    fn disperse(
        &self,
        _payload: alloy_primitives::Bytes,
        _deadline: std::time::Instant,
    ) -> zg_da_client::disperse::BoxFuture<'_, Result<Certificate, zg_da_client::DisperseFailure>>
    {
        let cert = self.0;
        Box::pin(async move { Ok(cert) })
    }

    fn status(
        &self,
        _id: alloy_primitives::B256,
    ) -> zg_da_client::disperse::BoxFuture<
        '_,
        Result<Option<zg_da_client::BlobRecord>, zg_da_client::DisperseFailure>,
    > {
        Box::pin(async { Ok(None) })
    }
}

/// A plugin over a certificate source in this process, reading through `d`'s retrieval
/// and chain clients.
async fn start_local(
    config: PluginConfig,
    source: std::sync::Arc<dyn zg_da_client::Disperse>,
    d: &zg_da_server::Disperser,
) -> zg_op_plugin::RunningPlugin {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    zg_op_plugin::start(
        config,
        UpstreamConfig::Local {
            disperser: source,
            retriever: d.retriever().clone(),
            chain: d.chain().clone(),
        },
        listener,
        tokio_util::sync::CancellationToken::new(),
    )
    .await
    .unwrap()
}
