//! Arbitrary bytes through every text decoder: program JSON (decode +
//! validate, then a run under clamped limits), start overrides, delivery
//! envelopes, and snapshot text (parse, value codec, decode against a
//! program, resume). Nothing may panic, hang or exhaust memory.

#![no_main]

use finvm::api::{completed_json, run_program, RunOptions};
use finvm::effect::{self, snapshot, Delivery, Overrides};
use finvm_fuzz::load_clamped;
use libfuzzer_sys::fuzz_target;
use std::rc::Rc;

/// A small program with processes whose snapshots the fuzzer may imitate.
const HOST_PROGRAM: &str = r#"{"functions":{
 "main":{"registerCount":6,"instructions":[["PROC_SELF",0],["PROC_SPAWN",1,"w",[0]],
   ["LOAD_CONST",2,0],["RECORD_NEW",3],["RECORD_SET",3,3,"key",2],["EFFECT_NEW",4,"svc",3],
   ["EFFECT_AWAIT",4],["PROC_RECEIVE",5],["RETURN",5]]},
 "w":{"arity":1,"registerCount":3,"instructions":[["PROC_RECEIVE",1],["PROC_SEND",0,1],["RETURN",1]]}},
 "constants":[{"string":"k1"}]}"#;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // Program text: decode, validate, and run what loads.
    let _ = finvm::api::validate_json(text);
    if let Some(program) = load_clamped(text) {
        let out = run_program(Rc::new(program), &RunOptions::default());
        if let (Ok(()), Some(m)) = (&out.result, &out.machine) {
            let _ = completed_json(m);
        }
    }
    // The effect API's other inputs.
    let _ = Overrides::decode(text);
    let _ = Delivery::decode_all(text);
    if let Ok(j) = effect::json::parse(text) {
        let _ = snapshot::decode_sv(&j);
    }
    let program = effect::load_program(HOST_PROGRAM).expect("host program loads");
    if let Ok(m) = snapshot::decode_snapshot(program, text) {
        let _ = snapshot::encode_snapshot(&m);
        let _ = effect::resume_machine(m, &[]).map(|o| o.to_json());
    }
});
