"""Pub/Sub: the topic of classify requests, its dead-letter topic, and the subscription that
keeps the dead letters (a topic without one drops them)."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from .config import ProvisionError
from .steps import Result, Run, Step, noted

if TYPE_CHECKING:
    from google.cloud import pubsub_v1

HOLD_RETENTION_S = 7 * 24 * 3600  # Pub/Sub's maximum


def ensure_topic(publisher: pubsub_v1.PublisherClient, project: str, topic: str) -> Result:
    """Create the topic if missing."""
    from google.api_core import exceptions

    path = publisher.topic_path(project, topic)
    try:
        publisher.get_topic(topic=path)
        return Result("exists")
    except exceptions.NotFound:
        pass
    try:
        publisher.create_topic(name=path)
        return Result("created")
    except exceptions.AlreadyExists:
        return Result("exists")


def subscription_fixes(subscription: Any) -> dict[str, str]:
    """Fields of a hold subscription (a `pubsub_v1.types.Subscription`) to set: path -> why."""
    pb = type(subscription).pb(subscription)
    fixes = {}
    if pb.message_retention_duration.ToSeconds() != HOLD_RETENTION_S:
        fixes["message_retention_duration"] = "retention 7 days"
    if not pb.HasField("expiration_policy") or pb.expiration_policy.HasField("ttl"):
        fixes["expiration_policy"] = "never expires"  # the default: 31 days without a reader
    return fixes


def ensure_hold_subscription(
    subscriber: pubsub_v1.SubscriberClient, project: str, topic: str, name: str
) -> Result:
    """A pull subscription on the dead-letter topic keeping its messages for 7 days."""
    from google.api_core import exceptions

    path = subscriber.subscription_path(project, name)
    topic_path = subscriber.topic_path(project, topic)
    wanted = {
        "name": path,
        "topic": topic_path,
        "message_retention_duration": timedelta(seconds=HOLD_RETENTION_S),
        "expiration_policy": {},  # present without a ttl: never expires
    }
    try:
        current = subscriber.get_subscription(subscription=path)
    except exceptions.NotFound:
        try:
            subscriber.create_subscription(request=wanted)
            return Result("created", "created (7 days' retention)")
        except exceptions.AlreadyExists:
            current = subscriber.get_subscription(subscription=path)
    if current.topic != topic_path:
        raise ProvisionError(
            f"subscription {path} is attached to {current.topic}, not {topic_path}: "
            "a subscription cannot change topic; delete it or choose another --dead-letter-topic"
        )
    fixes = subscription_fixes(current)
    if not fixes:
        return Result("exists")
    subscriber.update_subscription(
        request={"subscription": wanted, "update_mask": {"paths": list(fixes)}}
    )
    return noted("updated", list(fixes.values()))


def topic_step(run: Run, topic: str) -> Step:
    project = run.config.project
    return Step("topic", f"projects/{project}/topics/{topic}", "create if missing",
                lambda: ensure_topic(run.clients.publisher, project, topic))  # fmt: skip


def hold_step(run: Run) -> Step:
    c = run.config
    return Step(
        "subscription", f"projects/{c.project}/subscriptions/{c.hold_subscription}",
        f"create on topic {c.dead_letter_topic} if missing; 7 days' retention, never expires",
        lambda: ensure_hold_subscription(run.clients.subscriber, c.project,
                                         c.dead_letter_topic, c.hold_subscription),
    )  # fmt: skip
