"""Turning fetched bytes into text without storing mojibake.

Arabic sites still serve windows-1256, declare it in odd places (only in a ``<meta>``
far down the ``<head>``, only in the HTTP header, or nowhere), and sometimes declare the
wrong charset altogether. One decision procedure serves HTML pages and feeds:

1. the declared charsets in order of authority — a BOM, the HTTP ``Content-Type``
   charset, then the document's own declaration (``<?xml encoding>`` for feeds,
   ``<meta charset>`` / ``<meta http-equiv>`` in the first 8 KB for pages);
2. a declaration is believed only if it decodes without error *and* the result does not
   look like mojibake (UTF-8 read as windows-1252 decodes "fine" into ``Ø§Ù„``);
3. then UTF-8, which is self-validating;
4. then detection (charset-normalizer), preferring windows-1256 whenever the text is
   Arabic — detectors hesitate between the Arabic code pages and 1256 is what Arabic
   sites actually use.

Decoded text still carries the source's invisible controls: every parser removes the
bidi embeddings, overrides and isolates from what it keeps with
:func:`remove_bidi_controls`.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

import charset_normalizer

# Sniffing window for in-document declarations: Miniflux found pages whose <meta charset>
# comes after byte 1024 (the HTML spec's prescan limit), so look further.
SNIFF_BYTES = 8192

_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_XML_DECLARATION = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([^"']{1,40})["']""")
_META_CHARSET = re.compile(rb"""<meta\b[^>]*?charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]{1,40})""", re.I)
_HEADER_CHARSET = re.compile(r"""charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]{1,40})""", re.I)

# As in browsers: these labels mean windows-1252 in practice, and ASCII is a subset.
_LABEL_ALIASES = {
    "iso-8859-1": "cp1252",
    "iso8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "l1": "cp1252",
    "ascii": "cp1252",
    "us-ascii": "cp1252",
    "x-mac-arabic": "mac-arabic",
}
# Never honoured: UTF-7 is an XSS vector, and a UTF-16/32 label found by an ASCII regex
# is a lie (the bytes we read it from are ASCII-compatible).
_REFUSED = {"utf_7", "utf_16", "utf_16_le", "utf_16_be", "utf_32", "utf_32_le", "utf_32_be"}

_CP1252_PUNCTUATION = "€‚ƒ„…†‡ˆ‰Š‹ŒŽ‘’“”•–—˜™š›œžŸ"
_CONTINUATION = f"[\u0080-\u00bf{_CP1252_PUNCTUATION}]"
# UTF-8 multi-byte sequences read one byte per character as windows-1252 / latin-1.
_UTF8_AS_LATIN = re.compile(
    f"[\u00c2-\u00df]{_CONTINUATION}|[\u00e0-\u00ef]{_CONTINUATION}{{2}}"
    f"|[\u00f0-\u00f4]{_CONTINUATION}{{3}}"
)
# A single-byte Arabic (or Hebrew, Cyrillic) code page read as windows-1252: every letter
# lands in À..ÿ, so whole words are made of accented Latin letters (``ÎÈÑ ÚÇÌá``). Real
# Latin-script words almost never hold three accented letters in a row.
_LEGACY_AS_LATIN = re.compile("[\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u00ff]{3,}")
# Arabic-script letters (Persian and Urdu ones too); crawler/extract.py counts them as well.
ARABIC_LETTER = re.compile("[\u0621-\u064a\u0671-\u06d3\u06fa-\u06ff\u0750-\u077f\ufb50-\ufefc]")
# Bidi embeddings, overrides and isolates (LRE RLE PDF LRO RLO, LRI RLI FSI PDI): text
# from a source holding them can reorder what an alert shows around it, as in a
# "Trojan Source" attack. The plain marks U+200E and U+200F only give neutral
# characters a direction, and Arabic text uses them legitimately: they are kept.
_BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")


@dataclass(frozen=True)
class Decoded:
    """Text decoded from bytes; ``declared`` is the charset label the bytes claimed
    (None when they claimed nothing), ``encoding`` the one actually used."""

    text: str
    encoding: str
    declared: str | None
    mojibake: bool = False
    # Invalid byte sequences replaced by U+FFFD (only ever when decoding as UTF-8).
    replacements: int = 0

    @property
    def overridden(self) -> bool:
        """True when the declaration was missing, unknown or wrong."""
        if self.declared is None:
            return True
        return (normalize_encoding(self.declared) or self.declared.lower()) != self.encoding


def normalize_encoding(label: str | None) -> str | None:
    """A canonical name (``windows-1256``, ``utf-8``, ``iso-8859-6``) for a charset label,
    or None when Python has no text codec for it or we refuse it."""
    if not label:
        return None
    key = label.strip().lower()
    key = _LABEL_ALIASES.get(key, key)
    try:
        info = codecs.lookup(key)
    except (LookupError, ValueError):  # ValueError: a NUL in the label
        return None
    name = info.name.replace("-", "_")
    if not getattr(info, "_is_text_encoding", True) or name in _REFUSED:
        return None
    return _display_name(info.name)


def _display_name(codec_name: str) -> str:
    name = codec_name.replace("_", "-")
    if re.fullmatch(r"cp125\d", name):
        return "windows-" + name[2:]
    if name.startswith("iso8859-"):
        return "iso-" + name[3:]
    return name


def charset_from_content_type(content_type: str | None) -> str | None:
    """The raw ``charset=`` label of an HTTP Content-Type header, if any."""
    if not content_type:
        return None
    match = _HEADER_CHARSET.search(content_type)
    return match.group(1) if match else None


def bom_encoding(body: bytes) -> tuple[str, int] | None:
    """The encoding announced by a byte order mark and the BOM's length."""
    for bom, name in _BOMS:
        if body.startswith(bom):
            return name, len(bom)
    return None


def xml_declared_encoding(body: bytes) -> str | None:
    """The label in ``<?xml ... encoding="..."?>`` at the start of the document."""
    match = _XML_DECLARATION.match(body[:512])
    return match.group(1).decode("ascii", "replace") if match else None


def meta_declared_encoding(body: bytes) -> str | None:
    """The first ``<meta charset>`` or ``<meta http-equiv="Content-Type">`` charset label
    in the first :data:`SNIFF_BYTES` bytes."""
    match = _META_CHARSET.search(body[:SNIFF_BYTES])
    return match.group(1).decode("ascii", "replace") if match else None


def looks_like_mojibake(text: str) -> bool:
    """True when most non-ASCII characters of ``text`` read like bytes decoded with the
    wrong single-byte code page: UTF-8 Arabic as windows-1252 (``Ø§Ù„``, ``Ã©``,
    ``â‚¬``) or windows-1256 Arabic as windows-1252 (``ÎÈÑ ÚÇÌá``).

    Measured as a share of the non-ASCII characters, so one odd sequence in an otherwise
    clean Arabic or French text does not trip it.
    """
    non_ascii = _non_ascii(text)
    if non_ascii < 2:
        return False
    utf8_chars = sum(len(match) for match in _UTF8_AS_LATIN.findall(text))
    legacy_chars = sum(len(match) for match in _LEGACY_AS_LATIN.findall(text))
    return max(utf8_chars, legacy_chars) >= 0.5 * non_ascii


def _non_ascii(text: str) -> int:
    return len(text) - len(text.encode("ascii", "ignore"))


def remove_bidi_controls(text: str) -> str:
    """``text`` without bidi embedding, override and isolate controls, wherever they
    are: a feed's title must not be able to reorder the alert it is shown in."""
    return _BIDI_CONTROLS.sub("", text)


def arabic_share(text: str) -> float:
    """Arabic-script letters as a share of all letters outside ASCII (markup is ASCII)."""
    letters = sum(1 for char in text if ord(char) > 0x7F and char.isalpha())
    if not letters:
        return 0.0
    return len(ARABIC_LETTER.findall(text)) / letters


def decode_html(body: bytes, content_type: str | None) -> tuple[str, str]:
    """Decode an HTML page; returns (text, encoding used)."""
    decoded = decode_document(body, content_type, markup="html")
    return decoded.text, decoded.encoding


def decode_document(body: bytes, content_type: str | None, *, markup: str) -> Decoded:
    """Decode ``body`` (``markup`` is "html" or "xml": where to look for an in-document
    declaration). Never raises: the last resort is UTF-8 with replacement characters,
    counted in ``replacements``; ``mojibake`` says the result still looks wrong."""
    bom = bom_encoding(body)
    in_document = (
        xml_declared_encoding(body)
        if markup == "xml"
        else meta_declared_encoding(body) or xml_declared_encoding(body)
    )
    labels = [bom[0] if bom else None, charset_from_content_type(content_type), in_document]
    declared = next((label for label in labels if label), None)
    payload = body[bom[1] :] if bom else body

    if bom:
        # A BOM outranks every declaration (as in browsers), and is never mojibake.
        text = _strict(payload, bom[0])
        if text is not None:
            return Decoded(text, bom[0], declared)

    fallback: Decoded | None = None
    tried: set[str] = set()
    for label in labels[1:]:
        encoding = normalize_encoding(label)
        if encoding is None or encoding in tried:
            continue
        tried.add(encoding)
        text = _strict(payload, encoding)
        if text is None:
            continue
        # Valid UTF-8 is UTF-8: re-decoding cannot repair text that was garbled upstream.
        if encoding == "utf-8" or not looks_like_mojibake(text):
            return Decoded(text, encoding, declared)
        fallback = fallback or Decoded(text, encoding, declared, mojibake=True)

    if "utf-8" not in tried:
        text = _strict(payload, "utf-8")
        if text is not None:
            return Decoded(text, "utf-8", declared)
    # UTF-8 with a few stray bytes (a windows-1252 quote pasted into a UTF-8 CMS) is far
    # more common than a document in another charset that happens to hold valid UTF-8.
    lossy = payload.decode("utf-8", "replace")
    replaced = lossy.count("\ufffd")
    if _non_ascii(lossy) - replaced >= 2 * replaced:
        return Decoded(lossy, "utf-8", declared, replacements=replaced)

    detected = _detect(payload)
    if detected is not None:
        text, encoding = detected
        if not looks_like_mojibake(text):
            return Decoded(text, encoding, declared)
    if fallback is not None:
        return fallback
    return Decoded(lossy, "utf-8", declared, looks_like_mojibake(lossy), replaced)


def _strict(payload: bytes, encoding: str) -> str | None:
    try:
        return payload.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        return None


def _detect(payload: bytes) -> tuple[str, str] | None:
    best = charset_normalizer.from_bytes(payload).best()
    if best is None:
        text = _strict(payload, "windows-1256")
        return (text, "windows-1256") if text and arabic_share(text) > 0.8 else None
    text, encoding = str(best), normalize_encoding(best.encoding) or best.encoding
    if encoding != "windows-1256" and (
        "Arabic" in best.languages or "Farsi" in best.languages or arabic_share(text) > 0.5
    ):
        # Detectors split Arabic between iso-8859-6, cp720, cp864 and windows-1256.
        alternative = _strict(payload, "windows-1256")
        if alternative is not None and arabic_share(alternative) >= arabic_share(text):
            return alternative, "windows-1256"
    return text, encoding
