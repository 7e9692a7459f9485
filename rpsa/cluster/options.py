"""The cluster's ``twistd rpsa`` options, their defaults, and the cluster part of the service tree.

:data:`OPTIONS` are ``optParameters`` rows for :class:`rpsa.daemon.tap.Options`;
:func:`check_options` (from ``postOptions``) validates them and, with ``--redis``, fills in
the node's name and public URL; :func:`build` makes the :class:`Cluster` of a node.
Without ``--redis`` there is no cluster and none of this is built.
"""

from __future__ import annotations

import math
import re
import socket
from typing import Optional

from twisted.python import usage

from rpsa.contract.names import NODE_NAME_PATTERN
from rpsa.daemon.listeners import split_endpoint
from rpsa.web import public_base

DEFAULT_FORWARD_TIMEOUT = 5.0
NODE_NAME = re.compile(NODE_NAME_PATTERN)


def _seconds(text):
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise usage.UsageError(f"--forward-timeout: {text!r} is not a number") from None
    if not math.isfinite(value) or value <= 0:
        raise usage.UsageError(f"--forward-timeout: must be a positive number of seconds, got {text}")
    return value


_seconds.value_form = "number > 0"

OPTIONS = [
    ["node-name", None, None, "This node's name in a cluster (with --redis): 1-64 letters, digits, '.', '_', "
                              "'-' or ':'; unique in the cluster. Default: host name and port of the first "
                              "--listen."],
    ["forward-timeout", None, DEFAULT_FORWARD_TIMEOUT, "Seconds a request carried to the node that owns its game "
                                                       "or match waits for that node's answer (with --redis); "
                                                       "then 504 owner_unreachable. A match DELETE waits longer.",
     _seconds],
    ["match-public-url", None, None, "Template of the URLs handed out for launched matches, with {port} for the "
                                     "child's port, e.g. wss://games.example.com/m/{port}/ws (http maps to ws, "
                                     "https to wss). Default: ws://HOST:{port}/ws, HOST from --public-url or the "
                                     "request."],
]

VALUE_FORMS = {
    "node-name": "1-64 of `A-Z a-z 0-9 . _ - :`",
    "match-public-url": "`ws(s)://` or `http(s)://` URL containing `{port}`",
}


def _first_port(listen) -> Optional[int]:
    for description in listen:
        kind, args, _ = split_endpoint(description)
        if kind in ("tcp", "tcp6", "ssl", "ssl6") and args and args[0].isdigit():
            return int(args[0])
    return None


def _listen_url(listen) -> Optional[str]:
    for description in listen:
        kind, args, kwargs = split_endpoint(description)
        if kind in ("tcp", "tcp6", "ssl", "ssl6") and args and args[0].isdigit():
            host = kwargs.get("interface", "")
            if host in ("", "0.0.0.0", "::"):
                host = socket.getfqdn()
            if ":" in host:
                host = f"[{host}]"
            return f"{'https' if kind.startswith('ssl') else 'http'}://{host}:{args[0]}"
    return None


def check_options(options) -> None:
    """Validate the cluster's options; with ``--redis``, default ``--node-name`` and ``--public-url``."""
    if isinstance(options["forward-timeout"], str):
        options["forward-timeout"] = _seconds(options["forward-timeout"])
    template = options["match-public-url"]
    if template is not None:
        if "{port}" not in template or public_base(template.replace("{port}", "1")) is None:
            raise usage.UsageError(f"--match-public-url: expected a ws(s):// or http(s):// URL containing {{port}}, "
                                   f"got {template!r}")
    name = options["node-name"]
    if name is not None and not NODE_NAME.match(name):
        raise usage.UsageError(f"--node-name: expected 1-64 letters, digits, '.', '_', '-' or ':', got {name!r}")
    if options["redis"] is None:
        return
    if name is None:
        port = _first_port(options["listen"])
        options["node-name"] = f"{socket.gethostname()}:{port}" if port else socket.gethostname()
    if options["public-url"] is None:
        url = _listen_url(options["listen"])
        if url is None:
            raise usage.UsageError("--redis: give --public-url, the address clients reach this node at (no TCP "
                                   "--listen to build it from)")
        options["public-url"] = url
    options["public-url"] = options["public-url"].replace("{node}", options["node-name"])
