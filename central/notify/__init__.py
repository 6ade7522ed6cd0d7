"""Messages to consumers: queued with the step that causes them, sent by e-mail and SMS."""

from central.notify.kinds import Channel, MessageKind
from central.notify.queue import queue_notification

__all__ = ["Channel", "MessageKind", "queue_notification"]
