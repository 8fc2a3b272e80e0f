"""Light stemming as a set of readings: every way a word may split into clitics, stem
and inflection, kept only where the guards allow it.

A text word gets all its plausible stems (:func:`text_keys`): "بطائرتين" reads as ب +
طائرة + dual, "وللطائرات" as و + لل + طائرة + plural. A query word gets its own few
forms (:func:`query_keys`): the user wrote the word as they meant it, so only the
article ال and number inflection are taken off, never a one-letter "clitic" that may be
part of the word (بغداد, بلد, كتب). A query word matches a text word when one of its
forms is among the text word's readings.

What known stemmers miss (see ARABIC.md) and this does: the feminine ت kept before a
dual or plural suffix (طائرتين -> طائرة, وزارتي -> وزارة), a lone ب ك ل ف و before a long
enough stem, a pronoun after a plural (سفاراتهم). What it refuses, for precision: any
strip leaving fewer than 2 letters, a one-letter prefix leaving fewer than 3, and a bare
ه or ي or ا strip leaving fewer than 3 (so عينة is not عين, نسيان is not نسي), any
strip leaving a function word (الله is not له), and a masculine ات plural of fewer than
four letters (عينات is the plural of عينة, not of عين).

A query noun also meets its relative adjective (nisba): a text's adjective in every
inflection is also read as its noun (اقتصاد finds الاقتصادية and اقتصاديا, العراق finds
العراقيون), on the text's side so that a query word keeps one key; one level only (the
adjective اقتصادي does not find اقتصاد), never for a word of ``lexicon.NISBA_TRAPS``
(رسمي "official" is not of رسم), and for a ة noun only from ``lexicon.NISBA``. Names in
``lexicon.NAMES`` and words marked ``=`` meet only themselves plus clitics
(:func:`strict_key`, :func:`clitic_keys`): بوتين is not بوتينا, حماس is not حماسة.
"""

from __future__ import annotations

import re
from functools import lru_cache

from monitor.arabic.lexicon import (
    FUNCTION_WORDS,
    NAMES,
    NISBA,
    NISBA_TRAPS,
    OWN_READINGS,
    TWO_LETTER_NOUNS,
)
from monitor.arabic.normalize import normalize_word
from monitor.arabic.variants import CANONICAL, SPELLING

# Conjunction, then preposition, then the article (or لل = ل + ال with its alef dropped).
_CONJUNCTIONS = ("", "و", "ف")
_PREPOSITIONS = ("", "ب", "ك", "ل")
_PREFIXES: tuple[tuple[str, bool], ...] = tuple(
    sorted(
        {
            (conj + prep + art, bool(art))
            for conj in _CONJUNCTIONS
            for prep in _PREPOSITIONS
            for art in ("", "ال")
        }
        | {(conj + "لل", True) for conj in _CONJUNCTIONS},
        key=lambda item: -len(item[0]),
    )
)
# Each prefix with the fewest letters it must leave: every strip leaves at least two,
# and a one-letter clitic without the article at least three.
_PREFIX_MINIMUM: dict[str, int] = {
    prefix: 2 if with_article or not prefix else 3 for prefix, with_article in _PREFIXES
}
# The lengths of the prefixes a word may carry, by its first letter, longest first and
# ending with 0 (no prefix); most letters start none. A word is cut at those lengths and
# each cut looked up, instead of trying every prefix on it.
_PREFIX_LENGTHS_BY_LETTER: dict[str, tuple[int, ...]] = {
    letter: tuple(
        sorted({len(prefix) for prefix, _ in _PREFIXES if prefix.startswith(letter)} | {0})[::-1]
    )
    for letter in {prefix[0] for prefix, _ in _PREFIXES if prefix}
}
# Clitics allowed before a two-letter noun of ``TWO_LETTER_NOUNS`` (بسد، وسد، وبسد): not
# ف or ك or ل, which start whole words (فسد، كسد، لسد "to block").
_TWO_LETTER_CLITICS = frozenset({"ب", "و", "وب", "فب"})
# Pronouns stripped after a stem, by their last letter. A bare ه is left to the suffix
# rules, which guard it by length (عينة must not read as عين).
_PRONOUNS = ("هما", "كما", "ها", "هم", "هن", "كم", "كن", "نا")
_PRONOUNS_BY_LAST_LETTER: dict[str, tuple[str, ...]] = {
    last: tuple(pronoun for pronoun in _PRONOUNS if pronoun.endswith(last))
    for last in {pronoun[-1] for pronoun in _PRONOUNS}
}
# (suffix, replacement, minimum stem length before the replacement)
_NUMBER_SUFFIXES: tuple[tuple[str, str, int], ...] = (
    ("تين", "ه", 2),  # feminine dual, genitive: طائرتين -> طائره
    ("تان", "ه", 2),  # feminine dual, nominative
    ("تي", "ه", 2),  # feminine dual in construct: وزارتي -> وزاره
    ("ات", "ه", 2),  # sound feminine plural: مسيرات -> مسيره
    # ... of a masculine noun: مطارات -> مطار; four letters at least, as a shorter stem
    # is nearly always a ة noun's (عينات، غارات، حملات are not عين، غار، حمل)
    ("ات", "", 4),
    ("يين", "ي", 2),  # nisba plural: أمريكيين -> أمريكي
    ("يون", "ي", 2),
    ("يات", "ي", 2),  # nisba feminine plural: عراقيات -> عراقي
    ("يتين", "ي", 2),  # nisba feminine dual: العراقيتين -> عراقي
    ("يتان", "ي", 2),
    ("يه", "ي", 2),  # nisba feminine (ية): صحفية -> صحفي
    ("ين", "", 2),  # masculine plural or dual: صاروخين, سدين
    ("ون", "", 2),
    ("ان", "", 2),
    # A relative adjective (nisba) in every inflection is also read as its noun, so a
    # query noun finds it: كركوكي -> كركوك, الاقتصادية -> اقتصاد, العراقيين -> عراق,
    # اقتصاديا -> اقتصاد; through _NISBA_NOUNS, الحكومية -> حكومه, السوري -> سوريا,
    # and a word of NISBA_TRAPS to itself (رسمي is not of رسم).
    ("ي", "", 3),
    ("يه", "", 3),
    ("يين", "", 3),
    ("يون", "", 3),
    ("يان", "", 3),
    ("يات", "", 3),
    ("يتين", "", 3),
    ("يتان", "", 3),
    ("يا", "", 3),
    ("ا", "", 3),  # accusative tanween alef: قائدا -> قائد
    ("ه", "", 4),  # feminine or pronoun, only on long stems (عينة must not be عين)
)
_NISBA_SUFFIXES = frozenset({"ي", "يه", "يين", "يون", "يان", "يات", "يتين", "يتان", "يا"})
# What the stem left by a nisba suffix names: the noun of a relative adjective no rule
# reads back (حكوم -> حكومه, سور -> سوريا, and each spelling: اميرك -> امريكا), or, for
# a word shaped like a nisba but meaning something else, that word itself (رسم ->
# رسمي: رسمي "official" keeps no reading رسم "drawing"). A name variant otherwise.
_NISBA_NOUNS: dict[str, str] = (
    SPELLING
    | {trap[:-1]: trap for trap in NISBA_TRAPS}
    | {
        spelling[:-1]: noun
        for noun, relative in NISBA.items()
        for spelling in (relative, *(v for v, one in SPELLING.items() if one == relative))
    }
)
# Broken plurals take the accusative alef (جنودا) but no other suffix above.
_TANWEEN = "ا"
# Query words lose number inflection only (nisba, ه and ا may be part of what was meant),
# and only from long stems: a name like لبنان or إيران must not become لبن or اير.
_QUERY_SUFFIXES: tuple[tuple[str, str, int], ...] = (
    ("تين", "ه", 3),
    ("تان", "ه", 3),
    ("ات", "ه", 3),
    ("ات", "", 4),
    ("ين", "", 4),
    ("ون", "", 4),
    ("ان", "", 4),
)


_ARABIC_LETTER = re.compile("[\u0621-\u06ff]")


def _has_arabic(word: str) -> bool:
    # Most words are Arabic from their first letter: the regex is for the rest.
    return "\u0621" <= word[:1] <= "\u06ff" or _ARABIC_LETTER.search(word) is not None


# A suffix rule ready to apply: suffix, its length, replacement, the shortest word it
# applies to (suffix included), and the table naming the stem it leaves (CANONICAL after
# the tanween alef, which a broken plural takes too; SPELLING after any other suffix).
_Rule = tuple[str, int, str, int, dict[str, str]]
_Suffixes = dict[str, tuple[_Rule, ...]]


# The letters a normalized Arabic word is made of (normalize.py leaves no others).
_LETTERS = [chr(code) for code in range(0x0621, 0x064B)]


def _by_ending(suffixes: tuple[tuple[str, str, int], ...]) -> _Suffixes:
    """Suffix rules by a word's last two letters, in their order: a word is tried only
    against the few rules it can end with (a word ending in ين meets 5 of the 21, not
    the 11 ending in ن)."""
    rules = [
        (
            suffix,
            len(suffix),
            replacement,
            len(suffix) + minimum,
            CANONICAL
            if suffix == _TANWEEN
            else _NISBA_NOUNS
            if suffix in _NISBA_SUFFIXES and not replacement
            else SPELLING,
        )
        for suffix, replacement, minimum in suffixes
    ]
    endings = {first + last for first in _LETTERS for last in _LETTERS}
    table = {
        ending: tuple(rule for rule in rules if ending.endswith(rule[0][-2:])) for ending in endings
    }
    return {ending: found for ending, found in table.items() if found}


_NUMBER_RULES = _by_ending(_NUMBER_SUFFIXES)
_QUERY_RULES = _by_ending(_QUERY_SUFFIXES)


def _suffix_readings(word: str, rules: _Suffixes = _NUMBER_RULES) -> set[str]:
    """Canonical stems of ``word`` and of what each suffix strip leaves."""
    if word in OWN_READINGS:
        return set(OWN_READINGS[word])
    readings = {CANONICAL.get(word, word)}
    size = len(word)
    for suffix, length, replacement, shortest, names in rules.get(word[-2:], ()):
        if size >= shortest and word.endswith(suffix):
            stem = word[:-length] + replacement
            readings.add(names.get(stem, stem))
    return readings


@lru_cache(maxsize=100_000)
def _inflection_readings(word: str) -> tuple[str, ...]:
    """Stems of a word with its clitics already off; cached, because one stem comes with
    many prefixes (الطائرات، والطائرات، بالطائرات ...)."""
    readings = _suffix_readings(word)
    if len(word) >= 4 and word[-2:] in ("ته", "تك"):  # حكومته، سفارتك -> حكومه، سفاره
        readings |= _suffix_readings(word[:-2] + "ه")
    for pronoun in _PRONOUNS_BY_LAST_LETTER.get(word[-1:], ()):
        if not word.endswith(pronoun):
            continue
        base = word[: -len(pronoun)]
        if len(base) < 2:
            continue
        if base.endswith("ت") and len(base) >= 3:
            readings |= _suffix_readings(base[:-1] + "ه")  # سفارتها -> سفاره
        readings |= _suffix_readings(base)
    if not FUNCTION_WORDS.isdisjoint(readings):
        readings = {
            reading for reading in readings if reading == word or reading not in FUNCTION_WORDS
        }
    return tuple(sorted(readings))


@lru_cache(maxsize=200_000)
def text_keys(norm: str) -> tuple[str, ...]:
    """Every stem a normalized text word may have (itself included), in a fixed order.

    A tuple, not a set: this cache holds news vocabulary for the life of the service, and
    the garbage collector stops tracking tuples of strings, while every cached set would
    be walked again by each full collection (measured: a fifth of matching time).
    """
    if not _has_arabic(norm):
        return (norm,)
    if len(norm) < 2:
        return ()
    lengths = _PREFIX_LENGTHS_BY_LETTER.get(norm[0])
    if lengths is None:  # most words: no clitic can start them
        return _inflection_readings(norm)
    size = len(norm)
    readings: set[str] = set()
    for length in lengths:
        prefix = norm[:length]
        minimum = _PREFIX_MINIMUM.get(prefix)
        # Every strip leaves at least two letters, so no reading is shorter.
        if minimum is None:
            continue
        if size - length < minimum and not (
            prefix in _TWO_LETTER_CLITICS and norm[length:] in TWO_LETTER_NOUNS
        ):
            continue
        if length and norm[length:] in FUNCTION_WORDS:  # الله is not ال + له
            continue
        found = _inflection_readings(norm[length:])
        if length == 0 and not readings:  # no prefix applied: sorted readings already
            return found
        readings.update(found)
    return tuple(sorted(readings))


@lru_cache(maxsize=50_000)
def query_keys(norm: str) -> frozenset[str]:
    """The forms of a normalized query word that may appear among a text word's stems
    (or, for a name, the one key :func:`clitic_keys` gives its occurrences)."""
    if not _has_arabic(norm):
        return frozenset({norm})
    word = _without_article(norm)
    if SPELLING.get(word, word) in NAMES:
        return frozenset({strict_key(norm)})
    return frozenset(_suffix_readings(word, _QUERY_RULES))


def strict_key(norm: str) -> str:
    """The key of a word matched on its own letters (a name, or a word marked ``=``):
    ``=`` and the word as written, name variants spelled one way (بوتن -> بوتين)."""
    return "=" + _spelled(norm)


@lru_cache(maxsize=200_000)
def clitic_keys(norm: str) -> tuple[str, ...]:
    """The :func:`strict_key` forms a text word meets: itself, and what is left after
    each clitic its rules allow (وبوتين -> بوتين; للأسد -> أسد and الأسد). No suffix is
    taken off, so بوتينا and حماسة stay themselves."""
    keys = {strict_key(norm)}
    if not _has_arabic(norm):
        return tuple(keys)
    size = len(norm)
    for length in _PREFIX_LENGTHS_BY_LETTER.get(norm[:1], ()):
        prefix, rest = norm[:length], norm[length:]
        minimum = _PREFIX_MINIMUM.get(prefix)
        if not length or minimum is None or rest in FUNCTION_WORDS:
            continue
        if size - length < minimum and not (
            prefix in _TWO_LETTER_CLITICS and rest in TWO_LETTER_NOUNS
        ):
            continue
        keys.add(strict_key(rest))
        if prefix.endswith("ال") or prefix.endswith("لل"):  # the article was there
            keys.add(strict_key("ال" + rest))
    return tuple(sorted(keys))


def strict_endings(key: str) -> frozenset[str]:
    """What a text word must end with to meet a :func:`strict_key`: the word less its
    article, in each of its spellings. A cheap test before :func:`clitic_keys`, which
    only the few words ending so need."""
    word = key[1:]
    bare = word[2:] if word.startswith("ال") and len(word) > 3 else word
    return frozenset({bare} | {variant for variant, one in SPELLING.items() if one == bare})


def _without_article(norm: str) -> str:
    rest = norm[2:]
    if norm.startswith("ال") and len(rest) >= 2 and rest not in FUNCTION_WORDS:
        return rest
    return norm


def _spelled(norm: str) -> str:
    """``norm`` with a name variant spelled one way, its article kept."""
    if norm.startswith("ال"):
        return "ال" + SPELLING.get(norm[2:], norm[2:])
    return SPELLING.get(norm, norm)


@lru_cache(maxsize=200_000)
def surface_keys(word: str) -> tuple[str, ...]:
    """:func:`text_keys` of a word as written (normalized here); empty for a word that
    normalizes to nothing (only marks or invisible characters)."""
    norm = normalize_word(word)
    return text_keys(norm) if norm else ()


def cache_clear() -> None:
    """Forget every cached stem (benchmarks measure cold starts with it)."""
    for cached in (_inflection_readings, text_keys, query_keys, surface_keys, clitic_keys):
        cached.cache_clear()
