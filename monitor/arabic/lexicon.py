"""The few word lists the stemmer's rules consult: what a strip must never produce, which
names are matched on their own letters, which nouns take a relative adjective (nisba)
that no rule can build, and which such adjectives are other words.

Every entry is a normalized form (see normalize.py: ة -> ه, ى -> ي, hamza seats -> bare
letters) without the article. Each list is short and reviewed by hand; a miss it causes
is cheaper than a false alert, and a watchlist's synonym groups cover what it leaves out.
"""

from __future__ import annotations

# Words a query may not consist of alone (they occur in almost every article). The parser
# refuses a phrase made only of these.
STOPWORDS = frozenset(
    {
        "في",
        "من",
        "الي",
        "علي",
        "عن",
        "مع",
        "ان",
        "او",
        "ثم",
        "قد",
        "لا",
        "ما",
        "لم",
        "لن",
        "هذا",
        "هذه",
        "ذلك",
        "تلك",
        "التي",
        "الذي",
        "الذين",
        "كان",
        "كانت",
        "هو",
        "هي",
        "و",
        "the",
        "of",
        "and",
        "or",
        "a",
        "an",
        "in",
        "on",
        "at",
        "to",
        "for",
        "by",
        "is",
    }
)

# Function words a strip must never leave behind: الله less its article is له "to him",
# so a rule producing it would let "الحزب الجمهوري له" answer حزب الله. A word that is
# itself one of these keeps its own reading.
FUNCTION_WORDS = STOPWORDS | frozenset(
    {
        "له",
        "لها",
        "لهم",
        "لهما",
        "لنا",
        "لك",
        "لكم",
        "لي",
        "به",
        "بها",
        "بهم",
        "هم",
        "هن",
        "هما",
        "نحن",
        "انا",
        "انت",
        "كل",
        "بعض",
        "غير",
        "بين",
        "عند",
        "لدي",
        "منذ",
        "حتي",
        "اذا",
        "اذ",
        "كما",
        "لكن",
        "بل",
        "حيث",
        "ذي",
        "ذا",
        "يا",
        "اي",
        "ليس",
        "عليه",
        "فيه",
        "منه",
        "عنه",
    }
)

# Proper nouns that a stripping rule would turn into, or out of, another word: بوتينا is
# Maria Butina (the tanween alef rule would read بوتين), السليمانية the city (the nisba
# rule would read سليماني), حماسة "enthusiasm" (the ة rule would read حماس), طالبان (the
# dual rule would read طالب "student"), صلاحية "validity" (nisba of صلاح). A query word
# in this list (with or without its article) matches only itself plus clitics, as a word
# the user marks with ``=`` does; spelling variants (بوتين/بوتن) still meet.
NAMES = frozenset(
    {
        # people in the news
        "بوتين",
        "ترامب",
        "بايدن",
        "اوباما",
        "ماكرون",
        "ميركل",
        "اردوغان",
        "نتنياهو",
        "سليماني",
        "خامنيي",
        "روحاني",
        "صلاح",
        "حريري",
        "سيسي",
        "حفتر",
        "بشار",
        "ظريف",
        "لافروف",
        "بومبيو",
        "غوتيريش",
        "سليمان",
        "هنيه",
        "عباس",
        # organizations
        "حماس",
        "طالبان",
    }
)

# Relative adjectives no rule reads back to their noun (the noun ends in ة, is a
# feminine nisba already, or the adjective changes the word): noun -> its nisba. A ة
# noun is here only when its nisba means "of that noun"; most ة nouns are left out
# because the nisba-shaped word is another word (دولي "international" of دولة, مدني
# "civil" of مدينة, قوي "strong" of قوة, منطقي "logical" of منطقة, سني "Sunni" of سنة
# "year", شرعي "legitimate" of شريعة, قبلي "before me" of قبيلة).
NISBA = {
    "حكومه": "حكومي",
    "سياسه": "سياسي",
    "وزاره": "وزاري",
    "صحه": "صحي",
    "ثوره": "ثوري",
    "جامعه": "جامعي",
    "طايفه": "طايفي",
    "شرطه": "شرطي",
    "اداره": "اداري",
    "تجاره": "تجاري",
    "صناعه": "صناعي",
    "زراعه": "زراعي",
    "ثقافه": "ثقافي",
    "رياضه": "رياضي",
    "سياحه": "سياحي",
    "بييه": "بييي",
    "نقابه": "نقابي",
    "عشيره": "عشايري",
    "كنيسه": "كنسي",
    "لغه": "لغوي",
    "سعوديه": "سعودي",
    "افغانستان": "افغاني",
    # Places ending in ا, whose nisba drops it (a query for the place finds the
    # adjective). ألمانيا is keyed as a query reads it: its ال taken for the article.
    "امريكا": "امريكي",
    "اوروبا": "اوروبي",
    "اسيا": "اسيوي",
    "افريقيا": "افريقي",
    "استراليا": "استرالي",
    "سوريا": "سوري",
    "روسيا": "روسي",
    "تركيا": "تركي",
    "ليبيا": "ليبي",
    "بريطانيا": "بريطاني",
    "مانيا": "الماني",
    "ايطاليا": "ايطالي",
    "اسبانيا": "اسباني",
    "اوكرانيا": "اوكراني",
    "كوريا": "كوري",
    "نيجيريا": "نيجيري",
    "اثيوبيا": "اثيوبي",
    "ماليزيا": "ماليزي",
    "اندونيسيا": "اندونيسي",
    "موريتانيا": "موريتاني",
    "كينيا": "كيني",
    "تنزانيا": "تنزاني",
    "كولومبيا": "كولومبي",
    "بلجيكا": "بلجيكي",
    "ارمينيا": "ارميني",
    "جورجيا": "جورجي",
    "رومانيا": "روماني",
    "بلغاريا": "بلغاري",
    "صربيا": "صربي",
    "كرواتيا": "كرواتي",
    "كمبوديا": "كمبودي",
    "كندا": "كندي",
    "فرنسا": "فرنسي",
    "كوبا": "كوبي",
    "فنزويلا": "فنزويلي",
    "هولندا": "هولندي",
    "بولندا": "بولندي",
    "فنلندا": "فنلندي",
    "ايرلندا": "ايرلندي",
    "اسكتلندا": "اسكتلندي",
    "نيوزيلندا": "نيوزيلندي",
    "سويسرا": "سويسري",
    "نمسا": "نمساوي",
    "اوغندا": "اوغندي",
    "رواندا": "رواندي",
}

# Words shaped like the nisba of a noun but meaning something else: رسمي "official" is
# not of رسم "drawing", رئيسي "main" not of رئيس "president", جمهوري "republican" not of
# جمهور "audience". The nisba rule never produces them for a query, and a text word
# that is one of them is not read as the noun (رسمي keeps no reading رسم).
NISBA_TRAPS = frozenset(
    {
        "رسمي",
        "عملي",
        "حالي",
        "عرضي",
        "رييسي",
        "جمهوري",
        "مدني",
        "دولي",
        "اولي",
        "محلي",
        "امامي",
        "قوي",
        "دني",
        "منطقي",
        "سني",
        "حري",
        "كلي",
        "نفسي",
        "عادي",
        "كافي",
        "باقي",
        "ثاني",
        "عالي",
        "ماضي",
        "جاري",
    }
)

# Two-letter nouns a one-letter clitic may precede (بسد النهضة). Elsewhere a lone clitic
# must leave three letters: فسد "went bad", بيد "however", باب "door", بحق "against"
# are whole words, not ف + سد, ب + يد, ب + اب, ب + حق.
TWO_LETTER_NOUNS = frozenset({"سد", "دم", "جو", "حج", "فن"})

# Words whose suffix rules would read another word, with the only stems they have:
# أمنيات is "wishes" (of أمنية), not the plural of أمني "security", so أمن must not
# find it.
OWN_READINGS: dict[str, tuple[str, ...]] = {
    "امنيات": ("امنيات", "امنيه"),
}
