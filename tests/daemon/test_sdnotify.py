"""SystemdNotifier against real AF_UNIX datagram sockets standing in for systemd's NOTIFY_SOCKET."""

import os
import socket
import tempfile
import uuid

from twisted.internet.task import Clock
from twisted.trial.unittest import TestCase

from rpsa.daemon.sdnotify import SystemdNotifier, status_text


class FakeSystemd:
    """A bound AF_UNIX datagram socket, read without blocking."""

    def __init__(self, test, abstract=False):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        test.addCleanup(self.sock.close)
        if abstract:
            name = f"rpsa-test-{uuid.uuid4().hex}"
            self.sock.bind("\0" + name)
            self.notify_socket = "@" + name
        else:
            # A short directory: AF_UNIX paths are limited to about 108 bytes.
            directory = tempfile.mkdtemp(prefix="rpsa-sd-")
            test.addCleanup(os.rmdir, directory)
            path = os.path.join(directory, "notify")
            self.sock.bind(path)
            test.addCleanup(os.unlink, path)
            self.notify_socket = path
        self.sock.setblocking(False)

    def received(self):
        """Every datagram waiting, decoded, oldest first."""
        messages = []
        for _ in range(1000):
            try:
                messages.append(self.sock.recv(65536).decode("utf-8"))
            except BlockingIOError:
                break
        return messages


class SystemdNotifierTests(TestCase):
    """READY, STOPPING and STATUS datagrams, and the STATUS rate limit."""

    def setUp(self):
        self.clock = Clock()
        self.systemd = FakeSystemd(self)
        self.notifier = SystemdNotifier(self.clock, {"NOTIFY_SOCKET": self.systemd.notify_socket})
        self.addCleanup(self.notifier.stop)

    def test_ready(self):
        """ready() sends READY=1 with the STATUS line in one datagram."""
        self.notifier.ready("0 games, 0 matches")
        self.assertEqual(self.systemd.received(), ["READY=1\nSTATUS=0 games, 0 matches"])

    def test_ready_without_status(self):
        """ready() with no text sends READY=1 alone."""
        self.notifier.ready()
        self.assertEqual(self.systemd.received(), ["READY=1"])

    def test_stopping(self):
        """stopping() sends STOPPING=1."""
        self.notifier.stopping()
        self.assertEqual(self.systemd.received(), ["STOPPING=1"])

    def test_status_newline(self):
        """A newline in the text cannot start a second assignment."""
        self.notifier.status("one\nREADY=1")
        self.assertEqual(self.systemd.received(), ["STATUS=one READY=1"])

    def test_status_rate_limited_latest_wins(self):
        """Within a second only the first STATUS is sent; the newest text follows when the second is up."""
        self.notifier.status("1 game, 0 matches")
        self.clock.advance(0.25)
        self.notifier.status("2 games, 0 matches")
        self.notifier.status("3 games, 1 match")
        self.assertEqual(self.systemd.received(), ["STATUS=1 game, 0 matches"])
        self.clock.advance(0.5)
        self.assertEqual(self.systemd.received(), [])
        self.clock.advance(0.25)
        self.assertEqual(self.systemd.received(), ["STATUS=3 games, 1 match"])
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_status_after_quiet_second_is_immediate(self):
        """A STATUS a second or more after the last one is sent at once."""
        self.notifier.status("a")
        self.clock.advance(1.0)
        self.notifier.status("b")
        self.assertEqual(self.systemd.received(), ["STATUS=a", "STATUS=b"])
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_held_back_status_keeps_the_limit(self):
        """A held-back STATUS sent at the second's end starts a new second of its own."""
        self.notifier.status("a")
        self.notifier.status("b")
        self.clock.advance(1.0)
        self.notifier.status("c")
        self.assertEqual(self.systemd.received(), ["STATUS=a", "STATUS=b"])
        self.clock.advance(1.0)
        self.assertEqual(self.systemd.received(), ["STATUS=c"])

    def test_unchanged_status_not_resent(self):
        """A STATUS equal to the one systemd already shows sends nothing."""
        self.notifier.status("same")
        self.notifier.status("other")
        self.notifier.status("same")
        self.clock.advance(5)
        self.notifier.status("same")
        self.assertEqual(self.systemd.received(), ["STATUS=same"])

    def test_ready_counts_as_status(self):
        """The STATUS carried by READY starts the rate limit, and replaces a held-back text."""
        self.notifier.status("a")
        self.notifier.status("b")
        self.notifier.ready("c")
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.notifier.status("d")
        self.clock.advance(1.0)
        self.assertEqual(self.systemd.received(), ["STATUS=a", "READY=1\nSTATUS=c", "STATUS=d"])

    def test_stop_cancels_pending(self):
        """stop() cancels a held-back STATUS: nothing is sent after it."""
        self.notifier.status("a")
        self.notifier.status("b")
        self.notifier.stop()
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.clock.advance(2)
        self.assertEqual(self.systemd.received(), ["STATUS=a"])

    def test_send_after_stop(self):
        """A notifier still sends after stop() (the socket is opened again)."""
        self.notifier.stop()
        self.notifier.stopping()
        self.assertEqual(self.systemd.received(), ["STOPPING=1"])


class AbstractSocketTests(TestCase):
    """NOTIFY_SOCKET=@name names an abstract socket."""

    def test_abstract(self):
        """Datagrams reach an abstract socket given as @name."""
        systemd = FakeSystemd(self, abstract=True)
        notifier = SystemdNotifier(Clock(), {"NOTIFY_SOCKET": systemd.notify_socket})
        self.addCleanup(notifier.stop)
        notifier.ready("up")
        notifier.stopping()
        self.assertEqual(systemd.received(), ["READY=1\nSTATUS=up", "STOPPING=1"])


class NoSystemdTests(TestCase):
    """Without NOTIFY_SOCKET, or with a broken one, nothing is raised."""

    def test_unset_is_noop(self):
        """With NOTIFY_SOCKET unset every method does nothing and schedules nothing."""
        clock = Clock()
        notifier = SystemdNotifier(clock, {})
        self.assertFalse(notifier.enabled)
        notifier.ready("x")
        notifier.status("a")
        notifier.status("b")
        notifier.stopping()
        notifier.stop()
        self.assertEqual(clock.getDelayedCalls(), [])
        self.assertIsNone(notifier._socket)

    def test_empty_is_noop(self):
        """An empty NOTIFY_SOCKET counts as unset."""
        self.assertFalse(SystemdNotifier(Clock(), {"NOTIFY_SOCKET": ""}).enabled)

    def test_missing_socket_logged(self):
        """A NOTIFY_SOCKET path that does not exist is logged, not raised."""
        directory = tempfile.mkdtemp(prefix="rpsa-sd-")
        self.addCleanup(os.rmdir, directory)
        clock = Clock()
        notifier = SystemdNotifier(clock, {"NOTIFY_SOCKET": os.path.join(directory, "absent")})
        self.addCleanup(notifier.stop)
        notifier.ready("up")
        notifier.status("later")
        clock.advance(1)
        self.assertEqual(len(self.flushLoggedErrors(FileNotFoundError)), 2)

    def test_nobody_listening_logged(self):
        """An abstract NOTIFY_SOCKET nobody is bound to is logged, not raised."""
        notifier = SystemdNotifier(Clock(), {"NOTIFY_SOCKET": f"@rpsa-test-{uuid.uuid4().hex}"})
        self.addCleanup(notifier.stop)
        notifier.stopping()
        self.assertEqual(len(self.flushLoggedErrors(ConnectionRefusedError)), 1)


class StatusTextTests(TestCase):
    """status_text() counts games and matches in words."""

    def test_plural(self):
        """Counts other than one are plural."""
        self.assertEqual(status_text(3, 0), "3 games, 0 matches")

    def test_singular(self):
        """A count of one is singular."""
        self.assertEqual(status_text(1, 1), "1 game, 1 match")

    def test_mixed(self):
        """Each noun agrees with its own count."""
        self.assertEqual(status_text(3, 1), "3 games, 1 match")
