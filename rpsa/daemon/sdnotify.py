"""Tell systemd how the daemon is doing: the ``sd_notify`` protocol, without libsystemd.

Under a ``Type=notify`` unit systemd sets ``$NOTIFY_SOCKET``, the address of an
``AF_UNIX`` datagram socket: a path, or an abstract socket name when it starts
with ``@``.  A service sends it newline-separated ``KEY=VALUE`` assignments:
``READY=1`` once it serves, ``STOPPING=1`` when it begins to stop, and
``STATUS=...``, a line of text ``systemctl status`` shows.

:class:`SystemdNotifier` sends those datagrams from a non-blocking socket, so
it never blocks the reactor; a send that fails is logged, never raised (a
daemon must not die because its supervisor is not listening).  Without
``$NOTIFY_SOCKET`` (not started by systemd, or not ``Type=notify``) every
method does nothing.  :meth:`SystemdNotifier.status` may be called as often as
the state changes: it sends at most one ``STATUS`` datagram a second, and the
latest text wins.
"""

from __future__ import annotations

import os
import socket
from typing import Mapping, Optional

from twisted.logger import Logger

log = Logger()

STATUS_INTERVAL = 1.0  # seconds: at most one STATUS datagram this often


def _plural(count: int, noun: str, plural: str) -> str:
    return f"{count} {noun if count == 1 else plural}"


def status_text(games: int, matches: int) -> str:
    """The STATUS line for a server holding ``games`` games and ``matches`` matches, e.g. ``3 games, 1 match``."""
    return f"{_plural(games, 'game', 'games')}, {_plural(matches, 'match', 'matches')}"


def _one_line(text: str) -> str:
    """``text`` on one line: a newline would end the assignment and start another one."""
    return " ".join(text.splitlines())


class SystemdNotifier:
    """Sends ``sd_notify`` datagrams to ``$NOTIFY_SOCKET``; a no-op when it is unset.

    ``environ`` is read once, here.  ``reactor`` provides ``seconds`` and
    ``callLater`` (an :class:`twisted.internet.task.Clock` in tests).
    """

    def __init__(self, reactor, environ: Mapping[str, str] = os.environ):
        self._reactor = reactor
        address = environ.get("NOTIFY_SOCKET") or None
        if address is not None and address.startswith("@"):
            address = "\0" + address[1:]  # an abstract socket (Linux)
        self.address: Optional[str] = address
        self._socket: Optional[socket.socket] = None
        self._last_status: Optional[str] = None  # the STATUS text systemd shows
        self._last_status_at: Optional[float] = None
        self._pending: Optional[str] = None  # the newest text, held back by the rate limit
        self._timer = None

    @property
    def enabled(self) -> bool:
        """Whether there is a ``$NOTIFY_SOCKET`` to talk to."""
        return self.address is not None

    def ready(self, status: Optional[str] = None) -> None:
        """``READY=1``: startup is complete (for ``Type=notify``), with an optional STATUS line."""
        if not self.enabled:
            return
        message = "READY=1"
        if status is not None:
            message += "\nSTATUS=" + _one_line(status)
            self._cancel_pending()
            self._status_sent(status)
        self._send(message)

    def stopping(self) -> None:
        """``STOPPING=1``: the service has begun to shut down."""
        if self.enabled:
            self._send("STOPPING=1")

    def status(self, text: str) -> None:
        """Show ``text`` as the STATUS line: at once, or when the current second is up (latest text wins)."""
        if not self.enabled:
            return
        if self._timer is not None:  # a send is already scheduled: it will carry this text
            self._pending = text
            return
        now = self._reactor.seconds()
        if self._last_status_at is None or now - self._last_status_at >= STATUS_INTERVAL:
            self._send_status(text)
        else:
            self._pending = text
            self._timer = self._reactor.callLater(self._last_status_at + STATUS_INTERVAL - now, self._flush)

    def stop(self) -> None:
        """Cancel a held-back STATUS and close the socket (a later call opens it again)."""
        self._cancel_pending()
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    # -- internals ------------------------------------------------------------

    def _flush(self) -> None:
        self._timer = None
        text, self._pending = self._pending, None
        if text is not None:
            self._send_status(text)

    def _send_status(self, text: str) -> None:
        if text == self._last_status:  # systemd already shows it
            return
        self._status_sent(text)
        self._send("STATUS=" + _one_line(text))

    def _status_sent(self, text: str) -> None:
        self._last_status = text
        self._last_status_at = self._reactor.seconds()

    def _cancel_pending(self) -> None:
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        self._pending = None

    def _send(self, message: str) -> None:
        try:
            if self._socket is None:
                self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                self._socket.setblocking(False)
            self._socket.sendto(message.encode("utf-8"), self.address)
        except Exception:
            log.failure("sd_notify: cannot send {message!r} to NOTIFY_SOCKET {address!r}",
                        message=message, address=self.address.replace("\0", "@", 1))
