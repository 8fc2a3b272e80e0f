from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from monitor.arabic.normalize import normalize


def test_harakat_and_tatweel_disappear():
    assert normalize("المُسَيَّرة") == normalize("المسيرة")
    assert normalize("الحشــد الشعبـي") == normalize("الحشد الشعبي")


def test_alef_forms_unify():
    assert {normalize(w) for w in ("أربيل", "إربيل", "اربيل", "آربيل", "ٱربيل")} == {"اربيل"}


def test_final_yeh_and_teh_marbuta_unify():
    assert normalize("ديالى") == normalize("ديالي")
    assert normalize("المتحدة") == normalize("المتحده")


def test_persian_and_urdu_lookalikes_map_to_arabic_letters():
    assert normalize("الرئیسیة") == normalize("الرئيسية")
    assert normalize("کركوك") == normalize("كركوك")


def test_presentation_forms_become_letters():
    assert normalize("ﻃﺎﺋﺮﺓ") == normalize("طائرة")


def test_zero_width_and_bidi_controls_are_removed():
    assert normalize("عين\u200f الأسد\u202b") == normalize("عين الأسد")
    assert normalize("طا\u200cئرة") == normalize("طائرة")


def test_arabic_indic_and_persian_digits_become_ascii():
    assert normalize("عام ٢٠٢١ و۲۰۲۲") == "عام 2021 و2022"


def test_latin_is_casefolded():
    assert normalize("Ain AL-Asad") == "ain al-asad"


@given(st.text())
def test_normalization_is_idempotent(text):
    once = normalize(text)
    assert normalize(once) == once


def test_urdu_teh_marbuta_goal_is_teh_marbuta():
    assert normalize("حکومۃ") == normalize("حكومة") == "حكومه"


def test_turkish_dotted_and_dotless_i_are_plain_i():
    assert normalize("İstanbul") == normalize("ISTANBUL") == "istanbul"
    assert normalize("Diyarbakır") == "diyarbakir"
    assert normalize("i\u0307stanbul") == normalize("İstanbul")  # decomposed input
