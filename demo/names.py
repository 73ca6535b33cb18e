"""Pools of synthetic names and places, drawn once from Faker and then sampled quickly."""

from __future__ import annotations

import random
from dataclasses import dataclass

from faker import Faker

#: Names that must survive the trip to Excel exactly: apostrophes, accents, and text that a
#: spreadsheet would take for a formula.
AWKWARD_FIRST = ("Zoë", "Siân", "Renée", "Łukasz", "Chloé", "Seán", "Niamh", "José")
AWKWARD_LAST = ("O'Brien", "D'Arcy", "Nguyễn", "Müller", "Ó Súilleabháin", "Smith-Jones")
FORMULA_NAMES: tuple[tuple[str, str], ...] = (
    ("=HYPERLINK(\"http://x.invalid\")", "Formula"),  # fits FIRST_NAME's 30
    ("+44", "Plus"),
    ("-Sam", "Minus"),
    ("@SUM(A1)", "At"),
    ("Alex", "=1+1"),
)


@dataclass(frozen=True)
class Pools:
    first: tuple[str, ...]
    last: tuple[str, ...]
    streets: tuple[str, ...]
    towns: tuple[str, ...]
    postcodes: tuple[str, ...]
    workers: tuple[str, ...]


def pools(seed: int) -> Pools:
    fake = Faker("en_GB")
    fake.seed_instance(seed)
    first = {fake.first_name() for _ in range(600)} | set(AWKWARD_FIRST)
    last = {fake.last_name() for _ in range(600)} | set(AWKWARD_LAST)
    return Pools(
        first=tuple(sorted(first)),
        last=tuple(sorted(last)),
        streets=tuple(sorted({fake.street_address() for _ in range(500)})),
        towns=tuple(sorted({fake.city() for _ in range(60)})),
        postcodes=tuple(sorted({fake.postcode() for _ in range(600)})),
        workers=tuple(sorted({fake.name() for _ in range(800)})),
    )


def pick(rng: random.Random, items: tuple[str, ...]) -> str:
    return items[rng.randrange(len(items))]
