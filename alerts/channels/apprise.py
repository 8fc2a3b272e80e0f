"""Apprise channels: the long tail of services (Telegram, Discord, Teams, Matrix, ntfy,
json://, form://, ...) and email (mailto://, mailtos://), one Apprise URL per channel.

Apprise keeps the clients; rasid keeps delivery. One send is one notification to the
channel's one URL, with Apprise's own retries and throttle off, bounded by the channel's
deadline: retries, backoff, pace and dead letters belong to the outbox and the dispatcher.

Guarantees:

* Apprise's success is the answer (``delivered by apprise (json)``); its failure is a
  transient DeliveryError carrying what Apprise logged for that call (``error=500``, a
  connection error, a timeout), so the dispatcher retries up to ``max_attempts`` and then
  dead-letters the alert. A message the template cannot render is a permanent one.
* The network policy of ``[crawl]``: before every send the host Apprise will connect to
  (the URL's host for json:// and the other self-hosted services, the SMTP server for
  email) is resolved, and refused (permanently) when any of its addresses is private,
  loopback or link-local and not allowed. A scheme that reaches a fixed public service
  (tgram://, discord://, ...) connects to that service's own host. Schemes
  that deliver on this machine (desktop notifications, the local syslog) are refused
  when the channel is built.
* Email is multipart/alternative: the template's ``text`` and ``html`` parts, under its
  ``subject``, all UTF-8.

Limits: Apprise resolves the host again when it connects (a DNS answer that changes in
between is not seen, unlike the HTTP channels' connect-time check), and its HTTP client
follows the environment's proxy settings.

``import apprise`` happens here only, and this module is imported only when an Apprise
or email channel is built (Apprise loads its plugins on first use).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal

import apprise
from apprise.manager_plugins import NotificationManager

from alerts.compose import compose
from alerts.outbox import ClaimedAlert
from monitor.errors import DeliveryError, NetworkGuardError, ResolutionError

if TYPE_CHECKING:
    from alerts.channels import Pace
    from alerts.templating import MessageTemplate
    from monitor.netguard import NetworkPolicy

EMAIL_SCHEMES = frozenset({"mailto", "mailtos"})
# Apprise schemes that notify on this machine (a desktop, a USB light, the local syslog):
# nothing a server's alerts are for, and outside any network policy.
LOCAL_SCHEMES = frozenset(
    {"dbus", "kde", "qt", "glib", "gnome", "macosx", "windows", "syslog", "blink1"}
)
# Modes in which a self-hosted plugin's "host" is a token of a public service instead
# (ntfy:// with only a topic posts to ntfy.sh; matrix's t2bot mode to t2bot.io).
_PUBLIC_MODES = frozenset({"cloud", "t2bot"})
_REASON_LIMIT = 300

# The text part of an email, by the HTML part it goes with (see _install_text_parts).
_TEXT_PARTS: dict[str, str] = {}


def apprise_url_problem(url: str, kind: str) -> str | None:
    """Why Apprise cannot use ``url`` for a channel of ``kind``; None when it can."""
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    known = NotificationManager()  # type: ignore[no-untyped-call]  # Apprise leaves it untyped
    if not scheme or scheme not in known:
        return (
            f"Apprise knows no scheme {scheme + '://' if scheme else '(none)'} "
            "(its URLs: https://github.com/caronc/apprise/wiki)"
        )
    if kind == "email" and scheme not in EMAIL_SCHEMES:
        return f"an email channel's URL is mailto:// or mailtos://, not {scheme}://"
    if scheme in LOCAL_SCHEMES:
        return f"{scheme}:// notifies this machine, not a service over the network"
    if _plugin(url) is None:
        return f"Apprise cannot use this {scheme}:// URL (see its wiki page for {scheme}://)"
    return None


def network_hosts(plugin: Any) -> list[tuple[str, int]]:
    """The hosts (and ports) an Apprise plugin connects to that the network policy must
    allow: the SMTP server of an email, the host of a self-hosted service; none for a
    fixed public service, whose URL's "host" is a token."""
    smtp_host = getattr(plugin, "smtp_host", None)
    if smtp_host:
        return [(str(smtp_host), int(getattr(plugin, "port", None) or 0))]
    tokens = getattr(type(plugin), "template_tokens", None) or {}
    host = getattr(plugin, "host", None)
    if "host" not in tokens or not host or getattr(plugin, "mode", None) in _PUBLIC_MODES:
        return []
    return [(str(host), int(getattr(plugin, "port", None) or 0))]


class AppriseChannel:
    """An ``apprise`` channel (title and body) or an ``email`` one (subject, text, HTML)."""

    def __init__(
        self,
        name: str,
        url: str,
        template: MessageTemplate,
        policy: NetworkPolicy,
        *,
        kind: Literal["apprise", "email"],
        deadline: timedelta,
        pace: Pace,
    ) -> None:
        self.name = name
        self.deadline = deadline  # Apprise's whole call is bounded by it
        self.packs = True
        self.pace = pace
        self._url = url
        self._scheme = url.split("://", 1)[0].lower()
        self._template = template
        self._policy = policy
        self._kind = kind
        if kind == "email":
            _install_text_parts()
        # Apprise's warnings are read from each call's result and told once, with the
        # alert, by the dispatcher: not a second time through the root logger.
        logging.getLogger("apprise").propagate = False

    def send(self, alerts: Sequence[ClaimedAlert]) -> str:
        try:
            parts = self._template.render(compose([alert.event for alert in alerts]))
        except ValueError as exc:  # a TemplateProblem, or alerts that are no one message
            raise DeliveryError(f"cannot render the message: {exc}", permanent=True) from exc
        plugin = _plugin(self._url, self.deadline)
        if plugin is None:  # checked when the channel was built; Apprise changed its mind
            raise DeliveryError(f"Apprise cannot use this {self._scheme}:// URL", permanent=True)
        for host, port in network_hosts(plugin):
            try:
                self._policy.resolve(host.strip("[]"), port)
            except NetworkGuardError as exc:
                permanent = not isinstance(exc, ResolutionError)
                raise DeliveryError(str(exc), permanent=permanent) from None
        if self._kind == "email":
            title, body, body_format = parts["subject"], parts["html"], apprise.NotifyFormat.HTML
        else:
            title, body, body_format = parts["title"], parts["body"], apprise.NotifyFormat.TEXT
        if not body.strip():
            empty = f"the template {self._template.shown} gave an empty body"
            raise DeliveryError(empty, permanent=True)
        if self._kind == "email":
            _TEXT_PARTS[body] = parts["text"]
        try:
            notifier = apprise.Apprise()
            notifier.add(plugin)
            result = notifier.notify(
                body=body,
                title=title,
                body_format=body_format,
                timeout=self.deadline.total_seconds(),
            )
        finally:
            _TEXT_PARTS.pop(body, None)
        if result:
            return f"delivered by apprise ({self._scheme})"
        raise DeliveryError(f"apprise ({self._scheme}): {_reason(result)}")


def _plugin(url: str, deadline: timedelta | None = None) -> Any:
    """A fresh Apprise plugin for ``url`` (None when Apprise cannot use it), with its own
    retries and throttle off, and a too-long message cut rather than sent in pieces.

    Its socket timeouts are kept within ``deadline``: ``notify(timeout=)`` returns at the
    deadline but leaves the sending thread running (Apprise 2.2), which could deliver
    after the dispatcher counted a failure. Timeouts in the URL (``cto``, ``rto``) win.
    """
    plugin = apprise.Apprise.instantiate(url)
    if plugin is None:
        return None
    plugin.service_retry = 0
    plugin.request_rate_per_sec = 0
    if deadline is not None:
        seconds = deadline.total_seconds()
        for attribute, key in (("socket_connect_timeout", "cto="), ("socket_read_timeout", "rto=")):
            current = getattr(plugin, attribute, None)
            if key not in url and isinstance(current, int | float):
                setattr(plugin, attribute, min(current, seconds))
    if "overflow=" not in url:
        plugin.overflow_mode = apprise.OverflowMode.TRUNCATE
    return plugin


def _reason(result: Any) -> str:
    """What Apprise logged for a failed call, in a line."""
    status = getattr(getattr(result, "status", None), "name", "FAILURE")
    logged = [
        " ".join(str(entry.message).split())
        for entry in result.logs()
        if str(getattr(entry, "level", "")) in ("WARNING", "ERROR", "CRITICAL")
    ]
    reason = "; ".join(dict.fromkeys(logged)) or {
        "TIMEOUT": "no answer within the deadline",
        "NOMATCH": "no service to notify",
    }.get(status, "failed, with nothing logged")
    return reason if len(reason) <= _REASON_LIMIT else reason[: _REASON_LIMIT - 1] + "…"


def _install_text_parts() -> None:
    """Make Apprise's email use the template's text part.

    Apprise builds multipart/alternative itself, its text part converted from the HTML
    one; there is no argument for a text part of one's own. Its email module's
    converter is wrapped once: for an HTML body this module registered, it returns the
    registered text; anything else is converted as before.
    """
    from apprise.plugins.email import base

    original: Callable[[Any, Any, str], str] = base.convert_between
    if getattr(original, "rasid_text_parts", False):
        return

    def convert_between(from_format: Any, to_format: Any, content: str) -> str:
        if from_format == apprise.NotifyFormat.HTML and to_format == apprise.NotifyFormat.TEXT:
            text = _TEXT_PARTS.get(content)
            if text is not None:
                return text
        return original(from_format, to_format, content)

    convert_between.rasid_text_parts = True  # type: ignore[attr-defined]  # a marker on a function
    base.convert_between = convert_between


__all__ = ["AppriseChannel", "apprise_url_problem", "network_hosts"]
