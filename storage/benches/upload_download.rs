//! Storage throughput: upload and download of a 64 MiB file through the flow module and
//! storage nodes on loopback (one node; a 4-node cluster coded (2, 2)), against raw
//! RocksDB writes measured in the same run. Writes `target/bench/storage.json`.
//!
//! `cargo bench -p zg-storage --bench upload_download` (`ZG_BENCH_QUICK=1`: 16 MiB).
//!
//! Upload (end to end) runs from the first byte to "finalized": the client's Merkle tree,
//! the submit transaction, segment uploads with proofs, synced writes. Ingest is the
//! node's part alone: from the first segment sent (tree and submission done) to
//! finalized, which the target compares with raw RocksDB: the same bytes written as
//! 256 KiB values in synced batches of one upload call's segments, the node's own write
//! pattern, into a fresh RocksDB in the same run.

use std::time::Instant;

use rocksdb::{DB, Options, WriteBatch, WriteOptions};
use serde_json::json;
use zg_storage::{Downloader, FileMerkle, SEGMENT_SIZE, UploadOptions, Uploader};
use zg_testkit::storage::{Stack, TempDir, dev_signer};

fn mib_s(bytes: usize, secs: f64) -> f64 {
    bytes as f64 / secs / (1024.0 * 1024.0)
}

fn raw_rocksdb(data: &[u8], per_batch: usize) -> f64 {
    let dir = TempDir::new("raw");
    let mut opts = Options::default();
    opts.create_if_missing(true);
    opts.set_compression_type(rocksdb::DBCompressionType::None);
    let db = DB::open(&opts, &dir.0).unwrap();
    let mut w = WriteOptions::default();
    w.set_sync(true);
    let t = Instant::now();
    for (b, batch_data) in data.chunks(per_batch * SEGMENT_SIZE).enumerate() {
        let mut batch = WriteBatch::default();
        for (i, seg) in batch_data.chunks(SEGMENT_SIZE).enumerate() {
            batch.put(((b * per_batch + i) as u64).to_be_bytes(), seg);
        }
        db.write_opt(batch, &w).unwrap();
    }
    mib_s(data.len(), t.elapsed().as_secs_f64())
}

/// Upload settings: the uploader's defaults, or `ZG_BENCH_SEGMENTS_PER_CALL` and
/// `ZG_BENCH_CONCURRENCY` when set (to explore).
fn options() -> UploadOptions {
    let env = |k: &str| std::env::var(k).ok().and_then(|v| v.parse().ok());
    let d = UploadOptions::default();
    UploadOptions {
        segments_per_call: env("ZG_BENCH_SEGMENTS_PER_CALL").unwrap_or(d.segments_per_call),
        concurrency: env("ZG_BENCH_CONCURRENCY").unwrap_or(d.concurrency),
        ..d
    }
}

async fn run(stack: &Stack, entry: usize, data: &[u8], rounds: usize) -> serde_json::Value {
    let up = Uploader::new(
        vec![stack.client(entry)],
        &stack.chain.rpc_url(),
        dev_signer(0),
        zg_primitives::abi::FLOW_ADDRESS,
    )
    .unwrap();
    let mut ups = Vec::new();
    let mut downs = Vec::new();
    let mut ingests = Vec::new();
    let node = stack.client(entry);
    for r in 0..rounds {
        // The node's ingest alone: segments with proofs until finalized, the client's
        // tree and the submission done beforehand.
        let mut file = data.to_vec();
        file[1] = r as u8;
        let m = FileMerkle::new(&file).unwrap();
        let (seq, _, _) = up.submit(&m, &[]).await.unwrap();
        while node.file_info_by_seq(seq).await.unwrap().is_none() {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        let t = Instant::now();
        up.upload_to(&node, &file, &m, seq, &options())
            .await
            .unwrap();
        while !node.file_info_by_seq(seq).await.unwrap().unwrap().finalized {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        ingests.push(mib_s(file.len(), t.elapsed().as_secs_f64()));
        let mut file = data.to_vec();
        file[0] = r as u8; // a new root each round
        let t = Instant::now();
        let receipt = up.upload(&file, &options()).await.unwrap();
        ups.push(mib_s(file.len(), t.elapsed().as_secs_f64()));
        let t = Instant::now();
        let back = Downloader::new(vec![stack.client(entry)])
            .download(receipt.root)
            .await
            .unwrap();
        downs.push(mib_s(file.len(), t.elapsed().as_secs_f64()));
        assert!(back == file);
    }
    let best = |v: &[f64]| v.iter().cloned().fold(0.0, f64::max);
    json!({
        "upload_mib_s": best(&ups),
        "ingest_mib_s": best(&ingests),
        "download_mib_s": best(&downs),
        "rounds": rounds,
    })
}

fn main() {
    let quick = std::env::var("ZG_BENCH_QUICK").is_ok();
    let size = if quick { 16 << 20 } else { 64 << 20 };
    let rounds = if quick { 1 } else { 3 };
    let data: Vec<u8> = (0..size)
        .map(|i: usize| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let per_batch = options().segments_per_call;
    let raw = (0..rounds)
        .map(|_| raw_rocksdb(&data, per_batch))
        .fold(0.0, f64::max);
    let t = Instant::now();
    std::hint::black_box(FileMerkle::new(&data).unwrap());
    let merkle = mib_s(size, t.elapsed().as_secs_f64());
    let (one, four) = rt.block_on(async {
        let stack = Stack::dev(1).await;
        let one = run(&stack, 0, &data, rounds).await;
        drop(stack);
        let stack = Stack::cluster(4, 2).await;
        let four = run(&stack, 0, &data, rounds).await;
        (one, four)
    });
    let ratio = |v: &serde_json::Value| v["ingest_mib_s"].as_f64().unwrap() / raw;
    let report = json!({
        "file_mib": size >> 20,
        "segments_per_call": per_batch,
        "concurrency": options().concurrency,
        "raw_rocksdb_write_mib_s": raw,
        "merkle_tree_mib_s": merkle,
        "one_node": one,
        "one_node_upload_vs_raw": ratio(&one),
        "cluster_4_nodes_k2": four,
        "cluster_upload_vs_raw": ratio(&four),
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
    });
    let text = serde_json::to_string_pretty(&report).unwrap();
    println!("{text}");
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench");
    let _ = std::fs::create_dir_all(&out);
    let _ = std::fs::write(out.join("storage.json"), text);
}
