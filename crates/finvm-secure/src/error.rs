//! The two error kinds of the secure platform.
//!
//! * [`DecryptionFailed`]: anything that goes wrong while opening sealed
//!   material (unwrapping a data key, decrypting an envelope). It renders as
//!   `DecryptionFailed: <message>`, the reference's error text, and its
//!   message never contains key material or plaintext.
//! * [`SecureError::Invalid`]: a request the platform refuses before any
//!   cryptography happens (a KDF below its floor, an unknown target, a
//!   malformed key), with the reference's message where it has one.

use std::fmt;

/// A failure to open sealed material; `Display` gives `DecryptionFailed: <message>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecryptionFailed {
    message: String,
}

impl DecryptionFailed {
    /// A failure with the given message (without the `DecryptionFailed: ` prefix).
    pub fn new(message: impl Into<String>) -> Self {
        DecryptionFailed {
            message: message.into(),
        }
    }

    /// The message without the `DecryptionFailed: ` prefix.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// `Not a valid fenc envelope`.
    pub(crate) fn not_envelope() -> Self {
        Self::new("Not a valid fenc envelope")
    }

    /// `Envelope decryption failed (tag/AAD/fingerprint mismatch)`.
    pub(crate) fn envelope() -> Self {
        Self::new("Envelope decryption failed (tag/AAD/fingerprint mismatch)")
    }

    /// `DEK unwrap failed`.
    pub(crate) fn unwrap() -> Self {
        Self::new("DEK unwrap failed")
    }
}

impl fmt::Display for DecryptionFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DecryptionFailed: {}", self.message)
    }
}

impl std::error::Error for DecryptionFailed {}

/// Any error of this crate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecureError {
    /// Opening sealed material failed.
    Decryption(DecryptionFailed),
    /// The request was refused before any cryptography (the message is the
    /// reference's where it has one, e.g. `PBKDF2 iterations 1000 below floor 210000`).
    Invalid(String),
}

impl SecureError {
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        SecureError::Invalid(message.into())
    }

    /// True for [`SecureError::Decryption`].
    pub fn is_decryption_failed(&self) -> bool {
        matches!(self, SecureError::Decryption(_))
    }
}

impl fmt::Display for SecureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecureError::Decryption(e) => e.fmt(f),
            SecureError::Invalid(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for SecureError {}

impl From<DecryptionFailed> for SecureError {
    fn from(e: DecryptionFailed) -> Self {
        SecureError::Decryption(e)
    }
}
