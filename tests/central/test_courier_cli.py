"""`lockernet courier` as an operator runs it: a handheld token shown once that the handheld
API accepts until it is revoked; a bad courier or partner id refused with exit status 2,
naming it, and no token made."""

from __future__ import annotations

from pathlib import Path

import pytest

from central.delivery.tokens import authenticate
from central.service.config import load_config
from central.store.open import open_reader
from protocols.cli import main


@pytest.fixture
def toml(tmp_path: Path) -> Path:
    path = tmp_path / "central.toml"
    path.write_text(f'[store]\npath = "{tmp_path / "central.sqlite"}"\n')
    return path


def run(capsys: pytest.CaptureFixture[str], toml: Path, *argv: str) -> tuple[int, str, str]:
    status = main(["courier", *argv, "--config", str(toml)])
    out, err = capsys.readouterr()
    return status, out, err


def test_a_token_is_shown_once_and_works_until_revoked(
    toml: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = run(capsys, toml, "token", "K0042", "--partner", "ninjavan")
    assert status == 0
    text = out.strip()
    assert text.startswith("lnc_") and "shown only now" in err
    assert text.split("_", 2)[2] not in err  # the secret only on stdout, once
    location = str(load_config(toml).store.path)
    with open_reader(location) as reader:
        found = authenticate(reader.view, text)
    assert found is not None and (found.courier, found.partner) == ("K0042", "ninjavan")
    assert run(capsys, toml, "revoke-token", found.token_id)[0] == 0
    with open_reader(location) as reader:
        assert authenticate(reader.view, text) is None
    status, _, err = run(capsys, toml, "revoke-token", found.token_id)
    assert status == 2 and "already revoked" in err


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (("token", "K 42", "--partner", "ninjavan"), "courier 'K 42'"),
        (("token", "K0042", "--partner", "ninja/van"), "--partner 'ninja/van'"),
        (("revoke-token", "nope"), "no handheld token 'nope'"),
    ],
)
def test_bad_input_is_refused_naming_it_with_no_token_made(
    toml: Path, capsys: pytest.CaptureFixture[str], argv: tuple[str, ...], named: str
) -> None:
    status, out, err = run(capsys, toml, *argv)
    assert (status, out) == (2, "")
    assert named in err
