//! `0x…1000` DA signers: registration with proof of possession and bonded stake,
//! sockets, unbonding, per-epoch registration weighted by stake, and quorum formation
//! from a seed nobody knew at registration (`zg_primitives::committee`).
//!
//! Storage layout (slots are `keccak256(tag ‖ key…)`):
//! - `signer.exists(addr)` = 1; `signer.pubkey(addr)`, `signer.socket(addr)` byte strings;
//! - `pubkey.owner(keccak(pubkey))` = address; `signers.count`, `signers.at(i)`;
//! - `stake.bonded(addr)`, `stake.unbonding(addr)`, `stake.release(addr)` (an epoch);
//! - `epoch.reg(epoch, addr)` = its index in the list + 1 while registered;
//!   `epoch.count(epoch)`, `epoch.at(epoch, i)` = the registrant packed with its weight
//!   (weight zero: ejected after registering, left out of formation);
//! - `eject.until(addr)` = the last epoch an ejected signer may not register for;
//! - `epoch.formed(epoch)` = quorums + 1 once formed, `epoch.seed(epoch)`,
//!   `epoch.seat(epoch, i)` = the `i`-th seat's address.
//!
//! Registration for `e` runs during `e − 1` and closes with block `e · epochBlocks − 1`,
//! whose hash is `e`'s seed. The quorums are formed once (by the first registration of
//! epoch `e`, by `formQuorums`, or by the first anchor) and stored, so anchoring reads
//! `quorumSize` seats whatever the number of registrants; until then the views compute
//! them from the same seed. An epoch nobody touched within 256 blocks of its start (the
//! reach of `BLOCKHASH`) has no quorums.

use alloy_primitives::{Address, B256, Bytes, U256, keccak256};
use alloy_sol_types::{SolCall, SolEvent};
use revm::context::ContextTr;
use zg_primitives::abi::{DA_SIGNERS_ADDRESS, IDASigners};
use zg_primitives::{
    BlsPublicKey, BlsSignature, ballot_weight, bls, displaced, epoch_registration_message,
    form_quorums, pack_registrant, unpack_registrant, verify_pop,
};

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
fn bonded_slot(a: &Address) -> U256 {
    slot("stake.bonded", &[a.as_slice()])
}
fn unbonding_slot(a: &Address) -> U256 {
    slot("stake.unbonding", &[a.as_slice()])
}
fn release_slot(a: &Address) -> U256 {
    slot("stake.release", &[a.as_slice()])
}
fn reg_slot(epoch: u64, a: &Address) -> U256 {
    slot("epoch.reg", &[&word(epoch), a.as_slice()])
}
fn epoch_count_slot(epoch: u64) -> U256 {
    slot("epoch.count", &[&word(epoch)])
}
fn epoch_at_slot(epoch: u64, i: u64) -> U256 {
    slot("epoch.at", &[&word(epoch), &word(i)])
}
fn formed_slot(epoch: u64) -> U256 {
    slot("epoch.formed", &[&word(epoch)])
}
fn seed_slot(epoch: u64) -> U256 {
    slot("epoch.seed", &[&word(epoch)])
}
fn seat_slot(epoch: u64, i: u64) -> U256 {
    slot("epoch.seat", &[&word(epoch), &word(i)])
}
fn eject_slot(a: &Address) -> U256 {
    slot("eject.until", &[a.as_slice()])
}

pub(super) fn epoch_of<CTX: ContextTr>(call: &Call<'_, CTX>) -> u64 {
    call.block_number() / call.genesis.da.epoch_blocks
}

fn u64_arg(v: U256) -> Result<u64, Exit> {
    u64::try_from(v).map_err(|_| Exit::Revert(Bytes::from_static(b"module: integer out of range")))
}

fn sload_signers<CTX: ContextTr>(call: &mut Call<'_, CTX>, s: U256) -> Result<U256, Exit> {
    call.sload_at(DA_SIGNERS_ADDRESS, s)
}

/// The registrants kept for `epoch` (signer, weight), in list order.
fn registrants<CTX: ContextTr>(
    call: &mut Call<'_, CTX>,
    epoch: u64,
) -> Result<Vec<(Address, u64)>, Exit> {
    let count = sload_signers(call, epoch_count_slot(epoch))?.saturating_to::<u64>();
    let mut out = Vec::with_capacity(count as usize);
    for i in 0..count {
        out.push(unpack_registrant(sload_signers(
            call,
            epoch_at_slot(epoch, i),
        )?));
    }
    Ok(out)
}

/// The seed block of `epoch`: the last block of registration for it.
fn seed_block(call: &Call<'_, impl ContextTr>, epoch: u64) -> u64 {
    (epoch * call.genesis.da.epoch_blocks).saturating_sub(1)
}

/// The quorums of `epoch` as formation fixes them: (seed, seats). `None` while
/// registration is open, or when nobody formed them before the seed block's hash went
/// out of reach.
enum Formation {
    Stored { quorums: u64 },
    Computed { seed: B256, seats: Vec<Address> },
    Unavailable,
}

fn formation<CTX: ContextTr>(call: &mut Call<'_, CTX>, epoch: u64) -> Result<Formation, Exit> {
    if epoch > epoch_of(call) {
        return Ok(Formation::Unavailable); // registration still open
    }
    let formed = sload_signers(call, formed_slot(epoch))?.saturating_to::<u64>();
    if formed > 0 {
        return Ok(Formation::Stored {
            quorums: formed - 1,
        });
    }
    let regs = registrants(call, epoch)?;
    let da = &call.genesis.da;
    let (n, max) = (da.quorum_size, da.max_quorums);
    if (regs.iter().filter(|r| r.1 > 0).count() as u64) < n {
        return Ok(Formation::Computed {
            seed: B256::ZERO,
            seats: Vec::new(),
        });
    }
    let seed = call.block_hash(seed_block(call, epoch))?;
    if seed.is_zero() {
        return Ok(Formation::Unavailable);
    }
    call.charge(gas::KECCAK_BALLOT * regs.len() as u64)?;
    Ok(Formation::Computed {
        seed,
        seats: form_quorums(seed, epoch, &regs, n, max),
    })
}

/// Forms and stores the quorums of `epoch` if nobody has; the number of quorums, `None`
/// if they cannot be formed.
pub(crate) fn ensure_formed<CTX: ContextTr>(
    call: &mut Call<'_, CTX>,
    epoch: u64,
) -> Result<Option<u64>, Exit> {
    match formation(call, epoch)? {
        Formation::Stored { quorums } => Ok(Some(quorums)),
        Formation::Unavailable => Ok(None),
        Formation::Computed { seed, seats } => {
            let quorums = seats.len() as u64 / call.genesis.da.quorum_size;
            for (i, a) in seats.iter().enumerate() {
                call.sstore_at(DA_SIGNERS_ADDRESS, seat_slot(epoch, i as u64), addr_word(a))?;
            }
            call.sstore_at(
                DA_SIGNERS_ADDRESS,
                seed_slot(epoch),
                U256::from_be_bytes(seed.0),
            )?;
            call.sstore_at(
                DA_SIGNERS_ADDRESS,
                formed_slot(epoch),
                U256::from(quorums + 1),
            )?;
            let log = IDASigners::QuorumsFormed {
                epoch: U256::from(epoch),
                seed,
                quorums: U256::from(quorums),
            }
            .encode_log_data();
            call.log_at(DA_SIGNERS_ADDRESS, log)?;
            Ok(Some(quorums))
        }
    }
}

/// The ordered members of quorum `quorum` of `epoch`, or `None` if it does not exist.
pub(crate) fn quorum_members<CTX: ContextTr>(
    call: &mut Call<'_, CTX>,
    epoch: u64,
    quorum: u64,
) -> Result<Option<Vec<Address>>, Exit> {
    let n = call.genesis.da.quorum_size;
    match formation(call, epoch)? {
        Formation::Unavailable => Ok(None),
        Formation::Stored { quorums } => {
            if quorum >= quorums {
                return Ok(None);
            }
            let mut out = Vec::with_capacity(n as usize);
            for k in 0..n {
                out.push(word_addr(sload_signers(
                    call,
                    seat_slot(epoch, quorum * n + k),
                )?));
            }
            Ok(Some(out))
        }
        Formation::Computed { seats, .. } => {
            let start = (quorum.saturating_mul(n)) as usize;
            Ok(seats
                .get(start..start.saturating_add(n as usize))
                .map(<[Address]>::to_vec))
        }
    }
}

fn quorum_count<CTX: ContextTr>(call: &mut Call<'_, CTX>, epoch: u64) -> Result<u64, Exit> {
    Ok(match formation(call, epoch)? {
        Formation::Unavailable => 0,
        Formation::Stored { quorums } => quorums,
        Formation::Computed { seats, .. } => seats.len() as u64 / call.genesis.da.quorum_size,
    })
}

fn weight_of<CTX: ContextTr>(call: &mut Call<'_, CTX>, a: &Address) -> Result<u64, Exit> {
    let bonded = call.sload(bonded_slot(a))?;
    let da = &call.genesis.da;
    Ok(ballot_weight(
        bonded,
        da.min_stake,
        da.stake_per_ballot,
        da.max_ballots,
    ))
}

/// Whether `signer` is ejected for epoch `epoch` (may not register for it).
pub(crate) fn ejected_for<CTX: ContextTr>(
    call: &mut Call<'_, CTX>,
    signer: &Address,
    epoch: u64,
) -> Result<bool, Exit> {
    Ok(sload_signers(call, eject_slot(signer))? >= U256::from(epoch))
}

/// Ejects `signer` (the sampling lottery's rule, `docs/sampler.md`): bars it from
/// registering up to `ejectEpochs` after the current epoch, takes it out of the next
/// epoch's registrants if it is among them, and slashes `ejectSlashBps` of its stake
/// (bonded first, then unbonding) into the entrance module's reward pool. Emits
/// `SignerEjected`, and `RewardPoolFunded` from the sampling module if it slashed.
pub(crate) fn eject<CTX: ContextTr>(
    call: &mut Call<'_, CTX>,
    signer: &Address,
    pool_slot: U256,
) -> Result<(), Exit> {
    use zg_primitives::abi::{DA_ENTRANCE_ADDRESS, DA_SAMPLING_ADDRESS, IDAEntrance};
    let current = epoch_of(call);
    let da = &call.genesis.da;
    let (epochs, bps) = (da.eject_epochs, da.eject_slash_bps);
    let until = current.saturating_add(epochs);
    call.sstore_at(DA_SIGNERS_ADDRESS, eject_slot(signer), U256::from(until))?;
    // Out of the next epoch's formation: its entry keeps its place with weight zero.
    let next = current + 1;
    let reg = sload_signers(call, reg_slot(next, signer))?.saturating_to::<u64>();
    if reg > 0 {
        call.sstore_at(DA_SIGNERS_ADDRESS, reg_slot(next, signer), U256::ZERO)?;
        call.sstore_at(
            DA_SIGNERS_ADDRESS,
            epoch_at_slot(next, reg - 1),
            pack_registrant(*signer, 0),
        )?;
    }
    // The slash: bonded stake first, then stake still unbonding.
    let bonded = sload_signers(call, bonded_slot(signer))?;
    let unbonding = sload_signers(call, unbonding_slot(signer))?;
    let slashed = (bonded + unbonding) * U256::from(bps) / U256::from(10_000u64);
    let from_bonded = slashed.min(bonded);
    let from_unbonding = slashed - from_bonded;
    if !slashed.is_zero() {
        if !from_bonded.is_zero() {
            call.sstore_at(
                DA_SIGNERS_ADDRESS,
                bonded_slot(signer),
                bonded - from_bonded,
            )?;
        }
        if !from_unbonding.is_zero() {
            call.sstore_at(
                DA_SIGNERS_ADDRESS,
                unbonding_slot(signer),
                unbonding - from_unbonding,
            )?;
        }
        if !call.transfer(DA_SIGNERS_ADDRESS, DA_ENTRANCE_ADDRESS, slashed)? {
            return Err(Exit::Fatal(
                "signers module holds less than its stake".into(),
            ));
        }
        let pool = call.sload_at(DA_ENTRANCE_ADDRESS, pool_slot)?;
        call.sstore_at(DA_ENTRANCE_ADDRESS, pool_slot, pool + slashed)?;
    }
    let log = IDASigners::SignerEjected {
        signer: *signer,
        untilEpoch: U256::from(until),
        slashed,
    }
    .encode_log_data();
    call.log_at(DA_SIGNERS_ADDRESS, log)?;
    if !slashed.is_zero() {
        let log = IDAEntrance::RewardPoolFunded {
            from: DA_SAMPLING_ADDRESS,
            amount: slashed,
        }
        .encode_log_data();
        call.log_at(DA_ENTRANCE_ADDRESS, log)?;
    }
    Ok(())
}

/// The BLS key of a quorum seat. Seats hold registered signers, whose 48-byte keys are
/// stored, so this reads the key's two data words only (anchoring reads `quorumSize`
/// keys: the existence and length words would add 4 200 gas per member).
pub(crate) fn seat_pubkey<CTX: ContextTr>(
    call: &mut Call<'_, CTX>,
    a: &Address,
) -> Result<BlsPublicKey, Exit> {
    let data = super::data_slot(pubkey_slot(a));
    let mut raw = [0u8; 64];
    raw[..32].copy_from_slice(&sload_signers(call, data)?.to_be_bytes::<32>());
    raw[32..].copy_from_slice(&sload_signers(call, data + U256::from(1))?.to_be_bytes::<32>());
    BlsPublicKey::try_from(&raw[..48]).map_err(|e| Exit::Fatal(format!("stored pubkey: {e}")))
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
    // Stake comes with `registerSigner` and `addStake`; any other call with value reverts.
    let decoded = decode_call(call, input, |c| {
        matches!(c, C::registerSigner(_) | C::addStake(_))
    })?;
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
            let min = call.genesis.da.min_stake;
            if call.value < min {
                return Err(Exit::error(IDASigners::InsufficientStake {
                    stake: call.value,
                    required: min,
                }));
            }
            call.sstore(exists_slot(&d.signer), U256::from(1))?;
            call.store_bytes(pubkey_slot(&d.signer), &pk.0)?;
            call.store_bytes(socket_slot(&d.signer), d.socket.as_bytes())?;
            call.sstore(owner_slot(&pk.0), addr_word(&d.signer))?;
            let n = call.sload(count_slot())?.saturating_to::<u64>();
            call.sstore(at_slot(n), addr_word(&d.signer))?;
            call.sstore(count_slot(), U256::from(n + 1))?;
            call.sstore(bonded_slot(&d.signer), call.value)?;
            call.log(
                IDASigners::NewSigner {
                    signer: d.signer,
                    pubkey: d.pubkey,
                    socket: d.socket,
                }
                .encode_log_data(),
            )?;
            call.log(
                IDASigners::StakeAdded {
                    signer: d.signer,
                    amount: call.value,
                    bonded: call.value,
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
            let current = epoch_of(call);
            ensure_formed(call, current)?;
            let next = current + 1;
            let until = call.sload(eject_slot(&me))?;
            if until >= U256::from(next) {
                return Err(Exit::error(IDASigners::Ejected {
                    signer: me,
                    untilEpoch: until,
                }));
            }
            if !call.sload(reg_slot(next, &me))?.is_zero() {
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
            let weight = weight_of(call, &me)?;
            if weight == 0 {
                return Err(Exit::error(IDASigners::InsufficientStake {
                    stake: call.sload(bonded_slot(&me))?,
                    required: call.genesis.da.min_stake,
                }));
            }
            let count = call.sload(epoch_count_slot(next))?.saturating_to::<u64>();
            let index = if count < call.genesis.da.max_registrants {
                call.sstore(epoch_count_slot(next), U256::from(count + 1))?;
                count
            } else {
                let regs = registrants(call, next)?;
                let Some(i) = displaced(&regs, weight) else {
                    let lightest = regs.iter().map(|r| r.1).min().unwrap_or(0);
                    return Err(Exit::error(IDASigners::RegistrationFull {
                        epoch: U256::from(next),
                        weight: U256::from(weight),
                        lightest: U256::from(lightest),
                    }));
                };
                let out = regs[i].0;
                call.sstore(reg_slot(next, &out), U256::ZERO)?;
                call.log(
                    IDASigners::RegistrationDisplaced {
                        signer: out,
                        epoch: U256::from(next),
                    }
                    .encode_log_data(),
                )?;
                i as u64
            };
            call.sstore(epoch_at_slot(next, index), pack_registrant(me, weight))?;
            call.sstore(reg_slot(next, &me), U256::from(index + 1))?;
            call.log(
                IDASigners::EpochRegistered {
                    signer: me,
                    epoch: U256::from(next),
                    weight: U256::from(weight),
                }
                .encode_log_data(),
            )?;
            Ok(Bytes::new())
        }
        C::addStake(_) => {
            call.require_mutable()?;
            let me = call.caller;
            if call.value.is_zero() {
                return Err(Exit::error(IDASigners::ZeroAmount {}));
            }
            if call.sload(exists_slot(&me))?.is_zero() {
                return Err(Exit::error(IDASigners::NotASigner { account: me }));
            }
            let bonded = call.sload(bonded_slot(&me))? + call.value;
            call.sstore(bonded_slot(&me), bonded)?;
            call.log(
                IDASigners::StakeAdded {
                    signer: me,
                    amount: call.value,
                    bonded,
                }
                .encode_log_data(),
            )?;
            Ok(Bytes::new())
        }
        C::unbond(c) => {
            call.require_mutable()?;
            let me = call.caller;
            if c.amount.is_zero() {
                return Err(Exit::error(IDASigners::ZeroAmount {}));
            }
            let bonded = call.sload(bonded_slot(&me))?;
            if bonded < c.amount {
                return Err(Exit::error(IDASigners::InsufficientStake {
                    stake: bonded,
                    required: c.amount,
                }));
            }
            let left = bonded - c.amount;
            let min = call.genesis.da.min_stake;
            if !left.is_zero() && left < min {
                return Err(Exit::error(IDASigners::InsufficientStake {
                    stake: left,
                    required: min,
                }));
            }
            let release = epoch_of(call) + call.genesis.da.unbonding_epochs;
            let unbonding = call.sload(unbonding_slot(&me))? + c.amount;
            call.sstore(bonded_slot(&me), left)?;
            call.sstore(unbonding_slot(&me), unbonding)?;
            call.sstore(release_slot(&me), U256::from(release))?;
            call.log(
                IDASigners::UnbondingStarted {
                    signer: me,
                    amount: c.amount,
                    releaseEpoch: U256::from(release),
                }
                .encode_log_data(),
            )?;
            Ok(Bytes::new())
        }
        C::withdrawStake(_) => {
            call.require_mutable()?;
            let me = call.caller;
            let amount = call.sload(unbonding_slot(&me))?;
            if amount.is_zero() {
                return Err(Exit::error(IDASigners::NothingToWithdraw {}));
            }
            let release = call.sload(release_slot(&me))?;
            let current = U256::from(epoch_of(call));
            if current < release {
                return Err(Exit::error(IDASigners::StillBonded {
                    releaseEpoch: release,
                    current,
                }));
            }
            call.sstore(unbonding_slot(&me), U256::ZERO)?;
            if !call.transfer_out(me, amount)? {
                return Err(Exit::Fatal(
                    "signers module holds less than its stake".into(),
                ));
            }
            call.log(IDASigners::StakeWithdrawn { signer: me, amount }.encode_log_data())?;
            Ok(Bytes::new())
        }
        C::formQuorums(c) => {
            call.require_mutable()?;
            let e = u64_arg(c.epoch)?;
            if ensure_formed(call, e)?.is_none() {
                return Err(Exit::error(IDASigners::SeedUnavailable { epoch: c.epoch }));
            }
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
            let is = !call.sload(reg_slot(e, &c.account))?.is_zero();
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
        C::stakeParams(_) => {
            let da = &call.genesis.da;
            let p = IDASigners::StakeParams {
                minStake: da.min_stake,
                stakePerBallot: da.stake_per_ballot,
                maxBallots: da.max_ballots,
                unbondingEpochs: da.unbonding_epochs,
                maxRegistrants: da.max_registrants,
            };
            Ok(IDASigners::stakeParamsCall::abi_encode_returns(&p).into())
        }
        C::ejectedUntil(c) => {
            let until = call.sload(eject_slot(&c.account))?;
            Ok(IDASigners::ejectedUntilCall::abi_encode_returns(&until).into())
        }
        C::stakeOf(c) => {
            let a = c.account;
            let r = IDASigners::stakeOfReturn {
                bonded: call.sload(bonded_slot(&a))?,
                unbonding: call.sload(unbonding_slot(&a))?,
                releaseEpoch: call.sload(release_slot(&a))?,
            };
            Ok(IDASigners::stakeOfCall::abi_encode_returns(&r).into())
        }
        C::ballotWeight(c) => {
            let w = weight_of(call, &c.account)?;
            Ok(IDASigners::ballotWeightCall::abi_encode_returns(&U256::from(w)).into())
        }
        C::registrantCount(c) => {
            let e = u64_arg(c.epoch)?;
            let n = call.sload(epoch_count_slot(e))?;
            Ok(IDASigners::registrantCountCall::abi_encode_returns(&n).into())
        }
        C::epochSeed(c) => {
            let e = u64_arg(c.epoch)?;
            let seed = B256::from(call.sload(seed_slot(e))?.to_be_bytes::<32>());
            Ok(IDASigners::epochSeedCall::abi_encode_returns(&seed).into())
        }
    }
}
