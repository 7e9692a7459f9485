"""The Varcade portal's event stream, fed by the games' lifecycle events.

:class:`VarcadeEvents` implements :class:`rpsa.play.hooks.GameEvents` (the interface
through which a game reports its lifecycle) by appending the original Varcade server's
entries (:mod:`rpsa.redis.schema` documents them) to a
:class:`~rpsa.redis.stream.StreamWriter`.  Every method returns at once: nothing about
play waits on Redis.
"""

from __future__ import annotations

from rpsa.play.hooks import GameEvents
from rpsa.redis import schema


class VarcadeEvents(GameEvents):
    """Writes each event as the original Varcade server's stream entry.

    :param writer: the :class:`~rpsa.redis.stream.StreamWriter` of ``--event-stream``.
    :param product_id: the portal's id for RPSA (``--product-id``; ``exrps`` in the Varcade portal).
    """

    def __init__(self, writer, product_id: str):
        self._append = writer.append
        self._product = product_id

    def creator_joined(self, game_id):
        self._append(schema.state_change(self._product, game_id, schema.CREATOR_JOINED))

    def all_players_joined(self, game_id):
        self._append(schema.state_change(self._product, game_id, schema.ALL_PLAYERS_JOINED))

    def fighter_selected(self, game_id, user_id, character_id):
        self._append(schema.gameplay(self._product, game_id, "select_fighter", character_id, user_id))

    def player_ready(self, game_id, user_id):
        self._append(schema.gameplay(self._product, game_id, "set_ready", "", user_id))

    def weapons_selected(self, game_id, p1_id, p1_weapon, p2_id, p2_weapon):
        for user_id, weapon in ((p1_id, p1_weapon), (p2_id, p2_weapon)):
            data = "" if weapon is None else str(weapon)
            self._append(schema.gameplay(self._product, game_id, "select_weapon", data, user_id))

    def round_started(self, game_id, p1_id, p2_id):
        self._append(schema.round_started(self._product, game_id, p1_id, p2_id))

    def round_finished(self, game_id, winner_id, loser_id, p1_id, p2_id):
        self._append(schema.round_finished(self._product, game_id, winner_id, loser_id, p1_id, p2_id))

    def game_over(self, game_id, winner_id, loser_id):
        self._append(schema.game_over(self._product, game_id, winner_id, loser_id))

    def player_disconnected(self, game_id, player_id):
        self._append(schema.player_disconnect(self._product, game_id, player_id))

    def game_removed(self, game_id):
        self._append(schema.game_removed(self._product, game_id))
