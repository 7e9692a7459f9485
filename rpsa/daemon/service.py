"""The top service of ``twistd rpsa``: start, the systemd status, and the graceful stop.

:class:`GameServerService` holds the listeners and, last, the
:class:`SystemdStatus` timer (its children, started in that order).
Stopping drains first (see :mod:`rpsa.daemon.drain`): the listeners keep
answering (``/healthz`` says ``draining``) until the running matches have
ended or the drain timeout passed; then every connection is closed, the match
children are stopped, and the listeners stop.  A drain that went through
exits with status 0, not by the signal that started it.

:class:`SignalHandlers` is the one place process signal handlers are set:
SIGUSR1 rotates the log file while the service runs; once a stop began, a
second SIGTERM or SIGINT cuts the drain short.  The service removes them when
it has stopped.
"""

from __future__ import annotations

import signal as signal_module
from typing import Callable, Dict, Optional

from twisted.application import service
from twisted.application.internet import TimerService
from twisted.internet import defer
from twisted.logger import Logger

from rpsa.daemon import logs
from rpsa.daemon.sdnotify import status_text
from rpsa.play import fastpath, wire

log = Logger()

STOP_TIMEOUT = 5.0
STATUS_INTERVAL = 1.0  # seconds between systemd STATUS updates (the notifier drops unchanged text)


class SignalHandlers:
    """Process signal handlers, each running its action on the reactor thread; :meth:`restore` removes them all.

    ``reactor``: runs the actions (``callFromThread``); ``signals``: the
    :mod:`signal` module (a fake in tests).
    """

    def __init__(self, reactor, signals=signal_module):
        self._reactor = reactor
        self._signals = signals
        self._previous: Dict[int, object] = {}

    def install(self, signum: int, action: Callable[[], object], only_if_default: bool = False) -> None:
        """Run ``action`` on ``signum``; ``only_if_default``: not if something else handles it already."""
        current = self._signals.getsignal(signum)
        if only_if_default and current not in (None, self._signals.SIG_DFL):
            return

        def handler(signum, frame):
            self._reactor.callFromThread(action)

        self._previous.setdefault(signum, current)
        self._signals.signal(signum, handler)

    def restore(self) -> None:
        """Put back the handlers that were there before :meth:`install`."""
        for signum, previous in self._previous.items():
            self._signals.signal(signum, previous if previous is not None else self._signals.SIG_DFL)
        self._previous.clear()


class SystemdStatus(TimerService):
    """Tells systemd READY (with the status line) when started, then the status line every second.

    Add it to the top service after the listeners: it starts after them.
    ``systemd``: the :class:`~rpsa.daemon.sdnotify.SystemdNotifier`;
    ``lobby``: the lobby whose games are counted; ``drainer``: the
    :class:`~rpsa.daemon.drain.Drainer` (running matches, and whether it
    drains); ``reactor``: the clock of the timer.
    """

    def __init__(self, systemd, lobby, drainer, reactor):
        super().__init__(STATUS_INTERVAL, self._report)
        self.clock = reactor
        self._systemd = systemd
        self._lobby = lobby
        self._drainer = drainer
        self._ready = False

    def startService(self):
        self._ready = False
        super().startService()  # calls _report at once: READY

    def text(self) -> str:
        """The status line now, e.g. ``3 games, 1 match`` (``draining: ...`` while draining)."""
        text = status_text(len(self._lobby.games), self._drainer.running_matches())
        return "draining: " + text if self._drainer.state.active else text

    def _report(self) -> None:
        if not self._ready:
            self._ready = True
            self._systemd.ready(self.text())
        else:
            self._systemd.status(self.text())  # rate-limited; unchanged text is not resent


class GameServerService(logs.ProvidesLogObserver, service.MultiService):
    """The top service: its children are the listeners and the :class:`SystemdStatus`; it drains, closes and exits cleanly.

    ``lobby``: the :class:`~rpsa.lobby.games.Lobby` (its games, closed at the
    end); ``scheduler``: the :class:`~rpsa.play.ticker.TickScheduler`, stopped
    at the end; ``launcher``: the match launcher (a child service, started
    before the listeners; its children are stopped after the drain); ``drainer``: the
    :class:`~rpsa.daemon.drain.Drainer`; ``reactor``: time, and the clean-exit
    patch; ``systemd``: the :class:`~rpsa.daemon.sdnotify.SystemdNotifier`;
    ``notifier``: the match notifier, stopped after the children (or None);
    ``warm_pool``: the :class:`~rpsa.matches.warmpool.WarmPool` (a child
    service, stopped as the drain begins: a drain needs no warm children);
    ``signals``: the :class:`SignalHandlers` (None: touch no signal);
    ``log_file``: the log file SIGUSR1 rotates (or None); ``tune_gc``: tune
    CPython's cyclic GC for a long-running server at start; ``lean_poll``: at
    start, let the reactor (if it is the epoll one) handle ready sockets without
    the legacy per-event log context (both in :mod:`rpsa.play.fastpath`).
    """

    def __init__(self, lobby, scheduler, launcher, drainer, reactor, systemd, notifier=None, warm_pool=None,
                 signals: Optional[SignalHandlers] = None, log_file=None, tune_gc: bool = False,
                 lean_poll: bool = False):
        super().__init__()
        self.lobby = lobby
        self.scheduler = scheduler
        self.launcher = launcher
        self.drainer = drainer
        self.systemd = systemd
        self.notifier = notifier
        self.warm_pool = warm_pool
        self._reactor = reactor
        self._signals = signals
        self._log_file = log_file
        self._tune_gc = tune_gc
        self._lean_poll = lean_poll

    def startService(self):
        if self._tune_gc:
            fastpath.tune_gc()  # why and what it bought: rpsa.play.fastpath
        if self._lean_poll:
            fastpath.lean_poll(self._reactor)  # idem
        if self._signals is not None and self._log_file is not None:
            self._signals.install(signal_module.SIGUSR1, self._log_file.rotate, only_if_default=True)
        super().startService()  # the launcher, the listeners, the warm pool, then SystemdStatus says READY
        log.info("rpsa {version} serving", version=_version())

    def stopService(self):
        self.systemd.stopping()
        if self._signals is not None:
            # The first SIGTERM/SIGINT started this stop; a second one cuts the drain short.
            for signum in (signal_module.SIGTERM, signal_module.SIGINT):
                self._signals.install(signum, self.drainer.hurry)
        if self.warm_pool is not None and self.warm_pool.running:
            self.warm_pool.stopService()  # bounded and logged by the pool; stopping it again later is a no-op
        d = self.drainer.drain()
        d.addCallback(lambda _: self._close_everything())
        d.addErrback(lambda f: log.failure("stopping: closing games and matches failed", f))
        d.addCallback(lambda _: super(GameServerService, self).stopService())
        d.addErrback(lambda f: log.failure("stopping the listeners failed", f))
        d.addCallback(lambda _: self._exit_cleanly())
        d.addBoth(self._stopped)
        return d

    def _stopped(self, result):
        self.systemd.stop()
        if self._signals is not None:
            self._signals.restore()
        return result

    def _close_everything(self) -> defer.Deferred:
        connections = [conn.is_closed for conn in self.lobby.connections()]
        self.lobby.close_all(wire.SHUTTING_DOWN, wire.CLOSE_REASONS[wire.SHUTTING_DOWN])
        self.scheduler.stop()
        children = defer.maybeDeferred(self.launcher.stopService)
        if self.notifier is not None:
            # After the children: their match_ended events are still sent (the notifier bounds its retries).
            children.addBoth(lambda _: self.notifier.stopService())
        closed = defer.DeferredList([*connections, children], consumeErrors=True)
        closed.addTimeout(STOP_TIMEOUT, self._reactor)
        closed.addErrback(lambda f: log.warn("stopping: not everything closed within {t}s", t=STOP_TIMEOUT))
        return closed

    def _exit_cleanly(self) -> None:
        # twistd re-raises the stopping signal after shutdown (so the exit status
        # says "killed by SIGTERM"); a completed graceful stop exits 0 instead.
        # _exitSignal is private to the reactor: no public way to say "this stop was clean".
        if getattr(self._reactor, "_exitSignal", None) is not None:
            self._reactor._exitSignal = None


def _version() -> str:
    from rpsa import __version__

    return __version__
