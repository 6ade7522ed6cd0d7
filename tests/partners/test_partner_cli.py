"""`lockernet partner` as an operator runs it: a partner, a key shown once, keys listed
without secrets and revoked, webhook endpoints and their deliveries; bad input refused with
exit status 2, naming what was wrong, and nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest

from central.parcels.steps import announce
from central.partners.keys import authenticate
from central.service.config import load_config
from central.store.open import open_reader, open_store
from protocols.cli import main
from protocols.localtime import timestamp
from tests.central.central_rig import announcement


@pytest.fixture
def toml(tmp_path: Path) -> Path:
    path = tmp_path / "central.toml"
    path.write_text(f'[store]\npath = "{tmp_path / "central.sqlite"}"\n')
    return path


def run(capsys: pytest.CaptureFixture[str], toml: Path, *argv: str) -> tuple[int, str, str]:
    status = main(["partner", *argv, "--config", str(toml)])
    out, err = capsys.readouterr()
    return status, out, err


def test_a_partner_gets_a_key_shown_once_that_the_api_accepts_until_revoked(
    toml: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, toml, "add", "acme", "--name", "Acme Express")[0] == 0
    status, out, err = run(capsys, toml, "key", "acme", "--scopes", "parcels:read,parcels:write")
    assert status == 0
    text = out.strip()
    assert text.startswith("lnk_") and "shown only now" in err
    location = str(load_config(toml).store.path)
    with open_reader(location) as reader:
        found = authenticate(reader.view, text)
    assert found is not None and found.scopes == ("parcels:read", "parcels:write")
    status, listing, _ = run(capsys, toml, "keys", "acme")
    assert status == 0 and found.key_id in listing and "parcels:read,parcels:write" in listing
    assert text.split("_", 2)[2] not in listing  # the secret is never shown again
    # A person reads the times: the network's local time, labelled (as lockernet track).
    with open_reader(location) as reader:
        (record,) = reader.view.partner_keys("acme")
    assert timestamp(record.created_at) in listing and "SGT" in listing
    assert "UTC" not in listing
    assert run(capsys, toml, "revoke-key", found.key_id)[0] == 0
    with open_reader(location) as reader:
        assert authenticate(reader.view, text) is None
    status, _, err = run(capsys, toml, "revoke-key", found.key_id)
    assert status == 2 and "already revoked" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["key", "acme", "--scopes", "parcels:delete"], "unknown scope 'parcels:delete'"),
        (["key", "ghost", "--scopes", "parcels:read"], "no partner 'ghost'"),
        (["add", "acme", "--name", "Again"], "partner acme already exists"),
        (["add", "bad id", "--name", "X"], "partner id 'bad id'"),
        (["webhook", "add", "acme", "ftp://example.com/"], "an https:// URL with a host"),
        (["webhook", "add", "acme", "http://hooks.example.com/"], "use https://"),
        (["webhook", "add", "acme", "http://10.0.0.5/hook"], "only to a loopback host"),
        (["webhook", "add", "acme", "https://a.example", "--events", "x"], "unknown event"),
        (["webhook", "remove", "acme", "7"], "no active webhook endpoint 7"),
        (["webhook", "retry", "acme", "--endpoint", "7"], "no active webhook endpoint 7"),
    ],
)
def test_bad_input_is_refused_naming_what_and_changes_nothing(
    toml: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert run(capsys, toml, "add", "acme", "--name", "Acme Express")[0] == 0
    status, out, err = run(capsys, toml, *argv)
    assert status == 2 and out == ""
    assert message in err
    with open_reader(str(load_config(toml).store.path)) as reader:
        assert [p.name for p in reader.view.list_partners()] == ["Acme Express"]
        assert reader.view.partner_keys("acme") == []
        assert reader.view.webhook_endpoints("acme", include_disabled=True) == []


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8099/hook", "http://localhost:8099/hook", "http://[::1]/hook"]
)
def test_plain_http_is_taken_for_a_loopback_receiver(
    toml: Path, capsys: pytest.CaptureFixture[str], url: str
) -> None:
    run(capsys, toml, "add", "acme", "--name", "Acme Express")
    status, _, err = run(capsys, toml, "webhook", "add", "acme", url)
    assert status == 0, err
    with open_reader(str(load_config(toml).store.path)) as reader:
        assert [e.url for e in reader.view.webhook_endpoints("acme")] == [url]


def test_webhook_endpoints_and_their_deliveries_are_listed(
    toml: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys, toml, "add", "acme", "--name", "Acme Express")
    status, out, err = run(
        capsys, toml, "webhook", "add", "acme", "https://hooks.acme.example/in", "--events",
        "parcel.announced,parcel.collected",
    )  # fmt: skip
    assert status == 0 and out.startswith("whsec_") and "shown only now" in err
    store = open_store(load_config(toml).store)
    with store.transaction() as session:
        announce(session, announcement(1), 1_800_000_000.0, owner="acme")
    store.close()
    status, listing, _ = run(capsys, toml, "webhook", "list", "acme")
    assert status == 0 and "https://hooks.acme.example/in" in listing
    assert "parcel.announced,parcel.collected" in listing and "whsec_" not in listing
    status, shown, _ = run(capsys, toml, "webhook", "deliveries", "acme")
    assert status == 0 and "parcel.announced" in shown and "pending" in shown
    status, out, _ = run(capsys, toml, "webhook", "retry", "acme")
    assert status == 0 and out.startswith("0 failed deliveries")  # none was given up
    assert run(capsys, toml, "webhook", "remove", "acme", "1")[0] == 0
    status, shown, _ = run(capsys, toml, "webhook", "deliveries", "acme")
    assert "failed" in shown and "endpoint removed" in shown
