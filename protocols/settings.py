"""One way to configure a lockernet program: a TOML file, environment overrides, one model.

The site agent (edge/config.py) and central (central/service/config.py) load their settings
here, with the same rules:

- the model is a pydantic-settings `ProgramSettings`: typed, frozen, unknown keys refused;
- the file is TOML; every `Path` in it that is relative is read against the file's folder,
  not the working directory (the same file started from a technician's shell or from systemd
  names the same store, keys and sockets);
- any key at any depth is overridden by `LOCKERNET_<PROGRAM>__<SECTION>__<KEY>` (double
  underscores between levels; a top-level key is `LOCKERNET_<PROGRAM>__<KEY>`), e.g.
  LOCKERNET_EDGE__STATE_DIR, LOCKERNET_EDGE__LOCK_BUS__POLL_INTERVAL_S,
  LOCKERNET_CENTRAL__STORE__PATH. A value is read as its key's type (a list or a table as
  JSON); a variable that names no key is refused, so a typo never silently falls back;
- validation happens at start-up, all at once: `SettingsError` lists every bad key with what
  is wrong and where it came from (the file, or the environment variable that set it).

Reading a file is the only I/O here, and it happens only when a program asks to load one.
"""

from __future__ import annotations

import os
import tomllib
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)
from pydantic_settings import SettingsError as SourceError

from protocols.errors import ProtocolError

ENV_ROOT = "LOCKERNET"
NESTED_DELIMITER = "__"
NO_ENVIRONMENT: Mapping[str, str] = types.MappingProxyType({})

S = TypeVar("S", bound="ProgramSettings")


class SettingsError(ProtocolError):
    """A program's settings could not be loaded: a missing or unreadable file, or keys that
    are unknown or have bad values. The message names every bad key and its origin."""


class ProgramSettings(BaseSettings):
    """The root of one program's settings. Subclasses set `program` ("edge", "central")."""

    program: ClassVar[str]
    model_config = SettingsConfigDict(
        extra="forbid",
        frozen=True,
        case_sensitive=False,
        env_nested_delimiter=NESTED_DELIMITER,
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Building a model in code (a test, the simulator) reads nothing from the process's
        # environment: only `load_settings` and `validate_settings` bring the file and the
        # environment in, so which sources count is always the caller's explicit choice.
        return (init_settings,)

    @classmethod
    def env_prefix(cls) -> str:
        """LOCKERNET_<PROGRAM>__: the start of every override of this program's keys."""
        return f"{ENV_ROOT}_{cls.program.upper()}{NESTED_DELIMITER}"


class _EnvironOverrides(EnvSettingsSource):
    """pydantic-settings' environment source over a given mapping (a test's, or a parent
    process's), not only os.environ."""

    def __init__(self, settings_cls: type[ProgramSettings], environ: Mapping[str, str]) -> None:
        super().__init__(
            settings_cls,
            case_sensitive=False,
            env_prefix=settings_cls.env_prefix(),
            env_nested_delimiter=NESTED_DELIMITER,
        )
        self.env_vars = {name.lower(): value for name, value in environ.items()}


def _section_model(annotation: Any) -> type[BaseModel] | None:
    """The model a field holds, if it is a section (`Section` or `Section | None`)."""
    candidates = typing.get_args(annotation) or (annotation,)
    for candidate in candidates:
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _override_paths(
    model: type[ProgramSettings], environ: Mapping[str, str]
) -> dict[tuple[str, ...], str]:
    """Each override's key path (lower case) -> its variable's name. Raises SettingsError for
    a variable under the program's prefix that names no key."""
    prefix = model.env_prefix()
    found: dict[tuple[str, ...], str] = {}
    problems = []
    for name in environ:
        if not name.upper().startswith(prefix):
            continue
        path = tuple(name[len(prefix) :].lower().split(NESTED_DELIMITER))
        where: type[BaseModel] | None = model
        for depth, part in enumerate(path):
            field = where.model_fields.get(part) if where is not None else None
            if field is None:
                known = ".".join(path[:depth]) or model.program
                problems.append(f"{name}: {known} has no setting {part!r}")
                break
            where = _section_model(field.annotation)
        else:
            found[path] = name
    if problems:
        raise SettingsError("; ".join(problems))
    return found


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """`base` with `over` laid on top, table by table (an override replaces one key, not its
    whole section)."""
    merged = dict(base)
    for key, value in over.items():
        below = merged.get(key)
        if isinstance(value, Mapping) and isinstance(below, dict):
            merged[key] = _merge(below, value)
        else:
            merged[key] = value
    return merged


def _describe(
    exc: ValidationError, origin: str, overrides: Mapping[tuple[str, ...], str]
) -> list[str]:
    problems = []
    for error in exc.errors(include_url=False):
        loc = tuple(str(part) for part in error["loc"])
        key = ".".join(loc) or "(top level)"
        # The variable that set this key (or the section above it), if one did; or one that
        # set a key inside it (LOCKERNET_CENTRAL__BROKERS__PORT made `brokers` a table, not
        # the list it is).
        source = next(
            (
                name
                for path, name in overrides.items()
                if loc and (loc[: len(path)] == path or path[: len(loc)] == loc)
            ),
            None,
        )
        where = f" (set by {source})" if source else ""
        # pydantic's "Extra inputs are not permitted" does not say what to do about it.
        message = (
            "unknown key (check its spelling)"
            if error["type"] == "extra_forbidden"
            else error["msg"]
        )
        problems.append(f"  {key}: {message}{where}")
    return problems


def validate_settings(
    model: type[S],
    data: Mapping[str, Any],
    origin: str = "config",
    environ: Mapping[str, str] = NO_ENVIRONMENT,
) -> S:
    """`data` (a parsed TOML table) with the overrides in `environ` laid on top, validated as
    `model`. Raises SettingsError naming `origin` (the file) and every bad key."""
    overrides = _override_paths(model, environ)
    try:
        from_env = _EnvironOverrides(model, environ)()
    except SourceError as exc:  # a list or table override that is not JSON
        raise SettingsError(f"{origin}: {exc}") from None
    merged = _merge(dict(data), from_env)
    try:
        return model.model_validate(merged)
    except ValidationError as exc:
        problems = _describe(exc, origin, overrides)
        raise SettingsError(
            f"{origin} is not a valid {model.program} configuration:\n" + "\n".join(problems)
        ) from None


def read_toml(path: Path, model: type[ProgramSettings]) -> dict[str, Any]:
    """The TOML table in `path`. SettingsError if it is missing, unreadable or not TOML."""
    if not Path(path).is_file():
        raise SettingsError(f"{path}: no such configuration file")
    try:
        return dict(TomlConfigSettingsSource(model, toml_file=Path(path))())
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{path}: not valid TOML: {exc}") from None
    except OSError as exc:
        raise SettingsError(f"{path}: cannot be read: {exc.strerror}") from None


def resolve_paths(settings: BaseModel, base: Path) -> Any:
    """`settings` with every relative `Path` in it (in any section, at any depth) read
    against `base`, the config file's folder."""
    update: dict[str, Any] = {}
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if isinstance(value, Path) and not value.is_absolute():
            update[name] = base / value
        elif isinstance(value, BaseModel):
            resolved = resolve_paths(value, base)
            if resolved is not value:
                update[name] = resolved
    return settings.model_copy(update=update) if update else settings


def load_settings(model: type[S], path: Path, environ: Mapping[str, str] | None = None) -> S:
    """Read `path` (TOML), lay the environment's overrides on top (os.environ unless
    `environ` is given), validate as `model`, and read relative paths against the file's
    folder. Raises SettingsError naming the file and every bad key."""
    data = read_toml(path, model)
    settings = validate_settings(model, data, str(path), os.environ if environ is None else environ)
    resolved: S = resolve_paths(settings, Path(path).resolve().parent)
    return resolved
