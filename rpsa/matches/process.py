"""One match child process (``python -m rpsa.matches.child``): spawning it, reading it, stopping it.

The daemon and a child talk over the child's standard streams:

- stdin, daemon to child: one JSON line with the server config, then (at once
  for a cold launch, later for a warm child) one JSON line with the match.
  The daemon never closes stdin while the child lives: the child exits when
  stdin reaches EOF, which is how it notices a daemon killed with SIGKILL.
- stdout, child to daemon: ``Port: N`` once the child listens,
  ``Error: [code: ]message`` if it cannot start, then ``Status: {json}`` and
  ``Result: {json}`` lines.  Any other line is noise, logged at debug level.
- stderr: read and logged at info level, at most ``MAX_STDERR_LINES`` lines of
  at most ``MAX_STDERR_LINE`` characters per child; the last line is kept for
  error messages.

:class:`MatchProcess` is the ``ProcessProtocol`` for one child.  It knows
nothing about the match table; :mod:`rpsa.matches.launcher` builds on it.
"""

from __future__ import annotations

import json
import re
from typing import Any, Callable, List, NamedTuple, Optional, Tuple

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.error import ProcessExitedAlready
from twisted.internet.protocol import ProcessProtocol
from twisted.logger import Logger
from twisted.python.failure import Failure

log = Logger()

PORT_LINE = re.compile(rb"^Port:\s(\d+)\n?")
ERROR_LINE = re.compile(rb"^Error:\s(?:([a-z][a-z0-9_]*):\s)?(.*)", re.S)
JSON_LINE = re.compile(rb"^(Status|Result):\s(.*)", re.S)

DEFAULT_ERROR_CODE = "child_error"

# A partial stdout line longer than this is dropped, so a runaway child
# cannot make the daemon buffer without bound.
MAX_LINE = 64 * 1024
# stderr lines are truncated to this many characters when logged ...
MAX_STDERR_LINE = 1024
# ... and at most this many are logged per child; the rest are counted.
MAX_STDERR_LINES = 200
# Error messages from a child are cut to this many characters.
MAX_MESSAGE = 500


class ChildError(Exception):
    """A child that could not start: ``code`` (snake_case) and a human ``message``."""

    def __init__(self, code: str, message: str):
        super().__init__(code, message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class ExitStatus(NamedTuple):
    """How a child ended: an exit code, or the signal that killed it."""

    exit_code: Optional[int]
    signal: Optional[int]

    @classmethod
    def fromReason(cls, reason: Failure) -> "ExitStatus":
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


def encode_line(value: Any) -> bytes:
    """``value`` as one compact JSON line (raises ``TypeError``/``ValueError`` if it is not JSON)."""
    return json.dumps(value, separators=(",", ":"), allow_nan=False).encode("utf-8") + b"\n"


def _text(raw: bytes, limit: int = MAX_MESSAGE) -> str:
    return raw.decode("utf-8", "replace").rstrip("\r\n")[:limit]


def parse_line(line: bytes) -> Tuple[str, Any]:
    """Classify one complete stdout line of a child.

    Returns one of ``("port", int)``, ``("error", ChildError)``,
    ``("status", dict)``, ``("result", dict)``, ``("malformed", str)`` (a
    status or result line whose payload is not a JSON object) or
    ``("noise", str)``.
    """
    match = PORT_LINE.match(line)
    if match:
        port = int(match.group(1))
        if not 0 < port < 65536:
            return "error", ChildError("bad_port", f"child reported port {port}")
        return "port", port
    match = ERROR_LINE.match(line)
    if match:
        code = match.group(1).decode("ascii") if match.group(1) else DEFAULT_ERROR_CODE
        return "error", ChildError(code, _text(match.group(2)))
    match = JSON_LINE.match(line)
    if match:
        kind = match.group(1).decode("ascii").lower()
        try:
            payload = json.loads(match.group(2))
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            return "malformed", f"{kind} line is not a JSON object: {_text(match.group(2), 200)!r}"
        return kind, payload
    return "noise", _text(line, 200)


class LineBuffer:
    """Splits a byte stream into lines, dropping any line longer than ``max_length``.

    A dropped line comes out as ``None``.  The work done per chunk is
    proportional to the chunk, however the stream is split.
    """

    def __init__(self, max_length: int):
        self._max = max_length
        self._buffer = bytearray()
        self._dropping = False

    def feed(self, data: bytes) -> List[Optional[bytes]]:
        """Add ``data``; return the lines it completed, without their ``\\n``."""
        lines: List[Optional[bytes]] = []
        if b"\n" not in data:
            self._append(data, lines)
            return lines
        head, *middle, tail = data.split(b"\n")
        self._append(head, lines)
        if not self._dropping:
            lines.append(bytes(self._buffer))
        self._buffer.clear()
        self._dropping = False
        lines.extend(None if len(line) > self._max else line for line in middle)
        self._append(tail, lines)
        return lines

    def close(self) -> List[bytes]:
        """End of stream: return the unterminated last line, if any."""
        rest = [] if self._dropping or not self._buffer else [bytes(self._buffer)]
        self._buffer.clear()
        self._dropping = False
        return rest

    def _append(self, data: bytes, lines: List[Optional[bytes]]) -> None:
        if self._dropping:
            return
        if len(self._buffer) + len(data) > self._max:
            self._buffer.clear()
            self._dropping = True
            lines.append(None)
        else:
            self._buffer += data


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


class MatchProcess(ProcessProtocol):
    """The protocol of one match child; ``name`` labels its log lines.

    :meth:`whenReady` fires with the port from the child's ``Port:`` line, or
    fails with :class:`ChildError`: the child's own ``Error:`` line, or code
    ``child_exited`` if it exits first.  After the port, ``on_status`` and
    ``on_result`` are called with the payloads of ``Status:`` and ``Result:``
    lines.  :meth:`whenEnded` fires with the :class:`ExitStatus` once the
    child has ended and been reaped (Twisted reaps it before calling
    ``processEnded``); at that point this object drops its transport and
    callbacks, so nothing it holds keeps the child's objects alive.
    """

    pid: Optional[int] = None
    port: Optional[int] = None
    exit_status: Optional[ExitStatus] = None

    def __init__(
        self,
        reactor,
        name: str,
        on_status: Optional[Callable[[dict], None]] = None,
        on_result: Optional[Callable[[dict], None]] = None,
    ):
        self._reactor = reactor
        self.name = name
        self._on_status = on_status
        self._on_result = on_result
        self._ready = OneShot()
        self._ended = OneShot()
        self._stdout = LineBuffer(MAX_LINE)
        self._stderr = LineBuffer(MAX_LINE)
        self._stderr_lines = 0
        self._last_stderr = ""
        self._assigned = False
        self._terminating = False
        self._killer = None

    # -- driving the child --------------------------------------------------

    def spawn(self, python: str, env: dict, config_line: bytes) -> None:
        """Start ``python -m rpsa.matches.child`` with ``env`` and write the config line to it.

        ``env`` is passed explicitly (Twisted gives a child with no ``env`` an
        empty environment).  Exceptions from ``spawnProcess`` propagate.
        """
        self._reactor.spawnProcess(
            self, python, [python, "-m", "rpsa.matches.child"], env=env, childFDs={0: "w", 1: "r", 2: "r"}
        )
        self.transport.write(config_line)

    def assign(
        self,
        match_line: bytes,
        name: Optional[str] = None,
        on_status: Optional[Callable[[dict], None]] = None,
        on_result: Optional[Callable[[dict], None]] = None,
    ) -> None:
        """Write the match line: the child may hold its port before it has a match.

        A warm child, spawned before its match was known, is given its new
        ``name`` and its ``on_status``/``on_result`` callbacks here (those
        not given are left as they are).
        """
        if self._assigned:
            raise RuntimeError(f"{self.name}: child already has a match")
        if self.transport is None or self.exit_status is not None:
            raise RuntimeError(f"{self.name}: child is not running")
        self._assigned = True
        if name is not None:
            log.info("{old}: child {pid} is now {name}", old=self.name, pid=self.pid, name=name)
            self.name = name
        if on_status is not None:
            self._on_status = on_status
        if on_result is not None:
            self._on_result = on_result
        self.transport.write(match_line)

    def terminate(self, kill_grace: float) -> Deferred:
        """Send SIGTERM, and SIGKILL after ``kill_grace`` seconds; return :meth:`whenEnded`."""
        if self.exit_status is None and not self._terminating:
            self._terminating = True
            log.info("{name}: stopping child {pid}", name=self.name, pid=self.pid)
            if self._signal("TERM"):
                self._killer = self._reactor.callLater(kill_grace, self._kill)
        return self.whenEnded()

    def whenReady(self) -> Deferred:
        """A Deferred firing with the child's port, or failing with :class:`ChildError`."""
        return self._ready.when()

    def whenEnded(self) -> Deferred:
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
                self._stdoutLine(line)
        elif childFD == 2:
            for line in self._stderr.feed(data):
                self._stderrLine(line)

    def childConnectionLost(self, childFD: int) -> None:
        if childFD == 1:
            for line in self._stdout.close():
                self._stdoutLine(line)
        elif childFD == 2:
            for line in self._stderr.close():
                self._stderrLine(line)

    def processEnded(self, reason: Failure) -> None:
        for fd in (1, 2):
            self.childConnectionLost(fd)
        status = self.exit_status = ExitStatus.fromReason(reason)
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
        self._on_status = self._on_result = None
        self._ended.fire(status)

    # -- lines ----------------------------------------------------------------

    def _stdoutLine(self, line: Optional[bytes]) -> None:
        if line is None:
            log.warn("{name}: dropped a stdout line longer than {max} bytes", name=self.name, max=MAX_LINE)
            return
        kind, value = parse_line(line)
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
            callback = self._on_status if kind == "status" else self._on_result
            if callback is not None:
                try:
                    callback(value)
                except Exception:
                    log.failure("{name}: handling a {kind} line failed", name=self.name, kind=kind)
        elif kind == "malformed":
            log.warn("{name}: child {pid} wrote a malformed {what}", name=self.name, pid=self.pid, what=value)
        else:
            log.debug("{name}: ignoring child output {line!r}", name=self.name, line=_text(line, 200))

    def _stderrLine(self, line: Optional[bytes]) -> None:
        if line is None:
            line = b"<stderr line longer than %d bytes dropped>" % MAX_LINE
        text = _text(line, MAX_STDERR_LINE)
        if text.strip():
            self._last_stderr = text
        self._stderr_lines += 1
        if self._stderr_lines <= MAX_STDERR_LINES:
            log.info("{name}: child {pid} stderr: {line}", name=self.name, pid=self.pid, line=text)
