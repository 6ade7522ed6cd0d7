"""The pickup follow-ups' notifier once a real channel is configured: nothing of its own.

The pickup code, the reminder and the expiry are queued for the consumer's e-mail and SMS in
the step's transaction (central/parcels/pickup.py); the folder notifier, which writes the
code's QR image to a folder, is the default only while no server is configured
(development, the simulator).
"""

from __future__ import annotations

from central.parcels.pickup import Reminder
from central.parcels.pickup_codes import Notification, PickupNotice


class QueuedOnly:
    """A Notifier and ReminderSender that leaves the consumer's messages to the queue."""

    def notify(self, notice: PickupNotice) -> Notification:
        """Nothing to do: the e-mail (with the QR image) and the SMS are queued."""
        return Notification(parcel=notice.issued.parcel, qr_version=0)

    def remind(self, reminder: Reminder) -> None:
        """Nothing to do: the reminder is queued."""
