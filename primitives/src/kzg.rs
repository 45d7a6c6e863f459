//! KZG over the Ethereum mainnet trusted setup (EIP-4844 commitments, EIP-7594 cells),
//! through `rust_eth_kzg`.

use std::sync::OnceLock;

use rust_eth_kzg::{DASContext, UsePrecomp};

use crate::bytes::fixed_bytes;
use crate::codec::Blob;
use crate::constants::{
    BYTES_PER_CELL, CELLS_PER_EXT_BLOB, DATA_COLUMNS, FIELD_ELEMENTS_PER_BLOB,
    FIELD_ELEMENTS_PER_CELL,
};

pub use rust_eth_kzg::TrustedSetup;

fixed_bytes!(
    /// A KZG commitment to one blob (compressed G1, 48 bytes).
    KzgCommitment,
    48
);
fixed_bytes!(
    /// A KZG proof for one cell (compressed G1, 48 bytes).
    KzgProof,
    48
);

/// One EIP-7594 cell: 64 field elements (2048 bytes), heap allocated.
#[derive(Clone, PartialEq, Eq)]
pub struct Cell(pub Box<[u8; BYTES_PER_CELL]>);

impl Cell {
    /// The cell's bytes.
    pub fn as_bytes(&self) -> &[u8; BYTES_PER_CELL] {
        &self.0
    }

    /// Mutable access (fault injection in tests).
    pub fn as_bytes_mut(&mut self) -> &mut [u8; BYTES_PER_CELL] {
        &mut self.0
    }
}

impl TryFrom<&[u8]> for Cell {
    type Error = crate::bytes::LengthError;
    fn try_from(v: &[u8]) -> Result<Self, Self::Error> {
        let arr: [u8; BYTES_PER_CELL] = v.try_into().map_err(|_| crate::bytes::LengthError {
            expected: BYTES_PER_CELL,
            got: v.len(),
        })?;
        Ok(Self(Box::new(arr)))
    }
}

impl core::fmt::Debug for Cell {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_tuple("Cell")
            .field(&crate::bytes::HexShort(&self.0[..]))
            .finish()
    }
}

impl serde::Serialize for Cell {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        crate::bytes::serde_fixed::serialize(&self.0[..], s)
    }
}

impl<'de> serde::Deserialize<'de> for Cell {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        crate::bytes::serde_fixed::deserialize::<D, BYTES_PER_CELL>(d).map(Self)
    }
}

/// The 128 cells of an extended blob and their proofs, indexed by column.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExtendedBlob {
    /// Cells `0..128`; `0..64` are the original blob.
    pub cells: Vec<Cell>,
    /// One proof per cell.
    pub proofs: Vec<KzgProof>,
}

impl ExtendedBlob {
    /// Reassembles the original blob from cells `0..64`.
    pub fn to_blob(&self) -> Blob {
        let mut blob = Blob::zeroed();
        for (dst, cell) in blob
            .as_bytes_mut()
            .chunks_exact_mut(BYTES_PER_CELL)
            .zip(&self.cells)
        {
            dst.copy_from_slice(&cell.0[..]);
        }
        blob
    }
}

/// A cell to verify, with the commitment of its blob and its column index.
#[derive(Clone, Copy, Debug)]
pub struct CellCheck<'a> {
    /// Commitment of the blob the cell belongs to.
    pub commitment: &'a KzgCommitment,
    /// Column (cell index in the extended blob), `< 128`.
    pub column: u16,
    /// The cell.
    pub cell: &'a Cell,
    /// The cell's proof.
    pub proof: &'a KzgProof,
}

/// KZG failures, classified: bad input (the caller's data is wrong) versus a bad proof.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KzgError {
    /// A proof did not verify: the data does not match its commitment.
    #[error("KZG proof verification failed")]
    InvalidProof,
    /// Bytes that should be a field element, G1 point or cell are malformed.
    #[error("malformed KZG input: {0}")]
    Malformed(String),
    /// A column index outside `0..128`.
    #[error("column index {0} out of range")]
    ColumnOutOfRange(u64),
    /// Fewer than 64 distinct cells for a blob.
    #[error("need {DATA_COLUMNS} distinct cells to recover a blob, got {got}")]
    NotEnoughCells {
        /// Distinct cells available.
        got: usize,
    },
    /// Inputs of inconsistent shape (lengths, duplicates).
    #[error("inconsistent KZG input: {0}")]
    Inconsistent(String),
    /// The trusted setup file could not be parsed.
    #[error("invalid trusted setup: {0}")]
    TrustedSetup(String),
}

impl From<rust_eth_kzg::Error> for KzgError {
    fn from(e: rust_eth_kzg::Error) -> Self {
        use rust_eth_kzg::Error as E;
        // The library does not export its inner error types; index ranges and cell
        // counts are checked before calling it, so what is left is classified coarsely.
        if e.is_proof_invalid() {
            return Self::InvalidProof;
        }
        match e {
            E::Verifier(v) if format!("{v:?}") == "InvalidProof" => Self::InvalidProof,
            E::Serialization(s) => Self::Malformed(format!("{s:?}")),
            other => Self::Inconsistent(format!("{other:?}")),
        }
    }
}

/// How much prover precomputation to do when building a context.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Precompute {
    /// No fixed-base tables: fast start, least memory. Right for verifiers.
    #[default]
    None,
    /// Fixed-base MSM tables of the given window width (8 is the library's choice):
    /// faster proving for a few seconds of start-up and more memory.
    Window(usize),
}

/// A KZG context: the trusted setup, loaded once and shared.
pub struct Kzg {
    ctx: DASContext,
    /// Erasure decoder over the extended domain (cell-only recovery).
    rs: ekzg_erasure_codes::ReedSolomon,
    /// The blob's evaluation domain (4096 points).
    blob_domain: ekzg_polynomial::domain::Domain,
}

impl std::fmt::Debug for Kzg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kzg").finish_non_exhaustive()
    }
}

static MAINNET: OnceLock<Kzg> = OnceLock::new();

/// Window width of the default prover precomputation.
pub const DEFAULT_PRECOMPUTE_WIDTH: usize = 8;

impl Kzg {
    /// The process-wide context over the embedded Ethereum mainnet trusted setup, built on
    /// first use and shared after. Unless [`Kzg::init_mainnet`] chose otherwise, it uses
    /// prover precomputation of width 8 (≈ 1.8× faster encoding and recovery for ≈ 100 MB
    /// and 0.6 s more at start), or what `ZG_KZG_PRECOMPUTE` says (`0` = none).
    pub fn mainnet() -> &'static Self {
        MAINNET.get_or_init(|| {
            let precompute = match std::env::var("ZG_KZG_PRECOMPUTE")
                .ok()
                .and_then(|v| v.parse().ok())
            {
                Some(0) => Precompute::None,
                Some(w) => Precompute::Window(w),
                None => Precompute::Window(DEFAULT_PRECOMPUTE_WIDTH),
            };
            Self::new(&TrustedSetup::default(), precompute)
        })
    }

    /// Builds the process-wide mainnet context with the given precomputation (a light
    /// client that only verifies chooses [`Precompute::None`]). Returns `false` if it was
    /// already built, in which case the existing context stays.
    pub fn init_mainnet(precompute: Precompute) -> bool {
        let mut fresh = false;
        MAINNET.get_or_init(|| {
            fresh = true;
            Self::new(&TrustedSetup::default(), precompute)
        });
        fresh
    }

    /// Builds a context over a given trusted setup.
    pub fn new(setup: &TrustedSetup, precompute: Precompute) -> Self {
        let use_precomp = match precompute {
            Precompute::None => UsePrecomp::No,
            Precompute::Window(width) => UsePrecomp::Yes { width },
        };
        Self {
            ctx: DASContext::new(setup, use_precomp),
            rs: ekzg_erasure_codes::ReedSolomon::new(
                FIELD_ELEMENTS_PER_BLOB,
                CELLS_PER_EXT_BLOB / DATA_COLUMNS,
                CELLS_PER_EXT_BLOB,
            ),
            blob_domain: ekzg_polynomial::domain::Domain::new(FIELD_ELEMENTS_PER_BLOB),
        }
    }

    /// Parses a trusted setup in the Ethereum text format (`trusted_setup.txt` of c-kzg:
    /// counts, then G1 Lagrange, G2 monomial and G1 monomial points in hex), checking
    /// every point's subgroup membership.
    pub fn parse_trusted_setup_txt(text: &str) -> Result<TrustedSetup, KzgError> {
        let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
        let mut count = |what: &str| -> Result<usize, KzgError> {
            lines
                .next()
                .and_then(|l| l.parse().ok())
                .ok_or_else(|| KzgError::TrustedSetup(format!("missing {what} count")))
        };
        let n_g1 = count("G1")?;
        let n_g2 = count("G2")?;
        let rest: Vec<&str> = lines.collect();
        if rest.len() != 2 * n_g1 + n_g2 {
            return Err(KzgError::TrustedSetup(format!(
                "expected {} points, found {}",
                2 * n_g1 + n_g2,
                rest.len()
            )));
        }
        for (i, p) in rest.iter().enumerate() {
            let is_g2 = (n_g1..n_g1 + n_g2).contains(&i);
            let raw = hex::decode(p)
                .map_err(|e| KzgError::TrustedSetup(format!("point {i}: bad hex: {e}")))?;
            // blst's key and signature validation are exactly "on curve, in subgroup,
            // not infinity" for G1 and G2.
            let ok = if is_g2 {
                raw.len() == 96 && blst::min_pk::Signature::sig_validate(&raw, true).is_ok()
            } else {
                raw.len() == 48 && blst::min_pk::PublicKey::key_validate(&raw).is_ok()
            };
            if !ok {
                return Err(KzgError::TrustedSetup(format!(
                    "point {i} is not a valid group element"
                )));
            }
        }
        let quote = |s: &[&str]| -> String {
            s.iter()
                .map(|p| format!("\"0x{p}\""))
                .collect::<Vec<_>>()
                .join(",")
        };
        // The library reads JSON; the Lagrange points are derivable and not needed.
        let json = format!(
            "{{\"g1_monomial\":[{}],\"g1_lagrange\":[],\"g2_monomial\":[{}]}}",
            quote(&rest[n_g1 + n_g2..]),
            quote(&rest[n_g1..n_g1 + n_g2]),
        );
        Ok(TrustedSetup::from_json_unchecked(&json))
    }

    /// EIP-4844 commitment to a blob.
    pub fn commit(&self, blob: &Blob) -> Result<KzgCommitment, KzgError> {
        Ok(KzgCommitment(
            self.ctx.blob_to_kzg_commitment(blob.as_bytes())?,
        ))
    }

    /// EIP-7594 extension: the 128 cells of a blob and their proofs.
    pub fn compute_cells_and_proofs(&self, blob: &Blob) -> Result<ExtendedBlob, KzgError> {
        let (cells, proofs) = self.ctx.compute_cells_and_kzg_proofs(blob.as_bytes())?;
        Ok(ExtendedBlob {
            cells: cells.into_iter().map(Cell).collect(),
            proofs: proofs.into_iter().map(KzgProof).collect(),
        })
    }

    /// Commitment and extension of one blob, the two computed side by side.
    pub fn commit_and_extend(
        &self,
        blob: &Blob,
    ) -> Result<(KzgCommitment, ExtendedBlob), KzgError> {
        let (c, e) = rayon::join(|| self.commit(blob), || self.compute_cells_and_proofs(blob));
        Ok((c?, e?))
    }

    /// Verifies any number of cells, of any blobs, in one batch. Empty input verifies.
    pub fn verify_cells(&self, checks: &[CellCheck<'_>]) -> Result<(), KzgError> {
        if let Some(bad) = checks
            .iter()
            .find(|c| usize::from(c.column) >= CELLS_PER_EXT_BLOB)
        {
            return Err(KzgError::ColumnOutOfRange(bad.column.into()));
        }
        let commitments = checks.iter().map(|c| &c.commitment.0).collect();
        let indices: Vec<u64> = checks.iter().map(|c| u64::from(c.column)).collect();
        let cells = checks.iter().map(|c| &*c.cell.0).collect();
        let proofs = checks.iter().map(|c| &c.proof.0).collect();
        Ok(self
            .ctx
            .verify_cell_kzg_proof_batch(commitments, &indices, cells, proofs)?)
    }

    /// Recovers every cell and proof of a blob from at least 64 distinct cells, given as
    /// `(column, cell)` in any order. Duplicated columns are rejected.
    pub fn recover(&self, cells: &[(u16, &Cell)]) -> Result<ExtendedBlob, KzgError> {
        let sorted = recovery_input(cells)?;
        let indices = sorted.iter().map(|(i, _)| u64::from(*i)).collect();
        let refs = sorted.iter().map(|(_, c)| &*c.0).collect();
        let (cells, proofs) = self.ctx.recover_cells_and_kzg_proofs(indices, refs)?;
        Ok(ExtendedBlob {
            cells: cells.into_iter().map(Cell).collect(),
            proofs: proofs.into_iter().map(KzgProof).collect(),
        })
    }

    /// Recovers only the blob (the original 4096 elements) from any ≥ 64 distinct cells:
    /// erasure decoding and one FFT, without recomputing the 128 proofs (FK20), which is
    /// what [`Kzg::recover`] spends almost all its time on. Cells must already be verified.
    pub fn recover_blob(&self, cells: &[(u16, &Cell)]) -> Result<Blob, KzgError> {
        let sorted = recovery_input(cells)?;
        let mut blob = Blob::zeroed();
        // The systematic half is the blob itself.
        if (0..DATA_COLUMNS).all(|i| sorted.get(i).is_some_and(|(j, _)| usize::from(*j) == i)) {
            for (i, (_, cell)) in sorted.iter().take(DATA_COLUMNS).enumerate() {
                blob.as_bytes_mut()[i * BYTES_PER_CELL..(i + 1) * BYTES_PER_CELL]
                    .copy_from_slice(cell.as_bytes());
            }
            return Ok(blob);
        }
        let refs: Vec<&[u8; BYTES_PER_CELL]> = sorted.iter().map(|(_, c)| &*c.0).collect();
        let evaluations = ekzg_serialization::deserialize_cells(refs)
            .map_err(|e| KzgError::Malformed(format!("{e:?}")))?;
        let indices: Vec<usize> = sorted.iter().map(|(i, _)| usize::from(*i)).collect();
        let (normal_order, flat) = ekzg_multi_open::recover_evaluations_in_domain_order(
            2 * FIELD_ELEMENTS_PER_BLOB,
            indices,
            evaluations,
        )
        .ok_or_else(|| KzgError::Inconsistent("cells do not fit the extended domain".into()))?;
        let present: std::collections::HashSet<usize> = normal_order.into_iter().collect();
        let missing: Vec<usize> = (0..CELLS_PER_EXT_BLOB)
            .filter(|i| !present.contains(i))
            .collect();
        let coefficients = self
            .rs
            .recover_polynomial_coefficient(flat, ekzg_erasure_codes::BlockErasureIndices(missing))
            .map_err(|e| KzgError::Inconsistent(format!("erasure decoding: {e:?}")))?;
        let mut evaluations = self.blob_domain.fft_scalars(coefficients);
        reverse_bit_order(&mut evaluations);
        for (i, e) in evaluations.iter().take(FIELD_ELEMENTS_PER_BLOB).enumerate() {
            blob.as_bytes_mut()[i * 32..(i + 1) * 32].copy_from_slice(&e.to_bytes_be());
        }
        Ok(blob)
    }
}

/// Recovery input sorted by column, checked for duplicates, range and count.
fn recovery_input<'a>(cells: &[(u16, &'a Cell)]) -> Result<Vec<(u16, &'a Cell)>, KzgError> {
    let mut sorted: Vec<(u16, &Cell)> = cells.to_vec();
    sorted.sort_unstable_by_key(|(i, _)| *i);
    if sorted.windows(2).any(|w| w[0].0 == w[1].0) {
        return Err(KzgError::Inconsistent(
            "duplicate column in recovery input".into(),
        ));
    }
    if let Some((i, _)) = sorted
        .iter()
        .find(|(i, _)| usize::from(*i) >= CELLS_PER_EXT_BLOB)
    {
        return Err(KzgError::ColumnOutOfRange((*i).into()));
    }
    if sorted.len() < DATA_COLUMNS {
        return Err(KzgError::NotEnoughCells { got: sorted.len() });
    }
    Ok(sorted)
}

/// Permutes `a` (length a power of two) into bit-reversed index order.
fn reverse_bit_order<T>(a: &mut [T]) {
    let n = a.len();
    if n < 2 {
        return;
    }
    let bits = n.trailing_zeros();
    for i in 0..n {
        let j = i.reverse_bits() >> (usize::BITS - bits);
        if i < j {
            a.swap(i, j);
        }
    }
}

/// Bytes of [`kzg_setup_eip2537`]: 64 G1 points of 128 bytes and two G2 points of 256.
pub const KZG_SETUP_EIP2537_LEN: usize = 64 * 128 + 2 * 256;

/// The part of the Ethereum KZG setup a cell check needs, in EIP-2537 encoding (what the
/// Solidity sampling module reads): `[τⁱ]₁` for `i < 64`, then `[1]₂` and `[τ⁶⁴]₂`. Field
/// elements are 64 bytes (16 zero bytes, then 48 big-endian); G2 coordinates `c0 ‖ c1`.
pub fn kzg_setup_eip2537() -> Vec<u8> {
    fn fp(out: &mut Vec<u8>, be48: &[u8]) {
        out.extend_from_slice(&[0u8; 16]);
        out.extend_from_slice(be48);
    }
    let setup = rust_eth_kzg::TrustedSetup::default();
    let mut out = Vec::with_capacity(KZG_SETUP_EIP2537_LEN);
    for p in &setup.g1_monomial[..FIELD_ELEMENTS_PER_CELL] {
        let raw = p.to_uncompressed(); // x ‖ y
        fp(&mut out, &raw[..48]);
        fp(&mut out, &raw[48..]);
    }
    for p in [
        &setup.g2_monomial[0],
        &setup.g2_monomial[FIELD_ELEMENTS_PER_CELL],
    ] {
        let raw = p.to_uncompressed(); // x.c1 ‖ x.c0 ‖ y.c1 ‖ y.c0
        for i in [1, 0, 3, 2] {
            fp(&mut out, &raw[i * 48..(i + 1) * 48]);
        }
    }
    debug_assert_eq!(out.len(), KZG_SETUP_EIP2537_LEN);
    out
}
