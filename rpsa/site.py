"""The Site every listener serves: bounded requests, deadlines, and an access log without query strings.

:func:`make_site` builds it around a root resource (the daemon's, or a match
child's): request bodies past :data:`rpsa.web.MAX_BODY_BYTES` are not stored
(:class:`BoundedRequest`; the APIs answer 413), the channel has deadlines for
the headers and the body (:class:`rpsa.play.bounds.DeadlineChannel`), idle
keep-alive connections are closed after :data:`HTTP_IDLE_TIMEOUT`, and
:class:`SiteHooks` hears of every request and every deadline missed.
"""

from __future__ import annotations

import re
from typing import Optional

from twisted.internet.address import IPv4Address, IPv6Address
from twisted.web.http import combinedLogFormatter
from twisted.web.server import Request, Site

from rpsa.play.bounds import DeadlineChannel
from rpsa.web import MAX_BODY_BYTES

HTTP_IDLE_TIMEOUT = 60  # seconds an idle keep-alive HTTP connection is kept (Twisted's default: 12 hours)


class BoundedRequest(Request):
    """A request that stops storing its body past MAX_BODY_BYTES (it is answered 413)."""

    body_too_large = False

    def gotLength(self, length):
        if length is not None and length > MAX_BODY_BYTES:
            self.body_too_large = True
            length = 0
        super().gotLength(length)

    def handleContentChunk(self, data):
        if self.body_too_large:
            return
        if self.content.tell() + len(data) > MAX_BODY_BYTES:
            self.body_too_large = True
            self.content.seek(0)
            self.content.truncate()
            return
        super().handleContentChunk(data)



class _WithoutQueries:
    """A view of a request whose URI and Referer have no query string (tokens live there)."""

    def __init__(self, request):
        self._request = request
        self.uri = request.uri.split(b"?", 1)[0]

    def getHeader(self, name):
        value = self._request.getHeader(name)
        if value is not None and name.lower() == b"referer":
            value = value.split(b"?", 1)[0]
        return value

    def __getattr__(self, name):
        return getattr(self._request, name)


# Bytes that Twisted's combined log format shows as they are: printable ASCII without quotes or backslashes.
_NEEDS_ESCAPING = re.compile(rb"[^\x20-\x7e]|[\"'\\]")


def access_log_formatter(timestamp: str, request) -> str:
    """A combined-log-format line without the query strings of the URI and the Referer.

    The line is Twisted's ``combinedLogFormatter``'s.  When no field needs
    escaping (the common case) it is built directly: Twisted escapes each of
    its six fields through ``repr`` (about 10 µs a line); otherwise
    Twisted's formatter builds it.
    """
    address = request.getClientAddress()
    ip = address.host if isinstance(address, (IPv4Address, IPv6Address)) else None
    referrer = request.getHeader(b"referer")
    if referrer is not None:
        referrer = referrer.split(b"?", 1)[0]
    agent = request.getHeader(b"user-agent")
    fields = (request.method, request.uri.split(b"?", 1)[0], request.clientproto, referrer or b"-", agent or b"-")
    if ip is None or type(ip) is not str or any(type(f) is not bytes or _NEEDS_ESCAPING.search(f) for f in fields) \
            or _NEEDS_ESCAPING.search(ip.encode("ascii", "replace")):
        return combinedLogFormatter(timestamp, _WithoutQueries(request))
    method, uri, protocol, referrer, agent = (f.decode("ascii") for f in fields)
    return (f'"{ip}" - - {timestamp} "{method} {uri} {protocol}" {request.code:d} {request.sentLength or "-"} '
            f'"{referrer}" "{agent}"')


class SiteHooks:
    """Hears about every finished HTTP request (the metrics implement it); a no-op here."""

    def http_request(self, request) -> None:
        """``request`` was answered and logged (its ``path`` and ``code`` are set)."""

    def dropped(self, reason: str) -> None:
        """A connection was dropped for missing a deadline (``header_timeout``, ``body_timeout``)."""


class _CountingSite(Site):
    """A Site that reports every finished request to its ``hooks`` (for metrics)."""

    hooks = SiteHooks()

    def log(self, request):
        super().log(request)
        self.hooks.http_request(request)


class _DeadlineSite(_CountingSite):
    """A Site whose channels have deadlines (see :class:`rpsa.play.bounds.DeadlineChannel`)."""

    protocol = DeadlineChannel
    header_timeout = DeadlineChannel.header_timeout
    body_timeout = DeadlineChannel.body_timeout

    def buildProtocol(self, addr):
        channel = super().buildProtocol(addr)
        channel.header_timeout = self.header_timeout
        channel.body_timeout = self.body_timeout
        channel.on_timeout = self.hooks.dropped
        return channel


def make_site(resource, reactor=None, hooks: Optional[SiteHooks] = None,
              header_timeout: float = DeadlineChannel.header_timeout,
              body_timeout: float = DeadlineChannel.body_timeout) -> Site:
    """A Site with bounded request bodies, deadlines, and access logs without query strings or referrers' queries.

    ``reactor``: the site's clock (idle timeouts and deadlines); ``hooks``: a
    :class:`SiteHooks` told of every request logged and every deadline missed
    (the metrics count them), or None; ``header_timeout`` and ``body_timeout``
    are the seconds a client has for the request line and headers, and for the
    body (``--header-timeout``, ``--body-timeout``).  Request bodies are never
    parsed as HTML forms into ``request.args`` (every API reads JSON; ``args``
    holds the query string only): Twisted would parse each POST's Content-Type
    with the ``email`` package to find out (about 40 µs a request).
    """
    site = _DeadlineSite(resource, logFormatter=access_log_formatter, reactor=reactor, timeout=HTTP_IDLE_TIMEOUT,
                         parsePOSTFormSubmission=False)
    if hooks is not None:
        site.hooks = hooks
    site.requestFactory = BoundedRequest
    site.displayTracebacks = False
    site.header_timeout, site.body_timeout = header_timeout, body_timeout
    return site
