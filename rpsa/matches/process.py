"""One match child process (``python -m rpsa.matches.child``): spawning it, reading it, stopping it.

:class:`MatchProcess` is the ``ProcessProtocol`` of one child: it writes the
lines of :mod:`rpsa.matches.stdio` to the child's stdin and reads its stdout
with that module's framing and parser.  The child's stderr is read and logged
at info level, at most ``MAX_STDERR_LINES`` lines of at most
``MAX_STDERR_LINE`` characters per child; the last line is kept for error
messages.  :class:`MatchChildren` spawns and stops children for the launcher
and the warm pool alike, and counts them against one limit.  Neither knows
about the match table; :mod:`rpsa.matches.launcher` builds on them.
"""

from __future__ import annotations

import os
import sys
from typing import Any, List, Mapping, NamedTuple, Optional

from twisted.internet.defer import Deferred, TimeoutError, fail, maybeDeferred, succeed
from twisted.internet.error import ProcessExitedAlready
from twisted.internet.protocol import ProcessProtocol
from twisted.logger import Logger
from twisted.python.failure import Failure

from rpsa.matches.stdio import (
    MAX_LINE, MAX_MESSAGE, ChildError, LineBuffer, decode_event, encode_line, parse_report, text_of,
)
from rpsa.play.hooks import GameEvents

log = Logger()

# stderr lines are truncated to this many characters when logged ...
MAX_STDERR_LINE = 1024
# ... and at most this many are logged per child; the rest are counted.
MAX_STDERR_LINES = 200


class ExitStatus(NamedTuple):
    """How a child ended: an exit code, or the signal that killed it."""

    exit_code: Optional[int]
    signal: Optional[int]

    @classmethod
    def from_reason(cls, reason: Failure) -> "ExitStatus":
        """The status carried by ``processEnded``'s ``ProcessDone`` or ``ProcessTerminated``."""
        return cls(getattr(reason.value, "exitCode", None), getattr(reason.value, "signal", None))

    @property
    def code(self) -> Optional[int]:
        """The exit code, or minus the signal number (the ``subprocess`` convention)."""
        if self.signal is not None:
            return -self.signal
        return self.exit_code

    def __str__(self) -> str:
        if self.signal is not None:
            return f"signal {self.signal}"
        return f"exit code {self.exit_code}"


class OneShot:
    """A result that arrives once and is handed to any number of waiters.

    Cancelling a waiter's Deferred only detaches that waiter.
    """

    _UNSET = object()

    def __init__(self):
        self._result: Any = self._UNSET
        self._waiters: List[Deferred] = []

    @property
    def fired(self) -> bool:
        """Whether the result is known."""
        return self._result is not self._UNSET

    def when(self) -> Deferred:
        """A new Deferred firing with the result (at once if it is known)."""
        if self.fired:
            return fail(self._result) if isinstance(self._result, Failure) else succeed(self._result)
        d = Deferred(self._waiters.remove)
        self._waiters.append(d)
        return d

    def fire(self, result: Any) -> None:
        """Set the result (a ``Failure`` for an error) and fire every waiter."""
        assert not self.fired, "OneShot fired twice"
        self._result = result
        waiters, self._waiters = self._waiters, []
        for d in waiters:
            if isinstance(result, Failure):
                d.errback(result)
            else:
                d.callback(result)


class ChildListener:
    """Hears a running child's reports (after its port); every method is a no-op here."""

    def child_status(self, status: dict) -> None:
        """The payload of a ``Status:`` line."""

    def child_result(self, result: dict) -> None:
        """The payload of a ``Result:`` line."""


class MatchProcess(ProcessProtocol):
    """The protocol of one match child.

    ``reactor`` spawns and times it; ``name`` labels its log lines;
    ``listener`` (a :class:`ChildListener`) hears its reports.

    :meth:`when_ready` fires with the port from the child's ``Port:`` line, or
    fails with :class:`ChildError`: the child's own ``Error:`` line, or code
    ``child_exited`` if it exits first.  After the port, the listener hears
    the payloads of ``Status:`` and ``Result:`` lines.  :meth:`when_ended` fires with the :class:`ExitStatus` once the
    child has ended and been reaped (Twisted reaps it before calling
    ``processEnded``); at that point this object drops its transport and
    listener, so nothing it holds keeps the child's objects alive.
    """

    pid: Optional[int] = None
    port: Optional[int] = None
    exit_status: Optional[ExitStatus] = None

    def __init__(
        self,
        reactor,
        name: str,
        listener: Optional[ChildListener] = None,
    ):
        self._reactor = reactor
        self.name = name
        self._listener = listener or ChildListener()
        self._ready = OneShot()
        self._ended = OneShot()
        self._stdout = LineBuffer()
        self._stderr = LineBuffer()
        self._stderr_lines = 0
        self._last_stderr = ""
        self._assigned = False
        self._terminating = False
        self._killer = None
        self._events = GameEvents()

    # -- driving the child --------------------------------------------------

    def spawn(self, python: str, env: dict, config_line: bytes, events: Optional[GameEvents] = None) -> None:
        """Start ``python -m rpsa.matches.child`` with ``env`` and write the config line to it.

        ``env`` is passed explicitly (Twisted gives a child with no ``env`` an empty environment);
        ``events`` hears the child's ``Event:`` lines.  Exceptions from ``spawnProcess`` propagate.
        """
        self._events = events or self._events
        self._reactor.spawnProcess(
            self, python, [python, "-m", "rpsa.matches.child"], env=env, childFDs={0: "w", 1: "r", 2: "r"}
        )
        self.transport.write(config_line)

    def assign(
        self,
        match_line: bytes,
        name: Optional[str] = None,
        listener: Optional[ChildListener] = None,
    ) -> None:
        """Write the match line: the child may hold its port before it has a match.

        A warm child, spawned before its match was known, is given its new
        ``name`` and ``listener`` here (those not given are left as they are).
        """
        if self._assigned:
            raise RuntimeError(f"{self.name}: child already has a match")
        if self.transport is None or self.exit_status is not None:
            raise RuntimeError(f"{self.name}: child is not running")
        self._assigned = True
        if name is not None:
            log.info("{old}: child {pid} is now {name}", old=self.name, pid=self.pid, name=name)
            self.name = name
        if listener is not None:
            self._listener = listener
        self.transport.write(match_line)

    def terminate(self, kill_grace: float) -> Deferred:
        """Send SIGTERM, and SIGKILL after ``kill_grace`` seconds; return :meth:`when_ended`."""
        if self.exit_status is None and not self._terminating:
            self._terminating = True
            log.info("{name}: stopping child {pid}", name=self.name, pid=self.pid)
            if self._signal("TERM"):
                self._killer = self._reactor.callLater(kill_grace, self._kill)
        return self.when_ended()

    def when_ready(self) -> Deferred:
        """A Deferred firing with the child's port, or failing with :class:`ChildError`."""
        return self._ready.when()

    def when_ended(self) -> Deferred:
        """A Deferred firing with the child's :class:`ExitStatus` once it has ended."""
        return self._ended.when()

    def _kill(self) -> None:
        self._killer = None
        log.warn("{name}: child {pid} still running after SIGTERM; sending SIGKILL", name=self.name, pid=self.pid)
        self._signal("KILL")

    def _signal(self, signal: str) -> bool:
        try:
            self.transport.signalProcess(signal)
        except ProcessExitedAlready:
            return False
        except OSError:
            log.failure(
                "{name}: could not send SIG{signal} to child {pid}", name=self.name, signal=signal, pid=self.pid
            )
            return False
        return True

    # -- ProcessProtocol -----------------------------------------------------

    def connectionMade(self) -> None:
        self.pid = self.transport.pid
        log.info("{name}: child {pid} started", name=self.name, pid=self.pid)

    def childDataReceived(self, childFD: int, data: bytes) -> None:
        if childFD == 1:
            for line in self._stdout.feed(data):
                self._stdout_line(line)
        elif childFD == 2:
            for line in self._stderr.feed(data):
                self._stderr_line(line)

    def childConnectionLost(self, childFD: int) -> None:
        if childFD == 1:
            for line in self._stdout.close():
                self._stdout_line(line)
        elif childFD == 2:
            for line in self._stderr.close():
                self._stderr_line(line)

    def processEnded(self, reason: Failure) -> None:
        for fd in (1, 2):
            self.childConnectionLost(fd)
        status = self.exit_status = ExitStatus.from_reason(reason)
        if self._killer is not None and self._killer.active():
            self._killer.cancel()
        self._killer = None
        if status.code == 0 or (self._terminating and status.signal is not None):
            log.info("{name}: child {pid} ended with {status}", name=self.name, pid=self.pid, status=status)
        else:
            log.warn(
                "{name}: child {pid} ended with {status} (last stderr line: {stderr!r})",
                name=self.name,
                pid=self.pid,
                status=status,
                stderr=self._last_stderr,
            )
        if self._stderr_lines > MAX_STDERR_LINES:
            log.warn(
                "{name}: {count} more stderr lines from child {pid} were not logged",
                name=self.name,
                count=self._stderr_lines - MAX_STDERR_LINES,
                pid=self.pid,
            )
        if not self._ready.fired:
            message = f"child exited with {status} before reporting its port"
            if self._last_stderr:
                message += f": {self._last_stderr[:MAX_MESSAGE]}"
            self._ready.fire(Failure(ChildError("child_exited", message)))
        # Break the protocol <-> transport and protocol <-> owner cycles.
        self.transport = None
        self._listener = ChildListener()
        self._ended.fire(status)

    # -- lines ----------------------------------------------------------------

    def _stdout_line(self, line: Optional[bytes]) -> None:
        if line is None:
            log.warn("{name}: dropped a stdout line longer than {max} bytes", name=self.name, max=MAX_LINE)
            return
        kind, value = parse_report(line)
        if kind == "port" and not self._ready.fired:
            self.port = value
            log.info("{name}: child {pid} listening on port {port}", name=self.name, pid=self.pid, port=value)
            self._ready.fire(value)
        elif kind == "error" and not self._ready.fired:
            log.warn("{name}: child {pid} failed to start: {error}", name=self.name, pid=self.pid, error=value)
            self._ready.fire(Failure(value))
        elif kind == "error":
            log.warn("{name}: child {pid} reported {error}", name=self.name, pid=self.pid, error=value)
        elif kind in ("status", "result") and self.port is not None:
            hear = self._listener.child_status if kind == "status" else self._listener.child_result
            try:
                hear(value)
            except Exception:
                log.failure("{name}: handling a {kind} line failed", name=self.name, kind=kind)
        elif kind == "event" and self.port is not None:
            self._event(value)
        elif kind == "malformed":
            log.warn("{name}: child {pid} wrote a malformed {what}", name=self.name, pid=self.pid, what=value)
        else:
            log.debug("{name}: ignoring child output {line!r}", name=self.name, line=text_of(line, 200))

    def _event(self, payload: dict) -> None:
        try:
            name, args = decode_event(payload)
        except ValueError as e:
            log.warn("{name}: child {pid} wrote a bad event line: {error}", name=self.name, pid=self.pid, error=e)
            return
        getattr(self._events, name)(*args)  # GameEvents return at once and never raise

    def _stderr_line(self, line: Optional[bytes]) -> None:
        if line is None:
            line = b"<stderr line longer than %d bytes dropped>" % MAX_LINE
        text = text_of(line, MAX_STDERR_LINE)
        if text.strip():
            self._last_stderr = text
        self._stderr_lines += 1
        if self._stderr_lines <= MAX_STDERR_LINES:
            log.info("{name}: child {pid} stderr: {line}", name=self.name, pid=self.pid, line=text)


class MatchChildren:
    """Spawns and stops match children for the launcher and the warm pool alike, and counts them.

    ``reactor`` spawns and times the children.  ``server_config`` is the
    config every child is sent first (see :mod:`rpsa.matches.stdio`).
    ``launch_timeout`` is the seconds a child has to report its port (the
    launcher and the warm pool each time it).  ``max_children`` is the most
    children alive at once, whether starting, running or still being stopped:
    the limit is on processes.  ``kill_grace`` is the seconds between SIGTERM
    and SIGKILL.  ``python`` is the interpreter run as ``python -m
    rpsa.matches.child``.  ``env`` is the children's environment (default: a
    copy of ``os.environ`` taken at each spawn).  ``events``: the
    :class:`~rpsa.play.hooks.GameEvents` the children's games report to (None:
    the children are not asked for their events).
    """

    def __init__(
        self,
        reactor,
        server_config: dict,
        launch_timeout: float = 10.0,
        max_children: int = 100,
        kill_grace: float = 5.0,
        python: str = sys.executable,
        env: Optional[Mapping[str, str]] = None,
        events: Optional[GameEvents] = None,
    ):
        self.reactor = reactor
        self.launch_timeout = launch_timeout
        self.max_children = max_children
        self.kill_grace = kill_grace
        self._events = events
        self._config_line = encode_line(server_config if events is None else dict(server_config, events=True))
        self._python = python
        self._env = None if env is None else dict(env)
        self._alive = 0

    @property
    def room(self) -> int:
        """How many more children may be spawned now (0 or less: none)."""
        return self.max_children - self._alive

    def spawn(self, process: MatchProcess) -> None:
        """Start ``process``'s child and write it the config line; it counts until it has ended.

        Exceptions from spawning propagate; a child that started anyway
        (``process.transport`` is set) counts all the same.
        """
        try:
            env = dict(os.environ) if self._env is None else dict(self._env)
            process.spawn(self._python, env, self._config_line, self._events)
        finally:
            if process.transport is not None:
                self._alive += 1
                process.when_ended().addCallback(self._ended)

    def _ended(self, status: ExitStatus) -> None:
        self._alive -= 1

    def terminate(self, process: MatchProcess) -> Deferred:
        """Send ``process`` SIGTERM, SIGKILL after ``kill_grace``; return :meth:`MatchProcess.when_ended`."""
        return process.terminate(self.kill_grace)

    def stop(self, process: MatchProcess) -> Deferred:
        """:meth:`terminate`, bounded: fires within ``2 * kill_grace`` and never fails (failures logged)."""
        name, pid = process.name, process.pid
        d = maybeDeferred(self.terminate, process)
        d.addTimeout(2 * self.kill_grace, self.reactor)
        d.addErrback(self._stop_failed, name, pid)
        return d

    def _stop_failed(self, failure: Failure, name: str, pid) -> None:
        if failure.check(TimeoutError):
            log.error("{name}: child {pid} did not end after SIGKILL; giving up on it", name=name, pid=pid)
        else:
            log.failure("{name}: stopping child {pid} failed", failure, name=name, pid=pid)
