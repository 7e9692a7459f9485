"""``--public-lobby``: the lobby opened to anonymous browsers on a server that has an API key.

Only listing games, reading the fighter table, creating a game and joining one
are opened; everything else (removing games or players, matches, metrics)
still needs the key.  Creates and joins are rate-limited per client address:
a token bucket per address (an IPv6 address counts by its /64 network, which
one subscriber usually holds whole), refused with 429 and ``Retry-After``.
Behind a reverse proxy every client shares the proxy's address: limit there.
"""

from __future__ import annotations

import functools
import ipaddress
import math
from collections import OrderedDict
from typing import Optional, Tuple

from twisted.logger import Logger

from rpsa.web import UNAUTHORIZED, APIError

log = Logger()


def client_key(host: str) -> str:
    """The rate-limit key of a client address: IPv4 as is, IPv6 by its /64 (an IPv4-mapped one as IPv4)."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host  # a unix socket peer, or anything else: as given
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


class AddressRateLimit:
    """Token buckets by address: ``per_minute`` requests a minute, in bursts of up to ``burst``.

    ``reactor`` gives the time; at most ``max_addresses`` buckets are kept (the
    least recently used is forgotten first, which only ever lets that address
    start afresh).
    """

    def __init__(self, reactor, per_minute: float = 10.0, burst: int = 5, max_addresses: int = 100_000):
        if per_minute <= 0 or burst < 1:
            raise ValueError("per_minute must be positive and burst at least 1")
        self._reactor = reactor
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self.max_addresses = max_addresses
        self._buckets: "OrderedDict[str, Tuple[float, float]]" = OrderedDict()  # key -> (tokens, at)

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, host: str) -> Optional[float]:
        """Take one request for ``host``: None if allowed, else the seconds until one would be."""
        key = client_key(host)
        now = self._reactor.seconds()
        tokens, at = self._buckets.pop(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - at) * self.rate)
        wait = None
        if tokens >= 1.0:
            tokens -= 1.0
        else:
            wait = (1.0 - tokens) / self.rate
        self._buckets[key] = (tokens, now)
        while len(self._buckets) > self.max_addresses:
            self._buckets.popitem(last=False)
        return wait


class PublicLobby:
    """What ``--public-lobby`` opens, and the rate limit on creates and joins.

    ``limit``: an :class:`AddressRateLimit` shared by creates and joins.
    """

    #: The routes anonymous clients may use (by the API's route names).
    OPEN_ROUTES = frozenset({"list_games", "get_game", "characters", "create_game", "join_game"})
    #: Of those, the ones that are rate-limited.
    LIMITED_ROUTES = frozenset({"create_game", "join_game"})

    def __init__(self, limit: AddressRateLimit):
        self.limit = limit

    def opens(self, route: str) -> bool:
        """Whether ``route`` is open to anonymous clients."""
        return route in self.OPEN_ROUTES

    def retry_after(self, route: str, request) -> Optional[int]:
        """None if this anonymous request may go ahead, else whole seconds to wait (for ``Retry-After``)."""
        if route not in self.LIMITED_ROUTES:
            return None
        host = getattr(request.getClientAddress(), "host", None) or "unknown"
        wait = self.limit.take(host)
        if wait is None:
            return None
        log.info("public lobby: {route} from {host} rate-limited for {wait:.1f}s", route=route, host=host, wait=wait)
        return max(1, math.ceil(wait))


def key_or_public(route):
    """:func:`rpsa.web.requires_key` for the routes ``--public-lobby`` can open (``self.public``).

    A request carrying the API key goes through.  Without it, the route must
    be open (no key configured, or a :class:`PublicLobby` opening it), and
    with a public lobby, creates and joins are rate-limited: 429
    ``rate_limited`` with ``Retry-After``.
    """

    @functools.wraps(route)
    def checked(self, request, *args, **kwargs):
        access, public, name = self.access, self.public, route.__name__
        if access.open or not access.allowed(request):
            if not access.open and (public is None or not public.opens(name)):
                raise APIError(401, "unauthorized", UNAUTHORIZED)
            wait = None if public is None else public.retry_after(name, request)
            if wait is not None:
                request.setHeader(b"Retry-After", str(wait).encode("ascii"))
                raise APIError(429, "rate_limited",
                               f"too many games created or joined from this address: retry in {wait} s")
        return route(self, request, *args, **kwargs)

    return checked
