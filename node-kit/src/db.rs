//! RocksDB helpers shared by every store (chain, DA node, disperser journal, op-plugin,
//! storage node, compute broker): open with column families, synced writes, one error.

use std::path::Path;
use std::sync::Arc;

use rocksdb::{ColumnFamilyDescriptor, DB, DBCompressionType, Options, WriteOptions};

pub use crate::error::StoreError;

/// Opens (or creates) a database with the given column families, LZ4-compressed.
pub fn open(path: &Path, cfs: &[&str]) -> Result<Arc<DB>, rocksdb::Error> {
    open_with(path, cfs, DBCompressionType::Lz4)
}

/// [`open`] with another compression (e.g. `None` for data that does not compress).
pub fn open_with(
    path: &Path,
    cfs: &[&str],
    compression: DBCompressionType,
) -> Result<Arc<DB>, rocksdb::Error> {
    let mut opts = Options::default();
    opts.create_if_missing(true);
    opts.create_missing_column_families(true);
    opts.set_compression_type(compression);
    let descriptors = cfs
        .iter()
        .map(|n| ColumnFamilyDescriptor::new(*n, Options::default()));
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
