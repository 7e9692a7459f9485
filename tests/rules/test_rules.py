"""
Tests for L{rpsa.rules}, the Rock Paper Scissors Apocalypse rules engine.

Expected figures are worked out here from the rules (``../shared/spec/rules.md``),
written out again in this module, rather than read from the engine's own tables.
"""

from twisted.trial.unittest import SynchronousTestCase

from rpsa.rules import (
    FIGHTERS,
    Event,
    Game,
    GameFull,
    GameNotReady,
    InvalidWeapon,
    RulesError,
    UnknownFighter,
    UnknownPlayer,
    resolve_exchange,
)
from rpsa.rules.combat import damage

ROCK, PAPER, SCISSORS = 0, 1, 2
WEAPON_IDS = ("rock", "paper", "scissors")
# (winner, loser) weapon pairs: rock beats scissors, scissors paper, paper rock.
BEATS = {(ROCK, SCISSORS), (SCISSORS, PAPER), (PAPER, ROCK)}
BOTCH_VALUES = (19, 20, 21, 22, 23)

# The rules' fighter table: id -> (health, rock, paper, scissors), each weapon
# as (base, modifier, mitigation).
TABLE = {
    "aru": (100, (25, 0, 0.2), (25, 0.3, 0), (25, 0, 0)),
    "man": (100, (25, 0, 0), (25, 0, 0.1), (25, 0.4, 0)),
    "hog": (100, (25, 0.1, 0), (25, 0.1, 0.1), (25, 0, 0.2)),
    "rad": (120, (20, 0.1, 0), (20, 0, 0), (20, 0, 0.4)),
    "mai": (120, (20, 0, 0.1), (20, 0, 0.2), (20, 0, 0.2)),
}

# Game states and round states, by the rules' numbers.
WAITING_FOR_PLAYERS, CHARACTER_SELECTION, IN_PROGRESS, GAME_OVER = 0, 1, 2, 3
NEW_ROUND, COUNTDOWN, WAITING, PROCESSING, FINISHED = 0, 1, 2, 3, 4


# -- expected values, from the rules ---------------------------------------


def expectedDamage(base, modifier, mitigation):
    """C{base × (1 + modifier − mitigation)}, in that order, as IEEE doubles."""
    return float(base) * (1.0 + float(modifier) - float(mitigation))


def expectedExchange(f1, w1, f2, w2, botch1=None, botch2=None):
    """
    The damage (dealt by player 1, dealt by player 2) of one exchange, per the
    rules; a weapon of C{None} is a botch whose base is C{botch1}/C{botch2}.
    """

    def dealt(fighter, weapon, botch, other, otherWeapon):
        if weapon is None:
            base, modifier = botch, 0
        else:
            base, modifier, _ = TABLE[fighter][1 + weapon]
        mitigation = 0 if otherWeapon is None else TABLE[other][1 + otherWeapon][2]
        return expectedDamage(base, modifier, mitigation)

    if w1 is None or w2 is None:
        win1, win2 = w2 is None, w1 is None
    else:
        win1, win2 = (w1, w2) in BEATS, (w2, w1) in BEATS
    return (
        dealt(f1, w1, botch1, f2, w2) if win1 else 0.0,
        dealt(f2, w2, botch2, f1, w1) if win2 else 0.0,
    )


def weaponId(weapon):
    """The wire name of a weapon index, or C{"botch"} for C{None}."""
    return "botch" if weapon is None else WEAPON_IDS[weapon]


# -- events, by the rules' numbers -------------------------------------------


def gameStarted():
    """GAME_STARTED."""
    return Event("RPSGameEvent", 0, {})


def gameComplete(winner, loser):
    """GAME_COMPLETE."""
    return Event("RPSGameEvent", 1, {"winnerId": winner, "loserId": loser})


def roundCountdown(value):
    """ROUND_COUNTDOWN."""
    return Event("RPSRoundEvent", 0, {"value": value})


def weaponCountdown(value):
    """WEAPON_COUNTDOWN."""
    return Event("RPSRoundEvent", 1, {"value": value})


def stateChange(new, old):
    """STATE_CHANGE."""
    return Event("RPSRoundEvent", 2, {"newState": new, "oldState": old})


def weaponsSelected(w1, dealt1, w2, dealt2):
    """WEAPONS_SELECTED."""
    return Event("RPSRoundEvent", 3, {"attackSummary": {
        "p1Selection": {"weaponId": w1, "damageDealt": dealt1},
        "p2Selection": {"weaponId": w2, "damageDealt": dealt2},
    }})


def roundFinished(winner, loser):
    """ROUND_FINISHED."""
    return Event("RPSRoundEvent", 4, {"roundWinnerId": winner, "roundLoserId": loser})


def roundStarted():
    """ROUND_STARTED (no data)."""
    return Event("RPSRoundEvent", 5)


def weaponWindow(opens, oldState, summary):
    """
    The (tick, event) entries of one weapon window that opens on tick C{opens}
    from round state C{oldState} and closes with the exchange C{summary}.
    """
    return [
        (opens, stateChange(WAITING, oldState)),
        (opens + 1, weaponCountdown(3)),
        (opens + 2, weaponCountdown(2)),
        (opens + 3, weaponCountdown(1)),
        (opens + 4, summary),
        (opens + 4, stateChange(PROCESSING, WAITING)),
    ]


# -- driving a game ----------------------------------------------------------


class Draws:
    """An injected botch source: returns C{values} in turn, cyclically, and counts calls."""

    def __init__(self, *values):
        self.values = values
        self.calls = 0

    def __call__(self):
        value = self.values[self.calls % len(self.values)]
        self.calls += 1
        return value


class Match:
    """
    A started game between players C{"p1"} and C{"p2"}, with a tick counter,
    a log of C{(tick, event)} and the health shown after every tick.
    """

    def __init__(self, fighters=("man", "aru"), rounds=3, draws=None):
        self.draws = draws or Draws(21)
        self.game = Game(rounds=rounds, botch_damage=self.draws)
        for player, fighter in zip(("p1", "p2"), fighters):
            self.game.add_player(player)
            self.game.select_fighter(player, fighter)
        self.now = 0
        self.log = [(0, event) for event in self.game.start()]
        self.health = {0: self.game.health}

    def tick(self):
        """Run one tick, log its events and return them."""
        self.now += 1
        events = self.game.tick()
        self.log.extend((self.now, event) for event in events)
        self.health[self.now] = self.game.health
        return events

    def play(self, until, picks=(), policy=None):
        """
        Tick up to and including tick C{until}.  C{picks} holds
        C{(tick, player, weapon)} selections, each made just before that tick;
        C{policy(match)}, if given, is called before every tick.  Returns
        whether each pick was accepted, in order.
        """
        accepted = []
        while self.now < until:
            upcoming = self.now + 1
            for tick, player, weapon in picks:
                if tick == upcoming:
                    accepted.append(self.game.select_weapon(player, weapon))
            if policy is not None:
                policy(self)
            self.tick()
        return accepted

    def finish(self, policy, limit=1000):
        """Play, calling C{policy} before every tick, until the match is complete."""
        for _ in range(limit):
            if self.game.complete:
                return
            policy(self)
            self.tick()
        raise AssertionError(f"the match was not complete after {limit} ticks")

    def at(self, tick):
        """The events of tick C{tick}."""
        return [event for when, event in self.log if when == tick]

    def ofType(self, classtype, type):
        """The logged C{(tick, event)} entries of one event kind."""
        return [(t, e) for t, e in self.log if (e.classtype, e.type) == (classtype, type)]

    def thrown(self):
        """The C{(p1 weaponId, p2 weaponId)} of every exchange so far."""
        return [
            (e.data["attackSummary"]["p1Selection"]["weaponId"],
             e.data["attackSummary"]["p2Selection"]["weaponId"])
            for _, e in self.ofType("RPSRoundEvent", 3)
        ]

    def roundsStarted(self):
        """How many rounds have started."""
        return len(self.ofType("RPSRoundEvent", 5))


def always(player, weapon):
    """A policy: C{player} selects C{weapon} whenever the weapon window is open."""

    def policy(match):
        if match.game.weapon_window_open:
            match.game.select_weapon(player, weapon)

    return policy


def roundWinners(*players):
    """A policy: in round n, C{players[n - 1]} throws rock whenever it can, the other nothing."""

    def policy(match):
        if match.game.weapon_window_open:
            match.game.select_weapon(players[match.roundsStarted() - 1], ROCK)

    return policy


def twoSeated(fighters=()):
    """A new game with players p1 and p2 seated, and the given fighters picked."""
    game = Game(botch_damage=Draws(21))
    game.add_player("p1")
    game.add_player("p2")
    for player, fighter in zip(("p1", "p2"), fighters):
        game.select_fighter(player, fighter)
    return game


class _NumberAssertions:
    """Mixin: exact comparison of engine numbers with expected doubles."""

    def assertNumber(self, actual, expected, context=""):
        """C{actual} equals the double C{expected} exactly, and is an int when whole."""
        self.assertEqual(actual, expected, f"{context}: {actual!r} != {expected!r}")
        wanted = int if float(expected).is_integer() else float
        self.assertIs(type(actual), wanted, f"{context}: {actual!r} should be {wanted.__name__}")


# -- 1. the damage formula --------------------------------------------------


class DamageTests(_NumberAssertions, SynchronousTestCase):
    """The damage of one exchange, for every fighter pairing and weapon pairing."""

    def checkExchange(self, f1, w1, f2, w2, draws, botches=(None, None)):
        """Resolve one exchange and compare it with the rules' figures."""
        context = f"{f1} {weaponId(w1)} vs {f2} {weaponId(w2)}"
        summary, dealt1, dealt2 = resolve_exchange(FIGHTERS[f1], w1, FIGHTERS[f2], w2, draws)
        expected1, expected2 = expectedExchange(f1, w1, f2, w2, *botches)
        self.assertNumber(dealt1, expected1, context)
        self.assertNumber(dealt2, expected2, context)
        self.assertEqual(summary, {
            "p1Selection": {"weaponId": weaponId(w1), "damageDealt": dealt1},
            "p2Selection": {"weaponId": weaponId(w2), "damageDealt": dealt2},
        }, context)

    def test_fighterTable(self):
        """The engine has exactly the rules' five fighters, with the rules' health."""
        self.assertEqual(sorted(FIGHTERS), sorted(TABLE))
        for fighterId, row in TABLE.items():
            self.assertEqual(FIGHTERS[fighterId].health, row[0], fighterId)

    def test_weaponAgainstWeapon(self):
        """Every fighter pairing and weapon pairing deals the rules' damage and draws no botch."""
        checked = 0
        for f1 in TABLE:
            for f2 in TABLE:
                for w1 in (ROCK, PAPER, SCISSORS):
                    for w2 in (ROCK, PAPER, SCISSORS):
                        draws = Draws(99)
                        self.checkExchange(f1, w1, f2, w2, draws)
                        self.assertEqual(draws.calls, 0)
                        checked += 1
        self.assertEqual(checked, 5 * 5 * 3 * 3)

    def test_weaponAgainstBotch(self):
        """A weapon beats player 2's botch, unmitigated; the losing botch still draws once."""
        checked = 0
        for f1 in TABLE:
            for f2 in TABLE:
                for w1 in (ROCK, PAPER, SCISSORS):
                    draws = Draws(23)
                    self.checkExchange(f1, w1, f2, None, draws, (None, 23))
                    self.assertEqual(draws.calls, 1)
                    checked += 1
        self.assertEqual(checked, 5 * 5 * 3)

    def test_botchAgainstWeapon(self):
        """A weapon beats player 1's botch, unmitigated; the losing botch still draws once."""
        checked = 0
        for f1 in TABLE:
            for f2 in TABLE:
                for w2 in (ROCK, PAPER, SCISSORS):
                    draws = Draws(19)
                    self.checkExchange(f1, None, f2, w2, draws, (19, None))
                    self.assertEqual(draws.calls, 1)
                    checked += 1
        self.assertEqual(checked, 5 * 5 * 3)

    def test_botchAgainstBotch(self):
        """Two botches both deal their drawn base, player 1's draw made first."""
        checked = 0
        for f1 in TABLE:
            for f2 in TABLE:
                for b1 in BOTCH_VALUES:
                    b2 = 42 - b1 if b1 != 21 else 22  # always a different value
                    draws = Draws(b1, b2)
                    self.checkExchange(f1, None, f2, None, draws, (b1, b2))
                    self.assertEqual(draws.calls, 2)
                    checked += 1
        self.assertEqual(checked, 5 * 5 * 5)

    def test_botchDrawOrder(self):
        """With distinct draws, player 1's botch gets the first and player 2's the second."""
        summary, dealt1, dealt2 = resolve_exchange(
            FIGHTERS["aru"], None, FIGHTERS["man"], None, Draws(19, 23))
        self.assertEqual((dealt1, dealt2), (19, 23))
        summary, dealt1, dealt2 = resolve_exchange(
            FIGHTERS["aru"], None, FIGHTERS["man"], None, Draws(23, 19))
        self.assertEqual((dealt1, dealt2), (23, 19))

    def test_exactDoubles(self):
        """Known results are exact doubles, whole ones ints (as JavaScript prints them)."""
        cases = [
            # (fighter 1, weapon 1, fighter 2, weapon 2, dealt 1, dealt 2)
            ("hog", ROCK, "man", SCISSORS, 27.500000000000004, 0),
            ("aru", PAPER, "hog", PAPER, 0, 0),
            ("aru", PAPER, "man", ROCK, 32.5, 0),
            ("man", SCISSORS, "aru", PAPER, 35, 0),
            ("man", SCISSORS, "hog", PAPER, 32.49999999999999, 0),
            ("hog", SCISSORS, "rad", ROCK, 0, 18.000000000000004),
            ("mai", SCISSORS, "rad", PAPER, 20, 0),
            ("aru", PAPER, "mai", ROCK, 30, 0),
            ("man", ROCK, "aru", SCISSORS, 25, 0),
        ]
        for f1, w1, f2, w2, dealt1, dealt2 in cases:
            context = f"{f1} {weaponId(w1)} vs {f2} {weaponId(w2)}"
            _, actual1, actual2 = resolve_exchange(FIGHTERS[f1], w1, FIGHTERS[f2], w2, Draws(99))
            self.assertNumber(actual1, dealt1, context)
            self.assertNumber(actual2, dealt2, context)

    def test_damageFunction(self):
        """C{damage} computes in the rules' order and turns whole doubles into ints."""
        self.assertNumber(damage(25, 0.1, 0), 27.500000000000004)
        self.assertNumber(damage(20, 0.1, 0.2), 18.000000000000004)
        self.assertNumber(damage(25, 0.4, 0), 35)
        self.assertNumber(damage(25, 0, 0), 25)
        self.assertNumber(damage(23, 0, 0), 23)


# -- 2, 3, 4, 5, 9: exchanges and health in a real game ----------------------


class ExchangeInGameTests(_NumberAssertions, SynchronousTestCase):
    """Weapon windows, selections, knock-outs and health in a played game."""

    def test_doubleKnockOutGoesToPlayerOne(self):
        """When both fighters fall in one exchange, player 1 wins the round."""
        # Player 1 draws 20s and deals 100 in five botches; player 2 draws 23s
        # and deals 115: both are defeated by the fifth exchange (tick 33).
        match = Match(("aru", "man"), rounds=1, draws=Draws(20, 23))
        match.play(34)
        self.assertEqual(match.thrown(), [("botch", "botch")] * 5)
        self.assertEqual(match.health[27], (8, 20))
        self.assertEqual(match.health[33], (0, 0))
        self.assertEqual(match.at(34), [stateChange(FINISHED, PROCESSING), roundFinished("p1", "p2")])
        self.assertEqual(match.draws.calls, 10)

    def test_singleKnockOutOfPlayerOne(self):
        """When only player 1 falls, player 2 wins the round."""
        match = Match(("aru", "man"), rounds=1, draws=Draws(19, 23))
        match.play(34)
        self.assertEqual(match.health[33], (0, 5))
        self.assertEqual(match.at(34), [stateChange(FINISHED, PROCESSING), roundFinished("p2", "p1")])

    def test_ignoredBeforeFirstRound(self):
        """A selection between start and the first tick is ignored."""
        match = Match()
        self.assertFalse(match.game.weapon_window_open)
        self.assertEqual(match.play(9, [(1, "p1", ROCK)]), [False])
        self.assertEqual(match.thrown(), [("botch", "botch")])

    def test_ignoredDuringCountdown(self):
        """A selection during COUNTDOWN is ignored and the exchange shows a botch."""
        match = Match()
        match.play(1)
        self.assertEqual(match.game.round_state, COUNTDOWN)
        picks = [(tick, "p1", ROCK) for tick in (2, 3, 4, 5)] + [(6, "p2", PAPER)]
        self.assertEqual(match.play(9, picks), [False, False, False, False, True])
        self.assertEqual(match.thrown(), [("botch", "paper")])

    def test_ignoredRightAfterExchange(self):
        """A selection after an exchange but before the silent tick is ignored."""
        match = Match()
        match.play(9, [(6, "p1", ROCK), (6, "p2", ROCK)])
        self.assertEqual(match.game.round_state, PROCESSING)
        self.assertFalse(match.game.weapon_window_open)
        self.assertEqual(match.play(15, [(10, "p1", PAPER)]), [False])
        self.assertEqual(match.thrown(), [("rock", "rock"), ("botch", "botch")])

    def test_ignoredAfterDefeat(self):
        """After a defeat the window stays closed until the next round's window opens."""
        match = Match(rounds=3)
        match.play(27, [(tick, "p1", ROCK) for tick in (6, 12, 18, 24)])
        self.assertEqual(match.health[27], (100, 0))
        picks = [(tick, player, PAPER) for tick in range(28, 35) for player in ("p1", "p2")]
        self.assertEqual(match.play(38, picks), [False] * len(picks))
        self.assertEqual(match.at(29), [roundStarted()])
        self.assertEqual(match.thrown()[-1], ("botch", "botch"))
        self.assertEqual(len(match.thrown()), 5)

    def test_selectionsClearedAfterExchange(self):
        """A selection is thrown once: the next exchange is a botch unless a new pick is made."""
        match = Match()
        match.play(15, [(6, "p1", ROCK), (7, "p2", SCISSORS)])
        self.assertEqual(match.thrown(), [("rock", "scissors"), ("botch", "botch")])

    def test_lastSelectionWins(self):
        """Of two selections in one window, the later one is thrown."""
        match = Match()
        picks = [(6, "p1", ROCK), (8, "p1", SCISSORS), (7, "p2", PAPER), (7, "p2", ROCK)]
        self.assertEqual(match.play(9, picks), [True, True, True, True])
        self.assertEqual(match.at(9)[0], weaponsSelected("scissors", 0, "rock", 25))

    def test_pickDuringResultDisplay(self):
        """A pick made after the silent PROCESSING_RESULT tick is thrown in the next exchange."""
        match = Match()
        match.play(10, [(6, "p1", ROCK), (6, "p2", ROCK)])
        self.assertEqual(match.at(10), [])
        self.assertEqual(match.game.round_state, PROCESSING)
        self.assertTrue(match.game.weapon_window_open)
        self.assertEqual(match.play(15, [(11, "p1", PAPER)]), [True])
        self.assertEqual(match.thrown(), [("rock", "rock"), ("paper", "botch")])

    def test_healthBeforeFirstRound(self):
        """Before the first tick both fighters show their full health."""
        self.assertEqual(Match(("rad", "aru")).health[0], (120, 100))

    def test_healthIsExactAndWhole(self):
        """Health shown is health minus this round's damage, exact, an int when whole."""
        hit = expectedDamage(25, 0.1, 0)
        match = Match(("hog", "man"))
        match.play(15, [(6, "p1", ROCK), (6, "p2", SCISSORS), (12, "p1", ROCK), (12, "p2", SCISSORS)])
        p1, p2 = match.health[9]
        self.assertNumber(p1, 100)
        self.assertNumber(p2, 100 - hit)
        p1, p2 = match.health[15]
        self.assertNumber(p1, 100)
        self.assertNumber(p2, max(0, 100 - (hit + hit)))

    def test_healthResetsEachRound(self):
        """Both fighters are back to full health when the next round starts."""
        match = Match(rounds=3)
        picks = [(6, "p2", ROCK)] + [(tick, "p1", ROCK) for tick in (12, 18, 24, 30)]
        match.play(44, picks)
        self.assertEqual(match.health[33], (75, 0))
        self.assertEqual(match.at(35), [roundStarted()])
        self.assertEqual(match.health[35], (100, 100))
        self.assertEqual(match.thrown()[-1], ("botch", "botch"))
        self.assertEqual(match.health[44], (79, 79))


# -- 6. best of N --------------------------------------------------------------


class MatchTests(SynchronousTestCase):
    """Rounds, round wins and the tick sequence of a match."""

    def test_roundTickSequence(self):
        """A best-of-1 match emits the rules' events on the rules' ticks."""
        match = Match(rounds=1)
        match.finish(always("p1", ROCK))
        hits = [weaponsSelected("rock", 25, "botch", 0)] * 4
        expected = (
            [(0, gameStarted()),
             (1, roundStarted()), (1, stateChange(COUNTDOWN, NEW_ROUND)),
             (2, roundCountdown(3)), (3, roundCountdown(2)), (4, roundCountdown(1))]
            + weaponWindow(5, COUNTDOWN, hits[0])
            + weaponWindow(11, PROCESSING, hits[1])
            + weaponWindow(17, PROCESSING, hits[2])
            + weaponWindow(23, PROCESSING, hits[3])
            + [(28, stateChange(FINISHED, PROCESSING)), (28, roundFinished("p1", "p2")),
               (30, gameComplete("p1", "p2"))]
        )
        self.assertEqual(match.log, expected)
        self.assertEqual(match.now, 30)
        self.assertEqual(match.tick(), [])
        self.assertFalse(match.game.select_weapon("p1", ROCK))

    def test_nextRoundStartsOnItsOwnTick(self):
        """The tick after ROUND_FINISHED only starts the next round; the one after ticks it."""
        match = Match(rounds=3)
        match.play(31, policy=always("p1", ROCK))
        self.assertEqual(match.at(28), [stateChange(FINISHED, PROCESSING), roundFinished("p1", "p2")])
        self.assertEqual(match.at(29), [roundStarted()])
        self.assertEqual(match.game.round_state, COUNTDOWN)
        self.assertEqual(match.at(30), [stateChange(COUNTDOWN, NEW_ROUND)])
        self.assertEqual(match.at(31), [roundCountdown(3)])

    def test_bestOfN(self):
        """Best of 1, 3, 5, 7 and 9 end when a player reaches 1, 2, 3, 4 and 5 round wins."""
        # Round 1 takes 28 ticks; each later round 29 (its ROUND_STARTED has a
        # tick of its own); then one silent GAME_OVER tick and GAME_COMPLETE.
        table = [(1, 1, 30), (3, 2, 59), (5, 3, 88), (7, 4, 117), (9, 5, 146)]
        for rounds, toWin, completeTick in table:
            match = Match(rounds=rounds)
            match.finish(always("p1", ROCK))
            finished = [e for _, e in match.ofType("RPSRoundEvent", 4)]
            self.assertEqual(finished, [roundFinished("p1", "p2")] * toWin, rounds)
            self.assertEqual(match.log[-1], (completeTick, gameComplete("p1", "p2")), rounds)
            self.assertEqual(match.at(completeTick - 1), [], rounds)
            self.assertEqual(match.game.round_wins, [toWin, 0], rounds)
            self.assertEqual((match.game.winner_id, match.game.loser_id), ("p1", "p2"))
            self.assertEqual(match.game.state, GAME_OVER)
            self.assertEqual(match.draws.calls, 4 * toWin, rounds)
            self.assertEqual(match.tick(), [])

    def test_playerTwoWinsBestOfFive(self):
        """Round wins are counted per player: 2-3 after five rounds makes player 2 the winner."""
        match = Match(rounds=5)
        match.finish(roundWinners("p1", "p2", "p1", "p2", "p2"))
        winners = [e.data["roundWinnerId"] for _, e in match.ofType("RPSRoundEvent", 4)]
        self.assertEqual(winners, ["p1", "p2", "p1", "p2", "p2"])
        self.assertEqual(match.log[-1][1], gameComplete("p2", "p1"))
        self.assertEqual(match.game.round_wins, [2, 3])
        self.assertEqual((match.game.winner_id, match.game.loser_id), ("p2", "p1"))

    def test_defaultIsBestOfThree(self):
        """A game made without C{rounds} ends at two round wins."""
        game = twoSeated(("man", "aru"))
        game.start()
        finished = 0
        for _ in range(200):
            if game.complete:
                break
            if game.weapon_window_open:
                game.select_weapon("p1", ROCK)
            finished += sum(1 for e in game.tick() if (e.classtype, e.type) == ("RPSRoundEvent", 4))
        self.assertTrue(game.complete)
        self.assertEqual(finished, 2)

    def test_invalidRounds(self):
        """Even, out-of-range and non-integer round counts are refused."""
        for rounds in (0, 2, 4, 11, -1, "3", True, 3.0):
            self.assertRaises(RulesError, Game, rounds=rounds)


# -- 7, 8. misuse, seats ------------------------------------------------------


class MisuseTests(SynchronousTestCase):
    """Each invalid use of the engine raises a clear exception."""

    def test_unknownFighter(self):
        """An id outside the fighter table raises UnknownFighter, naming it."""
        game = twoSeated()
        for bad in ("xyz", "", "ARU", None, ["aru"]):
            exc = self.assertRaises(UnknownFighter, game.select_fighter, "p1", bad)
            self.assertIsInstance(exc, ValueError)
            self.assertIn(repr(bad), str(exc))

    def test_invalidWeapon(self):
        """A weapon outside the integers 0..2 raises InvalidWeapon and keeps the pick."""
        match = Match()
        match.play(5)
        self.assertTrue(match.game.select_weapon("p1", ROCK))
        for bad in (-1, 3, 1.0, True, "1", None):
            exc = self.assertRaises(InvalidWeapon, match.game.select_weapon, "p1", bad)
            self.assertIsInstance(exc, RulesError)
            self.assertIn(repr(bad), str(exc))
        match.play(9)
        self.assertEqual(match.thrown(), [("rock", "botch")])

    def test_invalidWeaponWhileClosed(self):
        """An invalid weapon raises even while the window is closed."""
        match = Match()
        match.play(2)
        self.assertFalse(match.game.weapon_window_open)
        self.assertRaises(InvalidWeapon, match.game.select_weapon, "p1", 3)

    def test_startWithoutFighters(self):
        """Starting before both fighters are picked raises GameNotReady."""
        game = twoSeated()
        self.assertRaises(GameNotReady, game.start)
        game.select_fighter("p1", "aru")
        self.assertRaises(GameNotReady, game.start)
        self.assertEqual(game.state, CHARACTER_SELECTION)
        game.select_fighter("p2", "man")
        self.assertEqual(game.start(), [gameStarted()])
        self.assertEqual(game.state, IN_PROGRESS)

    def test_startWithOnePlayer(self):
        """Starting with fewer than two players raises GameNotReady."""
        game = Game()
        self.assertRaises(GameNotReady, game.start)
        game.add_player("p1")
        game.select_fighter("p1", "aru")
        self.assertRaises(GameNotReady, game.start)
        self.assertEqual(game.state, WAITING_FOR_PLAYERS)

    def test_thirdPlayer(self):
        """A third player raises GameFull and gets no seat."""
        game = twoSeated()
        self.assertRaises(GameFull, game.add_player, "p3")
        self.assertRaises(UnknownPlayer, game.select_fighter, "p3", "aru")

    def test_samePlayerTwice(self):
        """Adding a seated player again raises RulesError and leaves seat 2 free."""
        game = Game()
        self.assertEqual(game.add_player("p1"), 1)
        self.assertRaises(RulesError, game.add_player, "p1")
        self.assertEqual(game.state, WAITING_FOR_PLAYERS)
        self.assertEqual(game.add_player("p2"), 2)

    def test_unknownPlayer(self):
        """A player id with no seat raises UnknownPlayer wherever a player is named."""
        match = Match()
        match.play(5)
        self.assertRaises(UnknownPlayer, match.game.select_weapon, "p3", ROCK)
        self.assertRaises(UnknownPlayer, match.game.remove_player, "p3")
        self.assertRaises(UnknownPlayer, twoSeated().select_fighter, "p3", "aru")

    def test_tickBeforeStart(self):
        """Ticking a game that has not started raises GameNotReady."""
        self.assertRaises(GameNotReady, Game().tick)
        self.assertRaises(GameNotReady, twoSeated(("aru", "man")).tick)

    def test_startTwice(self):
        """Starting a started match raises RulesError and changes nothing."""
        match = Match()
        match.play(1)
        self.assertRaises(RulesError, match.game.start)
        self.assertEqual(match.tick(), [roundCountdown(3)])

    def test_fighterChangeAfterStart(self):
        """Picking a fighter once the match has started raises RulesError."""
        match = Match()
        self.assertRaises(RulesError, match.game.select_fighter, "p1", "mai")


class SeatTests(SynchronousTestCase):
    """Leaving a game before its match starts."""

    def test_removeSecondPlayer(self):
        """Removing player 2 reopens seat 2 and clears its fighter."""
        game = twoSeated(("aru", "man"))
        game.remove_player("p2")
        self.assertEqual(game.state, WAITING_FOR_PLAYERS)
        self.assertEqual(game.add_player("p3"), 2)
        self.assertEqual(game.state, CHARACTER_SELECTION)
        self.assertRaises(GameNotReady, game.start)
        game.select_fighter("p3", "rad")
        self.assertEqual(game.start(), [gameStarted()])
        self.assertEqual(game.health, (100, 120))

    def test_removeFirstPlayer(self):
        """Removing player 1 moves player 2, with its fighter, to seat 1."""
        game = twoSeated(("aru", "man"))
        game.remove_player("p1")
        self.assertEqual(game.state, WAITING_FOR_PLAYERS)
        self.assertEqual(game.seat_of("p2"), 1)
        self.assertEqual(game.add_player("p3"), 2)
        game.select_fighter("p3", "mai")
        game.start()
        self.assertEqual(game.health, (100, 120))

    def test_removeOnlyPlayer(self):
        """Removing the only player empties the game."""
        game = Game()
        game.add_player("p1")
        game.remove_player("p1")
        self.assertEqual(game.state, WAITING_FOR_PLAYERS)
        self.assertEqual(game.add_player("p2"), 1)

    def test_removeAfterStart(self):
        """Removing a player once the match has started raises RulesError and keeps the seat."""
        match = Match()
        self.assertRaises(RulesError, match.game.remove_player, "p2")
        self.assertEqual(match.play(9, [(7, "p2", ROCK)]), [True])
        self.assertEqual(match.thrown(), [("botch", "rock")])
