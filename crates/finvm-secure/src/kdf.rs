//! Passphrase key derivation (HOST.md §8.4 (a), §8.5): Argon2id v1.3 or
//! PBKDF2-HMAC-SHA256, 32-byte output, with the reference's floors.
//!
//! The floors are the brute-force cost of a stolen grant. They are a policy
//! value ([`KdfFloors`]) so that tests can use cheap parameters explicitly;
//! the command-line tool always uses [`KdfFloors::REFERENCE`].

use crate::dek::Secret32;
use serde_json::{Map, Value as J};

/// The registry id of Argon2id.
pub const ARGON2ID: &str = "argon2id";
/// The registry id of PBKDF2-HMAC-SHA256.
pub const PBKDF2_SHA256: &str = "pbkdf2-sha256";

/// Largest Argon2id memory accepted from a grant: 4 GiB (in KiB). A grant
/// asking for more is refused rather than allowed to exhaust memory.
pub const ARGON2ID_MAX_MEMORY_KIB: u32 = 4 * 1024 * 1024;
/// Largest Argon2id pass count accepted from a grant.
pub const ARGON2ID_MAX_ITERATIONS: u32 = 1024;
/// Largest Argon2id lane count accepted from a grant.
pub const ARGON2ID_MAX_PARALLELISM: u32 = 255;
/// Largest PBKDF2 iteration count accepted from a grant (about a minute of work).
pub const PBKDF2_MAX_ITERATIONS: u32 = 500_000_000;

/// Minimum KDF costs. Creating or opening a grant below them fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KdfFloors {
    /// Minimum Argon2id pass count (`t`).
    pub argon2id_min_iterations: u32,
    /// Minimum Argon2id memory in KiB (`m`).
    pub argon2id_min_memory_kib: u32,
    /// Minimum PBKDF2 iteration count.
    pub pbkdf2_min_iterations: u32,
}

impl KdfFloors {
    /// The reference's floors: Argon2id t ≥ 3 and m ≥ 65536 KiB (64 MiB),
    /// PBKDF2 ≥ 210,000 iterations.
    pub const REFERENCE: KdfFloors = KdfFloors {
        argon2id_min_iterations: 3,
        argon2id_min_memory_kib: 65536,
        pbkdf2_min_iterations: 210_000,
    };

    /// No real floor at all. Only for tests that need fast key derivation:
    /// a grant made with it can be brute-forced.
    pub const INSECURE_FOR_TESTS: KdfFloors = KdfFloors {
        argon2id_min_iterations: 1,
        argon2id_min_memory_kib: 8,
        pbkdf2_min_iterations: 1,
    };
}

impl Default for KdfFloors {
    fn default() -> Self {
        KdfFloors::REFERENCE
    }
}

/// A key-derivation function with its effective parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kdf {
    /// Argon2id v1.3, 32-byte output, no secret or associated data.
    Argon2id {
        /// Pass count `t` (default 3).
        iterations: u32,
        /// Memory `m` in KiB (default 65536).
        memory_kib: u32,
        /// Lanes `p` (default 1).
        parallelism: u32,
    },
    /// PBKDF2-HMAC-SHA256, 32-byte output.
    Pbkdf2Sha256 {
        /// Iteration count (default 210,000).
        iterations: u32,
    },
}

impl Kdf {
    /// The reference's default: Argon2id t=3, m=64 MiB, p=1.
    pub const ARGON2ID_DEFAULT: Kdf = Kdf::Argon2id {
        iterations: 3,
        memory_kib: 65536,
        parallelism: 1,
    };

    /// The reference's PBKDF2 default: 210,000 iterations.
    pub const PBKDF2_DEFAULT: Kdf = Kdf::Pbkdf2Sha256 {
        iterations: 210_000,
    };

    /// The registry id recorded in a grant's `kdf` field.
    pub fn id(&self) -> &'static str {
        match self {
            Kdf::Argon2id { .. } => ARGON2ID,
            Kdf::Pbkdf2Sha256 { .. } => PBKDF2_SHA256,
        }
    }

    /// The grant's `kdfParams`: every effective parameter, explicitly
    /// (`{"iterations":3,"memorySize":65536,"parallelism":1}` or
    /// `{"iterations":210000}`), so the grant's meaning never depends on defaults.
    pub fn params_json(&self) -> Map<String, J> {
        let mut m = Map::new();
        match *self {
            Kdf::Argon2id {
                iterations,
                memory_kib,
                parallelism,
            } => {
                m.insert("iterations".into(), iterations.into());
                m.insert("memorySize".into(), memory_kib.into());
                m.insert("parallelism".into(), parallelism.into());
            }
            Kdf::Pbkdf2Sha256 { iterations } => {
                m.insert("iterations".into(), iterations.into());
            }
        }
        m
    }

    /// Checks the floors (with the reference's messages) and the ceilings.
    pub fn check(&self, floors: &KdfFloors) -> Result<(), String> {
        match *self {
            Kdf::Argon2id {
                iterations,
                memory_kib,
                parallelism,
            } => {
                if memory_kib < floors.argon2id_min_memory_kib {
                    return Err(format!(
                        "Argon2id memory {memory_kib} below floor {}",
                        floors.argon2id_min_memory_kib
                    ));
                }
                if iterations < floors.argon2id_min_iterations {
                    return Err(format!(
                        "Argon2id iterations {iterations} below floor {}",
                        floors.argon2id_min_iterations
                    ));
                }
                if memory_kib > ARGON2ID_MAX_MEMORY_KIB {
                    return Err(format!(
                        "Argon2id memory {memory_kib} above ceiling {ARGON2ID_MAX_MEMORY_KIB}"
                    ));
                }
                if iterations > ARGON2ID_MAX_ITERATIONS {
                    return Err(format!(
                        "Argon2id iterations {iterations} above ceiling {ARGON2ID_MAX_ITERATIONS}"
                    ));
                }
                if parallelism == 0 || parallelism > ARGON2ID_MAX_PARALLELISM {
                    return Err(format!(
                        "Argon2id parallelism {parallelism} outside 1..={ARGON2ID_MAX_PARALLELISM}"
                    ));
                }
                if memory_kib < 8 * parallelism {
                    return Err(format!(
                        "Argon2id memory {memory_kib} below 8 x parallelism {parallelism}"
                    ));
                }
            }
            Kdf::Pbkdf2Sha256 { iterations } => {
                if iterations < floors.pbkdf2_min_iterations {
                    return Err(format!(
                        "PBKDF2 iterations {iterations} below floor {}",
                        floors.pbkdf2_min_iterations
                    ));
                }
                if iterations > PBKDF2_MAX_ITERATIONS {
                    return Err(format!(
                        "PBKDF2 iterations {iterations} above ceiling {PBKDF2_MAX_ITERATIONS}"
                    ));
                }
            }
        }
        Ok(())
    }

    /// Derives the 32-byte key-encryption key from a passphrase and a salt,
    /// after checking the floors.
    pub fn derive(
        &self,
        passphrase: &[u8],
        salt: &[u8],
        floors: &KdfFloors,
    ) -> Result<Secret32, String> {
        self.check(floors)?;
        let mut out = Secret32::new([0u8; 32]);
        let buf = out.as_bytes_mut();
        match *self {
            Kdf::Argon2id {
                iterations,
                memory_kib,
                parallelism,
            } => {
                let params = argon2::Params::new(memory_kib, iterations, parallelism, Some(32))
                    .map_err(|e| format!("Argon2id parameters rejected: {e}"))?;
                argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
                    .hash_password_into(passphrase, salt, buf)
                    .map_err(|e| format!("Argon2id failed: {e}"))?;
            }
            Kdf::Pbkdf2Sha256 { iterations } => {
                pbkdf2::pbkdf2_hmac::<sha2::Sha256>(passphrase, salt, iterations, buf);
            }
        }
        Ok(out)
    }

    /// The KDF a passphrase grant asks for, read as the reference's key
    /// provider reads it (HOST.md §8.5): `kdf` `argon2id` (or absent) takes
    /// `memorySize`/`iterations`/`parallelism` from `kdfParams` with the
    /// defaults 65536/3/1; any other `kdf` is PBKDF2-SHA256 with
    /// `max(floor, kdfParams.iterations ?? 210000)` iterations. A parameter
    /// that is not a non-negative integer is an error.
    pub fn from_grant(
        kdf: Option<&str>,
        params: Option<&Map<String, J>>,
        floors: &KdfFloors,
    ) -> Result<Kdf, String> {
        let empty = Map::new();
        let params = params.unwrap_or(&empty);
        let get = |key: &str, default: u32| -> Result<u32, String> {
            match params.get(key) {
                None | Some(J::Null) => Ok(default),
                Some(v) => {
                    json_u32(v).ok_or_else(|| format!("kdfParams.{key} is not a valid count"))
                }
            }
        };
        match kdf {
            None | Some(ARGON2ID) => Ok(Kdf::Argon2id {
                iterations: get("iterations", 3)?,
                memory_kib: get("memorySize", 65536)?,
                parallelism: get("parallelism", 1)?,
            }),
            Some(_) => Ok(Kdf::Pbkdf2Sha256 {
                iterations: get("iterations", 210_000)?.max(floors.pbkdf2_min_iterations),
            }),
        }
    }
}

/// A JSON number that is an integer in `0..=u32::MAX` (`3.0` counts).
fn json_u32(v: &J) -> Option<u32> {
    let n = v.as_number()?;
    if let Some(u) = n.as_u64() {
        return u32::try_from(u).ok();
    }
    let f: f64 = n.to_string().parse().ok()?;
    (f.fract() == 0.0 && (0.0..=u32::MAX as f64).contains(&f)).then_some(f as u32)
}
