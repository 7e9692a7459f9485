"""Every place rpsa reaches past Autobahn's or twisted.web's public API, and why.

Each trick below replaces or relies on a library internal.  Each says what it
bought (measured with ``rpsa-loadtest``; ``docs/performance.md`` has the runs),
and ``tests/play/test_fastpath.py`` fails, naming the trick, when the installed
library's code it depends on changes.  Nothing here changes what goes on the
wire.

- :class:`FastPathProtocol`: the base of :class:`rpsa.play.websocket.GameConnection`
  (which then uses only Autobahn's public hooks): the small masked text frames
  players send are parsed by a lean receive path in front of Autobahn's parser
  (everything else goes to Autobahn's), messages go straight to ``onMessage``,
  prepared frames straight to the socket when nothing is waiting to be written
  (:func:`write_now`), oversized messages close with rpsa's own code, and the
  opening handshake's leftovers are dropped.
- :class:`LazyValidator`: a connection's UTF-8 validator is made only if
  Autobahn's parser needs it.
- :func:`options_on_class`: a factory's protocol options live on a protocol
  class, not in every connection; :meth:`FastPathProtocol._connectionMade`
  does not pretty-print them for a debug line nobody reads.
- :func:`lean_poll`: the reactor hands each ready socket to its handler without
  Twisted's legacy per-event log context.
- :class:`UpgradeResource`: lets go of the HTTP channel after the upgrade.
- :func:`tune_gc`: freezes the startup heap and collects less often.
- :meth:`FastPathProtocol.connectionLost`: breaks the reference cycle a closed
  connection sat in, so it is freed at once rather than at the next full
  collection (which :func:`tune_gc` makes rare).

What bounds hostile clients where no public API reaches (the HTTP deadlines,
the send buffers) is in :mod:`rpsa.play.bounds`, and what relies on how
Autobahn frames a ``PreparedMessage`` (frames built once, a tick's frames in
one write) in :mod:`rpsa.play.frames`, guarded by the same table.
"""

from __future__ import annotations

import errno
import gc
import types
from pprint import pformat
from typing import Tuple

import txaio
from autobahn.twisted.resource import WebSocketResource
from autobahn.twisted.websocket import WebSocketServerProtocol
from autobahn.websocket import protocol as protocol_module
from autobahn.websocket.utf8validator import Utf8Validator
from twisted.internet import tcp
from twisted.logger import Logger


log = Logger()

GC_THRESHOLD = 50_000  # allocations between young-generation collections (CPython's default: 700)


def tune_gc(threshold: int = GC_THRESHOLD) -> None:
    """Keep the startup heap out of the cyclic GC's passes and collect less often.

    Long-lived objects (modules, the service tree) never need collecting, and
    games make few cycles, so full passes no longer stall thousands of games'
    ticks (at 4000 games: worst tick 285 ms -> 66 ms, p99 15 ms -> 3.4 ms).
    Called by the daemon once, as it starts.
    """
    gc.freeze()
    gc.set_threshold(threshold, 50, 100)


_OPEN = WebSocketServerProtocol.STATE_OPEN
_LEAN_FIRST_BYTE = 0x81  # FIN, no RSV bits, opcode 1 (text)
_from_bytes = int.from_bytes


def unmask(payload: bytes, mask: bytes) -> bytes:
    """``payload`` XORed with the 4-byte ``mask`` repeated (RFC 6455 5.3), as one big-integer XOR."""
    n = len(payload)
    if not n:
        return b""
    return (_from_bytes(payload, "big") ^ _from_bytes((mask * ((n >> 2) + 1))[:n], "big")).to_bytes(n, "big")


def lean_limit(max_message: int, max_frame: int) -> int:
    """The largest payload the lean path takes: both of Autobahn's limits (0: none), and 125 (a 7-bit length)."""
    limit = 125
    if 0 < max_message < limit:
        limit = max_message
    if 0 < max_frame < limit:
        limit = max_frame
    return limit


class LazyValidator:
    """A connection's UTF-8 validator, made when Autobahn's parser first uses it rather than per connection.

    Autobahn gives every connection an NVX ``Utf8Validator`` as it connects
    (about 0.75 KB); the lean receive path checks the messages players send
    with ``bytes.decode``, so most connections never use theirs.  This data
    descriptor drops the one Autobahn assigns and makes one at the first read,
    from ``onFrameBegin``'s ``reset()`` on a text message (21.0 -> 20.7 KB
    per idle connected game, ``bench/scenario.sh idle``).
    """

    def __get__(self, protocol, owner=None):
        if protocol is None:
            return self
        validator = protocol.__dict__.get("_utf8validator")
        if validator is None:
            validator = protocol.__dict__["_utf8validator"] = Utf8Validator()
        return validator

    def __set__(self, protocol, value):
        protocol.__dict__.pop("_utf8validator", None)  # a fresh one is made when first needed


class _LazyPretty:
    """``pprint.pformat(value)``, made only when the text is asked for (a log line that is never written is not)."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value

    def __str__(self):
        return pformat(self.value)

    __repr__ = __str__

    def __format__(self, spec):
        return format(pformat(self.value), spec)


def options_on_class(factory) -> None:
    """Give ``factory``'s protocol its options as class attributes, in a subclass made for the factory.

    Autobahn copies a factory's ~40 protocol options (``CONFIG_ATTRS``) onto
    each connection as it is made, unless the connection already has them: a
    subclass holding them as class attributes keeps them out of every
    connection's instance dictionary (memory) and skips the copy.  Call it
    after the factory's last ``setProtocolOptions``.  With the lazy debug line
    of :meth:`FastPathProtocol._connectionMade`: a game's set-up (create,
    join, two upgrades; ``bench/micro.py game``) 1,783 -> 1,080 µs, and 18.0
    -> 13.3 KB per idle connected game (``bench/scenario.sh idle``).
    """
    base = factory.protocol
    options = {}
    for name in base.CONFIG_ATTRS:
        value = getattr(factory, name)
        # A function (perMessageCompressionAccept) would become a method on a class: keep it as it is.
        options[name] = staticmethod(value) if hasattr(type(value), "__get__") else value
    factory.protocol = type(base.__name__, (base,), dict(options, __module__=base.__module__,
                                                          __qualname__=base.__qualname__))


class FastPathProtocol(WebSocketServerProtocol):
    """Autobahn's server protocol with its per-read, per-message and per-send costs cut.

    A subclass implements :meth:`message_too_big`, calls :meth:`forget_handshake`
    once open and sends prepared frames with :meth:`write_prepared`.  It must
    leave Autobahn's per-frame hooks (``onMessageBegin``, ``onMessageFrameBegin``,
    ``onMessageFrameData``, ``onMessageFrameEnd``, ``onMessageFrame``) alone: the
    lean receive path delivers a message with ``onMessage`` without them.
    """

    heard = True  # data arrived since the heartbeat's last beat (rpsa.play.heartbeat)
    utf8validator = LazyValidator()

    def dataReceived(self, data):
        # Autobahn's own dataReceived formats a debug line (with colour
        # highlighting) on every read, even with debug logging off (about 4 %
        # of the server's CPU under load), and its frame parser builds a frame
        # header, an XOR masker and a reset UTF-8 validator for every frame,
        # the messages players send included: about 10 µs a message.  Between
        # messages, with nothing buffered and nothing negotiated or logged that
        # changes how a frame is read, the lean path takes the frames players
        # actually send (one frame, text, masked, 0-125 bytes, within the size
        # limits, valid UTF-8) in about 1.5 µs; from the first frame that is
        # anything else, the rest of the bytes go to Autobahn's parser, which
        # then keeps them until its frame is complete.  Autobahn's traffic
        # counters are kept as it keeps them.  tests/play/test_fastpath.py
        # feeds both paths the same generated byte streams and checks they
        # deliver the same messages and write the same bytes (close codes).
        self.heard = True
        if (self.state != _OPEN or self.data or self.current_frame is not None or self.inside_message
                or self.failedByMe or self._perMessageCompress is not None or not self.applyMask
                or self.logOctets or self.logFrames or self.trackedTimings or self.autoPingTimeoutCall is not None):
            self._dataReceived(data)
            return
        stats = self.trafficStats
        end = len(data)
        stats.incomingOctetsWireLevel += end
        limit = lean_limit(self.maxMessagePayloadSize, self.maxFramePayloadSize)
        at = 0
        while end - at >= 6 and data[at] == _LEAN_FIRST_BYTE:
            length = data[at + 1] - 0x80  # negative: the mask bit is not set
            if length < 0 or length > limit:
                break
            stop = at + 6 + length
            if stop > end:
                break
            payload = unmask(data[at + 6:stop], data[at + 2:at + 6])
            if not payload.isascii():
                try:
                    payload.decode("utf-8")
                except UnicodeDecodeError:
                    break  # Autobahn's parser fails the connection (1007)
            at = stop
            stats.incomingOctetsWebSocketLevel += length
            stats.incomingOctetsAppLevel += length
            stats.incomingWebSocketFrames += 1
            stats.incomingWebSocketMessages += 1
            self.onMessage(payload, False)
            if self.state != _OPEN:
                break
        if at < end:
            self.data = data[at:] if at else data
            self.consumeData()

    def _connectionMade(self):
        # Autobahn pretty-prints its ~40 options for a debug line as every
        # connection is made (pprint.pformat, about a third of an upgrade's
        # CPU), debug logging on or off.  For this call its module's
        # ``pformat`` is one that formats only if the line is ever written.
        saved, protocol_module.pformat = protocol_module.pformat, _LazyPretty
        try:
            super()._connectionMade()
        finally:
            protocol_module.pformat = saved

    def onMessageEnd(self):
        # Autobahn's version also fires a "message" event to observers (a txaio
        # future and callbacks per message, about 4 % of the server's CPU under
        # load); nothing here observes it, so hand the message on directly.
        if not self.failedByMe:
            self.onMessage(b"".join(self.message_data), self.message_is_binary)
        self.message_data = None

    def _max_message_size_exceeded(self, msg_size, max_msg_size, reason):
        # Autobahn's hook for an oversized message: close with rpsa's own code
        # (instead of 1009) before the payload is buffered.  The server factory
        # fails connections by dropping TCP (failByDrop), which would never send
        # the code: fail this one with a closing handshake instead.
        code, text = self.message_too_big()
        self.failByDrop = False
        self._fail_connection(code, text)

    def message_too_big(self) -> Tuple[int, str]:
        """A message over the size limit is arriving: the close code and reason to fail with."""
        raise NotImplementedError

    # What Autobahn keeps of the opening handshake; it only reads them while
    # shaking hands, and they would otherwise live as long as the connection
    # (29.1 -> 25.5 KB of memory per idle game).
    _HANDSHAKE_LEFTOVERS = ("http_request_data", "http_response_data", "http_headers",
                            "http_request_params", "http_status_line", "http_response_body")

    def forget_handshake(self) -> None:
        """Drop what Autobahn kept of the opening handshake (call from ``onOpen``)."""
        for name in self._HANDSHAKE_LEFTOVERS:
            if name in self.__dict__:
                setattr(self, name, None)

    def connectionLost(self, reason):
        # Autobahn resolves ``is_closed`` with the protocol itself: the closed
        # connection then references itself through its own attribute, a
        # cycle only a full collection frees, and tune_gc makes those rare (a
        # flood's memory stayed held: 63 -> 226 MB, given back only by
        # gc.collect()).  Whoever waits on is_closed has its own reference to
        # the Deferred; the protocol keeps an already-fired one without it.
        super().connectionLost(reason)
        closed = self.is_closed
        if txaio.is_called(closed):
            self.is_closed = txaio.create_future_success(None)

    def write_prepared(self, prepared) -> bool:
        """Send a frame built once for every receiver, or a burst of them (:mod:`rpsa.play.frames`).

        With nothing queued and no compression negotiated it goes straight to
        the transport (:func:`write_now`), skipping ``sendData``'s per-call
        debug formatting (about 7 % of the server's CPU under load).  True
        when all of it went to the kernel at once (nothing waits in the
        transport's buffer).
        """
        if self.send_queue or self._perMessageCompress is not None:
            self.sendPreparedMessage(prepared)
            return False
        return write_now(self.transport, prepared.payloadHybi)


def write_now(transport, data: bytes) -> bool:
    """Write ``data`` to a TCP transport, straight to its socket when nothing is waiting to be written.

    Twisted's ``write`` only buffers: it registers the socket with epoll for
    writability, sends on the reactor's next pass, then unregisters it once the
    buffer is empty: two ``epoll_ctl`` calls and a poll event (with its log
    context) for every frame broadcast to every connection.  When the
    transport's buffer is empty, ``send`` now, as libuv does; only what the
    kernel does not take goes to ``write``.  Anything but a plain, connected,
    not closing TCP transport (TLS, a test's transport) gets ``write``; so does
    a send that fails, so Twisted meets the error where it always did.
    ``bench/micro.py write``: 8.9 -> 5.4 µs a 150-byte frame, before the poll
    event (and its log context) each buffered write also cost.  True when
    the kernel took all of ``data``.
    """
    if (type(transport) is tcp.Server and transport.connected and not transport.disconnecting
            and not transport._writeDisconnected and not transport.dataBuffer and not transport._tempDataBuffer):
        try:
            sent = transport.socket.send(data)
        except OSError:  # EAGAIN or ENOBUFS: nothing sent; a broken connection: write() finds it again
            sent = 0
        if sent == len(data):
            return True
        if sent:
            data = data[sent:]
    transport.write(data)
    return False


def _lean_do_poll(reactor, timeout):
    """The epoll reactor's ``doPoll`` without ``log.callWithLogger`` around each event (see :func:`lean_poll`)."""
    if timeout is None:
        timeout = -1  # wait indefinitely
    try:
        events = reactor._poller.poll(timeout, len(reactor._selectables))
    except OSError as err:
        if err.errno == errno.EINTR:
            return
        raise
    handle = reactor._doReadOrWrite
    selectables = reactor._selectables
    for fd, event in events:
        selectable = selectables.get(fd)
        if selectable is not None:
            try:
                handle(selectable, fd, event)
            except KeyboardInterrupt:
                raise
            except BaseException:
                log.failure("handling a ready descriptor failed")


def lean_poll(reactor) -> bool:
    """Make an epoll reactor run each ready descriptor's handler without the legacy per-event log context.

    ``EPollReactor.doPoll`` wraps every event in ``log.callWithLogger``: a
    ``logPrefix()`` call, a copied context dict and a context push and pop
    (about 2 µs an event), so that legacy ``twisted.python.log`` calls made
    while handling it carry the descriptor's prefix as their ``system``.  rpsa
    logs with ``twisted.logger`` only; the reactor's own report of a handler's
    exception still names the failure, with ``system`` "-".  Called by the
    daemon once, as it starts; a reactor that is not the epoll reactor (or
    whose ``doIteration`` was already changed) is left alone.  True if changed.
    """
    from twisted.internet.epollreactor import EPollReactor

    if not isinstance(reactor, EPollReactor) or "doIteration" in vars(reactor) \
            or type(reactor).doIteration is not EPollReactor.doPoll:
        return False
    reactor.doIteration = types.MethodType(_lean_do_poll, reactor)
    return True


class UpgradeResource(WebSocketResource):
    """Upgrades a request to a WebSocket, then lets go of the HTTP side.

    After the upgrade the WebSocket protocol owns the TCP connection, but two
    things still hold the HTTP channel, and with it the request, its headers
    and Klein's Deferreds (about 15 KB a connection, for the connection's
    life: 44 -> 27.7 KB of memory per idle game with the other tricks): the
    channel's idle timer (which would also try to close a transport the
    channel no longer has), and the transport, where the channel is still
    registered as the producer.  Both are released here.

    ``factory`` builds the connection: a :class:`~rpsa.play.websocket.SessionFactory`
    (anything with Autobahn's ``buildProtocol``).
    """

    def render(self, request):
        channel = request.channel
        result = super().render(request)
        if channel is not None and channel.transport is None:  # the upgrade took the transport
            channel.setTimeout(None)
            # Where HTTPChannel registered itself (Autobahn's render uses the same attribute).
            network = getattr(channel, "_networkProducer", None)
            if network is not None and getattr(network, "producer", None) is channel:
                network.unregisterProducer()
            self._orphan(request, channel)
        return result

    @staticmethod
    def _orphan(request, channel) -> None:
        # The request is never finished (the WebSocket took its connection), so
        # nothing ever unlinks it: the channel lists it, it points back at the
        # channel and the transport, and Klein's Deferreds wait on it for ever,
        # a cycle per connection that only a full collection freed (tune_gc
        # makes those rare: the soak's memory stayed up).  Unlink it here.
        channel.requests = []
        request.notifications = []
        request.channel = request.transport = None
