"""``twistd rpsa``: command-line options, and the service tree they build."""

from __future__ import annotations

import gc
import math
import os
import signal
from urllib.parse import urlsplit

from twisted.application import service, strports
from twisted.internet import defer, task
from twisted.logger import Logger
from twisted.python import usage

from rpsa.daemon import logs

from rpsa.play import wire
from rpsa.lobby.api import LobbyAPI
from rpsa.daemon.drain import Drainer
from rpsa.daemon.listeners import is_local, split_endpoint
from rpsa.matches.launcher import MatchLauncher
from rpsa.lobby.games import Lobby
from rpsa.matches.api import MatchAPI
from rpsa.daemon.metrics import Metrics, metrics_site
from rpsa.matches.notify import Notifier
from rpsa.daemon.sdnotify import SystemdNotifier, status_text
from rpsa.play.settings import GameSettings
from rpsa.play.ticker import TickScheduler
from rpsa.web import AccessPolicy, URLBuilder, make_site
from rpsa.bots.roster import Bots
from rpsa.webclient.pages import WebClient

log = Logger()

DEFAULT_LISTEN = "tcp:8080:interface=127.0.0.1"
STOP_TIMEOUT = 5.0
GC_THRESHOLD = 50_000  # allocations between young-generation collections (CPython's default: 700)


def _number(kind, minimum, name):
    """A parser for a numeric option that names the option in its error."""

    def parse(text):
        try:
            value = kind(text)
        except (TypeError, ValueError):
            raise usage.UsageError(f"--{name}: {text!r} is not a{'n integer' if kind is int else ' number'}")
        if not math.isfinite(value) or value < minimum:
            raise usage.UsageError(f"--{name}: must be a finite number of at least {minimum}, got {text}")
        return value

    return parse


def _port_range(text):
    """``MIN-MAX`` within 1024..65535, MIN <= MAX."""
    low, sep, high = text.partition("-")
    try:
        low, high = int(low), int(high)
    except ValueError:
        raise usage.UsageError(f"--match-ports: expected MIN-MAX, got {text!r}")
    if not sep or not 1024 <= low <= high <= 65535:
        raise usage.UsageError(f"--match-ports: expected MIN-MAX within 1024-65535 with MIN <= MAX, got {text!r}")
    return (low, high)


def _check_endpoint(option, endpoint):
    """``endpoint`` if it is a valid server endpoint string, else a UsageError naming ``--option``."""
    from twisted.internet import endpoints, reactor

    try:
        endpoints.serverFromString(reactor, endpoint)
    except Exception as e:
        if split_endpoint(endpoint)[0] == "systemd":
            raise usage.UsageError(
                f"--{option}: {endpoint!r}: systemd passed no such socket (run under a .socket unit "
                f"or systemd-socket-activate; LISTEN_FDS={os.environ.get('LISTEN_FDS', 'unset')})"
            )
        raise usage.UsageError(f"--{option}: invalid endpoint {endpoint!r}: {e}")
    return endpoint


class Options(usage.Options):
    """Options of ``twistd rpsa``."""

    synopsis = "[options]"
    longdesc = (
        "Run the Rock Paper Scissors Apocalypse game server: an HTTP lobby API and "
        "WebSocket play, with the original Varcade server's routes alongside."
    )
    optFlags = [
        ["dev", None, "Development mode: allow an open API (no --api-key-file) on non-loopback listeners."],
    ]
    optParameters = [
        ["tick", None, 1.0, "Seconds between game ticks.", _number(float, 0.001, "tick")],
        ["public-url", None, None, "Public base URL for the URLs handed out (http maps to ws, https to wss); "
                                   "default: built from the request's Host."],
        ["api-key-file", None, None, "File holding the API key required by the HTTP API (surrounding whitespace stripped)."],
        ["max-games", None, 10000, "Most games held at once.", _number(int, 1, "max-games")],
        ["join-timeout", None, 60.0, "Seconds a handed-out seat may stay unconnected before it is freed "
                                     "(a game whose creator never connects is removed).",
         _number(float, 0.001, "join-timeout")],
        ["reconnect-grace", None, 10.0, "Seconds a disconnected player's seat is held.",
         _number(float, 0, "reconnect-grace")],
        ["max-spectators", None, 100, "Spectators per game (0 turns spectating off).", _number(int, 0, "max-spectators")],
        ["max-message-bytes", None, 4096, "Largest WebSocket message accepted.", _number(int, 64, "max-message-bytes")],
        ["max-messages-per-second", None, 20, "Messages per second per connection.",
         _number(int, 1, "max-messages-per-second")],
        ["match-ports", None, "9000-9099", "Port range MIN-MAX for match children (within 1024-65535).", _port_range],
        ["match-interface", None, "127.0.0.1", "Interface match children listen on."],
        ["launch-timeout", None, 10.0, "Seconds a match child has to report its port.",
         _number(float, 0.001, "launch-timeout")],
        ["match-join-timeout", None, 60.0, "Seconds a match waits for both players before it is abandoned.",
         _number(float, 0.001, "match-join-timeout")],
        ["max-matches", None, 100, "Most match children at once (warm ones included).", _number(int, 1, "max-matches")],
        ["warm-matches", None, 0, "Match children started ahead of time, holding a port, for fast launches.",
         _number(int, 0, "warm-matches")],
        ["bot-takeover", None, None, "Seconds a player who dropped out of a match in progress has to come back "
                                     "before a bot finishes the match for them (default: off).",
         _number(float, 0, "bot-takeover")],
        ["drain-timeout", None, 30.0, "Seconds a stop waits for running matches to end (SIGTERM drains).",
         _number(float, 0, "drain-timeout")],
        logs.LOG_FORMAT_OPTION,
        ["notify-url", None, None, "URL to POST match_ready and match_ended events to (JSON, TLS verified)."],
    ]

    def __init__(self):
        super().__init__()
        self["listen"] = []
        self["metrics-listen"] = None

    def opt_listen(self, endpoint):
        """A Twisted server endpoint string to serve on; repeatable (default tcp:8080:interface=127.0.0.1)."""
        self["listen"].append(_check_endpoint("listen", endpoint))

    def opt_metrics_listen(self, endpoint):
        """Endpoint serving /metrics without the API key (e.g. tcp:9100:interface=127.0.0.1); on the main listeners /metrics needs the key."""
        self["metrics-listen"] = _check_endpoint("metrics-listen", endpoint)

    def postOptions(self):
        if isinstance(self["match-ports"], str):  # the default is not passed through the coercer
            self["match-ports"] = _port_range(self["match-ports"])
        if not self["listen"]:
            self["listen"] = [DEFAULT_LISTEN]
        url = self["public-url"]
        if url is not None:
            parts = urlsplit(url)
            try:
                parts.port  # raises ValueError for a port that is not a number, or out of range
            except ValueError:
                parts = None
            if (parts is None or parts.scheme not in ("http", "https") or not parts.hostname
                    or parts.query or parts.fragment):
                raise usage.UsageError(f"--public-url: expected http(s)://host[:port][/prefix], got {url!r}")
        notify = self["notify-url"]
        if notify is not None:
            parts = urlsplit(notify)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise usage.UsageError(f"--notify-url: expected an http(s) URL, got {notify!r}")
        self["api-key"] = None
        if self["api-key-file"] is not None:
            try:
                with open(self["api-key-file"], encoding="utf-8") as f:
                    key = f.read().strip()
            except (OSError, UnicodeDecodeError) as e:
                raise usage.UsageError(f"--api-key-file: cannot read {self['api-key-file']}: {e}")
            if not key:
                raise usage.UsageError(f"--api-key-file: {self['api-key-file']} is empty")
            self["api-key"] = key
        elif not self["dev"]:
            exposed = [d for d in self["listen"] if not is_local(d)]
            if exposed:
                raise usage.UsageError(
                    f"refusing to serve an open API on non-loopback listener(s) {', '.join(exposed)}: "
                    "give --api-key-file, or --dev for development"
                )

        logs.check_log_options(self)

    def game_settings(self) -> GameSettings:
        """The per-game settings these options give."""
        return GameSettings(
            tick=self["tick"],
            reconnect_grace=self["reconnect-grace"],
            join_timeout=self["join-timeout"],
            max_spectators=self["max-spectators"],
            max_message_bytes=self["max-message-bytes"],
            max_messages_per_second=self["max-messages-per-second"],
            bot_takeover=self["bot-takeover"],
        )

    def child_config(self) -> dict:
        """The server config line sent to every match child."""
        config = self.game_settings().to_json()
        config.update(
            ports=list(self["match-ports"]),
            interface=self["match-interface"],
            join_timeout=self["match-join-timeout"],
        )
        return config


class GameServerService(logs.ProvidesLogObserver, service.MultiService):
    """The lobby, the launcher and their listeners.

    Stopping drains first (see :mod:`rpsa.daemon.drain`): the listeners keep
    answering (``/healthz`` says ``draining``) until the running matches have
    ended or the drain timeout passed; then every connection is closed, the
    match children are stopped, and the listeners stop.  A drain that went
    through exits with status 0, not by the signal that started it.
    """

    def __init__(self, lobby: Lobby, scheduler: TickScheduler, launcher: MatchLauncher, reactor,
                 drain_timeout: float = 30.0, notifier=None, handle_signals: bool = False, systemd=None,
                 tune_gc: bool = False):
        super().__init__()
        self.lobby = lobby
        self.scheduler = scheduler
        self.launcher = launcher
        self.notifier = notifier
        self.drainer = Drainer(reactor, lobby, launcher, drain_timeout)
        self._reactor = reactor
        self._handle_signals = handle_signals
        self._tune_gc = tune_gc
        # {}: without an explicit notifier (unit tests), never talk to systemd.
        self.systemd = systemd if systemd is not None else SystemdNotifier(reactor, {})
        self._status_loop = task.LoopingCall(self._report_status)
        self._status_loop.clock = reactor

    def startService(self):
        if self._tune_gc:
            # Long-lived objects (modules, the service tree) never need collecting:
            # keep them out of the cyclic GC's passes, and collect less often (games
            # make few cycles), so full passes do not stall thousands of games' ticks
            # (at 4000 games: worst tick 285 ms -> 66 ms, p99 15 ms -> 3.4 ms).
            gc.freeze()
            gc.set_threshold(GC_THRESHOLD, 50, 100)
        super().startService()  # the listeners are listening now
        self.launcher.startWarming()
        log.info("rpsa {version} serving", version=_version())
        self.systemd.ready(self._status_text())
        self._status_loop.start(1.0, now=False)

    def _status_text(self) -> str:
        text = status_text(len(self.lobby.games), self.drainer.running_matches())
        return "draining: " + text if self.lobby.draining else text

    def _report_status(self) -> None:
        self.systemd.status(self._status_text())  # rate-limited; unchanged text is not resent

    def _systemd_done(self, result):
        if self._status_loop.running:
            self._status_loop.stop()
        self.systemd.stop()
        return result

    def stopService(self):
        self.systemd.stopping()
        if self._handle_signals:
            self._install_hurry_handlers()
        self.launcher.stopWarming()
        d = self.drainer.drain()
        d.addCallback(lambda _: self._close_everything())
        d.addErrback(lambda f: log.failure("stopping: closing games and matches failed", f))
        d.addCallback(lambda _: super(GameServerService, self).stopService())
        d.addErrback(lambda f: log.failure("stopping the listeners failed", f))
        d.addCallback(lambda _: self._exit_cleanly())
        d.addBoth(self._systemd_done)
        return d

    def _close_everything(self) -> defer.Deferred:
        connections = [conn.is_closed for conn in self.lobby.connections()]
        self.lobby.close_all(wire.SHUTTING_DOWN, wire.CLOSE_REASONS[wire.SHUTTING_DOWN])
        self.scheduler.stop()
        children = self.launcher.stopAll()
        if self.notifier is not None:
            # After the children: their match_ended events are still sent (the notifier bounds its retries).
            children.addBoth(lambda _: self.notifier.stop())
        closed = defer.DeferredList([*connections, children], consumeErrors=True)
        closed.addTimeout(STOP_TIMEOUT, self._reactor)
        closed.addErrback(lambda f: log.warn("stopping: not everything closed within {t}s", t=STOP_TIMEOUT))
        return closed

    def _install_hurry_handlers(self) -> None:
        # The first SIGTERM/SIGINT started this stop; a second one cuts the drain short.
        def hurry(signum, frame):
            self._reactor.callFromThread(self.drainer.hurry)

        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, hurry)

    def _exit_cleanly(self) -> None:
        # twistd re-raises the stopping signal after shutdown (so the exit status
        # says "killed by SIGTERM"); a completed graceful stop exits 0 instead.
        if getattr(self._reactor, "_exitSignal", None) is not None:
            self._reactor._exitSignal = None


def _version() -> str:
    from rpsa import __version__

    return __version__


def makeService(options, reactor=None):
    """Build the rpsa service tree from parsed options."""
    if reactor is None:
        from twisted.internet import reactor
    logs.register_secret(options["api-key"])
    metrics = Metrics()
    settings = options.game_settings()
    scheduler = TickScheduler(reactor, settings.tick, on_lag=metrics.tick_lag)
    lobby = Lobby(reactor, settings, scheduler, max_games=options["max-games"], hooks=metrics, bots=Bots(reactor))
    urls = URLBuilder(options["public-url"])
    notifier = Notifier(options["notify-url"], reactor) if options["notify-url"] else None
    launcher = MatchLauncher(
        reactor, options.child_config(),
        launch_timeout=options["launch-timeout"], max_matches=options["max-matches"],
        on_ended=lambda record: matches.match_ended(record),
        warm=options["warm-matches"],
        on_ready=lambda record: metrics.launch_succeeded(),
    )
    matches = MatchAPI(launcher, urls, notifier, is_draining=lambda: lobby.draining,
                       on_launch_failed=metrics.launch_failed)
    metrics.attach(lobby=lobby, launcher=launcher)
    api = LobbyAPI(lobby, AccessPolicy(options["api-key"]), urls, matches=matches, metrics=metrics,
                   webclient=WebClient(urls.websocket_origins()))
    site = make_site(api.resource(), reactor, on_request=metrics.http_request)
    top = GameServerService(
        lobby, scheduler, launcher, reactor,
        drain_timeout=options["drain-timeout"], notifier=notifier, handle_signals=True,
        systemd=SystemdNotifier(reactor), tune_gc=True,
    )
    top.log_observer = logs.log_observer(options, reactor=reactor)
    for description in options["listen"]:
        strports.service(description, site, reactor=reactor).setServiceParent(top)
    if options["metrics-listen"]:
        strports.service(options["metrics-listen"], metrics_site(metrics, reactor), reactor=reactor).setServiceParent(top)
    return top
