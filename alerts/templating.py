"""Message templates: the words a channel sends, from Jinja2 files.

A template is one file whose ``{% block %}``s are the **parts** its channel kind sends
(:data:`PARTS`): the console's ``text``; Apprise's ``title`` and ``body``; email's
``subject``, ``text`` and ``html``; Slack's ``notification`` line (its blocks are built in
code). Each kind has a default in alerts/templates/, reachable as ``rasid/<kind>.j2``; a
channel's ``template = "file.j2"`` (relative to settings.toml) replaces it, and may
``{% extends "rasid/email.j2" %}`` to redefine one block only.

A template sees ``message`` (alerts/compose.py: an ArticleMessage, a BatchMessage, a
DigestEvent or a FollowUpEvent), ``kind`` (``"article"``, ``"batch"``, ``"digest"``,
``"follow_up"``), ``watchlists`` (the names the message is about), ``time_zone`` (the
channel's) and ``no_link`` (what to show for an article without a link); and the filters
``when`` (a time in the channel's zone), ``isolate`` (a name kept in its own direction
inside a line of the other: U+2068…U+2069 in text, ``<bdi>`` in HTML), ``highlight``
(matched words marked: ``*word*`` in text, ``<b>`` in HTML) and ``web_url`` (the URL if
it is http or https, else empty).

Guarantees:

* Undefined names are errors (StrictUndefined), never empty text.
* Text parts are not escaped; the ``html`` part is autoescaped: feed text cannot add
  markup. Control characters of every value are removed (a title cannot drive a
  terminal), newlines in a value become spaces.
* :func:`checked_template` compiles a template and renders it against a sample of every
  message kind (alerts/samples.py): any error is a :class:`TemplateProblem` naming the
  file, the line and the problem, so a channel whose template fails is refused at start.
* One-line parts (``title``, ``subject``, ``notification``) come out as one line, with
  runs of spaces collapsed; the others without leading or trailing blank lines.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import jinja2
from markupsafe import Markup, escape

from alerts.compose import ArticleMessage, BatchMessage
from alerts.event import DigestEvent, Highlight
from alerts.render import NO_LINK, printable, word_spans
from alerts.samples import sample_messages

if TYPE_CHECKING:
    from alerts.compose import Message

DEFAULTS_DIR = Path(__file__).resolve().parent / "templates"
# The parts each channel kind sends, in the order they are rendered.
PARTS: dict[str, tuple[str, ...]] = {
    "console": ("text",),
    "apprise": ("title", "body"),
    "email": ("subject", "text", "html"),
    "slack": ("notification",),
}
HTML_PARTS = frozenset({"html"})
ONE_LINE_PARTS = frozenset({"title", "subject", "notification"})
# First-strong isolate and its closing pop: the name inside takes its own direction and
# leaves the line's alone (an Arabic line stays right-to-left around "drones").
FSI, PDI = "\u2068", "\u2069"


class TemplateProblem(ValueError):
    """A template cannot be read, compiled or rendered; says the file, line and why."""


def message_kind(message: Message) -> str:
    """What a template is told ``message`` is: article, batch, digest or follow_up."""
    if isinstance(message, ArticleMessage):
        return "article"
    if isinstance(message, BatchMessage):
        return "batch"
    if isinstance(message, DigestEvent):
        return "digest"
    return "follow_up"


def watchlists_of(message: Message) -> tuple[str, ...]:
    if isinstance(message, ArticleMessage | BatchMessage):
        return message.watchlists
    return (message.watchlist,)


@dataclass(frozen=True)
class _Files:
    """How errors name template files: as the user wrote them, not as absolute paths."""

    shown: str  # the template's file as the settings name it, or rasid/<kind>.j2
    roots: tuple[tuple[str, str], ...]  # (directory + "/", the prefix it is shown with)

    def name(self, filename: str | None) -> str:
        for root, prefix in self.roots:
            if filename and filename.startswith(root):
                return prefix + filename[len(root) :]
        return filename or self.shown

    def where(self, exc: BaseException) -> str:
        """The template file and line an exception was raised at (Jinja rewrites the
        traceback so that its frames carry the template's file and line)."""
        found = self.shown
        trace = exc.__traceback__
        while trace is not None:
            filename = trace.tb_frame.f_code.co_filename
            if any(filename.startswith(root) for root, _ in self.roots):
                found = f"{self.name(filename)}, line {trace.tb_lineno}"
            trace = trace.tb_next
        return found

    def syntax(self, exc: jinja2.TemplateSyntaxError) -> str:
        return f"{self.name(exc.filename)}, line {exc.lineno}: {exc.message}"


@dataclass(frozen=True)
class MessageTemplate:
    """A compiled template of one channel kind: :meth:`render` gives its parts."""

    kind: str
    time_zone: str
    _files: _Files
    _text: jinja2.Template
    _html: jinja2.Template | None

    @property
    def shown(self) -> str:
        """The template's file as the settings name it, or rasid/<kind>.j2."""
        return self._files.shown

    @property
    def parts(self) -> tuple[str, ...]:
        return PARTS[self.kind]

    def render(self, message: Message) -> dict[str, str]:
        """Every part of this kind for ``message``; TemplateProblem when one fails."""
        context = {
            "message": message,
            "kind": message_kind(message),
            "watchlists": watchlists_of(message),
            "time_zone": self.time_zone,
            "no_link": NO_LINK,
        }
        rendered: dict[str, str] = {}
        for template in (self._text, self._html):
            if template is None:
                continue
            wanted = [
                part for part in self.parts if (part in HTML_PARTS) == (template is self._html)
            ]
            rendered.update(self._render_blocks(template, wanted, context))
        return {part: rendered[part] for part in self.parts}

    def render_part(self, part: str, message: Message) -> str:
        """One part (``"notification"``, ``"subject"``...) for ``message``."""
        if part not in self.parts:
            raise KeyError(f"a {self.kind} template has no part {part!r}")
        return self.render(message)[part]

    def _render_blocks(
        self, template: jinja2.Template, parts: list[str], variables: dict[str, Any]
    ) -> dict[str, str]:
        context = template.new_context(variables)
        try:
            try:
                # Rendering the whole file first runs its {% extends %}: the context
                # then holds the blocks of the template it extends too.
                for _ in template.root_render_func(context):
                    pass
                blocks = {part: context.blocks.get(part) for part in parts}
                texts = {
                    part: template.environment.concat(functions[0](context))
                    for part, functions in blocks.items()
                    if functions
                }
            except Exception:  # noqa: BLE001  # re-raised with the template's lines
                # Jinja's own render does this: the traceback's frames then carry the
                # template's file and line instead of its compiled module's.
                template.environment.handle_exception()
        except jinja2.TemplateSyntaxError as exc:  # in a file it includes or extends
            raise TemplateProblem(self._files.syntax(exc)) from None
        except Exception as exc:  # noqa: BLE001  # any error of a template's code is its author's to fix
            where = self._files.where(exc)
            reason = exc.message if isinstance(exc, jinja2.TemplateError) else repr(exc)
            raise TemplateProblem(f"{where}: {reason}") from None
        missing = [part for part in parts if part not in texts]
        if missing:
            raise TemplateProblem(
                f"{self.shown}: no {{% block {missing[0]} %}} (a {self.kind} template has "
                f"the blocks {', '.join(self.parts)})"
            )
        return {
            part: _tidy(str(text), one_line=part in ONE_LINE_PARTS) for part, text in texts.items()
        }


def load_template(
    kind: str, path: Path | None = None, *, time_zone: str = "UTC", shown: str | None = None
) -> MessageTemplate:
    """Compile ``path`` (else the kind's default) as a template of ``kind``.

    ``shown`` is how errors name the file (the settings' value, not an absolute path).
    Raises TemplateProblem for a kind without templates, a missing file or bad syntax.
    """
    if kind not in PARTS:
        raise TemplateProblem(
            f"a {kind} channel has no template (templates are read for {', '.join(PARTS)} channels)"
        )
    defaults = (f"{DEFAULTS_DIR}/", "rasid/")
    if path is None:
        directory, name = DEFAULTS_DIR, f"{kind}.j2"
        files = _Files(f"rasid/{kind}.j2", (defaults,))
    else:
        shown = shown or str(path)
        if not path.is_file():
            raise TemplateProblem(f"{shown}: no such file")
        directory, name = path.resolve().parent, path.name
        parent = Path(shown).parent.as_posix()
        prefix = "" if parent == "." else f"{parent}/"
        files = _Files(shown, ((f"{directory}/", prefix), defaults))
    loader = jinja2.ChoiceLoader(
        [
            jinja2.PrefixLoader({"rasid": jinja2.FileSystemLoader(DEFAULTS_DIR)}),
            jinja2.FileSystemLoader(directory),
        ]
    )
    zone = ZoneInfo(time_zone)
    text_env = _environment(loader, zone, html=False)
    html_env = _environment(loader, zone, html=True) if HTML_PARTS & set(PARTS[kind]) else None
    try:
        text = text_env.get_template(name)
        html = html_env.get_template(name) if html_env is not None else None
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateProblem(files.syntax(exc)) from None
    except (jinja2.TemplateNotFound, OSError, UnicodeDecodeError) as exc:
        raise TemplateProblem(f"{files.shown}: cannot read it: {exc}") from None
    return MessageTemplate(kind, time_zone, files, text, html)


def checked_template(
    kind: str,
    path: Path | None = None,
    *,
    time_zone: str = "UTC",
    shown: str | None = None,
    now: datetime | None = None,
) -> MessageTemplate:
    """:func:`load_template`, then render it against a sample of every message kind;
    TemplateProblem (naming the sample) when any fails."""
    template = load_template(kind, path, time_zone=time_zone, shown=shown)
    for sample_kind, message in sample_messages(now or datetime.now(UTC)).items():
        try:
            template.render(message)
        except TemplateProblem as exc:
            raise TemplateProblem(f"{exc} (rendering a sample {sample_kind} message)") from None
    return template


def render_part(template: MessageTemplate, part: str, message: Message) -> str:
    """One part of ``message`` through ``template`` (Slack's ``notification`` line)."""
    return template.render_part(part, message)


def _environment(loader: jinja2.BaseLoader, zone: ZoneInfo, *, html: bool) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=loader,
        autoescape=html,  # noqa: S701  # text parts are not HTML; the html part is escaped
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=_clean,
        auto_reload=False,
    )
    filters: dict[str, Callable[..., object]] = {
        "when": lambda moment, fmt="%Y-%m-%d %H:%M %Z": _when(moment, zone, fmt),
        "isolate": _isolate_html if html else _isolate_text,
        "highlight": _highlight_html if html else _highlight_text,
        "web_url": _web_url,
    }
    env.filters.update(filters)
    return env


def _clean(value: object) -> object:
    """Every value written: control characters removed, markup left as it is."""
    if isinstance(value, str) and not isinstance(value, Markup):
        return printable(value)
    return value


def _when(moment: datetime | None, zone: ZoneInfo, fmt: str) -> str:
    if moment is None:
        return ""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(zone).strftime(fmt)


def _isolate_text(text: object) -> str:
    return f"{FSI}{printable(str(text))}{PDI}"


def _isolate_html(text: object) -> Markup:
    return Markup("<bdi>{}</bdi>").format(printable(str(text)))


def _spans(text: str, highlights: Iterable[Highlight | str]) -> list[tuple[int, int]]:
    hits = [hit.text if isinstance(hit, Highlight) else str(hit) for hit in highlights]
    return word_spans(text, hits)


def _highlight_text(text: str, highlights: Iterable[Highlight | str], mark: str = "*") -> str:
    text = printable(text)
    out, position = [], 0
    for start, end in _spans(text, highlights):
        out.append(text[position:start] + mark + text[start:end] + mark)
        position = end
    return "".join(out) + text[position:]


def _highlight_html(text: str, highlights: Iterable[Highlight | str]) -> Markup:
    text = printable(text)
    out, position = [], 0
    for start, end in _spans(text, highlights):
        out.append(escape(text[position:start]) + Markup("<b>{}</b>").format(text[start:end]))
        position = end
    return Markup("").join(out) + escape(text[position:])


def _web_url(url: str | None) -> str:
    if url and urlsplit(url).scheme.lower() in ("http", "https"):
        return printable(url)
    return ""


def _tidy(text: str, *, one_line: bool) -> str:
    if one_line:
        return " ".join(text.split())
    lines = [line.rstrip() for line in text.strip("\n").splitlines()]
    return "\n".join(lines).strip()


__all__ = [
    "PARTS",
    "MessageTemplate",
    "TemplateProblem",
    "checked_template",
    "load_template",
    "message_kind",
    "render_part",
]
