"""The broken plural table (monitor/arabic/plurals.py): the form of every entry, and what
the table lets a query find, through the matcher production runs."""

from __future__ import annotations

import pytest

from monitor.arabic.normalize import normalize_word
from monitor.arabic.plurals import BROKEN_PLURALS, LEFT_OUT
from monitor.arabic.stem import text_keys
from monitor.arabic.variants import SPELLING
from monitor.matching import compile_query
from monitor.matching.parser import STOPWORDS

# Plurals whose ال is their own letters (أفعال of a root starting with ل), not the article.
OWN_AL = {"الغام", "الويه", "القاب", "الوان"}


def test_every_entry_is_a_normalized_form_without_the_article():
    for plural, singular in BROKEN_PLURALS.items():
        for word in (plural, singular):
            assert normalize_word(word) == word, word
            assert word == word.strip() and " " not in word, word
        assert not plural.startswith("ال") or plural in OWN_AL, plural
        assert not singular.startswith("ال"), singular


def test_no_plural_is_also_a_singular_so_no_entry_chains():
    singulars = set(BROKEN_PLURALS.values())
    assert singulars.isdisjoint(BROKEN_PLURALS)


def test_no_plural_is_a_stopword_a_name_variant_or_left_out():
    names = set(SPELLING) | set(SPELLING.values())
    for plural in BROKEN_PLURALS:
        assert plural not in STOPWORDS, plural
        assert plural not in names, plural
        assert plural not in LEFT_OUT, plural


def test_every_left_out_plural_is_normalized_and_has_its_reason():
    for plural, reason in LEFT_OUT.items():
        assert normalize_word(plural) == plural, plural
        assert reason.strip(), plural


def test_the_table_holds_a_few_hundred_pairs():
    assert len(BROKEN_PLURALS) >= 250


def test_a_plural_the_stemmer_reaches_has_no_entry():
    # An entry would only take the plural's own reading away.
    for plural, singular in (("مستشفيات", "مستشفي"), ("بلدان", "بلد"), ("مرتزقه", "مرتزق")):
        assert plural not in BROKEN_PLURALS
        assert singular in text_keys(plural)


@pytest.mark.parametrize(
    ("query", "text", "found"),
    [
        # conflict and weapons
        ("صاروخ", "قصفت الميليشيا المدينة بالصواريخ ليلا", "بالصواريخ"),
        ("صاروخ", "أطلق المسلحون صواريخهم نحو الحدود", "صواريخهم"),
        ("جيش", "تحالفت الجيوش العربية في الحرب", "الجيوش"),
        ("سجن", "اكتظت السجون بالمعتقلين", "السجون"),
        ("معركة", "اندلعت معارك عنيفة قرب المطار", "معارك"),
        ("جندي", "أرسلت الوزارة جنودا إضافيين", "جنودا"),
        ("قذيفة", "سقطت قذائف على الحي السكني", "قذائف"),
        ("رهينة", "أفرج الخاطفون عن الرهائن", "الرهائن"),
        ("ضابط", "اعتقلت السلطات عددا من ضباطها", "ضباطها"),
        ("لغم", "انفجرت الألغام في الحقل", "الألغام"),
        # politics and institutions
        ("وزير", "اجتمع مجلس الوزراء صباحا", "الوزراء"),
        ("حزب", "اتفقت الأحزاب الكردية على مرشح", "الأحزاب"),
        ("محكمة", "أحيلت القضية إلى المحاكم العسكرية", "المحاكم"),
        ("قانون", "صادق البرلمان على قوانين جديدة", "قوانين"),
        ("سفير", "استدعت الخارجية السفراء الأوروبيين", "السفراء"),
        ("مجلس", "جرت انتخابات المجالس المحلية", "المجالس"),
        ("قبيلة", "التقى الوفد شيوخ القبائل", "القبائل"),
        # people and roles
        ("طفل", "قتل ثلاثة أطفال في القصف", "أطفال"),
        ("امرأة", "شاركت النساء في الاعتصام", "النساء"),
        ("خبير", "حذر خبراء من انهيار السد", "خبراء"),
        ("كردي", "تظاهر الأكراد في أربيل", "الأكراد"),
        ("سائح", "غادر السياح الفندق", "السياح"),
        # places and geography
        ("مدينة", "قصفت الطائرات عدة مدن", "مدن"),
        ("شارع", "خرج المتظاهرون إلى الشوارع", "الشوارع"),
        ("منزل", "دمرت الغارات منازلهم", "منازلهم"),
        ("ميناء", "أغلقت إيطاليا موانئها أمام السفينة", "موانئها"),
        ("أرض", "انسحبت القوات من الأراضي المحتلة", "الأراضي"),
        # economy
        ("سعر", "ارتفعت أسعار النفط أمس", "أسعار"),
        ("ضريبة", "فرضت الحكومة ضرائب جديدة", "ضرائب"),
        ("بنك", "أغلقت البنوك فروعها", "البنوك"),
        ("مليون", "نزح ملايين السكان", "ملايين"),
        # society, law and media
        ("صحيفة", "ذكرت الصحف البريطانية أن الاتفاق وشيك", "الصحف"),
        ("جريمة", "اتهمت المنظمة الجيش بارتكاب جرائم حرب", "جرائم"),
        ("دليل", "لم تقدم الشرطة أدلة على ذلك", "أدلة"),
        ("قناة", "بثت القنوات الفضائية الخطاب", "القنوات"),
        ("مباراة", "خاض الفريق مبارياتها الأخيرة على أرضه", "مبارياتها"),
        ("لقب", "توج النادي بثلاثة ألقاب", "ألقاب"),
        # time and events
        ("يوم", "بعد أيام من الهجوم", "أيام"),
        ("أسبوع", "وقع الانفجار قبل أسابيع", "أسابيع"),
        ("حريق", "اندلعت حرائق في الغابات", "حرائق"),
        ("فرصة", "أهدر الفريق فرصا عديدة", "فرصا"),
        # the plural as the query finds the singular
        ("السجون", "نقل المعتقل إلى سجن أبو غريب", "سجن"),
        ("صواريخ", "سقط صاروخ قرب السفارة", "صاروخ"),
        # a sound plural, which the stemmer reaches with no entry
        ("مستشفى", "قصفت الطائرات المستشفيات", "المستشفيات"),
    ],
)
def test_a_singular_and_its_broken_plural_find_each_other(query, text, found):
    hits = compile_query(query).search(text)
    assert [hit.text for hit in hits] == [found]


@pytest.mark.parametrize(
    ("query", "text"),
    [
        ("الأسد", "فاز منتخب الأسود الثلاثة على تونس"),  # lions, but الأسد is a name
        ("قوة", "يتمتع الاقتصاد بنمو قوي"),  # قوى normalizes to قوي "strong"
        ("قاضي", "تحدث عن الوقت الذي قضاه في السجن"),  # قضاة normalizes to قضاه
        ("الشؤون", "تحدث الوزير بشأن الاتفاق"),  # شأن is in بشأن "about"
        ("عقود", "عقد الوزير اجتماعا طارئا"),  # عقد is also "held"
        ("الجزيرة", "زار الوفد الجزر الثلاث"),  # الجزيرة is also the channel
        ("سيل", "قالت سيول إن المحادثات مستمرة"),  # سيول is also Seoul
        ("حل", "ستنتهي الأعمال بحلول نهاية العام"),  # بحلول "by the arrival of"
        ("جوانب", "وقف الوزير إلى جانب الحكومة"),  # إلى جانب "beside"
        ("طلاب", "طالب الوزير بالإفراج عن المعتقلين"),  # طالب is also "demanded"
        ("مدينة", "دعا الحزب إلى دولة مدنية"),  # a nisba stem is not a plural
        ("دولة", "هبطت الطائرة في مطار بغداد الدولي"),
        # the plural would find what its singular does, here another word
        ("أدوار", "تصدر الفريق الدوري بفارق نقطتين"),  # الدوري "the league"
        ("شروط", "أصيب شرطي في الانفجار"),  # شرطي "policeman"
        ("عناصر", "أدان الاتحاد الهتاف العنصري"),  # العنصري "racist"
        ("طيور", "أعلنت هيئة الطيران المدني تعليق الرحلات"),  # الطيران "aviation"
        ("أمراء", "رصدت كاميرات المراقبة الحادث"),  # ك + أميرات
    ],
)
def test_a_left_out_plural_does_not_meet_the_singular(query, text):
    assert compile_query(query).search(text) == []
