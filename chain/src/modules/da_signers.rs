//! `0x…1000` DA signers: registration with proof of possession, sockets, per-epoch
//! registration and deterministic quorum formation.
//!
//! Storage layout (slots are `keccak256(tag ‖ key…)`):
//! - `signer.exists(addr)` = 1; `signer.pubkey(addr)`, `signer.socket(addr)` byte strings;
//! - `pubkey.owner(keccak(pubkey))` = address; `signers.count`, `signers.at(i)`;
//! - `epoch.ballot(epoch, addr)` = keccak256(registration signature) (non-zero);
//!   `epoch.count(epoch)`, `epoch.at(epoch, i)`.
//!
//! Quorums of epoch `e` are formed from the signers registered for `e` (during `e − 1`),
//! sorted by ballot, cut into runs of `quorum_size`; at most `max_quorums`. Registration
//! for `e` closes when `e` starts, so the quorums are fixed from the first block of `e`.

use alloy_primitives::{Address, B256, Bytes, U256, keccak256};
use alloy_sol_types::{SolCall, SolEvent};
use revm::context::ContextTr;
use zg_primitives::abi::{DA_SIGNERS_ADDRESS, IDASigners};
use zg_primitives::{BlsPublicKey, BlsSignature, bls, epoch_registration_message, verify_pop};

use super::{Call, Exit, addr_word, decode_call, gas, slot, word, word_addr};

/// Longest socket (libp2p multiaddr) accepted.
const MAX_SOCKET_LEN: usize = 512;

fn exists_slot(a: &Address) -> U256 {
    slot("signer.exists", &[a.as_slice()])
}
fn pubkey_slot(a: &Address) -> U256 {
    slot("signer.pubkey", &[a.as_slice()])
}
fn socket_slot(a: &Address) -> U256 {
    slot("signer.socket", &[a.as_slice()])
}
fn owner_slot(pk: &[u8]) -> U256 {
    slot("pubkey.owner", &[keccak256(pk).as_slice()])
}
fn count_slot() -> U256 {
    slot("signers.count", &[])
}
fn at_slot(i: u64) -> U256 {
    slot("signers.at", &[&word(i)])
}
fn ballot_slot(epoch: u64, a: &Address) -> U256 {
    slot("epoch.ballot", &[&word(epoch), a.as_slice()])
}
fn epoch_count_slot(epoch: u64) -> U256 {
    slot("epoch.count", &[&word(epoch)])
}
fn epoch_at_slot(epoch: u64, i: u64) -> U256 {
    slot("epoch.at", &[&word(epoch), &word(i)])
}

pub(super) fn epoch_of<CTX: ContextTr>(call: &Call<'_, CTX>) -> u64 {
    call.block_number() / call.genesis.da.epoch_blocks
}

fn u64_arg(v: U256) -> Result<u64, Exit> {
    u64::try_from(v).map_err(|_| Exit::Revert(Bytes::from_static(b"module: integer out of range")))
}

/// The ordered members of quorum `quorum` of `epoch`, or `None` if it does not exist.
pub(crate) fn quorum_members<CTX: ContextTr>(
    call: &mut Call<'_, CTX>,
    epoch: u64,
    quorum: u64,
) -> Result<Option<Vec<Address>>, Exit> {
    if epoch > epoch_of(call) {
        return Ok(None); // registration still open: not formed yet
    }
    let n = call.genesis.da.quorum_size;
    let count = call
        .sload_at(DA_SIGNERS_ADDRESS, epoch_count_slot(epoch))?
        .saturating_to::<u64>();
    let quorums = (count / n).min(call.genesis.da.max_quorums);
    if quorum >= quorums {
        return Ok(None);
    }
    let mut ballots: Vec<(B256, Address)> = Vec::with_capacity(count as usize);
    for i in 0..count {
        let a = word_addr(call.sload_at(DA_SIGNERS_ADDRESS, epoch_at_slot(epoch, i))?);
        let b = call.sload_at(DA_SIGNERS_ADDRESS, ballot_slot(epoch, &a))?;
        ballots.push((B256::from(b.to_be_bytes::<32>()), a));
    }
    ballots.sort_unstable();
    let start = (quorum * n) as usize;
    Ok(Some(
        ballots[start..start + n as usize]
            .iter()
            .map(|(_, a)| *a)
            .collect(),
    ))
}

fn quorum_count<CTX: ContextTr>(call: &mut Call<'_, CTX>, epoch: u64) -> Result<u64, Exit> {
    if epoch > epoch_of(call) {
        return Ok(0);
    }
    let count = call
        .sload_at(DA_SIGNERS_ADDRESS, epoch_count_slot(epoch))?
        .saturating_to::<u64>();
    Ok((count / call.genesis.da.quorum_size).min(call.genesis.da.max_quorums))
}

/// A registered signer's BLS public key.
pub(crate) fn signer_pubkey<CTX: ContextTr>(
    call: &mut Call<'_, CTX>,
    a: &Address,
) -> Result<Option<BlsPublicKey>, Exit> {
    if call.sload_at(DA_SIGNERS_ADDRESS, exists_slot(a))?.is_zero() {
        return Ok(None);
    }
    let raw = call.load_bytes_at(DA_SIGNERS_ADDRESS, pubkey_slot(a))?;
    BlsPublicKey::try_from(raw.as_slice())
        .map(Some)
        .map_err(|e| Exit::Fatal(format!("stored pubkey: {e}")))
}

pub(super) fn dispatch<CTX: ContextTr>(
    call: &mut Call<'_, CTX>,
    input: &[u8],
) -> Result<Bytes, Exit> {
    use IDASigners::IDASignersCalls as C;
    // Every function takes value (the module keeps it).
    let decoded = decode_call(call, input, |_: &C| true)?;
    match decoded {
        C::registerSigner(c) => {
            call.require_mutable()?;
            let d = c.signer;
            if d.signer != call.caller {
                return Err(Exit::error(IDASigners::SignerMismatch {
                    sender: call.caller,
                    signer: d.signer,
                }));
            }
            let pk = BlsPublicKey::try_from(d.pubkey.as_ref())
                .map_err(|_| Exit::error(IDASigners::InvalidPublicKey {}))?;
            if pk.to_point().is_err() {
                return Err(Exit::error(IDASigners::InvalidPublicKey {}));
            }
            if d.socket.len() > MAX_SOCKET_LEN {
                return Err(Exit::Revert(Bytes::from_static(b"module: socket too long")));
            }
            if !call.sload(exists_slot(&d.signer))?.is_zero() {
                return Err(Exit::error(IDASigners::SignerAlreadyRegistered {
                    signer: d.signer,
                }));
            }
            // Possession first: whoever cannot prove the key learns nothing about its owner.
            let pop = BlsSignature::try_from(c.pop.as_ref())
                .map_err(|_| Exit::error(IDASigners::InvalidProofOfPossession {}))?;
            call.charge(gas::BLS_VERIFY)?;
            verify_pop(call.chain_id(), d.signer, &pk, &pop)
                .map_err(|_| Exit::error(IDASigners::InvalidProofOfPossession {}))?;
            let owner = word_addr(call.sload(owner_slot(&pk.0))?);
            if owner != Address::ZERO {
                return Err(Exit::error(IDASigners::PublicKeyInUse { owner }));
            }
            call.sstore(exists_slot(&d.signer), U256::from(1))?;
            call.store_bytes(pubkey_slot(&d.signer), &pk.0)?;
            call.store_bytes(socket_slot(&d.signer), d.socket.as_bytes())?;
            call.sstore(owner_slot(&pk.0), addr_word(&d.signer))?;
            let n = call.sload(count_slot())?.saturating_to::<u64>();
            call.sstore(at_slot(n), addr_word(&d.signer))?;
            call.sstore(count_slot(), U256::from(n + 1))?;
            call.log(
                IDASigners::NewSigner {
                    signer: d.signer,
                    pubkey: d.pubkey,
                    socket: d.socket,
                }
                .encode_log_data(),
            )?;
            Ok(Bytes::new())
        }
        C::updateSocket(c) => {
            call.require_mutable()?;
            let me = call.caller;
            if call.sload(exists_slot(&me))?.is_zero() {
                return Err(Exit::error(IDASigners::NotASigner { account: me }));
            }
            if c.socket.len() > MAX_SOCKET_LEN {
                return Err(Exit::Revert(Bytes::from_static(b"module: socket too long")));
            }
            call.store_bytes(socket_slot(&me), c.socket.as_bytes())?;
            call.log(
                IDASigners::SocketUpdated {
                    signer: me,
                    socket: c.socket,
                }
                .encode_log_data(),
            )?;
            Ok(Bytes::new())
        }
        C::registerNextEpoch(c) => {
            call.require_mutable()?;
            let me = call.caller;
            let Some(pk) = signer_pubkey(call, &me)? else {
                return Err(Exit::error(IDASigners::NotASigner { account: me }));
            };
            let next = epoch_of(call) + 1;
            if !call.sload(ballot_slot(next, &me))?.is_zero() {
                return Err(Exit::error(IDASigners::AlreadyRegisteredForEpoch {
                    signer: me,
                    epoch: U256::from(next),
                }));
            }
            let sig = BlsSignature::try_from(c.signature.as_ref())
                .map_err(|_| Exit::error(IDASigners::InvalidEpochSignature {}))?;
            call.charge(gas::BLS_VERIFY)?;
            let msg = epoch_registration_message(call.chain_id(), me, next);
            bls::verify(&pk, &msg, &sig)
                .map_err(|_| Exit::error(IDASigners::InvalidEpochSignature {}))?;
            let ballot = keccak256(sig.0);
            call.sstore(ballot_slot(next, &me), U256::from_be_bytes(ballot.0))?;
            let n = call.sload(epoch_count_slot(next))?.saturating_to::<u64>();
            call.sstore(epoch_at_slot(next, n), addr_word(&me))?;
            call.sstore(epoch_count_slot(next), U256::from(n + 1))?;
            call.log(
                IDASigners::EpochRegistered {
                    signer: me,
                    epoch: U256::from(next),
                    ballot,
                }
                .encode_log_data(),
            )?;
            Ok(Bytes::new())
        }
        C::epochNumber(_) => {
            Ok(IDASigners::epochNumberCall::abi_encode_returns(&U256::from(epoch_of(call))).into())
        }
        C::quorumCount(c) => {
            let n = quorum_count(call, u64_arg(c.epoch)?)?;
            Ok(IDASigners::quorumCountCall::abi_encode_returns(&U256::from(n)).into())
        }
        C::getQuorum(c) => {
            let (e, q) = (u64_arg(c.epoch)?, u64_arg(c.quorumId)?);
            let members = quorum_members(call, e, q)?.ok_or_else(|| {
                Exit::error(IDASigners::UnknownQuorum {
                    epoch: c.epoch,
                    quorumId: c.quorumId,
                })
            })?;
            Ok(IDASigners::getQuorumCall::abi_encode_returns(&members).into())
        }
        C::getSigner(c) => {
            let mut out = Vec::with_capacity(c.accounts.len());
            for a in c.accounts {
                let Some(pk) = signer_pubkey(call, &a)? else {
                    return Err(Exit::error(IDASigners::NotASigner { account: a }));
                };
                let socket = call.load_bytes_at(DA_SIGNERS_ADDRESS, socket_slot(&a))?;
                out.push(IDASigners::SignerDetail {
                    signer: a,
                    socket: String::from_utf8_lossy(&socket).into_owned(),
                    pubkey: Bytes::copy_from_slice(&pk.0),
                });
            }
            Ok(IDASigners::getSignerCall::abi_encode_returns(&out).into())
        }
        C::isSigner(c) => {
            let is = !call.sload(exists_slot(&c.account))?.is_zero();
            Ok(IDASigners::isSignerCall::abi_encode_returns(&is).into())
        }
        C::registeredForEpoch(c) => {
            let e = u64_arg(c.epoch)?;
            let is = !call.sload(ballot_slot(e, &c.account))?.is_zero();
            Ok(IDASigners::registeredForEpochCall::abi_encode_returns(&is).into())
        }
        C::quorumThreshold(c) => {
            let (e, q) = (u64_arg(c.epoch)?, u64_arg(c.quorumId)?);
            if q >= quorum_count(call, e)? {
                return Err(Exit::error(IDASigners::UnknownQuorum {
                    epoch: c.epoch,
                    quorumId: c.quorumId,
                }));
            }
            Ok(
                IDASigners::quorumThresholdCall::abi_encode_returns(&U256::from(
                    call.genesis.da.quorum_threshold,
                ))
                .into(),
            )
        }
        C::params(_) => {
            let da = &call.genesis.da;
            let p = IDASigners::Params {
                epochBlocks: da.epoch_blocks,
                quorumSize: da.quorum_size,
                quorumThreshold: da.quorum_threshold,
                maxQuorums: da.max_quorums,
            };
            Ok(IDASigners::paramsCall::abi_encode_returns(&p).into())
        }
    }
}
