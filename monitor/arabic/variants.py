"""Spellings that are one word but no rule can join: foreign names and broken plurals.

Foreign names are written several ways (أمريكي/أميركي, واشنطن/واشنطون, بوتين/بوتن) and
broken plurals change the inside of a word (صاروخ/صواريخ, قتيل/قتلى), so light
stemming cannot meet them. Both are a small table from normalized stem to one
canonical stem, applied to query and text alike. Entries are normalized forms (see
normalize.py: ة -> ه, ى -> ي, hamza seats -> bare letters).
"""

from __future__ import annotations

# Orthographic variants of foreign names: every spelling -> the first one.
_NAME_VARIANTS: tuple[tuple[str, ...], ...] = (
    ("امريكا", "اميركا"),
    ("امريكي", "اميركي"),
    ("واشنطن", "واشنطون"),
    ("بوتين", "بوتن"),
    ("اسراييل", "اسرايل"),
    ("بريطانيا", "بريطانيه"),
    ("فرنسا", "فرنسه"),
    ("المانيا", "المانيه"),
    ("روسيا", "روسيه"),
    ("اوكرانيا", "اوكرانيه"),
    ("اوروبا", "اوربا"),
    ("اوروبي", "اوربي"),
    ("تركيا", "تركيه"),
    ("سوريا", "سوريه"),
    ("ليبيا", "ليبيه"),
    ("نيويورك", "نيوورك"),
    ("ترامب", "ترمب"),
    ("بايدن", "بايدين"),
    ("كردستان", "كوردستان"),
    ("كردي", "كوردي"),
    ("داعش", "داعيش"),
)

# Broken plurals common in news: plural stem -> singular stem.
_BROKEN_PLURALS: dict[str, str] = {
    "صواريخ": "صاروخ",
    "قتلي": "قتيل",
    "جرحي": "جريح",
    "اسري": "اسير",
    "سدود": "سد",
    "دواعش": "داعش",
    "جنود": "جندي",
    "قواعد": "قاعده",
    "مواقع": "موقع",
    "مدن": "مدينه",
    "قري": "قريه",
    "دول": "دوله",
    "اسلحه": "سلاح",
    "ذخاير": "ذخيره",
    "اهداف": "هدف",
    "قنابل": "قنبله",
    "الغام": "لغم",
    "فصايل": "فصيل",
    "مليشيا": "ميليشيا",
    "ميليشي": "ميليشيا",
    "مليشي": "ميليشيا",
    "قاده": "قايد",
    "وزراء": "وزير",
    "سفن": "سفينه",
    "حدود": "حد",
    "شهداء": "شهيد",
    "صحافيون": "صحفي",
    "صحافي": "صحفي",
}

_CANONICAL: dict[str, str] = {
    variant: group[0] for group in _NAME_VARIANTS for variant in group[1:]
} | _BROKEN_PLURALS


def canonical(stem: str) -> str:
    """The one stem that stands for ``stem`` and its known variants."""
    return _CANONICAL.get(stem, stem)
