"""`lockernet notify opt-out` and `opt-in`: an opt-out the queue honours."""

from __future__ import annotations

from pathlib import Path

import pytest

from central.notify import MessageKind, queue_notification
from central.store.records import Contact, ParcelRecord, ParcelState
from protocols.cli import main
from tests.central.store_contract.stores import open_location

FACTS: dict[str, str | float | None] = {"site_name": "Tampines Hub", "until": 1_800_086_400.0}


def queued_channels(store_path: Path, step: str) -> list[str]:
    store = open_location(str(store_path))
    parcel = ParcelRecord(
        label="LN0000000007SG",
        state=ParcelState.READY_FOR_PICKUP,
        contact=Contact(email="Mei@Example.sg", phone="+65 9123 4567"),
    )
    try:
        with store.transaction() as session:
            queue_notification(session, parcel, MessageKind.REMINDER, step, 1_800_000_000.0, FACTS)
            return [
                n.channel for n in session.notifications("LN0000000007SG") if n.step_key == step
            ]
    finally:
        store.close()


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "central.toml"
    path.write_text(f'[store]\npath = "{tmp_path / "central.sqlite"}"\n')
    return path


def test_an_opted_out_phone_gets_no_sms_until_it_opts_in(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store_path = tmp_path / "central.sqlite"
    assert main(["notify", "opt-out", "9123 4567", "--config", str(config)]) == 0
    assert "+6591234567 opted out of sms messages" in capsys.readouterr().out
    assert queued_channels(store_path, "r1") == ["email"]
    assert main(["notify", "opt-out", "mei@example.SG", "--config", str(config)]) == 0
    assert queued_channels(store_path, "r2") == []
    assert main(["notify", "opt-in", "+6591234567", "--config", str(config)]) == 0
    assert "+6591234567 gets messages again (sms)" in capsys.readouterr().out
    assert queued_channels(store_path, "r3") == ["sms"]


def test_an_address_that_is_neither_is_refused_and_changes_nothing(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["notify", "opt-out", "not-an-address", "--config", str(config)]) == 2
    assert "'not-an-address' is neither an e-mail address nor a phone number" in (
        capsys.readouterr().err
    )
    assert queued_channels(tmp_path / "central.sqlite", "r1") == ["email", "sms"]


def test_the_list_shows_each_message_and_how_its_sending_went(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["notify", "opt-out", "mei@example.sg", "--config", str(config)]) == 0
    assert queued_channels(tmp_path / "central.sqlite", "r1") == ["sms"]
    capsys.readouterr()
    assert main(["notify", "list", "--label", "LN0000000007SG", "--config", str(config)]) == 0
    [line] = capsys.readouterr().out.splitlines()
    assert line.split()[1:5] == ["LN0000000007SG", "reminder", "sms", "pending"]
    assert "2027-01-15 16:00:00 SGT" in line and "tries 0" in line
