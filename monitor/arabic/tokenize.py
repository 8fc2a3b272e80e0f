"""Words with their place in the original text, so a highlight shows what was written.

Tokenizing happens on the ORIGINAL text, never on a normalized copy (NFKC and mark
removal change lengths), and each token is normalized on its own. In Python's ``re``,
``\\w`` does not match the shadda or other harakat, nor tatweel's neighbours reliably,
so "مسيّرة" would fall apart into "مسي" and "رة": the Arabic word pattern lists the
marks explicitly. Arabic and Latin runs are separate tokens ("الـUN" gives two), and a
hyphen or apostrophe separates Latin words ("al-Asad" is "al" and "asad").

Each token also carries a segment number that increases at sentence punctuation and
line breaks: a phrase never matches across a full stop.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import accumulate

from monitor.arabic.normalize import ARABIC_MARKS, INVISIBLE, normalize_word

_ARABIC_LETTERS = (
    "\u0621-\u063a\u0641-\u064a\u0660-\u0669\u066e-\u066f\u0671-\u06d3\u06d5"
    "\u06ee-\u06ff\u0750-\u077f\u08a0-\u08ff\ufb50-\ufdff\ufe70-\ufefc"
)
_MARK_CLASS = re.escape(ARABIC_MARKS + INVISIBLE)
_ARABIC_WORD = f"[{_ARABIC_LETTERS}][{_ARABIC_LETTERS}{_MARK_CLASS}]*"
# Any other letters or digits (Latin, Cyrillic, ASCII digits ...), minus Arabic ones.
_OTHER_WORD = f"[^\\W_{_ARABIC_LETTERS}]+"
WORD = re.compile(f"{_ARABIC_WORD}|{_OTHER_WORD}")
# The words and what lies between them: ``split`` gives gap, word, gap, word ... gap, so
# the words are every other piece and their offsets are running sums of the lengths.
WORDS_AND_GAPS = re.compile(f"({WORD.pattern})")
SEGMENT_BREAK = re.compile(r"[.!?؟؛;\n\r\u06d4]")


@dataclass(frozen=True, slots=True)
class Token:
    start: int
    end: int
    text: str
    norm: str
    segment: int


def tokenize(text: str) -> list[Token]:
    """Every word of ``text`` with offsets into it, its normalized form and segment."""
    tokens: list[Token] = []
    breaks = segment_breaks(text)
    segment, next_break = 0, 0
    for match in WORD.finditer(text):
        start = match.start()
        while next_break < len(breaks) and breaks[next_break] < start:
            next_break += 1
            segment += 1
        word = match.group()
        norm = normalize_word(word)
        if norm:
            tokens.append(Token(start, match.end(), word, norm, segment))
    return tokens


def piece_ends(pieces: list[str]) -> list[int]:
    """Where each piece of ``WORDS_AND_GAPS.split(text)`` ends, summed in C: word ``i``
    runs from ``ends[2 * i]`` to ``ends[2 * i + 1]`` (each word's gap comes first).
    Three times faster than offsets from ``WORD.finditer``."""
    return list(accumulate(map(len, pieces)))


def word_segments(pieces: list[str]) -> list[int]:
    """The sentence of each word of ``WORDS_AND_GAPS.split(text)``: how many of the gaps
    before it hold sentence punctuation or a line break (no word holds one). Counted in
    C; only equality between two words' numbers means anything."""
    return list(accumulate(map(bool, map(SEGMENT_BREAK.search, pieces[0:-1:2]))))


def segment_breaks(text: str) -> list[int]:
    """Offsets of sentence punctuation and line breaks (a token's segment is how many
    of them come before it)."""
    return [match.start() for match in SEGMENT_BREAK.finditer(text)]


def normalized_words(*texts: str) -> list[str]:
    """The normalized words of ``texts`` in order, without offsets: all that story
    fingerprints and the archive's terms read, so an article is tokenized once for both."""
    return [norm for text in texts for norm in map(normalize_word, WORD.findall(text)) if norm]


def words(text: str) -> list[str]:
    """Just the normalized words (for queries and for callers that need no offsets)."""
    return [token.norm for token in tokenize(text)]
