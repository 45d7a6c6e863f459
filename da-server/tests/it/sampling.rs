use std::time::{Duration, Instant};

use zg_sampler::Availability;
use zg_testkit::da::{Cluster, ClusterOptions, payload};

/// With two quorums of four, the nodes of the quorum that did not certify a payload
/// sample it and report it available (in their API too); the certifying members skip it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nodes_sample_the_other_quorums() {
    let cluster = Cluster::start(ClusterOptions {
        quorum: Some((4, 3)),
        ..ClusterOptions::default()
    })
    .await;
    let chain = cluster.chain_client().await;
    assert_eq!(chain.quorum_count(1).await.unwrap(), 2);
    let rec = cluster.put_ok(payload(150_000, 3)).await;
    let cert = rec.certificate.unwrap();
    let quorum = chain
        .quorum(cert.epoch, cert.quorum_id)
        .await
        .unwrap()
        .unwrap();
    let (members, others): (Vec<usize>, Vec<usize>) =
        (0..8).partition(|&i| quorum.member(cluster.node_keys[i].address()).is_some());
    assert_eq!((members.len(), others.len()), (4, 4));
    let deadline = Instant::now() + Duration::from_secs(60);
    for &i in &others {
        let sampling = cluster.node(i).sampling.as_ref().unwrap();
        loop {
            let r = sampling.availability(&cert.data_root);
            if let Some(r) = r.last()
                && r.status == Availability::Available
            {
                assert_eq!(r.samples_ok, 16);
                break;
            }
            assert!(Instant::now() < deadline, "node {i} never sampled {cert:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    // Over HTTP as well.
    let url = format!(
        "http://{}/sampling/v1/availability/{}",
        cluster.node(others[0]).http_addr,
        cert.data_root
    );
    let v: serde_json::Value = zg_testkit::get_json(&cluster.http, url).await;
    assert_eq!(v["latest"]["status"], "available", "{v}");
    // Members skip their own quorum's data.
    for &i in &members {
        let sampling = cluster.node(i).sampling.as_ref().unwrap();
        assert!(sampling.availability(&cert.data_root).is_empty());
    }
    cluster.shutdown().await;
}

/// The sampling lottery: nodes that keep their columns win rounds on chain with valid
/// cells of their own custody; a node that signed but threw its columns away never does,
/// and is ejected once its quorum has won `ejectAfterWins` times; no honest node is.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nodes_win_the_sampling_lottery_only_with_their_cells() {
    lottery(false).await;
}

/// The whole stack (nodes, disperser, retrieval, lottery) configured with the Solidity
/// module contracts deployed on the chain instead of the precompiles: registration,
/// quorums, anchoring, put/get and the sampling lottery all run through the contracts.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn whole_stack_on_the_solidity_contracts() {
    lottery(true).await;
}

async fn lottery(contracts: bool) {
    use alloy::providers::Provider;
    use alloy::rpc::types::TransactionRequest;
    use alloy::sol_types::{SolCall, SolEvent};
    use alloy_primitives::{Bytes, U256};
    use zg_primitives::abi::{DA_SAMPLING_ADDRESS, IDASampling, IDASigners};
    use zg_testkit::byzantine::Faults;

    const PERIOD: u64 = 10;
    // The forgetful node is ejected at exactly this many wins of the others; an honest
    // node would have had to lose all of them: (6/7)^64 ≈ 5e-5 each (docs/sampler.md).
    const EJECT_AFTER: u64 = 64;
    let forgetful = 5;
    let cluster = Cluster::start(ClusterOptions {
        lottery: true,
        faults: vec![(
            forgetful,
            Faults {
                forget_columns: true,
                ..Faults::default()
            },
        )],
        genesis: Some(std::sync::Arc::new(|g| {
            g.da.sample_period = PERIOD;
            g.da.sample_max_wins = 64;
            g.da.eject_after_wins = EJECT_AFTER;
            // A quarter of all cells win: every honest node wins within a few rounds.
            g.da.sample_initial_target = U256::MAX >> 2;
        })),
        contracts,
        ..ClusterOptions::default()
    })
    .await;
    let sampling = cluster.modules.sampling;
    assert_eq!(sampling == DA_SAMPLING_ADDRESS, !contracts);
    let chain = cluster.chain_client().await;
    let p = chain.provider().clone();
    let data = payload(100_000, 11);
    let rec = cluster.put_ok(data.clone()).await;
    let cert = rec.certificate.unwrap();
    assert!(chain.commitment_exists(&cert).await.unwrap());
    let (status, _, body) = cluster.get_data(&cert.data_root).await;
    assert_eq!((status, body), (200, data));
    let quorum = chain
        .quorum(cert.epoch, cert.quorum_id)
        .await
        .unwrap()
        .unwrap();
    let wins_of = |a| {
        let p = p.clone();
        async move {
            let tx = TransactionRequest::default()
                .to(sampling)
                .input(Bytes::from(IDASampling::winsOfCall { custodian: a }.abi_encode()).into());
            IDASampling::winsOfCall::abi_decode_returns(&p.call(tx).await.unwrap()).unwrap()
        }
    };
    let ejected_until = |a| {
        let p = p.clone();
        let signers = cluster.modules.signers;
        async move {
            let tx = TransactionRequest::default().to(signers).input(
                Bytes::from(IDASigners::ejectedUntilCall { account: a }.abi_encode()).into(),
            );
            IDASigners::ejectedUntilCall::abi_decode_returns(&p.call(tx).await.unwrap()).unwrap()
        }
    };
    let honest: Vec<usize> = (0..8).filter(|&i| i != forgetful).collect();
    let deadline = Instant::now() + Duration::from_secs(150);
    loop {
        // Start the next round (automine: nothing else moves the chain).
        let head = p.get_block_number().await.unwrap();
        let next = (head / PERIOD + 1) * PERIOD;
        let _: serde_json::Value = p
            .raw_request("anvil_mine".into(), (U256::from(next - head),))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let mut all = true;
        for &i in &honest {
            all &= wins_of(cluster.node_keys[i].address()).await > U256::ZERO;
        }
        let out = ejected_until(cluster.node_keys[forgetful].address()).await > U256::ZERO;
        if all && out {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not every honest node won a round, or the forgetful one was not ejected"
        );
    }
    for &i in &honest {
        assert_eq!(
            ejected_until(cluster.node_keys[i].address()).await,
            U256::ZERO,
            "honest node {i} ejected"
        );
    }
    assert_eq!(
        wins_of(cluster.node_keys[forgetful].address()).await,
        U256::ZERO,
        "a node without its columns cannot win"
    );
    // Every recorded win is a custodian's cell of the anchored payload, under the target.
    let logs = zg_testkit::da::logs_of(&p, sampling, IDASampling::SampleWin::SIGNATURE_HASH).await;
    assert!(logs.len() >= honest.len());
    // Ejected exactly when the others' wins reached the rule, and only that node.
    let ejections = zg_testkit::da::logs_of(
        &p,
        cluster.modules.signers,
        IDASigners::SignerEjected::SIGNATURE_HASH,
    )
    .await;
    assert_eq!(ejections.len(), 1);
    let ev = IDASigners::SignerEjected::decode_log(&ejections[0].inner).unwrap();
    assert_eq!(ev.signer, cluster.node_keys[forgetful].address());
    let before: Vec<_> = logs
        .iter()
        .filter(|l| {
            (l.block_number, l.log_index) <= (ejections[0].block_number, ejections[0].log_index)
        })
        .collect();
    assert_eq!(
        before.len() as u64,
        EJECT_AFTER,
        "ejected at the rule's count"
    );
    for l in &logs {
        let w = IDASampling::SampleWin::decode_log(&l.inner).unwrap();
        assert_eq!(w.dataRoot, cert.data_root);
        assert_eq!(
            w.custodian,
            quorum.members[usize::from(w.column) % 8].address
        );
        assert_eq!(w.blobIndex, 0);
    }
    // Metrics say so as well.
    let node = cluster.node(honest[0]);
    let text =
        zg_testkit::get_text(&cluster.http, format!("http://{}/metrics", node.http_addr)).await;
    assert!(
        text.contains("zg_da_node_sample_wins_total{result=\"accepted\"}"),
        "{text}"
    );
    cluster.shutdown().await;
}
