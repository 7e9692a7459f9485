"""HTTP plumbing shared by every API: JSON bodies, errors, routing helpers, access (URLs: rpsa.urls).

Each API is a Klein app made by :func:`new_app`, which installs the one set of
error handlers (:func:`install_error_handlers`): an :class:`APIError`, a
domain error translated to one, a routing error or an unexpected exception
each becomes a JSON answer, in the API's style (``{"error": {"code",
"message"}}`` for the native API, ``{"message"}`` for the original server's
routes).  Routes guarded by the API key use :func:`requires_key`.  The root
app mounts the others by branch (:func:`mounted`); :func:`route_templates`
lists every route of such a tree (the metrics label requests with them).  The
Site itself (bounded requests, deadlines, the access log) is :mod:`rpsa.site`'s.
"""

from __future__ import annotations

import functools
import hmac
import json
import re
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Type, TypeVar
from urllib.parse import unquote

from klein import Klein
from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET
from werkzeug.exceptions import HTTPException
from werkzeug.routing import UnicodeConverter

from rpsa.contract import bodies
from rpsa.urls import URLBuilder, public_base  # noqa: F401 - part of the plumbing every API imports from here

log = Logger()
T = TypeVar("T")

MAX_BODY_BYTES = 16 * 1024
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
    """Serves a few one-segment paths straight from a resource, past the root app's routing.

    The root Klein app reaches a mounted API through a branch route: a whole
    routing pass (URL parts, a werkzeug match, two Deferreds) before the
    mounted app's own.  For ``shortcuts`` (``{b"create_game": resource}``: one
    path segment, no prefix) the request goes straight to ``resource``: the
    one that route would mount, or an :class:`Endpoint` serving the route's
    handler as that app would.  Every other request goes to ``inner``.  Only
    paths the root can route to nothing but that branch may be given.
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


class Endpoint(Resource):
    """One route's handler served as a resource, answering as a Klein app of :func:`new_app` would.

    ``handler(request)`` returns the body (bytes), or a Deferred firing with
    it, or raises (or fails with) an error; ``render(request, APIError)``
    answers an APIError, and anything else is logged and answered 500
    ``internal_error``, as :func:`install_error_handlers` does.  For the
    busiest routes, behind :class:`Shortcuts`: Klein's render and routing
    pass cost about a fifth of a create and join.
    """

    isLeaf = True

    def __init__(self, handler: Callable[[Any], Any], render: Callable[[Any, APIError], bytes] = error_response):
        super().__init__()
        self._handler = handler
        self._render = render

    def render(self, request):
        try:
            result = self._handler(request)
        except Exception:
            return self._render(request, api_error(request, Failure()))
        if isinstance(result, Deferred):
            result.addCallbacks(functools.partial(finish_later, request),
                                lambda failure: finish_later(request, self._render(request, api_error(request, failure))))
            return NOT_DONE_YET
        return result


def api_error(request, failure: Failure) -> APIError:
    """The APIError ``failure`` answers ``request`` with: its own, or for anything else (a bug) 500
    ``internal_error``, the failure logged with the request's method and path."""
    if failure.check(APIError):
        return failure.value
    log.failure("unexpected error answering {method} {path}", failure,
                method=request.method.decode("latin-1"), path=request.path.decode("latin-1"))
    return APIError(500, "internal_error", "internal server error")


def finish_later(request, body) -> None:
    """Write ``body`` and finish ``request``, whose render returned NOT_DONE_YET; nothing if the client went
    away meanwhile (Twisted drops the request's channel) or ``body`` is NOT_DONE_YET (an upgrade took it)."""
    if body is NOT_DONE_YET or request.finished or request.channel is None:
        return
    request.write(body)
    request.finish()


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
        return render(request, api_error(request, failure))


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


def require_upgrade(request) -> None:
    """Raise APIError 426 ``upgrade_required`` unless ``request`` asks for a WebSocket upgrade."""
    if (request.getHeader(b"upgrade") or b"").strip().lower() != b"websocket":
        request.setHeader(b"Upgrade", b"websocket")
        raise APIError(426, "upgrade_required", "this is a WebSocket endpoint: connect with a WebSocket client")


def requires_key(route):
    """Refuse the request with 401 ``unauthorized`` unless it carries the API key (``self.access``)."""

    @functools.wraps(route)
    def checked(self, request, *args, **kwargs):
        if not self.access.allowed(request):
            raise APIError(401, "unauthorized", UNAUTHORIZED)
        return route(self, request, *args, **kwargs)

    return checked


_PARAMETER = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")


def route_table(app: Klein, mounts: Mapping[str, Klein] = {}, prefix: str = "") -> Dict[str, List[str]]:
    """Every route of ``app`` as a template (``/api/games/{game_id}``) and its methods, mounted apps' included.

    ``mounts`` maps the endpoint of a branch route to the app it mounts; the
    catch-all 404 routes (:func:`add_not_found`), branches and ``<path:...>``
    rules are not templates.  The methods are sorted, ``HEAD`` left out.
    """
    table: Dict[str, List[str]] = {}
    for rule in app.url_map.iter_rules():
        endpoint, text = rule.endpoint, rule.rule
        if endpoint.endswith("_branch") or endpoint == NOT_FOUND_ENDPOINT or "<path:" in text:
            continue
        if endpoint in mounts:
            for template, methods in route_table(mounts[endpoint], {}, prefix + text.rstrip("/")).items():
                table.setdefault(template, [])
                table[template] = sorted(set(table[template]) | set(methods))
            continue
        path = prefix + text if text != "/" or not prefix else prefix
        template = _PARAMETER.sub(lambda m: "{" + m.group(1) + "}", path)
        table[template] = sorted(set(table.get(template, [])) | (set(rule.methods or ()) - {"HEAD", "OPTIONS"}))
    return table


def route_templates(app: Klein, mounts: Mapping[str, Klein] = {}, prefix: str = "") -> List[str]:
    """Every route of ``app`` as a template (see :func:`route_table`)."""
    return list(route_table(app, mounts, prefix))


# -- bodies and fields -------------------------------------------------------------


def read_body(request, kind: Type[T], json_content_type: bool = True) -> T:
    """The request's JSON body as a ``kind`` (a :mod:`rpsa.contract.bodies` structure), or raise APIError.

    413 ``body_too_large``; 415 ``unsupported_media_type`` when
    ``json_content_type`` and the body is not sent as JSON (the original
    server's clients may send none); 400 ``invalid_json`` (not JSON, nested
    too deeply, not an object) or ``bad_field`` (the message names the field).
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
        return bodies.decode(raw, kind)
    except bodies.BodyError as e:
        raise APIError(400, e.code, e.message) from None


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


