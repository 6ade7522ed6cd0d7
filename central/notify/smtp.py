"""E-mail over SMTP (smtplib): one connection per message, STARTTLS when configured.

A reply in the 5xx range to the recipient (an address the server refuses) is permanent; a
4xx, a refused connection or a timeout is retried. Each message carries a Message-ID made
from its queue row, so a message sent again after a crash (the server accepted it, the
commit did not happen) is recognisable as the same one.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Callable
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from central.notify.config import EmailConfig
from central.notify.transports import SendFailed, read_secret
from central.parcels.pickup_codes import IssuedCode, render_qr_png
from central.store.queries.notifications import NotificationRecord
from protocols.tokens import short_form

PERMANENT_SMTP_CODES = range(500, 600)


class SmtpTransport:
    """Sends e-mails through the configured SMTP server."""

    def __init__(
        self, config: EmailConfig, unsubscribe: Callable[[str], str] | None = None
    ) -> None:
        self.config = config
        # The recipient's one-click unsubscribe link (None: "reply STOP" instead).
        self.unsubscribe = unsubscribe
        self._password = (
            read_secret(config.password_file, "notify.email.password_file")
            if config.password_file is not None
            else None
        )

    def message(self, notification: NotificationRecord) -> EmailMessage:
        """The e-mail for a queued message (plain text, UTF-8), with the pickup code's QR
        image attached when the message carries one."""
        n = notification
        mail = EmailMessage()
        mail["From"] = self.config.from_address
        mail["To"] = n.recipient
        mail["Subject"] = n.subject or ""
        mail["Date"] = formatdate(localtime=False)
        domain = self.config.from_address.rsplit("@", 1)[-1].strip("> ")
        mail["Message-ID"] = make_msgid(f"notification-{n.id}", domain=domain or None)
        mail["X-LockerNet-Notification"] = f"{n.label}/{n.message}/{n.step_key}"
        if self.unsubscribe is not None:
            link = self.unsubscribe(n.recipient)
            # RFC 8058: mail clients show their own one-click "unsubscribe" for these.
            mail["List-Unsubscribe"] = f"<{link}>"
            mail["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
            footer = f"To stop these e-mails: {link}"
        else:
            footer = "To stop these e-mails, reply STOP."
        mail.set_content(f"{n.body}\n-- \n{footer}\n")
        if n.qr_text:
            # The image the locker's scanner reads (the short form printed under it).
            issued = IssuedCode(n.qr_text, short_form(n.qr_text), "", 0, "", n.label)
            png = render_qr_png(issued)
            mail.add_attachment(png, maintype="image", subtype="png", filename=f"{n.label}.png")
        return mail

    def send(self, notification: NotificationRecord) -> str | None:
        """Send it; returns the Message-ID. SendFailed (permanent for a 5xx refusal)."""
        mail = self.message(notification)
        where = self.config.address
        try:
            with smtplib.SMTP(
                self.config.host, self.config.port, timeout=self.config.timeout_s
            ) as smtp:
                if self.config.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if self.config.username and self._password is not None:
                    smtp.login(self.config.username, self._password)
                smtp.send_message(mail)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            permanent = all(code in PERMANENT_SMTP_CODES for code in codes)
            raise SendFailed(
                f"{where} refused the recipient: {codes}", permanent=permanent
            ) from exc
        except smtplib.SMTPResponseException as exc:
            permanent = exc.smtp_code in PERMANENT_SMTP_CODES and exc.smtp_code != 552
            raise SendFailed(
                f"{where} answered {exc.smtp_code} {exc.smtp_error!r}", permanent=permanent
            ) from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise SendFailed(f"SMTP {where}: {type(exc).__name__}: {exc}") from exc
        return str(mail["Message-ID"])
