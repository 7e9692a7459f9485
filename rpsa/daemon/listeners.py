"""What a listen endpoint string says about who can reach it."""

from __future__ import annotations

import ipaddress
from typing import Dict, List, Tuple

LOOPBACK_HOSTS = ("localhost", "::1", "0:0:0:0:0:0:0:1")


def split_endpoint(description: str) -> Tuple[str, List[str], Dict[str, str]]:
    """Split ``kind:arg:key=value`` the way Twisted does (backslash escapes a colon)."""
    parts: List[str] = []
    current = []
    chars = iter(description)
    for char in chars:
        if char == "\\":
            current.append(next(chars, ""))
        elif char == ":":
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    kind, rest = parts[0].lower(), parts[1:]
    args = [p for p in rest if "=" not in p]
    kwargs = dict(p.split("=", 1) for p in rest if "=" in p)
    return kind, args, kwargs


def is_local(description: str) -> bool:
    """True for a listener only this host can reach: loopback TCP/SSL, or a unix socket.

    A ``systemd:`` socket counts as not local (its unit decides where it listens).
    """
    kind, args, kwargs = split_endpoint(description)
    if kind == "unix":
        return True
    if kind in ("tcp", "tcp6", "ssl", "ssl6"):
        return _is_loopback(kwargs.get("interface", ""))
    return False


def _is_loopback(interface: str) -> bool:
    """``localhost``, or a loopback IP address (not a name that merely starts with ``127.``)."""
    if interface.lower() in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(interface).is_loopback
    except ValueError:
        return False
