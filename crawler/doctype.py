"""Documents whose DOCTYPE declares XML entities, refused before any parser reads them.

An entity declared in a document's own DOCTYPE (its internal subset:
``<!DOCTYPE rss [<!ENTITY ...>]>``) is how a billion-laughs bomb turns a few hundred
bytes into a gigabyte of text, and how XXE reads a local file
(``<!ENTITY e SYSTEM "file:///etc/passwd">``). No feed, sitemap or news page needs one,
and the parsers rasid uses do not all defuse them: feedparser's clean-up only removes
declarations that begin a line, so expat expands a bomb written on one line until its
amplification limit stops it. Every document is therefore checked first by
:func:`refuse_entity_declarations`.

Guarantees:

- A document whose prolog (what precedes its first element) holds a DOCTYPE with an
  ``<!ENTITY`` declaration raises :class:`EntityDeclarationError`: general or
  parameter entities, on one line or many, in any letter case, behind a BOM, comments
  or processing instructions, read in every encoding a parser could read it in (a BOM,
  UTF-16 or UTF-32 without one, EBCDIC, the XML declaration's label, the transport's).
- So does a prolog longer than :data:`MAX_PROLOG`, which is as far as it reads.
- Anything else passes untouched: ``<!DOCTYPE html>``, ``<!DOCTYPE rss PUBLIC ...>``,
  an internal subset of element and attribute declarations only.

Only the prolog is read, so the check costs microseconds whatever the document's size.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator
from functools import lru_cache

from monitor.errors import SourceError

# How far the prolog is read: characters of a str, bytes of a bytes document. Real
# prologs (an XML declaration, a stylesheet, a licence comment, a DOCTYPE) take < 1 KiB.
MAX_PROLOG = 64 * 1024

DECLARES_ENTITIES = (
    "refused: the document declares XML entities in its DOCTYPE, which rasid never "
    "expands (a billion-laughs or XXE attack, or a document to fix at its source)"
)
PROLOG_TOO_LONG = (
    f"refused: the document has more than {MAX_PROLOG // 1024} KiB of declarations and "
    "comments before its first element, past where rasid checks for XML entity "
    "declarations (a padded billion-laughs attack, or a document to fix at its source)"
)

# Whitespace, the XML declaration, processing instructions and comments. Possessive
# quantifiers: a prolog of a million comments must not pile up backtracking state.
_MISC = re.compile(r"(?:[\s\ufeff]+|<\?.*?\?>|<!--.*?-->)*+", re.S)
# A DOCTYPE up to its internal subset "[" or its end ">" (name, PUBLIC and SYSTEM ids).
_DOCTYPE = re.compile(r"""<!DOCTYPE(?:[^\[>"']+|"[^"]*"|'[^']*')*+""", re.I)
# What an internal subset may hold besides entity declarations: parameter-entity
# references, comments, processing instructions, other markup declarations.
_SUBSET_ITEMS = re.compile(
    r"""(?:
        \s+
      | %[^;\s<>"']+;
      | <!--.*?-->
      | <\?.*?\?>
      | <!(?!ENTITY)[A-Z]+(?:[^"'>]+|"[^"]*"|'[^']*')*+>
    )*+""",
    re.S | re.X | re.I,
)
_SUBSET_END = re.compile(r"\]\s*>")
_ENTITY = re.compile(r"<!ENTITY", re.I)
_XML_ENCODING = re.compile(r"""^[\s\ufeff]*<\?xml[^>]*?encoding\s*=\s*["']([^"']{1,40})["']""")

# Encodings told by the first bytes, as XML parsers detect them (XML 1.0 appendix F).
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_EBCDIC_XML = b"\x4c\x6f\xa7\x94"  # "<?xm" in EBCDIC
# Every ASCII byte (but the backslash, whose stray uses warn) and the escapes by which
# UTF-7 ("+ADw-") and unicode_escape ("\u003c") write "<" in ASCII.
_ASCII_PROBE = bytes(byte for byte in range(128) if byte != 0x5C) + b"+ADw- \\u003c"


class EntityDeclarationError(SourceError):
    """A document declares XML entities in its DOCTYPE, or puts more before its first
    element than rasid reads to tell; no parser is given it."""


def refuse_entity_declarations(document: bytes | str, *, charset: str | None = None) -> None:
    """Raise :class:`EntityDeclarationError` if ``document`` declares XML entities.

    ``document`` is what a parser would be given: bytes, read in every encoding they
    could be read in (``charset`` is the transport's label, such as the HTTP
    Content-Type charset, which feedparser honours), or already decoded text.
    """
    truncated = len(document) > MAX_PROLOG
    views = [document[:MAX_PROLOG]] if isinstance(document, str) else _views(document, charset)
    for text in views:
        refusal = _refusal(text, truncated=truncated)
        if refusal is not None:
            raise EntityDeclarationError(refusal)


def _views(document: bytes, charset: str | None) -> Iterator[str]:
    """The start of the document decoded as each parser might decode it."""
    head = document[:MAX_PROLOG]
    base = _encoding_of_first_bytes(head)
    # Latin-1 maps every byte to one character, so ASCII markup reads as itself in
    # any encoding that keeps ASCII as ASCII (UTF-8, windows-1256, ISO-8859-6 ...).
    text = head.decode(base or "latin-1", "replace")
    yield text
    declared = _XML_ENCODING.match(text)
    ascii_based = base in (None, "utf-8")
    for label in (declared.group(1) if declared else None, charset):
        codec = _codec(label)
        if codec is None or codec == base or (ascii_based and _keeps_ascii(codec)):
            continue
        try:
            yield head.decode(codec, "replace")
        except (UnicodeError, ValueError, LookupError):
            # A codec that cannot read these bytes at all: no parser reads them with it.
            continue


def _encoding_of_first_bytes(head: bytes) -> str | None:
    """The encoding a BOM, the NUL pattern of "<" in UTF-16/32, or EBCDIC's "<?xm"
    announce; None for an ASCII-compatible start."""
    for bom, name in _BOMS:
        if head.startswith(bom):
            return name
    first = head[:4]
    if len(first) == 4:
        nul = tuple(byte == 0 for byte in first)
        layouts: dict[tuple[bool, ...], str] = {
            (False, True, True, True): "utf-32-le",
            (True, True, True, False): "utf-32-be",
            (False, True, False, True): "utf-16-le",
            (True, False, True, False): "utf-16-be",
        }
        if nul in layouts:
            return layouts[nul]
        if first == _EBCDIC_XML:
            return "cp037"
    return None


@lru_cache(maxsize=64)
def _codec(label: str | None) -> str | None:
    """Python's text codec for a charset label, or None."""
    if not label:
        return None
    try:
        info = codecs.lookup(label.strip())
    except (LookupError, ValueError):
        return None
    return info.name if getattr(info, "_is_text_encoding", True) else None


@lru_cache(maxsize=64)
def _keeps_ascii(codec: str) -> bool:
    """Whether ``codec`` reads ASCII bytes as those characters; markup can hide in
    those that do not, such as UTF-7 and unicode_escape."""
    try:
        return _ASCII_PROBE.decode(codec) == _ASCII_PROBE.decode("ascii")
    except (UnicodeError, ValueError, LookupError):
        return False


def _refusal(text: str, *, truncated: bool) -> str | None:
    """Why the prolog of ``text`` is refused, or None; ``truncated`` says the document
    goes on past ``text``."""
    position = 0
    while True:
        misc = _MISC.match(text, position)
        position = misc.end() if misc else position
        doctype = _DOCTYPE.match(text, position)
        if doctype is None:
            # The first element, text, or a comment the window cut (a bomb may hide
            # behind megabytes of comments: what follows them is unread).
            cut = position == len(text) or text.startswith(("<!--", "<?"), position)
            return PROLOG_TOO_LONG if truncated and cut else None
        position = doctype.end()
        if text.startswith(">", position):
            position += 1
            continue
        if not text.startswith("[", position):
            return PROLOG_TOO_LONG if truncated else None
        refusal, position = _subset_refusal(text, position + 1, truncated=truncated)
        if refusal is not None or position < 0:
            return refusal


def _subset_refusal(text: str, position: int, *, truncated: bool) -> tuple[str | None, int]:
    """Read an internal subset from ``position``: the refusal (or None) and where the
    DOCTYPE ends (-1 when nothing after it need be read)."""
    items = _SUBSET_ITEMS.match(text, position)
    position = items.end() if items else position
    end = _SUBSET_END.match(text, position)
    if end is not None:
        return None, end.end()
    if _ENTITY.match(text, position):
        return DECLARES_ENTITIES, -1
    if position >= len(text):
        return (PROLOG_TOO_LONG if truncated else None), -1
    # Not well-formed, or a comment the window cut. Parsers stop here, but a
    # recovering one may read on: any declaration further on counts, and so does what
    # lies past the window.
    if _ENTITY.search(text, position):
        return DECLARES_ENTITIES, -1
    return (PROLOG_TOO_LONG if truncated else None), -1
