//! Segment validation: an uploaded segment against its submission, as 0G's node checks it.

use crate::error::NodeError;
use crate::merkle::{CHUNK_SIZE, FileLayout};
use crate::store::TxRecord;
use crate::types::{CheckedSegment, SegmentWithProof};

/// Validates segments as 0G's node does (sizes, root, file size, Merkle proof against
/// the submitted root) and returns `(index, data, leaf, proof)` to store.
pub fn check_segments(
    tx: &TxRecord,
    segments: Vec<SegmentWithProof>,
) -> Result<Vec<CheckedSegment>, NodeError> {
    use rayon::prelude::*;
    let layout = tx.layout();
    segments
        .into_par_iter()
        .map(|s| check_segment(tx, &layout, s))
        .collect()
}

fn check_segment(
    tx: &TxRecord,
    layout: &FileLayout,
    s: SegmentWithProof,
) -> Result<CheckedSegment, NodeError> {
    if s.root != tx.root {
        return Err(NodeError::invalid("root", "data root and tx seq not match"));
    }
    if s.file_size != tx.size {
        return Err(NodeError::invalid(
            "file_size",
            format!(
                "file size {} does not match the submitted {}",
                s.file_size, tx.size
            ),
        ));
    }
    if s.data.is_empty() || !s.data.len().is_multiple_of(CHUNK_SIZE) {
        return Err(NodeError::invalid(
            "data",
            format!(
                "segment of {} bytes is not whole 256-byte chunks",
                s.data.len()
            ),
        ));
    }
    if s.index >= layout.segments() {
        return Err(NodeError::invalid(
            "index",
            format!(
                "segment {} is beyond the file's {} segments",
                s.index,
                layout.segments()
            ),
        ));
    }
    let want = layout.segment_len(s.index);
    if s.data.len() != want {
        return Err(NodeError::invalid(
            "data",
            format!(
                "segment {} must be {want} bytes, got {}",
                s.index,
                s.data.len()
            ),
        ));
    }
    let leaf = layout.segment_root(s.index, &s.data);
    s.proof
        .verify(&leaf, &tx.root, s.index, layout.proof_leaves())
        .map_err(|e| NodeError::invalid("proof", e.to_string()))?;
    Ok((s.index, s.data, leaf, s.proof))
}
