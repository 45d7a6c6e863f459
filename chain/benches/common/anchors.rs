//! `submitVerifiedCommitRoots` per second with an 8-member quorum and 6 signers, on any
//! node however its blocks are made (mined on demand, automined or agreed by validators),
//! with the raw blst aggregate check each anchor needs as the physical limit.

use std::future::Future;
use std::time::{Duration, Instant};

use alloy_consensus::{SignableTransaction, TxEip1559, TxEnvelope};
use alloy_eips::eip2718::Encodable2718;
use alloy_primitives::{Address, B256, Bytes, TxKind, U256};
use alloy_signer::SignerSync;
use alloy_signer_local::PrivateKeySigner;
use alloy_sol_types::SolCall;
use serde_json::json;
use zg_chain::{EthApi, Node};
use zg_primitives::abi::{DA_ENTRANCE_ADDRESS, DA_SIGNERS_ADDRESS, IDAEntrance, IDASigners};
use zg_primitives::{
    BlsSecretKey, aggregate_signatures, attestation_message, epoch_registration_message,
    signer_bitmap,
};

pub(crate) const CHAIN: u64 = 31337;

/// A signed EIP-1559 transaction.
pub(crate) fn sign(
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

/// Anchors per second, one and twenty per transaction. `accounts[1..=8]` become the
/// quorum's signers and `accounts[9]` the disperser; `settle` returns once `node`'s pool
/// is empty with every transaction committed; `epoch_blocks` is the genesis epoch length.
pub(crate) async fn measure<F, Fut>(
    node: &Node,
    accounts: &[PrivateKeySigner],
    epoch_blocks: u64,
    settle: F,
) -> serde_json::Value
where
    F: Fn() -> Fut,
    Fut: Future<Output = ()>,
{
    let api = EthApi::new(node.clone());
    let signers: Vec<(PrivateKeySigner, BlsSecretKey)> = (1..=8)
        .map(|i| {
            (
                accounts[i].clone(),
                BlsSecretKey::from_ikm(&[i as u8; 32]).unwrap(),
            )
        })
        .collect();
    let nonce = |a: &PrivateKeySigner| node.pending_nonce(&a.address()).unwrap();
    let send = |eth: &PrivateKeySigner, to: Address, value: U256, data: Vec<u8>, gas: u64| {
        node.submit_raw(&sign(eth, nonce(eth), to, value, data, gas))
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
        send(
            eth,
            DA_SIGNERS_ADDRESS,
            zg_chain::DaParams::default().min_stake,
            c.abi_encode(),
            1_000_000,
        );
    }
    settle().await;
    let epoch = node.head().header.number / epoch_blocks + 1;
    for (eth, bls) in &signers {
        let sig = bls.sign(&epoch_registration_message(CHAIN, eth.address(), epoch));
        let c = IDASigners::registerNextEpochCall {
            signature: Bytes::copy_from_slice(&sig.0),
        };
        send(
            eth,
            DA_SIGNERS_ADDRESS,
            U256::ZERO,
            c.abi_encode(),
            1_000_000,
        );
    }
    settle().await;
    // Into the epoch (a producer that mines only for transactions needs some).
    while node.head().header.number < epoch * epoch_blocks {
        send(
            &accounts[0],
            Address::repeat_byte(0x77),
            U256::from(1),
            vec![],
            21_000,
        );
        settle().await;
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let disperser = &accounts[9];
    send(
        disperser,
        DA_ENTRANCE_ADDRESS,
        U256::from(10u64).pow(U256::from(21)),
        IDAEntrance::depositCall {}.abi_encode(),
        200_000,
    );
    settle().await;
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
    let head_before = node.head().header.number;
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
    let t = Instant::now();
    for r in &raw {
        node.submit_raw(r).unwrap();
    }
    settle().await;
    let single_rate = n_single as f64 / t.elapsed().as_secs_f64();
    let single_blocks = node.head().header.number - head_before;
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
    let t = Instant::now();
    for r in &raw {
        node.submit_raw(r).unwrap();
    }
    settle().await;
    let batched_rate = 300.0 / t.elapsed().as_secs_f64();
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
    json!({
        "quorum": 8, "signers": 6,
        "one_per_tx_per_second": single_rate, "blocks": single_blocks,
        "twenty_per_tx_per_second": batched_rate,
        "raw_bls_aggregate_verify_per_second": raw_bls_per_second,
        "batched_vs_raw_bls": batched_rate / raw_bls_per_second
    })
}
