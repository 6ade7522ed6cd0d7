"""The messages in English (SMS in GSM-7: 160 characters)."""

from __future__ import annotations

from central.notify.kinds import MessageKind
from central.notify.templates.texts import Language, Texts

ENGLISH = Language(
    texts={
        MessageKind.READY_FOR_PICKUP: Texts(
            "Your parcel $label is ready for pickup",
            "$greeting\n\nYour parcel $label is ready for pickup at $place.\n$how\n\n"
            "    $code\n\nPlease collect it before $until. After that it is sent back.\n",
            "Parcel $label is at $sms_place. Code $code. Collect by $until. Reply STOP to opt out",
            "Parcel at $sms_place. Code $code. Collect by $until",
            "Parcel at $sms_place. Code $code. By $until. QR: $link",
            "Pickup code $code, QR: $link",
        ),
        MessageKind.REMINDER: Texts(
            "Reminder: your parcel $label is waiting",
            "$greeting\n\nYour parcel $label is still waiting at $place.\nPlease collect it "
            "before $until with the code we sent you. After that it is sent back.\n",
            "Reminder: parcel $label waits at $sms_place until $until. Reply STOP to opt out",
            "Parcel waits at $sms_place until $until",
        ),
        MessageKind.EXPIRY: Texts(
            "Your parcel $label was not collected",
            "$greeting\n\nYour parcel $label was not collected from $place in time and is "
            "being sent back to the sender.\n",
            "Parcel $label was not collected from $sms_place and is sent back",
            "Parcel not collected from $sms_place; sent back",
        ),
        MessageKind.REDIRECT: Texts(
            "Your parcel $label now waits at $site_name",
            "$greeting\n\nWe could not deliver your parcel $label to your door, so it now "
            "waits for you at $place.\n$how\n\n    $code\n\nPlease collect it before $until.\n",
            "Parcel $label moved to $sms_place. Code $code. Collect by $until",
            "Parcel at $sms_place. Code $code. By $until",
            "Parcel moved to $sms_place. Code $code. By $until. QR: $link",
            "Pickup code $code, QR: $link",
        ),
        MessageKind.FAILED_ATTEMPT: Texts(
            "We could not deliver your parcel $label",
            "$greeting\n\nOur courier could not deliver your parcel $label at $at: $reason.\n"
            "We will take it to a locker or collection point near you and send you its code.\n"
            "$choice_line",
            "Parcel $label not delivered at $at: $reason. We will send a pickup code",
            "Parcel not delivered: $reason. Pickup code follows",
            "Parcel $label not delivered: $reason. Choose a locker or counter by $choose_by: $link",
            "Choose where to collect your parcel: $link",
        ),
        MessageKind.RETURN_RECEIVED: Texts(
            "We have your return $label",
            "$greeting\n\nYour return $label was dropped off at $place at $at.\n${receipt_line}"
            "Keep this message as your receipt; it goes back to the seller now.\n",
            "Return $label received at $sms_place, $at. Keep this as your receipt",
            "Return received at $sms_place, $at",
        ),
        MessageKind.OUT_FOR_DELIVERY: Texts(
            "Your parcel $label is out for delivery today",
            "$greeting\n\nYour parcel $label is out for delivery with our courier today.\n"
            "Give this code to the courier at your door; it is your proof that the parcel "
            "reached you:\n\n    $door_code\n\nThe code is valid until $until. Do not give "
            "it to anyone else.\n",
            "Parcel $label is out for delivery. Give this code to the courier at your door: "
            "$door_code. Valid until $until",
            "Give the courier at your door code $door_code. Valid until $until",
        ),
        MessageKind.CODE_REISSUED: Texts(
            "A new pickup code for your parcel $label",
            "$greeting\n\nWe have issued a new pickup code for your parcel $label at $place. "
            "The code we sent you before no longer works.\n$how\n\n    $code\n\n"
            "Please collect it before $until.\n",
            "New code for parcel $label at $sms_place: $code. The old code no longer works. "
            "Collect by $until",
            "New code $code at $sms_place; old code void. By $until",
            "New code $code at $sms_place. The old code no longer works. QR: $link",
            "New pickup code $code, QR: $link",
        ),
    },
    greeting=("Hello $name,", "Hello,"),
    how_locker="Scan the QR code at the locker's scanner, or type this code:",
    how_counter="Show the QR code at the counter; staff scan it, or can type this code:",
    receipt="Receipt: {}\n",
    choice="You can choose where to collect it (a locker or a collection point) before "
    "$choose_by: $choice_link\n",
)
