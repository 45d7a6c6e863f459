//! Chain throughput: transfers per second into blocks, `submitVerifiedCommitRoots` per
//! second with an 8-member quorum, and `eth_call` latency. Writes JSON to stdout and to
//! `target/bench/chain.json`.
//!
//! `cargo bench -p zg-chain --bench throughput`

use std::time::{Duration, Instant};

use alloy_consensus::{SignableTransaction, TxEip1559, TxEnvelope};
use alloy_eips::eip2718::Encodable2718;
use alloy_primitives::{Address, B256, Bytes, TxKind, U256};
use alloy_signer::SignerSync;
use alloy_signer_local::PrivateKeySigner;
use alloy_sol_types::SolCall;
use serde_json::json;
use zg_chain::{EthApi, Genesis, Node, NodeConfig, dev_accounts};
use zg_primitives::abi::{DA_ENTRANCE_ADDRESS, DA_SIGNERS_ADDRESS, IDAEntrance, IDASigners};
use zg_primitives::{
    BlsSecretKey, aggregate_signatures, attestation_message, epoch_registration_message,
    signer_bitmap,
};

const CHAIN: u64 = 31337;

fn sign(
    s: &PrivateKeySigner,
    nonce: u64,
    to: Address,
    value: U256,
    input: Vec<u8>,
    gas: u64,
) -> Vec<u8> {
    let tx = TxEip1559 {
        chain_id: CHAIN,
        nonce,
        gas_limit: gas,
        max_fee_per_gas: 100_000_000_000,
        max_priority_fee_per_gas: 1_000_000_000,
        to: TxKind::Call(to),
        value,
        access_list: Default::default(),
        input: Bytes::from(input),
    };
    let sig = s.sign_hash_sync(&tx.signature_hash()).unwrap();
    TxEnvelope::Eip1559(tx.into_signed(sig)).encoded_2718()
}

async fn drain(node: &Node) -> (u64, Duration) {
    let start = Instant::now();
    let mut blocks = 0;
    while node.pool_len() > 0 {
        node.mine_one().await.unwrap();
        blocks += 1;
    }
    (blocks, start.elapsed())
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let dir = std::env::temp_dir().join(format!("zg-chain-bench-{}", std::process::id()));
    let mut genesis = Genesis::default();
    genesis.da.epoch_blocks = 1_000;
    let config = NodeConfig {
        genesis,
        block_time: Duration::from_secs(3600),
        pool: zg_chain::mempool::PoolLimits {
            max: 100_000,
            per_sender: 1_000,
            max_nonce_gap: 1_000,
            ..Default::default()
        },
        ..NodeConfig::default()
    };
    let node = Node::open(&dir, config).unwrap();
    let accounts = dev_accounts(10);

    // 1. Transfers: 10 senders × 1000 transactions.
    let per_sender = 1_000u64;
    let raw: Vec<Vec<u8>> = (0..per_sender)
        .flat_map(|n| accounts.iter().map(move |a| (a.clone(), n)))
        .map(|(a, n)| {
            sign(
                &a,
                n,
                Address::repeat_byte(0x77),
                U256::from(1),
                vec![],
                21_000,
            )
        })
        .collect();
    let t = Instant::now();
    for r in &raw {
        node.submit_raw(r).unwrap();
    }
    let admit = t.elapsed();
    let (blocks, took) = drain(&node).await;
    let transfers = raw.len() as f64;
    let transfer_tps = transfers / took.as_secs_f64();
    let admit_tps = transfers / admit.as_secs_f64();

    // 2. eth_call latency (a module view and a balance read through the RPC layer).
    let api = EthApi::new(node.clone());
    let call = json!([{ "to": DA_ENTRANCE_ADDRESS, "data": Bytes::from(IDAEntrance::blobFeeCall {}.abi_encode()) }, "latest"]);
    let mut lat = Vec::new();
    for _ in 0..2_000 {
        let t = Instant::now();
        api.call("eth_call", call.as_array().unwrap().clone())
            .await
            .unwrap();
        lat.push(t.elapsed().as_secs_f64() * 1e6);
    }
    let (call_p50, call_p99) = (percentile(&mut lat, 0.5), percentile(&mut lat, 0.99));

    // 3. submitVerifiedCommitRoots with an 8-member quorum.
    let signers: Vec<(PrivateKeySigner, BlsSecretKey)> = (1..=8)
        .map(|i| {
            (
                accounts[i].clone(),
                BlsSecretKey::from_ikm(&[i as u8; 32]).unwrap(),
            )
        })
        .collect();
    let nonce = |a: &PrivateKeySigner| node.pending_nonce(&a.address()).unwrap();
    // One call to the signers module, sent by `eth`.
    let to_signers = |eth: &PrivateKeySigner, data: Vec<u8>| {
        node.submit_raw(&sign(
            eth,
            nonce(eth),
            DA_SIGNERS_ADDRESS,
            U256::ZERO,
            data,
            1_000_000,
        ))
        .unwrap();
    };
    for (eth, bls) in &signers {
        let c = IDASigners::registerSignerCall {
            signer: IDASigners::SignerDetail {
                signer: eth.address(),
                socket: "/ip4/127.0.0.1/tcp/1".into(),
                pubkey: Bytes::copy_from_slice(&bls.public_key().0),
            },
            pop: Bytes::copy_from_slice(&bls.proof_of_possession(CHAIN, eth.address()).0),
        };
        to_signers(eth, c.abi_encode());
    }
    drain(&node).await;
    let epoch = node.head().header.number / 1_000 + 1;
    for (eth, bls) in &signers {
        let sig = bls.sign(&epoch_registration_message(CHAIN, eth.address(), epoch));
        let c = IDASigners::registerNextEpochCall {
            signature: Bytes::copy_from_slice(&sig.0),
        };
        to_signers(eth, c.abi_encode());
    }
    drain(&node).await;
    while node.head().header.number < epoch * 1_000 {
        node.mine_one().await.unwrap();
    }
    let disperser = &accounts[9];
    node.submit_raw(&sign(
        disperser,
        nonce(disperser),
        DA_ENTRANCE_ADDRESS,
        U256::from(10u64).pow(U256::from(21)),
        IDAEntrance::depositCall {}.abi_encode(),
        200_000,
    ))
    .unwrap();
    drain(&node).await;
    // Quorum order = by ballot.
    let quorum_call = IDASigners::getQuorumCall {
        epoch: U256::from(epoch),
        quorumId: U256::ZERO,
    };
    let out = api
        .call(
            "eth_call",
            vec![
                json!({ "to": DA_SIGNERS_ADDRESS, "data": Bytes::from(quorum_call.abi_encode()) }),
                json!("latest"),
            ],
        )
        .await
        .unwrap();
    let out: Bytes = serde_json::from_value(out).unwrap();
    let members = IDASigners::getQuorumCall::abi_decode_returns(&out).unwrap();
    let submission = |i: u64| {
        let root = B256::from(U256::from(i + 1));
        let msg = attestation_message(CHAIN, root, epoch, 0, 9);
        let who = [0usize, 1, 2, 3, 4, 5];
        let sigs: Vec<_> = who
            .iter()
            .map(|&k| {
                signers
                    .iter()
                    .find(|(e, _)| e.address() == members[k])
                    .unwrap()
                    .1
                    .sign(&msg)
            })
            .collect();
        IDAEntrance::CommitRootSubmission {
            dataRoot: root,
            epoch: U256::from(epoch),
            quorumId: U256::ZERO,
            blobCount: U256::from(9),
            signersBitmap: signer_bitmap(8, who).unwrap().into(),
            aggregateSignature: Bytes::copy_from_slice(&aggregate_signatures(&sigs).unwrap().0),
        }
    };
    let n_single = 300u64;
    let base = nonce(disperser);
    let raw: Vec<Vec<u8>> = (0..n_single)
        .map(|i| {
            let c = IDAEntrance::submitVerifiedCommitRootsCall {
                submissions: vec![submission(i)],
            };
            sign(
                disperser,
                base + i,
                DA_ENTRANCE_ADDRESS,
                U256::ZERO,
                c.abi_encode(),
                400_000,
            )
        })
        .collect();
    for r in &raw {
        node.submit_raw(r).unwrap();
    }
    let (sub_blocks, took) = drain(&node).await;
    let single_rate = n_single as f64 / took.as_secs_f64();
    // Batched: 20 submissions per transaction.
    let base = nonce(disperser);
    let raw: Vec<Vec<u8>> = (0..15u64)
        .map(|t| {
            let subs = (0..20).map(|k| submission(10_000 + t * 20 + k)).collect();
            let c = IDAEntrance::submitVerifiedCommitRootsCall { submissions: subs };
            sign(
                disperser,
                base + t,
                DA_ENTRANCE_ADDRESS,
                U256::ZERO,
                c.abi_encode(),
                8_000_000,
            )
        })
        .collect();
    for r in &raw {
        node.submit_raw(r).unwrap();
    }
    let (_, took_batched) = drain(&node).await;
    let batched_rate = 300.0 / took_batched.as_secs_f64();
    // Physical limit: the aggregate BLS check each anchor needs, straight from blst in
    // the same run (one core, as block execution is).
    let keys: Vec<_> = members
        .iter()
        .map(|m| {
            signers
                .iter()
                .find(|(e, _)| e.address() == *m)
                .unwrap()
                .1
                .public_key()
        })
        .collect();
    let s = submission(99_999);
    let sig = zg_primitives::BlsSignature::try_from(s.aggregateSignature.as_ref()).unwrap();
    let msg = attestation_message(CHAIN, s.dataRoot, epoch, 0, 9);
    let t = Instant::now();
    for _ in 0..300 {
        zg_primitives::verify_quorum_aggregate(&keys, &s.signersBitmap, &sig, &msg, 6).unwrap();
    }
    let raw_bls_per_second = 300.0 / t.elapsed().as_secs_f64();

    let report = json!({
        "transfers": { "count": transfers, "blocks": blocks, "included_per_second": transfer_tps, "admitted_per_second": admit_tps },
        "eth_call_us": { "p50": call_p50, "p99": call_p99, "samples": 2000 },
        "submit_verified_commit_roots": {
            "quorum": 8, "signers": 6,
            "one_per_tx_per_second": single_rate, "blocks": sub_blocks,
            "twenty_per_tx_per_second": batched_rate,
            "raw_bls_aggregate_verify_per_second": raw_bls_per_second,
            "batched_vs_raw_bls": batched_rate / raw_bls_per_second
        }
    });
    println!("{}", serde_json::to_string_pretty(&report).unwrap());
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench");
    let _ = std::fs::create_dir_all(&out);
    let _ = std::fs::write(
        out.join("chain.json"),
        serde_json::to_string_pretty(&report).unwrap(),
    );
    node.shutdown().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
