"""HTTP plumbing shared by every API: the Site, bounded requests, JSON bodies, ids, errors, access (URLs: rpsa.urls).

Each API is a Klein app made by :func:`new_app`, which installs the one set of
error handlers (:func:`install_error_handlers`): an :class:`APIError`, a
domain error translated to one, a routing error or an unexpected exception
each becomes a JSON answer, in the API's style (``{"error": {"code",
"message"}}`` for the native API, ``{"message"}`` for the original server's
routes).  Routes guarded by the API key use :func:`requires_key`.  The root
app mounts the others by branch (:func:`mounted`); :func:`route_templates`
lists every route of such a tree (the metrics label requests with them).
"""

from __future__ import annotations

import functools
import hmac
import json
import re
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Type
from urllib.parse import unquote

from klein import Klein
from twisted.logger import Logger
from twisted.web.http import combinedLogFormatter
from twisted.web.resource import Resource
from twisted.web.server import Request, Site
from werkzeug.exceptions import HTTPException
from werkzeug.routing import UnicodeConverter

from rpsa.rules.game import VALID_ROUNDS
from rpsa.urls import URLBuilder, public_base  # noqa: F401 - part of the plumbing every API imports from here

log = Logger()

MAX_BODY_BYTES = 16 * 1024
HTTP_IDLE_TIMEOUT = 60  # seconds an idle keep-alive HTTP connection is kept (Twisted's default: 12 hours)
MAX_ID_LENGTH = 64
UNAUTHORIZED = "this route needs 'Authorization: Bearer <api key>'"
NOT_FOUND_ENDPOINT = "no_such_route"  # the endpoint of every catch-all 404 route (not a route template)


class APIError(Exception):
    """An HTTP error: ``status``, a snake_case ``code`` and a human ``message``."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


# -- answers ---------------------------------------------------------------------


def json_response(request, body: Any, status: int = 200) -> bytes:
    """Set the status and JSON content type, and return the encoded body."""
    request.setResponseCode(status)
    request.setHeader(b"Content-Type", b"application/json")
    request.setHeader(b"Cache-Control", b"no-store")
    return json.dumps(body, separators=(",", ":")).encode("utf-8")


def _error_answer(request, error: APIError, body: Any) -> bytes:
    if error.status == 401:
        request.setHeader(b"WWW-Authenticate", b'Bearer realm="rpsa"')
    return json_response(request, body, error.status)


def error_response(request, error: APIError) -> bytes:
    """The native API's answer to an APIError: ``{"error": {"code", "message"}}``."""
    return _error_answer(request, error, {"error": {"code": error.code, "message": error.message}})


def message_response(request, error: APIError) -> bytes:
    """The original server's answer to an APIError: ``{"message"}``."""
    return _error_answer(request, error, {"message": error.message})


# -- Klein apps ------------------------------------------------------------------

Translation = Tuple[Type[Exception], Callable[[Exception], APIError]]


class SegmentConverter(UnicodeConverter):
    """A route parameter as re-encoded by :class:`EncodedSlashes`, decoded again."""

    def to_python(self, value):
        return unquote(value)


class EncodedSlashes(Resource):
    """Keeps a decoded ``/`` (sent as ``%2F``) inside its path segment.

    Klein joins the decoded segments with ``/`` before routing, so an id
    holding a slash would otherwise split into two segments and match no route.
    ``%`` and ``/`` are re-encoded here, once, in front of the root app, and
    decoded by :class:`SegmentConverter` (the default converter of every app
    made by :func:`new_app`, mounted ones included).  ``inner``: the resource
    (the root app's) that routes the re-encoded path.
    """

    isLeaf = True

    def __init__(self, inner):
        super().__init__()
        self._inner = inner

    def render(self, request):
        request.postpath = [s.replace(b"%", b"%25").replace(b"/", b"%2F") for s in request.postpath]
        return self._inner.render(request)


class Shortcuts(Resource):
    """Serves a few one-segment paths straight from the resource a branch route would mount there.

    The root Klein app reaches a mounted API through a branch route: a whole
    routing pass (URL parts, a werkzeug match, two Deferreds) before the
    mounted app's own.  For ``shortcuts`` (``{b"create_game": resource}``: one
    path segment, no prefix) the request goes straight to the resource that
    route would mount, exactly where it would have gone, without that pass.
    Every other request goes to ``inner``.  Only paths the root can route to
    nothing but that branch may be given.
    """

    isLeaf = True

    def __init__(self, inner: Resource, shortcuts: Mapping[bytes, Resource]):
        super().__init__()
        self._inner = inner
        self._shortcuts = dict(shortcuts)

    def render(self, request):
        postpath = request.postpath
        if len(postpath) == 1 and not request.prepath:
            target = self._shortcuts.get(postpath[0])
            if target is not None:
                return target.render(request)
        return self._inner.render(request)


def new_app(render: Callable[[Any, APIError], bytes] = error_response, translations: Sequence[Translation] = ()) -> Klein:
    """A Klein app with :class:`SegmentConverter` and the shared error handlers (see :func:`install_error_handlers`)."""
    app = Klein()
    app.url_map.converters["default"] = SegmentConverter  # before any route is added
    install_error_handlers(app, render, translations)
    return app


def install_error_handlers(app: Klein, render: Callable[[Any, APIError], bytes] = error_response,
                           translations: Sequence[Translation] = ()) -> None:
    """Answer every error of ``app`` with ``render(request, APIError)``.

    In order: each ``(exception type, to_api_error)`` of ``translations``; an
    APIError; a routing error (404, 405...); anything else is logged and
    answered 500 ``internal_error``.
    """
    for kind, translate in translations:
        app.handle_errors(kind)(_handler(lambda error, translate=translate: translate(error), render))
    app.handle_errors(APIError)(_handler(lambda error: error, render))
    app.handle_errors(HTTPException)(_handler(_routing_error, render))

    @app.handle_errors(Exception)  # last: handlers are tried in order
    def unexpected_error(instance, request, failure):
        log.failure("unexpected error answering {method} {path}", failure,
                    method=request.method.decode("latin-1"), path=request.path.decode("latin-1"))
        return render(request, APIError(500, "internal_error", "internal server error"))


def _handler(to_api_error: Callable[[Exception], APIError], render):
    def handle(instance, request, failure):
        return render(request, to_api_error(failure.value))

    return handle


def _routing_error(error: HTTPException) -> APIError:
    code = "method_not_allowed" if error.code == 405 else "not_found" if error.code == 404 else "bad_request"
    return APIError(error.code, code, error.description)


def add_not_found(app: Klein, rule: str, message: str, branch: bool = False) -> None:
    """Answer every request reaching ``rule`` (any method) with 404 ``not_found`` and ``message``."""

    def no_such_route(instance, request, **ignored):
        raise APIError(404, "not_found", message)

    app.route(rule, branch=branch, endpoint=NOT_FOUND_ENDPOINT)(no_such_route)


def mounted(request, resource: Resource) -> Resource:
    """``resource``, to serve the rest of ``request``'s path below a branch route (an empty rest is ``/``)."""
    if not request.postpath:
        request.postpath = [b""]
    return resource


def requires_key(route):
    """Refuse the request with 401 ``unauthorized`` unless it carries the API key (``self.access``)."""

    @functools.wraps(route)
    def checked(self, request, *args, **kwargs):
        if not self.access.allowed(request):
            raise APIError(401, "unauthorized", UNAUTHORIZED)
        return route(self, request, *args, **kwargs)

    return checked


_PARAMETER = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")


def route_templates(app: Klein, mounts: Mapping[str, Klein] = {}, prefix: str = "") -> List[str]:
    """Every route of ``app`` as a template (``/api/games/{game_id}``), mounted apps' included.

    ``mounts`` maps the endpoint of a branch route to the app it mounts; the
    catch-all 404 routes (:func:`add_not_found`), branches and ``<path:...>``
    rules are not templates.
    """
    templates: List[str] = []
    for rule in app.url_map.iter_rules():
        endpoint, text = rule.endpoint, rule.rule
        if endpoint.endswith("_branch") or endpoint == NOT_FOUND_ENDPOINT or "<path:" in text:
            continue
        if endpoint in mounts:
            templates += route_templates(mounts[endpoint], {}, prefix + text.rstrip("/"))
            continue
        path = prefix + text if text != "/" or not prefix else prefix
        template = _PARAMETER.sub(lambda m: "{" + m.group(1) + "}", path)
        if template not in templates:
            templates.append(template)
    return templates


# -- bodies and fields -------------------------------------------------------------


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


def read_json_object(request, json_content_type: bool = True) -> Dict[str, Any]:
    """The request's body as a JSON object, or raise APIError (413, 415, 400).

    ``json_content_type``: refuse a body not sent as JSON (415); the original
    server's clients may send none.
    """
    if getattr(request, "body_too_large", False):
        raise APIError(413, "body_too_large", f"the request body is over {MAX_BODY_BYTES} bytes")
    if json_content_type:
        content_type = (request.getHeader(b"content-type") or b"").split(b";")[0].strip().lower()
        if content_type != b"application/json" and not content_type.endswith(b"+json"):
            raise APIError(415, "unsupported_media_type", "send the body as JSON with Content-Type: application/json")
    request.content.seek(0)
    raw = request.content.read(MAX_BODY_BYTES + 1)
    if len(raw) > MAX_BODY_BYTES:  # a request that did not bound its body itself
        raise APIError(413, "body_too_large", f"the request body is over {MAX_BODY_BYTES} bytes")
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise APIError(400, "invalid_json", "the request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise APIError(400, "invalid_json", "the request body must be a JSON object")
    return body


def id_problem(value: Any) -> Optional[str]:
    """What ``value`` must be to be an id (``a non-empty string``, ``at most 64 characters``), or None if it is one."""
    if not isinstance(value, str) or not value:
        return "a non-empty string"
    if len(value) > MAX_ID_LENGTH:
        return f"at most {MAX_ID_LENGTH} characters"
    return None


def id_field(body: Dict[str, Any], key: str, required: bool = True) -> Optional[str]:
    """A non-empty string of at most 64 characters, or raise APIError 400."""
    if key not in body or body[key] is None:
        if required:
            raise APIError(400, "bad_field", f"{key!r} is required")
        return None
    value = body[key]
    if id_problem(value) is not None:
        raise APIError(400, "bad_field", f"{key!r} must be a non-empty string of at most {MAX_ID_LENGTH} characters")
    return value


def rounds_field(body: Dict[str, Any]) -> int:
    """``rounds``: one of the rules' VALID_ROUNDS, default 3."""
    value = body.get("rounds", 3)
    if value is None:
        return 3
    if type(value) is not int or value not in VALID_ROUNDS:
        raise APIError(400, "bad_field", "'rounds' must be an odd integer from 1 to 9")
    return value


# -- access and URLs -----------------------------------------------------------------


class AccessPolicy:
    """The API key check: with a key, ``Authorization: Bearer <key>`` is required.

    ``api_key``: the key, or None for an open API.
    """

    def __init__(self, api_key: Optional[str]):
        self._key = api_key.encode("utf-8") if api_key else None

    @property
    def open(self) -> bool:
        """No key is configured: the API is open."""
        return self._key is None

    def allowed(self, request) -> bool:
        """Whether the request carries the key (always, without a key)."""
        if self._key is None:
            return True
        header = request.getHeader(b"authorization") or b""
        scheme, _, credentials = header.partition(b" ")
        if scheme.lower() != b"bearer":
            return False
        return hmac.compare_digest(credentials.strip(), self._key)


# -- the site and its access log ---------------------------------------------------------


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


def access_log_formatter(timestamp: str, request) -> str:
    """A combined-log-format line without the query strings of the URI and the Referer."""
    return combinedLogFormatter(timestamp, _WithoutQueries(request))


class SiteHooks:
    """Hears about every finished HTTP request (the metrics implement it); a no-op here."""

    def http_request(self, request) -> None:
        """``request`` was answered and logged (its ``path`` and ``code`` are set)."""


class _CountingSite(Site):
    """A Site that reports every finished request to its ``hooks`` (for metrics)."""

    hooks = SiteHooks()

    def log(self, request):
        super().log(request)
        self.hooks.http_request(request)


def make_site(resource, reactor=None, hooks: Optional[SiteHooks] = None) -> Site:
    """A Site with bounded request bodies and access logs without query strings or referrers' queries.

    ``reactor``: the site's clock (idle timeouts); ``hooks``: a :class:`SiteHooks`
    told of every request logged (the metrics count them), or None.  Request
    bodies are never parsed as HTML forms into ``request.args`` (every API reads
    JSON; ``args`` holds the query string only): Twisted would parse each POST's
    Content-Type with the ``email`` package to find out (about 40 µs a request).
    """
    site = _CountingSite(resource, logFormatter=access_log_formatter, reactor=reactor, timeout=HTTP_IDLE_TIMEOUT,
                         parsePOSTFormSubmission=False)
    if hooks is not None:
        site.hooks = hooks
    site.requestFactory = BoundedRequest
    site.displayTracebacks = False
    return site
