//! The interpreter's shortcuts against the plain machine: coalesced
//! scheduler slices (a process running alone runs its following slices in
//! one go) against slice-by-slice scheduling, and the scalar loop against
//! the general path: the same output, steps and trace for random programs
//! with processes, and for programs whose processes become ready exactly at
//! slice boundaries.

#[path = "support/progen.rs"]
mod progen;

use finvm::machine::{Machine, Mode};
use progen::{Seeded, Shape};
use std::rc::Rc;

/// Runs `text` with coalescing and the scalar loop on or off: the output
/// line and the trace.
fn run(text: &str, coalesce: bool, slice: Option<i32>) -> (String, Vec<(u32, u32)>) {
    run_with(text, coalesce, true, slice, None)
}

fn run_with(
    text: &str,
    coalesce: bool,
    scalar: bool,
    slice: Option<i32>,
    traced: Option<bool>,
) -> (String, Vec<(u32, u32)>) {
    let mut program = match finvm::api::load_program(text) {
        Ok(p) => p,
        Err(e) => return (e, Vec::new()),
    };
    if let Some(n) = slice {
        program.limits.max_process_steps_per_slice = n;
    }
    let mut m = match Machine::new(Rc::new(program)) {
        Ok(m) => m,
        Err(e) => return (e.to_string(), Vec::new()),
    };
    m.core.coalesce_slices = coalesce;
    m.core.scalar_loop = scalar;
    if let Some(t) = traced {
        m.core.performance_mode = !t;
    }
    m.core.tracing = !m.core.performance_mode;
    let out = match m.run(Mode::Full) {
        Ok(()) => finvm::api::completed_json(&m),
        Err(e) => finvm::api::failed_json(&e.to_string()),
    };
    let out = format!("{out} trace truncated: {}", m.core.trace_truncated);
    (out, m.core.trace.iter().collect())
}

#[test]
fn shortcuts_equal_the_plain_machine_on_random_programs() {
    let n: u64 = std::env::var("FINVM_PROPERTY_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3000);
    for seed in 0..n {
        let text = progen::program(&mut Seeded(seed), Shape::default()).text();
        for slice in [None, Some(1), Some(3), Some(7)] {
            let on = run(&text, true, slice);
            let off = run(&text, false, slice);
            assert_eq!(on, off, "seed {seed}, slice {slice:?}\n{text}");
            for traced in [false, true] {
                let fast = run_with(&text, true, true, slice, Some(traced));
                let general = run_with(&text, true, false, slice, Some(traced));
                assert_eq!(
                    fast, general,
                    "scalar loop: seed {seed}, slice {slice:?}\n{text}"
                );
            }
        }
    }
}

/// `main` counts alone for `n` steps, then spawns a worker that appends to
/// a shared list in state while `main` keeps counting: where the worker's
/// entries land depends on exactly where slices end.
#[test]
fn coalesced_slices_keep_the_interleaving_at_every_boundary() {
    let mut seen = std::collections::BTreeSet::new();
    for before in [95, 96, 97, 98, 99, 100, 101, 199, 200, 201, 298] {
        let text = format!(
            r#"{{"entrypoint":"main","limits":{{"maxSteps":100000}},
            "constants":[{{"int":"0"}},{{"int":"1"}},{{"int":"{before}"}},{{"int":"300"}}],
            "functions":{{
              "main":{{"arity":0,"registerCount":6,"instructions":[
                ["LOAD_CONST",0,0],["LOAD_CONST",1,1],["LOAD_CONST",2,2],["LOAD_CONST",3,3],
                ["LABEL","a"],["ADD",0,0,1],["LT",4,0,2],["JUMP_IF",4,"a"],
                ["PROC_SPAWN",5,"worker",[]],
                ["LOAD_CONST",0,0],
                ["LABEL","b"],["ADD",0,0,1],["STATE_SET","main",0],["LT",4,0,3],["JUMP_IF",4,"b"],
                ["PROC_JOIN",5,5],["RETURN",0]]}},
              "worker":{{"arity":0,"registerCount":3,"instructions":[
                ["STATE_GET",0,"main"],["STATE_SET","seen",0],["LOAD_CONST",1,1],["RETURN",1]]}}
            }}}}"#
        );
        for pm in [false, true] {
            let text = text.replacen('{', &format!(r#"{{"performanceMode":{pm},"#), 1);
            let on = run(&text, true, None);
            let off = run(&text, false, None);
            assert!(on.0.contains("completed"), "{}", on.0);
            assert_eq!(on, off, "spawn after {before} iterations");
            seen.insert(on.0);
        }
    }
    // The worker saw `main` at different points: the boundaries mattered.
    assert!(seen.len() > 5, "{seen:?}");
}

/// For `text` (a program whose limits say `"maxSteps":1000`) and `full`,
/// its output with that budget: at every budget up to the whole run's
/// steps (0 for a run that failed) and one more, traced and untraced, the
/// scalar loop gives what the general path gives.
fn scalar_loop_equals_general_path_at_every_budget(text: &str, full: &str) {
    let steps: u64 = full.split("\"steps\":").nth(1).map_or(0, |s| {
        s.chars()
            .take_while(|c| c.is_ascii_digit())
            .collect::<String>()
            .parse()
            .unwrap_or(0)
    });
    scalar_loop_equals_general_path_up_to(text, steps);
}

/// The same for every budget up to `steps + 1`.
fn scalar_loop_equals_general_path_up_to(text: &str, steps: u64) {
    // `text` with its `"maxSteps"` limit replaced.
    let (head, tail) = text.split_once("\"maxSteps\":").expect("a maxSteps limit");
    let tail = tail.trim_start_matches(|c: char| c.is_ascii_digit());
    for budget in 0..=steps + 1 {
        let t = format!("{head}\"maxSteps\":{budget}{tail}");
        for traced in [false, true] {
            assert_eq!(
                run_with(&t, true, true, None, Some(traced)),
                run_with(&t, true, false, None, Some(traced)),
                "budget {budget}\n{t}"
            );
        }
    }
}

/// Loops the scalar loop runs in place: a list grown by `LIST_APPEND` into
/// its own register (at, below and above `maxListLength`, `maxValueSize`
/// and `maxValueDepth`, with the list shared or not, the value a scalar or
/// not) and scalar calls, against the general path, traced and untraced,
/// at every step budget around the limits.
#[test]
fn scalar_loop_appends_and_calls_equal_the_general_path() {
    for n in [0, 1, 2, 5, 9] {
        for max_len in [0, 1, 3, 8] {
            for (max_size, max_depth) in [(1 << 20, 100), (64, 100), (200, 1), (200, 0)] {
                for variant in 0..4 {
                    // 0: plain; 1: the list is shared (MOVE keeps a second
                    // reference); 2: a string is appended; 3: the value is
                    // a list (depth grows).
                    let extra = match variant {
                        1 => r#"["MOVE",7,1],"#,
                        2 => r#"["LOAD_CONST",6,3],"#,
                        3 => r#"["LIST_NEW",6],"#,
                        _ => "",
                    };
                    let val = if variant >= 2 { 6 } else { 2 };
                    let text = format!(
                        r#"{{"entrypoint":"main","limits":{{"maxListLength":{max_len},"maxValueSize":{max_size},"maxValueDepth":{max_depth},"maxSteps":{steps}}},
                        "constants":[{{"int":"{n}"}},{{"int":"0"}},{{"int":"1"}},"s"],
                        "functions":{{"main":{{"arity":0,"registerCount":8,"instructions":[
                          ["LOAD_CONST",0,0],["LIST_NEW",1],["LOAD_CONST",2,1],["LOAD_CONST",3,2],{extra}
                          ["LABEL","fill"],["LT",4,2,0],["JUMP_IF_FALSE",4,"done"],
                          ["LIST_APPEND",1,1,{val}],["CALL",5,"inc",[2,3]],["MOVE",2,5],["JUMP","fill"],
                          ["LABEL","done"],["LIST_LENGTH",5,1],["RETURN",1]]}},
                         "inc":{{"arity":2,"registerCount":3,"instructions":[["ADD",2,0,1],["RETURN",2]]}}}}}}"#,
                        steps = 1000
                    );
                    let full = run_with(&text, true, true, None, Some(true));
                    assert_eq!(
                        full,
                        run_with(&text, true, false, None, Some(true)),
                        "{text}"
                    );
                    scalar_loop_equals_general_path_at_every_budget(&text, &full.0);
                }
            }
        }
    }
}

/// Scalar calls of every arity around the compact encoding's inline
/// argument limit (four: five or more run on the general path), with small
/// ints, booleans, units and a heap value (a string: the call leaves the
/// scalar loop) as arguments, against the general path, traced and
/// untraced, at every step budget.
#[test]
fn scalar_calls_of_every_arity_equal_the_general_path() {
    for arity in 0..=6usize {
        for kind in 0..4 {
            // Arguments: registers 1..=arity of main, loaded below.
            let load = match kind {
                0 => r#"["LOAD_CONST",{r},0]"#, // a small int
                1 => r#"["EQ",{r},0,0]"#,       // a boolean
                2 => r#"["CLEAR",{r}]"#,        // unit
                _ => r#"["LOAD_CONST",{r},1]"#, // a string
            };
            let loads: Vec<String> = (1..=arity)
                .map(|r| load.replace("{r}", &r.to_string()))
                .collect();
            let args: Vec<String> = (1..=arity).map(|r| r.to_string()).collect();
            // The callee returns its last argument (or a constant), after
            // an `ADD` on its own registers.
            let ret = if arity == 0 { 0 } else { arity - 1 };
            let rc = arity + 2;
            let text = format!(
                r#"{{"entrypoint":"main","limits":{{"maxSteps":1000}},
                "constants":[{{"int":"7"}},"s"],
                "functions":{{"main":{{"arity":0,"registerCount":9,"instructions":[
                  ["LOAD_CONST",0,0],{loads}["LOAD_CONST",8,0],
                  ["CALL",7,"f",[{args}]],["CALL",7,"f",[{args}]],["ADD",8,8,0],["RETURN",7]]}},
                 "f":{{"arity":{arity},"registerCount":{rc},"instructions":[
                  ["LOAD_CONST",{last},0],["ADD",{last},{last},{last}],["RETURN",{ret}]]}}}}}}"#,
                loads = loads.iter().map(|l| format!("{l},")).collect::<String>(),
                args = args.join(","),
                last = rc - 1,
            );
            let full = run_with(&text, true, true, None, Some(true));
            assert!(
                full.0.contains("\"status\":\"completed\""),
                "{}\n{text}",
                full.0
            );
            scalar_loop_equals_general_path_at_every_budget(&text, &full.0);
        }
    }
}

/// Scalar recursion around the depth at which the scalar loop moves the
/// callers it saved to the process's call stack (64, once or more), with
/// call depth limits below, at and above it: against the general path,
/// traced and untraced, at every step budget.
#[test]
fn scalar_recursion_around_the_local_frame_stack_equals_the_general_path() {
    for depth in [63, 64, 65, 70, 140] {
        for limit in [10, 64, 65, 66, 1000] {
            // f(n) = n <= 0 ? 0 : f(n - 1) + n, called twice.
            let text = format!(
                r#"{{"entrypoint":"main","limits":{{"maxSteps":100000,"maxCallDepth":{limit}}},
                "constants":[{{"int":"{depth}"}},{{"int":"1"}}],
                "functions":{{"main":{{"arity":0,"registerCount":3,"instructions":[
                  ["LOAD_CONST",0,0],["CALL",1,"f",[0]],["CALL",2,"f",[0]],["ADD",1,1,2],["RETURN",1]]}},
                 "f":{{"arity":1,"registerCount":4,"instructions":[
                  ["LOAD_CONST",1,1],["LT",2,0,1],["JUMP_IF",2,"base"],["SUB",3,0,1],
                  ["CALL",3,"f",[3]],["ADD",3,3,0],["RETURN",3],["LABEL","base"],["RETURN",0]]}}}}}}"#
            );
            let full = run_with(&text, true, true, None, Some(true));
            let done = full.0.contains("\"status\":\"completed\"");
            assert_eq!(done, limit > depth, "{}\n{text}", full.0);
            let n = depth as u64;
            if done {
                assert!(full.0.contains(&format!("{}", n * (n + 1))), "{}", full.0);
            }
            // Past the last step, or the failing call (each level takes
            // at most 8 steps).
            scalar_loop_equals_general_path_up_to(&text, 16 * n + 16);
        }
    }
}

/// A small-int `LOAD_CONST` fused with the compare-and-branch or the
/// `ADD`/`SUB` after it that reads the loaded register (on either side;
/// every comparison, both branches taken and not; an
/// overflow, and a register holding something other than a small int),
/// against the general path, traced and untraced, at every step budget.
#[test]
fn loads_fused_with_what_reads_them_equal_the_general_path() {
    let values = [
        r#"{"int":"3"}"#,
        r#"{"int":"9223372036854775807"}"#,
        "true",
        r#""s""#,
    ];
    for (vi, value) in values.iter().enumerate() {
        for cmp in ["LT", "LTE", "GT", "GTE", "EQ", "NEQ"] {
            for jump in ["JUMP_IF", "JUMP_IF_FALSE"] {
                for left in [false, true] {
                    // r0: the value; r1 loaded with 3 (or -2) and compared.
                    let (a, b) = if left { (1, 0) } else { (0, 1) };
                    let (arith_a, arith_b) = if left { (1, 0) } else { (0, 1) };
                    let text = format!(
                        r#"{{"entrypoint":"main","limits":{{"maxSteps":1000}},
                        "constants":[{value},{{"int":"3"}},{{"int":"-2"}}],
                        "functions":{{"main":{{"arity":0,"registerCount":4,"instructions":[
                          ["LOAD_CONST",0,0],
                          ["LOAD_CONST",1,1],["{cmp}",2,{a},{b}],["{jump}",2,"t"],
                          ["LOAD_CONST",1,2],["SUB",3,{arith_a},{arith_b}],
                          ["LOAD_CONST",1,1],["ADD",3,{arith_a},{arith_b}],
                          ["LABEL","t"],["LOAD_CONST",1,2],["{cmp}",2,{a},{b}],["{jump}",2,"u"],
                          ["LOAD_CONST",1,1],["ADD",0,{arith_a},{arith_b}],
                          ["LABEL","u"],["LOAD_CONST",1,1],["SUB",1,{arith_a},{arith_b}],["RETURN",1]]}}}}}}"#,
                    );
                    let full = run_with(&text, true, true, None, Some(true));
                    if vi == 0 {
                        assert!(
                            full.0.contains("\"status\":\"completed\""),
                            "{}\n{text}",
                            full.0
                        );
                    }
                    scalar_loop_equals_general_path_up_to(&text, 20);
                }
            }
        }
    }
}

/// `ADD`/`SUB` fused with the `RETURN` of its result: returned to a caller
/// (sum, difference, an overflow, a non-int operand) and from the first
/// frame (no caller: the general path ends the process), against the
/// general path, traced and untraced, at every step budget.
#[test]
fn arithmetic_returned_at_once_equals_the_general_path() {
    let values = [
        r#"{"int":"5"}"#,
        r#"{"int":"9223372036854775807"}"#,
        r#""s""#,
    ];
    for value in values {
        for op in ["ADD", "SUB"] {
            let text = format!(
                r#"{{"entrypoint":"main","limits":{{"maxSteps":1000}},
                "constants":[{value},{{"int":"-3"}}],
                "functions":{{"main":{{"arity":0,"registerCount":4,"instructions":[
                  ["LOAD_CONST",0,0],["LOAD_CONST",1,1],
                  ["CALL",2,"f",[0,1]],["CALL",3,"f",[1,0]],["{op}",2,2,3],["RETURN",2]]}},
                 "f":{{"arity":2,"registerCount":3,"instructions":[
                  ["{op}",2,0,1],["RETURN",2]]}}}}}}"#
            );
            scalar_loop_equals_general_path_up_to(&text, 12);
        }
    }
}
