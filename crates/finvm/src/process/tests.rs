//! Unit tests for the process layer: the tricky rules of `DECISIONS.md`
//! (DOWN ordering, exit signals through links, trap_exit, yield, self-join,
//! deferred termination of the running process), the deliveries, and the
//! scheduler indexes.

use super::sched;
use crate::api::{load_program, run_json, RunOptions};
use crate::machine::{Machine, Mode, MonitorTarget, Status, Wait};
use crate::value::{Str, Value};
use serde_json::{json, Value as J};
use std::rc::Rc;

/// Runs a program document as `finvm run` does; the parsed output line.
fn run(program: J) -> J {
    let out = run_json(&program.to_string(), &RunOptions::default()).json;
    serde_json::from_str(&out).expect("output is JSON")
}

/// Runs a program to quiescence and returns the machine.
fn quiesce(program: J) -> Machine {
    let p = load_program(&program.to_string()).expect("valid program");
    let mut m = Machine::new(Rc::new(p)).expect("machine");
    m.run(Mode::Quiesce).expect("run");
    m
}

fn slot(m: &Machine, pid: &str) -> usize {
    sched::lookup(m, pid).expect("pid in table")
}

fn s(x: &str) -> J {
    json!({ "string": x })
}

fn down(pid: &str, reason: &str, r: &str) -> J {
    json!({"variant":{"tag":"DOWN","payload":{"record":{
        "pid": s(pid), "reason": s(reason), "ref": s(r)}}}})
}

fn exit(pid: &str, reason: &str) -> J {
    json!({"variant":{"tag":"EXIT","payload":{"record":{"pid": s(pid), "reason": s(reason)}}}})
}

/// Checks the scheduler indexes against the process table: every sleeper
/// and joiner is indexed, every local monitor is indexed, `live` is exact.
fn check_indexes(m: &Machine) {
    let mut live = 0;
    for (pid, &sl) in &m.by_pid {
        let p = &m.procs[sl];
        assert_eq!(sched::lookup(m, pid), Some(sl));
        if !p.status.is_terminal() {
            live += 1;
        }
        match &p.status {
            Status::Waiting(Wait::Tick(t)) => {
                assert!(m.sched.sleepers.contains(&(*t, pid.clone(), sl)), "{pid}");
            }
            Status::Waiting(Wait::Process(t)) => {
                let ts = sched::lookup(m, t).expect("join target");
                assert!(m.sched.joiners[&ts].contains(&(pid.clone(), sl)), "{pid}");
            }
            _ => {}
        }
        for (r, t) in &p.monitors {
            if let MonitorTarget::Local(t) = t {
                let ts = sched::lookup(m, t).expect("monitor target");
                assert!(m.sched.monitored_by[&ts].contains(&(pid.clone(), r.clone(), sl)));
            }
        }
    }
    assert_eq!(m.live, live);
}

#[test]
fn proc_yield_ends_the_slice_and_requeues_at_the_back() {
    // PROCESSES.md B.3 under DECISIONS.md: the child runs at the yield.
    let out = run(json!({
        "constants":[{"string":"main"},{"string":"w"}],
        "functions":{
            "main":{"registerCount":2,"instructions":[["PROC_SPAWN",0,"w",[]],["PROC_YIELD"],
                ["LOAD_CONST",1,0],["STATE_SET","last",1],["RETURN",1]]},
            "w":{"registerCount":1,"instructions":[["LOAD_CONST",0,1],["STATE_SET","last",0],["RETURN",0]]}}}));
    assert_eq!(
        out,
        json!({"status":"completed","steps":8,"result":s("main"),"state":{"last":s("main")}})
    );
}

#[test]
fn proc_yield_alone_keeps_running_after_requeue() {
    let out =
        run(json!({"registerCount":1,"instructions":[["PROC_YIELD"],["PROC_YIELD"],["RETURN",0]]}));
    assert_eq!(out["status"], "completed");
    assert_eq!(out["steps"], 3);
}

#[test]
fn join_of_itself_is_an_invalid_instruction() {
    let out = run(
        json!({"registerCount":2,"instructions":[["PROC_SELF",0],["PROC_JOIN",1,0],["RETURN",1]]}),
    );
    assert_eq!(out["status"], "failed");
    let e = out["error"].as_str().unwrap();
    assert!(e.starts_with("InvalidInstruction: PROC_JOIN"), "{e}");

    // In a child it fails only the child; its joiner sees the error.
    let out = run(json!({"functions":{
        "main":{"registerCount":3,"instructions":[["PROC_SPAWN",0,"w",[]],["PROC_JOIN",1,0],
            ["PROC_JOIN_RESULT",2,0],["RETURN",2]]},
        "w":{"registerCount":2,"instructions":[["PROC_SELF",0],["PROC_JOIN",1,0],["RETURN",1]]}}}));
    let r = out["result"]["option"]["string"].as_str().unwrap();
    assert!(
        r.starts_with("VMError InvalidInstruction: PROC_JOIN"),
        "{r}"
    );
    assert_eq!(out["steps"], 7);
}

#[test]
fn down_goes_to_observers_in_pid_order_and_refs_in_string_order() {
    // p1 monitors p0 twice (refs mon9:p0 and mon10:p0) before main monitors
    // it; when p0 dies main ("main" < "p1") is woken first, and p1 gets its
    // DOWNs in ref-string order: mon10 before mon9.
    let out = run(json!({
        "state":{"log":{"list":[]}},
        "constants":[{"string":"main"},{"string":"p1"},{"string":"go"}],
        "functions":{
            "main":{"registerCount":6,"instructions":[
                ["PROC_SELF",5],["PROC_SPAWN",0,"victim",[]],["PROC_SPAWN",1,"obs",[0,5]],
                ["PROC_RECEIVE",2],["PROC_MONITOR",3,0],["LOAD_CONST",4,2],["PROC_SEND",0,4],
                ["PROC_RECEIVE",2],
                ["STATE_GET",3,"log"],["LOAD_CONST",4,0],["LIST_APPEND",3,3,4],["STATE_SET","log",3],
                ["PROC_JOIN",4,1],["PROC_JOIN_RESULT",4,1],["RETURN",4]]},
            "victim":{"registerCount":1,"instructions":[["PROC_RECEIVE",0],["RETURN",0]]},
            "obs":{"arity":2,"registerCount":8,"instructions":[
                ["NOOP"],["NOOP"],["NOOP"],
                ["PROC_MONITOR",2,0],["PROC_MONITOR",3,0],["PROC_SEND",1,2],
                ["PROC_RECEIVE",4],["PROC_RECEIVE",5],
                ["STATE_GET",6,"log"],["LOAD_CONST",7,1],["LIST_APPEND",6,6,7],["STATE_SET","log",6],
                ["LIST_FROM",6,[2,3,4,5]],["RETURN",6]]}}}));
    assert_eq!(out["status"], "completed", "{out}");
    assert_eq!(out["state"]["log"], json!({"list":[s("main"),s("p1")]}));
    assert_eq!(
        out["result"]["option"],
        json!({"list":[s("mon9:p0"),s("mon10:p0"),
            down("p0","normal","mon10:p0"),down("p0","normal","mon9:p0")]})
    );
}

#[test]
fn a_failure_takes_down_a_chain_and_signals_a_trapping_end() {
    // main traps exits and links to p0; p0 links to p1; p1 links to p2;
    // p2 aborts. p1 and p0 exit; main receives EXIT from p0 with reason
    // "exited" (p0's own DOWN reason), and p1's status shows the failure.
    let out = run(json!({"functions":{
        "main":{"registerCount":8,"instructions":[
            ["PROC_TRAP_EXIT",true],["PROC_SPAWN",0,"hold",[]],["PROC_LINK",0],
            ["PROC_SPAWN",1,"mid",[0]],["PROC_SPAWN",2,"boom",[1]],
            ["PROC_RECEIVE",3],["PROC_JOIN",4,1],
            ["PROC_STATUS",4,1],["PROC_JOIN_RESULT",5,0],["PROC_STATUS",6,2],
            ["LIST_FROM",7,[3,4,5,6]],["RETURN",7]]},
        "hold":{"registerCount":1,"instructions":[["PROC_RECEIVE",0],["RETURN",0]]},
        "mid":{"arity":1,"registerCount":2,"instructions":[["PROC_LINK",0],["PROC_RECEIVE",1],["RETURN",1]]},
        "boom":{"arity":1,"registerCount":1,"instructions":[["PROC_LINK",0],["ABORT",9]]}}}));
    assert_eq!(out["status"], "completed", "{out}");
    assert_eq!(
        out["result"],
        json!({"list":[exit("p0","exited"),
            s("ProcessExited (ExitReason failed)"),
            {"option":s("ExitReason exited")},
            s("ProcessFailed (VMError CustomErrorCode 9: Aborted)")]})
    );
}

#[test]
fn normal_completion_sends_no_exit_signal() {
    let out = run(json!({"functions":{
        "main":{"registerCount":4,"instructions":[
            ["PROC_TRAP_EXIT",true],["PROC_SPAWN",0,"w",[]],["PROC_LINK",0],["PROC_JOIN",1,0],
            ["PROC_RECEIVE_OPT",2],["RETURN",2]]},
        "w":{"registerCount":1,"instructions":[["RETURN",0]]}}}));
    assert_eq!(out["result"], json!({"option":null}));
    // Not trapping: main survives a linked child's normal end.
    let out = run(json!({"functions":{
        "main":{"registerCount":4,"instructions":[
            ["PROC_SPAWN",0,"w",[]],["PROC_LINK",0],["PROC_JOIN",1,0],["RETURN",1]]},
        "w":{"registerCount":1,"instructions":[["RETURN",0]]}}}));
    assert_eq!(out["status"], "completed");
    assert_eq!(out["result"], json!({"bool":true}));
}

#[test]
fn trapped_exit_message_has_string_pid_and_down_reason() {
    let out = run(json!({"functions":{
        "main":{"registerCount":4,"instructions":[
            ["PROC_TRAP_EXIT",true],["PROC_SPAWN",0,"w",[]],["PROC_LINK",0],["PROC_CANCEL",1,0],
            ["PROC_RECEIVE",2],["RETURN",2]]},
        "w":{"registerCount":1,"instructions":[["PROC_RECEIVE",0],["RETURN",0]]}}}));
    assert_eq!(out["result"], exit("p0", "cancelled"));
    assert_eq!(out["steps"], 6);
}

#[test]
fn cancelling_a_linked_child_takes_down_the_running_main() {
    let out = run(json!({"functions":{
        "main":{"registerCount":2,"instructions":[
            ["PROC_SPAWN",0,"w",[]],["PROC_LINK",0],["PROC_CANCEL",1,0],["RETURN",1]]},
        "w":{"registerCount":1,"instructions":[["PROC_RECEIVE",0],["RETURN",0]]}}}));
    assert_eq!(
        out,
        json!({"status":"failed","error":"ProcessCancelled: main exited (cancelled)"})
    );
    let out = run(
        json!({"registerCount":2,"instructions":[["PROC_SELF",0],["PROC_CANCEL",1,0],["RETURN",1]]}),
    );
    assert_eq!(
        out,
        json!({"status":"failed","error":"ProcessCancelled: main was cancelled"})
    );
}

#[test]
fn a_running_child_taken_down_by_its_own_cancel_is_notified_after_the_instruction() {
    // p0 cancels its linked sibling p1: p1's notices go out at once, p0
    // (running) exits with reason cancelled and notifies when its
    // instruction returns; main monitors both.
    let out = run(json!({"functions":{
        "main":{"registerCount":8,"instructions":[
            ["PROC_SPAWN",1,"idle",[]],["PROC_SPAWN",0,"killer",[1]],
            ["PROC_MONITOR",2,0],["PROC_MONITOR",2,1],
            ["PROC_RECEIVE",3],["PROC_RECEIVE",4],["PROC_JOIN_RESULT",5,0],["PROC_STATUS",6,0],
            ["LIST_FROM",7,[3,4,5,6]],["RETURN",7]]},
        "idle":{"registerCount":1,"instructions":[["PROC_RECEIVE",0],["RETURN",0]]},
        "killer":{"arity":1,"registerCount":3,"instructions":[
            ["PROC_LINK",0],["PROC_CANCEL",1,0],["LOAD_CONST",2,0],["STATE_SET","after",2],["RETURN",2]]}},
        "constants":[{"bool":true}]}));
    assert_eq!(out["status"], "completed", "{out}");
    assert_eq!(out["state"], json!({}));
    assert_eq!(
        out["result"],
        json!({"list":[down("p0","cancelled","mon4:p0"),down("p1","exited","mon3:p1"),
            {"option":s("ExitReason cancelled")},s("ProcessExited (ExitReason cancelled)")]})
    );
}

#[test]
fn cancelling_a_terminated_process_keeps_its_result() {
    let out = run(json!({"constants":[{"int":"7"}],"functions":{
        "main":{"registerCount":4,"instructions":[
            ["PROC_SPAWN",0,"w",[]],["PROC_JOIN",1,0],["PROC_CANCEL",2,0],["PROC_JOIN_RESULT",3,0],
            ["LIST_FROM",1,[2,3]],["RETURN",1]]},
        "w":{"registerCount":1,"instructions":[["LOAD_CONST",0,0],["RETURN",0]]}}}));
    assert_eq!(
        out["result"],
        json!({"list":[{"bool":true},{"option":{"int":"7"}}]})
    );
}

#[test]
fn status_of_self_is_running_and_self_send_arrives() {
    let out = run(
        json!({"registerCount":4,"constants":[{"string":"hi"}],"instructions":[
        ["PROC_SELF",0],["PROC_STATUS",1,0],["LOAD_CONST",2,0],["PROC_SEND",0,2],["PROC_RECEIVE",3],
        ["LIST_FROM",0,[1,3]],["RETURN",0]]}),
    );
    assert_eq!(out["result"], json!({"list":[s("ProcessRunning"),s("hi")]}));
}

#[test]
fn deadlock_is_detected_without_a_scan() {
    let out = run(json!({"instructions":[["PROC_RECEIVE",0],["RETURN",0]]}));
    assert_eq!(
        out,
        json!({"status":"failed","error":"ProcessDeadlock: All processes are waiting but no ready processes"})
    );
    // A sleeper is not a deadlock: the clock moves.
    let out = run(json!({"registerCount":1,"instructions":[["PROC_SLEEP_TICKS",5],["RETURN",0]]}));
    assert_eq!(out["status"], "completed");
}

#[test]
fn spawn_checks_live_processes_and_registers_per_frame() {
    let out = run(json!({"limits":{"maxRegistersPerFrame":4},"functions":{
        "main":{"registerCount":1,"instructions":[["PROC_SPAWN",0,"w",[]],["RETURN",0]]},
        "w":{"registerCount":5,"instructions":[["RETURN",0]]}}}));
    assert_eq!(
        out,
        json!({"status":"failed","error":"InvalidRegister: PROC_SPAWN target exceeded maxRegistersPerFrame"})
    );
}

#[test]
fn deliveries_follow_the_wake_rules() {
    let mut m = quiesce(json!({"functions":{
        "main":{"registerCount":4,"instructions":[
            ["PROC_SPAWN",0,"r",[]],["PROC_SPAWN",2,"done",[]],["PROC_RECEIVE",3],["RETURN",3]]},
        "r":{"registerCount":1,"instructions":[["PROC_RECEIVE",0],["RETURN",0]]},
        "done":{"registerCount":1,"instructions":[["RETURN",0]]}}}));
    // main waits for a message; p0 too.
    let main = slot(&m, "main");
    assert_eq!(m.procs[main].status, Status::Waiting(Wait::Message));
    let p0 = slot(&m, "p0");
    super::deliver_message(&mut m, p0, Value::str("x"));
    assert_eq!(m.procs[p0].status, Status::Ready);
    assert_eq!(m.ready.back(), Some(&p0));
    // An effect reply wakes a plain receive too (DECISIONS.md).
    super::deliver_effect_reply(&mut m, main, &Str::new("k"), Value::Unit);
    assert_eq!(m.procs[main].status, Status::Ready);
    // A terminated process gets the message but is never re-queued.
    let done = slot(&m, "p1");
    assert!(m.procs[done].status.is_terminal());
    let before = m.ready.len();
    super::deliver_message(&mut m, done, Value::str("late"));
    assert_eq!(m.ready.len(), before);
    assert_eq!(m.procs[done].mailbox.len(), 1);
}

#[test]
fn receive_match_wakes_only_for_its_tag() {
    let mut m = quiesce(
        json!({"constants":[{"string":"Want"}],"registerCount":2,"instructions":[
        ["LOAD_CONST",0,0],["PROC_RECEIVE_MATCH",1,0],["RETURN",1]]}),
    );
    assert_eq!(
        m.procs[0].status,
        Status::Waiting(Wait::Match(Str::new("Want")))
    );
    super::deliver_message(&mut m, 0, Value::variant("Other", Value::Unit));
    super::deliver_message(&mut m, 0, Value::str("Want"));
    assert!(matches!(m.procs[0].status, Status::Waiting(_)));
    super::deliver_effect_reply(&mut m, 0, &Str::new("k"), Value::Unit);
    assert!(matches!(m.procs[0].status, Status::Waiting(_)));
    super::deliver_message(&mut m, 0, Value::variant("Want", Value::Unit));
    assert_eq!(m.procs[0].status, Status::Ready);
    m.run(Mode::Quiesce).unwrap();
    assert_eq!(
        m.procs[0].status,
        Status::Completed(Value::variant("Want", Value::Unit))
    );
}

#[test]
fn disconnect_takes_down_non_trapping_links_and_spares_the_dead() {
    // p0 links remotely to vmB and waits; main monitors p0 and waits; p1
    // traps exits, links remotely and waits; p2 links remotely and completes.
    let mut m = quiesce(json!({
        "constants":[{"string":"vmB"},{"string":"r1"}],
        "functions":{
            "main":{"registerCount":6,"instructions":[
                ["PROC_SPAWN",0,"linked",[]],["PROC_SPAWN",1,"trapper",[]],["PROC_SPAWN",2,"done",[]],
                ["PROC_MONITOR",3,0],["PROC_JOIN",4,0],["PROC_RECEIVE",5],["RETURN",5]]},
            "linked":{"registerCount":3,"instructions":[
                ["LOAD_CONST",0,0],["LOAD_CONST",1,1],["REMOTE_PID_NEW",2,0,1],["NODE_LINK",2],
                ["PROC_RECEIVE",0],["RETURN",0]]},
            "trapper":{"registerCount":3,"instructions":[
                ["PROC_TRAP_EXIT",true],["LOAD_CONST",0,0],["LOAD_CONST",1,1],["REMOTE_PID_NEW",2,0,1],
                ["NODE_LINK",2],["PROC_RECEIVE",0],["RETURN",0]]},
            "done":{"registerCount":3,"instructions":[
                ["LOAD_CONST",0,0],["LOAD_CONST",1,1],["REMOTE_PID_NEW",2,0,1],["NODE_LINK",2],
                ["RETURN",2]]}}}));
    check_indexes(&m);
    let (p0, p1, p2) = (slot(&m, "p0"), slot(&m, "p1"), slot(&m, "p2"));
    assert!(matches!(m.procs[p2].status, Status::Completed(_)));
    super::apply_disconnect(&mut m, &Str::new("vmB"), &Str::new("cut"));
    assert_eq!(m.procs[p0].status, Status::Exited(Str::new("cut")));
    assert!(m.procs[p0].killed_by_signal);
    assert!(matches!(m.procs[p2].status, Status::Completed(_)));
    assert_eq!(m.procs[p1].status, Status::Ready);
    let exit_msg = super::exit_msg("vmB:r1", "cut");
    assert_eq!(m.procs[p1].mailbox.back(), Some(&exit_msg));
    // main: woken as p0's joiner; the DOWN ("exited") is in its mailbox.
    assert_eq!(m.procs[0].status, Status::Ready);
    assert_eq!(
        m.procs[0].mailbox.back(),
        Some(&super::down("p0", "exited", &Str::new("mon4:p0")))
    );
    assert_eq!(m.nodes[&Str::new("vmB")].status.as_str(), "offline");
    assert!(m.check_main_ended().is_ok());
    m.run(Mode::Quiesce).unwrap();
    check_indexes(&m);
    assert!(m.procs[0].status.is_terminal());
}

#[test]
fn node_status_upsert_keeps_fields_and_normalises() {
    let mut m = quiesce(json!({"registerCount":1,"instructions":[["RETURN",0]]}));
    let n = Str::new("vmB");
    super::apply_node_status(
        &mut m,
        &n,
        &Str::new("suspect"),
        Some(Str::new("t")),
        Some(7),
        None,
    );
    super::apply_node_status(
        &mut m,
        &n,
        &Str::new("degraded"),
        None,
        None,
        Some(Str::new("h")),
    );
    let info = &m.nodes[&n];
    assert_eq!(info.status.as_str(), "unknown");
    assert_eq!(info.reason.as_ref().map(|r| r.as_str()), Some("t"));
    assert_eq!(info.last_seen_tick, Some(7));
    assert_eq!(info.last_state_hash.as_ref().map(|r| r.as_str()), Some("h"));
    let mut text = String::new();
    crate::api::encode_state(&m.core.state, &mut text);
    assert_eq!(
        text,
        r#"{"__finvm.nodes":{"record":{"vmB":{"record":{"lastSeenTick":{"int":"7"},"lastStateHash":{"string":"h"},"reason":{"string":"t"},"status":{"string":"unknown"}}}}}}"#
    );
}

#[test]
fn cancelled_sleepers_and_joiners_leave_the_indexes() {
    let m = quiesce(json!({"functions":{
        "main":{"registerCount":4,"instructions":[
            ["PROC_SPAWN",0,"sl",[]],["PROC_SPAWN",1,"jn",[0]],["PROC_SLEEP_TICKS",1],
            ["PROC_CANCEL",2,1],["PROC_CANCEL",2,0],["RETURN",2]]},
        "sl":{"registerCount":1,"instructions":[["PROC_SLEEP_TICKS",50],["RETURN",0]]},
        "jn":{"arity":1,"registerCount":2,"instructions":[["PROC_JOIN",1,0],["RETURN",1]]}}}));
    assert!(m.sched.sleepers.is_empty());
    assert!(m.sched.joiners.is_empty());
    assert_eq!(m.tick, 1);
    assert_eq!(m.live, 0);
    check_indexes(&m);
}

#[test]
fn many_processes_send_and_receive() {
    // 20,000 echo workers: spawn, send, receive; no table scans.
    let n = 20_000;
    let out = run(json!({
        "limits":{"maxProcesses":n+1,"maxSteps":10_000_000,"maxListLength":n,"maxMailboxSize":n},
        "constants":[{"int":"0"},{"int":"1"},{"int":n.to_string()}],
        "functions":{
            "main":{"registerCount":10,"instructions":[
                ["PROC_SELF",9],["LOAD_CONST",0,0],["LOAD_CONST",1,1],["LOAD_CONST",2,2],["LIST_NEW",3],
                ["LABEL","spawn"],["EQ",4,0,2],["JUMP_IF",4,"sent"],
                ["PROC_SPAWN",5,"w",[9]],["LIST_APPEND",3,3,5],["ADD",0,0,1],["JUMP","spawn"],
                ["LABEL","sent"],["LOAD_CONST",0,0],
                ["LABEL","send"],["EQ",4,0,2],["JUMP_IF",4,"recv"],
                ["LIST_GET",5,3,0],["PROC_SEND",5,0],["ADD",0,0,1],["JUMP","send"],
                ["LABEL","recv"],["LOAD_CONST",0,0],["LOAD_CONST",6,0],
                ["LABEL","r"],["EQ",4,0,2],["JUMP_IF",4,"done"],
                ["PROC_RECEIVE",7],["ADD",6,6,7],["ADD",0,0,1],["JUMP","r"],
                ["LABEL","done"],["RETURN",6]]},
            "w":{"arity":1,"registerCount":2,"instructions":[
                ["PROC_RECEIVE",1],["PROC_SEND",0,1],["RETURN",1]]}}}));
    assert_eq!(out["status"], "completed");
    let sum = (n as u64) * (n as u64 - 1) / 2;
    assert_eq!(out["result"], json!({"int": sum.to_string()}));
}

mod random {
    //! Random process programs: the run is deterministic, the indexes agree
    //! with the table afterwards, and `live` is exact.
    use super::*;
    use proptest::prelude::*;

    /// One worker instruction, drawn from the process opcodes.
    fn instr(k: u8, arg: u8) -> J {
        match k % 10 {
            0 => json!(["PROC_SEND", 0, 1]),
            1 => json!(["PROC_RECEIVE_OPT", 2]),
            2 => json!(["PROC_YIELD"]),
            3 => json!(["PROC_SLEEP_TICKS", (arg % 3) as i32]),
            4 => json!(["PROC_MONITOR", 2, 0]),
            5 => json!(["PROC_RECEIVE_MATCH_OPT", 2, 3]),
            6 => json!(["PROC_LINK", 0]),
            7 => json!(["PROC_STATUS", 2, 0]),
            8 => json!(["PROC_TRAP_EXIT", arg % 2 == 0]),
            _ => json!(["PROC_JOIN_RESULT", 2, 0]),
        }
    }

    fn program(workers: &[Vec<(u8, u8)>], slice: i32, ending: u8) -> J {
        let mut functions = serde_json::Map::new();
        let mut main = vec![json!(["PROC_SELF", 0]), json!(["LOAD_CONST", 3, 0])];
        for (i, _) in workers.iter().enumerate() {
            main.push(json!(["PROC_SPAWN", 1, format!("w{i}"), [0]]));
            main.push(json!(["PROC_MONITOR", 2, 1]));
        }
        for _ in 0..workers.len() {
            main.push(json!(["PROC_RECEIVE", 2]));
        }
        main.push(json!(["RETURN", 2]));
        functions.insert(
            "main".into(),
            json!({"registerCount":4,"instructions":main}),
        );
        for (i, body) in workers.iter().enumerate() {
            let mut code = vec![json!(["LOAD_CONST", 3, 0])];
            code.extend(body.iter().map(|(k, a)| instr(*k, *a)));
            code.push(match ending % 3 {
                0 => json!(["RETURN", 2]),
                1 => json!(["ABORT", 1]),
                _ => json!(["PROC_EXIT", 2]),
            });
            functions.insert(
                format!("w{i}"),
                json!({"arity":1,"registerCount":4,"instructions":code}),
            );
        }
        json!({"constants":[{"string":"DOWN"}],
            "limits":{"maxProcessStepsPerSlice":slice,"maxMailboxSize":1000},
            "functions":functions})
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn random_process_programs_are_deterministic_and_indexed(
            workers in proptest::collection::vec(
                proptest::collection::vec((any::<u8>(), any::<u8>()), 0..12), 1..6),
            slice in 1i32..6,
            ending in any::<u8>(),
        ) {
            let p = program(&workers, slice, ending);
            let a = run(p.clone());
            let b = run(p.clone());
            prop_assert_eq!(&a, &b);
            let m = {
                let prog = load_program(&p.to_string()).expect("valid");
                let mut m = Machine::new(Rc::new(prog)).expect("machine");
                let _ = m.run(Mode::Quiesce);
                m
            };
            check_indexes(&m);
            // The queue never holds a pid twice while it is Ready.
            let mut seen = std::collections::BTreeSet::new();
            for s in &m.ready {
                if m.procs[*s].status == Status::Ready {
                    prop_assert!(seen.insert(*s));
                }
            }
        }
    }
}

#[test]
fn hooks_yield_in_place_and_may_cancel_their_caller() {
    // The guard yields (a no-op in a synchronous evaluation), then cancels
    // the process running the transition (its pid is in state); that
    // process is notified when MACHINE_TRANSITION returns and runs no more.
    let out = run(json!({
        "constants":[{"record":{}},{"bool":true}],
        "stateMachines":{"m":{"initialState":"a","states":["a","b"],
            "transitions":[{"from":"a","event":"GO","to":"b","guard":"g"}]}},
        "functions":{
            "main":{"registerCount":4,"instructions":[
                ["PROC_SPAWN",0,"w",[]],["PROC_MONITOR",1,0],["PROC_RECEIVE",2],
                ["VARIANT_PAYLOAD",2,2],["RECORD_GET",2,2,"reason"],["RETURN",2]]},
            "w":{"registerCount":4,"instructions":[
                ["PROC_SELF",0],["STATE_SET","w",0],["LOAD_CONST",1,0],["MACHINE_NEW",2,"m",1],
                ["MACHINE_TRANSITION",3,2,"GO"],["STATE_SET","after",3],["RETURN",3]]},
            "g":{"arity":1,"registerCount":3,"instructions":[
                ["PROC_YIELD"],["STATE_GET",1,"w"],["PROC_CANCEL",2,1],["LOAD_CONST",2,1],["RETURN",2]]}}}));
    assert_eq!(out["status"], "completed", "{out}");
    assert_eq!(out["result"], s("cancelled"));
    assert!(out["state"].get("after").is_none(), "{out}");
}
