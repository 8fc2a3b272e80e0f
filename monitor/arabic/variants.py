"""Spellings that are one word but no rule can join: foreign names and broken plurals.

Foreign names are written several ways (أمريكي/أميركي, واشنطن/واشنطون, بوتين/بوتن) and
broken plurals change the inside of a word (صاروخ/صواريخ, قتيل/قتلى), so light
stemming cannot meet them. Both are tables from normalized stem to one canonical
stem (the plurals, a few hundred reviewed pairs, in plurals.py), applied to query and
text alike. Entries are normalized forms (see
normalize.py: ة -> ه, ى -> ي, hamza seats -> bare letters).

A broken plural takes no sound-plural or nisba suffix, so the plural table applies only to
a whole stem (``CANONICAL``); a stem reached by stripping such a suffix gets the
spelling table alone (``SPELLING``). Otherwise المدني "civil" would read as مدن
"cities" and match مدينة, and الدولي "international" would match دولة.
"""

from __future__ import annotations

from monitor.arabic.plurals import BROKEN_PLURALS

# Spelling variants, mostly of foreign names: every spelling -> the first one.
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
    ("صحفي", "صحافي"),
    # ميليشي is what remains of ميليشيات once its plural ات is taken off.
    ("ميليشيا", "مليشيا", "ميليشي", "مليشي"),
)

# Every stem that stands for another -> the one it stands for; a stem absent stands for
# itself. Read as ``CANONICAL.get(stem, stem)``: stemming looks these up for every new
# word of every article, and a dictionary method costs a fraction of a function call.
# SPELLING is for stems left by a sound-plural or nisba suffix, which a broken plural
# never carries; CANONICAL for whole stems, with broken plurals too.
SPELLING: dict[str, str] = {variant: group[0] for group in _NAME_VARIANTS for variant in group[1:]}
CANONICAL: dict[str, str] = SPELLING | BROKEN_PLURALS
