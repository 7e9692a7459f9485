"""The WebSocket messages, both directions, as ``msgspec`` structures.

Client messages are parsed with these structures (:func:`parse_client_message`,
the hot path: every message every player sends), and the JSON Schemas of both
directions (:func:`json_schemas`) are generated from the same structures, so
what is documented is what is enforced.  ``docs/protocol.md`` describes the
messages for humans; the schemas are in ``docs/openapi.json``
(``components.schemas``: ``ClientMessage``, ``ServerMessage``).

Measured with ``bench/parse_messages.py`` (``time.process_time`` over many
repetitions): the previous parser (``json.loads`` and checks by hand) took
about 2.6 µs a message, these structures 0.2 µs; with the memo of recent
payloads both take about 0.09 µs for the few messages clients repeat.
"""

from __future__ import annotations

import functools
from typing import Annotated, Any, Dict, List, Literal, Optional, Tuple, Union

import msgspec
from msgspec import Meta, Struct

from rpsa.contract import names
from rpsa.rules import FIGHTERS
from rpsa.rules.events import GAME_EVENT, ROUND_EVENT

Name = names.Name

# Message types (the ``"type"`` field), each named once.  A client sends the
# first three; the server answers a fighter pick with SELECT_FIGHTER too.
SELECT_FIGHTER = "select_fighter"
START_BATTLE = "start_battle"
SELECT_WEAPON = "select_weapon"
PLAYER_JOINED = "player_joined"
SYNC = "sync"
ERROR = "error"
PLAYER_LEFT = "player_left"
WELCOME = "welcome"
BOT_TAKEOVER = "bot_takeover"
FighterId = Literal[tuple(FIGHTERS)]  # type: ignore[valid-type]
Health = Union[int, float]


class BadMessage(ValueError):
    """A client message that cannot be acted on; ``code`` is sent back to the client in an ``error``."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


# -- client to server ------------------------------------------------------------


class SelectFighter(Struct, tag_field="type", tag=SELECT_FIGHTER, frozen=True):
    """Pick (or change) my fighter, before ``start_battle``."""

    characterId: FighterId


class StartBattle(Struct, tag_field="type", tag=START_BATTLE, frozen=True):
    """I am ready: my fighter is final."""


class SelectWeapon(Struct, tag_field="type", tag=SELECT_WEAPON, frozen=True):
    """My weapon for the current exchange: 0 rock, 1 paper, 2 scissors (a JSON integer)."""

    index: Annotated[int, Meta(ge=0, le=2)]


ClientMessage = Union[SelectFighter, StartBattle, SelectWeapon]
CLIENT_TYPES = (SELECT_FIGHTER, START_BATTLE, SELECT_WEAPON)

_decode_client = msgspec.json.Decoder(ClientMessage).decode

# What a well-formed message of a known type with a bad field is told.
_FIELD_ERRORS = {
    SELECT_WEAPON: "select_weapon needs 'index': 0 (rock), 1 (paper) or 2 (scissors)",
    SELECT_FIGHTER: f"select_fighter needs 'characterId', one of {', '.join(FIGHTERS)}",
}

_ARGUMENT = {
    SelectWeapon: lambda m: m.index,
    SelectFighter: lambda m: m.characterId,
    StartBattle: lambda m: None,
}


@functools.lru_cache(maxsize=256)
def parse_client_message(payload: bytes, is_binary: bool) -> Tuple[str, Any]:
    """Parse and validate one client message: returns ``(type, argument)``.

    ``argument`` is the fighter id for ``select_fighter``, the weapon index for
    ``select_weapon`` and ``None`` for ``start_battle``.  Raises
    :class:`BadMessage` with code ``invalid_json`` (not JSON, binary, or nested
    too deeply), ``invalid_message`` (not an object), ``unknown_type`` or
    ``bad_field``.  Clients send the same few small messages over and over, so
    results are memoised (by the exact bytes; errors are raised afresh).
    """
    if is_binary:
        raise BadMessage("invalid_json", "messages must be JSON text, not binary")
    try:
        message = _decode_client(payload)
    except msgspec.ValidationError:
        raise _why_invalid(payload) from None
    except (msgspec.DecodeError, RecursionError):
        # RecursionError: nesting deeper than the decoder allows ("[[[[...").
        raise BadMessage("invalid_json", "message is not valid JSON") from None
    return message.type_name, _ARGUMENT[type(message)](message)


def _why_invalid(payload: bytes) -> BadMessage:
    """The error for valid JSON that is not a valid message (the rare path: decoded again, untyped)."""
    try:
        message = msgspec.json.decode(payload)
    except (msgspec.DecodeError, RecursionError):
        return BadMessage("invalid_json", "message is not valid JSON")
    if not isinstance(message, dict):
        return BadMessage("invalid_message", "message must be a JSON object")
    kind = message.get("type")
    if not isinstance(kind, str):
        return BadMessage("unknown_type", "message needs a string 'type'")
    if kind in _FIELD_ERRORS:
        return BadMessage("bad_field", _FIELD_ERRORS[kind])
    if kind in CLIENT_TYPES:  # a valid message's type, yet invalid: a repeated "type" key
        return BadMessage("invalid_message", "message must hold one 'type' and that type's fields")
    return BadMessage("unknown_type", f"unknown message type {kind[:40]!r}; expected one of {', '.join(CLIENT_TYPES)}")


for _cls in (SelectFighter, StartBattle, SelectWeapon):
    _cls.type_name = _cls.__struct_config__.tag  # type: ignore[attr-defined]


# -- server to client --------------------------------------------------------------


class PlayerView(Struct):
    """One seat as a ``welcome`` shows it; ``fighter`` and ``health`` are ``null`` while the pick is unknown or hidden."""

    seat: Literal[1, 2]
    user_id: Name
    username: Name
    connected: bool
    fighter: Optional[FighterId]
    fighter_selected: bool
    ready: bool
    health: Optional[Health]
    round_wins: Annotated[int, Meta(ge=0)]
    bot: Union[Literal[True], msgspec.UnsetType] = msgspec.UNSET  # only while a bot holds the seat


class GameView(Struct):
    """The game as a ``welcome`` shows it."""

    game_id: Name
    state: Literal["waiting_for_players", "character_selection", "in_progress", "game_over"]
    rounds: names.Rounds
    round: Annotated[int, Meta(ge=0)]
    round_state: Optional[Annotated[int, Meta(ge=0)]]
    players: Annotated[List[PlayerView], Meta(max_length=2)]
    spectators: Annotated[int, Meta(ge=0)]


class Welcome(Struct, tag_field="type", tag=WELCOME):
    """The first message on every connection, and again on every reconnection; ``userId`` for players only."""

    role: Literal["player", "spectator"]
    game: GameView
    userId: Union[Name, msgspec.UnsetType] = msgspec.UNSET


class Seats(Struct):
    """Both seats' ids and names (``null`` for an empty seat)."""

    p1Id: Optional[Name]
    p1Name: Optional[Name]
    p2Id: Optional[Name]
    p2Name: Optional[Name]


class PlayerJoined(Struct, tag_field="type", tag=PLAYER_JOINED):
    """A player connected or reconnected."""

    gameData: Seats


class FighterPick(Struct):
    """Who picked which fighter."""

    playerId: Name
    selectedCharacterId: FighterId


class FighterSelected(Struct, tag_field="type", tag=SELECT_FIGHTER):
    """A fighter pick, sent to those allowed to see it."""

    gameData: FighterPick


class EventData(Struct):
    """An engine event as the original engine serialised it (``data`` per event type: docs/protocol.md)."""

    type: Annotated[int, Meta(ge=0)]
    classtype: Literal["RPSGameEvent", "RPSRoundEvent"]
    data: Union[Dict[str, Any], msgspec.UnsetType] = msgspec.UNSET


class GameEvent(Struct, tag_field="type", tag=GAME_EVENT):
    """``RPSGameEvent``: GAME_STARTED (0), GAME_COMPLETE (1)."""

    eventData: EventData


class RoundEvent(Struct, tag_field="type", tag=ROUND_EVENT):
    """``RPSRoundEvent``: countdowns, state changes, weapons selected, round finished and started."""

    eventData: EventData


class HealthPair(Struct):
    """Both fighters' health."""

    p1Health: Health
    p2Health: Health


class Sync(Struct, tag_field="type", tag=SYNC):
    """Both fighters' health, sent right after every STATE_CHANGE event."""

    gameData: HealthPair


class Error(Struct, tag_field="type", tag=ERROR):
    """A refused message (a snake_case ``code``), or the original's 4002 / 4003."""

    code: Union[Literal[4002, 4003], str]
    message: str


class PlayerLeft(Struct, tag_field="type", tag=PLAYER_LEFT):
    """A player's connection dropped; the seat is held for ``reconnectGrace`` seconds."""

    userId: Name
    reconnectGrace: Annotated[float, Meta(ge=0)]


class BotTakeover(Struct, tag_field="type", tag=BOT_TAKEOVER):
    """A player's reconnection grace ran out mid-match (``--bot-takeover``): a bot plays the seat until they return."""

    userId: Name


ServerMessage = Union[Welcome, PlayerJoined, FighterSelected, GameEvent, RoundEvent, Sync, Error, PlayerLeft,
                      BotTakeover]

_decode_server = msgspec.json.Decoder(ServerMessage).decode


def check_server_message(payload: bytes) -> Any:
    """Decode a message the server sent, raising ``msgspec.ValidationError`` if it breaks its schema (for tests)."""
    message = _decode_server(payload)
    if isinstance(message, Welcome):
        if (message.role == "player") != (message.userId is not msgspec.UNSET):
            raise msgspec.ValidationError("a welcome has userId exactly when role is player")
        for player in message.game.players:
            if player.fighter is None and player.health is not None:
                raise msgspec.ValidationError("a welcome shows no health for a fighter it does not show")
    return message


# -- schemas ----------------------------------------------------------------------------


def json_schemas(ref_template: str = "#/components/schemas/{name}") -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """``(roots, components)``: the JSON Schemas of ``ClientMessage`` and ``ServerMessage``, and their parts."""
    (client, server), components = msgspec.json.schema_components(
        [ClientMessage, ServerMessage], ref_template=ref_template)
    client["description"] = "A message a client sends (one JSON object per WebSocket text frame)."
    server["description"] = "A message the server sends (one JSON object per WebSocket text frame)."
    return {"ClientMessage": client, "ServerMessage": server}, components
