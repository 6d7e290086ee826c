//! The reference's own workload (HOST.md §11, "Workload A"): sum 0..N-1 with
//! the 6-instruction `LT`/`JUMP_IF_FALSE`/`ADD`/`ADD`/`JUMP` loop, N = 10^7,
//! in performance mode. Compare with `benches/peers/sum_loop.lua` via
//! `scripts/bench-sum-loop.sh`.

use criterion::{criterion_group, criterion_main, Criterion};
use finvm::api::{load_program, run_program, RunOptions};
use std::rc::Rc;

fn sum_loop_program(n: u64) -> String {
    format!(
        r#"{{"version":"1.0","registerCount":6,"performanceMode":true,
        "limits":{{"maxSteps":{steps}}},
        "constants":[{{"int":"0"}},{{"int":"1"}},{{"int":"{n}"}}],
        "instructions":[["LOAD_CONST",0,0],["LOAD_CONST",1,0],["LOAD_CONST",2,1],["LOAD_CONST",3,2],
          ["LABEL","loop"],["LT",4,1,3],["JUMP_IF_FALSE",4,"end"],["ADD",0,0,1],["ADD",1,1,2],["JUMP","loop"],
          ["LABEL","end"],["RETURN",0]]}}"#,
        steps = (6 * n + 100).min(i32::MAX as u64)
    )
}

fn bench(c: &mut Criterion) {
    let n = 10_000_000u64;
    let program = Rc::new(load_program(&sum_loop_program(n)).expect("valid program"));
    let expected = finvm::Value::int((n * (n - 1) / 2) as i64);
    let mut g = c.benchmark_group("sum_loop");
    g.sample_size(10);
    g.bench_function("n=10^7 performanceMode", |b| {
        b.iter(|| {
            let out = run_program(program.clone(), &RunOptions::default());
            let m = out.machine.expect("machine");
            assert!(out.result.is_ok());
            assert_eq!(m.main_result(), expected);
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
