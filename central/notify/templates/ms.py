"""The messages in Malay (SMS in GSM-7: 160 characters)."""

from __future__ import annotations

from central.notify.kinds import MessageKind
from central.notify.templates.texts import Language, Texts

MALAY = Language(
    texts={
        MessageKind.READY_FOR_PICKUP: Texts(
            "Bungkusan $label sedia untuk diambil",
            "$greeting\n\nBungkusan anda $label sedia untuk diambil di $place.\n$how\n\n"
            "    $code\n\nSila ambil sebelum $until. Selepas itu ia dihantar balik.\n",
            "Bungkusan $label di $sms_place. Kod $code. Ambil sebelum $until. "
            "Balas STOP untuk henti",
            "Bungkusan di $sms_place. Kod $code. Ambil sebelum $until",
            "Bungkusan di $sms_place. Kod $code. Sebelum $until. QR: $link",
            "Kod ambilan $code, QR: $link",
        ),
        MessageKind.REMINDER: Texts(
            "Peringatan: bungkusan $label menunggu",
            "$greeting\n\nBungkusan anda $label masih menunggu di $place.\nSila ambil sebelum "
            "$until dengan kod yang kami hantar. Selepas itu ia dihantar balik.\n",
            "Peringatan: bungkusan $label di $sms_place hingga $until. Balas STOP untuk henti",
            "Bungkusan di $sms_place hingga $until",
        ),
        MessageKind.EXPIRY: Texts(
            "Bungkusan $label tidak diambil",
            "$greeting\n\nBungkusan anda $label tidak diambil dari $place pada masanya dan "
            "dihantar balik kepada pengirim.\n",
            "Bungkusan $label tidak diambil dari $sms_place dan dihantar balik",
            "Bungkusan tidak diambil; dihantar balik",
        ),
        MessageKind.REDIRECT: Texts(
            "Bungkusan $label kini di $site_name",
            "$greeting\n\nKami tidak dapat menghantar bungkusan $label ke rumah anda; ia kini "
            "menunggu di $place.\n$how\n\n    $code\n\nSila ambil sebelum $until.\n",
            "Bungkusan $label kini di $sms_place. Kod $code. Ambil sebelum $until",
            "Bungkusan di $sms_place. Kod $code. Sebelum $until",
            "Bungkusan kini di $sms_place. Kod $code. Sebelum $until. QR: $link",
            "Kod ambilan $code, QR: $link",
        ),
        MessageKind.FAILED_ATTEMPT: Texts(
            "Bungkusan $label tidak dapat dihantar",
            "$greeting\n\nKurier kami tidak dapat menghantar bungkusan $label pada $at: "
            "$reason.\nKami akan membawanya ke loker atau kaunter berdekatan dan menghantar "
            "kodnya.\n$choice_line",
            "Bungkusan $label tidak dihantar pada $at: $reason. Kod ambilan menyusul",
            "Bungkusan tidak dihantar: $reason. Kod menyusul",
            "Bungkusan $label tidak dihantar: $reason. Pilih loker atau kaunter sebelum "
            "$choose_by: $link",
            "Pilih tempat ambil bungkusan: $link",
        ),
        MessageKind.RETURN_RECEIVED: Texts(
            "Pulangan $label diterima",
            "$greeting\n\nPulangan anda $label diserahkan di $place pada $at.\n${receipt_line}"
            "Simpan mesej ini sebagai resit.\n",
            "Pulangan $label diterima di $sms_place, $at. Simpan sebagai resit",
            "Pulangan diterima di $sms_place, $at",
        ),
        MessageKind.OUT_FOR_DELIVERY: Texts(
            "Bungkusan $label dihantar hari ini",
            "$greeting\n\nBungkusan anda $label sedang dihantar oleh kurier kami hari ini.\n"
            "Berikan kod ini kepada kurier di pintu anda; ia bukti bungkusan sampai kepada "
            "anda:\n\n    $door_code\n\nKod ini sah hingga $until. Jangan berikan kepada "
            "orang lain.\n",
            "Bungkusan $label sedang dihantar. Berikan kod ini kepada kurier di pintu: "
            "$door_code. Sah hingga $until",
            "Berikan kurier di pintu kod $door_code. Sah hingga $until",
        ),
        MessageKind.CODE_REISSUED: Texts(
            "Kod baharu untuk bungkusan $label",
            "$greeting\n\nKami telah mengeluarkan kod ambilan baharu untuk bungkusan $label di "
            "$place. Kod yang kami hantar sebelum ini tidak lagi sah.\n$how\n\n    $code\n\n"
            "Sila ambil sebelum $until.\n",
            "Kod baharu bungkusan $label di $sms_place: $code. Kod lama tidak sah lagi. "
            "Ambil sebelum $until",
            "Kod baharu $code di $sms_place; kod lama tidak sah. Sebelum $until",
            "Kod baharu $code di $sms_place. Kod lama tidak sah lagi. QR: $link",
            "Kod baharu $code, QR: $link",
        ),
    },
    greeting=("Salam $name,", "Salam,"),
    how_locker="Imbas kod QR di pengimbas loker, atau taip kod ini:",
    how_counter="Tunjukkan kod QR di kaunter; staf mengimbasnya, atau menaip kod ini:",
    receipt="Resit: {}\n",
    choice="Anda boleh memilih tempat mengambilnya (loker atau pusat pengumpulan) sebelum "
    "$choose_by: $choice_link\n",
)
