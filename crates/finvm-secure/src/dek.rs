//! The project data key (DEK) and other 32-byte secrets.

use crate::aead;
use std::fmt;
use zeroize::Zeroizing;

/// A 32-byte secret that is wiped from memory when dropped and never shows in
/// `Debug` output.
#[derive(Clone)]
pub struct Secret32(Zeroizing<[u8; 32]>);

impl Secret32 {
    /// Wraps the bytes.
    pub fn new(bytes: [u8; 32]) -> Self {
        Secret32(Zeroizing::new(bytes))
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    pub(crate) fn as_bytes_mut(&mut self) -> &mut [u8; 32] {
        &mut self.0
    }
}

impl fmt::Debug for Secret32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret32([REDACTED])")
    }
}

/// A project's data-encryption key: 32 random bytes that encrypt its program,
/// inputs, database and outputs. It only ever leaves memory wrapped in a grant.
#[derive(Clone)]
pub struct Dek(Secret32);

impl Dek {
    /// A fresh random key from the operating system's random source.
    pub fn generate() -> Dek {
        Dek(Secret32::new(aead::random()))
    }

    /// A key from known bytes (tests, or a key unwrapped elsewhere).
    pub fn from_bytes(bytes: [u8; 32]) -> Dek {
        Dek(Secret32::new(bytes))
    }

    /// A key from a slice; `None` unless it is exactly 32 bytes.
    pub fn from_slice(bytes: &[u8]) -> Option<Dek> {
        let arr: [u8; 32] = bytes.try_into().ok()?;
        Some(Dek::from_bytes(arr))
    }

    /// The key bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        self.0.as_bytes()
    }
}

impl fmt::Debug for Dek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Dek([REDACTED])")
    }
}
