"""Delivery channels: where an alert goes (a signed webhook, Slack, Apprise's long tail of
services, email, the console).

A channel is anything with a ``name``, a ``deadline``, a :class:`Pace` and
``send(alerts)`` that delivers one message and returns the receiver's answer in a few
words, or raises :class:`~monitor.errors.DeliveryError` (``permanent`` when retrying cannot
help). A channel whose ``packs`` is true takes several alerts as one message (an article
two watchlists matched, a burst of matches); one that does not (a signed webhook: one
event per ``webhook-id``) is always given one.

The deadline bounds one send: ``[[channels]] timeout``, else ``[alerts] timeout``;
the dispatcher leases each alert for longer than it. Channels keep no delivery state:
retries, order and dead letters belong to the outbox and the dispatcher.

Every channel but the webhook words its messages through a template
(alerts/templating.py), compiled and rendered against a sample of each message kind when
the channel is built: a template that fails is refused with its file and line before the
service starts. Apprise is imported only when an Apprise or email channel is built.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol, TextIO

from alerts.channels.console import ConsoleChannel
from alerts.outbox import ClaimedAlert
from alerts.signing import decode_secret
from alerts.templating import MessageTemplate, TemplateProblem, checked_template
from monitor.clock import Clock
from monitor.config import ChannelSettings, Settings
from monitor.netguard import NetworkPolicy


@dataclass(frozen=True)
class Pace:
    """How fast a channel may be sent to, and when it holds its instant alerts.

    ``rate`` messages per second with up to ``burst`` at once (a token bucket); None: no
    limit. ``quiet_hours`` is a window of minutes of the day in ``time_zone`` (it may wrap
    midnight) during which only urgent alerts go.
    """

    rate: float | None = None
    burst: int = 3
    quiet_hours: tuple[int, int] | None = None
    time_zone: str = "UTC"

    @classmethod
    def of(cls, entry: ChannelSettings) -> Pace:
        return cls(entry.messages_per_second, entry.burst, entry.quiet_hours, entry.time_zone)


class Channel(Protocol):
    name: str
    deadline: timedelta
    packs: bool
    pace: Pace

    def send(self, alerts: Sequence[ClaimedAlert]) -> str:
        """Deliver ``alerts`` as one message (one alert unless ``packs``) and return the
        receiver's answer, or raise DeliveryError."""
        ...


def build_channels(
    settings: Settings, policy: NetworkPolicy, clock: Clock, stream: TextIO | None = None
) -> dict[str, Channel]:
    """One channel per active configured channel (a console one when none is configured).

    Raises ConfigError naming the key when a channel's own settings are wrong (a secret
    that is not a ``whsec_`` key, a template that fails with its file and line, an
    Apprise URL Apprise does not know), so the service refuses them before it starts.

    Each HTTP channel gets its own client, so channels never share a connection or a
    deadline. URLs are not checked here but at every send, by the network guard.
    """
    channels: dict[str, Channel] = {}
    for entry in settings.effective_channels():
        if entry.active:
            channels[entry.name] = build_channel(entry, settings, policy, clock, stream)
    return channels


def build_channel(
    entry: ChannelSettings,
    settings: Settings,
    policy: NetworkPolicy,
    clock: Clock,
    stream: TextIO | None = None,
) -> Channel:
    deadline = entry.timeout or settings.alerts.timeout
    if entry.secret:
        try:
            decode_secret(entry.secret)
        except ValueError as exc:
            raise settings.key_error("channels", entry, "secret", str(exc)) from None
    pace = Pace.of(entry)
    template = channel_template(entry, settings, clock)
    if entry.kind == "console":
        assert template is not None
        return ConsoleChannel(entry.name, stream, deadline=deadline, pace=pace, template=template)
    assert entry.url is not None  # an active webhook, Slack, Apprise or email channel has a URL
    if entry.kind in ("apprise", "email"):
        assert template is not None
        # Apprise (and its plugins) is loaded only when such a channel is configured.
        from alerts.channels.apprise import AppriseChannel, apprise_url_problem

        problem = apprise_url_problem(entry.url, entry.kind)
        if problem is not None:
            raise settings.key_error("channels", entry, "url", problem)
        return AppriseChannel(
            entry.name,
            entry.url,
            template,
            policy,
            kind="email" if entry.kind == "email" else "apprise",
            deadline=deadline,
            pace=pace,
        )
    # HTTP channels load requests (a twentieth of an idle run's CPU) only when configured.
    from alerts.channels.slack import SlackChannel
    from alerts.channels.webhook import WebhookChannel
    from monitor.guarded_http import GuardedClient

    client = GuardedClient(policy, timeout=deadline, user_agent=settings.crawl.user_agent)
    if entry.kind == "slack":
        # The notification line is the code's (slack_notification) unless the channel
        # names a template of its own; the blocks are always built in code.
        own = template if entry.template is not None else None
        return SlackChannel(
            entry.name, entry.url, client, clock, deadline=deadline, pace=pace, template=own
        )
    return WebhookChannel(
        entry.name, entry.url, client, clock, secret=entry.secret, deadline=deadline, pace=pace
    )


def channel_template(
    entry: ChannelSettings, settings: Settings, clock: Clock
) -> MessageTemplate | None:
    """The channel's checked template (its ``template`` file, else its kind's default);
    None for a webhook, whose body is the event's JSON. ConfigError, naming the file, the
    line and the problem, for one that does not compile or render."""
    if entry.kind == "webhook":
        if entry.template is not None:
            raise settings.key_error(
                "channels", entry, "template", "a webhook sends the event's JSON, not a template"
            )
        return None
    path = None if entry.template is None else settings.base_dir / entry.template
    try:
        return checked_template(
            entry.kind, path, time_zone=entry.time_zone, shown=entry.template, now=clock.now()
        )
    except TemplateProblem as exc:
        raise settings.key_error("channels", entry, "template", str(exc)) from None


__all__ = [
    "Channel",
    "ConsoleChannel",
    "Pace",
    "build_channel",
    "build_channels",
    "channel_template",
]
