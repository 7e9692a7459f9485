"""The fighter table: health and per-weapon base damage, modifier and mitigation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Tuple

from rpsa.rules.errors import UnknownFighter


@dataclass(frozen=True)
class WeaponStats:
    """One fighter's numbers for one weapon."""

    base: int
    modifier: float
    mitigation: float


@dataclass(frozen=True)
class Fighter:
    """A playable character; ``weapons`` is indexed rock, paper, scissors."""

    id: str
    name: str
    country: str
    health: int
    style: str
    weapons: Tuple[WeaponStats, WeaponStats, WeaponStats]
    boss: bool = False

    def to_json(self) -> dict:
        """The fighter as a JSON-ready dict (for ``GET /api/characters``)."""
        names = ("rock", "paper", "scissors")
        return {
            "id": self.id,
            "name": self.name,
            "country": self.country,
            "health": self.health,
            "style": self.style,
            "boss": self.boss,
            "weapons": {
                names[i]: {"base": w.base, "modifier": w.modifier, "mitigation": w.mitigation}
                for i, w in enumerate(self.weapons)
            },
        }


def _fighter(id, name, country, health, style, rock, paper, scissors, boss=False):
    return Fighter(
        id, name, country, health, style,
        (WeaponStats(*rock), WeaponStats(*paper), WeaponStats(*scissors)),
        boss,
    )


FIGHTERS: Mapping[str, Fighter] = {
    f.id: f
    for f in (
        _fighter("aru", "Aruka", "Brazil", 100, "paper", (25, 0, 0.2), (25, 0.3, 0), (25, 0, 0)),
        _fighter("man", "Manbo", "Togo", 100, "scissors", (25, 0, 0), (25, 0, 0.1), (25, 0.4, 0)),
        _fighter("hog", "Hogo Sha", "Japan", 100, "paper", (25, 0.1, 0), (25, 0.1, 0.1), (25, 0, 0.2)),
        _fighter("rad", "Raden", "Indonesia", 120, "paper", (20, 0.1, 0), (20, 0, 0), (20, 0, 0.4)),
        _fighter("mai", "Mainyu", "Duzakh", 120, "rock", (20, 0, 0.1), (20, 0, 0.2), (20, 0, 0.2), boss=True),
    )
}


def get_fighter(fighter_id: object) -> Fighter:
    """Return the fighter with this id, or raise :class:`UnknownFighter`."""
    try:
        return FIGHTERS[fighter_id]  # type: ignore[index]
    except (KeyError, TypeError):
        raise UnknownFighter(
            f"unknown fighter {fighter_id!r}; expected one of {', '.join(FIGHTERS)}"
        ) from None
