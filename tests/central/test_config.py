"""central.toml: one validated model, environment overrides, errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from central.errors import ConfigError
from central.service.config import load_config, parse_config


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "central.toml"
    path.write_text(text)
    return path


def test_a_file_with_relative_paths_resolves_them_beside_itself(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[broker]\nport = 1884\nclient_id = "central-a"\n[store]\npath = "data/central.sqlite"\n',
    )
    config = load_config(path, environ={})
    assert config.broker.port == 1884
    assert config.store.path == tmp_path / "data" / "central.sqlite"
    assert config.pickup.window_s == 3 * 86_400  # the regional norm by default


def test_the_environment_overrides_a_key(tmp_path: Path) -> None:
    path = write(tmp_path, '[broker]\nclient_id = "central-a"\nport = 1884\n')
    config = load_config(
        path,
        environ={
            "LOCKERNET_CENTRAL__BROKER__CLIENT_ID": "central-b",
            # Three levels (program, section, key), as systemd/lockernet-central.service sets it.
            "LOCKERNET_CENTRAL__STORE__PATH": "/var/lib/lockernet-central/central.sqlite",
            "LOCKERNET_CENTRAL__INGEST__BATCH_SIZE": "250",
        },
    )
    assert config.broker.client_id == "central-b"
    assert config.broker.port == 1884  # the rest of the section is the file's
    assert config.store.path == Path("/var/lib/lockernet-central/central.sqlite")
    assert config.ingest.batch_size == 250


def test_a_bad_value_names_the_key_and_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[liveness]\nstale_after_s = -5\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={"LOCKERNET_CENTRAL__COMMANDS__EXPIRY_S": "an hour"})
    message = str(caught.value)
    assert str(path) in message and "liveness.stale_after_s:" in message
    assert "commands.expiry_s:" in message
    assert "(set by LOCKERNET_CENTRAL__COMMANDS__EXPIRY_S)" in message


@pytest.mark.parametrize(
    ("text", "environ", "named"),
    [
        ("[store]\npath = 'c.sqlite'\nwal = true\n", {}, "store.wal: unknown key"),
        ("[stores]\npath = 'c.sqlite'\n", {}, "stores: unknown key"),
        ("", {"LOCKERNET_CENTRAL__STORE__PATHS": "c.sqlite"}, "store has no setting 'paths'"),
    ],
)
def test_an_unknown_key_is_refused(
    tmp_path: Path, text: str, environ: dict[str, str], named: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text), environ=environ)
    assert named in str(caught.value)


@pytest.mark.parametrize(
    ("text", "environ", "named"),
    [
        ("[broker]\nport = 'many'\n", {}, "broker.port"),
        ("[broker]\nprot = 1883\n", {}, "broker.prot"),
        ("[ingest]\nbatch_size = 0\n", {}, "ingest.batch_size"),
        ("", {"LOCKERNET_CENTRAL__PICKUP__WINDOW_S": "soon"}, "pickup.window_s"),
        ("", {"LOCKERNET_CENTRAL__PORT": "1"}, "LOCKERNET_CENTRAL__PORT"),
        ("[ingest]\nbatch_size = 5000\n[broker]\nreceive_maximum = 100\n", {}, "batch_size"),
    ],
)
def test_a_bad_setting_is_refused_naming_the_key(
    tmp_path: Path, text: str, environ: dict[str, str], named: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text), environ=environ)
    assert named in str(caught.value)


def test_a_missing_or_broken_file_says_which(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such configuration file"):
        load_config(tmp_path / "nowhere.toml", environ={})
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(write(tmp_path, "[broker\n"), environ={})


def test_defaults_need_no_file_at_all() -> None:
    config = parse_config({}, environ={})
    assert config.topics.root == "lockernet/v1"
    assert config.broker.session_expiry_s > 0
