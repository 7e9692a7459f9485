"""A WebSocket test client that records every message and waits for the ones a test expects."""

import json

from autobahn.twisted.websocket import WebSocketClientFactory, WebSocketClientProtocol, connectWS
from twisted.internet import defer


class RecordingClient(WebSocketClientProtocol):
    """Records JSON messages; ``wait_for(predicate)`` fires with the first match.

    ``opened`` fires with the client once the handshake succeeded, or fails if
    the connection closed first (a refused handshake): whoever opens a client
    that may be refused consumes it (:func:`connect` does, through its
    factory's ``connected``; a test expecting a refusal asserts the failure).
    ``closed`` fires with the close code.  Pings are answered unless
    ``answer_pings`` is False (a dead peer); ``pinged`` fires on the first.
    """

    def __init__(self):
        super().__init__()
        self.messages = []
        self.close_code = None
        self.close_reason = None
        self.closed = defer.Deferred()
        self.opened = defer.Deferred()
        self.answer_pings = True
        self.pinged = defer.Deferred()
        self._waiters = []

    def onOpen(self):
        self.opened.callback(self)

    def onMessage(self, payload, isBinary):
        message = json.loads(payload)
        self.messages.append(message)
        for waiter in list(self._waiters):
            predicate, d = waiter
            if predicate(message):
                self._waiters.remove(waiter)
                d.callback(message)

    def onPing(self, payload):
        if self.answer_pings:
            self.sendPong(payload)
        if not self.pinged.called:
            self.pinged.callback(payload)

    def onClose(self, wasClean, code, reason):
        self.close_code = code
        self.close_reason = reason
        waiters, self._waiters = self._waiters, []
        for _, d in waiters:
            d.errback(ConnectionError(f"closed ({code} {reason}) while waiting"))
        if not self.opened.called:
            self.opened.errback(ConnectionError(f"refused: {code} {reason}"))
        self.closed.callback(code)

    def send_json(self, message):
        """Send one JSON text message."""
        self.sendMessage(json.dumps(message).encode("utf-8"))

    def wait_for(self, predicate, seen=True):
        """A Deferred firing with the first message (already seen, if ``seen``) matching ``predicate``."""
        if seen:
            for message in self.messages:
                if predicate(message):
                    return defer.succeed(message)
        d = defer.Deferred()
        self._waiters.append((predicate, d))
        return d

    def round_trip(self):
        """Fires once the server has answered a message sent now (so everything sent before has arrived)."""
        marker = f"round trip {len(self.messages)}"
        self.send_json({"type": marker})
        return self.wait_for(lambda m: m.get("type") == "error" and marker in m.get("message", ""))

    @property
    def status_code(self):
        """The HTTP status of the opening handshake's answer (101 when accepted)."""
        line = getattr(self, "http_status_line", None)
        return int(line.split()[1]) if line else None


def of_type(kind, event=None):
    """A predicate on decoded messages: ``type`` is ``kind`` (and the engine event type is ``event``)."""
    def predicate(message):
        if message.get("type") != kind:
            return False
        return event is None or message["eventData"]["type"] == event
    return predicate


class _ClientFactory(WebSocketClientFactory):
    protocol = RecordingClient

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.connected = defer.Deferred()

    def buildProtocol(self, addr):
        proto = super().buildProtocol(addr)
        proto.opened.chainDeferred(self.connected)
        return proto

    def clientConnectionFailed(self, connector, reason):
        if not self.connected.called:
            self.connected.errback(reason)


def connect(reactor, url, timeout=10):
    """Open a RecordingClient to ``url``; fires with it once open, fails if refused."""
    factory = _ClientFactory(url, reactor=reactor)
    connectWS(factory, timeout=timeout)
    return factory.connected


WEAPON_COUNTDOWN = 1


def auto_throw(client, weapon):
    """An onMessage for ``client`` that also throws ``weapon`` on every WEAPON_COUNTDOWN."""
    original = client.onMessage

    def on_message(payload, is_binary):
        original(payload, is_binary)
        message = client.messages[-1]
        if message.get("type") == "RPSRoundEvent" and message["eventData"]["type"] == WEAPON_COUNTDOWN:
            client.send_json({"type": "select_weapon", "index": weapon})

    return on_message


def start_match(players, throws=None):
    """Each ``(client, fighter)`` in ``players`` picks and sends start_battle; with ``throws``
    (one weapon per player) each also throws its weapon on every WEAPON_COUNTDOWN."""
    for n, (client, fighter) in enumerate(players):
        if throws is not None:
            client.onMessage = auto_throw(client, throws[n])
        client.send_json({"type": "select_fighter", "characterId": fighter})
        client.send_json({"type": "start_battle"})
