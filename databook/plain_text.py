"""Text a person typed, made safe to show.

A reason is kept as typed (the ledger commits to the exact text), but shown on an officer's
terminal a control character acts (``ESC[2J`` cleared the screen of ``audit child``) and on a
page a right-to-left override reverses what follows. Wherever such text is shown, each of
those characters is replaced by a visible ``<U+XXXX>``: nothing acts, and nothing is hidden.
"""

from __future__ import annotations

import re

#: C0 and C1 controls (with DEL), and the Unicode bidirectional formatting characters.
UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def neutral(text: str) -> str:
    return UNSAFE.sub(lambda found: f"<U+{ord(found.group()):04X}>", text)


def has_unsafe(text: str) -> bool:
    return UNSAFE.search(text) is not None


#: The same, less the line breaks and tab a page may show as they are.
UNSAFE_ON_A_PAGE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u200e\u200f"
                              "\u202a-\u202e\u2066-\u2069]")


def neutral_on_a_page(text: str) -> str:
    return UNSAFE_ON_A_PAGE.sub(lambda found: f"<U+{ord(found.group()):04X}>", text)
