"""`lockernet users`: logins added with a password from a file or a prompt (never argv),
listed, disabled; bad input named, nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest

from central.store.open import open_store
from central.web.auth import LoginThrottle, Role, User, verify_login
from protocols.cli import main
from tests.web.conftest import web_config


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "central.toml"
    path.write_text(f'[store]\npath = "{tmp_path / "central.sqlite"}"\n')
    return path


def run(capsys: pytest.CaptureFixture[str], config: Path, *argv: str) -> tuple[int, str, str]:
    code = main(["users", *argv, "--config", str(config)])
    out, err = capsys.readouterr()
    return code, out, err


def login(tmp_path: Path, name: str, password: str) -> User | None:
    store = open_store(web_config(tmp_path).store)
    try:
        return verify_login(store, name, password, LoginThrottle())
    finally:
        store.close()


def test_a_login_is_added_listed_signs_in_and_is_disabled(
    tmp_path: Path,
    config_file: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    secret = tmp_path / "pw"
    secret.write_text("correct horse battery\n")
    assert run(
        capsys, config_file, "add", "tarik", "--role", "technician", "--password-file", str(secret)
    ) == (
        0,
        "added tarik (technician)\n",
        "",
    )
    typed = iter(["viewer-password", "viewer-password"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(typed))
    assert run(capsys, config_file, "add", "vera", "--role", "viewer")[0] == 0
    code, out, _ = run(capsys, config_file, "list")
    assert code == 0
    assert [line.split() for line in out.splitlines()] == [
        ["tarik", "technician", "active"],
        ["vera", "viewer", "active"],
    ]
    assert login(tmp_path, "tarik", "correct horse battery") == User("tarik", Role.TECHNICIAN)
    assert login(tmp_path, "tarik", "correct horse batter") is None
    assert login(tmp_path, "vera", "viewer-password") == User("vera", Role.VIEWER)
    assert run(capsys, config_file, "disable", "vera")[:2] == (0, "disabled vera\n")
    assert login(tmp_path, "vera", "viewer-password") is None
    assert "disabled" in run(capsys, config_file, "list")[1].splitlines()[1]


def test_bad_input_is_named_and_writes_nothing(
    tmp_path: Path,
    config_file: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    secret = tmp_path / "pw"
    secret.write_text("long-enough-pw\n")
    short = tmp_path / "short"
    short.write_text("abc\n")
    add = ("add", "--role", "viewer", "--password-file")
    cases = [
        (
            ("add", "Bad Name", "--role", "viewer", "--password-file", str(secret)),
            "login name 'Bad Name'",
        ),
        (
            ("add", "bob", "--role", "viewer", "--password-file", str(tmp_path / "none")),
            "--password-file",
        ),
        (("add", "bob", "--role", "viewer", "--password-file", str(short)), "8 to 1024 characters"),
        (("disable", "nobody"), "login 'nobody': no such login"),
    ]
    for argv, words in cases:
        code, _, err = run(capsys, config_file, *argv)
        assert code == 2, argv
        assert words in err, (argv, err)
    differing = iter(["first-password", "second-password"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(differing))
    code, _, err = run(capsys, config_file, "add", "bob", "--role", "viewer")
    assert (code, err) == (2, "error: the two passwords differ; nothing was written\n")
    assert (
        run(capsys, config_file, "list")[1]
        == "no logins (lockernet users add NAME --role operator)\n"
    )
    assert run(capsys, config_file, "add", "bob", *add[1:], str(secret))[0] == 0
    code, _, err = run(capsys, config_file, "add", "bob", *add[1:], str(secret))
    assert (code, err) == (2, "error: login 'bob' exists already; nothing was written\n")
