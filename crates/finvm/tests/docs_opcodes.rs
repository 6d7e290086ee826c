//! `docs/opcodes.md` is generated from the opcode table in
//! `crates/finvm/src/opcodes.rs`. This test fails when the file is stale;
//! run it with `FINVM_BLESS=1` to rewrite the file:
//!
//! ```text
//! FINVM_BLESS=1 cargo test -p finvm --test docs_opcodes
//! ```

use std::fs;
use std::path::PathBuf;

/// The text above the generated tables.
const PREAMBLE: &str = "\
# FinVM opcode reference

<!-- GENERATED FILE: do not edit. It is produced from the opcode table in
crates/finvm/src/opcodes.rs by finvm::opcodes::opcode_table_markdown();
regenerate with `FINVM_BLESS=1 cargo test -p finvm --test docs_opcodes`. -->

Every instruction is a JSON array `[\"OPCODE\", operand, ...]` (or the
equivalent object `{\"op\": \"OPCODE\", \"args\": [operand, ...]}`), with the
operands in the order listed. Operand kinds:

| kind | JSON |
|---|---|
| `reg` | a register index (integer, `0 <= r < registerCount`) |
| `int` | an integer literal (32-bit) |
| `string` | a JSON string (label, function id, field, key, tag, type, builtin spec) |
| `bool` | `true` or `false` |
| `[reg…]` | an array of register indices |
| `rounding` | one of `RoundDown`, `RoundUp`, `RoundHalfEven`, `RoundTowardZero`, `RoundAwayFromZero` |

Every executed instruction costs one step. Semantics, error texts and limits
are described in [compiler-target.md](compiler-target.md); state machines in
[state-machines.md](state-machines.md).
";

fn expected() -> String {
    format!("{PREAMBLE}{}", finvm::opcodes::opcode_table_markdown())
}

#[test]
fn docs_opcodes_md_matches_the_opcode_table() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/opcodes.md");
    let want = expected();
    if std::env::var_os("FINVM_BLESS").is_some_and(|v| v == "1") {
        fs::write(&path, &want).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        return;
    }
    let have = fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == want,
        "{} is out of date with the opcode table; regenerate it with \
         `FINVM_BLESS=1 cargo test -p finvm --test docs_opcodes`",
        path.display()
    );
}

#[test]
fn every_opcode_is_documented() {
    let table = finvm::opcodes::opcode_table_markdown();
    for op in finvm::opcodes::Opcode::ALL {
        assert!(
            table.contains(&format!("| `{}` |", op.name())),
            "{} is missing from the generated table",
            op.name()
        );
    }
}
