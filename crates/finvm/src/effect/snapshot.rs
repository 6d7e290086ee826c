//! The resumable snapshot: a complete, versioned JSON image of a quiescent
//! [`Machine`] (`FORMATS.md` §6.4, with `DECISIONS.md`'s program binding).
//!
//! The document keeps the reference's field names and shapes and adds:
//! - `format` (`"finvm-snapshot/1"`) and `programDigest` (the program's
//!   [`Program::digest`]): a snapshot resumes only under its own program and
//!   format version;
//! - per process `hasResult` (so a stored `Some(unit)` result survives) and
//!   `killedBySignal` (an `Exited` status caused by a link or disconnect);
//! - a top-level `nodes` array: the machine's remote-node table.
//!
//! Decoding is strict: every field is required with its exact type, and a
//! snapshot that does not describe a consistent machine for the program
//! (unknown pids in the ready queue, links or parents, a frame outside its
//! function, a register count that does not match, duplicate pids or keys,
//! ...) is rejected. Errors read `snapshot parse: …` (not JSON) or
//! `snapshot decode: …` (JSON, but not a snapshot of this program).

use super::json::{self, write_int, Json};
use crate::error::{ErrorCode, VmError};
use crate::machine::{Frame, Machine, MonitorTarget, NodeInfo, Process, Status, Wait};
use crate::num::{Fixed, Int, Rational};
use crate::program::Program;
use crate::value::json::write_json_str;
use crate::value::{List, MachineInstance, Map, Record, Str, Tagged, Value};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::rc::Rc;

/// The value of the snapshot's `format` field.
pub const FORMAT: &str = "finvm-snapshot/1";

// ---------------------------------------------------------------- encoding

/// Appends the snapshot value codec (`<SV>`, `FORMATS.md` §6.4.2) of `v`.
pub fn encode_sv(v: &Value, out: &mut String) {
    match v {
        Value::Unit => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b {
            r#"{"bool":true}"#
        } else {
            r#"{"bool":false}"#
        }),
        Value::Int(i) => {
            out.push_str(r#"{"int":""#);
            write_int(out, i);
            out.push_str("\"}");
        }
        Value::Fixed(f) => {
            out.push_str(r#"{"fixed":{"value":""#);
            write_int(out, &f.value);
            out.push_str(r#"","scale":"#);
            write_int(out, f.scale);
            out.push_str("}}");
        }
        Value::Rational(r) => {
            out.push_str(r#"{"rational":{"num":""#);
            write_int(out, &r.numerator);
            out.push_str(r#"","den":""#);
            write_int(out, &r.denominator);
            out.push_str("\"}}");
        }
        Value::Str(s) => tag_str(out, "string", s),
        Value::Symbol(s) => tag_str(out, "symbol", s),
        Value::Bytes(b) => {
            out.push_str(r#"{"bytes":["#);
            for (i, x) in b.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_int(out, x);
            }
            out.push_str("]}");
        }
        Value::List(l) => {
            out.push_str(r#"{"list":["#);
            for (i, x) in l.items().iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                encode_sv(x, out);
            }
            out.push_str("]}");
        }
        Value::Map(m) => {
            out.push_str(r#"{"vmap":["#);
            for (i, (k, x)) in m.entries().iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(r#"{"k":"#);
                encode_sv(k, out);
                out.push_str(r#","v":"#);
                encode_sv(x, out);
                out.push('}');
            }
            out.push_str("]}");
        }
        Value::Record(r) => {
            out.push_str(r#"{"record":"#);
            encode_fields(r, out);
            out.push('}');
        }
        Value::Variant(t) => tag_pair(out, "variant", "tag", t),
        Value::Option(None) => out.push_str(r#"{"none":true}"#),
        Value::Option(Some(x)) => {
            out.push_str(r#"{"some":"#);
            encode_sv(x, out);
            out.push('}');
        }
        Value::Result(r) => {
            let (key, x) = match &**r {
                Err(x) => (r#"{"err":"#, x),
                Ok(x) => (r#"{"ok":"#, x),
            };
            out.push_str(key);
            encode_sv(x, out);
            out.push('}');
        }
        Value::FunctionRef(f) => tag_str(out, "fn", f),
        Value::Process(p) => tag_str(out, "proc", p),
        Value::RemoteProcess(rp) => {
            out.push_str(r#"{"rproc":{"node":"#);
            write_json_str(&rp.0, out);
            out.push_str(r#","pid":"#);
            write_json_str(&rp.1, out);
            out.push_str("}}");
        }
        Value::Machine(mi) => {
            out.push_str(r#"{"sm":{"machineId":"#);
            write_json_str(&mi.machine_id, out);
            out.push_str(r#","instanceId":"#);
            write_json_str(&mi.instance_id, out);
            out.push_str(r#","currentState":"#);
            write_json_str(&mi.current_state, out);
            out.push_str(r#","version":"#);
            write_int(out, mi.version);
            out.push_str(r#","historyHash":"#);
            write_json_str(&mi.history_hash, out);
            out.push_str(r#","data":"#);
            encode_fields(&mi.data, out);
            out.push_str("}}");
        }
        Value::Event(t) => tag_pair(out, "event", "type", t),
        Value::Effect(t) => tag_pair(out, "effect", "type", t),
        Value::Proof(t) => {
            out.push_str(r#"{"proof":{"label":"#);
            write_json_str(&t.tag, out);
            out.push_str(r#","value":"#);
            encode_sv(&t.value, out);
            out.push_str("}}");
        }
    }
}

/// `[{"k":<field>,"v":<SV>},…]` in field order.
fn encode_fields(r: &Record, out: &mut String) {
    out.push('[');
    for (i, (k, x)) in r.fields().iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        kv_open(out, k);
        encode_sv(x, out);
        out.push('}');
    }
    out.push(']');
}

/// `{"k":<key>,"v":` (the caller writes the value and the closing brace).
fn kv_open(out: &mut String, k: &str) {
    out.push_str(r#"{"k":"#);
    write_json_str(k, out);
    out.push_str(r#","v":"#);
}

fn tag_str(out: &mut String, tag: &str, s: &str) {
    out.push_str("{\"");
    out.push_str(tag);
    out.push_str("\":");
    write_json_str(s, out);
    out.push('}');
}

fn tag_pair(out: &mut String, tag: &str, name: &str, t: &Tagged) {
    out.push_str("{\"");
    out.push_str(tag);
    out.push_str("\":{\"");
    out.push_str(name);
    out.push_str("\":");
    write_json_str(&t.tag, out);
    out.push_str(r#","payload":"#);
    encode_sv(&t.value, out);
    out.push_str("}}");
}

fn opt_str(out: &mut String, s: Option<&str>) {
    match s {
        Some(s) => write_json_str(s, out),
        None => out.push_str("null"),
    }
}

fn str_array<'a>(out: &mut String, items: impl IntoIterator<Item = &'a Str>) {
    out.push('[');
    for (i, s) in items.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_json_str(s, out);
    }
    out.push(']');
}

fn encode_error(e: &VmError, out: &mut String) {
    out.push_str(r#"{"code":"#);
    write_json_str(&e.code.name(), out);
    out.push_str(r#","msg":"#);
    write_json_str(&e.msg, out);
    out.push('}');
}

fn encode_wait(w: &Wait, out: &mut String) {
    let simple = |out: &mut String, w: &str, field: &str, v: &str| {
        out.push_str(r#"{"w":""#);
        out.push_str(w);
        out.push_str("\",\"");
        out.push_str(field);
        out.push_str("\":");
        write_json_str(v, out);
        out.push('}');
    };
    match w {
        Wait::Message => out.push_str(r#"{"w":"message"}"#),
        Wait::Match(t) => simple(out, "match", "tag", t),
        Wait::Process(p) => simple(out, "process", "pid", p),
        Wait::Monitor(r) => simple(out, "monitor", "ref", r),
        Wait::Tick(t) => {
            out.push_str(r#"{"w":"tick","tick":"#);
            write_int(out, t);
            out.push('}');
        }
        Wait::RemoteNode(n) => simple(out, "rnode", "node", n),
        Wait::RemoteProcess(n, p) => {
            out.push_str(r#"{"w":"rproc","node":"#);
            write_json_str(n, out);
            out.push_str(r#","pid":"#);
            write_json_str(p, out);
            out.push('}');
        }
        Wait::Effect(k) => simple(out, "effect", "key", k),
    }
}

fn encode_status(s: &Status, out: &mut String) {
    match s {
        Status::Ready => out.push_str(r#"{"s":"ready"}"#),
        Status::Running => out.push_str(r#"{"s":"running"}"#),
        Status::Waiting(w) => {
            out.push_str(r#"{"s":"waiting","cond":"#);
            encode_wait(w, out);
            out.push('}');
        }
        Status::Completed(v) => {
            out.push_str(r#"{"s":"completed","value":"#);
            encode_sv(v, out);
            out.push('}');
        }
        Status::Failed(e) => {
            out.push_str(r#"{"s":"failed","error":"#);
            encode_error(e, out);
            out.push('}');
        }
        Status::Cancelled(r) => {
            out.push_str(r#"{"s":"cancelled","reason":"#);
            write_json_str(r, out);
            out.push('}');
        }
        Status::Exited(r) => {
            out.push_str(r#"{"s":"exited","reason":"#);
            write_json_str(r, out);
            out.push('}');
        }
    }
}

/// The register window of `f` in `regs` (clipped to what exists).
fn window<'a>(program: &Program, regs: &'a [Value], f: &Frame) -> &'a [Value] {
    let rc = program.functions[f.func as usize].register_count as usize;
    let b = (f.base as usize).min(regs.len());
    let e = (b + rc).min(regs.len());
    &regs[b..e]
}

fn encode_frame(program: &Program, p: &Process, f: &Frame, index: usize, out: &mut String) {
    out.push_str(r#"{"function":"#);
    write_json_str(&program.functions[f.func as usize].id, out);
    out.push_str(r#","pc":"#);
    write_int(out, f.pc);
    out.push_str(r#","registers":["#);
    for (i, v) in window(program, &p.regs, f).iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        encode_sv(v, out);
    }
    out.push_str(r#"],"returnRegister":"#);
    match f.ret {
        Some(r) => write_int(out, r),
        None => out.push_str("null"),
    }
    out.push_str(r#","caller":"#);
    match index.checked_sub(1) {
        Some(c) => write_int(out, c),
        None => out.push_str("null"),
    }
    out.push('}');
}

fn encode_process(program: &Program, p: &Process, out: &mut String) {
    out.push_str(r#"{"pid":"#);
    write_json_str(&p.pid, out);
    out.push_str(r#","status":"#);
    encode_status(&p.status, out);
    out.push_str(r#","function":"#);
    write_json_str(&program.functions[p.function as usize].id, out);
    out.push_str(r#","frame":"#);
    encode_frame(program, p, &p.frame, p.call_stack.len(), out);
    out.push_str(r#","callStack":["#);
    for (i, f) in p.call_stack.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        encode_frame(program, p, f, i, out);
    }
    out.push_str(r#"],"mailbox":["#);
    for (i, v) in p.mailbox.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        encode_sv(v, out);
    }
    out.push_str(r#"],"links":"#);
    str_array(out, &p.links);
    out.push_str(r#","remoteLinks":["#);
    for (i, (n, q)) in p.remote_links.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(r#"{"node":"#);
        write_json_str(n, out);
        out.push_str(r#","pid":"#);
        write_json_str(q, out);
        out.push('}');
    }
    out.push_str(r#"],"monitors":["#);
    for (i, (r, t)) in p.monitors.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        kv_open(out, r);
        match t {
            MonitorTarget::Local(q) => {
                out.push_str(r#"{"k":"local","pid":"#);
                write_json_str(q, out);
            }
            MonitorTarget::Remote(n, q) => {
                out.push_str(r#"{"k":"remote","node":"#);
                write_json_str(n, out);
                out.push_str(r#","pid":"#);
                write_json_str(q, out);
            }
        }
        out.push_str("}}");
    }
    out.push_str(r#"],"parent":"#);
    opt_str(out, p.parent.as_deref());
    out.push_str(r#","children":"#);
    str_array(out, &p.children);
    out.push_str(r#","trapExit":"#);
    out.push_str(if p.trap_exit { "true" } else { "false" });
    out.push_str(r#","name":"#);
    write_json_str(&p.name, out);
    out.push_str(r#","result":"#);
    match &p.result {
        Some(v) => encode_sv(v, out),
        None => out.push_str("null"),
    }
    out.push_str(r#","error":"#);
    match &p.status {
        Status::Failed(e) => encode_error(e, out),
        _ => out.push_str("null"),
    }
    out.push_str(r#","createdSequence":"#);
    write_int(out, p.created_seq);
    out.push_str(r#","stepsExecuted":"#);
    write_int(out, p.steps_executed);
    out.push_str(r#","hasResult":"#);
    out.push_str(if p.result.is_some() { "true" } else { "false" });
    out.push_str(r#","killedBySignal":"#);
    out.push_str(if p.killed_by_signal { "true" } else { "false" });
    out.push('}');
}

fn encode_entries(map: &BTreeMap<Str, Value>, out: &mut String) {
    out.push('[');
    for (i, (k, v)) in map.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        kv_open(out, k);
        encode_sv(v, out);
        out.push('}');
    }
    out.push(']');
}

/// Appends the snapshot JSON object of a machine (compact, one line).
///
/// The machine's outbox, events, traces and proof trace are not part of a
/// snapshot; neither are the program and its limits (they come from the
/// program a snapshot is resumed with, which must have the same digest).
pub fn encode_snapshot_into(m: &Machine, out: &mut String) {
    let program = &*m.core.program;
    out.push_str(r#"{"format":"#);
    write_json_str(FORMAT, out);
    out.push_str(r#","programDigest":"#);
    write_json_str(&program.digest, out);
    out.push_str(r#","v":1,"processes":["#);
    for (i, slot) in m.by_pid.values().enumerate() {
        if i > 0 {
            out.push(',');
        }
        encode_process(program, &m.procs[*slot], out);
    }
    out.push_str(r#"],"readyQueue":"#);
    str_array(out, m.ready.iter().map(|s| &m.procs[*s].pid));
    out.push_str(r#","current":"#);
    opt_str(out, m.current.as_deref());
    out.push_str(r#","nextPidSequence":"#);
    write_int(out, m.next_pid_seq);
    out.push_str(r#","logicalTick":"#);
    write_int(out, m.tick);
    out.push_str(r#","state":"#);
    encode_entries(&m.core.state, out);
    out.push_str(r#","input":"#);
    encode_entries(&m.core.input, out);
    out.push_str(r#","steps":"#);
    write_int(out, m.core.steps);
    out.push_str(r#","nodes":["#);
    for (i, (n, info)) in m.nodes.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(r#"{"node":"#);
        write_json_str(n, out);
        out.push_str(r#","status":"#);
        write_json_str(&info.status, out);
        out.push_str(r#","reason":"#);
        opt_str(out, info.reason.as_deref());
        out.push_str(r#","lastSeenTick":"#);
        match info.last_seen_tick {
            Some(t) => write_int(out, t),
            None => out.push_str("null"),
        }
        out.push_str(r#","lastStateHash":"#);
        opt_str(out, info.last_state_hash.as_deref());
        out.push('}');
    }
    out.push_str("]}");
}

/// The snapshot JSON text of a machine.
pub fn encode_snapshot(m: &Machine) -> String {
    let mut s = String::with_capacity(1024);
    encode_snapshot_into(m, &mut s);
    s
}

// ---------------------------------------------------------------- decoding

type D<T> = Result<T, String>;

/// A JSON object being read field by field.
#[derive(Clone, Copy)]
struct Obj<'a>(&'a [(String, Json)]);

fn as_obj(j: &Json) -> D<Obj<'_>> {
    match j {
        Json::Obj(m) => Ok(Obj(m)),
        _ => Err("expected object".into()),
    }
}

fn as_arr(j: &Json) -> D<&[Json]> {
    match j {
        Json::Arr(a) => Ok(a),
        _ => Err("expected array".into()),
    }
}

fn as_str(j: &Json) -> D<&str> {
    match j {
        Json::Str(s) => Ok(s),
        _ => Err("expected string".into()),
    }
}

fn as_bool(j: &Json) -> D<bool> {
    match j {
        Json::Bool(b) => Ok(*b),
        _ => Err("expected bool".into()),
    }
}

/// A JSON integer literal (`-?digits`, no fraction or exponent) as an i64.
fn as_i64(j: &Json) -> D<i64> {
    match j {
        Json::Num(t) if !t.contains(['.', 'e', 'E']) => {
            t.parse::<i64>().map_err(|_| "expected int".to_string())
        }
        _ => Err("expected int".into()),
    }
}

fn as_i32(j: &Json) -> D<i32> {
    as_i64(j).and_then(|v| i32::try_from(v).map_err(|_| "expected int".to_string()))
}

fn as_u64(j: &Json) -> D<u64> {
    as_i64(j).and_then(|v| u64::try_from(v).map_err(|_| "expected non-negative int".to_string()))
}

fn as_u32(j: &Json) -> D<u32> {
    as_i64(j).and_then(|v| u32::try_from(v).map_err(|_| "expected non-negative int".to_string()))
}

fn as_bigint(j: &Json) -> D<Int> {
    let s = as_str(j)?;
    Int::parse_strict(s).ok_or_else(|| format!("bad bigint: {s}"))
}

impl<'a> Obj<'a> {
    fn get(self, k: &str) -> Option<&'a Json> {
        self.0.iter().find(|(n, _)| n == k).map(|(_, v)| v)
    }

    fn field(self, k: &str) -> D<&'a Json> {
        self.get(k).ok_or_else(|| format!("missing field: {k}"))
    }

    /// Reads a field with `f`, naming the field in the error.
    fn with<T>(self, k: &str, f: impl FnOnce(&'a Json) -> D<T>) -> D<T> {
        f(self.field(k)?).map_err(|e| format!("{k}: {e}"))
    }

    fn str(self, k: &str) -> D<Str> {
        self.with(k, |j| as_str(j).map(Str::new))
    }

    fn opt<T>(self, k: &str, f: impl FnOnce(&'a Json) -> D<T>) -> D<Option<T>> {
        self.with(k, |j| match j {
            Json::Null => Ok(None),
            j => f(j).map(Some),
        })
    }
}

/// Decodes the snapshot value codec. A value nested deeper than the
/// `maxValueDepth` ceiling (which no program can build) is an error, so
/// decoding, and everything done with the value afterwards, recurses no
/// deeper than the VM's own values (regression
/// `regression_snapshot_deep_value_overflows_the_stack`).
pub fn decode_sv(j: &Json) -> D<Value> {
    decode_sv_at(j, 0)
}

fn decode_sv_at(j: &Json, depth: usize) -> D<Value> {
    if depth > crate::limits::MAX_VALUE_DEPTH as usize {
        return Err(format!(
            "value nested deeper than {} levels",
            crate::limits::MAX_VALUE_DEPTH
        ));
    }
    let nested = |x: &Json| decode_sv_at(x, depth + 1);
    let o = match j {
        Json::Null => return Ok(Value::Unit),
        Json::Obj(m) => m,
        _ => return Err("expected object".into()),
    };
    let [(tag, x)] = o.as_slice() else {
        return Err("unknown Value tag in snapshot".into());
    };
    let x: &Json = x;
    let inner = || as_obj(x).map_err(|e| format!("{tag}: {e}"));
    Ok(match tag.as_str() {
        "bool" => Value::Bool(as_bool(x)?),
        "int" => Value::Int(as_bigint(x)?),
        "fixed" => {
            let f = inner()?;
            Value::Fixed(Rc::new(Fixed::new(
                f.with("value", as_bigint)?,
                f.with("scale", as_i32)?,
            )))
        }
        "rational" => {
            let r = inner()?;
            Value::Rational(Rc::new(Rational::new(
                r.with("num", as_bigint)?,
                r.with("den", as_bigint)?,
            )))
        }
        "string" => Value::Str(Str::new(as_str(x)?)),
        "symbol" => Value::Symbol(Str::new(as_str(x)?)),
        "bytes" => {
            let bytes = as_arr(x)?
                .iter()
                .map(|b| {
                    as_i64(b).and_then(|v| {
                        u8::try_from(v).map_err(|_| format!("byte out of range: {v}"))
                    })
                })
                .collect::<D<Vec<u8>>>()?;
            Value::Bytes(Rc::new(bytes))
        }
        "list" => {
            let items = as_arr(x)?.iter().map(nested).collect::<D<Vec<_>>>()?;
            Value::List(Rc::new(List::from_vec(items)))
        }
        "vmap" => {
            let mut m = Map::new();
            for e in as_arr(x)? {
                let e = as_obj(e)?;
                let k = e.with("k", nested)?;
                let v = e.with("v", nested)?;
                if m.get(&k).is_some() {
                    return Err("duplicate map key in snapshot".into());
                }
                m.insert(k, v);
            }
            Value::Map(Rc::new(m))
        }
        "record" => Value::Record(Rc::new(decode_fields(x, depth + 1)?)),
        "variant" => Value::Variant(Rc::new(decode_tagged(
            inner()?,
            "tag",
            "payload",
            depth + 1,
        )?)),
        "none" => match x {
            Json::Bool(true) => Value::Option(None),
            _ => return Err("none: expected true".into()),
        },
        "some" => Value::some(nested(x)?),
        "err" => Value::Result(Rc::new(Err(nested(x)?))),
        "ok" => Value::Result(Rc::new(Ok(nested(x)?))),
        "fn" => Value::FunctionRef(Str::new(as_str(x)?)),
        "proc" => Value::Process(Str::new(as_str(x)?)),
        "rproc" => {
            let r = inner()?;
            Value::RemoteProcess(Rc::new((r.str("node")?, r.str("pid")?)))
        }
        "sm" => {
            let s = inner()?;
            Value::Machine(Rc::new(MachineInstance {
                machine_id: s.str("machineId")?,
                instance_id: s.str("instanceId")?,
                current_state: s.str("currentState")?,
                version: s.with("version", as_i32)?,
                history_hash: s.str("historyHash")?,
                data: s.with("data", |d| decode_fields(d, depth + 1))?,
            }))
        }
        "event" => Value::Event(Rc::new(decode_tagged(
            inner()?,
            "type",
            "payload",
            depth + 1,
        )?)),
        "effect" => Value::Effect(Rc::new(decode_tagged(
            inner()?,
            "type",
            "payload",
            depth + 1,
        )?)),
        "proof" => Value::Proof(Rc::new(decode_tagged(
            inner()?,
            "label",
            "value",
            depth + 1,
        )?)),
        _ => return Err("unknown Value tag in snapshot".into()),
    })
}

fn decode_tagged(o: Obj<'_>, name: &str, value: &str, depth: usize) -> D<Tagged> {
    Ok(Tagged {
        tag: o.str(name)?,
        value: o.with(value, |x| decode_sv_at(x, depth))?,
    })
}

fn decode_fields(j: &Json, depth: usize) -> D<Record> {
    let mut r = Record::new();
    for e in as_arr(j)? {
        let e = as_obj(e)?;
        let k = e.str("k")?;
        let v = e.with("v", |x| decode_sv_at(x, depth))?;
        if r.get(&k).is_some() {
            return Err(format!("duplicate field {k:?} in snapshot record"));
        }
        r.insert(k, v);
    }
    Ok(r)
}

fn decode_entries(j: &Json) -> D<BTreeMap<Str, Value>> {
    let mut m = BTreeMap::new();
    for e in as_arr(j)? {
        let e = as_obj(e)?;
        let k = e.str("k")?;
        let v = e.with("v", decode_sv)?;
        if m.insert(k.clone(), v).is_some() {
            return Err(format!("duplicate key {k:?}"));
        }
    }
    Ok(m)
}

fn decode_error(j: &Json) -> D<VmError> {
    let o = as_obj(j)?;
    let code = o.str("code")?;
    let msg = o.str("msg")?;
    let code = ErrorCode::from_name(&code).ok_or_else(|| format!("unknown error code: {code}"))?;
    Ok(VmError::new(code, msg.as_str()))
}

fn decode_wait(j: &Json) -> D<Wait> {
    let o = as_obj(j)?;
    let w = o.str("w")?;
    Ok(match w.as_str() {
        "message" => Wait::Message,
        "match" => Wait::Match(o.str("tag")?),
        "process" => Wait::Process(o.str("pid")?),
        "monitor" => Wait::Monitor(o.str("ref")?),
        "tick" => Wait::Tick(o.with("tick", as_i64)?),
        "rnode" => Wait::RemoteNode(o.str("node")?),
        "rproc" => Wait::RemoteProcess(o.str("node")?, o.str("pid")?),
        "effect" => Wait::Effect(o.str("key")?),
        _ => return Err(format!("unknown wait condition: {w}")),
    })
}

fn decode_status(j: &Json) -> D<Status> {
    let o = as_obj(j)?;
    let s = o.str("s")?;
    Ok(match s.as_str() {
        "ready" => Status::Ready,
        "running" => Status::Running,
        "waiting" => Status::Waiting(o.with("cond", decode_wait)?),
        "completed" => Status::Completed(o.with("value", decode_sv)?),
        "failed" => Status::Failed(Box::new(o.with("error", decode_error)?)),
        "cancelled" => Status::Cancelled(o.str("reason")?),
        "exited" => Status::Exited(o.str("reason")?),
        _ => return Err(format!("unknown status: {s}")),
    })
}

/// A decoded frame before its registers are placed in the process's stack.
struct RawFrame {
    func: u32,
    pc: u32,
    regs: Vec<Value>,
    ret: Option<u32>,
}

fn decode_frame(program: &Program, j: &Json, index: usize) -> D<RawFrame> {
    let o = as_obj(j)?;
    let name = o.str("function")?;
    let func = program
        .function(&name)
        .ok_or_else(|| format!("unknown function {name}"))?;
    let f = &program.functions[func as usize];
    let pc = o.with("pc", as_u32)?;
    if pc as usize > f.code.len() {
        return Err(format!(
            "pc {pc} is outside function {name} ({} instructions)",
            f.code.len()
        ));
    }
    let regs = o.with("registers", |r| {
        as_arr(r)?.iter().map(decode_sv).collect::<D<Vec<_>>>()
    })?;
    if regs.len() != f.register_count as usize {
        return Err(format!(
            "function {name} has {} registers, the frame holds {}",
            f.register_count,
            regs.len()
        ));
    }
    let ret = o.opt("returnRegister", as_u32)?;
    let caller = o.opt("caller", as_u64)?;
    if caller != index.checked_sub(1).map(|c| c as u64) {
        return Err(format!(
            "caller of frame {index} must be {:?}",
            index.checked_sub(1)
        ));
    }
    Ok(RawFrame {
        func,
        pc,
        regs,
        ret,
    })
}

fn decode_pid_set(j: &Json) -> D<BTreeSet<Str>> {
    let mut out = BTreeSet::new();
    for s in as_arr(j)? {
        if !out.insert(Str::new(as_str(s)?)) {
            return Err("duplicate pid".into());
        }
    }
    Ok(out)
}

fn decode_process(program: &Program, j: &Json) -> D<Process> {
    let o = as_obj(j)?;
    let pid = o.str("pid")?;
    let ctx = |e: String| format!("process {pid}: {e}");
    decode_process_fields(program, o, pid.clone()).map_err(ctx)
}

fn decode_process_fields(program: &Program, o: Obj<'_>, pid: Str) -> D<Process> {
    let status = o.with("status", decode_status)?;
    let fname = o.str("function")?;
    let function = program
        .function(&fname)
        .ok_or_else(|| format!("function: unknown function {fname}"))?;
    let stack_json = o.with("callStack", as_arr)?;
    let mut frames = Vec::with_capacity(stack_json.len() + 1);
    for (i, f) in stack_json.iter().enumerate() {
        frames.push(decode_frame(program, f, i).map_err(|e| format!("callStack[{i}]: {e}"))?);
    }
    let current = o.with("frame", |f| decode_frame(program, f, stack_json.len()))?;
    // Each frame's return register lives in its caller's window.
    for (i, f) in frames.iter().chain(std::iter::once(&current)).enumerate() {
        if let Some(r) = f.ret {
            let caller_rc = match i.checked_sub(1) {
                Some(c) => program.functions[frames[c].func as usize].register_count,
                None => return Err("the outermost frame has a return register".into()),
            };
            if r >= caller_rc {
                return Err(format!("return register {r} is outside the caller's frame"));
            }
        }
    }
    let mut regs = Vec::new();
    let mut call_stack = Vec::with_capacity(frames.len());
    let place = |f: RawFrame, regs: &mut Vec<Value>| -> D<Frame> {
        let base = u32::try_from(regs.len()).map_err(|_| "too many registers".to_string())?;
        regs.extend(f.regs);
        Ok(Frame {
            func: f.func,
            pc: f.pc,
            base,
            ret: f.ret,
        })
    };
    for f in frames {
        call_stack.push(place(f, &mut regs)?);
    }
    let frame = place(current, &mut regs)?;
    let mailbox = o.with("mailbox", |m| {
        as_arr(m)?.iter().map(decode_sv).collect::<D<VecDeque<_>>>()
    })?;
    let links = o.with("links", decode_pid_set)?;
    let mut remote_links = BTreeSet::new();
    for l in o.with("remoteLinks", as_arr)? {
        let l = as_obj(l).map_err(|e| format!("remoteLinks: {e}"))?;
        if !remote_links.insert((l.str("node")?, l.str("pid")?)) {
            return Err("remoteLinks: duplicate link".into());
        }
    }
    let mut monitors = BTreeMap::new();
    for e in o.with("monitors", as_arr)? {
        let e = as_obj(e).map_err(|e| format!("monitors: {e}"))?;
        let r = e.str("k")?;
        let t = as_obj(e.field("v")?).map_err(|e| format!("monitors: {e}"))?;
        let kind = t.str("k")?;
        let target = match kind.as_str() {
            "local" => MonitorTarget::Local(t.str("pid")?),
            "remote" => MonitorTarget::Remote(t.str("node")?, t.str("pid")?),
            _ => return Err(format!("unknown monitor target kind: {kind}")),
        };
        if monitors.insert(r.clone(), target).is_some() {
            return Err(format!("monitors: duplicate ref {r}"));
        }
    }
    let parent = o.opt("parent", |j| as_str(j).map(Str::new))?;
    let children = o.with("children", decode_pid_set)?;
    let trap_exit = o.with("trapExit", as_bool)?;
    let name = o.str("name")?;
    let stored = o.with("result", decode_sv)?;
    let has_result = o.with("hasResult", as_bool)?;
    if !has_result && stored != Value::Unit {
        return Err("result is set but hasResult is false".into());
    }
    let error = o.opt("error", decode_error)?;
    let expected_error = match &status {
        Status::Failed(e) => Some((**e).clone()),
        _ => None,
    };
    if error != expected_error {
        return Err("error does not match the status".into());
    }
    let created_seq = o.with("createdSequence", as_u64)?;
    let steps_executed = o.with("stepsExecuted", as_u64)?;
    let killed_by_signal = o.with("killedBySignal", as_bool)?;
    Ok(Process {
        pid,
        status,
        function,
        frame,
        call_stack,
        regs,
        mailbox,
        links,
        remote_links,
        monitors,
        parent,
        children,
        trap_exit,
        name,
        result: has_result.then_some(stored),
        created_seq,
        steps_executed,
        killed_by_signal,
    })
}

fn decode_node(j: &Json) -> D<(Str, NodeInfo)> {
    let o = as_obj(j)?;
    Ok((
        o.str("node")?,
        NodeInfo {
            status: o.str("status")?,
            reason: o.opt("reason", |j| as_str(j).map(Str::new))?,
            last_seen_tick: o.opt("lastSeenTick", as_i64)?,
            last_state_hash: o.opt("lastStateHash", |j| as_str(j).map(Str::new))?,
        },
    ))
}

/// Decodes snapshot text onto the initial machine of `program`.
///
/// Errors are complete messages: `snapshot parse: …` or `snapshot decode: …`.
/// A snapshot whose `programDigest` is not `program`'s is rejected.
pub fn decode_snapshot(program: Rc<Program>, text: &str) -> Result<Machine, String> {
    let j = json::parse(text).map_err(|e| format!("snapshot parse: {e}"))?;
    decode_snapshot_json(program, &j).map_err(|e| format!("snapshot decode: {e}"))
}

fn decode_snapshot_json(program: Rc<Program>, j: &Json) -> D<Machine> {
    let o = as_obj(j)?;
    let format = o.str("format")?;
    if format.as_str() != FORMAT {
        return Err(format!(
            "unsupported snapshot format {format:?} (this VM reads {FORMAT:?})"
        ));
    }
    let digest = o.str("programDigest")?;
    if digest.as_str() != program.digest {
        return Err(format!(
            "the snapshot belongs to another program (snapshot programDigest {digest}, this program {})",
            program.digest
        ));
    }
    let v = o.with("v", as_i64)?;
    if v != 1 {
        return Err(format!("unsupported snapshot version v={v}"));
    }
    let mut procs: Vec<Process> = Vec::new();
    for p in o.with("processes", as_arr)? {
        procs.push(decode_process(&program, p)?);
    }
    // main in slot 0, the others in creation order (as the machine made them).
    procs.sort_by(|a, b| {
        (a.pid.as_str() != "main", a.created_seq, &a.pid).cmp(&(
            b.pid.as_str() != "main",
            b.created_seq,
            &b.pid,
        ))
    });
    let mut by_pid = BTreeMap::new();
    for (slot, p) in procs.iter().enumerate() {
        if by_pid.insert(p.pid.clone(), slot).is_some() {
            return Err(format!("duplicate process {}", p.pid));
        }
    }
    if procs.first().map(|p| p.pid.as_str()) != Some("main") {
        return Err("no main process".into());
    }
    let known = |pid: &Str| by_pid.contains_key(pid);
    // A state-machine hook or INVARIANT_CHECK runs as a temporary process
    // (`<caller>:call:<function>:<step>`) that can spawn and link before it
    // vanishes from the table: a parent or a link may name one (links to it
    // are inert, a parent is informational; regression
    // `regression_prop_snapshot_names_a_finished_hook`).
    let hook = |pid: &Str| pid.contains(":call:");
    for p in &procs {
        let bad = p
            .links
            .iter()
            .chain(p.parent.as_ref())
            .filter(|q| !hook(q))
            .chain(&p.children)
            .find(|q| !known(q));
        if let Some(q) = bad {
            return Err(format!("process {} refers to unknown process {q}", p.pid));
        }
    }
    let mut ready = VecDeque::new();
    for pid in o.with("readyQueue", as_arr)? {
        let pid = as_str(pid).map_err(|e| format!("readyQueue: {e}"))?;
        let slot = by_pid
            .get(pid)
            .ok_or_else(|| format!("readyQueue names unknown process {pid}"))?;
        ready.push_back(*slot);
    }
    let current = o.opt("current", |j| as_str(j).map(Str::new))?;
    if let Some(c) = &current {
        if !known(c) {
            return Err(format!("current names unknown process {c}"));
        }
    }
    let next_pid_seq = o.with("nextPidSequence", as_u64)?;
    for p in &procs {
        if let Some(n) = p.pid.strip_prefix('p').and_then(|n| n.parse::<u64>().ok()) {
            if n >= next_pid_seq {
                return Err(format!(
                    "process {} exists but nextPidSequence is {next_pid_seq}",
                    p.pid
                ));
            }
        }
    }
    let tick = o.with("logicalTick", as_i64)?;
    let state = o.with("state", decode_entries)?;
    let input = o.with("input", decode_entries)?;
    let steps = o.with("steps", as_u64)?;
    let process_steps = procs
        .iter()
        .try_fold(0u64, |acc, p| acc.checked_add(p.steps_executed));
    if process_steps.is_none_or(|s| s > steps) {
        return Err(format!(
            "steps {steps} is less than the steps its processes executed"
        ));
    }
    let mut nodes = BTreeMap::new();
    for n in o.with("nodes", as_arr)? {
        let (name, info) = decode_node(n).map_err(|e| format!("nodes: {e}"))?;
        if nodes.insert(name.clone(), info).is_some() {
            return Err(format!("nodes: duplicate node {name}"));
        }
    }

    let mut m = Machine::new(program).map_err(|e| e.to_string())?;
    m.procs = procs;
    m.by_pid = by_pid;
    m.ready = ready;
    m.current = current;
    m.next_pid_seq = next_pid_seq;
    m.tick = tick;
    m.nodes = nodes;
    m.core.state = state;
    m.core.input = Rc::new(input);
    m.core.steps = steps;
    m.reset_step_budget();
    crate::process::rebuild_index(&mut m);
    Ok(m)
}
