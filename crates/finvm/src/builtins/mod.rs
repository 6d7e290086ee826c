//! The builtin registry of `CALL_BUILTIN` (`OPCODES.md` §6.9).
//!
//! Builtins are resolved once, at decode time, from their `"id@version"` spec
//! to a [`Builtin`]; the interpreter never compares strings at run time.

use crate::error::{ErrorCode, VmError};

macro_rules! builtins {
    ($( $variant:ident = $id:literal, $kind:ident; )*) => {
        /// A known builtin (all are version 1).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Builtin {
            $(
                #[doc = concat!("`", $id, "@1`")]
                $variant,
            )*
        }

        impl Builtin {
            /// Every builtin, in registry order.
            pub const ALL: &'static [Builtin] = &[$(Builtin::$variant),*];

            /// The builtin's id (without the version).
            pub fn id(self) -> &'static str {
                match self { $(Builtin::$variant => $id,)* }
            }

            /// Which part of the VM implements it.
            pub fn kind(self) -> BuiltinKind {
                match self { $(Builtin::$variant => BuiltinKind::$kind,)* }
            }

            fn from_id(id: &str) -> Option<Builtin> {
                match id { $($id => Some(Builtin::$variant),)* _ => None }
            }
        }
    };
}

/// Where a builtin is implemented.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BuiltinKind {
    /// A pure function of its arguments ([`call_pure`]).
    Pure,
    /// Reads or writes the database/cache in state.
    Db,
    /// Reads the input map.
    Input,
}

builtins! {
    CoreIdentity = "core.identity", Pure;
    BigintAdd = "bigint.add", Pure;
    BigintMul = "bigint.mul", Pure;
    BigintModPow = "bigint.modPow", Pure;
    BigintModInv = "bigint.modInv", Pure;
    BigintFromBytesBE = "bigint.fromBytesBE", Pure;
    BigintToBytesBE = "bigint.toBytesBE", Pure;
    HashSha256 = "hash.sha256", Pure;
    LogicAnd = "logic.and", Pure;
    LogicOr = "logic.or", Pure;
    LogicNot = "logic.not", Pure;
    StrLength = "str.length", Pure;
    StrConcat = "str.concat", Pure;
    StrSlice = "str.slice", Pure;
    StrIndexOf = "str.indexOf", Pure;
    StrSplit = "str.split", Pure;
    StrToUpper = "str.toUpper", Pure;
    StrToLower = "str.toLower", Pure;
    StrTrim = "str.trim", Pure;
    StrFromInt = "str.fromInt", Pure;
    StrToInt = "str.toInt", Pure;
    StrReplace = "str.replace", Pure;
    DbInsert = "db.insert", Db;
    DbGet = "db.get", Db;
    DbUpdate = "db.update", Db;
    DbDelete = "db.delete", Db;
    DbQuery = "db.query", Db;
    DbCreateIndex = "db.createIndex", Db;
    DbHash = "db.hash", Db;
    CacheSet = "cache.set", Db;
    CacheGet = "cache.get", Db;
    CacheDelete = "cache.delete", Db;
    CacheClear = "cache.clear", Db;
    InputGet = "input.get", Input;
    InputAll = "input.all", Input;
}

/// Resolves a `CALL_BUILTIN` spec string. The error is the run-time error the
/// instruction raises when executed (specs are not checked by validation).
pub fn resolve(spec: &str) -> Result<Builtin, VmError> {
    let parts: Vec<&str> = spec.split('@').collect();
    if parts.len() != 2 {
        return Err(VmError::new(
            ErrorCode::InvalidInstruction,
            format!("Invalid builtin spec: {spec}"),
        ));
    }
    let (id, ver) = (parts[0], parts[1]);
    let version = parse_version(ver).ok_or_else(|| {
        VmError::new(
            ErrorCode::InvalidInstruction,
            format!("Invalid builtin version: {ver}"),
        )
    })?;
    match Builtin::from_id(id) {
        Some(b) if version == 1 => Ok(b),
        _ => Err(VmError::new(
            ErrorCode::UnknownBuiltin,
            format!("Builtin {id} v{version} not found"),
        )),
    }
}

/// Optional sign, then one or more digits, within the 32-bit range.
fn parse_version(s: &str) -> Option<i32> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<i32>().ok()
}

mod pure;
pub use pure::call_pure;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_specs_like_the_reference() {
        assert_eq!(resolve("str.length@1").unwrap(), Builtin::StrLength);
        assert_eq!(resolve("str.length@01").unwrap(), Builtin::StrLength);
        assert_eq!(resolve("str.length@+1").unwrap(), Builtin::StrLength);
        assert_eq!(
            resolve("str.length").unwrap_err().to_string(),
            "InvalidInstruction: Invalid builtin spec: str.length"
        );
        assert_eq!(
            resolve("a@1@2").unwrap_err().to_string(),
            "InvalidInstruction: Invalid builtin spec: a@1@2"
        );
        assert_eq!(
            resolve("x@y").unwrap_err().to_string(),
            "InvalidInstruction: Invalid builtin version: y"
        );
        assert_eq!(
            resolve("str.length@2").unwrap_err().to_string(),
            "UnknownBuiltin: Builtin str.length v2 not found"
        );
        assert_eq!(
            resolve("foo.bar@1").unwrap_err().to_string(),
            "UnknownBuiltin: Builtin foo.bar v1 not found"
        );
    }
}
