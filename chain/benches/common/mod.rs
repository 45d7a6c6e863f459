//! What several chain benchmarks share.

pub(crate) mod anchors;
