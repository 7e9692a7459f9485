"""The heartbeat: quiet connections are pinged, silent ones dropped, with one timer."""

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from rpsa.play.heartbeat import Heartbeat


class FakeConnection:
    """Records pings and drops."""

    def __init__(self):
        self.pings = 0
        self.dropped = False

    def ping(self):
        self.pings += 1

    def drop(self):
        self.dropped = True


class HeartbeatTests(SynchronousTestCase):
    """Heartbeat with a Clock."""

    def setUp(self):
        self.clock = Clock()
        self.heartbeat = Heartbeat(self.clock, 10)

    def test_active_connection_is_never_pinged(self):
        """A connection heard from before every beat gets no ping."""
        conn = FakeConnection()
        self.heartbeat.add(conn)
        for _ in range(5):
            conn.heard = True
            self.clock.advance(10)
        self.assertEqual((conn.pings, conn.dropped), (0, False))

    def test_quiet_then_silent_is_dropped(self):
        """Quiet for a beat: pinged; still silent at the next: dropped and forgotten."""
        conn = FakeConnection()
        self.heartbeat.add(conn)
        self.clock.advance(10)  # heard at add (the handshake)
        self.assertEqual(conn.pings, 0)
        self.clock.advance(10)
        self.assertEqual((conn.pings, conn.dropped), (1, False))
        self.clock.advance(10)
        self.assertTrue(conn.dropped)
        self.assertEqual(len(self.heartbeat), 0)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_pong_keeps_it(self):
        """Data after a ping (the pong) keeps the connection."""
        conn = FakeConnection()
        self.heartbeat.add(conn)
        self.clock.advance(20)
        conn.heard = True
        self.clock.advance(10)
        self.assertFalse(conn.dropped)

    def test_one_timer_for_many(self):
        """Many connections share one timer, which stops with the last one."""
        conns = [FakeConnection() for _ in range(50)]
        for conn in conns:
            self.heartbeat.add(conn)
        self.assertEqual(len(self.clock.getDelayedCalls()), 1)
        for conn in conns:
            self.heartbeat.remove(conn)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_zero_interval_disables(self):
        """An interval of 0 watches nothing and sets no timer."""
        heartbeat = Heartbeat(self.clock, 0)
        heartbeat.add(FakeConnection())
        self.assertEqual((len(heartbeat), self.clock.getDelayedCalls()), (0, []))
