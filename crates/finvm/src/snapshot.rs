//! The canonical machine snapshot text of `STATE_SNAPSHOT` (`FORMATS.md` §5.1).

use crate::machine::Machine;
use crate::value::canon::canonical_into;

/// `snapshot{program:<v>,state:<entries>,processes:[...],tick:<t>,steps:<n>}`.
pub fn snapshot_text(m: &Machine) -> String {
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
        }
        s.push_str(",mailbox:[");
        for (j, msg) in p.mailbox.iter().enumerate() {
            if j > 0 {
                s.push(',');
            }
            canonical_into(msg, &mut s);
        }
        s.push_str("]}");
    }
    s.push_str(&format!("],tick:{},steps:{}}}", m.tick, m.core.steps));
    s
}
