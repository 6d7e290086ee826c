//! The `fenc` envelope (HOST.md §8.3): AES-256-GCM under the project's data
//! key, bound to its role by the AAD `finvm:<target>`.
//!
//! ```
//! use finvm_secure::{Dek, Envelope, Target};
//! let dek = Dek::from_bytes(std::array::from_fn(|i| i as u8));
//! let iv = std::array::from_fn(|i| i as u8);
//! let env = Envelope::seal_with_iv(&dek, Target::Db, br#"{"sequence":0,"tables":[]}"#, iv);
//! assert_eq!(env.to_json(), concat!(
//!     r#"{"fenc":1,"target":"db","cipher":"aes-256-gcm","iv":"AAECAwQFBgcICQoL","#,
//!     r#""aad":"finvm:db","ct":"PCClfrSQp3XuJLWxgcVaGeK061GDWWUnZRqasL1U7YlAOoSF2dXRvCit"}"#));
//! assert_eq!(env.open(&dek).unwrap(), r#"{"sequence":0,"tables":[]}"#);
//! ```

use crate::aead::{self, IV_LEN};
use crate::b64;
use crate::dek::Dek;
use crate::error::DecryptionFailed;
use serde_json::Value as J;
use std::fmt;

/// The envelope format version, the number in the `fenc` field.
pub const FENC_VERSION: u32 = 1;
/// The only cipher of the registry.
pub const CIPHER_AES_256_GCM: &str = "aes-256-gcm";

/// What a sealed envelope holds; part of its AAD.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Target {
    /// The program JSON text, exactly as supplied.
    Program,
    /// The `inputs.values` object as compact JSON (tagless values).
    Inputs,
    /// A database plaintext serialization (DATABASE.md §4.8).
    Db,
    /// A run's output.
    Output,
}

impl Target {
    /// All targets, in the reference's order.
    pub const ALL: [Target; 4] = [Target::Program, Target::Inputs, Target::Db, Target::Output];

    /// The wire name: `program`, `inputs`, `db` or `output`.
    pub fn as_str(self) -> &'static str {
        match self {
            Target::Program => "program",
            Target::Inputs => "inputs",
            Target::Db => "db",
            Target::Output => "output",
        }
    }

    /// The target of a wire name; any other string gives `Invalid target: <t>`.
    pub fn parse(name: &str) -> Result<Target, String> {
        Target::ALL
            .into_iter()
            .find(|t| t.as_str() == name)
            .ok_or_else(|| format!("Invalid target: {name}"))
    }

    /// The additional authenticated data, `finvm:<target>`.
    pub fn aad(self) -> String {
        format!("finvm:{}", self.as_str())
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A `fenc` envelope as found on the wire: a recognised object keeps its
/// fields as given (an unknown target or cipher only fails at decryption).
#[derive(Clone, Debug, PartialEq)]
pub struct Envelope {
    /// The `target` field.
    pub target: String,
    /// The `cipher` field.
    pub cipher: String,
    /// The `iv` field (base64).
    pub iv: String,
    /// The optional `aad` field, any JSON value.
    pub aad: Option<J>,
    /// The `ct` field (base64 of ciphertext ‖ tag).
    pub ct: String,
}

impl Envelope {
    /// Seals `plaintext` for `target` under `dek` with a fresh random IV.
    pub fn seal(dek: &Dek, target: Target, plaintext: &[u8]) -> Envelope {
        Envelope::seal_with_iv(dek, target, plaintext, aead::random())
    }

    /// Seals with the given IV. An IV must never be reused with the same key:
    /// this exists for known-answer tests; use [`Envelope::seal`].
    pub fn seal_with_iv(dek: &Dek, target: Target, plaintext: &[u8], iv: [u8; IV_LEN]) -> Envelope {
        let aad = target.aad();
        let ct = aead::encrypt(dek.as_bytes(), &iv, aad.as_bytes(), plaintext);
        Envelope {
            target: target.as_str().to_string(),
            cipher: CIPHER_AES_256_GCM.to_string(),
            iv: b64::encode(&iv),
            aad: Some(J::String(aad)),
            ct: b64::encode(&ct),
        }
    }

    /// The reference's recognition (`isFencEnvelope`): an object whose `fenc`
    /// is the number 1 and whose `target`, `cipher`, `iv` and `ct` are
    /// strings; `aad` is optional. `None` for anything else.
    pub fn from_json(j: &J) -> Option<Envelope> {
        let o = j.as_object()?;
        if !o.get("fenc")?.as_number().is_some_and(is_one) {
            return None;
        }
        let field = |k: &str| o.get(k).and_then(J::as_str).map(str::to_string);
        Some(Envelope {
            target: field("target")?,
            cipher: field("cipher")?,
            iv: field("iv")?,
            aad: o.get("aad").cloned(),
            ct: field("ct")?,
        })
    }

    /// Parses envelope text; anything that is not JSON or not recognised is
    /// `DecryptionFailed: Not a valid fenc envelope`.
    pub fn parse(text: &str) -> Result<Envelope, DecryptionFailed> {
        let j: J = serde_json::from_str(text).map_err(|_| DecryptionFailed::not_envelope())?;
        Envelope::from_json(&j).ok_or_else(DecryptionFailed::not_envelope)
    }

    /// The envelope's target, if it is one of the four.
    pub fn target(&self) -> Option<Target> {
        Target::parse(&self.target).ok()
    }

    /// Compact JSON with the keys in the reference's order:
    /// `fenc, target, cipher, iv, aad, ct` (`aad` omitted when absent).
    pub fn to_json(&self) -> String {
        let s = |v: &str| serde_json::to_string(v).expect("a string serialises");
        let mut out = format!(
            "{{\"fenc\":{FENC_VERSION},\"target\":{},\"cipher\":{},\"iv\":{}",
            s(&self.target),
            s(&self.cipher),
            s(&self.iv)
        );
        if let Some(aad) = &self.aad {
            out.push_str(",\"aad\":");
            out.push_str(&serde_json::to_string(aad).expect("JSON serialises"));
        }
        out.push_str(",\"ct\":");
        out.push_str(&s(&self.ct));
        out.push('}');
        out
    }

    /// Decrypts to bytes (HOST.md §8.3 steps 2–3): an `aad` that is present
    /// and differs from `finvm:<target>` is an `AAD mismatch`; an unknown
    /// target or cipher, a wrong key or any tampering is
    /// `Envelope decryption failed (tag/AAD/fingerprint mismatch)`.
    pub fn open_bytes(&self, dek: &Dek) -> Result<Vec<u8>, DecryptionFailed> {
        let expected = format!("finvm:{}", self.target);
        if let Some(aad) = self.aad.as_ref().filter(|a| js_truthy(a)) {
            if aad.as_str() != Some(expected.as_str()) {
                return Err(DecryptionFailed::new(format!(
                    "AAD mismatch: expected {expected}, got {}",
                    js_string(aad)
                )));
            }
        }
        let target = self.target().ok_or_else(DecryptionFailed::envelope)?;
        if self.cipher != CIPHER_AES_256_GCM {
            return Err(DecryptionFailed::envelope());
        }
        aead::decrypt(
            dek.as_bytes(),
            &b64::decode(&self.iv),
            target.aad().as_bytes(),
            &b64::decode(&self.ct),
        )
        .ok_or_else(DecryptionFailed::envelope)
    }

    /// Decrypts to text the way `TextDecoder` does: a leading BOM is dropped
    /// and invalid UTF-8 becomes U+FFFD.
    pub fn open(&self, dek: &Dek) -> Result<String, DecryptionFailed> {
        let bytes = self.open_bytes(dek)?;
        let text = String::from_utf8_lossy(&bytes);
        Ok(text.strip_prefix('\u{feff}').unwrap_or(&text).to_string())
    }

    /// Checks the target, then decrypts to text; a recognised envelope of
    /// another target is `DecryptionFailed: <Role> envelope target mismatch`.
    pub fn open_as(&self, dek: &Dek, target: Target) -> Result<String, DecryptionFailed> {
        if self.target != target.as_str() {
            return Err(target_mismatch(target));
        }
        self.open(dek)
    }
}

/// `DecryptionFailed: <Program|Inputs|DB|Output> envelope target mismatch`
/// (the reference's text for programs and databases).
pub(crate) fn target_mismatch(target: Target) -> DecryptionFailed {
    let role = match target {
        Target::Program => "Program",
        Target::Inputs => "Inputs",
        Target::Db => "DB",
        Target::Output => "Output",
    };
    DecryptionFailed::new(format!("{role} envelope target mismatch"))
}

fn is_one(n: &serde_json::Number) -> bool {
    n.as_u64() == Some(1) || n.to_string().parse::<f64>().ok() == Some(1.0)
}

/// JavaScript truthiness of a JSON value.
fn js_truthy(j: &J) -> bool {
    match j {
        J::Null => false,
        J::Bool(b) => *b,
        J::Number(n) => n
            .to_string()
            .parse::<f64>()
            .is_ok_and(|f| f != 0.0 && !f.is_nan()),
        J::String(s) => !s.is_empty(),
        J::Array(_) | J::Object(_) => true,
    }
}

/// A value as a template literal shows it (strings bare, others as JSON).
fn js_string(j: &J) -> String {
    match j {
        J::String(s) => s.clone(),
        other => other.to_string(),
    }
}
