"""One simulated game (loadgen.js's Game): two players driven through create, join, picks and play.

Per game:

1. create the game over HTTP (host); the host opens its WebSocket and waits for
   its ``player_joined``;
2. join the game over HTTP (guest); the guest opens its WebSocket and waits for
   ``player_joined``;
3. both send ``select_fighter`` (a random fighter) and wait for their own
   echo, then each sends ``start_battle``;
4. on every ``RPSRoundEvent`` of type 1 (WEAPON_COUNTDOWN) each player sends
   ``select_weapon`` with a random index 0..2;
5. ``RPSGameEvent`` type 1 (GAME_COMPLETE) on the host socket counts one
   completed game; both sockets are closed with code 1000 (and aborted if the
   close handshake has not finished after ``--close-wait-ms``).

Route sets:

* native (default): ``POST /api/games`` -> 201 ``{game_id, player_token,
  ws_url, spectate_url}``; ``POST /api/games/{game_id}/players`` -> 201, same
  body; each player connects to the absolute ``ws_url`` it was given.  A
  ``{"type": "welcome"}`` message on connect is ignored.
* ``--compat`` (the original server's): ``POST /create_game`` and
  ``POST /join_game`` with ``{gameId, userId, username}`` -> 200
  ``{gameToken}``; WebSocket ``{--ws}/?game_token=T&user_id=U``.
"""

from __future__ import annotations

import json
from typing import Any, Dict, List, Optional
from urllib.parse import quote

from autobahn.twisted.websocket import connectWS

from rpsa.tools.loadtest import messages
from rpsa.tools.loadtest.client import HttpClient, PlayerFactory, PlayerListener, PlayerProtocol, SocketOwner
from rpsa.tools.loadtest.statistics import COMPLETE_MSG, START_MSG, TICK_MSG, BurstJitter, Stats, classify_host_message

# Game set-up steps, in order (their names appear in ``timeout_<step>`` errors).
CREATE, HOST_WS, JOIN, JOIN_WS, FIGHTERS_STEP, START, PLAYING, DONE = range(1, 9)
STEP_NAMES = {
    CREATE: "create",
    HOST_WS: "host_ws",
    JOIN: "join",
    JOIN_WS: "join_ws",
    FIGHTERS_STEP: "fighters",
    START: "start",
    PLAYING: "playing",
    DONE: "done",
}


def _template(s: str, values: Dict[str, str]) -> str:
    """Fill ``{name}`` placeholders with URL-encoded values; unknown names stay as they are."""
    out, i = [], 0
    while i < len(s):
        j = s.find("{", i)
        if j < 0:
            out.append(s[i:])
            break
        k = s.find("}", j)
        if k < 0:
            out.append(s[i:])
            break
        key = s[j + 1:k]
        out.append(s[i:j])
        out.append(quote(values[key], safe="") if key in values else s[j:k + 1])
        i = k + 1
    return "".join(out)


class GameOwner:
    """Hears when a game is over; a no-op here."""

    def game_ended(self, game: "Game", failed: bool) -> None:
        """``game`` ended, completed or stopped (``failed`` False) or with an error (True)."""


class Game(PlayerListener):
    """One simulated game: two players, driven through the protocol (loadgen.js's Game).

    ``game_id`` names it (users ``<game_id>-p1`` and ``-p2``); ``slot`` is the
    run's slot that plays it; ``cfg`` is the parsed command line; ``rng`` picks
    fighters and weapons; ``timers`` is the run's Timers (``now()`` in ms,
    ``call_later()``); ``http`` the run's HttpClient; ``stats`` the run's Stats;
    ``reactor`` connects the sockets; ``sockets`` (a SocketOwner) hears about
    every socket and ``owner`` (a GameOwner) when the game ends.
    """

    def __init__(self, game_id: str, slot: int, cfg, rng, timers, http: HttpClient, stats: Stats, reactor,
                 sockets: SocketOwner, owner: GameOwner):
        self.id = game_id
        self.slot = slot
        self._cfg = cfg
        self._rng = rng
        self._timers = timers
        self._http = http
        self._stats = stats
        self._reactor = reactor
        self._socket_owner = sockets
        self._owner = owner
        self.server_game_id: Optional[str] = None
        self.users = (self.id + "-p1", self.id + "-p2")
        self.sockets: List[Optional[PlayerProtocol]] = [None, None]
        self.connectors: List[Any] = [None, None]
        self.acked = [False, False]
        self.state = CREATE
        self.deadline = timers.now() + cfg.step_timeout_ms
        self.last_msg = 0.0
        self.finished = False
        self.dead = False
        self.jitter = BurstJitter(cfg.tick_ms)
        self.started_at = 0.0

    def step(self, state: int) -> None:
        """Move to set-up step ``state``, with a fresh --step-timeout-ms deadline."""
        self.state = state
        self.deadline = self._timers.now() + self._cfg.step_timeout_ms

    # -- set-up

    def run(self) -> None:
        """Start: create the game over HTTP (the host's seat)."""
        cfg = self._cfg
        if cfg.compat:
            d = self._http.post(cfg.http + cfg.create_path,
                                {"gameId": self.id, "userId": self.users[0], "username": f"host{self.slot}"},
                                200, self._compat_token)
        else:
            body = {"user_id": self.users[0], "username": f"host{self.slot}"}
            if cfg.send_game_id:
                body["game_id"] = self.id
            if cfg.rounds is not None:
                body["rounds"] = cfg.rounds
            d = self._http.post(cfg.http + "/api/games", body, 201, self._native_seat)
        d.addCallback(self._created)

    def _compat_token(self, reply: Any) -> Any:
        tok = reply.get(self._cfg.token_field) if isinstance(reply, dict) else None
        if not isinstance(tok, str) or not tok:
            return "!http_no_token"
        return tok

    def _native_seat(self, reply: Any) -> Any:
        if not isinstance(reply, dict):
            return "!http_bad_json"
        url, gid = reply.get("ws_url"), reply.get("game_id")
        if not isinstance(url, str) or not url:
            return "!http_no_ws_url"
        if not isinstance(gid, str) or not gid:
            return "!http_no_game_id"
        return (gid, url)

    def _ws_url(self, role: int, seat: Any) -> str:
        cfg = self._cfg
        if not cfg.compat:
            return seat[1]
        return cfg.ws + _template(cfg.ws_path, {
            "token": seat, "userId": self.users[role], "gameId": self.id,
            "username": "guest" if role else "host"})

    def _created(self, seat: Any) -> None:
        if self.dead:
            return
        if seat is None:
            return self.fail(None)
        if not self._cfg.compat:
            self.server_game_id = seat[0]
        self.step(HOST_WS)
        self.connect(0, self._ws_url(0, seat))

    def join(self) -> None:
        """The host is in: join the game over HTTP (the guest's seat)."""
        cfg = self._cfg
        self.step(JOIN)
        if cfg.compat:
            d = self._http.post(cfg.http + cfg.join_path,
                                {"gameId": self.id, "userId": self.users[1], "username": f"guest{self.slot}"},
                                200, self._compat_token)
        else:
            url = cfg.http + "/api/games/" + quote(self.server_game_id or "", safe="") + "/players"
            d = self._http.post(url, {"user_id": self.users[1], "username": f"guest{self.slot}"},
                                201, self._native_seat)
        d.addCallback(self._joined)

    def _joined(self, seat: Any) -> None:
        if self.dead:
            return
        if seat is None:
            return self.fail(None)
        self.step(JOIN_WS)
        self.connect(1, self._ws_url(1, seat))

    def connect(self, role: int, url: str) -> None:
        """Open player ``role``'s WebSocket to ``url``."""
        cfg = self._cfg
        try:
            factory = PlayerFactory(self._reactor, url, role, self, self._socket_owner)
        except Exception:
            return self.fail("ws_bad_url")
        bind = None
        if cfg.src_ips > 1:
            bind = (f"127.0.0.{1 + ((self.slot + role) % cfg.src_ips)}", 0)
        self.connectors[role] = connectWS(factory, timeout=max(1, cfg.step_timeout_ms / 1000), bindAddress=bind)

    # -- events from the sockets

    def on_socket(self, role: int, proto: PlayerProtocol) -> None:
        self.sockets[role] = proto

    def on_open(self, role: int) -> None:
        pass  # the server announces every connection with player_joined

    def send(self, role: int, obj: Dict[str, Any]) -> None:
        """Send a message on player ``role``'s socket, if it has one."""
        s = self.sockets[role]
        if s is not None:
            s.send_json(obj)

    def on_message(self, role: int, payload: bytes) -> None:
        if self.dead:
            return
        cfg, stats = self._cfg, self._stats
        t = self._timers.now()
        try:
            m = json.loads(payload)
        except ValueError:
            return self.fail("ws_bad_json")
        self.last_msg = t
        if not isinstance(m, dict):
            return
        kind = m.get("type")
        if kind == messages.PLAYER_JOINED:
            if role == 0 and self.state == HOST_WS:
                self.join()
            elif role == 1 and self.state == JOIN_WS:
                self.step(FIGHTERS_STEP)
                for r in (0, 1):
                    self.send(r, messages.select_fighter(self._rng.choice(cfg.fighters)))
            return
        if kind == messages.FIGHTER_SELECTED:
            gd = m.get("gameData")
            if (self.state == FIGHTERS_STEP and isinstance(gd, dict) and gd.get("playerId") == self.users[role]
                    and not self.acked[role]):
                self.acked[role] = True
                self.send(role, messages.start_battle())
                if self.acked[0] and self.acked[1]:
                    self.step(START)
            return
        if kind == messages.ERROR:
            return self.fail("server_error_msg")
        if kind == messages.ROUND_EVENT and messages.event_type(m) == messages.WEAPON_COUNTDOWN:
            self.send(role, messages.select_weapon(self._rng.randrange(3)))
        if role != 0:
            return
        what, n = classify_host_message(m)
        if what == START_MSG:
            self.step(PLAYING)
            self.deadline = t + cfg.game_timeout_ms
            self.started_at = t
            stats.bursts(self.jitter.start(t))
        elif what == COMPLETE_MSG and self.state == PLAYING:
            stats.bursts(self.jitter.complete(t))
            self.complete(t)
        elif what == TICK_MSG and self.state == PLAYING:
            stats.bursts(self.jitter.message(t, n))

    def on_close(self, role: int, kind: str) -> None:
        if self.finished or self.dead:
            return
        self.fail(kind)

    # -- endings

    def complete(self, t: float) -> None:
        """GAME_COMPLETE at ``t``: count the game, close both sockets (aborted after --close-wait-ms)."""
        stats = self._stats
        self.finished = True
        self.state = DONE
        stats.completed += 1
        if t in stats.window:
            stats.completed_in_window += 1
        stats.game_ticks.append(self.jitter.ticks)
        stats.game_secs.append((t - self.started_at) / 1000)
        for s in self.sockets:
            if s is not None:
                s.close_normally()
        sockets = [s for s in self.sockets if s is not None]
        self._timers.call_later(self._cfg.close_wait_ms / 1000, self._close_timeout, sockets)
        self.end(False)

    def _close_timeout(self, sockets: List[PlayerProtocol]) -> None:
        for s in sockets:
            if not s.gone:
                self._stats.close_timeouts += 1
                s.abort()

    def _abort_all(self) -> None:
        for role in (0, 1):
            s = self.sockets[role]
            if s is not None:
                s.abort()
            elif self.connectors[role] is not None:
                try:
                    self.connectors[role].disconnect()
                except Exception:
                    pass

    def fail(self, kind: Optional[str]) -> None:
        """End the game with an error (counted as ``kind`` unless None: counted already)."""
        if self.dead or self.finished:
            return
        if kind:
            self._stats.error(kind, self._timers.now())
        self.finished = True
        self._abort_all()
        self.end(True)

    def end(self, failed: bool) -> None:
        """The game is over: tell the owner, once."""
        if self.dead:
            return
        self.dead = True
        self._owner.game_ended(self, failed)

    def stop(self) -> None:
        """The run is ending: tear down without counting an error."""
        self.finished = True
        self._abort_all()
        self.end(False)
