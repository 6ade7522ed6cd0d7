"""The messages in Tamil (SMS in UCS-2: 70 UTF-16 units; a Tamil letter with a vowel sign
or a pulli takes two, so the short texts name the place and the code and little else).

A code's link takes most of 70 units, so its short form is the code and the link alone, in
Latin letters: that SMS goes out in GSM-7 (160), and a locker's scanner reads the page."""

from __future__ import annotations

from central.notify.kinds import MessageKind
from central.notify.templates.texts import Language, Texts

TAMIL = Language(
    texts={
        MessageKind.READY_FOR_PICKUP: Texts(
            "உங்கள் பார்சல் $label பெற்றுக்கொள்ளத் தயார்",
            "$greeting\n\nஉங்கள் பார்சல் $label பெற்றுக்கொள்ளத் தயாராக உள்ளது. இடம்: "
            "$place.\n$how\n\n    $code\n\n$until-க்குள் பெற்றுக்கொள்ளவும். அதன் பிறகு அது "
            "அனுப்புநருக்குத் திருப்பி அனுப்பப்படும்.\n",
            "பார்சல் $label தயார்: $sms_place. குறியீடு $code, $until வரை",
            "$sms_place: குறியீடு $code, $until வரை",
            "பார்சல் $label: $sms_place. குறியீடு $code. QR: $link",
            "$code QR: $link",
        ),
        MessageKind.REMINDER: Texts(
            "நினைவூட்டல்: உங்கள் பார்சல் $label காத்திருக்கிறது",
            "$greeting\n\nஉங்கள் பார்சல் $label இன்னும் காத்திருக்கிறது. இடம்: $place.\n"
            "நாங்கள் அனுப்பிய குறியீட்டுடன் $until-க்குள் பெற்றுக்கொள்ளவும். அதன் பிறகு அது "
            "திருப்பி அனுப்பப்படும்.\n",
            "நினைவூட்டல்: பார்சல் $label, $sms_place, $until வரை",
            "காத்திருக்கிறது: $sms_place, $until வரை",
        ),
        MessageKind.EXPIRY: Texts(
            "உங்கள் பார்சல் $label பெற்றுக்கொள்ளப்படவில்லை",
            "$greeting\n\nஉங்கள் பார்சல் $label உரிய நேரத்தில் பெற்றுக்கொள்ளப்படவில்லை (இடம்: "
            "$place). அது அனுப்புநருக்குத் திருப்பி அனுப்பப்படுகிறது.\n",
            "பார்சல் $label பெறப்படவில்லை ($sms_place); திருப்பி அனுப்பப்படுகிறது",
            "பார்சல் பெறப்படவில்லை; திருப்பி அனுப்பப்படுகிறது",
        ),
        MessageKind.REDIRECT: Texts(
            "உங்கள் பார்சல் $label: புதிய இடம் $site_name",
            "$greeting\n\nஉங்கள் பார்சல் $label-ஐ உங்கள் வீட்டில் ஒப்படைக்க முடியவில்லை; அது "
            "இப்போது உங்களுக்காகக் காத்திருக்கிறது. இடம்: $place.\n$how\n\n    $code\n\n"
            "$until-க்குள் பெற்றுக்கொள்ளவும்.\n",
            "பார்சல் $label புதிய இடம்: $sms_place. குறியீடு $code, $until வரை",
            "$sms_place: குறியீடு $code, $until வரை",
            "பார்சல் $label புதிய இடம்: $sms_place. குறியீடு $code. QR: $link",
            "$code QR: $link",
        ),
        MessageKind.FAILED_ATTEMPT: Texts(
            "உங்கள் பார்சல் $label-ஐ ஒப்படைக்க முடியவில்லை",
            "$greeting\n\nஎங்கள் கூரியரால் உங்கள் பார்சல் $label-ஐ ஒப்படைக்க முடியவில்லை "
            "($at): $reason.\nஅதை உங்களுக்கு அருகிலுள்ள லாக்கர் அல்லது சேகரிப்பு மையத்துக்குக் "
            "கொண்டு சென்று, அதன் குறியீட்டை அனுப்புவோம்.\n$choice_line",
            "பார்சல் $label ஒப்படைக்கப்படவில்லை: $reason. குறியீடு பின்னர் வரும்",
            "ஒப்படைக்கப்படவில்லை: $reason. குறியீடு வரும்",
            "பார்சல் ஒப்படைக்கப்படவில்லை. $choose_by-க்குள் இடத்தைத் தேர்வுசெய்க: $link",
            "இடத்தைத் தேர்வுசெய்க: $link",
        ),
        MessageKind.RETURN_RECEIVED: Texts(
            "நீங்கள் திருப்பி அனுப்பிய $label கிடைத்தது",
            "$greeting\n\nநீங்கள் திருப்பி அனுப்பும் பார்சல் $label ஒப்படைக்கப்பட்டது ($at). "
            "இடம்: $place.\n${receipt_line}இந்தச் செய்தியை உங்கள் ரசீதாக வைத்திருங்கள்; அது "
            "இப்போது விற்பனையாளருக்குத் திருப்பி அனுப்பப்படுகிறது.\n",
            "திருப்பிய பார்சல் $label கிடைத்தது: $sms_place, $at. இதுவே ரசீது",
            "கிடைத்தது: $sms_place, $at. இதுவே ரசீது",
        ),
        MessageKind.OUT_FOR_DELIVERY: Texts(
            "உங்கள் பார்சல் $label இன்று விநியோகிக்கப்படும்",
            "$greeting\n\nஉங்கள் பார்சல் $label இன்று எங்கள் கூரியர் மூலம் உங்கள் வீட்டுக்கு "
            "வருகிறது.\nவீட்டு வாசலில் கூரியரிடம் இந்தக் குறியீட்டைக் கொடுக்கவும்; பார்சல் "
            "உங்களை அடைந்ததற்கு அதுவே சான்று:\n\n    $door_code\n\nஇந்தக் குறியீடு $until "
            "வரை செல்லுபடியாகும். இதை வேறு யாரிடமும் கொடுக்க வேண்டாம்.\n",
            "பார்சல் $label இன்று வருகிறது. கூரியரிடம் குறியீடு $door_code கொடுக்கவும்",
            "கூரியரிடம் குறியீடு $door_code கொடுக்கவும், $until வரை",
        ),
        MessageKind.CODE_REISSUED: Texts(
            "உங்கள் பார்சல் $label-க்குப் புதிய குறியீடு",
            "$greeting\n\nஉங்கள் பார்சல் $label-க்குப் புதிய பெறும் குறியீட்டை "
            "வழங்கியுள்ளோம். இடம்: $place. முன்பு அனுப்பிய குறியீடு இனி வேலை செய்யாது.\n"
            "$how\n\n    $code\n\n$until-க்குள் பெற்றுக்கொள்ளவும்.\n",
            "பார்சல் $label புதிய குறியீடு $code ($sms_place). பழையது செல்லாது",
            "புதிய குறியீடு $code; பழையது செல்லாது. $until வரை",
            "புதிய குறியீடு $code, பழையது செல்லாது. QR: $link",
            "$code QR: $link",
        ),
    },
    greeting=("வணக்கம் $name,", "வணக்கம்,"),
    how_locker="லாக்கரின் ஸ்கேனரில் QR குறியீட்டை ஸ்கேன் செய்யவும், அல்லது இந்தக் குறியீட்டை உள்ளிடவும்:",
    how_counter="கவுண்டரில் QR குறியீட்டைக் காட்டவும்; ஊழியர்கள் அதை ஸ்கேன் செய்வார்கள், "
    "அல்லது இந்தக் குறியீட்டை உள்ளிடுவார்கள்:",
    receipt="ரசீது எண்: {}\n",
    choice="பார்சலை எங்கே பெற்றுக்கொள்வது (லாக்கர் அல்லது சேகரிப்பு மையம்) என்பதை "
    "$choose_by-க்குள் இங்கே தேர்வுசெய்யலாம்: $choice_link\n",
)
