"""The register checker on hand-made histories: it accepts what etcd may do, rejects what
it must not."""

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from chaos.history import Op, check, linearizable


def w(v, t0, t1, outcome="ok", key="k"):
    return Op(key, "write", v, t0, t1, outcome)


def r(v, t0, t1, outcome="ok", key="k"):
    return Op(key, "read", v, t0, t1, outcome)


def test_sequential_history_is_linearizable():
    assert linearizable([w(1, 0, 1), r(1, 2, 3), w(2, 4, 5), r(2, 6, 7)])


def test_stale_read_is_rejected():
    assert not linearizable([w(1, 0, 1), w(2, 2, 3), r(1, 4, 5)])


def test_read_overlapping_a_write_may_see_either_value():
    assert linearizable([w(1, 0, 1), w(2, 2, 6), r(1, 3, 4)])
    assert linearizable([w(1, 0, 1), w(2, 2, 6), r(2, 3, 4)])


def test_read_of_a_value_never_written_is_rejected():
    assert not linearizable([w(1, 0, 1), r(7, 2, 3)])


def test_timed_out_write_may_take_effect_later():
    # written during lost quorum, committed after it returned (seen on etcd)
    assert linearizable([w(1, 0, 1), w(2, 2, 3, "timeout"), w(3, 4, 5), r(3, 6, 7)])
    assert linearizable([w(1, 0, 1), w(2, 2, 3, "timeout"), r(2, 10, 11)])


def test_timed_out_write_may_never_take_effect():
    assert linearizable([w(1, 0, 1), w(2, 2, 3, "timeout"), r(1, 10, 11)])


def test_failed_operations_do_not_constrain():
    assert linearizable([w(1, 0, 1), w(2, 2, 3, "fail"), r(1, 4, 5), r(9, 6, 7, "fail")])


def test_lost_acknowledged_write_is_rejected():
    ops = [w(1, 0, 1), w(2, 2, 3), w(3, 4, 5)]
    verdict = check(ops, final={"k": 2})
    assert not verdict.ok and "read after the run (2)" in verdict.reason
    assert check(ops, final={"k": 3}).ok


def test_check_passes_a_clean_multi_key_history():
    ops = [w(1, 0, 1, key="a"), w(1, 0.5, 1.5, key="b"), r(1, 2, 3, key="a"), w(2, 4, 5, "timeout", key="b")]
    verdict = check(ops, final={"a": 1, "b": 2})
    assert verdict.ok, verdict.reason


def test_final_value_from_outside_the_history_is_rejected():
    # a rollback to a larger value an earlier scenario left on the key: "values only grow"
    # let it pass; the final read in the history does not
    verdict = check([w(1, 0, 1), w(2, 2, 3), w(3, 4, 5)], final={"k": 7})
    assert not verdict.ok and "read after the run (7)" in verdict.reason


def test_timed_out_write_that_commits_late_is_no_lost_write():
    # w(2) timed out and landed after w(3) was acknowledged: legal, not a lost write
    assert check([w(1, 0, 1), w(2, 2, 3, "timeout"), w(3, 4, 5)], final={"k": 2}).ok


def test_observed_write_that_vanished_is_rejected():
    # a read saw w(2) (timed out, so indeterminate); the final read is back at 1
    verdict = check([w(1, 0, 1), w(2, 2, 3, "timeout"), r(2, 4, 5)], final={"k": 1})
    assert not verdict.ok


def test_concurrent_writers_need_not_grow():
    # two clients: 100 acknowledged, then 5 acknowledged, both before the final read of 5
    assert check([w(100, 0, 1), w(5, 2, 3)], final={"k": 5}).ok
    assert not check([w(100, 0, 1), w(5, 2, 3)], final={"k": 100}).ok


def test_unobserved_timed_out_writes_do_not_blow_up_the_search():
    # 60 writes timing out during a quorum loss, none ever read: pruned, decided at once
    ops = [w(1, 0, 1)] + [w(v, 2 + v, 3 + v, "timeout") for v in range(2, 62)] + [r(1, 100, 101)]
    assert check(ops, final={"k": 1}).ok


def test_search_is_bounded_with_an_undecided_verdict():
    ops = [w(v, 0, 100, "timeout") for v in range(1, 30)] + [r(v, 101 + v, 102 + v) for v in range(1, 30)]
    verdict = check(ops, final={"k": 29}, max_states=1000)
    assert verdict.undecided and not verdict.ok and "undecided" in verdict.reason


def test_five_thousand_operations_on_one_key_visit_one_state_each():
    ops, t = [], 0.0
    for v in range(1, 2501):
        ops.append(w(v, t, t + 0.6))
        ops.append(r(v, t + 0.7, t + 0.9))
        t += 1
    # a valid history is decided along one path: a state per operation (and each step scans
    # only the operations that overlap, so this takes well under a second here)
    assert check(ops, final={"k": 2500}, max_states=len(ops) + 2).ok


def test_long_history_is_checked_quickly():
    ops, t = [], 0.0
    for v in range(1, 400):
        ops.append(w(v, t, t + 0.4, "timeout" if v % 50 == 0 else "ok"))
        ops.append(r(v, t + 0.5, t + 0.9))
        t += 1
    assert linearizable(ops)
    ops[-1] = r(1, t, t + 0.5)
    assert not linearizable(ops)


# -- against an independent checker ----------------------------------------------------------
def brute_force(ops: list[Op], initial=None) -> bool:
    """Linearizable by exhaustion: some order of the acknowledged ops and some subset of the
    timed-out writes, consistent with real time, that a register explains."""
    acked = [o for o in ops if o.outcome == "ok"]
    pending = [o for o in ops if o.kind == "write" and o.outcome == "timeout"]
    for k in range(len(pending) + 1):
        for chosen in itertools.combinations(pending, k):
            group = acked + list(chosen)
            for order in itertools.permutations(group):
                # real time: nobody goes after an op that completed before it started
                if any(b.outcome == "ok" and b.complete < a.invoke for i, a in enumerate(order) for b in order[i + 1:]):
                    continue
                state, fine = initial, True
                for o in order:
                    if o.kind == "write":
                        state = o.value
                    elif o.value != state:
                        fine = False
                        break
                if fine:
                    return True
    return False


@st.composite
def histories(draw):
    n = draw(st.integers(1, 6))
    ops, value = [], 0
    for _ in range(n):
        start = draw(st.integers(0, 10))
        end = start + draw(st.integers(1, 4))
        kind = draw(st.sampled_from(["write", "read"]))
        outcome = draw(st.sampled_from(["ok", "ok", "ok", "timeout", "fail"]))
        if kind == "write":
            value += 1
            ops.append(w(value, start, end, outcome))
        else:
            ops.append(r(draw(st.sampled_from([None, *range(1, value + 1)])) if value else None, start, end, outcome))
    return ops


@settings(max_examples=400, deadline=None)
@given(histories())
def test_search_agrees_with_exhaustion(ops):
    assert linearizable(ops) == brute_force(ops)
