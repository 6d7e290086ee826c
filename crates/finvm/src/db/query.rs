//! The `db.query` language (`DECISIONS.md`, "Database and cache builtins").
//!
//! A query is a record `{field: condition, ...}`; a row matches when it is a
//! record satisfying every condition (a row that is not a record matches
//! only the empty query). A condition is either
//!
//! * an operator record, all of whose keys start with `$`:
//!   `$eq $ne $gt $gte $lt $lte $in $nin $exists`, all of which must hold; or
//! * any other value, which the field must equal structurally (as the
//!   reference does; a record without `$` keys, the empty record included,
//!   is such a value).
//!
//! Equality (`$eq $ne $in $nin`, plain values) is structural, as `EQ`;
//! `$gt $gte $lt $lte` use the VM's total order ([`Value`]'s `Ord`, numbers
//! compared by value across Int/Fixed/Rational), as `GT` etc. A row lacking
//! the field satisfies only `$ne`, `$nin` and `$exists: false`.
//!
//! Malformed queries are errors, never a match-all: a top-level key or an
//! operator starting with `$` that is not one of the above is
//! `InvalidInstruction`; an operator record mixing `$` and plain keys, `$in`
//! / `$nin` without a list and `$exists` without a bool are `TypeMismatch`.
//!
//! Options (`{sort: {field, order}, skip, limit}`): matches are sorted
//! stably (ties keep ascending id order; rows lacking the field come first,
//! in id order), then `skip` rows are dropped and at most `limit` kept.
//! `order` is `"ASC"` (default) or `"DESC"`; anything else, a `sort` that is
//! not such a record, or a `skip`/`limit` that is not a non-negative Int is a
//! `TypeMismatch`. Other option keys are ignored, and an options argument
//! that is not a record means no options (the reference accepts any value).

use crate::error::{vm_error, ErrorCode, VmError, VmResult};
use crate::value::{List, Record, Str, Value};
use std::cmp::Ordering;
use std::rc::Rc;

const MISMATCH: &str = "db.query/v1 expects (Table:String, Query:Record, Options:Record)";

/// A parsed query.
#[derive(Debug)]
pub(super) struct Query {
    /// Field conditions, in field-name order.
    pub conds: Vec<(Str, Cond)>,
}

/// A condition on one field.
#[derive(Debug)]
pub(super) enum Cond {
    /// The field equals this value.
    Eq(Value),
    /// Every operator holds.
    Ops(Vec<Op>),
}

/// A query operator.
#[derive(Debug)]
pub(super) enum Op {
    Eq(Value),
    Ne(Value),
    Gt(Value),
    Gte(Value),
    Lt(Value),
    Lte(Value),
    In(Rc<List>),
    Nin(Rc<List>),
    Exists(bool),
}

fn type_err(detail: String) -> Box<VmError> {
    vm_error(ErrorCode::TypeMismatch, format!("{MISMATCH}: {detail}"))
}

fn unknown_op(op: &str, field: Option<&str>) -> Box<VmError> {
    let at = match field {
        Some(f) => format!(" (field {f})"),
        None => String::new(),
    };
    vm_error(
        ErrorCode::InvalidInstruction,
        format!("db.query/v1 unknown query operator {op}{at}"),
    )
}

/// Parses a query record.
pub(super) fn parse_query(q: &Record) -> VmResult<Query> {
    let mut conds = Vec::with_capacity(q.len());
    for (field, cond) in q.fields() {
        if field.starts_with('$') {
            return Err(unknown_op(field, None));
        }
        conds.push((field.clone(), parse_cond(field, cond)?));
    }
    Ok(Query { conds })
}

fn parse_cond(field: &str, cond: &Value) -> VmResult<Cond> {
    let Value::Record(r) = cond else {
        return Ok(Cond::Eq(cond.clone()));
    };
    let dollar = r.fields().keys().filter(|k| k.starts_with('$')).count();
    if dollar == 0 {
        return Ok(Cond::Eq(cond.clone()));
    }
    if dollar != r.len() {
        return Err(type_err(format!(
            "the condition on field {field} mixes operators and fields"
        )));
    }
    let mut ops = Vec::with_capacity(r.len());
    for (name, arg) in r.fields() {
        let list = |op: &str| match arg {
            Value::List(l) => Ok(l.clone()),
            _ => Err(type_err(format!("{op} on field {field} expects a List"))),
        };
        ops.push(match name.as_str() {
            "$eq" => Op::Eq(arg.clone()),
            "$ne" => Op::Ne(arg.clone()),
            "$gt" => Op::Gt(arg.clone()),
            "$gte" => Op::Gte(arg.clone()),
            "$lt" => Op::Lt(arg.clone()),
            "$lte" => Op::Lte(arg.clone()),
            "$in" => Op::In(list("$in")?),
            "$nin" => Op::Nin(list("$nin")?),
            "$exists" => match arg {
                Value::Bool(b) => Op::Exists(*b),
                _ => return Err(type_err(format!("$exists on field {field} expects a Bool"))),
            },
            other => return Err(unknown_op(other, Some(field))),
        });
    }
    Ok(Cond::Ops(ops))
}

impl Query {
    /// True when `row` satisfies the query.
    pub fn matches(&self, row: &Value) -> bool {
        let Value::Record(r) = row else {
            return self.conds.is_empty();
        };
        self.conds.iter().all(|(field, cond)| {
            let v = r.get(field);
            match cond {
                Cond::Eq(x) => v == Some(x),
                Cond::Ops(ops) => ops.iter().all(|op| op_holds(op, v)),
            }
        })
    }
}

fn op_holds(op: &Op, v: Option<&Value>) -> bool {
    let Some(v) = v else {
        return matches!(op, Op::Ne(_) | Op::Nin(_) | Op::Exists(false));
    };
    match op {
        Op::Eq(x) => v == x,
        Op::Ne(x) => v != x,
        Op::Gt(x) => v.cmp(x) == Ordering::Greater,
        Op::Gte(x) => v.cmp(x) != Ordering::Less,
        Op::Lt(x) => v.cmp(x) == Ordering::Less,
        Op::Lte(x) => v.cmp(x) != Ordering::Greater,
        Op::In(l) => l.items().contains(v),
        Op::Nin(l) => !l.items().contains(v),
        Op::Exists(b) => *b,
    }
}

/// Parsed `db.query` options.
#[derive(Debug)]
pub(super) struct Options {
    /// Sort field and whether descending.
    pub sort: Option<(Str, bool)>,
    /// Rows to drop from the front.
    pub skip: usize,
    /// Maximum rows to return.
    pub limit: usize,
}

/// Parses the options argument.
pub(super) fn parse_options(v: &Value) -> VmResult<Options> {
    let mut o = Options {
        sort: None,
        skip: 0,
        limit: usize::MAX,
    };
    let Value::Record(r) = v else {
        return Ok(o);
    };
    if let Some(s) = r.get("sort") {
        let bad = || type_err("sort must be {field:String, order:\"ASC\"|\"DESC\"}".into());
        let Value::Record(s) = s else {
            return Err(bad());
        };
        let Some(Value::Str(field)) = s.get("field") else {
            return Err(bad());
        };
        let desc = match s.get("order") {
            None => false,
            Some(Value::Str(x)) if x.as_str() == "ASC" => false,
            Some(Value::Str(x)) if x.as_str() == "DESC" => true,
            Some(_) => return Err(bad()),
        };
        o.sort = Some((field.clone(), desc));
    }
    let count = |name: &str| -> VmResult<Option<usize>> {
        match r.get(name) {
            None => Ok(None),
            Some(Value::Int(i)) if !i.is_negative() => {
                Ok(Some(i.to_i64().map_or(usize::MAX, |n| {
                    usize::try_from(n).unwrap_or(usize::MAX)
                })))
            }
            Some(_) => Err(type_err(format!("{name} must be a non-negative Int"))),
        }
    };
    if let Some(n) = count("skip")? {
        o.skip = n;
    }
    if let Some(n) = count("limit")? {
        o.limit = n;
    }
    Ok(o)
}

impl Options {
    /// How many matches (in id order) suffice, when no sort is asked for.
    pub fn needed(&self) -> Option<usize> {
        match self.sort {
            Some(_) => None,
            None => Some(self.skip.saturating_add(self.limit)),
        }
    }

    /// Sorts (stably), skips and limits the matches, given in id order.
    pub fn finish(&self, mut rows: Vec<Value>) -> Vec<Value> {
        if let Some((field, desc)) = &self.sort {
            let key = |row: &Value| super::index::field_of(row, field).cloned();
            // Rows lacking the field first (in id order), then the rest.
            let (mut missing, mut present): (Vec<Value>, Vec<(Value, Value)>) =
                (Vec::new(), Vec::with_capacity(rows.len()));
            for row in rows {
                match key(&row) {
                    Some(k) => present.push((k, row)),
                    None => missing.push(row),
                }
            }
            if *desc {
                present.sort_by(|a, b| b.0.cmp(&a.0));
            } else {
                present.sort_by(|a, b| a.0.cmp(&b.0));
            }
            missing.extend(present.into_iter().map(|(_, r)| r));
            rows = missing;
        }
        if self.skip > 0 {
            rows.drain(..self.skip.min(rows.len()));
        }
        rows.truncate(self.limit);
        rows
    }
}
