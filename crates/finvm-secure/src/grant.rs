//! Grants: the project's data key wrapped for one holder (HOST.md §8.4).
//!
//! * `aesgcm-keywrap`: a passphrase grant. KEK = Argon2id or PBKDF2 of the
//!   passphrase and a 16-byte salt; `ct` = AES-256-GCM(KEK, iv, DEK, AAD
//!   `finvm:dek-wrap`).
//! * `ecies-secp256k1` (alias `eth-decrypt`): a wallet grant. ECDH on
//!   secp256k1 between an ephemeral key and the recipient's key; AES key =
//!   SHA-256 of the shared point's x coordinate; `ct` = AES-256-GCM(key, iv,
//!   DEK, AAD `finvm:ecies-dek`).
//!
//! Unlike the reference, a passphrase grant made here always records the KDF
//! it really used (`argon2id` or `pbkdf2-sha256`) and every parameter in
//! `kdfParams`, so its meaning never depends on defaults or on the
//! environment. Grants made by the reference (`"kdfParams":{}`, any `kdf`
//! string) are read exactly as the reference reads them.

use crate::aead::{self, IV_LEN};
use crate::b64;
use crate::dek::{Dek, Secret32};
use crate::error::{DecryptionFailed, SecureError};
use crate::kdf::{Kdf, KdfFloors};
use crate::provider::KeyProvider;
use k256::elliptic_curve::ecdh::diffie_hellman;
use k256::{PublicKey, SecretKey};
use serde_json::{Map, Value as J};
use sha2::{Digest, Sha256};

/// The passphrase wrap id.
pub const WRAP_KEYWRAP: &str = "aesgcm-keywrap";
/// The wallet wrap id.
pub const WRAP_ECIES: &str = "ecies-secp256k1";
/// The reference's alias of [`WRAP_ECIES`] (not MetaMask's `eth_decrypt` format).
pub const WRAP_ETH_DECRYPT: &str = "eth-decrypt";

/// The AAD of a passphrase wrap.
pub const DEK_WRAP_AAD: &str = "finvm:dek-wrap";
/// The AAD of a wallet wrap.
pub const ECIES_AAD: &str = "finvm:ecies-dek";

/// Length of a passphrase grant's salt.
pub const SALT_LEN: usize = 16;

/// A grant: a JSON object whose fields are kept in the order given, so a
/// grant read from disk is written back byte for byte.
#[derive(Clone, Debug, PartialEq)]
pub struct Grant {
    fields: Map<String, J>,
}

impl Grant {
    /// A grant from a JSON object; `None` for any other JSON value.
    pub fn from_json(j: J) -> Option<Grant> {
        match j {
            J::Object(fields) => Some(Grant { fields }),
            _ => None,
        }
    }

    /// Parses grant text; anything but a JSON object is a `DecryptionFailed`.
    pub fn parse(text: &str) -> Result<Grant, DecryptionFailed> {
        serde_json::from_str::<J>(text)
            .ok()
            .and_then(Grant::from_json)
            .ok_or_else(|| {
                DecryptionFailed::new("DEK unwrap failed (the grant is not a JSON object)")
            })
    }

    /// The `wrap` field.
    pub fn wrap(&self) -> Option<&str> {
        self.str_field("wrap")
    }

    /// A string field.
    pub fn str_field(&self, key: &str) -> Option<&str> {
        self.fields.get(key).and_then(J::as_str)
    }

    /// The fields.
    pub fn fields(&self) -> &Map<String, J> {
        &self.fields
    }

    /// Compact JSON in field order.
    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.fields).expect("JSON serialises")
    }

    /// The KDF this grant asks for, with its effective parameters
    /// (passphrase grants only; see [`Kdf::from_grant`]).
    pub fn kdf(&self, floors: &KdfFloors) -> Result<Kdf, String> {
        let params = self.fields.get("kdfParams").and_then(J::as_object);
        Kdf::from_grant(self.str_field("kdf"), params, floors)
    }

    /// The salt of a passphrase grant: the base64 `salt`, or 16 zero bytes
    /// when it is absent, null or empty.
    pub fn salt(&self) -> Result<Vec<u8>, String> {
        match self.fields.get("salt") {
            None | Some(J::Null) => Ok(vec![0; SALT_LEN]),
            Some(J::String(s)) if s.is_empty() => Ok(vec![0; SALT_LEN]),
            Some(J::String(s)) => Ok(b64::decode(s)),
            Some(_) => Err("salt is not a string".into()),
        }
    }
}

fn obj(entries: Vec<(&str, J)>) -> Map<String, J> {
    entries
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
}

/// Creates a passphrase grant for `dek` with a random salt and IV, after
/// checking the KDF against `floors` (the reference's messages, e.g.
/// `Argon2id memory 1024 below floor 65536`).
pub fn create_passphrase_grant(
    passphrase: &str,
    dek: &Dek,
    kdf: Kdf,
    floors: &KdfFloors,
) -> Result<Grant, SecureError> {
    if passphrase.is_empty() {
        return Err(SecureError::invalid("Passphrase required"));
    }
    let salt: [u8; SALT_LEN] = aead::random();
    let kek = kdf
        .derive(passphrase.as_bytes(), &salt, floors)
        .map_err(SecureError::Invalid)?;
    Ok(passphrase_grant_from_parts(
        &kek,
        dek,
        kdf.id(),
        kdf.params_json(),
        &salt,
        aead::random(),
    ))
}

/// Assembles a passphrase grant from an already derived KEK:
/// `{"wrap":"aesgcm-keywrap","iv","ct","kdf","salt","kdfParams"}`.
/// The IV must never be reused with the same KEK: this exists for
/// known-answer tests; use [`create_passphrase_grant`].
pub fn passphrase_grant_from_parts(
    kek: &Secret32,
    dek: &Dek,
    kdf_id: &str,
    kdf_params: Map<String, J>,
    salt: &[u8],
    iv: [u8; IV_LEN],
) -> Grant {
    let ct = aead::encrypt(kek.as_bytes(), &iv, DEK_WRAP_AAD.as_bytes(), dek.as_bytes());
    Grant {
        fields: obj(vec![
            ("wrap", WRAP_KEYWRAP.into()),
            ("iv", b64::encode(&iv).into()),
            ("ct", b64::encode(&ct).into()),
            ("kdf", kdf_id.into()),
            ("salt", b64::encode(salt).into()),
            ("kdfParams", J::Object(kdf_params)),
        ]),
    }
}

/// Parses a secp256k1 private key in hex as the reference does (an optional
/// `0x` prefix, then 64 hex digits); surrounding whitespace is ignored.
pub fn parse_private_key_hex(hex: &str) -> Result<Secret32, SecureError> {
    let hex = hex.trim();
    let hex = hex.strip_prefix("0x").unwrap_or(hex);
    let bytes = hex.as_bytes();
    if bytes.len() != 64 {
        return Err(SecureError::invalid("Private key must be 32 bytes"));
    }
    let mut out = Secret32::new([0; 32]);
    for (i, pair) in bytes.chunks(2).enumerate() {
        let digit = |c: u8| (c as char).to_digit(16);
        match (digit(pair[0]), digit(pair[1])) {
            (Some(h), Some(l)) => out.as_bytes_mut()[i] = (h * 16 + l) as u8,
            _ => {
                return Err(SecureError::invalid(
                    "Private key must be 32 bytes (64 hexadecimal digits)",
                ))
            }
        }
    }
    secret_key(&out)?;
    Ok(out)
}

fn secret_key(bytes: &Secret32) -> Result<SecretKey, SecureError> {
    SecretKey::from_slice(bytes.as_bytes())
        .map_err(|_| SecureError::invalid("Private key is not a valid secp256k1 scalar"))
}

/// The compressed (33-byte) public key of a secp256k1 private key.
pub fn wallet_public_key(private_key: &Secret32) -> Result<[u8; 33], SecureError> {
    let pk = secret_key(private_key)?.public_key();
    Ok(compressed(&pk))
}

fn compressed(pk: &PublicKey) -> [u8; 33] {
    let bytes = pk.to_sec1_bytes();
    bytes[..]
        .try_into()
        .expect("secp256k1 points encode compressed (33 bytes)")
}

/// Parses a recipient public key: SEC1 compressed (33 bytes) or uncompressed
/// (65 bytes), given as hex (optional `0x`) or base64.
pub fn parse_public_key(text: &str) -> Result<[u8; 33], SecureError> {
    let t = text.trim();
    let t = t.strip_prefix("0x").unwrap_or(t);
    let bytes = if t.len() % 2 == 0 && t.bytes().all(|c| c.is_ascii_hexdigit()) {
        (0..t.len() / 2)
            .map(|i| u8::from_str_radix(&t[2 * i..2 * i + 2], 16).expect("hex checked"))
            .collect()
    } else {
        b64::decode(t)
    };
    let pk = PublicKey::from_sec1_bytes(&bytes)
        .map_err(|_| SecureError::invalid("Public key is not a valid secp256k1 point"))?;
    Ok(compressed(&pk))
}

/// Creates a wallet grant for the holder of `recipient_pub` (a compressed or
/// uncompressed SEC1 point) with a fresh ephemeral key and IV.
pub fn create_wallet_grant(recipient_pub: &[u8], dek: &Dek) -> Result<Grant, SecureError> {
    loop {
        let eph = Secret32::new(aead::random());
        if SecretKey::from_slice(eph.as_bytes()).is_ok() {
            return wallet_grant_from_parts(recipient_pub, dek, &eph, aead::random());
        }
    }
}

/// Creates a wallet grant from the recipient's private key, as the
/// reference's `createWalletGrant(privateKeyHex, dek)` does.
pub fn create_wallet_grant_for_private_key(
    private_key_hex: &str,
    dek: &Dek,
) -> Result<Grant, SecureError> {
    let sk = parse_private_key_hex(private_key_hex)?;
    create_wallet_grant(&wallet_public_key(&sk)?, dek)
}

/// Assembles a wallet grant with a given ephemeral secret and IV:
/// `{"wrap":"ecies-secp256k1","ephemeralPub","iv","ct","recipientPub"}`.
/// Both must be fresh for every grant: this exists for known-answer tests;
/// use [`create_wallet_grant`].
pub fn wallet_grant_from_parts(
    recipient_pub: &[u8],
    dek: &Dek,
    ephemeral_secret: &Secret32,
    iv: [u8; IV_LEN],
) -> Result<Grant, SecureError> {
    let recipient = PublicKey::from_sec1_bytes(recipient_pub)
        .map_err(|_| SecureError::invalid("Public key is not a valid secp256k1 point"))?;
    let eph = secret_key(ephemeral_secret)?;
    let key = ecies_key(&eph, &recipient);
    let ct = aead::encrypt(key.as_bytes(), &iv, ECIES_AAD.as_bytes(), dek.as_bytes());
    Ok(Grant {
        fields: obj(vec![
            ("wrap", WRAP_ECIES.into()),
            (
                "ephemeralPub",
                b64::encode(&compressed(&eph.public_key())).into(),
            ),
            ("iv", b64::encode(&iv).into()),
            ("ct", b64::encode(&ct).into()),
            ("recipientPub", b64::encode(&compressed(&recipient)).into()),
        ]),
    })
}

/// SHA-256 of the x coordinate of the ECDH shared point.
fn ecies_key(secret: &SecretKey, public: &PublicKey) -> Secret32 {
    let shared = diffie_hellman(secret.to_nonzero_scalar(), public.as_affine());
    let digest = Sha256::digest(shared.raw_secret_bytes());
    Secret32::new(digest.into())
}

/// The shared x coordinate and AES key of a wallet wrap, for known-answer
/// tests: `(x, SHA-256(x))`.
pub fn ecies_shared_secret(
    private_key: &Secret32,
    public_key: &[u8],
) -> Result<([u8; 32], Secret32), SecureError> {
    let sk = secret_key(private_key)?;
    let pk = PublicKey::from_sec1_bytes(public_key)
        .map_err(|_| SecureError::invalid("Public key is not a valid secp256k1 point"))?;
    let shared = diffie_hellman(sk.to_nonzero_scalar(), pk.as_affine());
    let x: [u8; 32] = (*shared.raw_secret_bytes()).into();
    Ok((x, ecies_key(&sk, &pk)))
}

/// Unwraps the data key (HOST.md §8.4 `unwrapDek`, as `loadSecure` reports
/// it): a passphrase grant asks the provider for its KEK (none →
/// `KEK derivation failed`), a wallet grant for the private key (none →
/// `Wallet private key required for ECIES unwrap`); every other failure —
/// unknown wrap, KDF floor, wrong key, tampered field — is
/// `DEK unwrap failed`.
pub fn unwrap_dek(grant: &Grant, provider: &dyn KeyProvider) -> Result<Dek, DecryptionFailed> {
    match grant.wrap() {
        Some(WRAP_KEYWRAP) => {
            let kek = provider
                .derive_kek(grant)
                .map_err(|_| DecryptionFailed::unwrap())?
                .ok_or_else(|| DecryptionFailed::new("KEK derivation failed"))?;
            let (iv, ct) = iv_ct(grant)?;
            let dek = aead::decrypt(kek.as_bytes(), &iv, DEK_WRAP_AAD.as_bytes(), &ct);
            dek_from(dek)
        }
        Some(WRAP_ECIES | WRAP_ETH_DECRYPT) => {
            let key = provider
                .wallet_private_key()
                .map_err(|_| DecryptionFailed::unwrap())?
                .ok_or_else(|| {
                    DecryptionFailed::new("Wallet private key required for ECIES unwrap")
                })?;
            let sk = secret_key(&key).map_err(|_| DecryptionFailed::unwrap())?;
            let eph = grant
                .str_field("ephemeralPub")
                .map(b64::decode)
                .and_then(|b| PublicKey::from_sec1_bytes(&b).ok())
                .ok_or_else(DecryptionFailed::unwrap)?;
            let (iv, ct) = iv_ct(grant)?;
            let aes_key = ecies_key(&sk, &eph);
            dek_from(aead::decrypt(
                aes_key.as_bytes(),
                &iv,
                ECIES_AAD.as_bytes(),
                &ct,
            ))
        }
        _ => Err(DecryptionFailed::unwrap()),
    }
}

fn iv_ct(grant: &Grant) -> Result<(Vec<u8>, Vec<u8>), DecryptionFailed> {
    match (grant.str_field("iv"), grant.str_field("ct")) {
        (Some(iv), Some(ct)) => Ok((b64::decode(iv), b64::decode(ct))),
        _ => Err(DecryptionFailed::unwrap()),
    }
}

fn dek_from(plain: Option<Vec<u8>>) -> Result<Dek, DecryptionFailed> {
    let plain = zeroize::Zeroizing::new(plain.ok_or_else(DecryptionFailed::unwrap)?);
    Dek::from_slice(&plain).ok_or_else(DecryptionFailed::unwrap)
}
