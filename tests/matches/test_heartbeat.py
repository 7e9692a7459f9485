"""Tests for L{rpsa.matches.heartbeat}: through MatchChildren, on a fake process reactor."""

from rpsa.matches.children import MatchChildren
from rpsa.matches.process import MatchProcess
from tests.matches.fakes import CONFIG, LauncherTestCase


class HeartbeatTests(LauncherTestCase):
    """MatchChildren's heartbeat: children that reported their port are pinged; a silent one is killed."""

    def spawn_ready(self, children, name="one"):
        process = MatchProcess(self.clock, name)
        children.spawn(process)
        self.clock.processes[-1].out(b"Port: 9000\n")
        return process, self.clock.processes[-1]

    def test_answering_child_lives(self):
        """A child that answers every heartbeat is left alone."""
        children = MatchChildren(self.clock, CONFIG, heartbeat=1.0)
        process, child = self.spawn_ready(children)
        for n in range(1, 11):
            self.clock.advance(1.0)
            self.assertIn(b'{"heartbeat":%d}\n' % n, bytes(child.written))
            child.out(b"Heartbeat: %d\n" % n)
        self.assertEqual((child.signals, process.hung), ([], False))
        self.assertTrue(children.responsive(process))
        child.exit(0)
        self.assertEqual(self.clock.getDelayedCalls(), [])  # the timer stops with the last child

    def test_silent_child_is_killed(self):
        """Three heartbeats without a line: SIGKILL, and the process says it was hung."""
        children = MatchChildren(self.clock, CONFIG, heartbeat=1.0)
        process, child = self.spawn_ready(children)
        self.clock.advance(2.5)
        self.assertFalse(children.responsive(process))
        self.clock.advance(1.5)
        self.assertEqual(child.signals, ["KILL"])
        self.assertIs(process.hung, True)
        child.exit(signal=9)

    def test_no_heartbeat_before_the_port(self):
        """A starting child is the launch timeout's: no heartbeat, no kill."""
        children = MatchChildren(self.clock, CONFIG, heartbeat=1.0)
        children.spawn(MatchProcess(self.clock, "one"))
        child = self.clock.processes[-1]
        self.clock.advance(10.0)
        self.assertEqual((child.signals, b"heartbeat" in bytes(child.written)), ([], False))
        child.exit(0)

    def test_off(self):
        """heartbeat=0 (the default): no timer at all."""
        children = MatchChildren(self.clock, CONFIG)
        self.spawn_ready(children)
        self.assertEqual(self.clock.getDelayedCalls(), [])
