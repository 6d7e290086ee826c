//! The canonical machine snapshot text of `STATE_SNAPSHOT` (`FORMATS.md` §5.1).

use crate::machine::{Machine, Status};
use crate::value::canon::canonical_into;
use crate::value::{Str, Value, NODE_SIZE};
use std::collections::BTreeMap;

/// [`Value::size`] of a state map: keys and values.
pub fn state_size(state: &BTreeMap<Str, Value>) -> u64 {
    state.iter().fold(0u64, |acc, (k, v)| {
        acc.saturating_add(k.len() as u64).saturating_add(v.size())
    })
}

/// The size of what a finished run prints: main's result and the state
/// (checked against `maxOutputSize`).
pub fn output_size(m: &Machine) -> u64 {
    m.main_result()
        .size()
        .saturating_add(state_size(&m.core.state))
}

/// The size of everything a machine snapshot holds: state, input, every
/// process's registers, mailbox, status and result, and the events and
/// intents not yet handed out (checked against `maxOutputSize` before an
/// effect document is written).
pub fn machine_size(m: &Machine) -> u64 {
    let sum = |acc: u64, v: &Value| acc.saturating_add(v.size());
    let mut n = state_size(&m.core.state).saturating_add(state_size(&m.core.input));
    for p in &m.procs {
        n = p.regs.iter().fold(n, sum);
        n = p.mailbox.iter().fold(n, sum);
        n = p.result.iter().fold(n, sum);
        if let Status::Completed(v) = &p.status {
            n = sum(n, v);
        }
        n = n.saturating_add(NODE_SIZE * (1 + p.call_stack.len() as u64));
    }
    for t in m.core.events.iter().chain(&m.core.outbox) {
        n = n
            .saturating_add(t.tag.len() as u64)
            .saturating_add(t.value.size());
    }
    n
}

/// `snapshot{program:<v>,state:<entries>,processes:[...],tick:<t>,steps:<n>}`.
pub fn snapshot_text(m: &Machine) -> String {
    snapshot_text_within(m, usize::MAX).expect("no bound")
}

/// [`snapshot_text`], or `None` as soon as the text grows past `max_len`
/// bytes: a `STATE_SNAPSHOT` that cannot fit `maxStringLength` costs at
/// most that much work, however large the process table has grown
/// (regression `regression_fuzz_interp_snapshot_chain`).
pub fn snapshot_text_within(m: &Machine, max_len: usize) -> Option<String> {
    let over = |s: &String| s.len() > max_len;
    let mut s = String::from("snapshot{program:");
    s.push_str(&m.core.program.version);
    s.push_str(",state:");
    for (i, (k, v)) in m.core.state.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str(k);
        s.push(':');
        canonical_into(v, &mut s);
        if over(&s) {
            return None;
        }
    }
    s.push_str(",processes:[");
    for (i, slot) in m.by_pid.values().enumerate() {
        if i > 0 {
            s.push(',');
        }
        let p = &m.procs[*slot];
        let rc = m.core.program.functions[p.frame.func as usize].register_count;
        s.push_str("proc{pid:");
        s.push_str(&p.pid);
        s.push_str(",status:");
        s.push_str(&p.status.show());
        s.push_str(&format!(",pc:{},registers:", p.frame.pc));
        let regs = p.frame_regs(rc);
        let mut idx: Vec<String> = (0..regs.len()).map(|i| i.to_string()).collect();
        idx.sort();
        for (j, k) in idx.iter().enumerate() {
            if j > 0 {
                s.push(',');
            }
            s.push_str(k);
            s.push(':');
            canonical_into(&regs[k.parse::<usize>().expect("index")], &mut s);
            if over(&s) {
                return None;
            }
        }
        s.push_str(",mailbox:[");
        for (j, msg) in p.mailbox.iter().enumerate() {
            if j > 0 {
                s.push(',');
            }
            canonical_into(msg, &mut s);
            if over(&s) {
                return None;
            }
        }
        s.push_str("]}");
        if over(&s) {
            return None;
        }
    }
    s.push_str(&format!("],tick:{},steps:{}}}", m.tick, m.core.steps));
    (!over(&s)).then_some(s)
}
