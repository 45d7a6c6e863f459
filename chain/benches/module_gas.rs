//! Gas of the DA modules, precompiles against the Solidity contracts on the same chain:
//! `registerSigner`, `registerNextEpoch`, `submitVerifiedCommitRoots` with quorums of 8
//! and 64 signers (all signing) and a winning `submitSamplingResponse`. Gas is
//! deterministic, so one run of each suffices. Writes JSON to stdout and to
//! `target/bench/module_gas.json`.
//!
//! `cargo bench --workspace --bench module_gas`

use std::time::Duration;

use alloy::network::TransactionBuilder;
use alloy::primitives::{Address, Bytes, U256, keccak256};
use alloy::providers::{DynProvider, Provider};
use alloy::rpc::types::{TransactionReceipt, TransactionRequest};
use alloy::signers::local::PrivateKeySigner;
use alloy_sol_types::SolCall;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use zg_chain::contracts::{DeployedModules, ModuleContract, deploy};
use zg_chain::{Genesis, NodeConfig};
use zg_primitives::abi::{
    DA_ENTRANCE_ADDRESS, DA_SAMPLING_ADDRESS, DA_SIGNERS_ADDRESS, IDAEntrance, IDASampling,
    IDASigners,
};
use zg_primitives::{
    BlsSecretKey, Kzg, aggregate_signatures, attestation_message, encode,
    epoch_registration_message, sample_quality, signer_bitmap,
};

// The chain tests' helpers (a provider per key, a transaction mined, blocks mined);
// this bench uses a few of them.
#[allow(dead_code)]
#[path = "../tests/it/helpers.rs"]
mod helpers;

use helpers::{mine_to, mined, provider};

const CHAIN: u64 = 31337;
const EPOCH_BLOCKS: u64 = 1000;
const PERIOD: u64 = 50;

async fn send(p: &DynProvider, to: Address, data: Vec<u8>, value: U256) -> TransactionReceipt {
    let tx = TransactionRequest::default()
        .with_to(to)
        .with_input(data)
        .with_value(value);
    let r = mined(p, tx).await;
    assert!(r.status(), "transaction reverted");
    r
}

async fn view<C: SolCall>(p: &DynProvider, to: Address, c: C) -> C::Return {
    let tx = TransactionRequest::default()
        .with_to(to)
        .with_input(c.abi_encode());
    C::abi_decode_returns(&p.call(tx).await.unwrap()).unwrap()
}

struct Member {
    eth: PrivateKeySigner,
    bls: BlsSecretKey,
    p: DynProvider,
}

/// Gas figures of one implementation with a quorum of `n`.
async fn measure(contracts: bool, n: usize, sampling: bool) -> Value {
    let dir = std::env::temp_dir().join(format!(
        "zg-module-gas-{}-{contracts}-{n}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    let keys: Vec<PrivateKeySigner> = (0..n as u64)
        .map(|i| PrivateKeySigner::from_bytes(&keccak256(format!("gas-member-{i}"))).unwrap())
        .collect();
    let mut genesis = Genesis::default();
    genesis.da.epoch_blocks = EPOCH_BLOCKS;
    genesis.da.quorum_size = n as u64;
    genesis.da.quorum_threshold = (n as u64 * 2).div_ceil(3);
    genesis.da.max_quorums = 1;
    genesis.da.sample_period = PERIOD;
    genesis.da.sample_initial_target = U256::MAX >> 1;
    let rich = U256::from(10u64).pow(U256::from(21));
    for k in &keys {
        genesis.alloc.insert(k.address(), rich);
    }
    let da = genesis.da.clone();
    let config = NodeConfig {
        genesis,
        block_time: Duration::ZERO,
        ..NodeConfig::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let chain = zg_chain::start(&dir, config, listener, CancellationToken::new())
        .await
        .unwrap();
    let url = chain.rpc_url();
    let dev = zg_chain::dev_account;
    let admin = provider(&url, dev(0));
    let m = if contracts {
        deploy(&admin, &da, Duration::from_secs(60)).await.unwrap()
    } else {
        DeployedModules {
            signers: DA_SIGNERS_ADDRESS,
            entrance: DA_ENTRANCE_ADDRESS,
            sampling: DA_SAMPLING_ADDRESS,
        }
    };
    let members: Vec<Member> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| Member {
            eth: k.clone(),
            bls: BlsSecretKey::from_ikm(keccak256(format!("gas-bls-{i}")).as_slice()).unwrap(),
            p: provider(&url, k.clone()),
        })
        .collect();

    let mut register = Vec::new();
    let mut next_epoch = Vec::new();
    for (i, s) in members.iter().enumerate() {
        let c = IDASigners::registerSignerCall {
            signer: IDASigners::SignerDetail {
                signer: s.eth.address(),
                socket: format!("/ip4/127.0.0.1/tcp/{}", 9000 + i),
                pubkey: Bytes::copy_from_slice(&s.bls.public_key().0),
            },
            pop: Bytes::copy_from_slice(&s.bls.proof_of_possession(CHAIN, s.eth.address()).0),
        };
        register.push(
            send(
                &s.p,
                m.signers,
                c.abi_encode(),
                zg_chain::DaParams::default().min_stake,
            )
            .await
            .gas_used,
        );
    }
    let epoch = 1u64;
    for s in &members {
        let sig = s
            .bls
            .sign(&epoch_registration_message(CHAIN, s.eth.address(), epoch));
        let c = IDASigners::registerNextEpochCall {
            signature: Bytes::copy_from_slice(&sig.0),
        };
        next_epoch.push(
            send(&s.p, m.signers, c.abi_encode(), U256::ZERO)
                .await
                .gas_used,
        );
    }
    mine_to(&admin, EPOCH_BLOCKS).await;
    let quorum = view(
        &admin,
        m.signers,
        IDASigners::getQuorumCall {
            epoch: U256::from(epoch),
            quorumId: U256::ZERO,
        },
    )
    .await;
    let by_addr = |a: &Address| members.iter().find(|s| s.eth.address() == *a).unwrap();
    let disperser = provider(&url, dev(9));
    send(
        &disperser,
        m.entrance,
        IDAEntrance::depositCall {}.abi_encode(),
        U256::from(10u64).pow(U256::from(18)),
    )
    .await;
    let payload: Vec<u8> = (0..100_000u32).map(|i| (i * 7 + 1) as u8).collect();
    let encoded = encode(Kzg::mainnet(), &payload, 1 << 24).unwrap();
    let blobs = encoded.header.commitments.len() as u64;
    let msg = attestation_message(CHAIN, encoded.data_root, epoch, 0, blobs as u32);
    let sigs: Vec<_> = quorum.iter().map(|a| by_addr(a).bls.sign(&msg)).collect();
    let submission = IDAEntrance::submitVerifiedCommitRootsCall {
        submissions: vec![IDAEntrance::CommitRootSubmission {
            dataRoot: encoded.data_root,
            epoch: U256::from(epoch),
            quorumId: U256::ZERO,
            blobCount: U256::from(blobs),
            signersBitmap: signer_bitmap(n, 0..n).unwrap().into(),
            aggregateSignature: Bytes::copy_from_slice(&aggregate_signatures(&sigs).unwrap().0),
        }],
    };
    let submit = send(&disperser, m.entrance, submission.abi_encode(), U256::ZERO)
        .await
        .gas_used;

    let mut out = json!({
        "quorum_size": n,
        "registerSigner": mean(&register),
        "registerNextEpoch": mean(&next_epoch),
        "submitVerifiedCommitRoots": submit,
    });
    if sampling {
        // The next round: the anchor predates its seed. Find a winning cell and let its
        // custodian submit it.
        let head = admin.get_block_number().await.unwrap();
        mine_to(&admin, (head / PERIOD + 1) * PERIOD).await;
        let r = view(&admin, m.sampling, IDASampling::currentRoundCall {}).await;
        let (column, _) = (0..128u16)
            .map(|c| (c, sample_quality(r.seed, encoded.data_root, c, 0)))
            .find(|(_, q)| *q <= r.target)
            .expect("half the cells win");
        let custodian = by_addr(&quorum[usize::from(column) % n]);
        let header = &encoded.header;
        let response = IDASampling::SampleResponse {
            round: r.round,
            epoch: U256::from(epoch),
            quorumId: U256::ZERO,
            dataRoot: encoded.data_root,
            payloadLen: payload.len() as u32,
            blobIndex: 0,
            column,
            merkleProof: header.inclusion_proof(0).unwrap().siblings,
            commitment: Bytes::copy_from_slice(&header.commitments[0].0),
            cell: Bytes::copy_from_slice(encoded.blobs[0].cells[usize::from(column)].as_bytes()),
            proof: Bytes::copy_from_slice(&encoded.blobs[0].proofs[usize::from(column)].0),
        };
        let c = IDASampling::submitSamplingResponseCall { response };
        out["submitSamplingResponse"] = json!(
            send(&custodian.p, m.sampling, c.abi_encode(), U256::ZERO)
                .await
                .gas_used
        );
    }
    chain.shutdown().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    out
}

fn mean(v: &[u64]) -> u64 {
    v.iter().sum::<u64>() / v.len().max(1) as u64
}

#[tokio::main]
async fn main() {
    let sizes: Vec<Value> = ModuleContract::ALL
        .iter()
        .map(|c| json!({ "contract": format!("{c:?}"), "init_code_bytes": c.artifact().creation_code().len() }))
        .collect();
    let mut report = json!({ "contracts_init_code": sizes });
    for (name, contracts) in [("precompiles", false), ("contracts", true)] {
        let q8 = measure(contracts, 8, true).await;
        let q64 = measure(contracts, 64, false).await;
        eprintln!("{name}: q8 {q8} q64 {q64}");
        report[name] = json!({ "quorum_8": q8, "quorum_64": q64 });
    }
    let text = serde_json::to_string_pretty(&report).unwrap();
    println!("{text}");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("module_gas.json"), text).unwrap();
}
