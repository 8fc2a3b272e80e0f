"""Builds a small Arabic news site for end-to-end tests: RSS feeds and article pages.

Article pages wrap their text in realistic chrome (navigation, a sidebar of other
headlines, a footer), so tests can check that only the article body is matched.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime
from pathlib import Path

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


@dataclass(frozen=True)
class Story:
    slug: str
    title: str
    paragraphs: list[str]
    published: datetime
    summary: str = ""


def seed_story(published: datetime) -> Story:
    """The seed article (headline on line 1, then caption lines, then the body)."""
    lines = (FIXTURES / "seed" / "ain-al-asad-drones.txt").read_text(encoding="utf-8").splitlines()
    body = [line.strip() for line in lines[1:] if line.strip() and line.strip() != "ترشيحاتنا"]
    return Story(
        slug="ain-al-asad-drones",
        title=lines[0].strip(),
        paragraphs=body,
        published=published,
        summary="تصاعدت حدة الهجمات ضد القواعد العسكرية العراقية.",
    )


def article_page(story: Story, sidebar: list[str] | None = None) -> str:
    """An article page with navigation, a sidebar and a footer around the body."""
    sidebar = sidebar or [
        "طائرة مسيرة تقصف موقعا في الصحراء",
        "عين الأسد: قاعدة جوية في الأنبار",
        "أسعار النفط تتراجع",
    ]
    links = "".join(
        f'<li><a href="/other/{i}">{html.escape(t)}</a></li>' for i, t in enumerate(sidebar)
    )
    body = "".join(f"<p>{html.escape(p)}</p>" for p in story.paragraphs)
    return f"""<!DOCTYPE html>
<html lang="ar" dir="rtl"><head><meta charset="utf-8">
<title>{html.escape(story.title)} | موقع الأخبار</title>
<meta property="article:published_time" content="{story.published.isoformat()}">
</head><body>
<header><nav><ul><li><a href="/">الرئيسية</a></li><li><a href="/politics">سياسة</a></li>
<li><a href="/economy">اقتصاد</a></li><li><a href="/sport">رياضة</a></li></ul></nav></header>
<main><article><h1>{html.escape(story.title)}</h1>
<div class="article-body">{body}</div></article></main>
<aside class="sidebar"><h3>الأكثر قراءة</h3><ul>{links}</ul></aside>
<footer><p>جميع الحقوق محفوظة © موقع الأخبار</p><p>من نحن | اتصل بنا | سياسة الخصوصية</p></footer>
</body></html>"""


def rss(title: str, base_url: str, stories: list[Story], *, encoding: str = "utf-8") -> bytes:
    items = "".join(
        f"""<item><title>{html.escape(s.title)}</title>
<link>{base_url}/news/{s.slug}</link>
<guid isPermaLink="false">story-{s.slug}</guid>
<description>{html.escape(s.summary)}</description>
<pubDate>{format_datetime(s.published)}</pubDate></item>"""
        for s in stories
    )
    document = f"""<?xml version="1.0" encoding="{encoding}"?>
<rss version="2.0"><channel><title>{html.escape(title)}</title><link>{base_url}/</link>
<description>أخبار</description>{items}</channel></rss>"""
    return document.encode(encoding)


def _fixture_sentences() -> list[str]:
    """Sentences of the real fixture articles, for stories that share no wording."""
    seed = FIXTURES / "seed" / "ain-al-asad-drones.txt"
    paths = [*sorted((FIXTURES / "real").glob("*.txt")), seed]
    texts = [path.read_text(encoding="utf-8") for path in paths]
    sentences = []
    for text in texts:
        for line in text.splitlines():
            if line.startswith("<"):
                continue
            for part in line.split("."):
                if len(part.split()) >= 8:
                    sentences.append(part.strip() + ".")
    return sentences


def distinct_drone_stories(count: int, published: datetime) -> list[Story]:
    """``count`` stories that each match "طائرة مسيرة" and are distinct stories (no two
    share enough wording to be grouped), so each alerts on its own."""
    sentences = _fixture_sentences()
    if len(sentences) < count * 3:
        raise ValueError(f"the fixtures hold {len(sentences)} sentences, {count * 3} needed")
    return [
        Story(
            slug=f"drone-{number}",
            title=f"إسقاط طائرة مسيرة في الحادثة رقم {number}",
            paragraphs=[
                f"أعلنت السلطات إسقاط طائرة مسيرة في الحادثة رقم {number} هذا الأسبوع.",
                *sentences[number * 3 : number * 3 + 3],
            ],
            published=published,
            summary=f"الحادثة رقم {number}",
        )
        for number in range(count)
    ]
