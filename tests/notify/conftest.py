"""The notification tests' servers: a real SMTP server and a local SMS provider, per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.notify.servers import SmsProvider, SmtpServer, running_sms_provider, running_smtp_server


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """A real SMTP server (aiosmtpd) on a free loopback port; `.inbox.messages`."""
    with running_smtp_server() as server:
        yield server


@pytest.fixture
def sms_provider() -> Iterator[SmsProvider]:
    """A local HTTP server playing the SMS provider, on a free loopback port."""
    with running_sms_provider() as provider:
        yield provider
