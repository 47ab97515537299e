"""A scenario's plot stays legible however many events it has and however long their words:
numbered lines, the words listed under the axes in time order (the etcd cut-off scenario's plot
had its labels cut off at the top and printed over each other)."""

from __future__ import annotations

import warnings

from chaos.timeline import Timeline, event_key, stacks

T0 = 1_700_000_000.0
WORDS = "kube-mast02 answered a serializable read from behind, refused a write and a linearizable read"


def test_close_events_stack_their_numbers_and_the_key_is_in_time_order():
    events = [(T0 + 0.4, "cut off"), (T0 + 11.70, WORDS), (T0 + 11.72, "heal"), (T0 + 13.7, "caught up")]
    assert stacks(events, 14.0) == [0, 0, 1, 0]
    # the control: events far apart stay on the first level
    assert stacks([(T0, "a"), (T0 + 5, "b"), (T0 + 10, "c")], 14.0) == [0, 0, 0]
    assert event_key(sorted([events[2], events[0]]), T0) == ["1  +0.4 s  cut off", "2  +11.7 s  heal"]


def test_a_crowded_timeline_plots_without_matplotlib_giving_up_its_layout(tmp_path):
    # the journal's steps arrive after the fact, out of order, with long words
    tl = Timeline("etcd-06-member-cut-off", [(T0 + 0.4, "cut kube-mast02 off (switch port down)"), (T0 + 13.7, "caught up")],
                  {"etcd client": [{"t": T0 + i * 0.05, "result": "ok"} for i in range(280)]})
    tl.events += [(T0 + 11.7 + i * 0.01, f"{WORDS} ({i})") for i in range(8)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "Tight layout not applied" failed this before
        tl.plot(tmp_path / "plot.png")
    assert (tmp_path / "plot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
