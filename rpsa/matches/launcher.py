"""The match launcher: one ``python -m rpsa.matches.child`` child per match, and the table of matches.

:meth:`MatchLauncher.launch` hands a match to a ready warm child of the
:class:`~rpsa.matches.warmpool.WarmPool` or spawns a child for it (see
:mod:`rpsa.matches.stdio` for what they say to each other), and fires with the
match's :class:`MatchRecord` once the child reports its port.

A record's ``state`` is one of the match states of :mod:`rpsa.matches.stdio`:

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

Observers (:class:`MatchObserver`) hear ``match_ready(record)`` when a match
gets its port, and ``match_ended(record)`` once for such a match when it ends
or fails (at the ``Result:`` line if there is one, else when its child
exits).  Failed launches reach no observer: their error goes to the caller of
``launch``.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence

from twisted.application import service
from twisted.internet.defer import Deferred, DeferredList, fail, succeed
from twisted.logger import Logger
from twisted.python.failure import Failure

from rpsa.matches.process import ChildListener, MatchChildren, MatchProcess, OneShot
from rpsa.matches.stdio import ENDED, FAILED, RUNNING_STATES, STARTING, WAITING, ChildError, encode_line

log = Logger()


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
    state: str = STARTING
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


class MatchObserver:
    """Hears about matches from :class:`MatchLauncher`; every method is a no-op here."""

    def match_ready(self, record: MatchRecord) -> None:
        """``record``'s child reported its port: the match waits for its players."""

    def match_ended(self, record: MatchRecord) -> None:
        """A match that got its port ended or failed (once per match)."""


class _Match(ChildListener):
    """The launcher's bookkeeping for one child and its match; hears the child's reports.

    ``launcher``: the :class:`MatchLauncher` it reports to; ``record``: the
    match's :class:`MatchRecord`.
    """

    process: MatchProcess

    def __init__(self, launcher: "MatchLauncher", record: MatchRecord):
        self.launcher = launcher
        self.record = record
        self.launched = OneShot()  # fires with the record, or a LaunchError failure
        self.timer = None  # the launch timeout, then the result grace
        self.ready = False
        self.stopping = False
        self.ended_heard = False

    def cancel_timer(self) -> None:
        if self.timer is not None and self.timer.active():
            self.timer.cancel()
        self.timer = None

    def child_status(self, status: dict) -> None:
        self.launcher._status(self, status)

    def child_result(self, result: dict) -> None:
        self.launcher._result(self, result)


class MatchLauncher(service.Service):
    """Spawns and tracks match children; a :class:`~twisted.application.service.Service`.

    ``children`` (a :class:`~rpsa.matches.process.MatchChildren`) spawns and
    stops the children, times their start and bounds how many run (warm
    ones included).  ``warm_pool`` (a :class:`~rpsa.matches.warmpool.WarmPool`
    sharing ``children``, or ``None``) supplies children that already hold a
    port.  ``observers`` (:class:`MatchObserver`) hear about ready and ended
    matches.  ``result_grace`` is the seconds a child may run on after its
    ``Result:`` line.  ``keep_ended`` bounds the list of ended and failed
    matches kept for :meth:`get` and :meth:`list`.

    :meth:`stopService` refuses new launches and stops every match child.
    """

    def __init__(
        self,
        children: MatchChildren,
        warm_pool=None,
        observers: Sequence[MatchObserver] = (),
        result_grace: float = 30.0,
        keep_ended: int = 1000,
    ):
        self._children = children
        self._reactor = children.reactor
        self._warm_pool = warm_pool
        self._observers = tuple(observers)
        self._result_grace = result_grace
        self._keep_ended = keep_ended
        self._running: set = set()  # every _Match whose child has not ended
        self._live: Dict[str, _Match] = {}
        self._recent: "OrderedDict[str, MatchRecord]" = OrderedDict()
        self._shutting_down = False

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
        return self._children.max_children

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

        entry = _Match(self, MatchRecord(match_id=match_id, request=request, players=players))
        name = f"match {match_id}"
        full = self._children.room <= 0
        process = None
        try:
            if self._warm_pool is not None:
                process = self._warm_pool.take(match_line, name, entry, starting_too=full)
            if process is None and full:
                return fail(LaunchError("too_many_matches", f"{self.max_matches} matches are running", 503))
            if process is None:
                process = MatchProcess(self._reactor, name, entry)
                self._spawn(process, match_line)
        except Exception as e:
            return fail(LaunchError("spawn_failed", f"could not start the match server: {e}", 503))
        entry.process = process
        self._start(entry)
        return entry.launched.when()

    def _spawn(self, process: MatchProcess, match_line: bytes) -> None:
        try:
            self._children.spawn(process)
            process.assign(match_line)
        except Exception:
            log.failure("{name}: could not start a child", name=process.name)
            if process.transport is not None:
                self._children.terminate(process)
            raise

    def _start(self, entry: _Match) -> None:
        record, process = entry.record, entry.process
        record.pid = process.pid
        self._recent.pop(record.match_id, None)
        self._live[record.match_id] = entry
        self._running.add(entry)
        process.when_ended().addCallback(self._ended, entry)
        if process.port is not None:  # a ready warm child
            self._ready(process.port, entry)
        else:
            entry.timer = self._reactor.callLater(self._children.launch_timeout, self._launch_timed_out, entry)
            process.when_ready().addCallbacks(
                self._ready, self._start_failed, callbackArgs=(entry,), errbackArgs=(entry,)
            )

    def _ready(self, port: int, entry: _Match) -> None:
        if entry.launched.fired:  # timed out or stopped meanwhile
            return
        entry.cancel_timer()
        entry.ready = True
        entry.record.port = port
        entry.record.state = WAITING
        entry.launched.fire(entry.record)
        self._tell("match_ready", entry.record)

    def _start_failed(self, failure: Failure, entry: _Match) -> None:
        failure.trap(ChildError)
        if not entry.launched.fired:
            error = failure.value
            self._fail_launch(entry, LaunchError(error.code, error.message, 503))

    def _launch_timed_out(self, entry: _Match) -> None:
        entry.timer = None
        message = f"the match server did not report its port within {self._children.launch_timeout:g} seconds"
        log.warn("match {match_id}: {message}", match_id=entry.record.match_id, message=message)
        self._fail_launch(entry, LaunchError("launch_timeout", message, 504))

    def _fail_launch(
        self, entry: _Match, error: LaunchError, state: str = FAILED, reason: Optional[str] = None
    ) -> None:
        """Fail the launch of ``entry`` with ``error``: retire its record and stop its child."""
        entry.cancel_timer()
        entry.record.state = state
        entry.record.reason = reason or error.code
        self._retire(entry)
        entry.launched.fire(Failure(error))
        self._children.terminate(entry.process)

    # -- running ----------------------------------------------------------------

    def _status(self, entry: _Match, status: dict) -> None:
        record = entry.record
        if record.state in RUNNING_STATES and status.get("state") in RUNNING_STATES:
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
        if record.state not in RUNNING_STATES:
            return
        if "reason" in result and "winner" not in result:
            record.reason = str(result["reason"])
        else:
            record.result = result
        record.state = ENDED
        log.info("match {match_id}: over ({outcome})", match_id=record.match_id, outcome=record.result or record.reason)
        entry.timer = self._reactor.callLater(self._result_grace, self._lingered, entry)
        self._match_ended(entry)

    def _lingered(self, entry: _Match) -> None:
        entry.timer = None
        log.warn(
            "match {match_id}: child {pid} still running {grace:g}s after its result; stopping it",
            match_id=entry.record.match_id,
            pid=entry.record.pid,
            grace=self._result_grace,
        )
        self._children.terminate(entry.process)

    def _ended(self, status, entry: _Match) -> None:
        entry.cancel_timer()
        self._running.discard(entry)
        record = entry.record
        record.exit_code = status.code
        if record.state in RUNNING_STATES:
            if entry.stopping:
                record.state, record.reason = ENDED, "stopped"
            else:
                record.state, record.reason = FAILED, "child_exited"
                log.warn(
                    "match {match_id}: child {pid} ended with {status} without a result",
                    match_id=record.match_id,
                    pid=record.pid,
                    status=status,
                )
        if self._live.get(record.match_id) is entry:
            self._retire(entry)
        self._match_ended(entry)
        if self._warm_pool is not None:
            self._warm_pool.fill()  # a slot of max_matches is free

    def _match_ended(self, entry: _Match) -> None:
        if entry.ready and not entry.ended_heard:
            entry.ended_heard = True
            self._tell("match_ended", entry.record)

    def _retire(self, entry: _Match) -> None:
        """Move ``entry``'s record from the live table to the bounded recent list."""
        record = entry.record
        if self._live.get(record.match_id) is entry:
            del self._live[record.match_id]
        self._recent[record.match_id] = record
        if len(self._recent) > self._keep_ended:
            self._recent.popitem(last=False)

    def _tell(self, event: str, record: MatchRecord) -> None:
        for observer in self._observers:
            try:
                getattr(observer, event)(record)
            except Exception:
                log.failure("match {match_id}: observer {observer!r} failed", match_id=record.match_id, observer=observer)

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
        return self._stop_entry(entry).addCallback(lambda _: entry.record)

    def stopService(self) -> Deferred:
        """Refuse new launches and stop every match child; fires with ``None`` within ``2 * kill_grace``, never fails."""
        super().stopService()
        if self._shutting_down:
            return succeed(None)  # stopped already
        self._shutting_down = True
        entries = list(self._running)
        if entries:
            log.info("stopping {count} match children", count=len(entries))
        return DeferredList([self._stop_entry(entry) for entry in entries]).addCallback(lambda _: None)

    def _stop_entry(self, entry: _Match) -> Deferred:
        """Stop ``entry``'s child; the Deferred never fails and fires within ``2 * kill_grace``."""
        entry.stopping = True
        if not entry.launched.fired:
            error = LaunchError("match_stopped", "the match was stopped before it started", 503)
            self._fail_launch(entry, error, state=ENDED, reason="stopped")
        return self._children.stop(entry.process)
