//! The store's bundles (DATABASE.md §4.8), byte-compatible with the
//! JavaScript FinVM's `exportEncrypted`/`importEncrypted`:
//!
//! * plaintext: `{"sequence":N,"tables":[[name,[[id,record],…]],…]}`, tables
//!   and rows in insertion order, records as stored;
//! * the v2 passphrase bundle `{"v":2,"salt":[…],"iv":[…],"data":[…]}`
//!   (decimal byte arrays; PBKDF2-HMAC-SHA256, 210000 iterations, 32-byte
//!   key; AES-256-GCM, 12-byte IV, no AAD, tag appended);
//! * the `db` fenc envelope under a DEK (HOST.md §8.3).
//!
//! The cryptography is `finvm-secure`'s ([`finvm_secure::dbv2`],
//! [`finvm_secure::Envelope`]).
//!
//! Differences from the reference, all on malformed or unauthenticated
//! input: a plaintext bundle is refused when a key is given (the reference
//! loads it, unauthenticated); a bundle without `sequence`, or a legacy
//! bare-array bundle, continues the sequence after the highest id,
//! timestamp or `updatedAt` it holds (the reference produces
//! `recundefined`/`recNaN` ids, or reuses `rec0…` and overwrites rows); a
//! malformed table list is an error instead of a partly loaded store; the
//! v2 salt is adopted only once the bundle has decrypted; empty input is an
//! error, not a no-op.

use super::{meta_get, meta_set, rebuild_indexes, sequence, set_sequence, StoreError};
use finvm_secure::aead::random;
use finvm_secure::dbv2::{open_v2, seal_v2_with};
use finvm_secure::{DecryptionFailed, Dek, Envelope, SecureError, Target};
use rusqlite::{params, Connection};
use serde_json::Value as J;
use std::collections::HashMap;
use std::fmt;
use zeroize::Zeroizing;

/// The largest safe JavaScript integer, the bound of a bundle's numbers.
const MAX_SAFE: u64 = (1 << 53) - 1;

/// The key a bundle is sealed with or opened by.
#[derive(Clone)]
pub enum BundleKey {
    /// A passphrase (the empty string is valid): the v2 bundle.
    Passphrase(Zeroizing<String>),
    /// A 32-byte data key: the `db` fenc envelope.
    Dek(Dek),
}

impl BundleKey {
    /// A passphrase key.
    pub fn passphrase(p: impl Into<String>) -> BundleKey {
        BundleKey::Passphrase(Zeroizing::new(p.into()))
    }
}

impl fmt::Debug for BundleKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BundleKey::Passphrase(_) => f.write_str("Passphrase([REDACTED])"),
            BundleKey::Dek(_) => f.write_str("Dek([REDACTED])"),
        }
    }
}

/// An opened bundle: its plaintext, and the v2 salt to adopt.
pub(super) struct Opened {
    pub plaintext: String,
    pub salt: Option<Vec<u8>>,
}

fn invalid(m: impl Into<String>) -> StoreError {
    StoreError::Bundle(m.into())
}

fn secure(e: SecureError) -> StoreError {
    match e {
        SecureError::Decryption(d) => StoreError::Decryption(d),
        SecureError::Invalid(m) => StoreError::Bundle(m),
    }
}

fn json_str(s: &str) -> String {
    serde_json::to_string(s).expect("a string serialises")
}

/// The plaintext serialization.
pub(super) fn plaintext(c: &Connection) -> Result<String, StoreError> {
    let mut out = format!("{{\"sequence\":{},\"tables\":[", sequence(c)?);
    let mut tables = c.prepare("SELECT name FROM finvm_tables ORDER BY ord")?;
    let names = tables
        .query_map([], |r| r.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut rows = c.prepare("SELECT id, record FROM finvm_rows WHERE tbl = ?1 ORDER BY ord")?;
    for (ti, name) in names.iter().enumerate() {
        if ti > 0 {
            out.push(',');
        }
        out.push('[');
        out.push_str(&json_str(name));
        out.push_str(",[");
        let found = rows.query_map([name], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })?;
        for (ri, row) in found.enumerate() {
            let (id, record) = row?;
            if ri > 0 {
                out.push(',');
            }
            out.push('[');
            out.push_str(&json_str(&id));
            out.push(',');
            out.push_str(&record);
            out.push(']');
        }
        out.push_str("]]");
    }
    out.push_str("]}");
    Ok(out)
}

/// The store's v2 salt, if it has one.
fn salt(c: &Connection) -> Result<Option<[u8; 16]>, StoreError> {
    Ok(meta_get(c, "v2_salt")?
        .and_then(|hex| from_hex(&hex))
        .and_then(|b| <[u8; 16]>::try_from(b).ok()))
}

/// Adopts a v2 salt (any length; a salt that is not 16 bytes is replaced
/// by a fresh one at the next export).
pub(super) fn set_salt(c: &Connection, salt: &[u8]) -> Result<(), StoreError> {
    meta_set(c, "v2_salt", &to_hex(salt))?;
    Ok(())
}

fn to_hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn from_hex(s: &str) -> Option<Vec<u8>> {
    s.as_bytes()
        .chunks(2)
        .map(|pair| match pair {
            [hi, lo] => Some(hex_digit(*hi)? << 4 | hex_digit(*lo)?),
            _ => None,
        })
        .collect()
}

fn hex_digit(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

/// Seals the store's plaintext under `key`.
pub(super) fn seal(c: &Connection, key: &BundleKey) -> Result<String, StoreError> {
    let text = Zeroizing::new(plaintext(c)?);
    match key {
        BundleKey::Dek(dek) => Ok(Envelope::seal(dek, Target::Db, text.as_bytes()).to_json()),
        BundleKey::Passphrase(p) => {
            let salt = match salt(c)? {
                Some(s) => s,
                None => {
                    let s: [u8; 16] = random();
                    set_salt(c, &s)?;
                    s
                }
            };
            seal_v2_with(p, &text, &salt, random()).map_err(secure)
        }
    }
}

/// JavaScript truthiness of an optional JSON value.
fn truthy(j: Option<&J>) -> bool {
    match j {
        None | Some(J::Null) => false,
        Some(J::Bool(b)) => *b,
        Some(J::Number(n)) => n.as_f64().is_some_and(|x| x != 0.0 && !x.is_nan()),
        Some(J::String(s)) => !s.is_empty(),
        Some(J::Array(_) | J::Object(_)) => true,
    }
}

/// Opens a bundle (the reference's `importEncrypted` decision order).
pub(super) fn open(bytes: &[u8], key: &BundleKey) -> Result<Opened, StoreError> {
    let text =
        std::str::from_utf8(bytes).map_err(|_| invalid("Invalid DB bundle: not UTF-8 text"))?;
    if text.trim().is_empty() {
        return Err(invalid("Invalid DB bundle: empty"));
    }
    let j: J =
        serde_json::from_str(text).map_err(|e| invalid(format!("Invalid DB bundle: {e}")))?;
    if let Some(env) = Envelope::from_json(&j) {
        if env.target != Target::Db.as_str() {
            return Err(DecryptionFailed::new("DB envelope target mismatch").into());
        }
        let BundleKey::Dek(dek) = key else {
            return Err(DecryptionFailed::new("DEK required for fenc DB bundle").into());
        };
        return Ok(Opened {
            plaintext: env.open(dek)?,
            salt: None,
        });
    }
    if j.get("v").and_then(J::as_f64) == Some(2.0) {
        let BundleKey::Passphrase(p) = key else {
            return Err(invalid("Passphrase required for v2 DB bundle"));
        };
        let plaintext = open_v2(p, text).map_err(secure)?;
        let salt = j.get("salt").and_then(J::as_array).and_then(|a| {
            a.iter()
                .map(|b| b.as_u64().and_then(|n| u8::try_from(n).ok()))
                .collect()
        });
        return Ok(Opened { plaintext, salt });
    }
    if j.is_array() || truthy(j.get("tables")) {
        return Err(DecryptionFailed::new(
            "Unsupported DB bundle format: a plaintext bundle is not accepted with a key",
        )
        .into());
    }
    Err(DecryptionFailed::new("Unsupported DB bundle format").into())
}

/// A non-negative safe integer.
fn safe_u64(j: &J) -> Option<u64> {
    match j.as_u64() {
        Some(n) => Some(n),
        None => j
            .as_f64()
            .filter(|x| x.fract() == 0.0 && *x >= 0.0 && *x <= MAX_SAFE as f64)
            .map(|x| x as u64),
    }
    .filter(|n| *n <= MAX_SAFE)
}

type Tables = Vec<(String, Vec<(String, J)>)>;

/// Parses a plaintext serialization into (sequence, tables).
fn parse_plaintext(text: &str) -> Result<(u64, Tables), StoreError> {
    let bad = |m: &str| invalid(format!("Malformed DB bundle: {m}"));
    let j: J =
        serde_json::from_str(text).map_err(|e| invalid(format!("Malformed DB bundle: {e}")))?;
    let (seq, list) = match &j {
        J::Array(list) => (None, list),
        J::Object(o) => {
            let list = match o.get("tables") {
                Some(J::Array(list)) => list,
                _ => return Err(bad("tables must be an array")),
            };
            let seq = match o.get("sequence") {
                None => None,
                Some(s) => Some(
                    safe_u64(s).ok_or_else(|| bad("sequence must be a non-negative integer"))?,
                ),
            };
            (seq, list)
        }
        _ => return Err(bad("not an object")),
    };
    let mut tables: Tables = Vec::new();
    let mut table_at: HashMap<&str, usize> = HashMap::new();
    for entry in list {
        let Some([J::String(name), J::Array(rows)]) = entry.as_array().map(Vec::as_slice) else {
            return Err(bad("a table entry must be [name, rows]"));
        };
        let mut out: Vec<(String, J)> = Vec::with_capacity(rows.len());
        let mut row_at: HashMap<&str, usize> = HashMap::with_capacity(rows.len());
        for row in rows {
            let Some([J::String(id), rec @ J::Object(_)]) = row.as_array().map(Vec::as_slice)
            else {
                return Err(bad(&format!(
                    "a row of table {name} must be [id, record object]"
                )));
            };
            // A JS Map keeps the first position of a repeated key and the
            // last value.
            match row_at.get(id.as_str()) {
                Some(&i) => out[i].1 = rec.clone(),
                None => {
                    row_at.insert(id, out.len());
                    out.push((id.clone(), rec.clone()));
                }
            }
        }
        match table_at.get(name.as_str()) {
            Some(&i) => tables[i].1 = out,
            None => {
                table_at.insert(name, tables.len());
                tables.push((name.clone(), out));
            }
        }
    }
    // Never hand out an id or a timestamp the bundle already holds.
    let mut next = seq.unwrap_or(0);
    for (_, rows) in &tables {
        for (id, rec) in rows {
            let used = [
                id.strip_prefix("rec").and_then(|n| n.parse::<u64>().ok()),
                rec.get("timestamp").and_then(safe_u64),
                rec.get("updatedAt").and_then(safe_u64),
            ];
            for n in used.into_iter().flatten() {
                next = next.max(n.saturating_add(1));
            }
        }
    }
    Ok((next, tables))
}

/// Replaces all tables and the sequence with a plaintext serialization's,
/// then rebuilds the defined indexes.
pub(super) fn load(c: &Connection, text: &str) -> Result<(), StoreError> {
    let (seq, tables) = parse_plaintext(text)?;
    c.execute("DELETE FROM finvm_rows", [])?;
    c.execute("DELETE FROM finvm_tables", [])?;
    let mut ord: i64 = 0;
    {
        let mut put_table = c.prepare("INSERT INTO finvm_tables (name, ord) VALUES (?1, ?2)")?;
        let mut put_row =
            c.prepare("INSERT INTO finvm_rows (tbl, id, ord, record) VALUES (?1, ?2, ?3, ?4)")?;
        for (ti, (name, rows)) in tables.iter().enumerate() {
            put_table.execute(params![name, ti as i64])?;
            for (id, rec) in rows {
                put_row.execute(params![name, id, ord, rec.to_string()])?;
                ord += 1;
            }
        }
    }
    meta_set(c, "next_ord", &ord.to_string())?;
    set_sequence(c, seq)?;
    rebuild_indexes(c)?;
    Ok(())
}
