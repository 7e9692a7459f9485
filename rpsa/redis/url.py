"""``--redis`` URLs: parsing, the endpoint each one connects through, and a form safe to show.

Accepted forms (the ones redis-py and most tools use):

- ``redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]``: TCP, port 6379 and database 0 by default;
- ``rediss://...`` the same over TLS: the server's certificate is always verified against
  the system's trust store, or against ``?ssl_ca_certs=PEMFILE`` (a CA bundle) for a
  private CA, and must name HOST; verification cannot be turned off;
- ``unix://[[USER]:PASSWORD@]/PATH/TO/SOCKET[?db=DB]``: a Unix socket
  (``?password=`` is accepted too).

User name and password are percent-decoded.  The password is kept out of ``repr()``,
``str()`` and :meth:`RedisURL.redacted`, so a log line or an error naming the URL never
shows it; :func:`parse_redis_url` raises :class:`ValueError` with a message that shows
only the redacted URL.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Optional
from urllib.parse import parse_qs, quote, unquote, urlsplit

DEFAULT_PORT = 6379
SCHEMES = ("redis", "rediss", "unix")
_QUERY = {"redis": {"db"}, "rediss": {"db", "ssl_ca_certs"}, "unix": {"db", "password"}}


@dataclass(frozen=True)
class RedisURL:
    """Where and how to reach Redis.  Build it with :func:`parse_redis_url`."""

    scheme: str
    host: Optional[str] = None  # redis, rediss
    port: int = DEFAULT_PORT
    path: Optional[str] = None  # unix
    username: Optional[str] = None
    password: Optional[str] = field(default=None, repr=False)
    db: int = 0
    ca_file: Optional[str] = None  # rediss: the CA bundle, else the system's trust store

    @property
    def tls(self) -> bool:
        return self.scheme == "rediss"

    def redacted(self) -> str:
        """The URL with the password replaced by ``***`` (safe to log)."""
        user = quote(self.username or "", safe="")
        auth = f"{user}:***@" if self.password is not None else (f"{user}@" if user else "")
        if self.scheme == "unix":
            return f"unix://{auth}{self.path}" + (f"?db={self.db}" if self.db else "")
        host = f"[{self.host}]" if ":" in (self.host or "") else self.host
        query = f"?ssl_ca_certs={quote(self.ca_file)}" if self.ca_file else ""
        return f"{self.scheme}://{auth}{host}:{self.port}/{self.db}{query}"

    def __str__(self) -> str:
        return self.redacted()

    def __repr__(self) -> str:
        return f"RedisURL({self.redacted()!r})"

    def endpoint(self, reactor, timeout: float):
        """A client endpoint reaching this Redis (TLS verified for ``rediss``); ``timeout`` bounds the connect."""
        from twisted.internet.endpoints import HostnameEndpoint, UNIXClientEndpoint, wrapClientTLS

        if self.scheme == "unix":
            return UNIXClientEndpoint(reactor, self.path, timeout=timeout)
        tcp = HostnameEndpoint(reactor, self.host, self.port, timeout=timeout)
        if not self.tls:
            return tcp
        return wrapClientTLS(self.tls_options(), tcp)

    def tls_options(self):
        """Client TLS options that verify the server's certificate and its name (``host``)."""
        from twisted.internet import ssl

        if self.ca_file:
            trust = ssl.trustRootFromCertificates(_load_certificates(self.ca_file))
        else:
            trust = ssl.platformTrust()
        return ssl.optionsForClientTLS(self.host, trustRoot=trust)


def _load_certificates(path: str):
    from twisted.internet import ssl

    with open(path, encoding="ascii") as f:
        text = f.read()
    end = "-----END CERTIFICATE-----"
    blocks = [block + end for block in text.split(end) if "-----BEGIN CERTIFICATE-----" in block]
    if not blocks:
        raise ValueError(f"{path}: no PEM certificate in it")
    return [ssl.Certificate.loadPEM(block.strip()) for block in blocks]


def _shown(text: str) -> str:
    """``text`` with any password in its userinfo replaced (for error messages)."""
    scheme, sep, rest = text.partition("://")
    if not sep:
        return text
    userinfo, at, after = rest.rpartition("@")
    if not at:
        return _hide_query_password(text)
    user = userinfo.split(":", 1)[0]
    return _hide_query_password(f"{scheme}://{user}:***@{after}")


def _hide_query_password(text: str) -> str:
    head, sep, query = text.partition("?")
    if not sep:
        return text
    parts = ["password=***" if p.startswith("password=") else p for p in query.split("&")]
    return head + "?" + "&".join(parts)


def _db(text: str, shown: str) -> int:
    try:
        db = int(text)
    except ValueError:
        raise ValueError(f"{shown}: the database must be a number, got {text!r}") from None
    if db < 0:
        raise ValueError(f"{shown}: the database must be 0 or more, got {db}")
    return db


def parse_redis_url(text: str) -> RedisURL:
    """The :class:`RedisURL` of ``text``; :class:`ValueError` (never showing the password) if it is not one."""
    shown = _shown(text)
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as e:
        raise ValueError(f"{shown}: not a valid URL ({e})") from None
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise ValueError(f"{shown}: expected redis://, rediss:// or unix://")
    if parts.fragment:
        raise ValueError(f"{shown}: a fragment (#...) means nothing here")
    query = parse_qs(parts.query, keep_blank_values=True, strict_parsing=False)
    unknown = sorted(set(query) - _QUERY[scheme])
    if unknown:
        raise ValueError(f"{shown}: unknown parameter(s) {', '.join(unknown)} (accepted: {', '.join(sorted(_QUERY[scheme]))})")
    if any(len(values) > 1 for values in query.values()):
        raise ValueError(f"{shown}: a parameter is given twice")
    one = {name: values[0] for name, values in query.items()}
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password is not None else None
    if "password" in one:
        if password is not None:
            raise ValueError(f"{shown}: the password is given twice")
        password = one["password"]
    if password == "":
        password = None
    db = _db(one["db"], shown) if "db" in one else 0

    if scheme == "unix":
        if parts.hostname:
            raise ValueError(f"{shown}: expected unix:///path/to/socket (three slashes: no host)")
        if not parts.path.startswith("/") or parts.path == "/":
            raise ValueError(f"{shown}: expected an absolute socket path, unix:///path/to/socket")
        return RedisURL("unix", path=unquote(parts.path), username=username, password=password, db=db)

    if not parts.hostname:
        raise ValueError(f"{shown}: no host")
    path = parts.path.strip("/")
    if path:
        if "db" in one:
            raise ValueError(f"{shown}: the database is given twice (path and ?db=)")
        db = _db(path, shown)
    ca_file = one.get("ssl_ca_certs") or None
    if ca_file is not None and not os.path.isfile(ca_file):
        raise ValueError(f"{shown}: ssl_ca_certs: no such file {ca_file!r}")
    return RedisURL(scheme, host=parts.hostname, port=port or DEFAULT_PORT, username=username,
                    password=password, db=db, ca_file=ca_file)
