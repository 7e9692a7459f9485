"""Tests for L{rpsa.play.ticker.TickScheduler}, driven by a L{twisted.internet.task.Clock}.

Every interval and offset used here is a multiple of 1/4, so the clock's float
arithmetic is exact and tick times can be compared with C{assertEqual}.
"""

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from rpsa.play.hooks import ServerHooks
from rpsa.play.ticker import TickScheduler

INTERVAL = 1.0


class Recorder:
    """A tickable that records the clock time of every tick and then runs ``action``."""

    def __init__(self, clock, name="item", action=None):
        self.clock = clock
        self.name = name
        self.action = action
        self.times = []

    def tick(self):
        self.times.append(self.clock.seconds())
        if self.action is not None:
            self.action()

    def __repr__(self):
        return f"<Recorder {self.name}>"


class LagRecorder(ServerHooks):
    """Hooks that record each tick's lag in ``lags``."""

    def __init__(self, lags):
        self.tick_lag = lags.append


class TickSchedulerTests(SynchronousTestCase):
    """One scheduler, one clock, any number of items."""

    def setUp(self):
        self.clock = Clock()
        self.lags = []
        self.scheduler = TickScheduler(self.clock, INTERVAL, hooks=LagRecorder(self.lags))

    def item(self, name="item", action=None, add=True):
        """A new L{Recorder}, added to the scheduler unless ``add`` is false."""
        recorder = Recorder(self.clock, name, action)
        if add:
            self.scheduler.add(recorder)
        return recorder

    def run_for(self, seconds, step=0.25):
        """Advance the clock by ``seconds`` in steps of ``step`` (a bounded loop)."""
        for _ in range(int(seconds / step)):
            self.clock.advance(step)

    def test_first_tick_one_interval_after_add(self):
        """An item is first ticked one interval after it was added, not before."""
        item = self.item()
        self.clock.advance(INTERVAL - 0.25)
        self.assertEqual(item.times, [])
        self.clock.advance(0.25)
        self.assertEqual(item.times, [1.0])

    def test_each_item_keeps_its_own_phase(self):
        """Items added at different moments tick at their own ``added + k × interval``."""
        first = self.item("first")
        self.clock.advance(0.25)
        second = self.item("second")
        self.clock.advance(0.5)
        third = self.item("third")
        self.run_for(3.0)  # the clock ends at 3.75
        self.assertEqual(first.times, [1.0, 2.0, 3.0])
        self.assertEqual(second.times, [1.25, 2.25, 3.25])
        self.assertEqual(third.times, [1.75, 2.75, 3.75])

    def test_one_reactor_timer_for_many_items(self):
        """However many items are ticking, the scheduler holds a single reactor timer."""
        items = []
        for n in range(40):
            items.append(self.item(f"item {n}"))
            self.assertEqual(len(self.clock.getDelayedCalls()), 1)
            self.clock.advance(0.25)
        self.run_for(5.0)
        self.assertEqual(len(self.clock.getDelayedCalls()), 1)
        self.assertEqual(len(self.scheduler), 40)
        self.assertTrue(all(len(item.times) >= 5 for item in items))

    def test_timer_follows_the_earliest_item(self):
        """The single timer is always set for whichever item is due first."""
        self.item("first")
        self.clock.advance(0.5)
        self.item("second")
        self.assertEqual([call.getTime() for call in self.clock.getDelayedCalls()], [1.0])
        self.clock.advance(0.5)  # "first" ticks at 1.0 and is next due at 2.0
        self.assertEqual([call.getTime() for call in self.clock.getDelayedCalls()], [1.5])

    def test_remove_stops_ticking(self):
        """A removed item is not ticked again; the others carry on."""
        kept, removed = self.item("kept"), self.item("removed")
        self.clock.advance(INTERVAL)
        self.scheduler.remove(removed)
        self.run_for(2.0)
        self.assertEqual(removed.times, [1.0])
        self.assertEqual(kept.times, [1.0, 2.0, 3.0])
        self.assertNotIn(removed, self.scheduler)

    def test_removing_the_last_item_cancels_the_timer(self):
        """With nothing left to tick, no reactor timer is left behind."""
        item = self.item()
        self.scheduler.remove(item)
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.assertEqual(len(self.scheduler), 0)

    def test_stop_forgets_everything(self):
        """``stop`` forgets every item and cancels the timer."""
        items = [self.item(f"item {n}") for n in range(3)]
        self.scheduler.stop()
        self.run_for(3.0)
        self.assertEqual([item.times for item in items], [[], [], []])
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_remove_another_item_during_a_pass(self):
        """An item removed by another item's tick in the same pass is not ticked in that pass."""
        victim = self.item("victim", add=False)
        killer = self.item("killer", action=lambda: self.scheduler.remove(victim))
        self.scheduler.add(victim)  # due at the same moment, after the killer
        self.run_for(3.0)
        self.assertEqual(victim.times, [])
        self.assertEqual(killer.times, [1.0, 2.0, 3.0])

    def test_remove_itself_during_its_tick(self):
        """An item that removes itself while ticking is ticked exactly once."""
        holder = []
        item = self.item("quitter", action=lambda: self.scheduler.remove(holder[0]))
        holder.append(item)
        other = self.item("other")
        self.run_for(3.0)
        self.assertEqual(item.times, [1.0])
        self.assertEqual(other.times, [1.0, 2.0, 3.0])

    def test_remove_the_last_item_during_its_tick(self):
        """The last item removing itself during a pass leaves no timer behind."""
        holder = []
        holder.append(self.item("only", action=lambda: self.scheduler.remove(holder[0])))
        self.run_for(3.0)
        self.assertEqual(holder[0].times, [1.0])
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_adding_an_item_twice_ticks_it_once_per_interval(self):
        """Adding an item that is already ticking restarts its phase instead of doubling its ticks."""
        item = self.item()
        self.scheduler.add(item)
        self.run_for(2.0)
        self.assertEqual(item.times, [1.0, 2.0])

    def test_remove_and_add_again_during_its_tick(self):
        """An item restarted (removed and added) during its own tick is ticked once per interval."""
        holder = []

        def restart():
            if len(holder[0].times) == 1:
                self.scheduler.remove(holder[0])
                self.scheduler.add(holder[0])

        holder.append(self.item("restarted", action=restart))
        self.run_for(3.0)
        self.assertEqual(holder[0].times, [1.0, 2.0, 3.0])

    def test_failing_item_is_logged_and_removed(self):
        """An item whose tick raises is logged and removed; the other items carry on."""
        broken = self.item("broken", action=lambda: 1 // 0)
        healthy = self.item("healthy")
        self.run_for(3.0)
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)
        self.assertEqual(broken.times, [1.0])
        self.assertNotIn(broken, self.scheduler)
        self.assertEqual(healthy.times, [1.0, 2.0, 3.0])

    def test_lag_is_reported_for_every_tick(self):
        """The ``tick_lag`` hook hears how late each tick ran: nothing on time, the stall's length when late."""
        self.item()
        self.run_for(2.0)
        self.assertEqual(self.lags, [0.0, 0.0])
        # The process stalls: the clock jumps 2.5 s at once, past the tick due at 3.
        self.clock.advance(2.5)
        self.assertEqual(self.lags, [0.0, 0.0, 1.5])

    def test_missed_ticks_are_skipped_after_a_stall(self):
        """After a stall an item ticks once, late, then resumes on its own phase without a burst."""
        item = self.item()
        self.clock.advance(0.25)
        self.clock.advance(4.0)  # stalled from 0.25 to 4.25: ticks due at 1, 2, 3, 4
        self.assertEqual(item.times, [4.25])
        self.run_for(2.0)
        self.assertEqual(item.times, [4.25, 5.0, 6.0])

    def test_stall_that_ends_exactly_on_a_tick(self):
        """A stall ending exactly at a due time yields one tick, and the next one a whole interval later."""
        item = self.item()
        self.clock.advance(3.0)  # due at 1; 2 and 3 are missed
        self.assertEqual(item.times, [3.0])
        self.clock.advance(0.75)
        self.assertEqual(item.times, [3.0])
        self.clock.advance(0.25)
        self.assertEqual(item.times, [3.0, 4.0])
