"""The one configuration loader edge and central share: TOML, environment overrides at any
depth, relative paths read against the file, every bad or unknown key named with its origin."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import pytest
from pydantic import BaseModel, ConfigDict, Field

from protocols.settings import ProgramSettings, SettingsError, load_settings, validate_settings


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Deep(Section):
    limit_s: float = Field(default=1.0, gt=0)
    folder: Path = Path("spool")


class Middle(Section):
    name: str = "middle"
    deep: Deep = Deep()


class Demo(ProgramSettings):
    program: ClassVar[str] = "demo"

    top: int = 1
    key_file: Path | None = None
    middle: Middle = Middle()
    optional: Middle | None = None
    items: list[Deep] = Field(default_factory=list)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "demo.toml"
    path.write_text(text)
    return path


def test_an_override_reaches_a_key_at_any_depth_and_keeps_its_neighbours(tmp_path: Path) -> None:
    path = write(tmp_path, '[middle]\nname = "from the file"\n[middle.deep]\nlimit_s = 2.5\n')
    settings = load_settings(
        Demo,
        path,
        environ={
            "LOCKERNET_DEMO__TOP": "7",  # depth 1
            "LOCKERNET_DEMO__MIDDLE__DEEP__LIMIT_S": "9.5",  # depth 3
            "LOCKERNET_DEMO__OPTIONAL__NAME": "set",  # an optional section made by the env
            "LOCKERNET_OTHER__TOP": "99",  # another program's: not ours to read
        },
    )
    assert settings.top == 7
    assert settings.middle.deep.limit_s == 9.5
    assert settings.middle.name == "from the file"  # the override replaced one key only
    assert settings.optional is not None and settings.optional.name == "set"


def test_relative_paths_at_any_depth_are_read_against_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, 'key_file = "keys/k.pem"\n')
    settings = load_settings(Demo, path, environ={})
    assert settings.key_file == tmp_path / "keys" / "k.pem"
    assert settings.middle.deep.folder == tmp_path / "spool"  # a default, too
    absolute = load_settings(Demo, path, environ={"LOCKERNET_DEMO__KEY_FILE": "/etc/k.pem"})
    assert absolute.key_file == Path("/etc/k.pem")


@pytest.mark.parametrize(
    ("text", "environ", "named"),
    [
        ("[middle.deep]\nlimit_s = 0\n", {}, "middle.deep.limit_s"),
        ("[middle.deep]\nlimt_s = 1\n", {}, "middle.deep.limt_s: unknown key"),
        ("", {"LOCKERNET_DEMO__MIDDLE__DEEP__LIMIT_S": "soon"}, "(set by LOCKERNET_DEMO__"),
        ("", {"LOCKERNET_DEMO__MIDDLE__DEPE__LIMIT_S": "1"}, "middle has no setting 'depe'"),
        ("", {"LOCKERNET_DEMO__TOPP": "1"}, "LOCKERNET_DEMO__TOPP: demo has no setting 'topp'"),
        ("", {"LOCKERNET_DEMO__TOP__X": "1"}, "top has no setting 'x'"),
        # A key inside a list of tables cannot be set alone: the variable is named.
        ("", {"LOCKERNET_DEMO__ITEMS__LIMIT_S": "1"}, "(set by LOCKERNET_DEMO__ITEMS__LIMIT_S)"),
    ],
)
def test_a_bad_or_unknown_key_is_refused_naming_it_and_where_it_came_from(
    tmp_path: Path, text: str, environ: dict[str, str], named: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(SettingsError) as caught:
        load_settings(Demo, path, environ=environ)
    assert named in str(caught.value)
    if not environ:
        assert str(path) in str(caught.value)


def test_every_bad_key_is_listed_at_once(tmp_path: Path) -> None:
    path = write(tmp_path, 'top = "x"\n[middle]\nname = 3\n')
    with pytest.raises(SettingsError) as caught:
        load_settings(Demo, path, environ={})
    assert "top:" in str(caught.value) and "middle.name:" in str(caught.value)


def test_a_model_built_in_code_reads_nothing_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LOCKERNET_DEMO__TOP", "5")
    assert Demo().top == 1
    assert validate_settings(Demo, {}).top == 1  # no environ given: none applied
    assert validate_settings(Demo, {}, environ={"LOCKERNET_DEMO__TOP": "5"}).top == 5


def test_a_missing_or_broken_file_says_which(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"nowhere\.toml: no such configuration file"):
        load_settings(Demo, tmp_path / "nowhere.toml", environ={})
    with pytest.raises(SettingsError, match=r"demo\.toml: not valid TOML"):
        load_settings(Demo, write(tmp_path, "[middle\n"), environ={})
