//! RocksDB helpers shared by the node store, the disperser journal and the op-plugin store.

use std::path::Path;
use std::sync::Arc;

use rocksdb::{ColumnFamilyDescriptor, DB, Options, WriteOptions};

use crate::error::StoreError;

/// Opens (or creates) a database with the given column families.
pub fn open(path: &Path, cfs: &[&str]) -> Result<Arc<DB>, StoreError> {
    let mut opts = Options::default();
    opts.create_if_missing(true);
    opts.create_missing_column_families(true);
    opts.set_compression_type(rocksdb::DBCompressionType::Lz4);
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
pub fn cf<'a>(db: &'a DB, name: &str) -> &'a rocksdb::ColumnFamily {
    db.cf_handle(name)
        .expect("column families are created at open")
}
