//! The legacy v2 passphrase database bundle (DATABASE.md §4.8):
//! `{"v":2,"salt":[…],"iv":[…],"data":[…]}` with decimal byte arrays,
//! key = PBKDF2-HMAC-SHA256(passphrase, salt, 210000, 32 bytes), AES-256-GCM
//! without AAD. Read for compatibility; new stores use a `db` envelope.

use crate::aead::{self, IV_LEN};
use crate::error::{DecryptionFailed, SecureError};
use crate::kdf::{Kdf, KdfFloors};
use serde_json::Value as J;

/// The bundle version number.
pub const V2: u32 = 2;

fn bytes_json(bytes: &[u8]) -> String {
    let items: Vec<String> = bytes.iter().map(u8::to_string).collect();
    format!("[{}]", items.join(","))
}

fn derive(passphrase: &str, salt: &[u8]) -> Result<crate::dek::Secret32, SecureError> {
    Kdf::PBKDF2_DEFAULT
        .derive(passphrase.as_bytes(), salt, &KdfFloors::REFERENCE)
        .map_err(SecureError::Invalid)
}

/// Seals a database plaintext as a v2 bundle with the given salt and IV (for
/// known-answer tests and old readers; new stores use a `db` envelope).
pub fn seal_v2_with(
    passphrase: &str,
    plaintext: &str,
    salt: &[u8; 16],
    iv: [u8; IV_LEN],
) -> Result<String, SecureError> {
    let key = derive(passphrase, salt)?;
    let data = aead::encrypt(key.as_bytes(), &iv, &[], plaintext.as_bytes());
    Ok(format!(
        "{{\"v\":2,\"salt\":{},\"iv\":{},\"data\":{}}}",
        bytes_json(salt),
        bytes_json(&iv),
        bytes_json(&data)
    ))
}

/// True when `text` is a v2 bundle (`v` is the number 2).
pub fn is_v2_bundle(text: &str) -> bool {
    serde_json::from_str::<J>(text)
        .ok()
        .and_then(|j| j.get("v").and_then(J::as_u64))
        == Some(u64::from(V2))
}

fn byte_array(j: Option<&J>) -> Option<Vec<u8>> {
    j?.as_array()?
        .iter()
        .map(|v| v.as_u64().and_then(|n| u8::try_from(n).ok()))
        .collect()
}

/// Opens a v2 bundle with its passphrase (the empty string is valid). A
/// bundle without a salt is `Unsupported FinVM DB bundle: missing
/// key-derivation salt`; a wrong passphrase or tampering is
/// `DecryptionFailed: DB bundle decryption failed`.
pub fn open_v2(passphrase: &str, text: &str) -> Result<String, SecureError> {
    let j: J = serde_json::from_str(text)
        .map_err(|_| DecryptionFailed::new("Unsupported DB bundle format"))?;
    if j.get("v").and_then(J::as_u64) != Some(u64::from(V2)) {
        return Err(DecryptionFailed::new("Unsupported DB bundle format").into());
    }
    let salt = match j.get("salt") {
        None | Some(J::Null) => {
            return Err(SecureError::invalid(
                "Unsupported FinVM DB bundle: missing key-derivation salt",
            ))
        }
        s => byte_array(s).ok_or_else(|| DecryptionFailed::new("DB bundle decryption failed"))?,
    };
    let failed = || DecryptionFailed::new("DB bundle decryption failed");
    let iv = byte_array(j.get("iv")).ok_or_else(failed)?;
    let data = byte_array(j.get("data")).ok_or_else(failed)?;
    let key = derive(passphrase, &salt)?;
    let plain = aead::decrypt(key.as_bytes(), &iv, &[], &data).ok_or_else(failed)?;
    let text = String::from_utf8_lossy(&plain);
    Ok(text.strip_prefix('\u{feff}').unwrap_or(&text).to_string())
}
