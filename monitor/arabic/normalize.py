"""Orthographic normalization: the spelling differences Arabic text carries for free.

Two spellings of one word must compare equal before any stemming: with and without
harakat, with tatweel (طائـــرة), with any alef-hamza form, with ى or ي at the end, with
ة or ه, typed on a Persian or Urdu keyboard (ک ی), with invisible zero-width or bidi
controls, in presentation forms (ﻃﺎﺋﺮﺓ), or with Arabic-Indic digits. Latin is
casefolded. NFKC runs first (it is what turns presentation forms into letters), then a
single ``str.translate`` pass does the rest.

Turkish İ and ı are plain i, and Urdu ۃ is ة. Choices worth knowing: ؤ becomes و and ئ
becomes ي (مسؤول/مسئول, and every stemmer must agree with the query anyway); ء on the
line is kept; the final ة becomes ه.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

# Harakat, Quranic annotation marks, superscript alef and tatweel: deleted.
_MARKS = [
    *range(0x0610, 0x061B),
    *range(0x064B, 0x0660),
    0x0670,
    *range(0x06D6, 0x06DD),
    *range(0x06DF, 0x06E9),
    *range(0x06EA, 0x06EE),
    0x0640,
]
# Zero-width characters, bidi controls and the soft hyphen: deleted.
_INVISIBLE = [
    0x00AD,
    0x061C,
    *range(0x200B, 0x2010),
    *range(0x202A, 0x202F),
    *range(0x2060, 0x2070),
    0xFEFF,
]
_LETTERS = {
    "أ": "ا",
    "إ": "ا",
    "آ": "ا",
    "ٱ": "ا",
    "ٲ": "ا",
    "ٳ": "ا",
    "ٵ": "ا",
    "ى": "ي",
    "ی": "ي",
    "ې": "ي",
    "ۍ": "ي",
    "ێ": "ي",
    "ے": "ي",
    "ة": "ه",
    "ۃ": "ه",  # Urdu teh marbuta goal
    "ۀ": "ه",
    "ہ": "ه",
    "ە": "ه",
    "ھ": "ه",
    "ؤ": "و",
    "ۆ": "و",
    "ۇ": "و",
    "ئ": "ي",
    "ک": "ك",
    "ڪ": "ك",
    # Turkish dotted and dotless i: casefold would turn İ into i + a combining dot, so
    # "İstanbul" would not find "Istanbul"; Latin queries compare them as plain i.
    "İ": "i",
    "ı": "i",
}
_DIGITS = {chr(0x0660 + n): str(n) for n in range(10)} | {
    chr(0x06F0 + n): str(n) for n in range(10)
}

TABLE: dict[int, int | None] = {code: None for code in (*_MARKS, *_INVISIBLE)}
TABLE[0x0307] = None  # the combining dot of a decomposed İ (i + U+0307)
TABLE.update({ord(k): ord(v) for k, v in (_LETTERS | _DIGITS).items()})

ARABIC_MARKS = "".join(chr(code) for code in _MARKS)
INVISIBLE = "".join(chr(code) for code in _INVISIBLE)


def normalize(text: str) -> str:
    """The comparison form of any text (a word, a query, a whole article)."""
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text).translate(TABLE)
    return text.casefold()


@lru_cache(maxsize=200_000)
def normalize_word(word: str) -> str:
    """:func:`normalize` for one token, cached: news vocabulary repeats heavily."""
    return normalize(word)
