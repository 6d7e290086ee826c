//! AES-256-GCM with a 12-byte IV and the 16-byte tag appended, and the
//! operating-system random source.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};

/// Length of an AES-GCM IV (nonce) in bytes.
pub const IV_LEN: usize = 12;
/// Length of the authentication tag appended to every ciphertext.
pub const TAG_LEN: usize = 16;

/// `ciphertext ‖ tag` of `plaintext` under `key` and `iv`, authenticating `aad`.
pub fn encrypt(key: &[u8; 32], iv: &[u8; IV_LEN], aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let cipher = Aes256Gcm::new(&Key::<Aes256Gcm>::from(*key));
    cipher
        .encrypt(
            &Nonce::from(*iv),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        // Only a plaintext longer than 64 GiB can fail.
        .expect("AES-GCM plaintext within the size limit")
}

/// The plaintext, or `None` when the IV is not 12 bytes or the tag does not
/// authenticate (wrong key, tampered ciphertext or AAD, truncation).
pub fn decrypt(key: &[u8; 32], iv: &[u8], aad: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
    let iv: [u8; IV_LEN] = iv.try_into().ok()?;
    if sealed.len() < TAG_LEN {
        return None;
    }
    let cipher = Aes256Gcm::new(&Key::<Aes256Gcm>::from(*key));
    cipher
        .decrypt(&Nonce::from(iv), Payload { msg: sealed, aad })
        .ok()
}

/// `N` bytes from the operating system's random source.
///
/// # Panics
/// When the operating system has no random source; sealing must never go on
/// with predictable keys or IVs.
pub fn random<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    getrandom::fill(&mut out).expect("the operating system random source is unavailable");
    out
}
