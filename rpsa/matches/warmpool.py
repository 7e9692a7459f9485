"""The warm pool: match children spawned ahead of time, holding a port, waiting for their match.

:class:`WarmPool` is a :class:`~twisted.application.service.Service`: from
:meth:`~WarmPool.startService` it keeps up to ``size`` children spawned with the
config line only (see :mod:`rpsa.matches.stdio`).  Once one has printed its
port it is *ready*, and :meth:`~WarmPool.take` (called by
:meth:`rpsa.matches.launcher.MatchLauncher.launch`) hands the oldest ready one
its match line, so the launch answers without waiting for a child to start
and bind.  A used warm child is replaced on the next reactor turn (after the
launch has answered).  Warm children are processes, so they count towards the
shared limit of :class:`~rpsa.matches.process.MatchChildren` (the pool shrinks
rather than exceed it), but they are not matches: the launcher never lists
them.  A warm child that fails to start (``Error:`` line, exit, no port within
``launch_timeout``) or dies while it waits is logged, stopped if need be, and
replaced after a delay that starts at ``WARM_RETRY_MIN`` seconds and doubles
up to ``WARM_RETRY_MAX``; a warm child that reports its port resets the delay.
A warm child's join timeout starts when its match arrives (the child's doing).
"""

from __future__ import annotations

from collections import deque
from typing import List, Optional

from twisted.application import service
from twisted.internet.defer import Deferred, DeferredList
from twisted.logger import Logger
from twisted.python.failure import Failure

from rpsa.matches.process import ChildListener, MatchChildren, MatchProcess
from rpsa.matches.stdio import ChildError

log = Logger()

# The delay before replacing a warm child that failed: doubled after each
# failure up to the maximum, and reset by a warm child that gets its port.
WARM_RETRY_MIN = 1.0
WARM_RETRY_MAX = 30.0

# A warm child's states.
STARTING, READY, FAILED, STOPPING = "starting", "ready", "failed", "stopping"


class _Warm:
    """The pool's bookkeeping for one warm child, until a match takes it or it ends.

    ``state`` is ``starting`` (no port yet), ``ready`` (holding a port),
    ``failed`` (being stopped after a failure) or ``stopping`` (stopped with
    the pool).  ``process``: the child's :class:`~rpsa.matches.process.MatchProcess`.
    """

    def __init__(self, process: MatchProcess):
        self.process = process
        self.state = STARTING
        self.timer = None  # the port timeout, while starting
        self.taken = False  # a match took it: the launcher owns it now

    def cancel_timer(self) -> None:
        if self.timer is not None and self.timer.active():
            self.timer.cancel()
        self.timer = None


class WarmPool(service.Service):
    """Keeps ``size`` warm children (0: none) once started, spawned and counted by ``children``.

    ``children`` is the :class:`~rpsa.matches.process.MatchChildren` the
    launcher uses too: it times each warm child's start (``launch_timeout``),
    bounds the processes, and stops them.  Once stopped, the pool warms no more.
    """

    def __init__(self, children: MatchChildren, size: int = 0):
        if size < 0:
            raise ValueError("the warm pool's size must be >= 0")
        self._children = children
        self._reactor = children.reactor
        self._size = size
        self._warming = False
        self._stopped = False
        self._warm: List[_Warm] = []  # every warm child not taken and not ended
        self._ready: "deque[_Warm]" = deque()  # the ready ones, oldest first
        self._count = 0  # numbers the warm children in log lines
        self._delay = WARM_RETRY_MIN
        self._retry = None  # the delayed replacement after a failure
        self._refill = None  # the replacement of a used warm child, next turn

    @property
    def warm(self) -> int:
        """How many warm children the pool keeps (``--warm-matches``)."""
        return self._size

    @property
    def warm_ready(self) -> int:
        """How many warm children hold a port and wait for a match."""
        return len(self._ready)

    # -- the service ------------------------------------------------------------

    def startService(self) -> None:
        """Start keeping ``size`` warm children (nothing if ``size`` is 0 or the pool was stopped)."""
        super().startService()
        if self._stopped or self._size == 0:
            return
        if not self._warming:
            log.info("keeping {count} warm match children", count=self._size)
        self._warming = True
        self.fill()

    def stopService(self) -> Deferred:
        """Stop keeping warm children and stop those there are (TERM, then KILL).

        Fires with ``None`` once they have ended, within ``2 * kill_grace``;
        never fails.  Matches already handed to warm children are not touched.
        """
        super().stopService()
        self._warming = False
        self._stopped = True
        for call in (self._retry, self._refill):
            if call is not None and call.active():
                call.cancel()
        self._retry = self._refill = None
        self._ready.clear()
        warm = list(self._warm)
        if warm:
            log.info("stopping {count} warm match children", count=len(warm))
        waits = []
        for child in warm:
            child.cancel_timer()
            child.state = STOPPING
            waits.append(self._children.stop(child.process))
        return DeferredList(waits).addCallback(lambda _: None)

    # -- for the launcher -----------------------------------------------------------

    def take(self, match_line: bytes, name: str, listener: ChildListener, starting_too: bool) -> Optional[MatchProcess]:
        """Hand a match to the oldest ready warm child, and return its process (``None``: no child to take).

        With ``starting_too`` (the launcher is at its limit), a warm child
        still starting will do when none is ready.  The child is renamed
        ``name`` and reports to ``listener`` from now on; it leaves the pool,
        and a replacement comes next turn.  If the child cannot take the match,
        it is stopped and replaced, and the error is raised.
        """
        child = self._ready[0] if self._ready else None
        if child is None and starting_too:
            child = next((w for w in self._warm if w.state == STARTING), None)
        if child is None:
            return None
        process = child.process
        try:
            process.assign(match_line, name=name, listener=listener)
        except Exception:
            log.failure("{name}: could not hand the match to {warm}", name=name, warm=process.name)
            self._lost(child, "it could not take a match")
            raise
        child.taken = True
        child.cancel_timer()
        self._warm.remove(child)
        if child in self._ready:
            self._ready.remove(child)
        if self._warming and (self._refill is None or not self._refill.active()):
            self._refill = self._reactor.callLater(0, self._refilled)
        return process

    def fill(self) -> None:
        """Spawn warm children up to ``size``, within the children's limit, unless a retry is pending."""
        if not self._warming:
            return
        if self._retry is not None and self._retry.active():
            return
        healthy = sum(1 for child in self._warm if child.state in (STARTING, READY))
        for _ in range(min(self._size - healthy, self._children.room)):
            if not self._spawn():
                return

    # -- the warm children ------------------------------------------------------------

    def _spawn(self) -> bool:
        """Spawn one warm child; on failure, log it, schedule a retry and return False."""
        self._count += 1
        process = MatchProcess(self._reactor, f"warm child {self._count}")
        child = _Warm(process)
        try:
            self._children.spawn(process)
        except Exception:
            log.failure("{name}: could not start a child", name=process.name)
            if process.transport is None:
                self._retry_later()
                return False
            self._warm.append(child)
            process.when_ended().addCallback(self._ended, child)
            self._lost(child, "it could not be started")
            return False
        self._warm.append(child)
        child.timer = self._reactor.callLater(self._children.launch_timeout, self._timed_out, child)
        process.when_ready().addCallbacks(self._got_port, self._start_failed, callbackArgs=(child,), errbackArgs=(child,))
        process.when_ended().addCallback(self._ended, child)
        return True

    def _refilled(self) -> None:
        self._refill = None
        self.fill()

    def _got_port(self, port: int, child: _Warm) -> None:
        if child.taken or child.state != STARTING:
            return
        child.cancel_timer()
        child.state = READY
        self._ready.append(child)
        self._delay = WARM_RETRY_MIN
        log.info(
            "{name}: ready on port {port} ({ready} of {target} warm children ready)",
            name=child.process.name,
            port=port,
            ready=len(self._ready),
            target=self._size,
        )

    def _start_failed(self, failure: Failure, child: _Warm) -> None:
        failure.trap(ChildError)
        if not child.taken:
            self._lost(child, f"it failed to start ({failure.value})")

    def _timed_out(self, child: _Warm) -> None:
        child.timer = None
        self._lost(child, f"it did not report its port within {self._children.launch_timeout:g} seconds")

    def _lost(self, child: _Warm, why: str) -> None:
        """Stop ``child`` (which stays counted until it has ended) and schedule its replacement."""
        if child.state in (FAILED, STOPPING):
            return
        child.cancel_timer()
        child.state = FAILED
        if child in self._ready:
            self._ready.remove(child)
        log.warn("{name}: warm child {pid} is lost: {why}", name=child.process.name, pid=child.process.pid, why=why)
        self._children.terminate(child.process)
        self._retry_later()

    def _ended(self, status, child: _Warm) -> None:
        if child.taken:
            return
        child.cancel_timer()
        if child.state in (STARTING, READY):  # died on its own while waiting
            self._lost(child, f"it ended with {status}")
        if child in self._warm:
            self._warm.remove(child)
        self.fill()  # its slot is free (a pending retry comes first)

    def _retry_later(self) -> None:
        """Fill the pool again after the current delay, which then doubles (bounded)."""
        if not self._warming:
            return
        if self._retry is not None and self._retry.active():
            return
        delay = self._delay
        self._delay = min(delay * 2, WARM_RETRY_MAX)
        log.info("replacing lost warm children in {delay:g} seconds", delay=delay)
        self._retry = self._reactor.callLater(delay, self._retried)

    def _retried(self) -> None:
        self._retry = None
        self.fill()
