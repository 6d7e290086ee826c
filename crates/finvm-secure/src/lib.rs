//! # FinVM secure platform
//!
//! Sealed programs, inputs, stores and outputs, byte-compatible with the
//! JavaScript FinVM v1.2.0 (HOST.md §8): a server keeps only ciphertext and
//! a wrapped data key; only a holder of a passphrase or a wallet key can open
//! and run the project.
//!
//! * [`Envelope`]: the `fenc` envelope, AES-256-GCM with AAD `finvm:<target>`.
//! * [`Dek`], [`Grant`]: the project data key, wrapped for a passphrase
//!   (`aesgcm-keywrap`, Argon2id or PBKDF2) or a wallet (`ecies-secp256k1`).
//! * [`KeyProvider`]: where the unwrapping secret comes from.
//! * [`load_secure`], [`run_sealed`]: the decrypt boundary: everything is
//!   opened (or the run fails with `DecryptionFailed`) before anything runs.
//!
//! Secrets (passphrases, private keys, KEKs, DEKs) are held in memory that is
//! wiped on drop, never appear in `Debug` output, and never appear in error
//! messages.

#![warn(missing_docs)]

pub mod aead;
pub mod b64;
pub mod dbv2;
pub mod dek;
pub mod envelope;
pub mod error;
pub mod grant;
pub mod kdf;
pub mod loader;
pub mod provider;
pub mod redact;

pub use dek::{Dek, Secret32};
pub use envelope::{Envelope, Target};
pub use error::{DecryptionFailed, SecureError};
pub use grant::{
    create_passphrase_grant, create_wallet_grant, create_wallet_grant_for_private_key, unwrap_dek,
    Grant,
};
pub use kdf::{Kdf, KdfFloors};
pub use loader::{
    load_secure, run_sealed, run_with_inputs, seal_output, Artifacts, Loaded, SealedRun,
};
pub use provider::{KeyProvider, PassphraseProvider, StaticKeyProvider, WalletKeyProvider};
