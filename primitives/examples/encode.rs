//! Encodes a payload (a file, or a 1 MiB sample) into KZG-proven columns, verifies a
//! DA node's share, recovers the payload from half of the columns and prints the
//! certificate fields and timings.
//!
//! `cargo run --release -p zg-primitives --example encode [FILE]`

use std::time::Instant;

use zg_primitives::{
    AltDaCommitment, Certificate, DEFAULT_MAX_PAYLOAD, Kzg, custody_columns, encode,
    recover_payload, recovery_nodes, verify_columns,
};

fn main() {
    let payload = match std::env::args().nth(1) {
        Some(path) => std::fs::read(&path).unwrap_or_else(|e| {
            eprintln!("cannot read {path}: {e}");
            std::process::exit(2)
        }),
        None => (0..1024 * 1024u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect(),
    };

    let t = Instant::now();
    let kzg = Kzg::mainnet();
    println!("trusted setup loaded        {:>8.1} ms", ms(t));

    let t = Instant::now();
    let enc = match encode(kzg, &payload, DEFAULT_MAX_PAYLOAD) {
        Ok(enc) => enc,
        Err(e) => {
            eprintln!("cannot encode: {e}");
            std::process::exit(2)
        }
    };
    let took = t.elapsed().as_secs_f64();
    println!(
        "encoded {} bytes into {} blobs {:>8.1} ms ({:.2} MiB/s)",
        payload.len(),
        enc.header.blob_count,
        took * 1e3,
        payload.len() as f64 / took / (1024.0 * 1024.0)
    );
    println!("data_root                   {}", enc.data_root);

    let n = 8;
    let t = Instant::now();
    let share = enc.columns(&custody_columns(0, n));
    verify_columns(kzg, &enc.header, &share).expect("own columns verify");
    println!(
        "member 0/{n}: {} columns verified {:>6.1} ms",
        share.len(),
        ms(t)
    );

    let t = Instant::now();
    let half = enc.columns(&(64..128).collect::<Vec<u16>>());
    let back = recover_payload(kzg, &enc.header, &half).expect("recovers");
    assert_eq!(back, payload);
    println!(
        "recovered from columns 64..128 {:>6.1} ms (byte-identical)",
        ms(t)
    );
    println!(
        "any {} of {n} members can recover",
        recovery_nodes(n).unwrap_or(0)
    );

    let cert = Certificate {
        epoch: 0,
        quorum_id: 0,
        data_root: enc.data_root,
    };
    println!(
        "alt-DA commitment (epoch 0, quorum 0): {}",
        AltDaCommitment::Generic(cert).to_hex()
    );
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}
