//! Encode, verify and recover benchmarks: our pipeline against the raw `rust_eth_kzg` calls
//! it wraps, single-threaded and on all cores.
//!
//! `cargo bench -p zg-primitives` (set `ZG_KZG_PRECOMPUTE=8` to measure with the prover's
//! fixed-base tables).

use criterion::{
    BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;
use zg_primitives::{
    CellCheck, Column, DEFAULT_MAX_PAYLOAD, Kzg, encode, encode_payload, recover_payload,
    verify_columns,
};

const KIB: usize = 1024;
const MIB: usize = 1024 * KIB;

fn payload(len: usize) -> Vec<u8> {
    let mut rng = StdRng::seed_from_u64(len as u64);
    (0..len).map(|_| rng.random()).collect()
}

fn pools() -> Vec<(&'static str, rayon::ThreadPool)> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut v = vec![(
        "1-thread",
        rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap(),
    )];
    if cores > 1 {
        v.push((
            "all-cores",
            rayon::ThreadPoolBuilder::new()
                .num_threads(cores)
                .build()
                .unwrap(),
        ));
    }
    v
}

fn bench_encode(c: &mut Criterion) {
    let kzg = Kzg::mainnet();
    let mut group = c.benchmark_group("encode");
    group.sample_size(10);
    for (label, len) in [("120KB", 120_000), ("1MiB", MIB), ("16MiB", 16 * MIB)] {
        let data = payload(len);
        let blobs = encode_payload(&data, DEFAULT_MAX_PAYLOAD).unwrap();
        group.throughput(Throughput::Bytes(len as u64));
        let big = len >= 16 * MIB;
        group.sampling_mode(if big {
            SamplingMode::Flat
        } else {
            SamplingMode::Auto
        });
        group.measurement_time(std::time::Duration::from_secs(if big { 120 } else { 20 }));
        for (threads, pool) in pools() {
            // Single-thread scaling is shown by the smaller sizes; 16 MiB on one thread
            // would take minutes per sample.
            if big && threads == "1-thread" {
                continue;
            }
            // Raw library: compute_cells_and_kzg_proofs over the payload's blobs, the
            // library's own parallelism inside each call.
            group.bench_with_input(
                BenchmarkId::new(format!("raw-cells/{threads}"), label),
                &blobs,
                |b, blobs| {
                    b.iter(|| {
                        pool.install(|| {
                            for blob in blobs {
                                kzg.compute_cells_and_proofs(blob).unwrap();
                            }
                        })
                    })
                },
            );
            // Ours: codec + commitments + cells + proofs + data_root.
            group.bench_with_input(
                BenchmarkId::new(format!("full-encode/{threads}"), label),
                &data,
                |b, data| {
                    b.iter(|| pool.install(|| encode(kzg, data, DEFAULT_MAX_PAYLOAD).unwrap()))
                },
            );
        }
    }
    group.finish();
}

fn bench_verify(c: &mut Criterion) {
    let kzg = Kzg::mainnet();
    let data = payload(MIB);
    let enc = encode(kzg, &data, DEFAULT_MAX_PAYLOAD).unwrap();
    let mut group = c.benchmark_group("verify-1MiB");
    for n in [1usize, 16] {
        let idx: Vec<u16> = (0..n as u16).map(|i| i * 7 % 128).collect();
        let cols: Vec<Column> = enc.columns(&idx);
        group.bench_with_input(BenchmarkId::new("columns", n), &cols, |b, cols| {
            b.iter(|| verify_columns(kzg, &enc.header, cols).unwrap())
        });
        let checks: Vec<CellCheck<'_>> = cols
            .iter()
            .flat_map(|col| {
                enc.header
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
        group.bench_with_input(BenchmarkId::new("raw-batch", n), &checks, |b, checks| {
            b.iter(|| kzg.verify_cells(checks).unwrap())
        });
    }
    group.finish();
}

fn bench_recover(c: &mut Criterion) {
    let kzg = Kzg::mainnet();
    let data = payload(MIB);
    let enc = encode(kzg, &data, DEFAULT_MAX_PAYLOAD).unwrap();
    let mut group = c.benchmark_group("recover-1MiB");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(MIB as u64));
    let second_half: Vec<Column> = enc.columns(&(64..128).collect::<Vec<u16>>());
    let first_half: Vec<Column> = enc.columns(&(0..64).collect::<Vec<u16>>());
    group.bench_function("from-columns-64..128", |b| {
        b.iter(|| recover_payload(kzg, &enc.header, &second_half).unwrap())
    });
    group.bench_function("from-columns-0..64", |b| {
        b.iter(|| recover_payload(kzg, &enc.header, &first_half).unwrap())
    });
    group.bench_function("raw-recover-64..128", |b| {
        b.iter(|| {
            (0..enc.blobs.len()).into_par_iter().for_each(|blob| {
                let cells: Vec<_> = second_half
                    .iter()
                    .map(|c| (c.index, &c.cells[blob]))
                    .collect();
                kzg.recover(&cells).unwrap();
            })
        })
    });
    group.finish();
}

criterion_group!(benches, bench_encode, bench_verify, bench_recover);
criterion_main!(benches);
