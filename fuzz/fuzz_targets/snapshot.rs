//! The effect API under a hostile host: a generated program is started,
//! then resumed round after round with arbitrary deliveries (replies to
//! real and made-up keys, messages to real and unknown pids, node status
//! reports and disconnects). Every round, resuming from the snapshot text
//! must equal resuming the live machine. Then the snapshot text is
//! mutated (a byte edit or a replaced JSON leaf) and resumed: it must be
//! rejected cleanly or resume without panicking, and an accepted snapshot
//! must re-encode to a fixed point.

#![no_main]

use arbitrary::Unstructured;
use finvm::effect::snapshot::{decode_snapshot, encode_snapshot};
use finvm::effect::{self, Delivery, EffectOutput};
use finvm::value::{Str, Value};
use finvm_fuzz::{checks, progen, Fuzzed, Source};
use libfuzzer_sys::fuzz_target;

fn pick_str(u: &mut Unstructured, real: &[String], made_up: &[&str]) -> Str {
    let mut src = Fuzzed(u);
    if !real.is_empty() && src.below(4) != 0 {
        Str::new(src.pick(real).as_str())
    } else {
        Str::new(*src.pick(made_up))
    }
}

fn small_value(u: &mut Unstructured) -> Value {
    let j = progen::value(&mut Fuzzed(u), 2);
    finvm::value::json::decode_value(&j).unwrap_or(Value::Unit)
}

fn deliveries(u: &mut Unstructured, out: &EffectOutput) -> Vec<Delivery> {
    let pids: Vec<String> = out.machine.by_pid.keys().map(|p| p.to_string()).collect();
    let keys: Vec<String> = out.pending.iter().map(|p| p.key.to_string()).collect();
    let n = u.int_in_range(0..=6u8).unwrap_or(0);
    let mut ds = Vec::new();
    for _ in 0..n {
        let d = match u.int_in_range(0..=5u8).unwrap_or(0) {
            0 | 1 => Delivery::EffectReply {
                pid: pick_str(u, &pids, &["main", "p0", "nobody", ""]),
                key: pick_str(u, &keys, &["k0", "k1", "zz", ""]),
                result: small_value(u),
            },
            2 | 3 => Delivery::Message {
                pid: pick_str(u, &pids, &["main", "p1", "nobody"]),
                message: small_value(u),
            },
            4 => Delivery::Disconnect {
                node: pick_str(u, &[], &["vmA", "vmB", ""]),
                reason: pick_str(u, &[], &["noconnection", "x"]),
            },
            _ => Delivery::NodeStatus {
                node: pick_str(u, &[], &["vmA", "vmB", ""]),
                status: pick_str(u, &[], &["up", "down", "suspect", "weird"]),
                reason: None,
                last_seen_tick: u.int_in_range(-2..=5i64).ok(),
                last_state_hash: None,
            },
        };
        ds.push(d);
    }
    ds
}

/// A byte-level or structural edit of snapshot text.
fn mutate(u: &mut Unstructured, text: &str) -> String {
    let mut bytes = text.as_bytes().to_vec();
    match u.int_in_range(0..=3u8).unwrap_or(0) {
        0 if !bytes.is_empty() => {
            let i = u.choose_index(bytes.len()).unwrap_or(0);
            bytes[i] = u.arbitrary().unwrap_or(b'0');
        }
        1 if !bytes.is_empty() => {
            let i = u.choose_index(bytes.len()).unwrap_or(0);
            let n = u
                .int_in_range(1..=16usize)
                .unwrap_or(1)
                .min(bytes.len() - i);
            bytes.drain(i..i + n);
        }
        2 => {
            // Replace one number or string token by another.
            let swaps: &[(&str, &str)] = &[
                ("\"main\"", "\"p0\""),
                ("\"p0\"", "\"p9\""),
                (":0", ":999999"),
                (":1", ":-1"),
                ("\"ready\"", "\"waiting\""),
                ("\"waiting\"", "\"ready\""),
                ("true", "false"),
                ("false", "true"),
                ("[]", "[null]"),
                ("null", "{}"),
                (":2", ":4294967296"),
                ("\"steps\":", "\"steps\":1"),
                ("\"pc\":", "\"pc\":9"),
            ];
            let (from, to) = swaps[u.choose_index(swaps.len()).unwrap_or(0)];
            let hits: Vec<usize> = text.match_indices(from).map(|(i, _)| i).collect();
            if !hits.is_empty() {
                let at = hits[u.choose_index(hits.len()).unwrap_or(0)];
                let mut s = text.to_string();
                s.replace_range(at..at + from.len(), to);
                return s;
            }
        }
        _ => {
            let extra: Vec<u8> = u.arbitrary().unwrap_or_default();
            let i = u.choose_index(bytes.len() + 1).unwrap_or(0);
            bytes.splice(i..i, extra);
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let g = progen::program(
        &mut Fuzzed(&mut u),
        progen::Shape {
            max_body: 24,
            max_steps: 2_000,
            template_weight: 8,
        },
    );
    let text = g.text();
    let program = effect::load_program(&text).expect("generated programs load");
    let rounds = u.int_in_range(0..=6usize).unwrap_or(0);

    // Live vs snapshot text, under arbitrary deliveries.
    let mut plans: Vec<Vec<Delivery>> = Vec::new();
    let r = checks::check_suspend_resume(&program, rounds, |out, _| {
        let ds = deliveries(&mut u, out);
        plans.push(ds.clone());
        ds
    });
    if let Err(e) = r {
        panic!("{e}\nprogram: {text}\ndeliveries: {plans:?}");
    }

    // Tampered snapshot text of the latest machine.
    let mut m = match effect::start_program(program.clone(), &Default::default()) {
        Ok(out) => out.machine,
        Err(_) => return,
    };
    for ds in &plans {
        m = match effect::resume_machine(m, ds) {
            Ok(out) => out.machine,
            Err(_) => return,
        };
    }
    let snap = encode_snapshot(&m);
    for _ in 0..u.int_in_range(1..=3u8).unwrap_or(1) {
        let bad = mutate(&mut u, &snap);
        match decode_snapshot(program.clone(), &bad) {
            Err(e) => assert!(
                e.starts_with("snapshot parse: ") || e.starts_with("snapshot decode: "),
                "unexpected error text {e}"
            ),
            Ok(decoded) => {
                // An accepted snapshot normalises to a fixed point.
                let once = encode_snapshot(&decoded);
                match decode_snapshot(program.clone(), &once) {
                    Ok(again) => assert_eq!(encode_snapshot(&again), once, "not a fixed point"),
                    Err(e) => panic!("re-encoded accepted snapshot rejected: {e}\n{bad}"),
                }
                let ds = deliveries(
                    &mut u,
                    &EffectOutput {
                        status: effect::Quiescence::Deadlock,
                        machine: decoded.clone(),
                        pending: Vec::new(),
                        events: Vec::new(),
                    },
                );
                let _ = effect::resume_machine(decoded, &ds).map(|o| o.to_json());
            }
        }
    }
});
