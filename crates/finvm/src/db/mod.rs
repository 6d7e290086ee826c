//! The in-VM database and cache builtins (`db.*`, `cache.*`), stored in state
//! under `__finvm.db` / `__finvm.cache` (`DATABASE.md` §1–2, as amended by
//! `DECISIONS.md`).
//!
//! The tables are ordinary state values, laid out exactly as the reference
//! lays them out (so they appear byte for byte in outputs, snapshots and
//! state hashes). What is derived from them — secondary indexes and the
//! current table hash — lives in [`DbCache`] (in [`Core`]), which is never
//! observable and is validated against the rows it was built from (see
//! `index`).
//!
//! Cost: no builtin copies a table, nor allocates anew the records it
//! passes through: a write changes the store, table and rows records in
//! place, in their own allocations (`Rc::make_mut`; a copy happens only while
//! something else, e.g. a register holding the store, shares a level), and
//! rewrites only the table fields that change. The rows record of a table
//! with more than a few rows is a hash table (see `value::record`), so
//! `insert`, `get`, `update` and `delete` are O(1) (amortised), except that
//! `Record` recomputes its cached depth over all rows when the replaced or
//! removed row was one of the deepest, and that the first change of the row
//! ids after an in-order read of the rows costs one pass over them. Index
//! entries are added in O(1) and put in order by the next query that reads
//! them. An indexed query costs in proportion to the candidate rows;
//! `db.hash` of a table unchanged since its last hash is O(1), otherwise one
//! streamed pass over the rows in id order (which sorts the ids added since
//! the last in-order read).
//!
//! Limits (`DECISIONS.md`: builtin state writes count toward
//! `maxStateEntries`): a builtin write that would create a new top-level state
//! key (`__finvm.db` or `__finvm.cache`) while the state already holds
//! `maxStateEntries` keys fails exactly as `STATE_SET` of a new key would
//! (`StatePathInvalid`). Rows, tables, namespaces and cache keys are not state
//! keys and do not count (a table is bounded by `maxSteps`, one row per step).
//! A row or cache value deeper than `maxValueDepth` is rejected
//! (`InvalidInstruction: db.insert exceeded maxValueDepth`).

mod index;
mod query;
mod table;
#[cfg(test)]
mod tests;

pub use index::DbCache;

use crate::builtins::Builtin;
use crate::error::{vm_error, ErrorCode, VmResult};
use crate::interp::check_depth;
use crate::machine::Core;
use crate::value::canon::canonical_into;
use crate::value::{Record, Str, Value};
use index::{Candidates, Delta, IdKey};
use sha2::{Digest, Sha256};
use std::rc::Rc;
use table::{read_table, store_mut, Facts, DB_KEY};

/// The state key of the cache.
const CACHE_KEY: &str = "__finvm.cache";

/// Calls a `db.*` or `cache.*` builtin.
pub fn call(core: &mut Core, b: Builtin, args: &[Value]) -> VmResult<Value> {
    use Value::Str as S;
    let mismatch = |msg: &str| Err(vm_error(ErrorCode::TypeMismatch, msg));
    match b {
        Builtin::DbInsert => match args {
            [S(t), v] => insert(core, t, v),
            _ => mismatch("db.insert/v1 expects (Table:String, Record:Value)"),
        },
        Builtin::DbGet => match args {
            [S(t), S(id)] => {
                let view = read_table(&core.state, t)?;
                Ok(view.row(id).cloned().unwrap_or(Value::Unit))
            }
            _ => mismatch("db.get/v1 expects (Table:String, ID:String)"),
        },
        Builtin::DbUpdate => match args {
            [S(t), S(id), v] => update(core, t, id, v),
            _ => mismatch("db.update/v1 expects (Table:String, ID:String, Record:Value)"),
        },
        Builtin::DbDelete => match args {
            [S(t), S(id)] => delete(core, t, id),
            _ => mismatch("db.delete/v1 expects (Table:String, ID:String)"),
        },
        Builtin::DbQuery => match args {
            [S(t), Value::Record(q), opts] => run_query(core, t, q, opts),
            _ => mismatch("db.query/v1 expects (Table:String, Query:Record, Options:Record)"),
        },
        Builtin::DbCreateIndex => match args {
            [S(t), S(f)] => create_index(core, t, f),
            _ => mismatch("db.createIndex/v1 expects (Table:String, Field:String)"),
        },
        Builtin::DbHash => match args {
            [S(t)] => hash(core, t),
            _ => mismatch("db.hash/v1 expects (Table:String)"),
        },
        Builtin::CacheSet => match args {
            [S(ns), S(k), v] => cache_set(core, ns, k, v),
            _ => mismatch("cache.set/v1 expects (Namespace:String, Key:String, Value:Value)"),
        },
        Builtin::CacheGet => match args {
            [S(ns), S(k)] => Ok(cache_namespace(&core.state, ns)
                .and_then(|r| r.get(k))
                .cloned()
                .unwrap_or(Value::Unit)),
            _ => mismatch("cache.get/v1 expects (Namespace:String, Key:String)"),
        },
        Builtin::CacheDelete => match args {
            [S(ns), S(k)] => cache_delete(core, ns, k),
            _ => mismatch("cache.delete/v1 expects (Namespace:String, Key:String)"),
        },
        Builtin::CacheClear => match args {
            [S(ns)] => cache_clear(core, ns),
            _ => mismatch("cache.clear/v1 expects (Namespace:String)"),
        },
        _ => Err(vm_error(
            ErrorCode::UnknownBuiltin,
            format!("Builtin {} v1 not found", b.id()),
        )),
    }
}

/// Fails like `STATE_SET` of a new key when writing `key` would add a state
/// entry beyond `maxStateEntries`.
fn ensure_room(core: &Core, key: &str, op: &str) -> VmResult<()> {
    if core.state.len() as i64 >= core.limits.max_state_entries as i64
        && !core.state.contains_key(key)
    {
        return Err(vm_error(
            ErrorCode::StatePathInvalid,
            format!("{op} exceeded maxStateEntries"),
        ));
    }
    Ok(())
}

/// Writes table `t` with `edit` applied to its parts, keeping the cache in
/// step. Every check must already have passed; `was` describes the table
/// as read ([`table::TableView::facts`]). `edit` returns how the rows
/// changed.
fn write_table<'d>(
    core: &mut Core,
    t: &Str,
    was: Facts,
    edit: impl FnOnce(&mut table::TableParts<'_>) -> Delta<'d>,
) {
    // Lets the rows be changed in place (see `DbCache::unpin`).
    let was_valid = core.db_cache.unpin(t, was.rows);
    let store = store_mut(&mut core.state);
    let cache = &mut core.db_cache;
    table::write_table(store, t, was, |parts| {
        let delta = edit(parts);
        cache.after_write(t, was_valid, parts.rows, delta);
    });
}

/// `"rec" ++ show nextId` (without going through `format!`).
fn row_id(n: i32) -> Str {
    let mut digits = itoa::Buffer::new();
    let digits = digits.format(n);
    let mut id = String::with_capacity(3 + digits.len());
    id.push_str("rec");
    id.push_str(digits);
    Str::new(id)
}

fn insert(core: &mut Core, t: &Str, row: &Value) -> VmResult<Value> {
    check_depth(core, row, "db.insert")?;
    let view = read_table(&core.state, t)?;
    let id = row_id(view.next_id);
    let was = view.facts();
    ensure_room(core, DB_KEY, "db.insert")?;
    write_table(core, t, was, |p| {
        let rows = p.rows_mut();
        let n = rows.len();
        rows.insert(id.clone(), row.clone());
        let added = rows.len() > n;
        p.next_id += 1;
        p.dirty = true;
        p.set_hash_cache(None);
        if added {
            Delta::Insert { id: &id, new: row }
        } else {
            // A row with this id existed (possible only through state set
            // from outside); its old value is gone, so rebuild.
            Delta::Reset
        }
    });
    Ok(Value::Str(id))
}

fn update(core: &mut Core, t: &Str, id: &Str, row: &Value) -> VmResult<Value> {
    check_depth(core, row, "db.update")?;
    let view = read_table(&core.state, t)?;
    if view.row(id).is_none() {
        // DECISIONS.md: a missing id writes nothing (no table is created).
        return Ok(Value::Bool(false));
    }
    let was = view.facts();
    write_table(core, t, was, |p| {
        let rows = p.rows_mut();
        let old = rows.get(id).cloned();
        rows.insert(id.clone(), row.clone());
        p.dirty = true;
        p.set_hash_cache(None);
        Delta::Put { id, old, new: row }
    });
    Ok(Value::Bool(true))
}

fn delete(core: &mut Core, t: &Str, id: &Str) -> VmResult<Value> {
    let view = read_table(&core.state, t)?;
    if view.row(id).is_none() {
        return Ok(Value::Bool(false));
    }
    let was = view.facts();
    write_table(core, t, was, |p| {
        let old = p.rows_mut().remove(id);
        p.dirty = true;
        p.set_hash_cache(None);
        match old {
            Some(old) => Delta::Remove { id, old },
            None => Delta::None,
        }
    });
    Ok(Value::Bool(true))
}

fn create_index(core: &mut Core, t: &Str, field: &Str) -> VmResult<Value> {
    let was = read_table(&core.state, t)?.facts();
    ensure_room(core, DB_KEY, "db.createIndex")?;
    write_table(core, t, was, |p| {
        p.add_index(field.clone());
        Delta::None
    });
    // Build the index now; writes keep it current from here on.
    let view = read_table(&core.state, t)?;
    let rows = view.rows.expect("written table has rows").clone();
    core.db_cache.entry(t, &rows).ensure_index(&rows, field);
    Ok(Value::Unit)
}

fn run_query(core: &mut Core, t: &Str, q: &Record, opts: &Value) -> VmResult<Value> {
    let view = read_table(&core.state, t)?;
    let q = query::parse_query(q)?;
    let opts = query::parse_options(opts)?;
    let Some(rows) = view.rows.cloned() else {
        return Ok(Value::list(Vec::new()));
    };
    let markers = view.indexes.cloned();
    let tc = core.db_cache.entry(t, &rows);
    if let Some(markers) = &markers {
        for (field, _) in &q.conds {
            if matches!(markers.get(field), Some(Value::Bool(true))) {
                tc.ensure_index(&rows, field);
            }
        }
    }
    tc.settle_for(&q);
    let needed = opts.needed().unwrap_or(usize::MAX);
    let mut out = Vec::new();
    let mut take = |row: &Value| {
        if q.matches(row) {
            out.push(row.clone());
        }
        out.len() < needed
    };
    match index::candidates(&q, tc, rows.len()) {
        Candidates::Scan => {
            for row in rows.fields().values() {
                if !take(row) {
                    break;
                }
            }
        }
        Candidates::Set(ids) => {
            for id in ids.iter() {
                if let Some(row) = row_of(&rows, &id) {
                    if !take(row) {
                        break;
                    }
                }
            }
        }
        Candidates::Ids(ids) => {
            for id in &ids {
                if let Some(row) = row_of(&rows, id) {
                    if !take(row) {
                        break;
                    }
                }
            }
        }
    }
    Ok(Value::list(opts.finish(out)))
}

/// The row with index id `id`.
fn row_of<'r>(rows: &'r Record, id: &IdKey) -> Option<&'r Value> {
    match id {
        IdKey::Text(s) => rows.get(s),
        packed => packed.with_text(|s| rows.get(s)),
    }
}

/// Lowercase hex SHA-256 of the canonical text of a rows record, i.e.
/// `hash_value(VRecord rows)`: `record{` + `id:canon(row)` in id order joined
/// by `,` + `}`. The text is streamed into the hasher row by row instead of
/// being built whole.
fn rows_hash(rows: &Record) -> Str {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut hasher = Sha256::new();
    let mut buf = String::with_capacity(256);
    buf.push_str("record{");
    for (i, (id, row)) in rows.fields().iter().enumerate() {
        if i > 0 {
            buf.push(',');
        }
        buf.push_str(id);
        buf.push(':');
        canonical_into(row, &mut buf);
        if buf.len() >= 8192 {
            hasher.update(buf.as_bytes());
            buf.clear();
        }
    }
    buf.push('}');
    hasher.update(buf.as_bytes());
    let digest = hasher.finalize();
    let mut hex = String::with_capacity(64);
    for b in digest.iter() {
        hex.push(HEX[(b >> 4) as usize] as char);
        hex.push(HEX[(b & 0x0f) as usize] as char);
    }
    Str::new(hex)
}

/// `db.hash`: always the hash of the current rows (`DECISIONS.md`); the
/// table's `hashCache`/`dirtyHash` are kept as the reference keeps them
/// (written when they do not already say exactly this hash).
fn hash(core: &mut Core, t: &Str) -> VmResult<Value> {
    let view = read_table(&core.state, t)?;
    let h = match view.rows.cloned() {
        Some(rows) => {
            let tc = core.db_cache.entry(t, &rows);
            match &tc.hash {
                Some(h) => h.clone(),
                None => {
                    let h = rows_hash(&rows);
                    tc.hash = Some(h.clone());
                    h
                }
            }
        }
        None => rows_hash(&Record::new()),
    };
    let view = read_table(&core.state, t)?;
    let up_to_date = view.exists && !view.dirty && view.hash_cache == Some(&h);
    if !up_to_date {
        let was = view.facts();
        ensure_room(core, DB_KEY, "db.hash")?;
        write_table(core, t, was, |p| {
            p.dirty = false;
            p.set_hash_cache(Some(h.clone()));
            Delta::None
        });
        // The rows did not change (or were absent and are now `{}`), so `h`
        // is still their hash.
        let rows = read_table(&core.state, t)?
            .rows
            .expect("written table has rows")
            .clone();
        core.db_cache
            .entry(t, &rows)
            .hash
            .get_or_insert_with(|| h.clone());
    }
    Ok(Value::Str(h))
}

// ---------------------------------------------------------------------------
// cache.*: state["__finvm.cache"] = {namespace: {key: value}}. Reads are
// lenient (a missing or non-record store or namespace reads as empty).

fn cache_namespace<'a>(
    state: &'a std::collections::BTreeMap<Str, Value>,
    ns: &Str,
) -> Option<&'a Record> {
    match state.get(CACHE_KEY) {
        Some(Value::Record(c)) => c.get(ns).and_then(Value::as_record),
        _ => None,
    }
}

/// Applies `edit` to namespace `ns` (created empty if needed) and writes it
/// back.
fn cache_write<R>(core: &mut Core, ns: &Str, edit: impl FnOnce(&mut Record) -> R) -> R {
    let mut store = match core.state.get_mut(CACHE_KEY).map(std::mem::take) {
        Some(Value::Record(rc)) => Rc::unwrap_or_clone(rc),
        _ => Record::new(),
    };
    let mut space = match store.remove(ns) {
        Some(Value::Record(rc)) => Rc::unwrap_or_clone(rc),
        _ => Record::new(),
    };
    let r = edit(&mut space);
    store.insert(ns.clone(), Value::record(space));
    let v = Value::record(store);
    match core.state.get_mut(CACHE_KEY) {
        Some(slot) => *slot = v,
        None => {
            core.state.insert(Str::new(CACHE_KEY), v);
        }
    }
    r
}

fn cache_set(core: &mut Core, ns: &Str, k: &Str, v: &Value) -> VmResult<Value> {
    check_depth(core, v, "cache.set")?;
    ensure_room(core, CACHE_KEY, "cache.set")?;
    cache_write(core, ns, |space| space.insert(k.clone(), v.clone()));
    Ok(Value::Bool(true))
}

/// Kept from the reference: the namespace is written back (created empty)
/// even when the key did not exist.
fn cache_delete(core: &mut Core, ns: &Str, k: &Str) -> VmResult<Value> {
    ensure_room(core, CACHE_KEY, "cache.delete")?;
    let existed = cache_write(core, ns, |space| space.remove(k).is_some());
    Ok(Value::Bool(existed))
}

/// `DECISIONS.md`: returns true and removes the namespace. Without a
/// `__finvm.cache` entry there is nothing to remove and state is unchanged.
fn cache_clear(core: &mut Core, ns: &Str) -> VmResult<Value> {
    if let Some(slot) = core.state.get_mut(CACHE_KEY) {
        let mut store = match std::mem::take(slot) {
            Value::Record(rc) => Rc::unwrap_or_clone(rc),
            _ => Record::new(),
        };
        store.remove(ns);
        *slot = Value::record(store);
    }
    Ok(Value::Bool(true))
}
