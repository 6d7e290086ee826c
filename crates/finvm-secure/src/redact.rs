//! Keeping secrets out of logs and outputs (HOST.md §8.5 `redactSecrets`,
//! §8.8 `assertNoSecrets`).

use serde_json::{Map, Value as J};

const REDACTED: &str = "[REDACTED]";

fn is_secret_key(key: &str) -> bool {
    let k = key.to_lowercase();
    [
        "passphrase",
        "password",
        "secret",
        "privatekey",
        "private_key",
        "signature",
    ]
    .iter()
    .any(|s| k.contains(s))
        || matches!(k.as_str(), "kek" | "dek" | "key")
}

/// A copy of `value` in which every object entry whose key names a secret
/// (its lowercase form contains `passphrase`, `password`, `secret`,
/// `privatekey`, `private_key` or `signature`, or is `kek`, `dek` or `key`)
/// has the value `"[REDACTED]"`, at any depth.
pub fn redact_secrets(value: &J) -> J {
    match value {
        J::Array(items) => J::Array(items.iter().map(redact_secrets).collect()),
        J::Object(o) => J::Object(
            o.iter()
                .map(|(k, v)| {
                    let v = if is_secret_key(k) {
                        J::String(REDACTED.into())
                    } else {
                        redact_secrets(v)
                    };
                    (k.clone(), v)
                })
                .collect::<Map<String, J>>(),
        ),
        other => other.clone(),
    }
}

/// Fails when `text` contains any of the non-empty `secrets`. Unlike the
/// reference, the error does not quote any part of the secret.
pub fn assert_no_secrets(text: &str, secrets: &[&[u8]]) -> Result<(), String> {
    let hay = text.as_bytes();
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        if hay.windows(secret.len()).any(|w| w == *secret) {
            return Err("Secret leaked into output".into());
        }
    }
    Ok(())
}
