//! RocksDB helpers shared by every store (chain, DA node, disperser journal, op-plugin,
//! storage node, compute broker): open with column families, synced writes, one error.

use std::path::Path;
use std::sync::Arc;

use rocksdb::{
    BlockBasedOptions, Cache, ColumnFamilyDescriptor, DB, DBCompressionType, Options, WriteOptions,
};

pub use crate::error::StoreError;

/// Opens (or creates) a database with the given column families, LZ4-compressed.
pub fn open(path: &Path, cfs: &[&str]) -> Result<Arc<DB>, rocksdb::Error> {
    open_with(path, cfs, DBCompressionType::Lz4)
}

/// The default block cache of one database (uncompressed blocks, shared by its column
/// families; filled only as blocks are read).
pub const BLOCK_CACHE_BYTES: usize = 64 << 20;

/// [`open`] with another compression (e.g. `None` for data that does not compress).
pub fn open_with(
    path: &Path,
    cfs: &[&str],
    compression: DBCompressionType,
) -> Result<Arc<DB>, rocksdb::Error> {
    open_tuned(
        path,
        cfs,
        &Tuning {
            compression,
            ..Tuning::default()
        },
    )
}

/// How a database is laid out beyond its column families.
#[derive(Clone, Debug)]
pub struct Tuning<'a> {
    /// Compression of every column family but `uncompressed`.
    pub compression: DBCompressionType,
    /// Column families whose data does not compress (hashes, erasure-coded bytes).
    pub uncompressed: &'a [&'a str],
    /// Size of the block cache the column families share.
    pub block_cache_bytes: usize,
}

impl Default for Tuning<'_> {
    fn default() -> Self {
        Self {
            compression: DBCompressionType::Lz4,
            uncompressed: &[],
            block_cache_bytes: BLOCK_CACHE_BYTES,
        }
    }
}

/// [`open`] with explicit [`Tuning`].
pub fn open_tuned(
    path: &Path,
    cfs: &[&str],
    tuning: &Tuning<'_>,
) -> Result<Arc<DB>, rocksdb::Error> {
    let mut opts = Options::default();
    opts.create_if_missing(true);
    opts.create_missing_column_families(true);
    opts.set_compression_type(tuning.compression);
    // Every column family: its compression, a bloom filter (a lookup of a key that is
    // absent, e.g. a new account or an unknown hash, skips the SST files that cannot hold
    // it) and one block cache shared by the database's column families.
    let cache = Cache::new_lru_cache(tuning.block_cache_bytes);
    let mut table = BlockBasedOptions::default();
    table.set_bloom_filter(10.0, false);
    table.set_block_cache(&cache);
    let descriptors = cfs.iter().map(|n| {
        let mut cf_opts = Options::default();
        cf_opts.set_compression_type(if tuning.uncompressed.contains(n) {
            DBCompressionType::None
        } else {
            tuning.compression
        });
        cf_opts.set_block_based_table_factory(&table);
        ColumnFamilyDescriptor::new(*n, cf_opts)
    });
    Ok(Arc::new(DB::open_cf_descriptors(&opts, path, descriptors)?))
}

/// Write options for acknowledged data: the write-ahead log is synced before returning.
pub fn durable() -> WriteOptions {
    let mut w = WriteOptions::default();
    w.set_sync(true);
    w
}

/// A column family handle (created at open).
///
/// # Panics
/// When `name` was not among the column families the database was opened with (a
/// programming error, never input-dependent).
pub fn cf<'a>(db: &'a DB, name: &str) -> &'a rocksdb::ColumnFamily {
    db.cf_handle(name)
        .expect("column families are created at open")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_durable_write_and_reopen() {
        let dir = crate::TempDir::new("kit-db");
        {
            let db = open(&dir.0, &["a", "b"]).unwrap();
            db.put_cf_opt(cf(&db, "b"), b"k", b"v", &durable()).unwrap();
        }
        let db = open_with(&dir.0, &["a", "b"], DBCompressionType::None).unwrap();
        assert_eq!(
            db.get_cf(cf(&db, "b"), b"k").unwrap().as_deref(),
            Some(&b"v"[..])
        );
        assert!(db.get_cf(cf(&db, "a"), b"k").unwrap().is_none());
        let e = StoreError::corrupt("k", "short");
        assert_eq!(e.to_string(), "corrupt record k: short");
    }
}
