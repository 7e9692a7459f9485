"""rpsa.daemon.service: the top service's start and stop, the systemd status timer, and signal handlers."""

import signal

from twisted.trial.unittest import SynchronousTestCase

from rpsa.daemon.drain import Drainer
from rpsa.daemon.service import GameServerService, SignalHandlers, SystemdStatus
from rpsa.play import fastpath, wire
from tests.daemon.test_drain import DrainTestCase, FakeWarmPool


class FakeSystemd:
    """Records what would be sent to NOTIFY_SOCKET."""

    def __init__(self):
        self.sent = []

    def ready(self, status):
        self.sent.append(("READY", status))

    def stopping(self):
        self.sent.append(("STOPPING",))

    def status(self, text):
        self.sent.append(("STATUS", text))

    def stop(self):
        self.sent.append(("stop",))


class FakeSignals:
    """The parts of the signal module SignalHandlers uses, recording handlers instead of setting them."""

    SIG_DFL = signal.SIG_DFL

    def __init__(self):
        self.handlers = {}

    def getsignal(self, signum):
        return self.handlers.get(signum, self.SIG_DFL)

    def signal(self, signum, handler):
        self.handlers[signum] = handler


class FakeReactor:
    """Runs callFromThread at once."""

    def callFromThread(self, f, *args):
        f(*args)


class FakeLogFile:
    """Counts rotations."""

    rotations = 0

    def rotate(self):
        self.rotations += 1


class ServiceTestCase(DrainTestCase):
    """A started GameServerService (with its SystemdStatus) over the drain fixtures."""

    def make_service(self, timeout=600, signals=None, log_file=None, **flags):
        self.systemd = FakeSystemd()
        drainer = Drainer(self.clock, self.state, self.lobby, self.launcher, timeout=timeout)
        self.warm_pool = FakeWarmPool()
        service = GameServerService(self.lobby, self.scheduler, self.launcher, drainer, self.clock, self.systemd,
                                    warm_pool=self.warm_pool, signals=signals, log_file=log_file, **flags)
        self.launcher.setServiceParent(service)
        self.warm_pool.setServiceParent(service)
        SystemdStatus(self.systemd, self.lobby, drainer, self.clock).setServiceParent(service)
        service.startService()
        return service


class ServiceStartTests(ServiceTestCase):
    """What GameServerService.startService does to the process, when asked."""

    def test_fast_paths_when_asked(self):
        """tune_gc and lean_poll run at start (the latter on the service's reactor), and only when asked."""
        calls = []
        self.patch(fastpath, "tune_gc", lambda: calls.append("tune_gc"))
        self.patch(fastpath, "lean_poll", lambda reactor: calls.append(("lean_poll", reactor)))
        self.make_service()
        self.assertEqual(calls, [])
        self.make_service(tune_gc=True, lean_poll=True)
        self.assertEqual(calls, ["tune_gc", ("lean_poll", self.clock)])


class ServiceStopTests(ServiceTestCase):
    """GameServerService.stopService: STOPPING, drain, close, exit 0."""

    def test_ready_then_stopping(self):
        """READY with the counts once started; STOPPING first thing when the stop begins."""
        service = self.make_service()
        self.assertEqual(self.systemd.sent, [("READY", "2 games, 2 matches")])
        self.assertTrue(self.warm_pool.running)
        service.stopService()
        self.assertEqual(self.systemd.sent[1], ("STOPPING",))
        self.assertFalse(self.warm_pool.running)

    def test_status_every_second(self):
        """After READY the status line is reported every second, saying so while draining."""
        service = self.make_service()
        self.clock.advance(1)
        self.assertEqual(self.systemd.sent[-1], ("STATUS", "2 games, 2 matches"))
        service.stopService()
        self.clock.advance(1)
        self.assertEqual([s for s in self.systemd.sent if s[0] == "STATUS"][-1],
                         ("STATUS", "draining: 1 game, 1 match"))

    def test_stop_after_drain_timeout_closes_everything(self):
        """At the drain timeout the running game's sockets close with 4104 and the children are stopped."""
        service = self.make_service(timeout=5)
        self.clock._exitSignal = 15  # what twistd's SIGTERM handler records
        stopped = service.stopService()
        self.clock.advance(5)
        self.assertEqual((self.host.close_code, self.guest.close_code), (wire.SHUTTING_DOWN, wire.SHUTTING_DOWN))
        self.assertTrue(self.launcher.stopped_all)
        self.successResultOf(stopped)
        self.assertIsNone(self.clock._exitSignal)  # a clean stop exits 0, not by the signal
        self.assertEqual(self.systemd.sent[-1], ("stop",))

    def test_completed_game_closes_normally(self):
        """A game that completed during the drain closes with 1000 when the service stops."""
        service = self.make_service()
        stopped = service.stopService()
        self.finish_match()
        self.launcher.records[1].state = "ended"
        self.clock.advance(0.5)
        self.successResultOf(stopped)
        self.assertEqual((self.host.close_code, self.guest.close_code), (1000, 1000))


class ServiceSignalTests(ServiceTestCase):
    """The service installs its signal handlers while it runs or stops, and removes them once stopped."""

    def test_hurry_and_rotate(self):
        """SIGUSR1 rotates the log file while running; once stopping, SIGTERM hurries; all removed at the end."""
        fake = FakeSignals()
        log_file = FakeLogFile()
        service = self.make_service(signals=SignalHandlers(FakeReactor(), fake), log_file=log_file)
        fake.handlers[signal.SIGUSR1](signal.SIGUSR1, None)
        self.assertEqual(log_file.rotations, 1)
        self.assertNotIn(signal.SIGTERM, fake.handlers)
        stopped = service.stopService()
        self.assertNoResult(stopped)
        fake.handlers[signal.SIGTERM](signal.SIGTERM, None)
        self.successResultOf(stopped)
        self.assertEqual({signum: fake.getsignal(signum) for signum in (signal.SIGUSR1, signal.SIGTERM, signal.SIGINT)},
                         dict.fromkeys((signal.SIGUSR1, signal.SIGTERM, signal.SIGINT), signal.SIG_DFL))


class SignalHandlersTests(SynchronousTestCase):
    """SignalHandlers: actions on the reactor thread, only-if-default, restore."""

    def test_install_and_restore(self):
        """An installed action runs on a signal; restore puts back the previous handler."""
        previous = object()
        fake = FakeSignals()
        fake.handlers[signal.SIGTERM] = previous
        ran = []
        handlers = SignalHandlers(FakeReactor(), fake)
        handlers.install(signal.SIGTERM, lambda: ran.append("hurry"))
        handlers.install(signal.SIGTERM, lambda: ran.append("again"))
        fake.handlers[signal.SIGTERM](signal.SIGTERM, None)
        self.assertEqual(ran, ["again"])
        handlers.restore()
        self.assertIs(fake.handlers[signal.SIGTERM], previous)

    def test_only_if_default(self):
        """With only_if_default, a signal something else handles is left alone."""
        theirs = object()
        fake = FakeSignals()
        fake.handlers[signal.SIGUSR1] = theirs
        handlers = SignalHandlers(FakeReactor(), fake)
        handlers.install(signal.SIGUSR1, lambda: None, only_if_default=True)
        self.assertIs(fake.handlers[signal.SIGUSR1], theirs)
        handlers.install(signal.SIGUSR2, lambda: None, only_if_default=True)
        self.assertIsNot(fake.handlers[signal.SIGUSR2], signal.SIG_DFL)
        handlers.restore()
        self.assertEqual((fake.handlers[signal.SIGUSR1], fake.handlers[signal.SIGUSR2]), (theirs, signal.SIG_DFL))
