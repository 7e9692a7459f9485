"""Tests of ``rpsa.tools.loadtest.statistics``: percentiles, summaries, the timeline, tick jitter, counters.

Checked against hand-made inputs, computed as loadgen.js computes them.
"""

from twisted.trial.unittest import SynchronousTestCase

from rpsa.tools.loadtest import statistics as st
from tests.tools.loadtest.fakes import (
    GAME_COMPLETE, GAME_STARTED, ceiling_script, round_event, state_change, sync, timeline_of)


class PercentileTests(SynchronousTestCase):
    """percentile and summary follow loadgen.js (nearest rank, JavaScript rounding)."""

    def test_nearest_rank(self):
        """The p-th percentile of 1..100 is the value of rank ceil(p/100 * n)."""
        values = list(range(1, 101))
        self.assertEqual(st.percentile(values, 50), 50)
        self.assertEqual(st.percentile(values, 99), 99)
        self.assertEqual(st.percentile(values, 100), 100)
        self.assertEqual(st.percentile(values, 0), 1)

    def test_small_samples(self):
        """With three values p50 is the second and p99 the largest."""
        self.assertEqual(st.percentile([1, 5, 9], 50), 5)
        self.assertEqual(st.percentile([1, 5, 9], 99), 9)
        self.assertEqual(st.percentile([7], 1), 7)

    def test_empty(self):
        """The percentile of nothing is None."""
        self.assertIsNone(st.percentile([], 50))

    def test_summary(self):
        """summary sorts the values and rounds to 0.1 with halves towards +infinity, as Math.round does."""
        s = st.summary([0.25, -0.25, 3.0, -7.06])
        self.assertEqual(s, {"n": 4, "p50": -0.2, "p90": 3.0, "p99": 3.0, "max": 3.0, "min": -7.1})

    def test_summary_empty(self):
        """The summary of no values has n 0 and None everywhere else."""
        self.assertEqual(st.summary([]), {"n": 0, "p50": None, "p90": None, "p99": None, "max": None, "min": None})


class JitterTests(SynchronousTestCase):
    """Tick jitter on the host socket, computed exactly as loadgen.js does."""

    def test_on_time_script_has_zero_jitter(self):
        """A scripted match whose bursts all come on their tick scores 0 for every burst, silent ticks included."""
        script = ceiling_script(rounds=1, exchanges=2)
        jit = st.jitter_from_timeline(timeline_of(script), 1000)
        self.assertEqual(jit, [0.0] * sum(1 for b in script if b is not None))

    def test_ticks_of_a_game(self):
        """A tracker fed a whole match counts every tick of it, the silent ones included."""
        script = ceiling_script(rounds=3, exchanges=10)
        bj = st.BurstJitter(1000)
        for t, m in timeline_of(script):
            kind, n = st.classify_host_message(m)
            if kind == st.START_MSG:
                bj.start(t)
            elif kind == st.COMPLETE_MSG:
                bj.complete(t)
            elif kind == st.TICK_MSG:
                bj.message(t, n)
        self.assertEqual(bj.ticks, len(script))

    def test_first_burst_measured_from_game_started(self):
        """The first burst is scored against GAME_STARTED, one tick earlier."""
        tl = [(0, GAME_STARTED), (1030, round_event(5)), (1031, sync()), (2030, round_event(0)), (3030, sync())]
        self.assertEqual(st.jitter_from_timeline(tl, 1000), [30, 0])

    def test_late_burst_shortens_the_next_gap(self):
        """A burst 50 ms late scores +50 and the next, on time, scores -50."""
        tl = [(0, GAME_STARTED), (1000, sync()), (2050, sync()), (3000, sync()), (4000, sync())]
        self.assertEqual(st.jitter_from_timeline(tl, 1000), [0, 50, -50])

    def test_same_burst_within_half_a_tick(self):
        """Messages less than tick/2 after a burst's start join it; at exactly tick/2 a new burst starts."""
        tl = [(0, GAME_STARTED), (1000, sync()), (1499, sync()), (2000, sync()), (2500, sync()), (3500, sync())]
        # bursts start at 1000, 2000, 2500, 3500: 1000-0-1000, 2000-1000-1000, 2500-2000-1000, 3500-2500-1000
        self.assertEqual(st.jitter_from_timeline(tl, 1000), [0, 0, -500])

    def test_state_change_3_to_2_follows_a_silent_tick(self):
        """A burst holding STATE_CHANGE 3 -> 2 is expected two ticks after the previous one."""
        tl = [(0, GAME_STARTED), (1000, state_change(2, 3)), (3000, state_change(3, 2)), (3001, sync()),
              (4000, round_event(1)), (5000, round_event(1))]
        self.assertEqual(st.jitter_from_timeline(tl, 1000), [0, 0, 0])

    def test_silent_tick_rule_applies_to_the_whole_burst(self):
        """STATE_CHANGE 3 -> 2 later in a burst still makes the burst's n 2."""
        tl = [(0, GAME_STARTED), (1000, sync()), (3000, sync()), (3002, state_change(3, 2)), (4000, sync()),
              (5000, sync())]
        self.assertEqual(st.jitter_from_timeline(tl, 1000), [0, 0, 0])

    def test_other_state_changes_are_one_tick(self):
        """STATE_CHANGE 3 -> 4 (someone defeated) is one tick after the previous burst."""
        tl = [(0, GAME_STARTED), (1000, sync()), (3000, state_change(3, 4)), (4000, sync()), (5000, sync())]
        self.assertEqual(st.jitter_from_timeline(tl, 1000), [0, 1000, 0])

    def test_last_burst_waits_for_the_next(self):
        """A burst is scored only once the next burst starts (its tick count is known then), as in loadgen.js."""
        tl = [(0, GAME_STARTED), (1000, sync()), (2000, sync()), (3000, sync())]
        self.assertEqual(st.jitter_from_timeline(tl, 1000), [0, 0])

    def test_game_complete_follows_a_silent_tick(self):
        """GAME_COMPLETE two ticks after the last burst scores 0 and is scored at once."""
        tl = [(0, GAME_STARTED), (1000, sync()), (2000, round_event(4)), (4010, GAME_COMPLETE)]
        self.assertEqual(st.jitter_from_timeline(tl, 1000), [0, 0, 10])

    def test_messages_outside_a_match_are_ignored(self):
        """Messages before GAME_STARTED or after GAME_COMPLETE, and non-tick messages, do not count."""
        tl = [(0, sync()), (10, {"type": "welcome"}), (20, {"type": "player_joined"}), (100, GAME_STARTED),
              (1100, sync()), (1150, {"type": "select_fighter"}), (3100, GAME_COMPLETE), (4100, sync())]
        self.assertEqual(st.jitter_from_timeline(tl, 1000), [0, 0])

    def test_window_filters_by_burst_start(self):
        """Only bursts that start inside the window (bounds included) count."""
        tl = [(0, GAME_STARTED)] + [(k * 1000 + k, sync()) for k in range(1, 7)]
        # bursts at 1001, 2002, 3003, 4004, 5005, 6006 -> each gap 1001 -> jitter 1 (first: 1001)
        window = st.Window(2002, 4004)
        self.assertEqual(st.jitter_from_timeline(tl, 1000, window), [1, 1, 1])
        self.assertEqual(len(st.jitter_from_timeline(tl, 1000)), 5)

    def test_window_contains(self):
        """A window includes both of its bounds."""
        w = st.Window(10.0, 20.0)
        self.assertIn(10.0, w)
        self.assertIn(20.0, w)
        self.assertNotIn(9.999, w)
        self.assertNotIn(20.001, w)

    def test_classify(self):
        """classify_host_message tells game start, game end and tick messages with their tick counts."""
        self.assertEqual(st.classify_host_message(GAME_STARTED), (st.START_MSG, 0))
        self.assertEqual(st.classify_host_message(GAME_COMPLETE), (st.COMPLETE_MSG, 2))
        self.assertEqual(st.classify_host_message(state_change(3, 2)), (st.TICK_MSG, 2))
        self.assertEqual(st.classify_host_message(state_change(2, 3)), (st.TICK_MSG, 1))
        self.assertEqual(st.classify_host_message(sync()), (st.TICK_MSG, 1))
        self.assertEqual(st.classify_host_message({"type": "welcome"}), (None, 0))
        self.assertEqual(st.classify_host_message([1, 2]), (None, 0))


class TimelineTests(SynchronousTestCase):
    """The ramp, window and hard end of a run."""

    def test_window_follows_ramp_and_settle(self):
        """The window opens after ramp + settle and lasts measure seconds; the hard end is 60 s later."""
        tl = st.Timeline(games=200, ramp_s=20, settle_s=5, measure_s=20, max_seconds=0)
        self.assertEqual((tl.window.start, tl.window.end, tl.hard_end), (25000, 45000, 105000))
        self.assertEqual(tl.rate, 10)

    def test_due_slots(self):
        """Slots are due at the ramp rate, the first one at once; a zero ramp starts them all at once."""
        tl = st.Timeline(games=200, ramp_s=20, settle_s=0, measure_s=1, max_seconds=30)
        self.assertEqual([tl.due(0), tl.due(99), tl.due(100), tl.due(1000)], [1, 1, 2, 11])
        self.assertEqual(tl.hard_end, 30000)
        self.assertEqual(st.Timeline(5, 0, 0, 1, 0).due(0), float("inf"))


class StatsTests(SynchronousTestCase):
    """The counters of a run."""

    def test_errors_by_kind_and_window(self):
        """Errors are counted by kind over the whole run, and separately inside the window."""
        s = st.Stats(st.Window(1000, 2000))
        s.error("timeout_tick", 500)
        s.error("timeout_tick", 1500)
        s.error("http_status_500", 2000)
        self.assertEqual((s.errors, s.errors_total(), s.errors_in_window),
                         ({"timeout_tick": 2, "http_status_500": 1}, 3, 2))

    def test_bursts_kept_inside_the_window(self):
        """Every scored burst is counted; only those starting inside the window keep their jitter."""
        s = st.Stats(st.Window(1000, 2000))
        s.bursts([(999, 5.0), (1000, 1.0), (2000, -2.0), (2001, 7.0)])
        self.assertEqual((s.jitter_all, s.jitter), (4, [1.0, -2.0]))
