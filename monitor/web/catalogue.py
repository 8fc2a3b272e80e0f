"""The page's Arabic: each English string of the templates and handlers, translated.

Keyed by the English text (monitor/web/i18n.py); tests/web/test_i18n.py fails on a
string used without its Arabic here.
"""

from __future__ import annotations

ARABIC: dict[str, str] = {
    "rasid": "راصد",
    "Matches": "الإشارات",
    "Watchlists": "قوائم المراقبة",
    "Search": "بحث",
    "Sources": "المصادر",
    "Alerts": "التنبيهات",
    "Channels": "القنوات",
    "Users": "المستخدمون",
    "Sign in": "تسجيل الدخول",
    "Sign out": "تسجيل الخروج",
    "Name": "الاسم",
    "Password": "كلمة المرور",
    "Wrong name or password.": "الاسم أو كلمة المرور غير صحيحة.",
    "Too many failed sign-ins: try again in {minutes} min.": (
        "محاولات دخول فاشلة كثيرة: أعد المحاولة بعد {minutes} دقيقة."
    ),
    "No account exists yet: anyone on this machine can use rasid. Run `rasid users add NAME --role admin` to require sign-in.": (  # noqa: E501
        "لا يوجد أي حساب بعد: يستطيع أي شخص على هذا الجهاز استخدام راصد. "
        "شغّل `rasid users add NAME --role admin` لفرض تسجيل الدخول."
    ),
    "Something went wrong": "حدث خطأ",
    "Refused": "رُفض الطلب",
    "Back to the start": "العودة إلى البداية",
}
