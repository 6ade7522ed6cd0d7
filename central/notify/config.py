"""[notify]: how messages reach consumers.

    [notify]
    quiet_hours = "21:00-08:00"        # Singapore time; "none" for none
    [notify.email]                     # absent: e-mails are written to the folder
    host = "smtp.example.sg"
    port = 587
    from_address = "LockerNet <no-reply@example.sg>"
    starttls = true
    username = "lockernet"
    password_file = "smtp-password"
    [notify.sms]                       # absent: SMS are written to the folder
    url = "https://sms.example.sg/v1/messages"
    api_key_file = "sms-api-key"
    sender = "LockerNet"

Without [notify.email] or [notify.sms], that channel's messages go to `folder` (the pickup
notifier's folder by default): development and the simulator see every message there.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from central.notify.quiet import QuietHours, parse_quiet_hours


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EmailConfig(_Section):
    """[notify.email]: an SMTP server (submission: port 587 with STARTTLS)."""

    host: str
    port: int = Field(default=587, ge=1, le=65535)
    from_address: str = Field(alias="from", min_length=3)
    starttls: bool = True
    username: str | None = None
    password_file: Path | None = None
    timeout_s: float = Field(default=20.0, gt=0)

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


class SmsConfig(_Section):
    """[notify.sms]: an HTTP SMS provider taking a JSON POST (central/notify/sms.py)."""

    url: str = Field(pattern=r"^https?://")
    api_key_file: Path
    sender: str = Field(min_length=1, max_length=11)  # alphanumeric sender ids: 11 at most
    timeout_s: float = Field(default=10.0, gt=0)


class NotifyConfig(_Section):
    """[notify]: quiet hours, the retry policy, and the channels' transports."""

    quiet_hours: str = "21:00-08:00"
    # None: the pickup notifier's folder ([pickup] notify_folder).
    folder: Path | None = None
    # Retries wait from retry_first_s, doubling to retry_max_s (with jitter); a message is
    # given up after max_attempts.
    retry_first_s: float = Field(default=30.0, gt=0)
    retry_max_s: float = Field(default=3600.0, gt=0)
    max_attempts: int = Field(default=8, ge=1)
    # The API's public address: each e-mail carries a one-click unsubscribe link under it
    # (None: no link; the e-mail says to reply STOP). The link's key is in link_secret_file.
    public_url: str | None = Field(default=None, pattern=r"^https?://")
    link_secret_file: Path = Path("notify-link.key")
    email: EmailConfig | None = None
    sms: SmsConfig | None = None

    @field_validator("quiet_hours")
    @classmethod
    def _quiet(cls, value: str) -> str:
        parse_quiet_hours(value)
        return value

    @property
    def quiet(self) -> QuietHours:
        return parse_quiet_hours(self.quiet_hours)
