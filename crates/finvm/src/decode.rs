//! Program JSON → [`ProgramDoc`] (`FORMATS.md` §1), with the reference's
//! check order and error texts. Decode errors are plain strings (no code
//! prefix) except the sealed-artefact and input-validation errors, which are
//! rendered VM errors.

use crate::limits::Limits;
use crate::num::Rounding;
use crate::opcodes::{ArgKind, Opcode};
use crate::program::{
    Arg, InvariantDef, ProgramDoc, RawFunction, RawInstr, StateMachineDef, TransitionDef,
    TransitionTarget,
};
use crate::value::json::decode_value;
use crate::value::{Str, Value};
use serde_json::Value as J;
use std::collections::BTreeMap;

type Obj = serde_json::Map<String, J>;

/// Parses JSON text. The error is a one-line message.
pub fn parse_json(text: &str) -> Result<J, String> {
    serde_json::from_str::<J>(text).map_err(|e| format!("Invalid JSON: {e}"))
}

/// The reference's "Int32" reading of a JSON number: an integral value in the
/// signed 32-bit range (`3.0`, `1e3` and `-0` are accepted).
pub fn int32(j: &J) -> Option<i32> {
    let n = j.as_number()?;
    if let Some(i) = n.as_i64() {
        return i32::try_from(i).ok();
    }
    let f: f64 = n.to_string().parse().ok()?;
    if f.fract() == 0.0 && f >= i32::MIN as f64 && f <= i32::MAX as f64 {
        Some(f as i32)
    } else {
        None
    }
}

/// Keys in JavaScript enumeration order: array-index-like keys first in
/// numeric order, then the others in insertion order.
pub fn js_key_order(obj: &Obj) -> Vec<&String> {
    let is_index = |k: &str| {
        !k.is_empty()
            && k.bytes().all(|b| b.is_ascii_digit())
            && (k == "0" || !k.starts_with('0'))
            && k.parse::<u64>()
                .map(|v| v <= 4_294_967_294)
                .unwrap_or(false)
    };
    let mut idx: Vec<&String> = obj.keys().filter(|k| is_index(k)).collect();
    idx.sort_by_key(|k| k.parse::<u64>().unwrap_or(0));
    idx.extend(obj.keys().filter(|k| !is_index(k)));
    idx
}

/// Keys in ascending UTF-16 order.
fn sorted_keys(obj: &Obj) -> Vec<&String> {
    let mut keys: Vec<&String> = obj.keys().collect();
    keys.sort_by(|a, b| crate::value::cmp_utf16(a, b));
    keys
}

fn decode_value_map(obj: &Obj) -> Result<BTreeMap<Str, Value>, String> {
    let mut out = BTreeMap::new();
    for k in sorted_keys(obj) {
        out.insert(Str::new(k.as_str()), decode_value(&obj[k])?);
    }
    Ok(out)
}

/// Decodes a program document from JSON text.
pub fn decode_program(text: &str) -> Result<ProgramDoc, String> {
    decode_program_with_inputs(text, None)
}

/// Decodes a program, with already-decrypted `inputs.values` JSON text when a
/// secure loader supplies it.
pub fn decode_program_with_inputs(
    text: &str,
    decrypted_inputs: Option<&str>,
) -> Result<ProgramDoc, String> {
    let root = parse_json(text)?;
    decode_program_json(&root, decrypted_inputs)
}

/// Decodes a program from parsed JSON.
pub fn decode_program_json(root: &J, decrypted_inputs: Option<&str>) -> Result<ProgramDoc, String> {
    let obj = root.as_object().ok_or("program must be a JSON object")?;
    if let Some(f) = obj.get("fenc") {
        if f.as_number()
            .is_some_and(|n| n.to_string().parse::<f64>().ok() == Some(1.0))
        {
            return Err(
                "DecryptionFailed: Program is sealed; decrypt via SecureLoader before loading"
                    .into(),
            );
        }
    }
    let decrypted = match decrypted_inputs {
        None => None,
        Some(t) => {
            let j = parse_json(t)?;
            let o = j
                .as_object()
                .ok_or("decrypted inputs.values must be an object")?;
            Some(decode_value_map(o)?)
        }
    };
    let constants = match obj.get("constants") {
        None => Vec::new(),
        Some(J::Array(items)) => items.iter().map(decode_value).collect::<Result<_, _>>()?,
        Some(_) => return Err("constants must be an array".into()),
    };
    let state = match obj.get("state") {
        None => BTreeMap::new(),
        Some(J::Object(o)) => decode_value_map(o)?,
        Some(_) => return Err("state must be an object".into()),
    };
    let legacy_input = match obj.get("input") {
        None => BTreeMap::new(),
        Some(J::Object(o)) => decode_value_map(o)?,
        Some(_) => return Err("input must be an object".into()),
    };
    let schema_inputs = match obj.get("inputs") {
        Some(J::Object(o)) => decode_inputs(o, decrypted)?,
        _ => BTreeMap::new(),
    };
    let limits = match obj.get("limits") {
        Some(J::Object(o)) => decode_limits(o)?,
        _ => Limits::default(),
    };
    let performance_mode = match obj.get("performanceMode") {
        None => false,
        Some(J::Bool(b)) => *b,
        Some(_) => return Err("performanceMode must be a boolean".into()),
    };
    let version = match obj.get("version") {
        None => "1.0".to_string(),
        Some(J::String(s)) => s.clone(),
        Some(_) => return Err("version must be a string".into()),
    };
    let (entrypoint, functions) = decode_functions(obj)?;
    let state_machines = match obj.get("stateMachines") {
        None => BTreeMap::new(),
        Some(j) => decode_state_machines(j)?,
    };
    let mut input = legacy_input;
    for (k, v) in schema_inputs {
        input.insert(k, v);
    }
    Ok(ProgramDoc {
        version,
        constants,
        state,
        input,
        limits,
        performance_mode,
        entrypoint,
        functions,
        state_machines,
    })
}

fn decode_limits(o: &Obj) -> Result<Limits, String> {
    let mut limits = Limits::default();
    for name in Limits::NAMES {
        if let Some(j) = o.get(*name) {
            let v = int32(j).ok_or_else(|| format!("{name} must be a safe integer"))?;
            limits.set(name, v);
        }
    }
    Ok(limits)
}

const INPUT_TYPES: &[&str] = &["Unit", "Bool", "Int", "String", "Bytes", "Any"];

fn decode_inputs(
    o: &Obj,
    decrypted: Option<BTreeMap<Str, Value>>,
) -> Result<BTreeMap<Str, Value>, String> {
    // 1. schema
    let mut schema: Vec<(String, String, bool)> = Vec::new();
    match o.get("schema") {
        None => {}
        Some(J::Array(entries)) => {
            for e in entries {
                let e = e.as_object().ok_or("Expected object at schema entry")?;
                let name = match e.get("name") {
                    None => return Err("Missing field: name".into()),
                    Some(J::String(s)) => s.clone(),
                    Some(_) => return Err("Expected string at name".into()),
                };
                let ty = match e.get("type") {
                    None => return Err("Missing field: type".into()),
                    Some(J::String(s)) => s.clone(),
                    Some(_) => return Err("Expected string at type".into()),
                };
                let required = match e.get("required") {
                    None => true,
                    Some(J::Bool(b)) => *b,
                    Some(_) => return Err("Expected boolean at required".into()),
                };
                if !INPUT_TYPES.contains(&ty.as_str()) {
                    return Err(format!("Unknown input type: {ty}"));
                }
                schema.push((name, ty, required));
            }
        }
        Some(_) => return Err("Expected array at inputs.schema".into()),
    }
    // 2. values
    let values = match decrypted {
        Some(v) => v,
        None => match o.get("values") {
            None => BTreeMap::new(),
            Some(J::Object(v)) => {
                if v.contains_key("fenc") {
                    return Err(
                        "DecryptionFailed: inputs.values is sealed; decrypt via SecureLoader before loading".into()
                    );
                }
                decode_value_map(v)?
            }
            Some(_) => {
                return Err("inputs.values must be an object (or decrypted externally)".into())
            }
        },
    };
    // 3. validation
    let mut out = BTreeMap::new();
    for (name, ty, required) in &schema {
        match values.get(name.as_str()) {
            None if *required => {
                return Err(format!("MissingInput: Required input missing: {name}"))
            }
            None => {}
            Some(v) => {
                if ty != "Any" && v.input_kind() != ty.as_str() {
                    return Err(format!(
                        "InputValidation: Input '{name}': expected {ty}, got {}",
                        v.input_kind()
                    ));
                }
                out.insert(Str::new(name.as_str()), v.clone());
            }
        }
    }
    let unknown: Vec<String> = values
        .keys()
        .filter(|k| !schema.iter().any(|(n, _, _)| n.as_str() == k.as_str()))
        .map(|k| {
            let mut s = String::new();
            crate::value::json::write_json_str(k, &mut s);
            s
        })
        .collect();
    if !unknown.is_empty() {
        return Err(format!(
            "InputValidation: Unknown input fields: [{}]",
            unknown.join(",")
        ));
    }
    Ok(out)
}

fn decode_functions(obj: &Obj) -> Result<(String, Vec<RawFunction>), String> {
    match obj.get("functions") {
        Some(J::Object(fs)) if !fs.is_empty() => {
            let mut functions = Vec::new();
            for id in js_key_order(fs) {
                let spec = fs[id]
                    .as_object()
                    .ok_or_else(|| format!("function {id} must be an object"))?;
                let arity = match spec.get("arity") {
                    None => 0,
                    Some(j) => int32(j).ok_or("arity must be a safe integer")?,
                };
                let register_count = match spec.get("registerCount") {
                    None => arity.max(16),
                    Some(j) => int32(j).ok_or("registerCount must be a safe integer")?,
                };
                let instructions = match spec.get("instructions") {
                    None => return Err(format!("function {id} is missing an instructions array")),
                    Some(J::Array(items)) => decode_instructions(items)?,
                    Some(_) => return Err(format!("instructions for {id} must be an array")),
                };
                let is_invariant = match spec.get("proof") {
                    Some(J::Object(p)) => match p.get("isInvariant") {
                        None => false,
                        Some(J::Bool(b)) => *b,
                        Some(_) => return Err("isInvariant must be a boolean".into()),
                    },
                    _ => false,
                };
                functions.push(RawFunction {
                    id: id.clone(),
                    arity,
                    register_count,
                    is_invariant,
                    instructions,
                });
            }
            let entrypoint = match obj.get("entrypoint") {
                None => "main".to_string(),
                Some(J::String(s)) => s.clone(),
                Some(_) => return Err("entrypoint must be a string".into()),
            };
            Ok((entrypoint, functions))
        }
        _ => {
            let instructions = match obj.get("instructions") {
                None => return Err("Missing instructions or functions.main.instructions".into()),
                Some(J::Array(items)) => decode_instructions(items)?,
                Some(_) => return Err("instructions must be an array".into()),
            };
            let register_count = match obj.get("registerCount") {
                None => 16,
                Some(j) => int32(j).ok_or("registerCount must be a safe integer")?,
            };
            let main = RawFunction {
                id: "main".into(),
                arity: 0,
                register_count,
                is_invariant: false,
                instructions,
            };
            Ok(("main".to_string(), vec![main]))
        }
    }
}

fn decode_instructions(items: &[J]) -> Result<Vec<RawInstr>, String> {
    items.iter().map(decode_instruction).collect()
}

/// Decodes one instruction (array or `{"op","args"}` form).
pub fn decode_instruction(j: &J) -> Result<RawInstr, String> {
    let owned;
    let parts: &[J] = match j {
        J::Array(a) => a,
        J::Object(o) => {
            let op = match o.get("op") {
                None => return Err("Missing string field: op".into()),
                Some(J::String(s)) => s.clone(),
                Some(_) => return Err("op must be a string".into()),
            };
            let args = match o.get("args") {
                None => Vec::new(),
                Some(J::Array(a)) => a.clone(),
                Some(_) => return Err(format!("args for {op} must be an array")),
            };
            let mut v = vec![J::String(op)];
            v.extend(args);
            owned = v;
            &owned
        }
        _ => return Err("instruction must be an object".into()),
    };
    let name = match parts.first() {
        None => return Err("Missing argument 0".into()),
        Some(J::String(s)) => s,
        Some(_) => return Err("argument 0 must be a string".into()),
    };
    let op =
        Opcode::from_name(name).ok_or_else(|| format!("Unsupported instruction opcode: {name}"))?;
    let mut args = Vec::with_capacity(op.args().len());
    for (i, kind) in op.args().iter().enumerate() {
        let pos = i + 1;
        let a = parts
            .get(pos)
            .ok_or_else(|| format!("Missing argument {pos}"))?;
        args.push(match kind {
            ArgKind::R | ArgKind::I => {
                Arg::Int(int32(a).ok_or_else(|| format!("argument {pos} must be a safe integer"))?)
            }
            ArgKind::S => Arg::Str(
                a.as_str()
                    .ok_or_else(|| format!("argument {pos} must be a string"))?
                    .to_string(),
            ),
            ArgKind::B => Arg::Bool(
                a.as_bool()
                    .ok_or_else(|| format!("argument {pos} must be a boolean"))?,
            ),
            ArgKind::Rs => {
                let arr = a
                    .as_array()
                    .ok_or_else(|| format!("argument {pos} must be an array"))?;
                let regs = arr
                    .iter()
                    .map(|r| {
                        int32(r).ok_or_else(|| format!("argument {pos}[] must be a safe integer"))
                    })
                    .collect::<Result<Vec<i32>, String>>()?;
                Arg::Regs(regs)
            }
            ArgKind::Rm => {
                let s = a
                    .as_str()
                    .ok_or_else(|| format!("argument {pos} must be a string"))?;
                Arg::Round(
                    Rounding::from_name(s).ok_or_else(|| format!("Unknown rounding mode: {s}"))?,
                )
            }
        });
    }
    Ok(RawInstr { op, args })
}

fn str_field(o: &Obj, key: &str, ctx: &str) -> Result<String, String> {
    match o.get(key) {
        Some(J::String(s)) => Ok(s.clone()),
        None => Err(format!("{ctx}: missing string field {key}")),
        Some(_) => Err(format!("{ctx}: {key} must be a string")),
    }
}

fn opt_str_field(o: &Obj, key: &str, ctx: &str) -> Result<Option<String>, String> {
    match o.get(key) {
        None | Some(J::Null) => Ok(None),
        Some(J::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(format!("{ctx}: {key} must be a string")),
    }
}

fn string_list(j: &J, ctx: &str) -> Result<Vec<String>, String> {
    match j {
        J::String(s) => Ok(vec![s.clone()]),
        J::Array(a) => a
            .iter()
            .map(|x| {
                x.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| format!("{ctx} must hold strings"))
            })
            .collect(),
        J::Object(o) => Ok(o.keys().cloned().collect()),
        _ => Err(format!("{ctx} must be an array of strings")),
    }
}

/// Decodes the top-level `stateMachines` object (schema in `docs/state-machines.md`).
fn decode_state_machines(j: &J) -> Result<BTreeMap<String, StateMachineDef>, String> {
    let o = j.as_object().ok_or("stateMachines must be an object")?;
    let mut out = BTreeMap::new();
    for (id, def) in o {
        let ctx = format!("stateMachines.{id}");
        let d = def
            .as_object()
            .ok_or_else(|| format!("{ctx} must be an object"))?;
        let initial_state = str_field(d, "initialState", &ctx)?;
        let states = match d.get("states") {
            None => Vec::new(),
            Some(s) => string_list(s, &format!("{ctx}.states"))?,
        };
        let mut transitions = Vec::new();
        if let Some(ts) = d.get("transitions") {
            let ts = ts
                .as_array()
                .ok_or_else(|| format!("{ctx}.transitions must be an array"))?;
            for (i, t) in ts.iter().enumerate() {
                let tctx = format!("{ctx}.transitions[{i}]");
                let t = t
                    .as_object()
                    .ok_or_else(|| format!("{tctx} must be an object"))?;
                let from = match t.get("from") {
                    None => return Err(format!("{tctx}: missing field from")),
                    Some(f) => string_list(f, &format!("{tctx}.from"))?,
                };
                let to = match t.get("to") {
                    None => TransitionTarget::Stay,
                    Some(J::String(s)) => TransitionTarget::State(s.clone()),
                    Some(J::Object(to)) => {
                        if let Some(s) = opt_str_field(to, "state", &tctx)? {
                            TransitionTarget::State(s)
                        } else if let Some(f) = opt_str_field(to, "computed", &tctx)? {
                            TransitionTarget::Computed(f)
                        } else if to.get("stay").and_then(J::as_bool) == Some(true) {
                            TransitionTarget::Stay
                        } else {
                            return Err(format!("{tctx}: to must be a state name, {{\"state\"}}, {{\"computed\"}} or {{\"stay\":true}}"));
                        }
                    }
                    Some(_) => return Err(format!("{tctx}: to must be a string or an object")),
                };
                let priority = match t.get("priority") {
                    None | Some(J::Null) => None,
                    Some(p) => Some(
                        int32(p)
                            .ok_or_else(|| format!("{tctx}: priority must be a safe integer"))?,
                    ),
                };
                let event = str_field(t, "event", &tctx)?;
                transitions.push(TransitionDef {
                    name: opt_str_field(t, "name", &tctx)?.unwrap_or_else(|| event.clone()),
                    from,
                    event,
                    guard: opt_str_field(t, "guard", &tctx)?,
                    action: opt_str_field(t, "action", &tctx)?,
                    to,
                    priority,
                });
            }
        }
        let mut invariants = Vec::new();
        if let Some(is) = d.get("invariants") {
            let is = is
                .as_array()
                .ok_or_else(|| format!("{ctx}.invariants must be an array"))?;
            for (i, inv) in is.iter().enumerate() {
                let ictx = format!("{ctx}.invariants[{i}]");
                let inv = inv
                    .as_object()
                    .ok_or_else(|| format!("{ictx} must be an object"))?;
                let check = str_field(inv, "check", &ictx)?;
                let error_code = match inv.get("errorCode") {
                    None | Some(J::Null) => None,
                    Some(c) => Some(
                        int32(c)
                            .ok_or_else(|| format!("{ictx}: errorCode must be a safe integer"))?,
                    ),
                };
                invariants.push(InvariantDef {
                    name: opt_str_field(inv, "name", &ictx)?.unwrap_or_else(|| check.clone()),
                    check,
                    error_code,
                });
            }
        }
        out.insert(
            id.clone(),
            StateMachineDef {
                id: id.clone(),
                states,
                initial_state,
                transitions,
                invariants,
            },
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instr(s: &str) -> Result<RawInstr, String> {
        decode_instruction(&serde_json::from_str(s).unwrap())
    }

    #[test]
    fn instruction_forms_and_errors() {
        assert_eq!(
            instr(r#"["DIV",3,"RoundHalfEven",1,2]"#),
            instr(r#"{"op":"DIV","args":[3,"RoundHalfEven",1,2]}"#)
        );
        assert_eq!(
            instr(r#"["DIV",3,"Floor",1,2]"#).unwrap_err(),
            "Unknown rounding mode: Floor"
        );
        assert_eq!(instr(r#"["ADD",0,1]"#).unwrap_err(), "Missing argument 3");
        assert_eq!(
            instr(r#"["ADD",0,"1",2]"#).unwrap_err(),
            "argument 2 must be a safe integer"
        );
        assert_eq!(
            instr(r#"["PROC_TRAP_EXIT",1]"#).unwrap_err(),
            "argument 1 must be a boolean"
        );
        assert_eq!(
            instr(r#"["CALL",0,"f",[1,2.5]]"#).unwrap_err(),
            "argument 3[] must be a safe integer"
        );
        assert_eq!(
            instr(r#"["NOPE"]"#).unwrap_err(),
            "Unsupported instruction opcode: NOPE"
        );
        assert_eq!(
            instr(r#"{"args":[]}"#).unwrap_err(),
            "Missing string field: op"
        );
        assert_eq!(instr(r#"7"#).unwrap_err(), "instruction must be an object");
        assert_eq!(
            instr(r#"["MOVE",1.0,2e0]"#).unwrap().args,
            vec![Arg::Int(1), Arg::Int(2)]
        );
        assert!(instr(r#"["MOVE",2147483648,0]"#).is_err());
    }

    #[test]
    fn js_key_order_puts_indices_first() {
        let o: Obj = serde_json::from_str(r#"{"b":1,"10":2,"a":3,"9":4,"01":5}"#).unwrap();
        let keys: Vec<&str> = js_key_order(&o).into_iter().map(|s| s.as_str()).collect();
        assert_eq!(keys, vec!["9", "10", "b", "a", "01"]);
    }
}
