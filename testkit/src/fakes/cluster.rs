//! [`FakeCluster`]: one quorum of fake DA nodes on a fake chain, and [`disperse`], the
//! dispersal protocol over the client traits.

use std::sync::Arc;

use alloy::signers::SignerSync;
use alloy::signers::local::PrivateKeySigner;
use alloy_primitives::{B256, Bytes, U256};
use zg_da_client::{ColumnNetwork, DaChain, Frame, Quorum, QuorumMember, Retriever};
use zg_primitives::abi::IDAEntrance::CommitRootSubmission;
use zg_primitives::wire::store_request_digest;
use zg_primitives::{
    BlsSecretKey, BlsSignature, Certificate, EncodedPayload, Kzg, StoreRequest, StoreResponse,
    aggregate_signatures, attestation_message, custody_columns, signer_bitmap,
};

use super::chain::FakeChain;
use super::network::{FakeNetwork, FakeNode, Faults};

/// Chain id of a [`FakeCluster`]'s chain.
pub const CHAIN_ID: u64 = 16_600;

/// A fake chain in epoch 1 with one quorum (id 0) of `size` fake DA nodes, and a funded
/// disperser account. Node `i` is quorum member `i`; keys are deterministic.
#[derive(Clone, Debug)]
pub struct FakeCluster {
    /// The chain.
    pub chain: FakeChain,
    /// The nodes' network.
    pub network: FakeNetwork,
    /// The quorum (epoch 1, id 0).
    pub quorum: Arc<Quorum>,
    /// The nodes, in quorum order.
    pub nodes: Vec<Arc<FakeNode>>,
    /// The disperser's account (deposit of 1 ether; the blob fee is 1 wei).
    pub disperser: PrivateKeySigner,
    kzg: &'static Kzg,
}

fn key_bytes(tag: u8, i: usize) -> [u8; 32] {
    let mut b = [tag; 32];
    b[24..].copy_from_slice(&(i as u64 + 1).to_be_bytes());
    b
}

impl FakeCluster {
    /// `size` nodes, `threshold` signatures needed.
    pub fn new(size: usize, threshold: usize) -> Self {
        let kzg = super::kzg();
        let chain = FakeChain::new(CHAIN_ID);
        let network = FakeNetwork::new(chain.clone(), kzg);
        let mut nodes = Vec::with_capacity(size);
        let mut members = Vec::with_capacity(size);
        for i in 0..size {
            let account = PrivateKeySigner::from_bytes(&B256::from(key_bytes(0x11, i)))
                .expect("valid secp256k1 key");
            let bls = BlsSecretKey::from_ikm(&key_bytes(0x22, i)).expect("32 bytes of ikm");
            let peer = libp2p::identity::Keypair::ed25519_from_bytes(key_bytes(0x33, i))
                .expect("ed25519 key")
                .public()
                .to_peer_id();
            let socket = format!("/ip4/127.0.0.1/tcp/{}/p2p/{peer}", 40_000 + i);
            members.push(QuorumMember {
                index: i,
                address: account.address(),
                socket: socket.clone(),
                pubkey: Some(bls.public_key()),
            });
            nodes.push(network.add_node(account.address(), socket, bls));
        }
        chain.set_epoch(1);
        let quorum = chain.add_quorum(1, threshold, members);
        let disperser = PrivateKeySigner::from_bytes(&B256::from(key_bytes(0x44, 0)))
            .expect("valid secp256k1 key");
        chain.set_deposit(disperser.address(), U256::from(10).pow(U256::from(18)));
        Self {
            chain,
            network,
            quorum,
            nodes,
            disperser,
            kzg,
        }
    }

    /// The KZG context.
    pub fn kzg(&self) -> &'static Kzg {
        self.kzg
    }

    /// Quorum member `i`.
    pub fn member(&self, i: usize) -> &QuorumMember {
        &self.quorum.members[i]
    }

    /// Node `i`.
    pub fn node(&self, i: usize) -> &Arc<FakeNode> {
        &self.nodes[i]
    }

    /// Sets node `i`'s faults.
    pub fn set_faults(&self, i: usize, faults: Faults) {
        self.nodes[i].set_faults(faults);
    }

    /// The certificate `encoded` gets in this cluster's quorum.
    pub fn certificate(&self, encoded: &EncodedPayload) -> Certificate {
        Certificate {
            epoch: self.quorum.epoch,
            quorum_id: self.quorum.quorum_id,
            data_root: encoded.data_root,
        }
    }

    /// Places a payload as if dispersed: every node gets its custody columns and the
    /// certificate is anchored, without store requests or signatures (cheap).
    pub fn place(&self, encoded: &EncodedPayload) -> Certificate {
        let n = self.nodes.len();
        for (i, node) in self.nodes.iter().enumerate() {
            node.put(&encoded.header, encoded.columns(&custody_columns(i, n)));
        }
        let cert = self.certificate(encoded);
        self.chain.anchor_unchecked(&cert);
        cert
    }

    /// Disperses a payload through the nodes' store protocol and anchors it
    /// (see [`disperse`]).
    pub async fn disperse(&self, encoded: &EncodedPayload) -> Result<Certificate, String> {
        disperse(
            &self.network,
            &self.chain,
            &self.disperser,
            &self.quorum,
            encoded,
        )
        .await
    }

    /// A retriever over the cluster.
    pub fn retriever(&self) -> Retriever<FakeNetwork, FakeChain> {
        Retriever::new(self.network.clone(), self.chain.clone(), self.kzg)
    }
}

/// The dispersal protocol over the client traits, without the disperser's journal,
/// retries or grace period: every member gets its custody columns in a store request
/// authorised by `signer`; the members' BLS signatures are checked and aggregated, and
/// once at least the threshold signed the certificate is anchored. Returns the
/// certificate, or why dispersal failed.
pub async fn disperse<N: ColumnNetwork, C: DaChain>(
    network: &N,
    chain: &C,
    signer: &PrivateKeySigner,
    quorum: &Quorum,
    encoded: &EncodedPayload,
) -> Result<Certificate, String> {
    let chain_id = chain.chain_id();
    let (root, blob_count) = (encoded.data_root, encoded.header.blob_count);
    let digest = store_request_digest(chain_id, root, quorum.epoch, quorum.quorum_id, blob_count);
    let auth = signer
        .sign_hash_sync(&digest)
        .map_err(|e| format!("signing the store request: {e}"))?;
    let message = attestation_message(chain_id, root, quorum.epoch, quorum.quorum_id, blob_count);
    let n = quorum.members.len();
    let mut good: Vec<(usize, BlsSignature)> = Vec::new();
    let mut failures = Vec::new();
    for m in &quorum.members {
        let req = StoreRequest {
            chain_id,
            epoch: quorum.epoch,
            quorum_id: quorum.quorum_id,
            data_root: root,
            header: encoded.header.clone(),
            columns: encoded.columns(&custody_columns(m.index, n)),
            disperser_signature: auth.as_bytes().to_vec(),
            traceparent: None,
        };
        match network.store(&m.socket, Frame::Msg(req)).await {
            Ok(Frame::Msg(StoreResponse::Signed { signature })) => {
                let verified = m.pubkey.ok_or_else(|| "no key".to_string()).and_then(|pk| {
                    zg_primitives::bls::verify(&pk, &message, &signature).map_err(|e| e.to_string())
                });
                match verified {
                    Ok(()) => good.push((m.index, signature)),
                    Err(e) => failures.push(format!("{}: bad signature: {e}", m.address)),
                }
            }
            Ok(Frame::Msg(StoreResponse::Refused(r))) => {
                failures.push(format!("{}: refused: {r}", m.address))
            }
            Ok(_) => failures.push(format!("{}: undecodable response", m.address)),
            Err(e) => failures.push(format!("{}: {e}", m.address)),
        }
    }
    if good.len() < quorum.threshold.max(1) {
        return Err(format!(
            "{} of the {} signatures needed ({})",
            good.len(),
            quorum.threshold,
            failures.join("; ")
        ));
    }
    let bitmap = signer_bitmap(n, good.iter().map(|(i, _)| *i)).map_err(|e| e.to_string())?;
    let sigs: Vec<BlsSignature> = good.iter().map(|(_, s)| *s).collect();
    let aggregate = aggregate_signatures(&sigs).map_err(|e| e.to_string())?;
    chain
        .submit_commit_roots(vec![CommitRootSubmission {
            dataRoot: root,
            epoch: U256::from(quorum.epoch),
            quorumId: U256::from(quorum.quorum_id),
            blobCount: U256::from(blob_count),
            signersBitmap: Bytes::from(bitmap),
            aggregateSignature: Bytes::copy_from_slice(aggregate.as_bytes()),
        }])
        .await
        .map_err(|e| e.to_string())?;
    Ok(Certificate {
        epoch: quorum.epoch,
        quorum_id: quorum.quorum_id,
        data_root: root,
    })
}
