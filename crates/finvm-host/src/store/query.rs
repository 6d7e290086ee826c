//! The query language of the store: exactly the in-VM `db.query` language
//! (`DECISIONS.md`, "Database and cache builtins": `$eq $ne $gt $gte $lt
//! $lte $in $nin $exists`, options `sort`, `skip`, `limit`; a malformed
//! query is an error, never a match-all), run by the VM's own engine.
//!
//! The engine is reached through its public entry point,
//! [`finvm::db::call`] with [`Builtin::DbQuery`], on a scratch machine whose
//! state holds the candidate rows as one table. The rows are keyed by their
//! position, zero-padded, so the engine's id order is the store's row order
//! (insertion order). The engine returns the matching row *values* (the
//! contents), which are mapped back to their rows by pointer identity: every
//! row is given to the engine as its own `Rc<Record>` allocation, and the
//! engine returns clones of those `Rc`s. A row whose content is not a record
//! matches only the empty query; for that query it is stood in for by a
//! fresh empty record (which, like it, lacks every field, so it sorts where
//! it would).

use finvm::builtins::Builtin;
use finvm::machine::Machine;
use finvm::{Record, Str, Value};
use std::collections::HashMap;
use std::rc::Rc;

/// The scratch machine's program: nothing runs, only its state is used.
const SCRATCH_PROGRAM: &str = r#"{"registerCount":1,"instructions":[["RETURN",0]]}"#;

/// Width of the position keys (enough for any row count a store can hold).
const KEY_WIDTH: usize = 20;

/// Runs `query` with `options` over `contents` (row contents in row order,
/// already converted to VM values) and returns the positions of the result
/// rows, in result order. Errors are the engine's (`<Code>: <message>`).
pub fn run(contents: Vec<Value>, query: &Value, options: &Value) -> Result<Vec<usize>, String> {
    let empty_query = matches!(query, Value::Record(q) if q.is_empty());
    let mut rows = Record::new();
    let mut position: HashMap<*const Record, usize> = HashMap::with_capacity(contents.len());
    for (i, content) in contents.into_iter().enumerate() {
        let rc = match content {
            Value::Record(rc) => rc,
            _ if empty_query => Rc::new(Record::new()),
            _ => continue,
        };
        position.insert(Rc::as_ptr(&rc), i);
        rows.insert(Str::new(format!("{i:0KEY_WIDTH$}")), Value::Record(rc));
    }
    let program = finvm::api::load_program(SCRATCH_PROGRAM)?;
    let mut core = Machine::new(Rc::new(program))
        .map_err(|e| e.to_string())?
        .core;
    let mut table = Record::new();
    table.insert(Str::new("rows"), Value::record(rows));
    let mut store = Record::new();
    store.insert(Str::new("t"), Value::record(table));
    core.state
        .insert(Str::new("__finvm.db"), Value::record(store));
    let result = finvm::db::call(
        &mut core,
        Builtin::DbQuery,
        &[Value::str("t"), query.clone(), options.clone()],
    )
    .map_err(|e| e.to_string())?;
    let Value::List(items) = result else {
        return Err("db.query: the query engine returned a non-list".into());
    };
    items
        .items()
        .iter()
        .map(|v| match v {
            Value::Record(rc) => position.get(&Rc::as_ptr(rc)).copied(),
            _ => None,
        })
        .collect::<Option<Vec<usize>>>()
        .ok_or_else(|| "db.query: the query engine returned a row it was not given".into())
}
