"""``twistd rpsa``: command-line options, and the service tree they build (makeService).

The only module that imports the global reactor: :func:`makeService`, when it
is given none.  Everything else is handed the reactor it uses.
"""

from __future__ import annotations

import math
import os
from urllib.parse import urlsplit

from twisted.application import strports
from twisted.internet import endpoints
from twisted.python import usage

from rpsa import cors
from rpsa.cluster import options as cluster_options
from rpsa.cluster.node import Cluster, records
from rpsa.daemon import logs
from rpsa.daemon.drain import Drainer, DrainState
from rpsa.daemon.listeners import is_local, split_endpoint
from rpsa.daemon.metrics import Counters, Metrics, RouteLabels, metrics_site
from rpsa.daemon.root import RootAPI, route_templates
from rpsa.daemon.sdnotify import SystemdNotifier
from rpsa.daemon.service import GameServerService, SignalHandlers, SystemdStatus
from rpsa.lobby.api import LobbyAPI, lobby_api_error
from rpsa.lobby.compat import CompatAPI
from rpsa.lobby.games import Lobby
from rpsa.matches.api import MatchAPI, MatchService
from rpsa.matches.launcher import MatchLauncher
from rpsa.matches.notify import MatchNotifications, Notifier
from rpsa.matches.children import MatchChildren
from rpsa.matches.warmpool import WarmPool
from rpsa.play.settings import GameSettings
from rpsa.play.ticker import TickScheduler
from rpsa.edge import PerAddressLimit
from rpsa.redis import options as redis_options
from rpsa.redis.schema import DEFAULT_PREFIX
from rpsa.redis.url import parse_redis_url
from rpsa.site import make_site
from rpsa.web import AccessPolicy, URLBuilder, public_base
from rpsa.bots.roster import Bots
from rpsa.lobby.public import AddressRateLimit, PublicLobby
from rpsa.webclient.pages import WebClient

DEFAULT_LISTEN = "tcp:8080:interface=127.0.0.1"


def _number(kind, minimum, name):
    """A parser for a numeric option that names the option in its error (``value_form`` describes its values)."""

    def parse(text):
        try:
            value = kind(text)
        except (TypeError, ValueError):
            raise usage.UsageError(f"--{name}: {text!r} is not a{'n integer' if kind is int else ' number'}")
        if not math.isfinite(value) or value < minimum:
            raise usage.UsageError(f"--{name}: must be a finite number of at least {minimum}, got {text}")
        return value

    parse.value_form = f"{'integer' if kind is int else 'number'} ≥ {minimum}"
    return parse


def _redis_url(text):
    """A :class:`~rpsa.redis.url.RedisURL`; the error never shows the password."""
    try:
        url = parse_redis_url(text)
        if url.tls:
            url.tls_options()  # a CA file that holds no certificate fails here, not at start
        return url
    except (ValueError, OSError) as e:
        raise usage.UsageError(f"--redis: {e}") from None


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


class _ParsingOnly:
    """Stands in for a reactor while an endpoint string is parsed: the parsers only store it.

    Checking ``--listen`` must not import the global reactor (makeService is
    the one place that does); any use of this stand-in fails the check.
    """

    def __getattr__(self, name):
        raise AttributeError(f"no reactor while parsing options (wanted .{name})")


def _check_endpoint(option, endpoint):
    """``endpoint`` if it is a valid server endpoint string, else a UsageError naming ``--option``."""
    kind, args, kwargs = split_endpoint(endpoint)
    if kind in ("tcp", "tcp6", "ssl", "ssl6"):
        port = args[0] if args else kwargs.get("port", "")
        if not port.isdigit() or int(port) > 65535:
            raise usage.UsageError(f"--{option}: invalid endpoint {endpoint!r}: a {kind} endpoint needs a port "
                                   f"number from 0 to 65535, e.g. {kind}:8080:interface=127.0.0.1")
    try:
        endpoints.serverFromString(_ParsingOnly(), endpoint)
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
        ["public-lobby", None, "Open listing, the fighters, creating and joining games to clients without the "
                               "API key (the web page's lobby), rate-limited per address; the rest keeps the key."],
        ["compat-shared-token", None, "On the original's routes, one token per game as the original had: "
                                      "/join_game answers the creator's token, which admits any user seated in "
                                      "the game (user_id picks the seat). Only behind a portal keeping tokens private."],
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
        ["max-messages-per-second", None, 20, "Messages per second per connection (pings and pongs count).",
         _number(int, 1, "max-messages-per-second")],
        ["max-send-buffer", None, 256 * 1024, "Bytes a WebSocket client may leave unread (its kernel send buffer "
                                              "is fixed at that size too); past it the connection is closed (4106).",
         _number(int, 4096, "max-send-buffer")],
        ["max-connections-per-address", None, 0, "Connections at once from one IP address on the listeners "
                                                 "(0: no limit; behind a proxy every client has its address).",
         _number(int, 0, "max-connections-per-address")],
        ["header-timeout", None, 10.0, "Seconds a client has to send a request line and its headers "
                                       "(a WebSocket opening handshake too); past it 408 and closed.",
         _number(float, 0.001, "header-timeout")],
        ["body-timeout", None, 30.0, "Seconds a client has to send a request's body; past it 408 and closed.",
         _number(float, 0.001, "body-timeout")],
        ["match-ports", None, "9000-9099", "Port range MIN-MAX for match children (within 1024-65535).", _port_range],
        ["match-interface", None, "127.0.0.1", "Interface match children listen on."],
        ["launch-timeout", None, 10.0, "Seconds a match child has to report its port.",
         _number(float, 0.001, "launch-timeout")],
        ["match-join-timeout", None, 60.0, "Seconds a match waits for both players before it is abandoned.",
         _number(float, 0.001, "match-join-timeout")],
        ["max-matches", None, 100, "Most match children at once (warm ones included).", _number(int, 1, "max-matches")],
        ["match-heartbeat", None, 5.0, "Seconds between the daemon's heartbeats to each match child; a child "
                                       "silent for three is stopped and its match failed (unresponsive).",
         _number(float, 0.01, "match-heartbeat")],
        ["warm-matches", None, 0, "Match children started ahead of time, holding a port, for fast launches.",
         _number(int, 0, "warm-matches")],
        ["public-lobby-rate", None, 10, "With --public-lobby: games created or joined a minute per client "
                                        "address (bursts of up to 5); more is answered 429 with Retry-After.",
         _number(int, 1, "public-lobby-rate")],
        ["bot-takeover", None, None, "Seconds a player who dropped out of a match in progress has to come back "
                                     "before a bot finishes the match for them (default: off).",
         _number(float, 0, "bot-takeover")],
        ["drain-timeout", None, 30.0, "Seconds a stop waits for running matches to end (SIGTERM drains).",
         _number(float, 0, "drain-timeout")],
        logs.LOG_FORMAT_OPTION,
        ["notify-url", None, None, "URL to POST match_ready and match_ended events to (JSON, TLS verified)."],
        ["compat-linger", None, 600.0, "Seconds the sockets of a finished game of the original's routes may stay "
                                       "open before they are closed with 1000.", _number(float, 0, "compat-linger")],
        ["redis", None, None, "Redis to connect to: redis://[:PASSWORD@]HOST[:PORT][/DB], rediss://... (TLS, "
                              "certificate verified) or unix:///PATH[?db=DB]; never logged. Without it no Redis "
                              "is used.", _redis_url],
        ["redis-key-prefix", None, DEFAULT_PREFIX, "Prefix of every Redis key rpsa owns (not of --event-stream)."],
        ["event-stream", None, None, "Redis stream receiving the game lifecycle entries of the original Varcade "
                                     "server (its name there: game_event_stream); needs --redis and --product-id."],
        ["product-id", None, None, "The portal's id for this game in --event-stream entries (exrps in Varcade)."],
        ["event-stream-maxlen", None, 100_000, "Trim --event-stream to about this many entries (0: never).",
         _number(int, 0, "event-stream-maxlen")],
        ["event-queue", None, 10_000, "Most --event-stream entries held while Redis is unreachable; past it the "
                                      "oldest are dropped.", _number(int, 1, "event-queue")],
        *cluster_options.OPTIONS,
    ]

    # How the values of the options not parsed by _number look (docs/operations.md, rpsa.daemon.optionsdoc).
    value_forms = {
        "api-key-file": "path of a readable, non-empty file",
        "listen": "Twisted endpoint; repeat the option, or list several in the variable separated by spaces",
        "log-format": "`text` or `json`",
        "match-interface": "address to bind",
        "match-ports": "`MIN-MAX`, 1024 ≤ MIN ≤ MAX ≤ 65535",
        "metrics-listen": "Twisted endpoint",
        "notify-url": "`http://` or `https://` URL",
        "public-url": "`http(s)://` or `ws(s)://host[:port][/prefix]`; with --redis `{node}` stands for --node-name",
        "cors-origin": "`http(s)://host[:port]` or `*`; repeat the option, or list several separated by spaces",
        "redis": "`redis://`, `rediss://` or `unix://` URL",
        "redis-key-prefix": "text (may be empty)",
        "event-stream": "stream name",
        "product-id": "text",
        **cluster_options.VALUE_FORMS,
    }

    def __init__(self):
        super().__init__()
        self["listen"] = []
        self["metrics-listen"] = None
        self["cors-origin"] = []

    def opt_listen(self, endpoint):
        """A Twisted server endpoint string to serve on; repeatable (default tcp:8080:interface=127.0.0.1)."""
        self["listen"].append(_check_endpoint("listen", endpoint))

    def opt_metrics_listen(self, endpoint):
        """Endpoint serving /metrics without the API key (e.g. tcp:9100:interface=127.0.0.1); on the main listeners /metrics needs the key."""
        self["metrics-listen"] = _check_endpoint("metrics-listen", endpoint)

    def opt_cors_origin(self, origin):
        """Answer CORS preflights and add CORS headers for this browser origin (* for any); repeatable."""
        try:
            self["cors-origin"].append(cors.normalize_origin(origin))
        except ValueError as e:
            raise usage.UsageError(f"--cors-origin: {e}") from None

    def postOptions(self):
        if isinstance(self["match-ports"], str):  # the default is not passed through the coercer
            self["match-ports"] = _port_range(self["match-ports"])
        if not self["listen"]:
            self["listen"] = [DEFAULT_LISTEN]
        url = self["public-url"]
        if url is not None and public_base(url) is None:
            raise usage.UsageError(f"--public-url: expected http(s):// or ws(s)://host[:port][/prefix], got {url!r}")
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
        redis_options.check_options(self)
        cluster_options.check_options(self)  # with --redis: this node's name and public URL

    def game_settings(self) -> GameSettings:
        """The per-game settings these options give."""
        return GameSettings(
            tick=self["tick"],
            reconnect_grace=self["reconnect-grace"],
            join_timeout=self["join-timeout"],
            max_spectators=self["max-spectators"],
            max_message_bytes=self["max-message-bytes"],
            max_messages_per_second=self["max-messages-per-second"],
            max_send_buffer=self["max-send-buffer"],
            bot_takeover=self["bot-takeover"],
        )

    def child_config(self) -> dict:
        """The server config line sent to every match child."""
        config = self.game_settings().to_json()
        config.update(
            ports=list(self["match-ports"]),
            interface=self["match-interface"],
            join_timeout=self["match-join-timeout"],
            header_timeout=self["header-timeout"],
            body_timeout=self["body-timeout"],
        )
        return config


def makeService(options, reactor=None):
    """Build the rpsa service tree from parsed options, each part after those it uses."""
    if reactor is None:
        from twisted.internet import reactor
    redis = redis_options.build(options, reactor)  # None without --redis
    redactor = logs.Redactor([options["api-key"], redis and redis.connection.url.password])
    log_file = logs.log_file(options)
    draining = DrainState()
    counters = Counters(RouteLabels(route_templates()))
    settings = options.game_settings()
    scheduler = TickScheduler(reactor, settings.tick, hooks=counters)
    bots = Bots(reactor)
    events = redis.events if redis is not None else None  # the Varcade event stream, with --event-stream
    directory = claims = None  # with --redis: this node's games and matches in the cluster's directory
    if redis is not None:
        directory, claims = records(reactor, redis.connection, options["redis-key-prefix"] or "",
                                    options["node-name"])
    lobby = Lobby(reactor, settings, scheduler, max_games=options["max-games"], hooks=counters, draining=draining,
                  bots=bots, events=events, observer=directory)
    notifier = Notifier(options["notify-url"], reactor) if options["notify-url"] else None
    notifications = MatchNotifications(notifier)
    children = MatchChildren(reactor, options.child_config(), launch_timeout=options["launch-timeout"],
                             max_children=options["max-matches"], heartbeat=options["match-heartbeat"], events=events)
    warm_pool = WarmPool(children, size=options["warm-matches"])
    launcher = MatchLauncher(children, warm_pool, observers=(counters, notifications, *([claims] if claims else [])))
    access = AccessPolicy(options["api-key"])
    urls = URLBuilder(options["public-url"], options["match-public-url"])
    matches = MatchService(launcher, urls, events=notifications, draining=draining, hooks=counters)
    cluster = None
    if redis is not None:
        cluster = Cluster(reactor, redis.connection, options["redis-key-prefix"] or "", options["node-name"],
                          options["public-url"], lobby, lobby_api_error, directory, claims, local_matches=matches,
                          draining=draining, match_public_url=options["match-public-url"] or "",
                          max_matches=options["max-matches"], forward_timeout=options["forward-timeout"])
        for part in cluster.services():
            part.setServiceParent(redis.connection)  # they stop before the connection closes
    metrics = Metrics(counters, lobby=lobby, launcher=launcher, warm_pool=warm_pool,
                      sources=[s for s in (redis, cluster) if s is not None])
    public = PublicLobby(AddressRateLimit(reactor, per_minute=options["public-lobby-rate"])) \
        if options["public-lobby"] else None
    games = cluster.games if cluster is not None else None
    root = RootAPI(
        access, draining, metrics,
        lobby_api=LobbyAPI(lobby, access, urls, public=public, games=games),
        compat_api=CompatAPI(lobby, access, shared_token=options["compat-shared-token"],
                             linger=options["compat-linger"], games=games),
        match_api=MatchAPI(launcher, urls, access, matches=cluster.matches if cluster is not None else matches),
        webclient=WebClient(urls.websocket_origins()),
        dependencies=[redis] if redis is not None else [],
    )
    drainer = Drainer(reactor, draining, lobby, launcher, options["drain-timeout"])
    systemd = SystemdNotifier(reactor)
    top = GameServerService(
        lobby, scheduler, launcher, drainer, reactor, systemd, notifier=notifier, warm_pool=warm_pool,
        signals=SignalHandlers(reactor), log_file=log_file, tune_gc=True, lean_poll=True,
    )
    top.log_observer = logs.log_observer(options, redactor, log_file)
    resource = root.resource(cors=cors.CORSPolicy(options["cors-origin"]) if options["cors-origin"] else None)
    site = make_site(resource, reactor, hooks=counters,
                     header_timeout=options["header-timeout"], body_timeout=options["body-timeout"])
    if options["max-connections-per-address"]:
        site = PerAddressLimit(site, options["max-connections-per-address"], hooks=counters)
    if redis is not None:
        redis.connection.setServiceParent(top)  # first: connecting (in the background) before serving
    launcher.setServiceParent(top)
    for description in options["listen"]:
        strports.service(description, site, reactor=reactor).setServiceParent(top)
    if options["metrics-listen"]:
        strports.service(options["metrics-listen"], metrics_site(metrics, reactor), reactor=reactor).setServiceParent(top)
    warm_pool.setServiceParent(top)  # warms once the listeners listen
    SystemdStatus(systemd, lobby, drainer, reactor).setServiceParent(top)  # last: READY once listening
    return top
