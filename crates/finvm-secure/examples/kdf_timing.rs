//! Measures the passphrase KDFs at the reference's floors (the brute-force
//! cost of one guess against a stolen grant):
//! `cargo run --release -p finvm-secure --example kdf_timing`.

use finvm_secure::{Kdf, KdfFloors};
use std::time::{Duration, Instant};

fn best_of(runs: u32, kdf: Kdf) -> Duration {
    let salt = [7u8; 16];
    (0..runs)
        .map(|_| {
            let start = Instant::now();
            let key = kdf
                .derive(
                    b"correct horse battery staple",
                    &salt,
                    &KdfFloors::REFERENCE,
                )
                .expect("parameters at the floor");
            std::hint::black_box(key);
            start.elapsed()
        })
        .min()
        .expect("at least one run")
}

fn main() {
    for (name, kdf) in [
        ("Argon2id t=3 m=64MiB p=1", Kdf::ARGON2ID_DEFAULT),
        ("PBKDF2-HMAC-SHA256 210000", Kdf::PBKDF2_DEFAULT),
    ] {
        let t = best_of(5, kdf);
        println!("{name}: {:.1} ms (best of 5)", t.as_secs_f64() * 1000.0);
    }
}
