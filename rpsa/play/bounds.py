"""What bounds a hostile client where no public API of Twisted reaches (issue 10).

- :class:`DeadlineChannel`: deadlines for the request line and headers, and
  for the body (Twisted's only timer is an idle one that every byte resets).
- :func:`unsent_bytes` and :func:`bound_send_buffer`: what a connection has
  written that its peer has not taken yet, and a fixed kernel send buffer
  (used by :mod:`rpsa.play.websocket` for ``--max-send-buffer``).

Like :mod:`rpsa.play.fastpath`'s tricks, each library internal relied on here
is in the guard table of ``tests/play/test_fastpath.py``, which fails, naming
the trick, when the installed library's code changes.
"""

from __future__ import annotations

import socket
from typing import Callable, Optional

from twisted.web.http import HTTPChannel


def unsent_bytes(transport) -> int:
    """What a connection's transport holds, written but not yet handed to the kernel.

    Twisted's TCP transport buffers writes the kernel did not take
    (``dataBuffer`` from ``offset``, plus ``_tempDataLen``) without bound; a
    peer that never reads makes it grow for ever.  A wrapping transport
    (TLS, the per-address limit) is looked through.
    """
    for _ in range(4):  # wrappers of wrappers, bounded
        inner = getattr(transport, "transport", None)
        if inner is None or not hasattr(transport, "wrappedProtocol"):
            break
        transport = inner
    buffered = getattr(transport, "dataBuffer", b"")
    return len(buffered) - getattr(transport, "offset", 0) + getattr(transport, "_tempDataLen", 0)


def bound_send_buffer(transport, size: int) -> None:
    """Fix the kernel's send buffer of a TCP connection at ``size`` bytes (Linux doubles it).

    By default Linux grows a socket's send buffer up to 4 MB for a peer that
    does not read (100 such peers: 14.7 MB in 60 s, still growing); a fixed
    size bounds it.  Does nothing for a transport without a socket.
    """
    get_handle = getattr(transport, "getHandle", None)
    handle = get_handle() if get_handle is not None else None
    if isinstance(handle, socket.socket):
        try:
            handle.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, size)
        except OSError:
            pass


class DeadlineChannel(HTTPChannel):
    """An HTTP channel with deadlines: ``header_timeout`` seconds for the request line and headers,
    ``body_timeout`` seconds for the body; past one it answers 408 and closes.

    Twisted's only timer is the idle one, which every byte resets: a client
    sending a byte a second held a connection for hours (200 of them were all
    still held at 92 s).  ``on_timeout(reason)`` hears each expiry
    (``header_timeout`` or ``body_timeout``).  Set up by
    :func:`rpsa.site.make_site`.
    """

    header_timeout = 10.0
    body_timeout = 30.0
    on_timeout: Optional[Callable[[str], None]] = None
    _deadline = None

    def connectionMade(self):
        super().connectionMade()
        self._arm(self.header_timeout, "header_timeout")

    def lineReceived(self, line):
        if self._deadline is None:  # the first line of the next request on this connection
            self._arm(self.header_timeout, "header_timeout")
        super().lineReceived(line)

    def allHeadersReceived(self):
        super().allHeadersReceived()
        self._arm(self.body_timeout, "body_timeout")  # disarmed at once when there is no body

    def allContentReceived(self):
        self._disarm()
        super().allContentReceived()

    def connectionLost(self, reason):
        self._disarm()
        super().connectionLost(reason)

    def _arm(self, seconds: float, reason: str) -> None:
        self._disarm()
        self._deadline = self.callLater(seconds, self._expired, reason)

    def _disarm(self) -> None:
        deadline, self._deadline = self._deadline, None
        if deadline is not None and deadline.active():
            deadline.cancel()

    def _expired(self, reason: str) -> None:
        self._deadline = None
        if self.on_timeout is not None:
            self.on_timeout(reason)
        transport = self.transport
        if transport is not None:
            transport.write(b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
            transport.loseConnection()
