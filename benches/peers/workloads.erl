#!/usr/bin/env escript
%%! +S 1
%% The performance issue's workloads on Erlang/OTP (BEAM), compiled (JIT),
%% one scheduler (FinVM is single-threaded; the BEAM's ring is no slower so).
%% usage: escript workloads.erl WORKLOAD RUNS
%% prints one JSON line: {"workload":..., "times_s":[...], "cpu_s":[...], "result":"..."}
-mode(compile).

main([Name, Runs]) ->
    case workload(Name) of
        undefined ->
            io:format("{\"workload\":\"~s\",\"error\":\"not implemented in Erlang\"}~n", [Name]);
        F ->
            {Times, Cpu, Result} = run(F, list_to_integer(Runs), [], [], undefined),
            io:format("{\"workload\":\"~s\",\"times_s\":[~s],\"cpu_s\":[~s],\"result\":\"~p\"}~n",
                      [Name, join(Times), join(Cpu), Result])
    end;
main([Name]) -> main([Name, "3"]).

run(_F, 0, Ts, Cs, R) -> {lists:reverse(Ts), lists:reverse(Cs), R};
run(F, K, Ts, Cs, _) ->
    erlang:garbage_collect(),
    {_, _} = statistics(runtime),
    W0 = erlang:monotonic_time(nanosecond),
    R = F(),
    W1 = erlang:monotonic_time(nanosecond),
    {_, CpuMs} = statistics(runtime),
    cleanup(),
    run(F, K - 1, [(W1 - W0) / 1.0e9 | Ts], [CpuMs / 1000 | Cs], R).

join(Xs) -> lists:join(",", [io_lib:format("~.6f", [X]) || X <- Xs]).

workload("A-small") -> fun() -> sum_loop(0, 0, 10000000) end;
workload("A-big") -> fun() -> B = 1 bsl 100, sum_loop(0, B, B + 10000000) end;
workload("FIB") -> fun() -> fib(32) end;
workload("LIST") -> fun() -> list_w(1000000) end;
workload("MAP") -> fun() -> map_w(1000000) end;
workload("RING-1000x1000") -> fun() -> ring(1000, 1000) end;
workload("RING-100000x10") -> fun() -> ring(100000, 10) end;
workload("SPAWN") -> fun() -> spawn_exit(100000) end;
workload(_) -> undefined.

sum_loop(S, I, N) when I < N -> sum_loop(S + I, I + 1, N);
sum_loop(S, _, _) -> S.

fib(N) when N < 2 -> N;
fib(N) -> fib(N - 1) + fib(N - 2).

%% LIST: build by appending (prepend + reverse), index through a tuple.
list_w(N) ->
    T = list_to_tuple(lists:reverse(build(0, N, []))),
    sum_idx(T, 0, N, 0).
build(I, N, Acc) when I < N -> build(I + 1, N, [I | Acc]);
build(_, _, Acc) -> Acc.
sum_idx(T, I, N, S) when I < N -> sum_idx(T, I + 1, N, S + element(I + 1, T));
sum_idx(_, _, _, S) -> S.

%% MAP: binary keys <<"k", Int/binary>>.
map_w(N) ->
    M = map_ins(0, N, #{}),
    map_get(M, 0, N, 0).
key(I) -> <<"k", (integer_to_binary(I))/binary>>.
map_ins(I, N, M) when I < N -> map_ins(I + 1, N, maps:put(key(I), I, M));
map_ins(_, _, M) -> M.
map_get(M, I, N, S) when I < N -> map_get(M, I + 1, N, S + maps:get(key(I), M));
map_get(_, _, _, S) -> S.

%% RING: the same ring as the FinVM program: N-1 spawned nodes plus the
%% caller; each node forwards to the one spawned before it; the token goes
%% around M times (N*M messages); returns the rounds counted.
ring(N, M) ->
    Next = chain(N - 1, self()),
    Next ! M,
    R = ring_main(Next, 0),
    put(ring_next, Next),
    R.
chain(0, Next) -> Next;
chain(K, Next) -> chain(K - 1, spawn(fun() -> ring_node(Next) end)).
ring_node(Next) ->
    receive
        stop -> Next ! stop;
        T -> Next ! T, ring_node(Next)
    end.
ring_main(Next, Rounds) ->
    receive
        1 -> Rounds + 1;
        T -> Next ! T - 1, ring_main(Next, Rounds + 1)
    end.

%% Stops a ring left by the last run (outside the timed region).
cleanup() ->
    case erase(ring_next) of
        undefined -> ok;
        Next -> Next ! stop, receive stop -> ok end
    end.

%% SPAWN: N processes that exit at once; waits until every one has exited
%% (one monitor DOWN per process).
spawn_exit(N) ->
    spawn_n(N),
    wait_down(N),
    N.
spawn_n(0) -> ok;
spawn_n(K) -> spawn_monitor(fun() -> ok end), spawn_n(K - 1).
wait_down(0) -> ok;
wait_down(K) -> receive {'DOWN', _, process, _, _} -> wait_down(K - 1) end.
