"""The match launcher: one ``python -m rpsa.matches.child`` child per match, and the table of matches.

:meth:`MatchLauncher.launch` spawns a child (see :mod:`rpsa.matches.process` for
the protocol), writes it the server config and the match, and fires with the
match's :class:`MatchRecord` once the child reports its port.

A match's ``state`` is one of:

- ``starting``: spawned, no port yet;
- ``waiting`` / ``playing``: running, as the child's ``Status:`` lines say;
- ``ended``: the match is over: the child wrote a ``Result:`` line (``result``
  is set, or ``reason`` is ``"abandoned"``), or the daemon stopped it,
  before or after its port line (``reason`` ``"stopped"``);
- ``failed``: the launch failed (``reason`` is the error code, e.g.
  ``launch_timeout``), or the child exited after its port line without a
  ``Result:`` line, whatever its exit status (``reason`` ``"child_exited"``):
  a match that did not finish is a failure.

``exit_code`` is set once the child has ended: its exit code, or minus the
signal that killed it.  A record stays in the live table while its child
runs, then moves to a bounded list of recently ended matches.  A child that
is still running ``result_grace`` seconds after its ``Result:`` line is
stopped.

Hooks: ``on_ready(record)`` is called when a match gets its port, and
``on_ended(record)`` once for such a match when it ends or fails (at the
``Result:`` line if there is one, else when its child exits).  Failed
launches call neither: their error goes to the caller of ``launch``.

The warm pool (``warm=N``, started by :meth:`MatchLauncher.startWarming`):
up to N children spawned ahead of time with the config line only.  Once one
has printed its port it is *ready*, and :meth:`~MatchLauncher.launch` hands
the oldest ready one its match line and fires at once, without waiting for a
child to start and bind.  A used warm child is replaced on the next reactor
turn (after the launch has answered).  Warm children are processes, so they
count towards ``max_matches`` (the pool shrinks rather than exceed it), but
they are not matches: :meth:`~MatchLauncher.get` and
:meth:`~MatchLauncher.list` never show them.  A warm child that fails to
start (``Error:`` line, exit, no port within ``launch_timeout``) or dies
while it waits is logged, stopped if need be, and replaced after a delay
that starts at ``WARM_RETRY_MIN`` seconds and doubles up to
``WARM_RETRY_MAX``; a warm child that reports its port resets the delay.
A warm child's join timeout starts when its match arrives (the child's doing).
"""

from __future__ import annotations

import json
import os
import sys
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional

from twisted.internet.defer import Deferred, DeferredList, TimeoutError, fail, maybeDeferred, succeed
from twisted.logger import Logger
from twisted.python.failure import Failure

from rpsa.matches.process import ChildError, MatchProcess, OneShot, encode_line

log = Logger()

RUNNING = ("waiting", "playing")

# The delay before replacing a warm child that failed: doubled after each
# failure up to the maximum, and reset by a warm child that gets its port.
WARM_RETRY_MIN = 1.0
WARM_RETRY_MAX = 30.0


class LaunchError(Exception):
    """A launch that failed: a snake_case ``code``, a ``message``, and the HTTP ``status`` to answer."""

    def __init__(self, code: str, message: str, status: int = 503):
        super().__init__(code, message, status)
        self.code = code
        self.message = message
        self.status = status

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


@dataclass(eq=False)
class MatchRecord:
    """What the daemon knows about one match; ``request`` is the launch request as JSON."""

    match_id: str
    request: Dict[str, Any]
    state: str = "starting"
    port: Optional[int] = None
    pid: Optional[int] = None
    players: List[Dict[str, Any]] = field(default_factory=list)
    result: Optional[Dict[str, Any]] = None
    reason: Optional[str] = None
    exit_code: Optional[int] = None

    def to_json(self) -> Dict[str, Any]:
        """The record as the API shows it; ``result``, ``reason`` and ``exit_code`` only when set."""
        body: Dict[str, Any] = {
            "match_id": self.match_id,
            "state": self.state,
            "port": self.port,
            "pid": self.pid,
            "players": [{"user_id": p["user_id"], "connected": p["connected"]} for p in self.players],
        }
        for key in ("result", "reason", "exit_code"):
            value = getattr(self, key)
            if value is not None:
                body[key] = value
        return body


class _Match:
    """The launcher's bookkeeping for one child and its match."""

    process: MatchProcess

    def __init__(self, record: MatchRecord):
        self.record = record
        self.launched = OneShot()  # fires with the record, or a LaunchError failure
        self.timer = None  # the launch timeout, then the result grace
        self.ready = False
        self.stopping = False
        self.ended_hook_called = False

    def cancelTimer(self) -> None:
        if self.timer is not None and self.timer.active():
            self.timer.cancel()
        self.timer = None


class _Warm:
    """The launcher's bookkeeping for one warm child, until a match takes it or it ends.

    ``state`` is ``starting`` (no port yet), ``ready`` (holding a port),
    ``failed`` (being stopped after a failure) or ``stopping`` (stopped by
    :meth:`MatchLauncher.stopWarming`).
    """

    def __init__(self, process: MatchProcess):
        self.process = process
        self.state = "starting"
        self.timer = None  # the port timeout, while starting
        self.taken = False  # a match took it: the launcher's _Match owns it now

    def cancelTimer(self) -> None:
        if self.timer is not None and self.timer.active():
            self.timer.cancel()
        self.timer = None


class MatchLauncher:
    """Spawns and tracks match children; at most ``max_matches`` children live at once.

    Children still being stopped after a failed launch count towards
    ``max_matches``: the limit is on processes, not on records.

    ``env`` is the children's environment (default: a copy of ``os.environ``
    taken at each spawn).  ``keep_ended`` bounds the list of ended and failed
    matches kept for :meth:`get` and :meth:`list`.  ``warm`` is the size of the
    warm pool that :meth:`startWarming` keeps (0: every launch is cold).
    """

    def __init__(
        self,
        reactor,
        server_config: dict,
        launch_timeout: float = 10.0,
        max_matches: int = 100,
        kill_grace: float = 5.0,
        python: str = sys.executable,
        keep_ended: int = 1000,
        result_grace: float = 30.0,
        env: Optional[Mapping[str, str]] = None,
        on_ready: Optional[Callable[[MatchRecord], None]] = None,
        on_ended: Optional[Callable[[MatchRecord], None]] = None,
        warm: int = 0,
    ):
        if warm < 0:
            raise ValueError("warm must be >= 0")
        self._reactor = reactor
        self._config_line = encode_line(server_config)
        self._launch_timeout = launch_timeout
        self._max_matches = max_matches
        self._kill_grace = kill_grace
        self._python = python
        self._keep_ended = keep_ended
        self._result_grace = result_grace
        self._env = None if env is None else dict(env)
        self._on_ready = on_ready
        self._on_ended = on_ended
        self._children: set = set()  # every _Match whose child has not ended
        self._live: Dict[str, _Match] = {}
        self._recent: "OrderedDict[str, MatchRecord]" = OrderedDict()
        self._shutting_down = False
        self._warm_target = warm
        self._warming = False
        self._warm: List[_Warm] = []  # every warm child not taken and not ended
        self._warm_ready: "deque[_Warm]" = deque()  # the ready ones, oldest first
        self._warm_count = 0  # numbers the warm children in log lines
        self._warm_delay = WARM_RETRY_MIN
        self._warm_retry = None  # the delayed replacement after a failure
        self._warm_refill = None  # the replacement of a used warm child, next turn

    # -- queries ----------------------------------------------------------------

    def get(self, match_id: str) -> Optional[MatchRecord]:
        """The live or recently ended record of ``match_id``, or ``None``."""
        entry = self._live.get(match_id)
        return entry.record if entry is not None else self._recent.get(match_id)

    def list(self) -> List[MatchRecord]:
        """Live matches (oldest first), then recently ended ones (newest first)."""
        return [entry.record for entry in self._live.values()] + list(reversed(self._recent.values()))

    @property
    def max_matches(self) -> int:
        """The most children (matches and warm ones) at once."""
        return self._max_matches

    @property
    def warm(self) -> int:
        """How many warm children the launcher keeps."""
        return self._warm_target

    @property
    def warm_ready(self) -> int:
        """How many warm children hold a port and wait for a match."""
        return len(self._warm_ready)

    def _processes(self) -> int:
        """How many children run: matches, dying failed launches and warm children."""
        return len(self._children) + len(self._warm)

    # -- launching --------------------------------------------------------------

    def launch(self, match: dict) -> Deferred:
        """Start ``match``; fire with its :class:`MatchRecord` once the child reports its port.

        Fails with :class:`LaunchError`: ``invalid_match`` (400),
        ``match_exists`` (409: the id is live with a different request),
        ``too_many_matches`` or ``shutting_down`` (503, before spawning),
        ``spawn_failed`` (503), the child's ``Error:`` code (503),
        ``child_exited`` (503), ``match_stopped`` (503: stopped before its
        port) or ``launch_timeout`` (504).  Launching a live match again with
        the same request waits for the same launch.  Cancelling the returned
        Deferred does not stop the launch.

        The match goes to the oldest ready warm child if there is one (the
        Deferred has fired when this returns), else to a new child.  At
        ``max_matches`` children, a warm child that is still starting is used
        rather than refusing the launch, which then waits for its port.
        """
        try:
            match_line = encode_line(match)
            request = json.loads(match_line)
            match_id = request["match_id"]
            if not isinstance(match_id, str) or not match_id:
                raise ValueError("match_id must be a non-empty string")
            players = [{"user_id": p["user_id"], "connected": False} for p in request["players"]]
        except (TypeError, ValueError, KeyError) as e:
            return fail(LaunchError("invalid_match", f"bad match request: {e}", 400))
        existing = self._live.get(match_id)
        if existing is not None:
            if existing.record.request == request:
                return existing.launched.when()
            return fail(LaunchError("match_exists", f"match {match_id} is running with another request", 409))
        if self._shutting_down:
            return fail(LaunchError("shutting_down", "the server is shutting down", 503))
        warm = self._warm_ready[0] if self._warm_ready else None
        if warm is None and self._processes() >= self._max_matches:
            warm = next((w for w in self._warm if w.state == "starting"), None)
            if warm is None:
                return fail(LaunchError("too_many_matches", f"{self._max_matches} matches are running", 503))

        record = MatchRecord(match_id=match_id, request=request, players=players)
        entry = _Match(record)
        name = f"match {match_id}"
        callbacks = dict(
            on_status=lambda status: self._status(entry, status),
            on_result=lambda result: self._result(entry, result),
        )
        if warm is not None:
            process = entry.process = warm.process
            try:
                process.assign(match_line, name=name, **callbacks)
            except Exception as e:
                log.failure(
                    "match {match_id}: could not hand the match to {warm}", match_id=match_id, warm=process.name
                )
                self._warmFailed(warm, "it could not take a match")
                return fail(LaunchError("spawn_failed", f"could not start the match server: {e}", 503))
            self._takeWarm(warm)
        else:
            process = entry.process = MatchProcess(self._reactor, name, **callbacks)
            try:
                process.spawn(self._python, self._childEnv(), self._config_line)
                process.assign(match_line)
            except Exception as e:
                log.failure("match {match_id}: could not start a child", match_id=match_id)
                if process.transport is not None:
                    process.terminate(self._kill_grace)
                return fail(LaunchError("spawn_failed", f"could not start the match server: {e}", 503))
        record.pid = process.pid
        self._recent.pop(match_id, None)
        self._live[match_id] = entry
        self._children.add(entry)
        process.whenEnded().addCallback(self._ended, entry)
        if process.port is not None:  # a ready warm child
            self._ready(process.port, entry)
        else:
            entry.timer = self._reactor.callLater(self._launch_timeout, self._launchTimedOut, entry)
            process.whenReady().addCallbacks(
                self._ready, self._startFailed, callbackArgs=(entry,), errbackArgs=(entry,)
            )
        return entry.launched.when()

    def _childEnv(self) -> Dict[str, str]:
        return dict(os.environ) if self._env is None else dict(self._env)

    def _ready(self, port: int, entry: _Match) -> None:
        if entry.launched.fired:  # timed out or stopped meanwhile
            return
        entry.cancelTimer()
        entry.ready = True
        entry.record.port = port
        entry.record.state = "waiting"
        entry.launched.fire(entry.record)
        self._hook(self._on_ready, entry.record)

    def _startFailed(self, failure: Failure, entry: _Match) -> None:
        failure.trap(ChildError)
        if not entry.launched.fired:
            error = failure.value
            self._failLaunch(entry, LaunchError(error.code, error.message, 503))

    def _launchTimedOut(self, entry: _Match) -> None:
        entry.timer = None
        message = f"the match server did not report its port within {self._launch_timeout:g} seconds"
        log.warn("match {match_id}: {message}", match_id=entry.record.match_id, message=message)
        self._failLaunch(entry, LaunchError("launch_timeout", message, 504))

    def _failLaunch(
        self, entry: _Match, error: LaunchError, state: str = "failed", reason: Optional[str] = None
    ) -> None:
        """Fail the launch of ``entry`` with ``error``: retire its record and stop its child."""
        entry.cancelTimer()
        entry.record.state = state
        entry.record.reason = reason or error.code
        self._retire(entry)
        entry.launched.fire(Failure(error))
        entry.process.terminate(self._kill_grace)

    # -- running ----------------------------------------------------------------

    def _status(self, entry: _Match, status: dict) -> None:
        record = entry.record
        if record.state in RUNNING and status.get("state") in RUNNING:
            record.state = status["state"]
        players = status.get("players")
        if isinstance(players, list):
            connected = {
                p["user_id"]: bool(p.get("connected"))
                for p in players
                if isinstance(p, dict) and isinstance(p.get("user_id"), (str, int))
            }
            for player in record.players:
                if player["user_id"] in connected:
                    player["connected"] = connected[player["user_id"]]

    def _result(self, entry: _Match, result: dict) -> None:
        record = entry.record
        if record.state not in RUNNING:
            return
        if "reason" in result and "winner" not in result:
            record.reason = str(result["reason"])
        else:
            record.result = result
        record.state = "ended"
        log.info("match {match_id}: over ({outcome})", match_id=record.match_id, outcome=record.result or record.reason)
        entry.timer = self._reactor.callLater(self._result_grace, self._lingered, entry)
        self._endedHook(entry)

    def _lingered(self, entry: _Match) -> None:
        entry.timer = None
        log.warn(
            "match {match_id}: child {pid} still running {grace:g}s after its result; stopping it",
            match_id=entry.record.match_id,
            pid=entry.record.pid,
            grace=self._result_grace,
        )
        entry.process.terminate(self._kill_grace)

    def _ended(self, status, entry: _Match) -> None:
        entry.cancelTimer()
        self._children.discard(entry)
        record = entry.record
        record.exit_code = status.code
        if record.state in RUNNING:
            if entry.stopping:
                record.state, record.reason = "ended", "stopped"
            else:
                record.state, record.reason = "failed", "child_exited"
                log.warn(
                    "match {match_id}: child {pid} ended with {status} without a result",
                    match_id=record.match_id,
                    pid=record.pid,
                    status=status,
                )
        if self._live.get(record.match_id) is entry:
            self._retire(entry)
        self._endedHook(entry)
        self._fillWarm()  # a slot of max_matches is free

    def _endedHook(self, entry: _Match) -> None:
        if entry.ready and not entry.ended_hook_called:
            entry.ended_hook_called = True
            self._hook(self._on_ended, entry.record)

    def _retire(self, entry: _Match) -> None:
        """Move ``entry``'s record from the live table to the bounded recent list."""
        record = entry.record
        if self._live.get(record.match_id) is entry:
            del self._live[record.match_id]
        self._recent[record.match_id] = record
        if len(self._recent) > self._keep_ended:
            self._recent.popitem(last=False)

    def _hook(self, hook: Optional[Callable[[MatchRecord], None]], record: MatchRecord) -> None:
        if hook is None:
            return
        try:
            hook(record)
        except Exception:
            log.failure("match {match_id}: hook {hook!r} failed", match_id=record.match_id, hook=hook)

    # -- the warm pool ----------------------------------------------------------

    def startWarming(self) -> None:
        """Start keeping ``warm`` warm children (call it from the service's ``startService``).

        Does nothing if ``warm`` is 0 or the launcher is stopping; calling it
        again does no harm.
        """
        if self._shutting_down or self._warm_target == 0:
            return
        if not self._warming:
            log.info("keeping {count} warm match children", count=self._warm_target)
        self._warming = True
        self._fillWarm()

    def stopWarming(self) -> Deferred:
        """Stop keeping warm children and stop those there are (TERM, then KILL).

        Fires with ``None`` once they have ended, within ``2 * kill_grace``;
        never fails.  Matches already handed to warm children are not touched.
        """
        self._warming = False
        for call in (self._warm_retry, self._warm_refill):
            if call is not None and call.active():
                call.cancel()
        self._warm_retry = self._warm_refill = None
        self._warm_ready.clear()
        warm = list(self._warm)
        if warm:
            log.info("stopping {count} warm match children", count=len(warm))
        waits = []
        for child in warm:
            child.cancelTimer()
            child.state = "stopping"
            waits.append(self._terminateBounded(
                lambda process=child.process: process.terminate(self._kill_grace), child.process.name, child.process.pid))
        return DeferredList(waits).addCallback(lambda _: None)

    def _fillWarm(self) -> None:
        """Spawn warm children up to ``warm``, within ``max_matches``, unless a retry is pending."""
        if not self._warming or self._shutting_down:
            return
        if self._warm_retry is not None and self._warm_retry.active():
            return
        healthy = sum(1 for child in self._warm if child.state in ("starting", "ready"))
        room = self._max_matches - self._processes()
        for _ in range(min(self._warm_target - healthy, room)):
            if not self._spawnWarm():
                return

    def _spawnWarm(self) -> bool:
        """Spawn one warm child; on failure, log it, schedule a retry and return False."""
        self._warm_count += 1
        process = MatchProcess(self._reactor, f"warm child {self._warm_count}")
        child = _Warm(process)
        try:
            process.spawn(self._python, self._childEnv(), self._config_line)
        except Exception:
            log.failure("{name}: could not start a child", name=process.name)
            if process.transport is None:
                self._retryWarm()
                return False
            self._warm.append(child)
            process.whenEnded().addCallback(self._warmEnded, child)
            self._warmFailed(child, "it could not be started")
            return False
        self._warm.append(child)
        child.timer = self._reactor.callLater(self._launch_timeout, self._warmTimedOut, child)
        process.whenReady().addCallbacks(
            self._warmReady, self._warmStartFailed, callbackArgs=(child,), errbackArgs=(child,)
        )
        process.whenEnded().addCallback(self._warmEnded, child)
        return True

    def _takeWarm(self, child: _Warm) -> None:
        """``child`` got a match: it leaves the pool, and a replacement comes next turn."""
        child.taken = True
        child.cancelTimer()
        self._warm.remove(child)
        if child in self._warm_ready:
            self._warm_ready.remove(child)
        if self._warming and (self._warm_refill is None or not self._warm_refill.active()):
            self._warm_refill = self._reactor.callLater(0, self._refillWarm)

    def _refillWarm(self) -> None:
        self._warm_refill = None
        self._fillWarm()

    def _warmReady(self, port: int, child: _Warm) -> None:
        if child.taken or child.state != "starting":
            return
        child.cancelTimer()
        child.state = "ready"
        self._warm_ready.append(child)
        self._warm_delay = WARM_RETRY_MIN
        log.info(
            "{name}: ready on port {port} ({ready} of {target} warm children ready)",
            name=child.process.name,
            port=port,
            ready=len(self._warm_ready),
            target=self._warm_target,
        )

    def _warmStartFailed(self, failure: Failure, child: _Warm) -> None:
        failure.trap(ChildError)
        if not child.taken:
            self._warmFailed(child, f"it failed to start ({failure.value})")

    def _warmTimedOut(self, child: _Warm) -> None:
        child.timer = None
        self._warmFailed(child, f"it did not report its port within {self._launch_timeout:g} seconds")

    def _warmFailed(self, child: _Warm, why: str) -> None:
        """Stop ``child`` (which stays counted until it has ended) and schedule its replacement."""
        if child.state in ("failed", "stopping"):
            return
        child.cancelTimer()
        child.state = "failed"
        if child in self._warm_ready:
            self._warm_ready.remove(child)
        log.warn("{name}: warm child {pid} is lost: {why}", name=child.process.name, pid=child.process.pid, why=why)
        child.process.terminate(self._kill_grace)
        self._retryWarm()

    def _warmEnded(self, status, child: _Warm) -> None:
        if child.taken:
            return
        child.cancelTimer()
        if child.state in ("starting", "ready"):  # died on its own while waiting
            self._warmFailed(child, f"it ended with {status}")
        if child in self._warm:
            self._warm.remove(child)
        self._fillWarm()  # its slot is free (a pending retry comes first)

    def _retryWarm(self) -> None:
        """Fill the pool again after the current delay, which then doubles (bounded)."""
        if not self._warming or self._shutting_down:
            return
        if self._warm_retry is not None and self._warm_retry.active():
            return
        delay = self._warm_delay
        self._warm_delay = min(delay * 2, WARM_RETRY_MAX)
        log.info("replacing lost warm children in {delay:g} seconds", delay=delay)
        self._warm_retry = self._reactor.callLater(delay, self._warmRetried)

    def _warmRetried(self) -> None:
        self._warm_retry = None
        self._fillWarm()

    # -- stopping ---------------------------------------------------------------

    def stop(self, match_id: str) -> Deferred:
        """Stop a match's child (SIGTERM, SIGKILL after ``kill_grace``).

        Fires with the match's record (``None`` for an unknown id) once the
        child has ended, or after ``2 * kill_grace`` if it survives SIGKILL
        (logged).  A match stopped before its port fails its launch with
        ``match_stopped``.  Never fails.
        """
        entry = self._live.get(match_id)
        if entry is None:
            return succeed(self.get(match_id))
        return self._stopEntry(entry).addCallback(lambda _: entry.record)

    def stopAll(self) -> Deferred:
        """Refuse new launches and stop every child, warm ones too; fires with ``None``, within ``2 * kill_grace``."""
        self._shutting_down = True
        entries = list(self._children)
        log.info("stopping {count} match children", count=len(entries))
        waits = [self._stopEntry(entry) for entry in entries]
        waits.append(self.stopWarming())
        return DeferredList(waits).addCallback(lambda _: None)

    def _stopEntry(self, entry: _Match) -> Deferred:
        """Stop ``entry``'s child; the Deferred never fails and fires within ``2 * kill_grace``."""
        return self._terminateBounded(lambda: self._terminate(entry), entry.process.name, entry.record.pid)

    def _terminateBounded(self, terminate, name: str, pid) -> Deferred:
        """Run ``terminate()`` (TERM, then KILL); fires within ``2 * kill_grace``, never fails (failures logged)."""
        d = maybeDeferred(terminate)
        d.addTimeout(2 * self._kill_grace, self._reactor)
        d.addErrback(self._stopFailed, name, pid)
        return d

    def _terminate(self, entry: _Match) -> Deferred:
        entry.stopping = True
        if not entry.launched.fired:
            error = LaunchError("match_stopped", "the match was stopped before it started", 503)
            self._failLaunch(entry, error, state="ended", reason="stopped")
        return entry.process.terminate(self._kill_grace)

    def _stopFailed(self, failure: Failure, name: str, pid) -> None:
        if failure.check(TimeoutError):
            log.error("{name}: child {pid} did not end after SIGKILL; giving up on it", name=name, pid=pid)
        else:
            log.failure("{name}: stopping child {pid} failed", failure, name=name, pid=pid)
