"""One exchange: who beats whom, the damage formula and botches."""

from __future__ import annotations

from typing import Callable, Optional, Tuple

from rpsa.rules.errors import InvalidWeapon
from rpsa.rules.fighters import Fighter

ROCK, PAPER, SCISSORS = 0, 1, 2
WEAPON_NAMES = ("rock", "paper", "scissors")
BOTCH = "botch"
BOTCH_DAMAGES = (19, 20, 21, 22, 23)

# BEATS[a] is the weapon that a beats.
_BEATS = {ROCK: SCISSORS, SCISSORS: PAPER, PAPER: ROCK}


def check_weapon(index: object) -> int:
    """Return ``index`` if it is a weapon index (an int 0..2), else raise InvalidWeapon."""
    if type(index) is not int or not 0 <= index <= 2:
        raise InvalidWeapon(f"weapon index must be an integer 0..2, got {index!r}")
    return index


def as_number(value):
    """A float that is a whole number becomes an int, as JavaScript would print it."""
    if type(value) is float and value.is_integer():
        return int(value)
    return value


def damage(base, modifier, mitigation):
    """``base × (1 + modifier − mitigation)``, in exactly that order, as IEEE doubles."""
    return as_number(base * (1 + modifier - mitigation))


def resolve_exchange(
    fighter1: Fighter,
    weapon1: Optional[int],
    fighter2: Fighter,
    weapon2: Optional[int],
    draw_botch: Callable[[], int],
) -> Tuple[dict, object, object]:
    """Resolve one exchange.

    ``weapon1``/``weapon2`` are weapon indexes, or ``None`` for a botch.
    ``draw_botch`` is called once per botch thrown, player 1's first.
    Returns ``(attack_summary, damage_dealt_by_1, damage_dealt_by_2)``.
    """
    botch1 = draw_botch() if weapon1 is None else None
    botch2 = draw_botch() if weapon2 is None else None

    def attack(fighter, weapon, botch_base, other, other_weapon):
        # Damage this side deals when it wins the exchange.
        if weapon is None:
            base, modifier = botch_base, 0
        else:
            stats = fighter.weapons[weapon]
            base, modifier = stats.base, stats.modifier
        mitigation = 0 if other_weapon is None else other.weapons[other_weapon].mitigation
        return damage(base, modifier, mitigation)

    if weapon1 is None and weapon2 is None:
        win1 = win2 = True
    elif weapon1 is None:
        win1, win2 = False, True
    elif weapon2 is None:
        win1, win2 = True, False
    elif weapon1 == weapon2:
        win1 = win2 = False
    else:
        win1 = _BEATS[weapon1] == weapon2
        win2 = not win1

    dealt1 = attack(fighter1, weapon1, botch1, fighter2, weapon2) if win1 else 0
    dealt2 = attack(fighter2, weapon2, botch2, fighter1, weapon1) if win2 else 0
    summary = {
        "p1Selection": {"weaponId": BOTCH if weapon1 is None else WEAPON_NAMES[weapon1], "damageDealt": dealt1},
        "p2Selection": {"weaponId": BOTCH if weapon2 is None else WEAPON_NAMES[weapon2], "damageDealt": dealt2},
    }
    return summary, dealt1, dealt2
