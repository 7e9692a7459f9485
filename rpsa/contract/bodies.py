"""The HTTP request and answer bodies, as ``msgspec`` structures.

Request bodies are read with :func:`decode` (size and depth bounded by
:mod:`rpsa.contract.jsonbody`, then validated by the structure), and the
OpenAPI document (:mod:`rpsa.contract.openapi`) takes the schemas of both
requests and answers from the same structures.  Answer structures forbid
unknown fields, so a field the code adds or drops without the document
breaks the contract tests.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Dict, List, Literal, Optional, Type, TypeVar, Union

import msgspec
from msgspec import Meta, Struct

from rpsa.contract import jsonbody, names
from rpsa.contract.names import MatchId, Name, NodeName, Rounds

T = TypeVar("T")


class BodyError(ValueError):
    """A request body that cannot be used: ``code`` ``invalid_json`` or ``bad_field``, and a message naming the field."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


# -- requests: the native API ----------------------------------------------------


class CreateGame(Struct, frozen=True):
    """``POST /api/games``: the creator's ``user_id`` and ``username``; ``game_id`` (random if absent), ``rounds`` (best of N, default 3).

    ``opponent``: ``"bot"`` for a game against the computer, at ``level`` (the
    bots' default if absent; ``GET /api/access`` lists the levels).
    """

    user_id: Name
    username: Name
    game_id: Optional[Name] = None
    rounds: Optional[Rounds] = None
    opponent: Optional[Literal["bot"]] = None
    level: Optional[Annotated[str, Meta(min_length=1, max_length=64)]] = None


class JoinGame(Struct, frozen=True):
    """``POST /api/games/{game_id}/players``: the joining player."""

    user_id: Name
    username: Name


class MatchPlayer(Struct, frozen=True):
    """One player of a launched match."""

    user_id: Name
    username: Name


class MatchRequest(Struct, frozen=True):
    """``PUT /api/match``: the match id, exactly two players with different user ids, and ``rounds`` (default 3)."""

    match_id: MatchId
    players: Annotated[List[MatchPlayer], Meta(min_length=2, max_length=2)]
    rounds: Optional[Rounds] = None

    def __post_init__(self):
        if self.players[0].user_id == self.players[1].user_id:
            raise ValueError("the two players must have different user_ids")


# -- requests: the original server's routes ---------------------------------------


class CompatGame(Struct, frozen=True):
    """``POST /create_game`` and ``/join_game`` (the original's field names)."""

    gameId: Name
    userId: Name
    username: Name


class CompatRemoveGame(Struct, frozen=True):
    """``POST /remove_game``."""

    gameId: Name


class CompatRemovePlayer(Struct, frozen=True):
    """``POST /remove_player``."""

    gameId: Name
    userId: Name


def decode(raw: bytes, kind: Type[T]) -> T:
    """The body ``raw`` as a ``kind``; raises :class:`BodyError` (``invalid_json``, ``bad_field``)."""
    try:
        document = jsonbody.loads(raw)
    except jsonbody.JSONBodyError as e:
        raise BodyError(e.code, e.message) from None
    if not isinstance(document, dict):
        raise BodyError("invalid_json", "the request body must be a JSON object")
    try:
        return msgspec.convert(document, kind)
    except msgspec.ValidationError as e:
        raise BodyError("bad_field", field_message(str(e))) from None


_AT = re.compile(r"^(.*?)(?: - at `\$\.?(.*)`)?$", re.S)
_REGEX = re.compile(r"Expected `str` matching regex '(.*)'", re.S)
_PATTERNS = {repr(pattern)[1:-1]: text for pattern, text in names.PATTERN_DESCRIPTIONS.items()}  # as msgspec quotes them


def field_message(error: str) -> str:
    """A msgspec validation error as a client reads it: the field first, no regular expression."""
    text, path = _AT.match(error).groups()
    text = _REGEX.sub(lambda m: "must be " + _PATTERNS.get(m.group(1), "valid"), text)
    missing = re.match(r"Object missing required field `(.*)`", text)
    if missing:
        field = f"{path}.{missing.group(1)}" if path else missing.group(1)
        return f"{field!r} is required"
    return f"{path!r}: {text}" if path else text


# -- answers -------------------------------------------------------------------------


class _Answer(Struct, forbid_unknown_fields=True):
    """An answer body: every field documented, none more."""


class ErrorDetail(_Answer):
    """What went wrong: a snake_case ``code`` and a message for humans."""

    code: str
    message: str


class ErrorAnswer(_Answer):
    """Every error of the native API."""

    error: ErrorDetail


class CompatErrorAnswer(_Answer):
    """Every error of the original server's routes."""

    message: str


class Health(_Answer):
    """``/healthz``: ``degraded`` names the dependencies (Redis) that are down while the server still serves."""

    status: Literal["ok", "draining", "degraded"]
    degraded: Union[List[str], msgspec.UnsetType] = msgspec.UNSET


class Access(_Answer):
    """``/api/access``: what a client needs to know before it calls anything else."""

    key_required: bool
    public_lobby: bool
    bot_levels: List[str]


class Weapon(_Answer):
    """One of a fighter's weapons."""

    base: Union[int, float]
    modifier: Union[int, float]
    mitigation: Union[int, float]


class Weapons(_Answer):
    rock: Weapon
    paper: Weapon
    scissors: Weapon


class Fighter(_Answer):
    """A fighter the players can pick."""

    id: str
    name: str
    country: str
    health: int
    style: str
    boss: bool
    weapons: Weapons


class Characters(_Answer):
    characters: List[Fighter]


class Seat(_Answer):
    """A seat handed out: the player's token and WebSocket URLs."""

    game_id: Name
    player_token: str
    ws_url: str
    spectate_url: str


class PlayerSummary(_Answer):
    """A seat in a game summary; ``bot`` is true while a bot holds the seat (absent otherwise)."""

    user_id: Name
    username: Name
    connected: bool
    bot: Union[Literal[True], msgspec.UnsetType] = msgspec.UNSET


class GameSummary(_Answer):
    """A game as the API lists it."""

    game_id: Name
    state: Literal["waiting_for_players", "character_selection", "in_progress", "game_over"]
    rounds: Rounds
    players: Annotated[List[PlayerSummary], Meta(max_length=2)]
    spectators: Annotated[int, Meta(ge=0)]
    joinable: bool
    created_at: Union[int, float]
    node: Union[NodeName, msgspec.UnsetType] = msgspec.UNSET  # with --redis: the cluster node holding the game


class GameList(_Answer):
    games: List[GameSummary]


class GameRemoved(_Answer):
    game_id: Name
    removed: Literal[True]


class PlayerRemoved(_Answer):
    game_id: Name
    user_id: Name
    removed: Literal[True]


class MatchSeat(_Answer):
    user_id: Name
    token: str
    ws_url: str


class MatchStarted(_Answer):
    """A launched match: the child's port and each player's token and URL."""

    match_id: MatchId
    port: Annotated[int, Meta(ge=1, le=65535)]
    spectate_url: str
    players: Annotated[List[MatchSeat], Meta(min_length=2, max_length=2)]


class MatchPlayerState(_Answer):
    user_id: Name
    connected: bool


class Match(_Answer):
    """A match's record: ``result`` once it ended with a winner, ``reason`` when it ended otherwise or failed."""

    match_id: MatchId
    state: Literal["starting", "waiting", "playing", "ended", "failed"]
    port: Optional[int]
    pid: Optional[int]
    players: List[MatchPlayerState]
    result: Union[Dict[str, Any], msgspec.UnsetType] = msgspec.UNSET
    reason: Union[str, msgspec.UnsetType] = msgspec.UNSET
    exit_code: Union[int, msgspec.UnsetType] = msgspec.UNSET


class MatchList(_Answer):
    matches: List[Match]


class CompatPlayerRemoved(_Answer):
    """``/remove_player``: removed, and whether the player's connection was open (and is now closed)."""

    playerRemoved: Literal[True]
    connectionRemoved: bool


class CompatToken(_Answer):
    """``/create_game``, ``/join_game``: the player's own seat token."""

    gameToken: str


ANSWERS = (ErrorAnswer, CompatErrorAnswer, Health, Access, Characters, Seat, GameSummary, GameList, GameRemoved,
           PlayerRemoved, MatchStarted, Match, MatchList, CompatPlayerRemoved, CompatToken)
REQUESTS = (CreateGame, JoinGame, MatchRequest, CompatGame, CompatRemoveGame, CompatRemovePlayer)


def check_answer(raw: bytes, kind: Any) -> Any:
    """Decode an answer body as ``kind``, raising ``msgspec.ValidationError`` if it breaks its schema (for tests)."""
    return msgspec.json.decode(raw, type=kind)
