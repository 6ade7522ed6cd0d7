"""What a site's agent says when the production broker will not have it: a site missing
from the broker's ACL (the broker accepts the connection, refuses the site its topics and
closes it), and a site certificate from another CA (the broker ends the TLS handshake).
Each line names the broker's host:port, what refused what, and what to check."""

from __future__ import annotations

import asyncio
import logging
import tomllib
from pathlib import Path
from typing import Any

import pytest

from central.pki.authority import Pki, init_pki
from protocols.topics import Topics
from tests.edge.rig import SiteRig
from tests.eventually import eventually_async
from tests.security.conftest import SITES, SecureBroker

pytestmark = [pytest.mark.broker, pytest.mark.pty]


def _broker_settings(secure: SecureBroker, pki: Pki, site: str, out: Path) -> dict[str, Any]:
    """The site's broker settings as `issue-site` of `pki` wrote them in its bundle."""
    pki.issue_site(site, out, broker_host="127.0.0.1", broker_port=secure.tls_port)
    fragment = tomllib.loads((out / "site.toml").read_text())
    return {f"broker.{key}": value for key, value in fragment["broker"].items()}


def _lines(caplog: pytest.LogCaptureFixture, fragment: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if fragment in r.getMessage()]


async def _run_until(rig: SiteRig, condition: Any, what: str) -> None:
    await rig.start()
    try:
        await eventually_async(condition, timeout=30, what=what)
    finally:
        await rig.stop()


def test_a_site_missing_from_the_acl_is_told_the_broker_refused_it_and_what_to_check(
    secure: SecureBroker, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    site = "L0099"
    assert site not in SITES  # the broker's ACL was rendered without it
    caplog.set_level(logging.INFO, logger="edge.uplink")
    overrides = _broker_settings(secure, secure.pki, site, tmp_path / "bundle")
    rig = SiteRig(tmp_path, secure.broker, Topics(secure.root), site_id=site, overrides=overrides)
    where = f"127.0.0.1:{secure.tls_port}"
    closed = f"site {site}: broker {where} closed the connection: the broker refused"
    # Two attempts said alike: the second is the sentinel for what must not be said.
    asyncio.run(_run_until(rig, lambda: len(_lines(caplog, closed)) >= 2, "two refusals"))
    line = _lines(caplog, closed)[0]
    assert line.levelno == logging.WARNING
    text = line.getMessage()
    assert "Not authorized (0x87)" in text
    assert f"check that the broker's ACL lists site {site}" in text
    assert f"the site certificate's CN is {site}" in text
    assert _lines(caplog, "no CONNACK") == []


def test_a_site_certificate_from_another_ca_is_told_as_tls_refused_by_the_broker(
    secure: SecureBroker, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    site = "L0008"
    caplog.set_level(logging.INFO, logger="edge.uplink")
    other = init_pki(tmp_path / "other-pki")
    overrides = _broker_settings(secure, other, site, tmp_path / "bundle")
    overrides["broker.ca_file"] = str(secure.pki.ca_file)  # it trusts the broker; not vice versa
    rig = SiteRig(tmp_path, secure.broker, Topics(secure.root), site_id=site, overrides=overrides)
    where = f"127.0.0.1:{secure.tls_port}"
    refused = f"site {site}: broker {where} unreachable: ConnectionError: TLS: the broker "
    asyncio.run(_run_until(rig, lambda: len(_lines(caplog, refused)) >= 2, "two TLS refusals"))
    text = _lines(caplog, refused)[0].getMessage()
    assert "refused this site's certificate" in text or "TLS handshake" in text
    assert "broker.cert_file" in text
    assert _lines(caplog, "Unspecified error") == []
    assert not any(r.getMessage().startswith(f"site {site}: connected") for r in caplog.records)


def test_a_broker_from_another_ca_is_told_as_tls_the_site_does_not_trust(
    secure: SecureBroker, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    site = "L0007"
    caplog.set_level(logging.INFO, logger="edge.uplink")
    overrides = _broker_settings(secure, secure.pki, site, tmp_path / "bundle")
    overrides["broker.ca_file"] = str(init_pki(tmp_path / "other-pki").ca_file)
    rig = SiteRig(tmp_path, secure.broker, Topics(secure.root), site_id=site, overrides=overrides)
    where = f"127.0.0.1:{secure.tls_port}"
    refused = f"site {site}: broker {where} unreachable: ConnectionError: TLS: this site does not"
    asyncio.run(_run_until(rig, lambda: _lines(caplog, refused), "the site's TLS refusal"))
    text = _lines(caplog, refused)[0].getMessage()
    assert "certificate verify failed" in text and "broker.ca_file" in text
