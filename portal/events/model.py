"""The event record and its parts, as stored, published and sent to desktops."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from portal.errors import InvalidInput
from portal.models import EventRecord, Role

TOPIC_PATTERN = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
MAX_PAYLOAD_BYTES = 32 * 1024


@dataclass(frozen=True)
class Audience:
    """The recipients of an event: these users, plus every user with one of these roles."""

    users: frozenset[int] = frozenset()
    roles: frozenset[Role] = frozenset()

    @classmethod
    def of(cls, *, users: Iterable[int] = (), roles: Iterable[Role | str] = ()) -> Audience:
        audience = cls(users=frozenset(users), roles=frozenset(Role(role) for role in roles))
        if not audience.users and not audience.roles:
            raise InvalidInput("An event audience needs at least one user or role.",
                               field="audience")
        return audience

    def includes(self, *, user_id: int, role: Role) -> bool:
        return user_id in self.users or role in self.roles


@dataclass(frozen=True)
class Notification:
    """The toast a desktop shows for an event. `open` names the window a click opens."""

    title: str
    body: str = ""
    open_app: str | None = None
    open_window: str | None = None
    open_params: dict[str, str] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        target = None
        if self.open_app is not None and self.open_window is not None:
            target = {"app": self.open_app, "window": self.open_window,
                      "params": dict(self.open_params)}
        return {"title": self.title[:200], "body": self.body[:1000], "open": target}


@dataclass(frozen=True)
class EventDraft:
    """An event to stage: what `AppContext.publish_all` takes for each event."""

    topic: str
    payload: dict[str, Any]
    audience: Audience
    notification: Notification | None = None


@dataclass(frozen=True)
class Event:
    id: str
    seq: int
    tenant_id: int
    topic: str
    time: datetime
    payload: dict[str, Any]
    audience: Audience
    notification: dict[str, Any] | None = None

    @classmethod
    def from_record(cls, record: EventRecord) -> Event:
        return cls(
            id=record.id, seq=record.seq, tenant_id=record.tenant_id, topic=record.topic,
            time=record.time, payload=record.payload, notification=record.notification,
            audience=Audience(users=frozenset(record.audience_users),
                              roles=frozenset(Role(role) for role in record.audience_roles)),
        )

    def as_json(self) -> dict[str, Any]:
        """Return the shape sent to desktops; the audience stays on the server."""
        return {
            "id": self.id, "seq": self.seq, "tenant": self.tenant_id, "topic": self.topic,
            "time": self.time.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "payload": self.payload,
            "notification": self.notification,
        }


def check_topic(topic: str) -> str:
    if not TOPIC_PATTERN.match(topic) or len(topic) > 128:
        raise InvalidInput(
            f"Invalid event topic {topic!r}: use dotted lowercase words such as "
            "'ticketcloud.ticket.assigned'.", field="topic")
    return topic
