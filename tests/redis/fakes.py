"""A fake endpoint that hands txredisapi's protocol a StringTransport, and RESP helpers."""

from twisted.internet import defer
from twisted.internet.error import ConnectionDone, ConnectionRefusedError
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure


def resp(value) -> bytes:
    """``value`` encoded as a RESP2 reply: str -> simple string, int, None -> nil, list, Exception -> error."""
    if isinstance(value, Exception):
        return f"-{value}\r\n".encode()
    if isinstance(value, bool):
        raise TypeError(value)
    if isinstance(value, int):
        return f":{value}\r\n".encode()
    if value is None:
        return b"$-1\r\n"
    if isinstance(value, bytes):
        return b"$%d\r\n%s\r\n" % (len(value), value)
    if isinstance(value, str):
        return f"+{value}\r\n".encode()
    return b"*%d\r\n" % len(value) + b"".join(resp(v) for v in value)


def parse_commands(data: bytes):
    """The commands (lists of str) in RESP arrays written by the client."""
    commands, rest = [], data
    while rest:
        assert rest[:1] == b"*", rest[:40]
        header, rest = rest.split(b"\r\n", 1)
        args = []
        for _ in range(int(header[1:])):
            length, rest = rest.split(b"\r\n", 1)
            n = int(length[1:])
            args.append(rest[:n].decode())
            rest = rest[n + 2:]
        commands.append(args)
    return commands


class Link:
    """One connection made through :class:`FakeEndpoint`."""

    def __init__(self, proto, transport, clock):
        self.proto = proto
        self.transport = transport
        self._clock = clock
        self._read = 0

    def commands(self):
        """Commands written since the last call."""
        data = self.transport.value()
        new, self._read = data[self._read:], len(data)
        return parse_commands(new)

    def reply(self, *values):
        self.proto.dataReceived(b"".join(resp(v) for v in values))
        self._clock.advance(0)  # txredisapi's parser resumes on callLater(0) after a bulk reply

    def lose(self, reason=None):
        self.proto.connectionLost(Failure(reason or ConnectionDone("gone")))


class FakeEndpoint:
    """Each ``connect`` waits until the test calls :meth:`accept` or :meth:`refuse`."""

    def __init__(self, clock):
        self._clock = clock
        self.pending = []  # (factory, Deferred)
        self.links = []

    def connect(self, factory):
        d = defer.Deferred(lambda d: None)
        self.pending.append((factory, d))
        return d

    def accept(self):
        factory, d = self.pending.pop(0)
        proto = factory.buildProtocol(None)
        transport = StringTransport()
        proto.makeConnection(transport)
        link = Link(proto, transport, self._clock)
        self.links.append(link)
        d.callback(proto)
        return link

    def refuse(self):
        _, d = self.pending.pop(0)
        d.errback(ConnectionRefusedError("refused"))


class FakeConnection:
    """Stands in for RedisConnection: records each command; the test answers it."""

    def __init__(self):
        self.connected = True
        self.calls = []  # [args, Deferred]
        self._waiting = []

    def execute(self, *args):
        from rpsa.redis.connection import RedisUnavailable

        if not self.connected:
            return defer.fail(RedisUnavailable("down"))
        d = defer.Deferred()
        self.calls.append((args, d))
        return d

    def when_connected(self):
        if self.connected:
            return defer.succeed(self)
        d = defer.Deferred(lambda d: self._waiting.remove(d))
        self._waiting.append(d)
        return d

    def go_down(self):
        """The connection is lost: every pending command fails."""
        from rpsa.redis.connection import RedisUnavailable

        self.connected = False
        calls, self.calls = self.calls, []
        for _, d in calls:
            d.errback(RedisUnavailable("lost"))

    def come_up(self):
        self.connected = True
        waiting, self._waiting = self._waiting, []
        for d in waiting:
            d.callback(self)


def script_entries(args):
    """``(command, stream, sequence key, maxlen, [(seq, fields), ...])`` of an append-script call."""
    command, _script, _nkeys, stream, key, maxlen, _ttl, *rest = args
    entries = []
    while rest:
        seq, n, *rest = rest
        entries.append((int(seq), list(rest[:int(n)])))
        rest = rest[int(n):]
    return command, stream, key, maxlen, entries
