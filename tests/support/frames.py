"""Raw WebSocket frames for hostile-client tests: build any frame, valid or not, and read the server's.

:class:`MemoryPeer` connects straight to a game's Autobahn factory over a
``StringTransport`` (synchronous: every byte sent is handled before the call
returns, so property-based tests can run thousands of cases quickly);
:class:`SocketPeer` does the same over a real TCP socket to a running daemon
(blocking, with timeouts: run it in a thread, not on the reactor).  Both speak
through the same frame codec.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import struct
import time
from typing import List, Optional, Tuple

from twisted.internet.address import IPv4Address
from twisted.internet.testing import StringTransport

TEXT, BINARY, CLOSE, PING, PONG, CONTINUATION = 0x1, 0x2, 0x8, 0x9, 0xA, 0x0


def frame(opcode: int, payload: bytes = b"", fin: bool = True, mask: bool = True, rsv: int = 0,
          length: Optional[int] = None) -> bytes:
    """One frame as a client sends it (masked unless ``mask`` is False); ``length`` may lie about the payload."""
    size = len(payload) if length is None else length
    head = bytes([(0x80 if fin else 0) | (rsv & 7) << 4 | (opcode & 0xF)])
    bit = 0x80 if mask else 0
    if size < 126:
        head += bytes([bit | size])
    elif size < 65536:
        head += bytes([bit | 126]) + struct.pack("!H", size)
    else:
        head += bytes([bit | 127]) + struct.pack("!Q", size)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def text(message) -> bytes:
    """A masked text frame holding ``message`` (a dict is sent as JSON)."""
    return frame(TEXT, message if isinstance(message, bytes) else json.dumps(message).encode())


def close_frame(code: int, reason: bytes = b"") -> bytes:
    """A masked close frame."""
    return frame(CLOSE, struct.pack("!H", code) + reason)


def read_frames(data: bytes) -> Tuple[List[Tuple[int, bytes]], bytes]:
    """``([(opcode, payload)], rest)``: the complete server frames at the start of ``data``."""
    frames = []
    while len(data) >= 2:
        opcode, size, offset = data[0] & 0xF, data[1] & 0x7F, 2
        if size == 126:
            if len(data) < 4:
                break
            size, offset = struct.unpack("!H", data[2:4])[0], 4
        elif size == 127:
            if len(data) < 10:
                break
            size, offset = struct.unpack("!Q", data[2:10])[0], 10
        if len(data) < offset + size:
            break
        frames.append((opcode, data[offset:offset + size]))
        data = data[offset + size:]
    return frames, data


def handshake(path: str, host: str = "localhost") -> bytes:
    """A WebSocket opening handshake request for ``path`` (query string included)."""
    key = base64.b64encode(os.urandom(16)).decode()
    return (f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode()


class _Peer:
    """What both peers share: the server's answer split into status, messages and close code."""

    def __init__(self):
        self.status: Optional[int] = None
        self.messages: List[dict] = []
        self.close_code: Optional[int] = None
        self.pongs = 0
        self.pings: List[bytes] = []  # pings not answered yet
        self._buffer = b""

    def _feed(self, data: bytes) -> None:
        self._buffer += data
        if self.status is None:
            head, sep, rest = self._buffer.partition(b"\r\n\r\n")
            if not sep:
                return
            self.status = int(head.split(b" ", 2)[1])
            self._buffer = rest if self.status == 101 else b""
        if self.status != 101:
            return
        frames, self._buffer = read_frames(self._buffer)
        for opcode, payload in frames:
            if opcode == TEXT:
                self.messages.append(json.loads(payload))
            elif opcode == PONG:
                self.pongs += 1
            elif opcode == PING:
                self.pings.append(payload)
            elif opcode == CLOSE and self.close_code is None:
                self.close_code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005

    def of_type(self, kind: str) -> List[dict]:
        """The messages received of type ``kind``."""
        return [m for m in self.messages if m.get("type") == kind]


class _Transport(StringTransport):
    """A StringTransport that, like a TCP transport, lets a protocol unregister a producer it never registered."""

    def unregisterProducer(self):
        if self.producer is not None:
            super().unregisterProducer()


class MemoryPeer(_Peer):
    """A client on an in-memory transport to ``factory`` (a game's factory), through its opening handshake.

    Like a browser, it answers pings with pongs (unless ``answer_pings`` is False).
    """

    def __init__(self, factory, path: str, port: int = 40000, answer_pings: bool = True):
        super().__init__()
        self.answer_pings = answer_pings
        address = IPv4Address("TCP", "127.0.0.1", port)
        self.protocol = factory.buildProtocol(address)
        self.transport = _Transport(peerAddress=address, hostAddress=IPv4Address("TCP", "127.0.0.1", 8080))
        self.protocol.makeConnection(self.transport)
        self.send(handshake(path))

    def send(self, data: bytes) -> None:
        """Hand ``data`` to the server (unless it has dropped the connection), then read what it answered."""
        if not self.transport.disconnecting:
            self.protocol.dataReceived(data)
        self.poll()

    def poll(self) -> None:
        """Read what the server wrote since the last call."""
        data = self.transport.value()
        self.transport.clear()
        self._feed(data)
        pings, self.pings = self.pings, []
        if self.answer_pings and not self.transport.disconnecting:
            for payload in pings:
                self.send(frame(PONG, payload))
        if self.transport.disconnecting and not self._lost:
            self.lose()  # the server closed the connection: as a reactor would, tell its protocol

    _lost = False

    def lose(self) -> None:
        """The TCP connection ends (the client dropped it, or the server closed it)."""
        from twisted.internet.error import ConnectionDone
        from twisted.python.failure import Failure

        if self._lost:
            return
        self._lost = True
        self.transport.disconnecting = True
        self.protocol.connectionLost(Failure(ConnectionDone()))

    @property
    def dropped(self) -> bool:
        """Whether the server closed or aborted the TCP connection."""
        return self.transport.disconnecting or getattr(self.transport, "disconnected", False)


class SocketPeer(_Peer):
    """A client on a real TCP socket (blocking, ``timeout`` seconds per read)."""

    def __init__(self, port: int, path: str, timeout: float = 5.0, host: str = "127.0.0.1"):
        super().__init__()
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.eof = False
        self.send(handshake(path))
        self.read_until(lambda: self.status is not None)

    def send(self, data: bytes) -> None:
        """Send raw bytes (a peer that has already been dropped ignores the error)."""
        try:
            self.sock.sendall(data)
        except OSError:
            self.eof = True

    def read_until(self, done, seconds: float = 5.0) -> bool:
        """Read until ``done()`` is true, the server closes, or ``seconds`` pass; returns ``done()``."""
        deadline = time.monotonic() + seconds
        while not done() and not self.eof and time.monotonic() < deadline:
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                data = b""
            if not data:
                self.eof = True
                break
            self._feed(data)
        return bool(done())

    def close(self) -> None:
        """Close the socket."""
        self.sock.close()
