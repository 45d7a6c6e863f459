//! The full encode pipeline (codec → commitments → cells → data_root), columns, column
//! verification and payload recovery.

use std::collections::BTreeMap;

use alloy_primitives::B256;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::codec::{CodecError, decode_blobs, encode_payload};
use crate::constants::{CELLS_PER_EXT_BLOB, DATA_COLUMNS};
use crate::header::{BlobHeader, HeaderError};
use crate::kzg::{Cell, CellCheck, ExtendedBlob, Kzg, KzgError, KzgProof};

/// Column `index`: cell `index` of every blob of a payload, with its proofs. The unit of
/// custody and of sampling.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Column {
    /// Column index, `0..128`.
    pub index: u16,
    /// Cell `index` of blob 0, 1, ….
    pub cells: Vec<Cell>,
    /// The matching proofs.
    pub proofs: Vec<KzgProof>,
}

impl Column {
    /// Checks the column's shape against a header (index range, one cell and proof per blob).
    pub fn check_shape(&self, header: &BlobHeader) -> Result<(), ColumnError> {
        if usize::from(self.index) >= CELLS_PER_EXT_BLOB {
            return Err(ColumnError::IndexOutOfRange(self.index));
        }
        let blobs = header.commitments.len();
        if self.cells.len() != blobs || self.proofs.len() != blobs {
            return Err(ColumnError::Shape {
                column: self.index,
                blobs,
                cells: self.cells.len(),
                proofs: self.proofs.len(),
            });
        }
        Ok(())
    }
}

/// A column that cannot belong to a payload, or does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ColumnError {
    /// Column index outside `0..128`.
    #[error("column index {0} out of range")]
    IndexOutOfRange(u16),
    /// Cells or proofs do not match the blob count.
    #[error("column {column}: {cells} cells and {proofs} proofs for {blobs} blobs")]
    Shape {
        /// Column index.
        column: u16,
        /// Blobs in the header.
        blobs: usize,
        /// Cells given.
        cells: usize,
        /// Proofs given.
        proofs: usize,
    },
    /// The same column twice.
    #[error("column {0} given twice")]
    Duplicate(u16),
    /// A cell failed its KZG proof.
    #[error("KZG verification of the columns failed: {0}")]
    Kzg(#[from] KzgError),
}

/// A payload encoded into its header, data_root and extended blobs.
#[derive(Clone, Debug)]
pub struct EncodedPayload {
    /// The header (commitments).
    pub header: BlobHeader,
    /// `header.data_root()`, computed once.
    pub data_root: B256,
    /// Cells and proofs per blob.
    pub blobs: Vec<ExtendedBlob>,
}

impl EncodedPayload {
    /// Column `index` (cell `index` of every blob). Panics if `index >= 128`.
    pub fn column(&self, index: u16) -> Column {
        let i = usize::from(index);
        assert!(i < CELLS_PER_EXT_BLOB, "column {index} out of range");
        Column {
            index,
            cells: self.blobs.iter().map(|b| b.cells[i].clone()).collect(),
            proofs: self.blobs.iter().map(|b| b.proofs[i]).collect(),
        }
    }

    /// The given columns, in the order given.
    pub fn columns(&self, indices: &[u16]) -> Vec<Column> {
        indices.iter().map(|&i| self.column(i)).collect()
    }
}

/// Why encoding failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// The payload is empty or too large.
    #[error(transparent)]
    Codec(#[from] CodecError),
    /// KZG failure (cannot happen for codec output; reported, not panicked on).
    #[error(transparent)]
    Kzg(#[from] KzgError),
}

/// Encodes a payload: codec, then per blob the commitment and the 128 cells with proofs,
/// then the header and data_root. Blobs are processed in parallel on the rayon pool.
pub fn encode(
    kzg: &Kzg,
    payload: &[u8],
    max_payload: usize,
) -> Result<EncodedPayload, EncodeError> {
    let blobs = encode_payload(payload, max_payload)?;
    let results: Result<Vec<_>, KzgError> = blobs
        .par_iter()
        .map(|blob| kzg.commit_and_extend(blob))
        .collect();
    let (commitments, blobs): (Vec<_>, Vec<_>) = results?.into_iter().unzip();
    let header = BlobHeader::new(payload.len() as u32, commitments);
    let data_root = header.data_root();
    Ok(EncodedPayload {
        header,
        data_root,
        blobs,
    })
}

/// The data_root a payload gets, from its blobs' commitments alone (no cells or
/// proofs: ~30 ms per blob instead of ~105): what a client checks a certificate it
/// was handed against.
pub fn payload_data_root(kzg: &Kzg, payload: &[u8]) -> Result<B256, EncodeError> {
    let commit = |b: &crate::codec::Blob| kzg.commit(b);
    let commitments = encode_payload(payload, usize::MAX)?
        .par_iter()
        .map(commit)
        .collect::<Result<Vec<_>, KzgError>>()?;
    Ok(BlobHeader::new(payload.len() as u32, commitments).data_root())
}

/// Verifies columns against a (validated) header in one KZG batch.
pub fn verify_columns(
    kzg: &Kzg,
    header: &BlobHeader,
    columns: &[Column],
) -> Result<(), ColumnError> {
    let mut seen = [false; CELLS_PER_EXT_BLOB];
    for c in columns {
        c.check_shape(header)?;
        if std::mem::replace(&mut seen[usize::from(c.index)], true) {
            return Err(ColumnError::Duplicate(c.index));
        }
    }
    let checks: Vec<CellCheck<'_>> = columns
        .iter()
        .flat_map(|col| {
            header
                .commitments
                .iter()
                .zip(col.cells.iter().zip(&col.proofs))
                .map(move |(commitment, (cell, proof))| CellCheck {
                    commitment,
                    column: col.index,
                    cell,
                    proof,
                })
        })
        .collect();
    kzg.verify_cells(&checks)?;
    Ok(())
}

/// Why a payload could not be recovered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecoverError {
    /// The header is invalid or does not match the expected data_root.
    #[error(transparent)]
    Header(#[from] HeaderError),
    /// A column is malformed or duplicated.
    #[error(transparent)]
    Column(#[from] ColumnError),
    /// Fewer than 64 distinct columns.
    #[error("need {DATA_COLUMNS} distinct columns, have {0}")]
    NotEnoughColumns(usize),
    /// Erasure recovery failed.
    #[error(transparent)]
    Kzg(#[from] KzgError),
    /// The recovered blobs do not decode.
    #[error(transparent)]
    Codec(#[from] CodecError),
}

/// Rebuilds a payload from any ≥ 64 distinct columns. The columns must already be
/// verified (see [`verify_columns`]); the header is validated here. Columns `0..64` are
/// used directly when all present (no erasure decoding); otherwise each blob is recovered
/// in parallel.
pub fn recover_payload(
    kzg: &Kzg,
    header: &BlobHeader,
    columns: &[Column],
) -> Result<Vec<u8>, RecoverError> {
    header.validate()?;
    let mut by_index: BTreeMap<u16, &Column> = BTreeMap::new();
    for c in columns {
        c.check_shape(header)?;
        if by_index.insert(c.index, c).is_some() {
            return Err(ColumnError::Duplicate(c.index).into());
        }
    }
    if by_index.len() < DATA_COLUMNS {
        return Err(RecoverError::NotEnoughColumns(by_index.len()));
    }
    let systematic = (0..DATA_COLUMNS as u16).all(|i| by_index.contains_key(&i));
    let blob_count = header.commitments.len();
    let blobs: Result<Vec<_>, KzgError> = (0..blob_count)
        .into_par_iter()
        .map(|b| {
            if systematic {
                let cells = (0..DATA_COLUMNS as u16)
                    .map(|i| by_index[&i].cells[b].clone())
                    .collect();
                Ok(ExtendedBlob {
                    cells,
                    proofs: Vec::new(),
                }
                .to_blob())
            } else {
                let cells: Vec<(u16, &Cell)> = by_index
                    .iter()
                    .map(|(&i, col)| (i, &col.cells[b]))
                    .collect();
                kzg.recover_blob(&cells)
            }
        })
        .collect();
    Ok(decode_blobs(&blobs?)?)
}
