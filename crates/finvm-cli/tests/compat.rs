//! Pins the choices listed in `COMPATIBILITY.md` that no conformance case
//! fixes exactly: each test runs small programs through the real `finvm`
//! binary (or, where the CLI cannot show a value, through the library) and
//! checks the exact outcome.

mod common;

use std::process::{Command, Output};
use std::rc::Rc;

use common::TempDir;
use finvm::api::{load_program, run_program, RunOptions};
use finvm::Value as VmValue;
use serde_json::{json, Value};

const FINVM: &str = env!("CARGO_BIN_EXE_finvm");

fn finvm(args: &[&str]) -> Output {
    Command::new(FINVM)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {FINVM}: {e}"))
}

/// Runs program text (extra `finvm run` flags first) and returns the raw
/// result line and the whole process output.
fn run_text_with(text: &str, flags: &[&str]) -> (String, Output) {
    let dir = TempDir::new("compat").unwrap();
    let file = dir.write("program.json", text).unwrap();
    let file = file.to_str().unwrap().to_string();
    let mut args = vec!["run"];
    args.extend_from_slice(flags);
    args.push(&file);
    let output = finvm(&args);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "expected two stdout lines:\n{stdout}");
    assert_eq!(lines[0], format!("Loading program from: {file}"));
    (lines[1].to_string(), output)
}

/// Runs a program and returns its parsed result document, checking the exit
/// code against the status.
fn run(program: &Value) -> Value {
    let (line, output) = run_text_with(&program.to_string(), &[]);
    let doc: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
    assert_eq!(
        output.status.success(),
        doc["status"] == "completed",
        "exit code does not match {doc}"
    );
    doc
}

/// Asserts the run failed with exactly `error`.
fn assert_fails(program: &Value, error: &str) {
    let doc = run(program);
    assert_eq!(
        doc,
        json!({"status": "failed", "error": error}),
        "program: {program}"
    );
}

/// Asserts the run completed with `result`; returns the document.
fn assert_completes(program: &Value, result: Value) -> Value {
    let doc = run(program);
    assert_eq!(doc["status"], "completed", "{doc}\nprogram: {program}");
    assert_eq!(doc["result"], result, "program: {program}");
    doc
}

/// A single-function program.
fn prog(register_count: u32, constants: Value, instructions: Value) -> Value {
    json!({
        "registerCount": register_count,
        "constants": constants,
        "instructions": instructions,
    })
}

fn with_limits(mut program: Value, limits: Value) -> Value {
    program["limits"] = limits;
    program
}

#[test]
fn integer_strings_are_strict() {
    for text in ["0x1F", "", "1e3", "+5", " 5", "1.0", "--5"] {
        let program = prog(1, json!([{ "int": text }]), json!([["RETURN", 0]]));
        assert_fails(&program, &format!("Invalid integer literal: {text}"));
    }
    let program = prog(
        1,
        json!([{"fixed": {"value": "0x10", "scale": 2}}]),
        json!([["RETURN", 0]]),
    );
    assert_fails(&program, "Invalid integer literal for value: 0x10");
    let program = prog(
        1,
        json!([{ "int": "-0012" }]),
        json!([["LOAD_CONST", 0, 0], ["RETURN", 0]]),
    );
    assert_completes(&program, json!({"int": "-12"}));
}

#[test]
fn bare_numbers_must_be_whole_and_within_2_pow_53_minus_1() {
    let text = r#"{"constants":[9007199254740992],"instructions":[["RETURN",0]]}"#;
    let (line, _) = run_text_with(text, &[]);
    assert_eq!(
        line,
        r#"{"status":"failed","error":"JSON numbers used as VM integers must be safe whole Ints: 9007199254740992.0"}"#
    );
    let text = r#"{"constants":[-9007199254740991, 1e3, 7.0],"registerCount":4,
        "instructions":[["LOAD_CONST",0,0],["LOAD_CONST",1,1],["LOAD_CONST",2,2],
        ["LIST_FROM",3,[0,1,2]],["RETURN",3]]}"#;
    let (line, _) = run_text_with(text, &[]);
    let doc: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(
        doc["result"],
        json!({"list": [{"int": "-9007199254740991"}, {"int": "1000"}, {"int": "7"}]})
    );
}

#[test]
fn json_parse_errors_carry_the_serde_json_message() {
    for text in ["{", "not json", "[1,]", "{\"a\":01}"] {
        let (line, output) = run_text_with(text, &[]);
        assert!(!output.status.success());
        let doc: Value = serde_json::from_str(&line).unwrap();
        let error = doc["error"].as_str().unwrap();
        assert!(error.starts_with("Invalid JSON: "), "{text:?}: {error}");
        assert!(error.contains(" at line "), "{text:?}: {error}");
    }
    let (line, _) = run_text_with("{", &[]);
    assert_eq!(
        line,
        r#"{"status":"failed","error":"Invalid JSON: EOF while parsing an object at line 1 column 1"}"#
    );
    // Strings are valid Unicode: a lone surrogate escape does not decode.
    let (line, _) = run_text_with(
        r#"{"constants":["\uD800"],"instructions":[["RETURN",0]]}"#,
        &[],
    );
    let doc: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(doc["status"], "failed");
    assert!(
        doc["error"].as_str().unwrap().starts_with("Invalid JSON: "),
        "{doc}"
    );
    // A surrogate pair is one character.
    let (line, _) = run_text_with(
        r#"{"constants":["\uD83D\uDE00"],"registerCount":1,"instructions":[["LOAD_CONST",0,0],["RETURN",0]]}"#,
        &[],
    );
    let doc: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(doc["result"], json!({"string": "\u{1F600}"}));
}

#[test]
fn limits_must_be_positive_or_non_negative() {
    let base = prog(1, json!([]), json!([["RETURN", 0]]));
    for (limits, error) in [
        (
            json!({"maxSteps": 0}),
            "InvalidProgram: Limit maxSteps must be positive (got 0)",
        ),
        (
            json!({"maxSteps": -5}),
            "InvalidProgram: Limit maxSteps must be positive (got -5)",
        ),
        (
            json!({"maxProcessStepsPerSlice": 0}),
            "InvalidProgram: Limit maxProcessStepsPerSlice must be positive (got 0)",
        ),
        (
            json!({"maxListLength": -1}),
            "InvalidProgram: Limit maxListLength must not be negative (got -1)",
        ),
        (
            json!({"maxMailboxSize": -2}),
            "InvalidProgram: Limit maxMailboxSize must not be negative (got -2)",
        ),
    ] {
        assert_fails(&with_limits(base.clone(), limits), error);
    }
    // Zero is allowed for the other limits.
    let program = with_limits(base, json!({"maxCallDepth": 0, "maxListLength": 0}));
    assert_completes(&program, Value::Null);
}

/// Each program builds a value one level deeper than `maxValueDepth` 2 with
/// the named instruction (a scalar is depth 0, `[]` depth 1, `[[]]` depth 2).
#[test]
fn max_value_depth_is_checked_where_values_are_built() {
    let deep = |op: &str, instructions: Value| {
        let program = with_limits(
            prog(4, json!([0]), instructions),
            json!({"maxValueDepth": 2}),
        );
        assert_fails(
            &program,
            &format!("InvalidInstruction: {op} exceeded maxValueDepth"),
        );
    };
    // r1 = [[]] (depth 2) in every program below.
    let nested = json!([["LIST_NEW", 0], ["LIST_FROM", 1, [0]]]);
    let with = |more: Value| {
        let mut v = nested.as_array().unwrap().clone();
        v.extend(more.as_array().unwrap().iter().cloned());
        v.push(json!(["RETURN", 0]));
        Value::Array(v)
    };
    deep("LIST_FROM", with(json!([["LIST_FROM", 2, [1]]])));
    deep(
        "LIST_SET",
        with(json!([
            ["LOAD_CONST", 2, 0],
            ["LIST_FROM", 3, [2]],
            ["LIST_SET", 3, 3, 2, 1]
        ])),
    );
    deep(
        "LIST_APPEND",
        with(json!([["LIST_NEW", 3], ["LIST_APPEND", 3, 3, 1]])),
    );
    deep(
        "MAP_SET",
        with(json!([
            ["MAP_NEW", 3],
            ["LOAD_CONST", 2, 0],
            ["MAP_SET", 3, 3, 2, 1]
        ])),
    );
    deep(
        "RECORD_SET",
        with(json!([["RECORD_NEW", 3], ["RECORD_SET", 3, 3, "f", 1]])),
    );
    deep("VARIANT_NEW", with(json!([["VARIANT_NEW", 3, "Some", 1]])));
    deep("EVENT_NEW", with(json!([["EVENT_NEW", 3, "e", 1]])));
    deep("EFFECT_NEW", with(json!([["EFFECT_NEW", 3, "e", 1]])));

    // The limit itself is allowed: [[]] under maxValueDepth 2.
    let program = with_limits(
        prog(4, json!([]), with(json!([]))),
        json!({"maxValueDepth": 2}),
    );
    assert_completes(&program, json!({"list": []}));
    // maxValueDepth 0 allows scalars only.
    let program = with_limits(
        prog(1, json!([]), json!([["LIST_FROM", 0, []], ["RETURN", 0]])),
        json!({"maxValueDepth": 0}),
    );
    assert_fails(
        &program,
        "InvalidInstruction: LIST_FROM exceeded maxValueDepth",
    );
}

/// Batch appends are among the builders checked against `maxValueDepth`.
#[test]
fn max_value_depth_applies_to_batch_appends() {
    for (op, new, batch) in [
        ("EVENT_BATCH_APPEND", "EVENT_NEW", "EVENT_BATCH_NEW"),
        ("EFFECT_BATCH_APPEND", "EFFECT_NEW", "EFFECT_BATCH_NEW"),
    ] {
        // The intent/event has depth 2 (payload `[]`), the batch would have depth 3.
        let program = with_limits(
            prog(
                3,
                json!([]),
                json!([
                    ["LIST_NEW", 0],
                    [new, 1, "e", 0],
                    [batch, 2],
                    [op, 2, 2, 1],
                    ["RETURN", 2]
                ]),
            ),
            json!({"maxValueDepth": 2}),
        );
        assert_fails(
            &program,
            &format!("InvalidInstruction: {op} exceeded maxValueDepth"),
        );
    }
}

#[test]
fn max_list_length_applies_to_every_list_an_instruction_builds() {
    let check = |op: &str, state: Value, instructions: Value| {
        let mut program = prog(4, json!([1, 2, "a,b,c", ","]), instructions);
        program["state"] = state;
        let program = with_limits(program, json!({"maxListLength": 2}));
        assert_fails(
            &program,
            &format!("InvalidInstruction: {op} exceeded maxListLength"),
        );
    };
    let no_state = json!({});
    check(
        "LIST_FROM",
        no_state.clone(),
        json!([["LIST_FROM", 0, [1, 1, 1]], ["RETURN", 0]]),
    );
    check(
        "LIST_APPEND",
        no_state.clone(),
        json!([
            ["LIST_FROM", 0, [1, 1]],
            ["LIST_APPEND", 0, 0, 1],
            ["RETURN", 0]
        ]),
    );
    for (op, new, batch) in [
        ("EVENT_BATCH_APPEND", "EVENT_NEW", "EVENT_BATCH_NEW"),
        ("EFFECT_BATCH_APPEND", "EFFECT_NEW", "EFFECT_BATCH_NEW"),
    ] {
        check(
            op,
            no_state.clone(),
            json!([
                [new, 1, "e", 2],
                [batch, 0],
                [op, 0, 0, 1],
                [op, 0, 0, 1],
                [op, 0, 0, 1],
                ["RETURN", 0]
            ]),
        );
    }
    check(
        "RECORD_KEYS",
        no_state.clone(),
        json!([
            ["RECORD_NEW", 0],
            ["RECORD_SET", 0, 0, "a", 1],
            ["RECORD_SET", 0, 0, "b", 1],
            ["RECORD_SET", 0, 0, "c", 1],
            ["RECORD_KEYS", 0, 0],
            ["RETURN", 0]
        ]),
    );
    let map3 = json!([
        ["MAP_NEW", 0],
        ["LOAD_CONST", 1, 0],
        ["MAP_SET", 0, 0, 1, 1],
        ["LOAD_CONST", 1, 1],
        ["MAP_SET", 0, 0, 1, 1],
        ["LOAD_CONST", 1, 2],
        ["MAP_SET", 0, 0, 1, 1]
    ]);
    for op in ["MAP_KEYS", "MAP_VALUES"] {
        let mut instructions = map3.as_array().unwrap().clone();
        instructions.push(json!([op, 0, 0]));
        instructions.push(json!(["RETURN", 0]));
        check(op, no_state.clone(), Value::Array(instructions));
    }
    check(
        "STATE_KEYS",
        json!({"a": 1, "b": 2, "c": 3}),
        json!([["STATE_KEYS", 0, ""], ["RETURN", 0]]),
    );
    check(
        "str.split",
        no_state,
        json!([
            ["LOAD_CONST", 0, 2],
            ["LOAD_CONST", 1, 3],
            ["CALL_BUILTIN", 2, "str.split@1", [0, 1]],
            ["RETURN", 2]
        ]),
    );
}

#[test]
fn map_size_and_record_field_limits_have_their_own_messages() {
    let program = with_limits(
        prog(
            2,
            json!([1, 2]),
            json!([
                ["MAP_NEW", 0],
                ["LOAD_CONST", 1, 0],
                ["MAP_SET", 0, 0, 1, 1],
                ["MAP_SET", 0, 0, 1, 1],
                ["LOAD_CONST", 1, 1],
                ["MAP_SET", 0, 0, 1, 1],
                ["RETURN", 0]
            ]),
        ),
        json!({"maxMapSize": 1}),
    );
    assert_fails(&program, "InvalidInstruction: MAP_SET exceeded maxMapSize");
    let program = with_limits(
        prog(
            2,
            json!([]),
            json!([
                ["RECORD_NEW", 0],
                ["RECORD_SET", 0, 0, "a", 1],
                ["RECORD_SET", 0, 0, "a", 1],
                ["RECORD_SET", 0, 0, "b", 1],
                ["RETURN", 0]
            ]),
        ),
        json!({"maxRecordFields": 1}),
    );
    assert_fails(
        &program,
        "InvalidInstruction: RECORD_SET exceeded maxRecordFields",
    );
}

#[test]
fn max_registers_per_frame_covers_the_entry_frame_and_tail_call() {
    let program = with_limits(
        prog(11, json!([]), json!([["RETURN", 0]])),
        json!({"maxRegistersPerFrame": 10}),
    );
    assert_fails(
        &program,
        "InvalidRegister: Entry function main exceeded maxRegistersPerFrame",
    );
    let program = json!({
        "functions": {
            "main": {"registerCount": 2, "instructions": [["TAIL_CALL", "big", []]]},
            "big": {"registerCount": 11, "instructions": [["RETURN", 0]]}
        },
        "limits": {"maxRegistersPerFrame": 10}
    });
    assert_fails(
        &program,
        "InvalidRegister: TAIL_CALL target exceeded maxRegistersPerFrame",
    );
}

#[test]
fn the_step_that_would_exceed_max_steps_fails_the_run() {
    let program = prog(
        1,
        json!([]),
        json!([["NOOP"], ["NOOP"], ["NOOP"], ["RETURN", 0]]),
    );
    assert_fails(
        &with_limits(program.clone(), json!({"maxSteps": 3})),
        "StepLimitExceeded: Process exceeded global step limit",
    );
    let doc = assert_completes(&with_limits(program, json!({"maxSteps": 4})), Value::Null);
    assert_eq!(doc["steps"], 4);
    // The default slice (100) divides maxSteps: the run still fails.
    let looping = prog(1, json!([]), json!([["LABEL", "l"], ["JUMP", "l"]]));
    assert_fails(
        &with_limits(looping, json!({"maxSteps": 200})),
        "StepLimitExceeded: Process exceeded global step limit",
    );
}

#[test]
fn fixed_rescales_beyond_100000_digits_are_arithmetic_overflow() {
    let add = |shift: u32| {
        prog(
            3,
            json!([
                {"fixed": {"value": "1", "scale": 0}},
                {"fixed": {"value": "1", "scale": shift}}
            ]),
            json!([
                ["LOAD_CONST", 0, 0],
                ["LOAD_CONST", 1, 1],
                ["ADD", 2, 0, 1],
                ["COMPARE", 2, 2, 0],
                ["RETURN", 2]
            ]),
        )
    };
    assert_completes(&add(100_000), json!({"int": "1"}));
    assert_fails(
        &add(100_001),
        "ArithmeticOverflow: Fixed scale shift 100001 is too large",
    );
}

#[test]
fn int_and_string_size_limits() {
    let big = json!([{"int": "100000000000000000000"}]); // 67 bits
    let square = |op: Value, limit: i64| {
        with_limits(
            prog(
                2,
                big.clone(),
                json!([["LOAD_CONST", 0, 0], op, ["RETURN", 1]]),
            ),
            json!({ "maxIntBits": limit }),
        )
    };
    assert_fails(
        &square(json!(["MUL", 1, 0, 0]), 100),
        "ArithmeticOverflow: MUL result exceeded maxIntBits (100)",
    );
    assert_fails(
        &square(json!(["CALL_BUILTIN", 1, "bigint.mul@1", [0, 0]]), 100),
        "ArithmeticOverflow: bigint.mul result exceeded maxIntBits (100)",
    );
    assert_completes(
        &square(json!(["MUL", 1, 0, 0]), 200),
        json!({"int": "10000000000000000000000000000000000000000"}),
    );
    // Integers that fit in 64 bits always pass.
    let program = with_limits(
        prog(
            2,
            json!([1000]),
            json!([["LOAD_CONST", 0, 0], ["MUL", 1, 0, 0], ["RETURN", 1]]),
        ),
        json!({"maxIntBits": 0}),
    );
    assert_completes(&program, json!({"int": "1000000"}));
    let program = with_limits(
        prog(
            2,
            json!(["abcdef"]),
            json!([
                ["LOAD_CONST", 0, 0],
                ["CALL_BUILTIN", 1, "str.concat@1", [0, 0]],
                ["RETURN", 1]
            ]),
        ),
        json!({"maxStringLength": 10}),
    );
    assert_fails(
        &program,
        "InvalidInstruction: str.concat exceeded maxStringLength",
    );
}

#[test]
fn rationals_with_a_zero_denominator_sort_above_every_finite_number() {
    let program = prog(
        6,
        json!([
            {"rational": {"numerator": "1", "denominator": "0"}},
            {"rational": {"numerator": "-1", "denominator": "0"}},
            {"int": "1000000000000000000000000000000"},
            {"fixed": {"value": "99999999999", "scale": -20}}
        ]),
        json!([
            ["LOAD_CONST", 0, 0],
            ["LOAD_CONST", 1, 1],
            ["LOAD_CONST", 2, 2],
            ["LOAD_CONST", 3, 3],
            ["GT", 4, 0, 2],
            ["GT", 5, 1, 3],
            ["LIST_FROM", 4, [4, 5]],
            ["RETURN", 4]
        ]),
    );
    assert_completes(&program, json!({"list": [{"bool": true}, {"bool": true}]}));
}

#[test]
fn rational_neg_and_abs_act_on_the_value() {
    // Rationals decoded from JSON are kept as written (1/-2 is minus a half).
    let program = prog(
        3,
        json!([{"rational": {"numerator": "1", "denominator": "-2"}}]),
        json!([
            ["LOAD_CONST", 0, 0],
            ["NEG", 1, 0],
            ["ABS", 2, 0],
            ["LIST_FROM", 0, [1, 2]],
            ["RETURN", 0]
        ]),
    );
    let half = json!({"rational": {"numerator": "1", "denominator": "2"}});
    assert_completes(&program, json!({"list": [half, half]}));
}

#[test]
fn fixed_division_by_a_negative_scale_divisor_terminates() {
    // 100.00 / (1 × 10^2) = 1.00
    let program = prog(
        3,
        json!([
            {"fixed": {"value": "10000", "scale": 2}},
            {"fixed": {"value": "1", "scale": -2}}
        ]),
        json!([
            ["LOAD_CONST", 0, 0],
            ["LOAD_CONST", 1, 1],
            ["DIV", 2, "RoundHalfEven", 0, 1],
            ["RETURN", 2]
        ]),
    );
    assert_completes(&program, json!({"fixed": {"value": "100", "scale": 2}}));
}

#[test]
fn bigint_mod_pow_and_mod_inv_results_are_reduced() {
    let program = prog(
        12,
        json!([5, 0, 1, -7, 2, 3, -3, 7]),
        json!([
            ["LOAD_CONST", 0, 0],
            ["LOAD_CONST", 1, 1],
            ["LOAD_CONST", 2, 2],
            ["LOAD_CONST", 3, 3],
            ["LOAD_CONST", 4, 4],
            ["LOAD_CONST", 5, 5],
            ["LOAD_CONST", 6, 6],
            ["LOAD_CONST", 7, 7],
            // modPow(5, 0, 1) = 0; modPow(5, 0, -7) = -6; modPow(2, 3, -7) = -6
            ["CALL_BUILTIN", 8, "bigint.modPow@1", [0, 1, 2]],
            ["CALL_BUILTIN", 9, "bigint.modPow@1", [0, 1, 3]],
            ["CALL_BUILTIN", 10, "bigint.modPow@1", [4, 5, 3]],
            // modInv(-3, 7) = 2; modInv(5, -7) = -4
            ["CALL_BUILTIN", 11, "bigint.modInv@1", [6, 7]],
            ["CALL_BUILTIN", 6, "bigint.modInv@1", [0, 3]],
            ["LIST_FROM", 0, [8, 9, 10, 11, 6]],
            ["RETURN", 0]
        ]),
    );
    assert_completes(
        &program,
        json!({"list": [
            {"int": "0"}, {"int": "-6"}, {"int": "-6"}, {"int": "2"}, {"int": "-4"}
        ]}),
    );
    let program = prog(
        3,
        json!([3, 2, 0]),
        json!([
            ["LOAD_CONST", 0, 0],
            ["LOAD_CONST", 1, 1],
            ["LOAD_CONST", 2, 2],
            ["CALL_BUILTIN", 0, "bigint.modPow@1", [0, 1, 2]],
            ["RETURN", 0]
        ]),
    );
    assert_fails(
        &program,
        "DivisionByZero: bigint.modPow/v1: modulus is zero",
    );
}

#[test]
fn invariant_check_runs_the_function_and_counts_its_steps() {
    let program = |value: Value| {
        json!({
            "constants": [value],
            "functions": {
                "main": {"registerCount": 1, "instructions": [["INVARIANT_CHECK", "inv"], ["RETURN", 0]]},
                "inv": {"registerCount": 1, "instructions": [["LOAD_CONST", 0, 0], ["NOOP"], ["RETURN", 0]]}
            }
        })
    };
    let doc = assert_completes(&program(json!(true)), Value::Null);
    assert_eq!(doc["steps"], 5, "INVARIANT_CHECK + 3 steps of inv + RETURN");
    assert_fails(
        &program(json!(1)),
        "InvariantFailed: Invariant inv did not hold (returned VInt (fromString \"1\"))",
    );
    assert_fails(
        &program(json!(false)),
        "InvariantFailed: Invariant inv did not hold (returned VBool false)",
    );
}

/// A `door` machine: closed --OPEN--> open --CLOSE--> closed, closed --LOCK--> locked.
fn door(main: Value, extra_functions: Value, machine_extra: Value) -> Value {
    let mut machine = json!({
        "initialState": "closed",
        "states": ["closed", "open", "locked"],
        "transitions": [
            {"from": "closed", "event": "OPEN", "to": "open"},
            {"from": ["open"], "event": "CLOSE", "to": {"state": "closed"}},
            {"name": "lock", "from": ["closed"], "event": "LOCK", "to": "locked"},
            {"name": "jam", "from": ["closed"], "event": "JAM", "to": "stuck"}
        ]
    });
    for (k, v) in machine_extra.as_object().unwrap() {
        machine[k] = v.clone();
    }
    let mut functions = json!({
        "main": {"registerCount": 4, "instructions": main}
    });
    for (k, v) in extra_functions.as_object().unwrap() {
        functions[k] = v.clone();
    }
    json!({"stateMachines": {"door": machine}, "functions": functions})
}

#[test]
fn history_hash_chains_the_previous_hash() {
    let program = door(
        json!([
            ["RECORD_NEW", 0],
            ["MACHINE_NEW", 1, "door", 0],
            ["MACHINE_TRANSITION", 1, 1, "OPEN"],
            ["MACHINE_TRANSITION", 1, 1, "CLOSE"],
            ["RETURN", 1]
        ]),
        json!({}),
        json!({}),
    );
    let loaded = load_program(&program.to_string()).expect("valid program");
    let out = run_program(Rc::new(loaded), &RunOptions::default());
    assert_eq!(out.result, Ok(()));
    let machine = out.machine.expect("a machine");
    let VmValue::Machine(instance) = machine.main_result() else {
        panic!("main did not return an instance");
    };
    assert_eq!(instance.machine_id.as_str(), "door");
    assert_eq!(instance.instance_id.as_str(), "mi2");
    assert_eq!(instance.current_state.as_str(), "closed");
    assert_eq!(instance.version, 3);
    // SHA-256 of record{event,from,machineId,previous,to,version}, computed
    // independently: the first with previous "", the second with the first.
    // h1 = sha256(`record{event:string:"OPEN",from:string:"closed",machineId:string:"door",previous:string:"",to:string:"open",version:int:2}`)
    // h2 = sha256(`record{event:string:"CLOSE",from:string:"open",machineId:string:"door",previous:string:"<h1>",to:string:"closed",version:int:3}`)
    assert_eq!(
        instance.history_hash.as_str(),
        "981ca6aa977deca1c732f4077796b7b9776498b3d2b75bab180ba2ca2f180e99"
    );

    // The CLI shows the instance by id.
    assert_completes(&program, json!({"stateMachine": "mi2"}));
}

#[test]
fn transitions_are_checked_against_the_declared_states() {
    let program = door(
        json!([
            ["RECORD_NEW", 0],
            ["MACHINE_NEW", 1, "door", 0],
            ["MACHINE_TRANSITION", 1, 1, "JAM"],
            ["RETURN", 1]
        ]),
        json!({}),
        json!({}),
    );
    assert_fails(
        &program,
        "NoTransition: Transition jam targets unknown state stuck of machine door",
    );
    let program = door(
        json!([
            ["RECORD_NEW", 0],
            ["MACHINE_NEW", 1, "door", 0],
            ["MACHINE_TRANSITION", 1, 1, "CLOSE"],
            ["RETURN", 1]
        ]),
        json!({}),
        json!({}),
    );
    assert_fails(
        &program,
        "NoTransition: No transition from closed on event CLOSE",
    );
}

#[test]
fn machine_invariants_run_after_each_transition() {
    // `not_locked` holds unless the new state is `locked`.
    let not_locked = json!({
        "arity": 1, "registerCount": 4, "instructions": [
            ["MACHINE_STATE", 1, 0],
            ["LOAD_CONST", 2, 0],
            ["NEQ", 3, 1, 2],
            ["RETURN", 3]
        ]
    });
    let program = |event: &str| {
        let mut p = door(
            json!([
                ["RECORD_NEW", 0],
                ["MACHINE_NEW", 1, "door", 0],
                ["MACHINE_TRANSITION", 1, 1, event],
                ["MACHINE_STATE", 2, 1],
                ["RETURN", 2]
            ]),
            json!({"not_locked": not_locked.clone()}),
            json!({"invariants": [{"name": "never-locked", "check": "not_locked", "errorCode": 7}]}),
        );
        p["constants"] = json!(["locked"]);
        p
    };
    assert_completes(&program("OPEN"), json!({"string": "open"}));
    assert_fails(
        &program("LOCK"),
        "InvariantFailed: Invariant never-locked failed (code 7)",
    );
}

#[test]
fn machine_instances_count_toward_max_value_depth() {
    // An instance is one level above its data record: data {f: []} has depth
    // 2, so the instance has depth 3.
    let deep_data = json!([
        ["LIST_NEW", 2],
        ["RECORD_NEW", 0],
        ["RECORD_SET", 0, 0, "f", 2]
    ]);
    let mut main = deep_data.as_array().unwrap().clone();
    main.extend([json!(["MACHINE_NEW", 1, "door", 0]), json!(["RETURN", 1])]);
    let mut program = door(Value::Array(main), json!({}), json!({}));
    program["limits"] = json!({"maxValueDepth": 2});
    assert_fails(
        &program,
        "InvalidInstruction: MACHINE_NEW exceeded maxValueDepth",
    );

    // The action's record replaces the data after the transition.
    let action = json!({"arity": 0, "registerCount": 3, "instructions": deep_data.clone()
        .as_array().unwrap().iter().cloned()
        .chain([json!(["RETURN", 0])]).collect::<Vec<_>>()});
    let mut program = door(
        json!([
            ["RECORD_NEW", 0],
            ["MACHINE_NEW", 1, "door", 0],
            ["MACHINE_TRANSITION", 1, 1, "OPEN"],
            ["RETURN", 1]
        ]),
        json!({"deepen": action}),
        json!({"transitions": [
            {"name": "open", "from": "closed", "event": "OPEN", "to": "open", "action": "deepen"}
        ]}),
    );
    program["limits"] = json!({"maxValueDepth": 2});
    assert_fails(
        &program,
        "InvalidInstruction: MACHINE_TRANSITION exceeded maxValueDepth",
    );
}

#[test]
fn guard_rejection_and_hook_nesting() {
    let deny = json!({"arity": 1, "registerCount": 2, "instructions": [
        ["LOAD_CONST", 1, 0], ["RETURN", 1]
    ]});
    let mut program = door(
        json!([
            ["RECORD_NEW", 0],
            ["MACHINE_NEW", 1, "door", 0],
            ["MACHINE_TRANSITION", 1, 1, "OPEN"],
            ["RETURN", 1]
        ]),
        json!({"deny": deny}),
        json!({"transitions": [
            {"name": "open", "from": "closed", "event": "OPEN", "to": "open", "guard": "deny"}
        ]}),
    );
    program["constants"] = json!([false]);
    assert_fails(&program, "GuardRejected: Guard rejected transition open");

    // A guard that transitions the same instance again recurses; the nesting
    // of synchronous hooks is bounded by maxCallDepth.
    let recurse = json!({"arity": 1, "registerCount": 2, "instructions": [
        ["MACHINE_TRANSITION", 1, 0, "OPEN"], ["RETURN", 1]
    ]});
    let mut program = door(
        json!([
            ["RECORD_NEW", 0],
            ["MACHINE_NEW", 1, "door", 0],
            ["MACHINE_TRANSITION", 1, 1, "OPEN"],
            ["RETURN", 1]
        ]),
        json!({"recurse": recurse}),
        json!({"transitions": [
            {"name": "open", "from": "closed", "event": "OPEN", "to": "open", "guard": "recurse"}
        ]}),
    );
    program["limits"] = json!({"maxCallDepth": 5});
    assert_fails(
        &program,
        "StepLimitExceeded: Synchronous function evaluation nested too deep",
    );
}

#[test]
fn output_object_keys_follow_utf16_order_without_js_artefacts() {
    let text = r#"{"registerCount":1,
        "state":{"b":1,"10":2,"9":3,"a":4,"__proto__":5},
        "constants":[{"record":{"b":1,"10":2,"9":3,"__proto__":5}}],
        "instructions":[["LOAD_CONST",0,0],["RETURN",0]]}"#;
    let (line, _) = run_text_with(text, &[]);
    assert_eq!(
        line,
        concat!(
            r#"{"status":"completed","steps":2,"result":{"record":{"10":{"int":"2"},"9":{"int":"3"},"__proto__":{"int":"5"},"b":{"int":"1"}}},"#,
            r#""state":{"10":{"int":"2"},"9":{"int":"3"},"__proto__":{"int":"5"},"a":{"int":"4"},"b":{"int":"1"}}}"#
        )
    );
}

#[test]
fn trace_is_written_to_stderr() {
    let text = r#"{"constants":[1],"instructions":[["LOAD_CONST",0,0],["RETURN",0]]}"#;
    let (plain_line, plain) = run_text_with(text, &[]);
    assert!(plain.stderr.is_empty());
    let (traced_line, traced) = run_text_with(text, &["--trace"]);
    assert_eq!(traced_line, plain_line);
    assert_eq!(
        String::from_utf8_lossy(&traced.stderr),
        "1 main:0 [\"LOAD_CONST\",0,0]\n2 main:1 [\"RETURN\",0]\n"
    );
    // Performance mode records no trace.
    let (_, fast) = run_text_with(text, &["--trace", "--performance-mode"]);
    assert!(fast.stderr.is_empty());
    // maxTraceEvents truncates the trace; the run is unaffected.
    let text = r#"{"constants":[1],"limits":{"maxTraceEvents":1},
        "instructions":[["LOAD_CONST",0,0],["RETURN",0]]}"#;
    let (line, traced) = run_text_with(text, &["--trace"]);
    assert_eq!(line, plain_line);
    assert_eq!(
        String::from_utf8_lossy(&traced.stderr),
        "1 main:0 [\"LOAD_CONST\",0,0]\n... trace truncated at maxTraceEvents = 1\n"
    );
}

#[test]
fn spawn_fills_children() {
    let program = json!({"functions": {
        "main": {"registerCount": 2, "instructions": [
            ["PROC_SPAWN", 0, "w", []], ["PROC_SPAWN", 1, "w", []], ["RETURN", 0]
        ]},
        "w": {"registerCount": 1, "instructions": [["RETURN", 0]]}
    }});
    let loaded = load_program(&program.to_string()).expect("valid program");
    let out = run_program(Rc::new(loaded), &RunOptions::default());
    assert_eq!(out.result, Ok(()));
    let machine = out.machine.expect("a machine");
    let main = &machine.procs[machine.slot_of("main").expect("main")];
    let children: Vec<&str> = main.children.iter().map(|c| c.as_str()).collect();
    assert_eq!(children, ["p0", "p1"]);
}

#[test]
fn state_keys_filters_by_prefix() {
    let mut program = prog(
        1,
        json!([]),
        json!([["STATE_KEYS", 0, "acct:"], ["RETURN", 0]]),
    );
    program["state"] = json!({"acct:2": 1, "acct": 2, "other": 3, "acct:1": 4});
    assert_completes(
        &program,
        json!({"list": [{"string": "acct:1"}, {"string": "acct:2"}]}),
    );
}

#[test]
fn state_snapshot_shows_the_running_process_as_it_is_now() {
    let program = prog(
        2,
        json!([5]),
        json!([
            ["LOAD_CONST", 0, 0],
            ["STATE_SET", "a", 0],
            ["STATE_SNAPSHOT", 1],
            ["RETURN", 1]
        ]),
    );
    let doc = run(&program);
    let text = doc["result"]["string"].as_str().expect("a string result");
    assert!(
        text.starts_with(
            "snapshot{program:1.0,state:a:int:5,processes:[proc{pid:main,status:ProcessRunning,"
        ),
        "{text}"
    );
    assert!(
        text.contains(",registers:0:int:5,1:unit,mailbox:[]}"),
        "{text}"
    );
    assert!(text.ends_with("],tick:0,steps:3}"), "{text}");
}
