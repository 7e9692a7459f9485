"""Log output: twistd's text or Twisted's JSON event format, with secrets redacted.

How the observer reaches twistd
-------------------------------
``twistd`` builds the plugin's service *before* it starts logging:
``ApplicationRunner.run`` (``twisted/application/app.py``) calls
``createOrGetApplication`` (which calls ``makeService``), then
``AppLogger.start(application)``.  ``AppLogger.start`` takes its observer from,
in order: ``--logger``, the application's ``ILogObserver`` component, and
``_getLogObserver()`` (``--logfile``, stdout or ``--syslog``, as text); it
hands it to ``globalLogBeginner.beginLoggingTo``, which replays the events
buffered until then (everything logged during ``makeService``).

So nothing has to be replaced: ``makeService`` hands twistd the observer to
use, as the application's ``ILogObserver`` component (the documented hook of
``.tac`` files; a plugin reaches the application through ``setServiceParent``,
see :class:`ProvidesLogObserver`).  twistd's own start-up lines, and the events
buffered from ``makeService``, all go to it, and ``AppLogger.stop`` removes it
at exit.  No private attribute is touched on this path.

Where it writes (:func:`log_observer`): where twistd would have, read from the
twistd options (``options.parent``) the way ``UnixAppLogger._getLogObserver``
reads them: ``--logfile=-`` is stdout (refused when daemonizing, as twistd
does); no ``--logfile`` with ``--nodaemon`` is stdout; otherwise ``--logfile``
(default ``twistd.log``), opened by :func:`log_file` as a
:class:`~twisted.python.logfile.LogFile` that rotates at 1 MB, and on SIGUSR1
as twistd's does (the top service installs that handler).  ``--syslog`` keeps
syslog (text only: JSON is refused).  An explicit ``--logger`` wins over
everything, as twistd's rule is: rpsa then leaves logging alone, and redacting
is up to that logger.  Options parsed outside twistd (``rpsa.tac`` builds them
from ``RPSA_*`` variables) cannot see twistd's: the log goes to stdout, which
is where ``twistd --nodaemon --python=rpsa.tac`` (rpsa.service) logs anyway;
a ``--logfile`` given to twistd for the tac is not honoured.

Redaction
---------
No token or API key may reach a log line.  Two layers, both cheap:

- :class:`RedactingObserver` hands its observer a scrubbed copy of each event:
  fields named like secrets (``*token``, ``*api_key``, ``*password``,
  ``*secret``, ``authorization``) become ``<redacted>``; string fields (and
  the values the format string pulls out of objects, by flattening the event
  first) lose ``token=...`` / ``game_token=...`` query parameters,
  ``Bearer ...`` credentials, ``"...token": "..."`` JSON fields, and every
  secret the :class:`Redactor` was given (the API key; makeService builds it).
- the file observers of this module scrub each finished line once more, which
  also covers what no field holds (a traceback, a ``repr``).

Flattening uses ``flattenEvent``, which ``twisted.logger`` does not export
(see :func:`_flatten`).

Access logs (:func:`rpsa.site.access_log_formatter`) drop the query strings of
the request's URI and of its ``Referer``, which can carry tokens.
"""

from __future__ import annotations

import functools
import json
import re
import sys
from typing import IO, Any, Callable, Iterable, List, Optional

from twisted.logger import (
    FileLogObserver,
    ILogObserver,
    LegacyLogObserverWrapper,
    LoggingFile,
    eventAsJSON,
)
from twisted.python import usage
from twisted.python.components import Componentized
from twisted.python.logfile import LogFile
from zope.interface import implementer

from rpsa.daemon.logtext import SecondsFormatter, classic_text, escaped_fields, plain_event
from rpsa.play.seat import TOKEN_LENGTH

LOG_FORMATS = ("text", "json")
REDACTED = "<redacted>"

# A secret's value after one of these prefixes: a query parameter whose name ends
# in "token" (token=, game_token=, access_token=), an "Authorization: Bearer"
# credential, a JSON field whose name ends in "token" (also inside a JSON
# string, escaped).  The value stops at a character no token holds; "<" is one,
# so a redacted value is not redacted again.
_SECRET_AFTER = re.compile(
    r"""(?ix)
    (?=[tb])            # not needed for the match; makes the search about 3 times faster
    ( token=
    | \bbearer\s+
    | token\\?"\s*:\s*\\?"
    )
    [^\s&"'<>\\#;,]+
    """
)

# A run of exactly as many URL-safe base64 characters as a seat token has
# (rpsa.play.seat.new_token): a token a client put raw into a path or a
# header, where no prefix says it is one.  (A 43-character id is redacted too.)
_TOKEN_SHAPED = re.compile(r"(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{%d}(?![A-Za-z0-9_-])" % TOKEN_LENGTH)

# Event fields whose value is a secret whatever it looks like.
_SECRET_NAMES = ("token", "api_key", "apikey", "password", "secret", "authorization")


def log_format(value: str) -> str:
    """Coerce ``--log-format``: ``text`` or ``json``."""
    value = value.strip().lower()
    if value not in LOG_FORMATS:
        raise usage.UsageError(f"--log-format: expected text or json, got {value!r}")
    return value


# The option, ready for ``Options.optParameters``.
LOG_FORMAT_OPTION = [
    "log-format", None, "text",
    "Log format: text (twistd's) or json (Twisted's JSON event format, one event per line).",
    log_format,
]


class Redactor:
    """Scrubs secrets out of text: the patterns above, and every secret given (``secrets``, or :meth:`add`)."""

    def __init__(self, secrets: Iterable[str] = ()):
        self._text_forms: List[str] = []
        self._json_forms: List[str] = []
        for secret in secrets:
            self.add(secret)

    def add(self, secret: Optional[str]) -> None:
        """Register a secret (e.g. the API key): it is replaced by ``<redacted>`` wherever it appears."""
        if not secret:
            return
        # In a JSON line the secret appears escaped; look for the raw form only in text.
        escaped = {json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1]}
        for form in escaped:
            if form not in self._json_forms:
                self._json_forms.append(form)
        for form in {secret, *escaped}:
            if form not in self._text_forms:
                self._text_forms.append(form)
        # Longest first, so that no form is cut in two by a shorter one it contains.
        self._text_forms.sort(key=len, reverse=True)
        self._json_forms.sort(key=len, reverse=True)

    def scrub(self, text: str, json_text: bool = False) -> str:
        """``text`` with every secret replaced by ``<redacted>``; ``json_text``: it is serialized JSON."""
        for secret in self._json_forms if json_text else self._text_forms:
            if secret in text:
                text = text.replace(secret, REDACTED)
        if len(text) >= TOKEN_LENGTH:
            text = _TOKEN_SHAPED.sub(REDACTED, text)
        lowered = text.lower()
        if "token" not in lowered and "bearer" not in lowered:
            return text  # the common case, and much cheaper than the regex
        return _SECRET_AFTER.sub(_keep_prefix, text)


def _keep_prefix(match: "re.Match[str]") -> str:
    return match.group(1) + REDACTED


@functools.lru_cache(maxsize=4096)
def _secret_name(key: str) -> bool:
    # "seat.token!:" and "token:" are keys of flattened events.  The keys come
    # from the code's log calls, a small set: the answers are cached.
    return key.split("!", 1)[0].split(":", 1)[0].lower().endswith(_SECRET_NAMES)


def _scrub_value(value: Any, scrub: Callable[[str], str]) -> Any:
    kind = type(value)
    if kind is str:
        return scrub(value)
    if kind is bytes:
        text = value.decode("latin-1")
        clean = scrub(text)
        return value if clean == text else clean
    if kind is tuple or kind is list:  # legacy events' "message"
        return kind(_scrub_value(item, scrub) if type(item) in (str, bytes) else item for item in value)
    return value


# Keys twisted.logger fills from the code, never from what a client sent: their values are passed on as
# they are (scrubbing the namespace and the format string of every event cost about 5 µs an event).  A
# format that quoted a secret would still be caught: the finished line is scrubbed as a whole.
_CODE_KEYS = frozenset({"log_logger", "log_namespace", "log_source", "log_level", "log_time", "log_format",
                        "log_trace", "log_id"})


def redact_event(event: dict, redactor: Redactor) -> dict:
    """A scrubbed copy of ``event``; ``event`` itself is left alone."""
    scrub = redactor.scrub
    code_keys = _CODE_KEYS
    clean = {
        key: value if key in code_keys else REDACTED if _secret_name(key) else _scrub_value(value, scrub)
        for key, value in event.items()
    }
    if plain_event(clean):
        # Its fields were scrubbed above and the format shows nothing else, so flattening (about 5 µs an
        # event) would add nothing to scrub.  Most of rpsa's own lines, and the access log's, are such.
        return clean
    if clean.get("log_format") is not None:
        flattened = clean.get("log_flattened")
        if flattened is not None:
            clean["log_flattened"] = dict(flattened)  # flattenEvent adds to it: not the original's
        try:
            # The values the format pulls out of objects ("{request.uri}",
            # "{conn!r}") become strings here, where they can be scrubbed.
            _flatten(clean)
        except Exception:
            pass  # unformattable: the formatter reports it, from the scrubbed fields
        flattened = clean.get("log_flattened")
        if flattened:
            # A string field shows as itself: it was scrubbed above already.
            done = {id(value) for value in clean.values() if type(value) is str}
            clean["log_flattened"] = {
                key: REDACTED if _secret_name(key) else value if id(value) in done else _scrub_value(value, scrub)
                for key, value in flattened.items()
            }
    return clean


def _flatten(event: dict) -> None:
    """Store the strings ``event``'s format will show in ``event["log_flattened"]``.

    twisted.logger does not export flattenEvent (eventAsJSON calls it, and the
    formatters use what it stores); scrubbing what a format pulls out of an
    object needs it, so it is imported from the private module here.
    """
    from twisted.logger._flatten import flattenEvent

    flattenEvent(event)


@implementer(ILogObserver)
class RedactingObserver:
    """Passes ``wrapped`` (an observer) a copy of every event scrubbed by ``redactor`` (see :func:`redact_event`)."""

    def __init__(self, wrapped: ILogObserver, redactor: Redactor):
        self.wrapped = wrapped
        self.redactor = redactor

    def __call__(self, event: dict) -> None:
        self.wrapped(redact_event(event, self.redactor))


def text_file_observer(out: IO[Any], redactor: Redactor) -> ILogObserver:
    """twistd's text lines, to ``out``, redacted, with what fields quote from clients escaped.

    (The JSON format needs no escaping: JSON strings escape every control character.)
    """
    seconds = SecondsFormatter()

    def format_event(event: dict) -> Optional[str]:
        text = classic_text(escaped_fields(event), seconds)
        return None if text is None else redactor.scrub(text)

    return RedactingObserver(FileLogObserver(out, format_event), redactor)


def json_file_observer(out: IO[Any], redactor: Redactor) -> ILogObserver:
    """Twisted's JSON event format, one event per line (no record separator), to ``out``, redacted."""

    def format_event(event: dict) -> str:
        return redactor.scrub(eventAsJSON(event), json_text=True) + "\n"

    return RedactingObserver(FileLogObserver(out, format_event), redactor)


def check_log_options(options) -> None:
    """Raise UsageError for log options twistd cannot honour with rpsa's observer (call from ``postOptions``)."""
    parent = getattr(options, "parent", None)
    if parent is None or parent.get("logger"):
        return
    if parent.get("syslog") and options.get("log-format") == "json":
        raise usage.UsageError("--log-format json cannot go to --syslog: give a --logfile")
    if parent.get("logfile") == "-" and not parent.get("nodaemon"):
        raise usage.UsageError("daemons cannot log to stdout: give --nodaemon, or a --logfile")


def log_file(options) -> Optional[LogFile]:
    """The file twistd would log to (``--logfile``, default ``twistd.log`` when daemonizing), opened; else None.

    None for stdout (``--logfile=-``, or ``--nodaemon`` without ``--logfile``),
    ``--syslog``, ``--logger``, and options parsed outside twistd.
    """
    parent = getattr(options, "parent", None)
    if parent is None or parent.get("logger") or parent.get("syslog"):
        return None
    logfile, nodaemon = parent.get("logfile"), parent.get("nodaemon")
    if logfile == "-" or (nodaemon and not logfile):
        return None
    return LogFile.fromFullPath(logfile or "twistd.log")


def log_observer(options, redactor: Redactor, logfile: Optional[LogFile] = None) -> Optional[ILogObserver]:
    """The redacting observer for ``options["log-format"]``, writing where twistd would have.

    ``None`` when twistd was given ``--logger``: that observer is the
    operator's choice, and wins.  ``--syslog`` logs to syslog; otherwise the
    log goes to ``logfile`` (from :func:`log_file`), or stdout without one
    (as without twistd, in tests).
    """
    check_log_options(options)
    fmt = options.get("log-format") or "text"
    parent = getattr(options, "parent", None)
    if parent is not None and parent.get("logger"):
        return None
    if parent is not None and parent.get("syslog"):
        from twisted.python import syslog

        emit = syslog.SyslogObserver(parent.get("prefix") or "twisted").emit
        return RedactingObserver(LegacyLogObserverWrapper(emit), redactor)
    out = _unredirected(sys.stdout if logfile is None else logfile)
    return (json_file_observer if fmt == "json" else text_file_observer)(out, redactor)


def _unredirected(out: IO[Any]) -> IO[Any]:
    # Once logging has begun, sys.stdout is a LoggingFile feeding the log
    # system: an observer writing there would log its own lines, forever.
    return sys.__stdout__ if isinstance(out, LoggingFile) else out


class ProvidesLogObserver:
    """Mixin for the service ``makeService`` returns: twistd logs to its ``log_observer``.

    twistd adds that service to its Application, a Componentized whose
    ``ILogObserver`` component ``AppLogger.start`` logs to (unless ``--logger``
    was given); joining it, the service sets that component.  ``None`` (the
    default) leaves twistd's choice alone.
    """

    log_observer: Optional[ILogObserver] = None

    def setServiceParent(self, parent):
        if self.log_observer is not None and isinstance(parent, Componentized):
            parent.setComponent(ILogObserver, self.log_observer)
        return super().setServiceParent(parent)
