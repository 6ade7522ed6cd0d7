"""Central on TLS: its config names the CA and its client certificate; the broker knows it
as "central" and lets it command sites."""

from __future__ import annotations

import pytest

from central.errors import ConfigError
from central.service.config import parse_config
from central.service.link import OperatorLink
from protocols.topics import SiteChannel, Topics
from tests.eventually import eventually
from tests.security.conftest import SecureBroker

pytestmark = pytest.mark.broker


def test_central_connects_with_its_certificate_and_commands_a_site(secure: SecureBroker):
    topics = Topics(secure.root)
    folder = secure.pki.folder
    config = parse_config(
        {
            "broker": {
                "port": secure.tls_port,
                "ca_file": str(folder / "ca.pem"),
                "cert_file": str(folder / "central.pem"),
                "key_file": str(folder / "central.key"),
            }
        },
        environ={},
    )
    site = secure.site("L0008")
    commands = topics.site("L0008", SiteChannel.COMMANDS)
    site.subscribe(commands)
    try:
        with OperatorLink(
            config.broker, [topics.site("L0008", SiteChannel.REPLIES)], print
        ) as link:
            link.publish(commands, b"from central", expiry_s=60)
        eventually(lambda: site.received(commands), 5, "central's command at the site")
        assert site.received(commands) == [b"from central"]
    finally:
        site.close()


def test_a_client_certificate_without_its_key_or_ca_is_a_config_error():
    with pytest.raises(ConfigError, match=r"cert_file and broker\.key_file"):
        parse_config({"broker": {"ca_file": "ca.pem", "cert_file": "c.pem"}}, environ={})
    with pytest.raises(ConfigError, match=r"needs broker\.ca_file"):
        parse_config({"broker": {"cert_file": "c.pem", "key_file": "c.key"}}, environ={})
