"""Fakes for the load tester's tests: the server's messages, a scripted match, a tiny in-process server.

The fake server is just enough of an RPSA server for the tool (twisted.web for
HTTP, autobahn for the WebSocket): it plays ceiling_server.js's scripted match
with a 10 ms tick, on 127.0.0.1 with ports chosen by the kernel.  The messages
are written out literally here, as a client sees them, so the tests check the
tool against the wire format rather than against rpsa's own definitions.
"""

import json

from autobahn.twisted.websocket import WebSocketServerFactory, WebSocketServerProtocol
from autobahn.websocket.types import ConnectionDeny
from twisted.internet import defer, reactor, task
from twisted.protocols.policies import WrappingFactory
from twisted.web import resource, server

TICK_MS = 10


def round_event(kind, data=None):
    """An RPSRoundEvent message as the server sends it."""
    return {"type": "RPSRoundEvent", "eventData": {"type": kind, "data": data or {}, "classtype": "RPSRoundEvent"}}


def state_change(old, new):
    """A STATE_CHANGE round event."""
    return round_event(2, {"oldState": old, "newState": new})


def sync(h1=100, h2=100):
    """A sync message."""
    return {"type": "sync", "gameData": {"p1Health": h1, "p2Health": h2}}


GAME_STARTED = {"type": "RPSGameEvent", "eventData": {"type": 0, "data": {}, "classtype": "RPSGameEvent"}}
GAME_COMPLETE = {"type": "RPSGameEvent",
                 "eventData": {"type": 1, "data": {"winnerId": "p1", "loserId": "p2"}, "classtype": "RPSGameEvent"}}


def ceiling_script(rounds=1, exchanges=2):
    """The bursts of ceiling_server.js's scripted match (None is a silent tick)."""
    b = []
    for r in range(rounds):
        if r == 0:
            b.append([round_event(5), state_change(0, 1), sync()])
        else:
            b.append([round_event(5)])
            b.append([state_change(0, 1), sync()])
        for v in (3, 2, 1):
            b.append([round_event(0, {"value": v})])
        b.append([state_change(1, 2), sync()])
        for e in range(exchanges):
            for v in (3, 2, 1):
                b.append([round_event(1, {"value": v})])
            hp = max(0, 100 - 25 * (e + 1))
            b.append([round_event(3, {"attackSummary": {}}), state_change(2, 3), sync(100, hp)])
            if e < exchanges - 1:
                b.append(None)
                b.append([state_change(3, 2), sync(100, hp)])
            else:
                b.append([state_change(3, 4), sync(100, hp), round_event(4, {"roundWinnerId": "p1"})])
    b.append(None)
    b.append([GAME_COMPLETE])
    return b


def timeline_of(script, start=0.0, tick=1000.0, late=None, spread=0.5):
    """A host-socket timeline of a script: burst k at start + k * tick (+ late[k]), messages ``spread`` ms apart."""
    late = late or {}
    out = [(start, GAME_STARTED)]
    for k, burst in enumerate(script, start=1):
        if burst is None:
            continue
        t = start + k * tick + late.get(k, 0.0)
        for i, m in enumerate(burst):
            out.append((t + i * spread, m))
    return out


class FakeServer:
    """Just enough of an RPSA server for the tool: create/join over HTTP, a scripted match over WebSocket."""

    def __init__(self, native=True, http_status=None, close_host_with=None, tick_s=TICK_MS / 1000.0):
        self.native = native
        self.http_status = http_status
        self.close_host_with = close_host_with
        self.tick_s = tick_s
        self.games = {}
        self.tokens = {}
        self.auth_headers = []
        self.ws_port = None
        self.http_port = None
        self.script = ceiling_script(rounds=1, exchanges=2)
        self._ports = []
        self._wrappers = []

    def start(self):
        """Listen on 127.0.0.1 with kernel-chosen ports."""
        ws = WebSocketServerFactory(reactor=reactor)
        ws.setProtocolOptions(openHandshakeTimeout=0, closeHandshakeTimeout=0)
        ws.protocol = FakeGameProtocol
        ws.server = self
        ws_wrapper = WrappingFactory(ws)
        p = reactor.listenTCP(0, ws_wrapper, interface="127.0.0.1")
        self.ws_port = p.getHost().port
        http_wrapper = WrappingFactory(server.Site(FakeHttp(self)))
        q = reactor.listenTCP(0, http_wrapper, interface="127.0.0.1")
        self.http_port = q.getHost().port
        self._ports = [p, q]
        self._wrappers = [ws_wrapper, http_wrapper]

    @defer.inlineCallbacks
    def stop(self):
        """Stop listening, stop the games and wait (boundedly) for every connection to be gone."""
        for g in self.games.values():
            if g["loop"] is not None and g["loop"].running:
                g["loop"].stop()
        for p in self._ports:
            yield p.stopListening()
        for _ in range(300):
            if not any(w.protocols for w in self._wrappers):
                break
            yield task.deferLater(reactor, 0.01, lambda: None)
        for w in self._wrappers:
            for proto in list(w.protocols):
                proto.transport.abortConnection()
        yield task.deferLater(reactor, 0.01, lambda: None)

    def new_game(self, game_id, user, name):
        """Register a game hosted by user; return its token."""
        token = "tok-%s" % game_id
        g = {"id": game_id, "token": token, "users": [user, None], "conns": [None, None], "fighter": [None, None],
             "ready": [False, False], "loop": None, "pos": 0}
        self.games[game_id] = g
        self.tokens[token] = g
        return token

    def ws_url(self, token, user):
        """The absolute WebSocket URL a native server hands out."""
        return "ws://127.0.0.1:%d/?game_token=%s&user_id=%s" % (self.ws_port, token, user)


class FakeHttp(resource.Resource):
    """POST routes of both route sets."""

    isLeaf = True

    def __init__(self, fake):
        super().__init__()
        self.fake = fake

    def render_POST(self, request):
        fake = self.fake
        fake.auth_headers.append(request.getHeader("authorization"))
        request.setHeader("content-type", "application/json")
        if fake.http_status:
            request.setResponseCode(fake.http_status)
            return b'{"message":"nope"}'
        body = json.loads(request.content.read() or b"{}")
        path = request.path.decode()
        if path == "/api/games":
            gid = "g%d" % (len(fake.games) + 1)
            token = fake.new_game(gid, body["user_id"], body["username"])
            request.setResponseCode(201)
            return self._seat(gid, token, body["user_id"])
        if path.startswith("/api/games/") and path.endswith("/players"):
            g = fake.games[path.split("/")[3]]
            g["users"][1] = body["user_id"]
            request.setResponseCode(201)
            return self._seat(g["id"], g["token"], body["user_id"])
        if path == "/create_game":
            return json.dumps({"gameToken": fake.new_game(body["gameId"], body["userId"], body["username"])}).encode()
        if path == "/join_game":
            g = fake.games[body["gameId"]]
            g["users"][1] = body["userId"]
            return json.dumps({"gameToken": g["token"]}).encode()
        request.setResponseCode(404)
        return b'{"message":"not found"}'

    def _seat(self, gid, token, user):
        url = self.fake.ws_url(token, user)
        return json.dumps({"game_id": gid, "player_token": token, "ws_url": url, "spectate_url": url}).encode()


class FakeGameProtocol(WebSocketServerProtocol):
    """One player's socket on the fake server: the ceiling server's behaviour with a fast tick."""

    def onConnect(self, request):
        fake = self.factory.server
        token = request.params.get("game_token", [None])[0]
        user = request.params.get("user_id", [None])[0]
        g = fake.tokens.get(token)
        if g is None or user not in g["users"]:
            raise ConnectionDeny(403, "bad token")
        self.game, self.role, self.user = g, g["users"].index(user), user

    def broadcast(self, msg):
        data = json.dumps(msg).encode()
        for c in self.game["conns"]:
            if c is not None:
                c.sendMessage(data)

    def onOpen(self):
        fake, g = self.factory.server, self.game
        g["conns"][self.role] = self
        if fake.native:
            self.sendMessage(b'{"type":"welcome","protocol":1}')
        self.broadcast({"type": "player_joined", "gameData": {"p1Id": g["users"][0], "p2Id": g["users"][1]}})
        if fake.close_host_with and self.role == 0:
            self.sendClose(fake.close_host_with, "scripted close")

    def onMessage(self, payload, isBinary):
        g, role = self.game, self.role
        m = json.loads(payload)
        if m.get("type") == "select_fighter" and g["fighter"][role] is None:
            g["fighter"][role] = m["characterId"]
            self.sendMessage(json.dumps({"type": "select_fighter", "gameData": {
                "playerId": self.user, "selectedCharacterId": m["characterId"]}}).encode())
        elif m.get("type") == "start_battle" and g["loop"] is None:
            g["ready"][role] = True
            if all(g["ready"]):
                self.broadcast(GAME_STARTED)
                g["loop"] = task.LoopingCall(self.tick)
                g["loop"].clock = reactor
                g["loop"].start(self.factory.server.tick_s, now=False)

    def tick(self):
        g = self.game
        burst = self.factory.server.script[g["pos"]]
        g["pos"] += 1
        for m in burst or []:
            self.broadcast(m)
        if g["pos"] >= len(self.factory.server.script):
            g["loop"].stop()

    def onClose(self, wasClean, code, reason):
        g = getattr(self, "game", None)
        if g is None:
            return
        g["conns"][self.role] = None
        if g["loop"] is not None and g["loop"].running:
            g["loop"].stop()
        for c in g["conns"]:
            if c is not None:
                c.sendClose(1000, "game removed")
