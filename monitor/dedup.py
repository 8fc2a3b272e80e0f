"""The identity of an article: canonical URL, dedup keys and a frozen content hash.

An article reaches rasid many ways — two feeds of one outlet, http and https links, a
link decorated with ``utm_*`` parameters, a raw Arabic IRI in one place and its
percent-encoded twin in another, the same text re-published under a new URL. Each of
those ways yields a *dedup key*; an article is stored once, under all its keys, and a
later arrival matching any key is the same article (``monitor.ingest``).

Everything here is a pure function of its arguments: no network, no settings, no
imports from the rest of rasid. :func:`content_hash` in particular must never change
once hashes are stored, so its normalization is written out here, frozen, and not shared
with the matcher's (which may evolve).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from urllib.parse import quote, urlsplit

# Bodies shorter than this many characters get no "body" key: short texts —
# "live updates", a one-line feed summary standing in for the page — coincide across
# distinct stories, and merging them would silently lose an alert.
MIN_BODY_CHARS_FOR_KEY = 200

TRACKING_PARAMETERS = frozenset(
    {
        "fbclid", "gclid", "dclid", "gbraid", "wbraid", "msclkid", "yclid", "twclid",
        "mc_cid", "mc_eid", "_ga", "_gl", "igshid", "ocid", "cmpid", "spm", "ref_src",
        "at_medium", "at_campaign", "at_custom1", "at_custom2", "at_custom3", "at_custom4",
        "at_link", "at_format", "at_ptr_name", "at_bbc_team", "_hsenc", "_hsmi", "mkt_tok",
        "oly_anon_id", "oly_enc_id", "vero_id", "wt.mc_id", "__twitter_impression",
    }
)  # fmt: skip
_TRACKING_PREFIXES = ("utm_",)
_DEFAULT_PORTS = {"http": 80, "https": 443}
_UNRESERVED = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"
_SUB_DELIMS = "!$&'()*+,;="
_PATH_SAFE = _UNRESERVED + _SUB_DELIMS + ":@/%"
_QUERY_PART_SAFE = _UNRESERVED + "!$'()*+,;:@/?%"
_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
_STRAY_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")

# The frozen normalization of content_hash. Do not edit: stored hashes depend on it.
_HASH_REMOVED = re.compile(
    "[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06dc\u06df-\u06e8\u06ea-\u06ed"  # harakat
    "\u0640"  # tatweel
    "\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff\u00ad]"  # invisible format chars
)


def canonical_url(url: str) -> str:
    """One spelling per URL, so that the same article reached by differently written
    links is recognised: lowercase scheme and host (IDNA), no default port, no fragment,
    no tracking parameters, sorted query, one percent-encoding (UTF-8, uppercase hex,
    unreserved characters decoded), "/" for an empty path. Idempotent; a string that is
    no URL (unsplittable, a port that is no number) comes back stripped, unchanged."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:  # an unbalanced IPv6 bracket: nothing sound to normalize
        return url.strip()
    scheme = parts.scheme.lower() or ("http" if parts.netloc else "")
    netloc = _netloc(parts.netloc, scheme)
    if netloc is None:
        return url.strip()
    path = _requote(parts.path, _PATH_SAFE) or ("/" if netloc else "")
    query = _query(parts.query)
    # A "#!" fragment is a route in old single-page sites: part of the article's identity.
    fragment = parts.fragment if parts.fragment.startswith("!") else ""
    result = f"{scheme}:" if scheme else ""
    if netloc or scheme in _DEFAULT_PORTS:
        result += f"//{netloc}"
    result += path
    if query:
        result += f"?{query}"
    if fragment:
        result += f"#{_requote(fragment, _QUERY_PART_SAFE + '=&')}"
    return result


def _netloc(netloc: str, scheme: str) -> str | None:
    """The normalized authority, or None when it is not one (a port that is no number,
    text after an IPv6 literal)."""
    userinfo, _, hostport = netloc.rpartition("@")
    host, port = hostport, ""
    if hostport.startswith("[") and "]" in hostport:  # IPv6 literal
        end = hostport.index("]") + 1
        if hostport[end:] and not hostport[end:].startswith(":"):
            return None
        host, port = hostport[:end], hostport[end + 1 :]
    elif ":" in hostport:
        host, _, port = hostport.partition(":")
    if port and not port.isdigit():
        return None
    # Lowercase, but escapes keep uppercase hex (a host IDNA refuses comes back quoted).
    host = _ESCAPE.sub(_upper_escape, _idna(host.lower().rstrip(".")))
    if port and int(port) == _DEFAULT_PORTS.get(scheme):
        port = ""
    elif port:
        port = str(int(port))
    result = f"{host}:{port}" if port else host
    return f"{userinfo}@{result}" if userinfo else result


def _idna(host: str) -> str:
    if host.isascii():
        return host
    labels = []
    for label in host.split("."):
        try:
            labels.append(label.encode("idna").decode("ascii") if label else label)
        except UnicodeError:
            labels.append(quote(label, safe=""))
    return ".".join(labels)


def _requote(component: str, safe: str) -> str:
    """Percent-encoding normalized: escapes of unreserved characters decoded, the rest
    uppercase, raw non-ASCII and unsafe characters encoded as UTF-8."""
    component = _STRAY_PERCENT.sub("%25", component)
    component = _ESCAPE.sub(_normalize_escape, component)
    return quote(component, safe=safe)


def _upper_escape(match: re.Match[str]) -> str:
    return f"%{match.group(1).upper()}"


def _normalize_escape(match: re.Match[str]) -> str:
    char = chr(int(match.group(1), 16))
    return char if char in _UNRESERVED else f"%{match.group(1).upper()}"


def _query(query: str) -> str:
    kept: list[tuple[str, str]] = []
    for pair in query.split("&"):
        if not pair:
            continue
        name, equals, value = pair.partition("=")
        name = _requote(name, _QUERY_PART_SAFE)
        if _is_tracking(name):
            continue
        kept.append((name, f"{equals}{_requote(value, _QUERY_PART_SAFE + '=')}"))
    # Stable by name: repeated parameters keep their relative order, which may matter.
    kept.sort(key=lambda item: item[0])
    return "&".join(name + rest for name, rest in kept)


def _is_tracking(name: str) -> bool:
    lowered = _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), name).lower()
    return lowered in TRACKING_PARAMETERS or lowered.startswith(_TRACKING_PREFIXES)


def content_hash(title: str, body: str) -> str:
    """sha256 hex of the article's text under a frozen normalization (NFKC; Arabic
    harakat, tatweel and invisible format characters removed; whitespace collapsed;
    casefolded), so a re-publication that differs only in those gets the same hash."""
    normalized = f"{_freeze(title)}\n{_freeze(body)}"
    return hashlib.sha256(normalized.encode("utf-8")).hexdigest()


def _freeze(text: str) -> str:
    text = unicodedata.normalize("NFKC", text)
    text = _HASH_REMOVED.sub("", text)
    return " ".join(text.split()).casefold()


def dedup_keys(
    *,
    url: str,
    guid: str | None,
    content_hash: str,
    feed_url: str | None,
    body_chars: int | None = None,
) -> list[tuple[str, str]]:
    """The (kind, key) pairs an article is known by; each key is a 64-char sha256 hex.

    - "url": the canonical URL without its scheme — http and https copies of a page are
      one article, and links differ in decoration more often than in substance.
    - "guid": the feed's own id, stable when URLs change (a slug edited after
      publication). A guid that is an http(s) URL is canonicalized like one; any other
      guid is scoped by the feed's host (without "www."), because outlets number their
      items independently and two "12345"s are two articles — and gets no key at all
      without a ``feed_url`` to scope it.
    - "body": the content hash — the same text under an unrelated URL (a syndicated
      copy, a re-published article). Only when ``content_hash`` is given and
      ``body_chars`` (the body's length) is at least :data:`MIN_BODY_CHARS_FOR_KEY`;
      without ``body_chars`` no body key is made, since short texts coincide.
    """
    canonical = canonical_url(url)
    keys = [("url", _key("url", _without_scheme(canonical)))] if canonical else []
    guid = (guid or "").strip()
    scope = _feed_scope(feed_url)
    if guid and _is_web_url(guid):
        keys.append(("guid", _key("guid", "link " + _without_scheme(canonical_url(guid)))))
    elif guid and scope:
        keys.append(("guid", _key("guid", f"{scope} {guid}")))
    if content_hash and body_chars is not None and body_chars >= MIN_BODY_CHARS_FOR_KEY:
        keys.append(("body", _key("body", content_hash)))
    return keys


def entry_keys(
    *, url: str | None, guid: str | None, title: str, summary: str, feed_url: str | None
) -> list[tuple[str, str]]:
    """The keys a feed entry is known by before its article exists: its link's and its
    GUID's, as :func:`dedup_keys` makes them; for an entry with neither, its text scoped
    by the feed's host ("entry": a linkless item has no other identity, and the same
    title and summary in one outlet's feed are the same item)."""
    keys = dedup_keys(url=url or "", guid=guid, content_hash="", feed_url=feed_url)
    if keys:
        return keys
    text = content_hash(title, summary)
    return [("entry", _key("entry", f"{_feed_scope(feed_url)} {text}"))]


def _without_scheme(canonical: str) -> str:
    scheme, separator, rest = canonical.partition("://")
    return rest if separator and scheme in _DEFAULT_PORTS else canonical


def _is_web_url(value: str) -> bool:
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return parts.scheme.lower() in _DEFAULT_PORTS and bool(parts.netloc)


def _feed_scope(feed_url: str | None) -> str:
    try:
        host = urlsplit((feed_url or "").strip()).hostname or ""
    except ValueError:
        host = ""
    # The host alone: a feed reached over https, or redirected to "www.", is one scope.
    return _idna(host.rstrip(".")).removeprefix("www.")


def _key(kind: str, value: str) -> str:
    return hashlib.sha256(f"{kind}\n{value}".encode()).hexdigest()
