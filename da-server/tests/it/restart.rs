use std::time::Duration;

use alloy_sol_types::SolEvent;
use zg_da_server::{BlobStatus, Frame, Network};
use zg_primitives::abi::{DA_ENTRANCE_ADDRESS, IDAEntrance};
use zg_primitives::{Kzg, SampleRequest, SampleResponse, custody_columns, verify_columns};

use zg_testkit::da::{Cluster, ClusterOptions, payload};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn disperser_restart_mid_dispersal_completes_once() {
    let mut cluster = Cluster::start(ClusterOptions::default()).await;
    let data = payload(4 << 20, 11);
    let resp = cluster
        .http
        .post(cluster.api("/v1/blobs"))
        .body(data.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 202);
    let v: serde_json::Value = resp.json().await.unwrap();
    let id: alloy_primitives::B256 = v["id"].as_str().unwrap().parse().unwrap();
    // Stop as soon as the columns are on their way.
    let d = cluster.disperser.as_ref().unwrap().disperser.clone();
    for _ in 0..2000 {
        let s = d.status(id).await.unwrap().unwrap().status;
        if matches!(
            s,
            BlobStatus::Dispersing | BlobStatus::Anchoring | BlobStatus::Confirmed
        ) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    drop(d);
    cluster.stop_disperser().await;
    cluster.start_disperser().await;
    let d = cluster.disperser.as_ref().unwrap().disperser.clone();
    let rec = d.wait(id, Duration::from_secs(120)).await.unwrap();
    assert_eq!(rec.status, BlobStatus::Confirmed, "{rec:?}");
    let cert = rec.certificate.unwrap();
    // Anchored exactly once.
    let chain = cluster.chain_client().await;
    let logs = zg_testkit::da::logs_of(
        chain.provider(),
        DA_ENTRANCE_ADDRESS,
        IDAEntrance::ErasureCommitmentVerified::SIGNATURE_HASH,
    )
    .await;
    let anchors = logs
        .iter()
        .filter_map(|l| IDAEntrance::ErasureCommitmentVerified::decode_log_data(l.data()).ok())
        .filter(|e| e.dataRoot == cert.data_root)
        .count();
    assert_eq!(anchors, 1);
    // At least a threshold of nodes hold it (a node keeps one copy per data_root).
    let holding = (0..8)
        .filter(|&i| cluster.node(i).service.store().payload_count() == 1)
        .count();
    assert!(holding >= 6, "{holding} nodes hold the payload");
    let (status, _, body) = cluster.get_data(&cert.data_root).await;
    assert_eq!(status, 200);
    assert!(body == data);
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn node_restart_keeps_its_columns() {
    let mut cluster = Cluster::start(ClusterOptions::default()).await;
    let data = payload(500_000, 12);
    let rec = cluster.put_ok(data.clone()).await;
    let root = rec.data_root.unwrap();
    let cert = rec.certificate.unwrap();
    // Certification needs only 6 of 8 signatures: wait until node 3 has stored too.
    for _ in 0..200 {
        let store = cluster.node(3).service.store();
        if store
            .attestation(&root, cert.epoch, cert.quorum_id)
            .unwrap()
            .is_some()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let quorum = cluster.quorum(1, 0).await;
    let me = quorum.member(cluster.node_keys[3].address()).unwrap().index;
    cluster.stop_node(3).await;
    cluster.start_node(3).await;
    // Ask the restarted node directly for its columns.
    let (client, _task) = zg_testkit::da::client_network().await;
    let cols = custody_columns(me, 8);
    let resp = client
        .sample(
            &cluster.node(3).socket,
            Frame::Msg(SampleRequest {
                data_root: root,
                columns: cols.clone(),
            }),
        )
        .await
        .unwrap();
    let Frame::Msg(SampleResponse::Columns(got)) = resp else {
        panic!("unexpected {resp:?}")
    };
    assert_eq!(got.iter().map(|c| c.index).collect::<Vec<_>>(), cols);
    let header = cluster
        .node(3)
        .service
        .store()
        .header(&root)
        .unwrap()
        .unwrap();
    verify_columns(Kzg::mainnet(), &header, &got).unwrap();
    let (status, _, body) = cluster.get_data(&root).await;
    assert_eq!(status, 200);
    assert!(body == data);
    cluster.shutdown().await;
}

/// A DA node process killed with SIGKILL keeps what it acknowledged.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killed_node_process_keeps_acknowledged_columns() {
    const EXTERNAL: usize = 5;
    let cluster = Cluster::start(ClusterOptions {
        external_nodes: vec![EXTERNAL],
        stay_in_epoch_zero: true,
        ..ClusterOptions::default()
    })
    .await;
    let dir = zg_testkit::da::TempDir::new("process-node");
    let key = dir.0.join("node.key");
    cluster.node_keys[EXTERNAL].write(&key).unwrap();
    let address = cluster.node_keys[EXTERNAL].address();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let spawn = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_zg-da-server"))
            .arg("node")
            .arg("--key")
            .arg(&key)
            .arg("--datadir")
            .arg(dir.0.join("db"))
            .args(["--chain.rpc", &cluster.chain.rpc_url()])
            .args(["--p2p.listen", &format!("/ip4/127.0.0.1/tcp/{port}")])
            .args(["--http.addr", "127.0.0.1:0", "--registration.interval", "1"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    let mut child = spawn();
    let chain = cluster.chain_client().await;
    for _ in 0..300 {
        if chain.registered_for_epoch(address, 1).await.unwrap() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    cluster.enter_epoch_one().await;
    let data = payload(300_000, 21);
    let rec = cluster.put_ok(data.clone()).await;
    let root = rec.data_root.unwrap();
    let quorum = chain.quorum(1, 0).await.unwrap().unwrap();
    let member = quorum.member(address).unwrap().clone();
    let cols = custody_columns(member.index, 8);
    let (client, _task) = zg_testkit::da::client_network().await;
    let header = cluster
        .node(0)
        .service
        .store()
        .header(&root)
        .unwrap()
        .unwrap();
    // Served once acknowledged (it may have answered after the threshold was reached).
    let served = |client: Network, socket: String, cols: Vec<u16>| async move {
        for _ in 0..200 {
            let req = Frame::Msg(SampleRequest {
                data_root: root,
                columns: cols.clone(),
            });
            if let Ok(Frame::Msg(SampleResponse::Columns(got))) = client.sample(&socket, req).await
            {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("columns never served");
    };
    let before = served(client.clone(), member.socket.clone(), cols.clone()).await;
    verify_columns(Kzg::mainnet(), &header, &before).unwrap();

    child.kill().unwrap(); // SIGKILL: no flush, no shutdown
    child.wait().unwrap();
    let mut child = spawn();
    let after = served(client.clone(), member.socket.clone(), cols.clone()).await;
    assert_eq!(before, after);
    child.kill().unwrap();
    child.wait().unwrap();
    cluster.shutdown().await;
}
