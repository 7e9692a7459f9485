"""Tests for L{rpsa.bots.strategy}: the levels, measured against each other on the pure engine."""

import random

from twisted.trial.unittest import SynchronousTestCase

from rpsa.bots.strategy import (
    DEFAULT_LEVEL,
    CounterStrategy,
    RandomStrategy,
    Strategy,
    make_strategy,
    play_match,
    weapon_index,
)
from rpsa.rules import FIGHTERS

MATCHES = 300


def win_rate(make_first, make_second, seed, matches=MATCHES):
    """How often ``make_first()``'s strategy wins, seats alternating, botch draws from a seeded source."""
    rng = random.Random(seed)
    draw = lambda: rng.choice((19, 20, 21, 22, 23))
    first = make_first(random.Random(rng.random()))
    wins = 0
    for n in range(matches):
        second = make_second(random.Random(rng.random()))
        if n % 2 == 0:
            wins += play_match(first, second, botch_damage=draw) == 1
        else:
            wins += play_match(second, first, botch_damage=draw) == 2
    return wins / matches


class Always(Strategy):
    """Throws the same weapon every time (a person with a habit)."""

    level = "always"

    def __init__(self, weapon, fighter="aru"):
        super().__init__(random.Random(0))
        self.weapon, self.fighter = weapon, fighter

    def choose_fighter(self, opponent=None):
        return self.fighter

    def choose_weapon(self, me, opponent, history, health):
        return self.weapon


class LevelTests(SynchronousTestCase):
    """The strategy level beats the random level clearly; the random level is no better than chance."""

    def test_strategy_beats_random(self):
        """Over 300 matches (fixed seed, seats alternating), the strategy bot wins well over half."""
        rate = win_rate(CounterStrategy, RandomStrategy, seed=2024)
        self.assertGreaterEqual(rate, 0.62, f"the strategy bot won only {rate:.0%} of its matches")

    def test_random_against_itself_is_even(self):
        """The measure itself is fair: random against random wins about half."""
        rate = win_rate(RandomStrategy, RandomStrategy, seed=2024)
        self.assertTrue(0.4 <= rate <= 0.6, rate)

    def test_reads_a_habit(self):
        """An opponent who always throws rock is read within a few exchanges: the bot wins every match."""
        rate = win_rate(CounterStrategy, lambda rng: Always(0), seed=7, matches=20)
        self.assertEqual(rate, 1.0)


class CounterStrategyTests(SynchronousTestCase):
    """How the strategy level decides."""

    def setUp(self):
        self.strategy = CounterStrategy(random.Random(1), surprise=0)

    def test_predicts_uniform_without_history(self):
        """No history: every weapon equally likely."""
        self.assertEqual(self.strategy.predict([]), [1 / 3, 1 / 3, 1 / 3])

    def test_predicts_habits(self):
        """Rock thrown four times (a botch ignored): rock is the most likely next throw."""
        odds = self.strategy.predict([(1, 0), (2, 0), (0, None), (1, 0), (2, 0)])
        self.assertEqual(max(range(3), key=odds.__getitem__), 0)
        self.assertAlmostEqual(sum(odds), 1.0)

    def test_answers_a_predicted_rock_with_paper(self):
        """Against a predictable rock thrower, paper."""
        history = [(2, 0)] * 8
        weapon = self.strategy.choose_weapon(FIGHTERS["aru"], FIGHTERS["man"], history, (100, 100))
        self.assertEqual(weapon, 1)

    def test_uses_the_weapon_figures(self):
        """Against uniform play, Manbo throws scissors, its 0.4 modifier (35 damage downs 100 health in three hits)."""
        chances = self.strategy.round_chances(FIGHTERS["man"], FIGHTERS["aru"], (100, 100), (1 / 3, 1 / 3, 1 / 3))
        self.assertEqual(max(range(3), key=chances.__getitem__), 2)
        self.assertTrue(all(0 < c < 1 for c in chances), chances)

    def test_a_won_round_is_certain(self):
        """An opponent with no health left: every weapon wins."""
        chances = self.strategy.round_chances(FIGHTERS["man"], FIGHTERS["aru"], (100, 0), (1 / 3, 1 / 3, 1 / 3))
        for chance in chances:
            self.assertAlmostEqual(chance, 1.0)

    def test_fighter_choices_are_fighters(self):
        """Blind and as an answer, the choice is a fighter id."""
        self.assertIn(self.strategy.choose_fighter(), FIGHTERS)
        for opponent in FIGHTERS.values():
            self.assertIn(self.strategy.choose_fighter(opponent), FIGHTERS)

    def test_solved_positions_are_bounded(self):
        """The cache of solved positions never grows past MAX_SOLVED odds sets."""
        self.strategy.MAX_SOLVED = 3
        for n in range(10):
            odds = (n + 1, 5, 5)
            self.strategy.round_chances(FIGHTERS["aru"], FIGHTERS["mai"], (100, 120), [o / sum(odds) for o in odds])
            self.assertLessEqual(len(self.strategy._solved), 3)


class LevelNameTests(SynchronousTestCase):
    """Levels by name."""

    def test_levels(self):
        """``make_strategy`` builds each level; the default is the strategy level; unknown names raise KeyError."""
        self.assertIsInstance(make_strategy("random"), RandomStrategy)
        self.assertIsInstance(make_strategy("strategy"), CounterStrategy)
        self.assertEqual(make_strategy(None).level, DEFAULT_LEVEL)
        self.assertRaises(KeyError, make_strategy, "grandmaster")

    def test_random_keeps_its_fighter(self):
        """The random level picks once, whatever the opponent picked."""
        bot = RandomStrategy(random.Random(3))
        first = bot.choose_fighter()
        self.assertEqual(bot.choose_fighter(FIGHTERS["mai"]), first)

    def test_weapon_index(self):
        """Names on the wire to indexes; a botch is None."""
        self.assertEqual([weapon_index(n) for n in ("rock", "paper", "scissors", "botch")], [0, 1, 2, None])
