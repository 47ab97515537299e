"""The register checker on hand-made histories: it accepts what etcd may do, rejects what
it must not."""

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
    verdict = check([*ops, r(2, 10, 11)], final={"k": 2})
    assert not verdict.ok
    assert not verdict.linearizable or [o.value for o in verdict.lost] == [3]
    assert [o.value for o in check(ops, final={"k": 2}).lost] == [3]


def test_check_passes_a_clean_multi_key_history():
    ops = [w(1, 0, 1, key="a"), w(1, 0.5, 1.5, key="b"), r(1, 2, 3, key="a"), w(2, 4, 5, "timeout", key="b")]
    verdict = check(ops, final={"a": 1, "b": 2})
    assert verdict.ok, verdict.reason


def test_long_history_is_checked_quickly():
    ops, t = [], 0.0
    for v in range(1, 400):
        ops.append(w(v, t, t + 0.4, "timeout" if v % 50 == 0 else "ok"))
        ops.append(r(v, t + 0.5, t + 0.9))
        t += 1
    assert linearizable(ops)
    ops[-1] = r(1, t, t + 0.5)
    assert not linearizable(ops)
