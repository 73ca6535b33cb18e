"""School passwords that a person can read aloud over the telephone.

Five words from the EFF's large word list (7,772 words without hyphens: about 64.6 bits) and
a five-digit number (about 16.6 bits): about 81 bits in all, above the 80 asked for.
"""

from __future__ import annotations

import math
import secrets
from functools import cache
from importlib.resources import files

WORDS = 5
DIGITS = 5


@cache
def wordlist() -> tuple[str, ...]:
    text = files("publish").joinpath("data/eff_large_wordlist.txt").read_text("utf-8")
    # Hyphenated entries (t-shirt, yo-yo) would blur the separator when read aloud.
    words = tuple(w for w in (line.strip() for line in text.splitlines()) if w.isalpha())
    if len(set(words)) != len(words) or len(words) < 7700:
        raise RuntimeError("the EFF word list shipped with the package is damaged")
    return words


def entropy_bits() -> float:
    return WORDS * math.log2(len(wordlist())) + DIGITS * math.log2(10)


def new_password() -> str:
    words = [secrets.choice(wordlist()) for _ in range(WORDS)]
    number = "".join(secrets.choice("0123456789") for _ in range(DIGITS))
    return "-".join([*words, number])
