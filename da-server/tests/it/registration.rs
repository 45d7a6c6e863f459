//! DA nodes register for every epoch however short it is: on Hardhat as a new user runs
//! it (a block per transaction plus one every 0.5 s) with 10-block epochs, eight nodes on
//! default registration settings form a quorum. (With a fixed 5 s poll no quorum formed
//! in 4 minutes: by each poll the epoch a node registered for had passed.)
//!
//! Skipped with a notice where Node.js is absent (see `zg_testkit::hardhat`).

use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use zg_da_server::node::NodeConfig;
use zg_da_server::{ChainClient, ChainConfig, NodeKeys};
use zg_node_kit::FinalityRule;
use zg_testkit::da::{NODES, TempDir, node_config};
use zg_testkit::dev_signer;
use zg_testkit::hardhat::Hardhat;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quorums_form_with_short_epochs_on_hardhat() {
    zg_testkit::init_tracing();
    let Some(hh) = Hardhat::start().await else {
        return;
    };
    let modules = hh.deploy_da_modules(|da| da.epoch_blocks = 10).await;
    hh.interval_mining(Duration::from_millis(500)).await;
    let mut chain = ChainConfig::new(hh.url());
    chain.modules = modules;
    chain.finality = FinalityRule::Confirmations(1);

    let dirs: Vec<TempDir> = (0..NODES)
        .map(|i| TempDir::new(&format!("reg{i}")))
        .collect();
    let mut nodes = Vec::new();
    for (i, dir) in dirs.iter().enumerate() {
        let keys = NodeKeys::from_eth_key(dev_signer(i as u32 + 1), b"zg-da-test");
        // The settings a new user runs with, but for loopback networking.
        let defaults = NodeConfig::new(dir.0.clone(), keys.clone(), chain.clone());
        let mut c = node_config(dir.0.clone(), keys, chain.clone(), i, false);
        c.registration_interval = defaults.registration_interval;
        c.head_poll = defaults.head_poll;
        let http = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        nodes.push(
            zg_da_server::node::start_with(c, http, CancellationToken::new(), None)
                .await
                .unwrap(),
        );
    }
    let client = ChainClient::connect(chain, None).await.unwrap();
    let started = Instant::now();
    let formed = loop {
        let epoch = client.epoch().await.unwrap();
        if client.quorum_count(epoch).await.unwrap() >= 1 {
            break epoch;
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "no quorum formed in 90 s (epoch {epoch})"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    // And the next epochs keep forming quorums.
    let mut later = 0;
    while later < 3 {
        let epoch = client.epoch().await.unwrap();
        if epoch > formed + later {
            assert!(
                client.quorum_count(epoch).await.unwrap() >= 1,
                "epoch {epoch} has no quorum"
            );
            later += 1;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "epochs stopped"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!(
        "first quorum in epoch {formed} after {:.1} s",
        started.elapsed().as_secs_f64()
    );
    for n in nodes {
        n.shutdown().await.unwrap();
    }
}
