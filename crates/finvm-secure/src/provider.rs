//! Key providers (HOST.md §8.5): where the secret that opens a grant comes from.
//!
//! A passphrase comes from a file, an environment variable or an interactive
//! prompt, never from a command-line argument (those are visible to every
//! user of the machine). A wallet private key comes from a hex file. No
//! provider ever shows its secret in `Debug` output or in an error.

use crate::dek::{Dek, Secret32};
use crate::error::SecureError;
use crate::grant::{self, Grant};
use crate::kdf::{Kdf, KdfFloors};
use std::cell::Cell;
use std::fmt;
use std::path::Path;
use zeroize::Zeroizing;

/// The source of the secret that unwraps a grant's data key.
pub trait KeyProvider {
    /// `passphrase`, `wallet` or `test` (the reference's `toSafeJSON().type`).
    fn kind(&self) -> &'static str;

    /// The key-encryption key for a passphrase grant, or `None` when this
    /// provider has no passphrase. An error (a KDF floor, bad parameters)
    /// makes the unwrap fail.
    fn derive_kek(&self, grant: &Grant) -> Result<Option<Secret32>, String>;

    /// The wallet private key for a wallet grant, or `None` when this
    /// provider has none.
    fn wallet_private_key(&self) -> Result<Option<Secret32>, String>;
}

/// A passphrase, held in wiped memory.
pub struct PassphraseProvider {
    passphrase: Zeroizing<String>,
    floors: KdfFloors,
}

impl fmt::Debug for PassphraseProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PassphraseProvider")
            .field("passphrase", &"[REDACTED]")
            .field("floors", &self.floors)
            .finish()
    }
}

impl PassphraseProvider {
    /// A provider for the passphrase, with the reference's KDF floors. An
    /// empty passphrase is `Passphrase required`.
    pub fn new(passphrase: impl Into<String>) -> Result<Self, SecureError> {
        let passphrase = Zeroizing::new(passphrase.into());
        if passphrase.is_empty() {
            return Err(SecureError::invalid("Passphrase required"));
        }
        Ok(PassphraseProvider {
            passphrase,
            floors: KdfFloors::REFERENCE,
        })
    }

    /// Replaces the KDF floors ([`KdfFloors::INSECURE_FOR_TESTS`] for fast tests).
    pub fn with_floors(mut self, floors: KdfFloors) -> Self {
        self.floors = floors;
        self
    }

    /// The floors in force.
    pub fn floors(&self) -> &KdfFloors {
        &self.floors
    }

    /// Reads the passphrase from a UTF-8 file; one trailing line break
    /// (`\n` or `\r\n`) is not part of it.
    pub fn from_file(path: &Path) -> Result<Self, SecureError> {
        let bytes = Zeroizing::new(std::fs::read(path).map_err(|e| {
            SecureError::invalid(format!(
                "cannot read the passphrase file '{}': {}",
                path.display(),
                e.kind()
            ))
        })?);
        let text = std::str::from_utf8(&bytes).map_err(|_| {
            SecureError::invalid(format!(
                "the passphrase file '{}' is not UTF-8 text",
                path.display()
            ))
        })?;
        let text = text
            .strip_suffix("\r\n")
            .or_else(|| text.strip_suffix('\n'))
            .unwrap_or(text);
        Self::new(text.to_string())
    }

    /// Reads the passphrase from an environment variable.
    pub fn from_env(var: &str) -> Result<Self, SecureError> {
        match std::env::var(var) {
            Ok(v) => Self::new(v),
            Err(std::env::VarError::NotPresent) => Err(SecureError::invalid(format!(
                "the environment variable {var} is not set"
            ))),
            Err(std::env::VarError::NotUnicode(_)) => Err(SecureError::invalid(format!(
                "the environment variable {var} is not UTF-8 text"
            ))),
        }
    }

    /// Asks for the passphrase on the terminal without echo; with `confirm`,
    /// asks twice and requires both to match.
    pub fn prompt(confirm: bool) -> Result<Self, SecureError> {
        let read = |label: &str| {
            rpassword::prompt_password(label)
                .map(Zeroizing::new)
                .map_err(|e| {
                    SecureError::invalid(format!("cannot read the passphrase: {}", e.kind()))
                })
        };
        let first = read("Passphrase: ")?;
        if confirm {
            let second = read("Repeat passphrase: ")?;
            if *first != *second {
                return Err(SecureError::invalid("the passphrases do not match"));
            }
        }
        Self::new(first.to_string())
    }

    /// Creates a passphrase grant for `dek` with this passphrase.
    pub fn create_grant(&self, dek: &Dek, kdf: Kdf) -> Result<Grant, SecureError> {
        grant::create_passphrase_grant(&self.passphrase, dek, kdf, &self.floors)
    }

    /// Opens a legacy v2 database bundle (DATABASE.md §4.8) with this passphrase.
    pub fn open_v2_db_bundle(&self, text: &str) -> Result<String, SecureError> {
        crate::dbv2::open_v2(&self.passphrase, text)
    }

    /// True when `text` contains the passphrase (for leak checks).
    pub fn occurs_in(&self, text: &str) -> bool {
        text.contains(self.passphrase.as_str())
    }
}

impl KeyProvider for PassphraseProvider {
    fn kind(&self) -> &'static str {
        "passphrase"
    }

    fn derive_kek(&self, grant: &Grant) -> Result<Option<Secret32>, String> {
        let kdf = grant.kdf(&self.floors)?;
        let salt = grant.salt()?;
        kdf.derive(self.passphrase.as_bytes(), &salt, &self.floors)
            .map(Some)
    }

    fn wallet_private_key(&self) -> Result<Option<Secret32>, String> {
        Ok(None)
    }
}

/// A secp256k1 wallet private key.
pub struct WalletKeyProvider {
    key: Secret32,
}

impl fmt::Debug for WalletKeyProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WalletKeyProvider([REDACTED])")
    }
}

impl WalletKeyProvider {
    /// A provider from a hex private key (optional `0x`; surrounding
    /// whitespace ignored): `Private key must be 32 bytes` otherwise.
    pub fn from_hex(hex: &str) -> Result<Self, SecureError> {
        Ok(WalletKeyProvider {
            key: grant::parse_private_key_hex(hex)?,
        })
    }

    /// Reads the hex private key from a file.
    pub fn from_hex_file(path: &Path) -> Result<Self, SecureError> {
        let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| {
            SecureError::invalid(format!(
                "cannot read the wallet key file '{}': {}",
                path.display(),
                e.kind()
            ))
        })?);
        Self::from_hex(&text)
    }

    /// The compressed public key (what a wallet grant is made for).
    pub fn public_key(&self) -> [u8; 33] {
        grant::wallet_public_key(&self.key).expect("the key was validated")
    }

    /// Creates a wallet grant for `dek` addressed to this key.
    pub fn create_grant(&self, dek: &Dek) -> Result<Grant, SecureError> {
        grant::create_wallet_grant(&self.public_key(), dek)
    }
}

impl KeyProvider for WalletKeyProvider {
    fn kind(&self) -> &'static str {
        "wallet"
    }

    fn derive_kek(&self, _grant: &Grant) -> Result<Option<Secret32>, String> {
        Ok(None)
    }

    fn wallet_private_key(&self) -> Result<Option<Secret32>, String> {
        Ok(Some(self.key.clone()))
    }
}

/// A provider for tests: a fixed KEK and/or wallet key, no KDF, and a count
/// of how often it was asked.
#[derive(Default)]
pub struct StaticKeyProvider {
    kek: Option<Secret32>,
    wallet_key: Option<Secret32>,
    asked: Cell<u32>,
}

impl fmt::Debug for StaticKeyProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StaticKeyProvider([REDACTED])")
    }
}

impl StaticKeyProvider {
    /// A provider that answers every passphrase grant with this KEK.
    pub fn with_kek(kek: [u8; 32]) -> Self {
        StaticKeyProvider {
            kek: Some(Secret32::new(kek)),
            ..Default::default()
        }
    }

    /// A provider that answers every wallet grant with this private key.
    pub fn with_wallet_key(key: [u8; 32]) -> Self {
        StaticKeyProvider {
            wallet_key: Some(Secret32::new(key)),
            ..Default::default()
        }
    }

    /// How many times a key was asked for.
    pub fn times_asked(&self) -> u32 {
        self.asked.get()
    }
}

impl KeyProvider for StaticKeyProvider {
    fn kind(&self) -> &'static str {
        "test"
    }

    fn derive_kek(&self, _grant: &Grant) -> Result<Option<Secret32>, String> {
        self.asked.set(self.asked.get() + 1);
        Ok(self.kek.clone())
    }

    fn wallet_private_key(&self) -> Result<Option<Secret32>, String> {
        self.asked.set(self.asked.get() + 1);
        Ok(self.wallet_key.clone())
    }
}
