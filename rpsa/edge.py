"""What the server checks and bounds at its edge, before any API sees a request.

- :class:`RequestGate`: in front of the root resource: a path that is not
  UTF-8 or a ``Host`` that cannot be parsed is 400 (nothing is done); a method
  a route does not take is 405 with ``Allow``; ``OPTIONS`` answers 204 with
  ``Allow`` on every route.  It is the one place OPTIONS is handled: with
  ``--cors-origin`` it hands each well-formed request to the
  :class:`~rpsa.cors.CORSPolicy`, which answers preflights and adds the CORS
  headers.  WebSocket upgrades go straight to
  their API's :class:`Upgrade` handler, past the Klein apps: a Klein render
  left each upgraded request in a reference cycle (its closures wait for a
  response that never comes), which kept a closed connection's request,
  channel and transport until a full collection.
- :class:`PerAddressLimit`: at most ``--max-connections-per-address``
  connections from one IP address (a wrapping factory; the excess is closed at
  once and counted).
- The deadlines for the request line and headers and for the body are the
  HTTP channel's (:class:`rpsa.play.bounds.DeadlineChannel`, set up by
  :func:`rpsa.site.make_site`); the cap on what a WebSocket may leave unread is
  the connection's (:mod:`rpsa.play.websocket`).

Every refusal is reported to a :class:`~rpsa.play.hooks.ServerHooks`
(``dropped(reason)``), which the metrics count.
"""

from __future__ import annotations

import functools
import re
from typing import Callable, Dict, List, NamedTuple, Optional
from urllib.parse import unquote_to_bytes, urlsplit

from twisted.internet import defer
from twisted.internet.address import IPv4Address, IPv6Address
from twisted.protocols.policies import WrappingFactory
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET

from rpsa.cors import CORSPolicy
from rpsa.play.hooks import ServerHooks
from rpsa.web import APIError, api_error, error_response, finish_later

ALLOWED_CACHE_SIZE = 1024  # paths whose methods RequestGate remembers (the first ones seen: /create_game...)
_UNKNOWN = object()
_HOST = re.compile(r"[A-Za-z0-9.\-_~%!$&'()*+,;=:\[\]]+")


@functools.lru_cache(maxsize=256)  # clients send a handful of Host values: each is checked once
def host_problem(host: Optional[bytes]) -> Optional[str]:
    """Why a ``Host`` header value cannot be used, or None (an absent Host is allowed: HTTP/1.0)."""
    if host is None:
        return None
    try:
        text = host.decode("ascii")
    except UnicodeDecodeError:
        return "the Host header is not ASCII"
    if not _HOST.fullmatch(text):
        return "the Host header is not a host name or address"
    try:
        parts = urlsplit("//" + text)
        parts.port  # raises ValueError for a port that is not a number or out of range
        if not parts.hostname or parts.netloc != text:
            raise ValueError(text)
    except ValueError:
        return "the Host header is not host[:port]"
    return None


def template_pattern(template: str) -> "re.Pattern[str]":
    """A route template (``/api/games/{game_id}``) as a regular expression over raw paths, one group per parameter."""
    return re.compile("^" + re.sub(r"\\{(\w+)\\}", r"(?P<\1>[^/]+)", re.escape(template)) + "$")


class Upgrade(NamedTuple):
    """A WebSocket route: its ``template``, and ``handler(request, **parameters)``, which returns the
    resource that upgrades the request (or a Deferred firing with it: a cluster's relay looks its node
    up first) or raises APIError; ``render_error`` answers that error."""

    template: str
    handler: Callable[..., Resource]
    render_error: Callable[[object, APIError], bytes]


def _render_later(request, render, *args) -> None:
    """``render(request, *args)`` once a handler's Deferred has fired, finishing ``request`` unless it was upgraded."""
    if request.finished or request.channel is None:
        return  # the client went away while the handler waited: nothing to render
    finish_later(request, render(request, *args))


class RequestGate(Resource):
    """Checks every request before ``inner`` (the root resource) renders it.

    ``routes``: every route template and its methods (:func:`rpsa.web.route_table`);
    ``render_error(request, APIError)``: how to answer a refusal on this path
    (the native or the original routes' style); ``upgrades``: the
    :class:`Upgrade` routes, served here directly; ``cors``: the
    :class:`~rpsa.cors.CORSPolicy` (``--cors-origin``), or None (no CORS).
    """

    isLeaf = True

    def __init__(self, inner: Resource, routes: Dict[str, List[str]],
                 render_error: Callable[[object, APIError], bytes] = error_response, upgrades: List[Upgrade] = (),
                 cors: Optional[CORSPolicy] = None):
        super().__init__()
        self._cors = cors
        self._inner = inner
        self._render_error = render_error
        self._routes = [(template_pattern(t), methods) for t, methods in routes.items()]
        self._upgrades = [(template_pattern(u.template), u) for u in upgrades]
        self._allowed: Dict[bytes, Optional[List[str]]] = {}  # by path, for the busiest paths (bounded)

    def allowed(self, path: bytes) -> Optional[List[str]]:
        """The methods the route at ``path`` takes (``HEAD`` with ``GET``, and ``OPTIONS``), or None (no route)."""
        known = self._allowed.get(path, _UNKNOWN)
        if known is not _UNKNOWN:
            return known
        methods = self._methods(path)
        if len(self._allowed) < ALLOWED_CACHE_SIZE:
            self._allowed[path] = methods
        return methods

    def _methods(self, path: bytes) -> Optional[List[str]]:
        text = path.decode("latin-1")
        methods = set()
        for pattern, route_methods in self._routes:
            if pattern.match(text):
                methods.update(route_methods)
        if not methods:
            return None
        if "GET" in methods:
            methods.add("HEAD")
        return sorted(methods | {"OPTIONS"})

    def render(self, request):
        try:
            unquote_to_bytes(request.path).decode("utf-8")
        except UnicodeDecodeError:
            return self._refuse(request, APIError(400, "bad_path", "the path is not UTF-8 once percent-decoded"))
        problem = host_problem(request.getHeader(b"host"))
        if problem is not None:
            return self._refuse(request, APIError(400, "bad_header", problem))
        if self._cors is not None:
            answer = self._cors.answer(request)  # a preflight's answer, or None (CORS headers set)
            if answer is not None:
                return answer
        allowed = self.allowed(request.path)
        if allowed is not None and request.method.decode("latin-1") not in allowed:
            request.setHeader(b"Allow", ", ".join(allowed).encode())
            return self._refuse(request, APIError(405, "method_not_allowed",
                                                  f"this route takes {', '.join(allowed)}"))
        if allowed is not None and request.method == b"OPTIONS":
            return self.options(request, allowed)
        if request.method == b"GET" and (request.getHeader(b"upgrade") or b"").strip().lower() == b"websocket":
            for pattern, upgrade in self._upgrades:
                found = pattern.match(request.path.decode("latin-1"))
                if found:
                    parameters = {k: unquote_to_bytes(v).decode("utf-8") for k, v in found.groupdict().items()}
                    try:
                        resource = upgrade.handler(request, **parameters)
                    except APIError as e:
                        return upgrade.render_error(request, e)
                    if isinstance(resource, defer.Deferred):
                        resource.addCallbacks(lambda found: _render_later(request, found.render),
                                              lambda failure: _render_later(request, upgrade.render_error,
                                                                            api_error(request, failure)))
                        return NOT_DONE_YET
                    return resource.render(request)
        return self._inner.render(request)

    def options(self, request, allowed: List[str]) -> bytes:
        """``OPTIONS`` on a route: 204 with ``Allow``."""
        request.setResponseCode(204)
        request.setHeader(b"Allow", ", ".join(allowed).encode())
        return b""

    def _refuse(self, request, error: APIError) -> bytes:
        return self._render_error(request, error)


class PerAddressLimit(WrappingFactory):
    """``factory``, with at most ``limit`` connections at once from one IP address (others are closed at once).

    ``hooks``: told ``dropped("per_address")`` for each connection refused.
    Unix-socket connections are not limited (they have no address).
    """

    def __init__(self, factory, limit: int, hooks: Optional[ServerHooks] = None):
        super().__init__(factory)
        self.limit = limit
        self.hooks = hooks or ServerHooks()
        self.connections: Dict[str, int] = {}

    def buildProtocol(self, addr):
        host = addr.host if isinstance(addr, (IPv4Address, IPv6Address)) else None
        if host is not None:
            count = self.connections.get(host, 0)
            if count >= self.limit:
                self.hooks.dropped("per_address")
                return None
            self.connections[host] = count + 1
        protocol = super().buildProtocol(addr)
        protocol.peer_host = host
        return protocol

    def unregisterProtocol(self, protocol):
        super().unregisterProtocol(protocol)
        host = getattr(protocol, "peer_host", None)
        if host is not None:
            left = self.connections.get(host, 1) - 1
            if left > 0:
                self.connections[host] = left
            else:
                self.connections.pop(host, None)
