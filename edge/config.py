"""The site agent's configuration: one validated model, from TOML with environment overrides.

Loaded by the rules every lockernet program shares (protocols/settings.py): any key is
overridden by LOCKERNET_EDGE__<KEY> or LOCKERNET_EDGE__<SECTION>__<KEY>=value (double
underscores between levels), e.g. LOCKERNET_EDGE__BROKER__HOST=10.0.0.5; relative paths are
read against the config file's folder; a bad or unknown key stops start-up with an error that
names the key, the file (or the variable) and what is wrong.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from edge.drivers.boards import dialect_for
from edge.errors import ConfigError
from edge.site.lockout import REREAD_WINDOW_S
from protocols.backoff import RECONNECT
from protocols.boards import BoardFamily, facts, rs485
from protocols.boards.cu16 import LockPolarity
from protocols.messages import SiteId, SiteKind, SizeClass, SlotId
from protocols.scanner import DEFAULT_MAX_LENGTH, ScannerFraming, Suffix
from protocols.settings import (
    NO_ENVIRONMENT,
    ProgramSettings,
    SettingsError,
    load_settings,
    validate_settings,
)
from protocols.topics import DEFAULT_ROOT


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BrokerConfig(Section):
    host: str = "127.0.0.1"
    port: int = Field(default=1883, ge=1, le=65535)
    username: str | None = None
    password: str | None = None
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    topic_root: str = DEFAULT_ROOT
    keepalive_s: int = Field(default=30, ge=5, le=600)

    @model_validator(mode="after")
    def _client_cert_pair(self) -> BrokerConfig:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file go together")
        return self

    @property
    def tls(self) -> bool:
        return self.ca_file is not None


class Rs485Board(Section):
    address: int = Field(ge=rs485.MIN_BOARD, le=rs485.MAX_BOARD)
    channels: int = Field(default=16, ge=rs485.MIN_CHANNELS, le=rs485.MAX_CHANNELS)
    # A one-byte query-all reply would read as a channel reply (protocols.boards.rs485): >= 2.
    status_bytes: int | None = Field(default=None, ge=2, le=rs485.MAX_STATUS_BYTES)
    # Which feedback level means "door open" depends on the lock (hardware.md §2).
    open_level: Literal["high", "low"] = "high"


class LockBusConfig(Section):
    port: str
    family: BoardFamily = BoardFamily.CU16
    baud: int | None = Field(default=None, description="default: the family's documented rate")
    polarity: Literal["one_is_locked", "zero_is_locked"] = "one_is_locked"
    unlock_reply: bool = False  # some CU16 boards answer an unlock with a status frame
    boards: list[int] = Field(default_factory=lambda: [0])  # CU16 board ids on the bus
    rs485_boards: list[Rs485Board] = Field(default_factory=list)
    # Upper bounds are generous for the simulator, whose compressed clock stretches them.
    poll_interval_s: float = Field(default=0.5, gt=0, le=86_400)
    reply_timeout_s: float = Field(default=rs485.RESPONSE_TIMEOUT_S, gt=0, le=86_400)
    retries: int = Field(default=3, ge=1, le=10)
    # Half-duplex adapters often echo what the host sends (hardware.md §2a): "auto" detects
    # it with a status query at each (re)open of the port; "on"/"off" say it outright.
    echo: Literal["auto", "on", "off"] = "auto"

    @property
    def baud_rate(self) -> int:
        if self.baud is not None:
            return self.baud
        return facts(self.family).baud_rate

    @property
    def lock_polarity(self) -> LockPolarity:
        if self.polarity == "one_is_locked":
            return LockPolarity.ONE_IS_LOCKED
        return LockPolarity.ZERO_IS_LOCKED

    @model_validator(mode="after")
    def _boards(self) -> LockBusConfig:
        self.board_layout()  # the family's dialect raises ValueError if the boards don't fit
        return self

    def board_layout(self) -> dict[int, int]:
        """Board id -> locks (channels) it drives, as the family's dialect reads this bus."""
        return dialect_for(self.family).board_layout(self)


class ScannerConfig(Section):
    port: str
    baud: int = 9600
    suffix: Literal["CR", "CRLF", "LF"] = "CR"
    prefix: str = ""
    strip_aim_id: bool = False
    max_length: int = Field(default=DEFAULT_MAX_LENGTH, ge=16, le=4096)

    @property
    def framing(self) -> ScannerFraming:
        return ScannerFraming(
            suffix=Suffix[self.suffix],
            prefix=self.prefix,
            strip_aim_id=self.strip_aim_id,
            max_length=self.max_length,
        )


class SlotConfig(Section):
    id: SlotId
    board: int = Field(ge=0, le=31)
    lock: int = Field(ge=1, le=rs485.MAX_CHANNELS)
    size: SizeClass


class TimingConfig(Section):
    door_left_open_s: float = Field(default=120, gt=0)
    courier_session_s: float = Field(default=300, gt=0)
    scan_failures_before_lockout: int = Field(default=5, ge=1)
    scan_failure_window_s: float = Field(default=60, gt=0)
    # A re-read of the scan just handled within this long of its last read is the same scan
    # (edge/site/lockout.py; presentation scanners re-read about once a second, hardware.md §3).
    scan_reread_window_s: float = Field(default=REREAD_WINDOW_S, ge=0, le=60)
    lockout_s: float = Field(default=300, gt=0)
    # The mass-open breaker: a real network was once opened wholesale by one remote attack.
    remote_open_limit: int = Field(default=3, ge=1)
    remote_open_window_s: float = Field(default=600, gt=0)
    maintenance_s: float = Field(default=1800, gt=0)
    outbox_inflight: int = Field(default=32, ge=1, le=1000)
    republish_after_s: float = Field(default=30, gt=0)
    sent_retention_s: float = Field(default=7 * 86400, gt=0)
    # Reconnect backoff to the broker; the cap's reasoning is in protocols/backoff.py.
    reconnect_min_s: float = Field(default=RECONNECT.min_s, gt=0)
    reconnect_max_s: float = Field(default=RECONNECT.max_s, gt=0)
    # How often time-driven duties run (lapsed reservations, doors left open, lockouts).
    timer_interval_s: float = Field(default=1.0, gt=0, le=3600)
    # How often the site tells central it is alive (QoS 0, a ~200-byte message): central
    # calls a site offline after a few missed beats, so this bounds how late that alarm is.
    # 2,100 sites at 15 s are 140 small messages a second at the broker.
    heartbeat_interval_s: float = Field(default=15.0, gt=0, le=3600)


class MetricsConfig(Section):
    """[metrics]: Prometheus exposition from the agent (docs/metrics.md). Off by default."""

    # "HOST:PORT" to serve /metrics on (e.g. "127.0.0.1:9101"); None: not served.
    listen: str | None = Field(default=None, pattern=r"^[^:\s]+:[0-9]{1,5}$")
    # How often the gauges read from the store (outbox depth) and the site's state are
    # brought up to date: the scans' own counters are counted as they happen.
    refresh_s: float = Field(default=5.0, gt=0, le=300)

    @property
    def address(self) -> tuple[str, int]:
        """(host, port) of `listen`; ValueError if it is not set."""
        if self.listen is None:
            raise ValueError("metrics.listen is not set")
        host, _, port = self.listen.rpartition(":")
        return host, int(port)

    @field_validator("listen")
    @classmethod
    def _port_in_range(cls, listen: str | None) -> str | None:
        if listen is not None and not 1 <= int(listen.rpartition(":")[2]) <= 65535:
            raise ValueError(f"{listen!r}: the port must be 1-65535")
        return listen


class SiteConfig(ProgramSettings):
    """Everything one site agent needs to know."""

    program: ClassVar[str] = "edge"

    site_id: SiteId
    kind: SiteKind = SiteKind.LOCKER
    state_dir: Path = Path("/var/lib/lockernet")
    central_public_key: Path
    broker: BrokerConfig = BrokerConfig()
    lock_bus: LockBusConfig | None = None
    scanner: ScannerConfig | None = None
    slots: list[SlotConfig] = Field(default_factory=list)
    shelf_capacity: int = Field(default=0, ge=0)
    timing: TimingConfig = TimingConfig()
    metrics: MetricsConfig = MetricsConfig()
    # "text" for a person (journalctl); "json": one object per line for a log collector.
    log_format: Literal["text", "json"] = "text"

    @field_validator("slots")
    @classmethod
    def _unique_slots(cls, slots: list[SlotConfig]) -> list[SlotConfig]:
        ids = [s.id for s in slots]
        if len(set(ids)) != len(ids):
            raise ValueError("slot ids must be unique")
        places = [(s.board, s.lock) for s in slots]
        if len(set(places)) != len(places):
            raise ValueError("two slots share one board and lock")
        return slots

    @model_validator(mode="after")
    def _kind(self) -> SiteConfig:
        if self.kind is SiteKind.LOCKER:
            if self.lock_bus is None or not self.slots:
                raise ValueError("a locker needs lock_bus and slots")
            self._check_slots_on_bus(self.lock_bus)
        elif self.shelf_capacity < 1:
            raise ValueError("a counter needs shelf_capacity of at least 1")
        return self

    def _check_slots_on_bus(self, bus: LockBusConfig) -> None:
        locks = bus.board_layout()
        noun = facts(bus.family).lock_noun
        for slot in self.slots:
            if slot.lock > locks.get(slot.board, 0):
                raise ValueError(f"slot {slot.id} is on no board/{noun} of the bus")

    @property
    def store_path(self) -> Path:
        return self.state_dir / f"{self.site_id}.sqlite3"


def parse_config(
    data: Mapping[str, Any],
    source: str = "config",
    environ: Mapping[str, str] = NO_ENVIRONMENT,
) -> SiteConfig:
    """Validate a site's configuration given as a table (a test's, the simulator's), with
    `environ`'s LOCKERNET_EDGE__ overrides on top (none unless given). ConfigError names
    `source` and every bad key."""
    try:
        return validate_settings(SiteConfig, data, source, environ)
    except SettingsError as exc:
        raise ConfigError(str(exc)) from None


def load_config(path: Path, environ: Mapping[str, str] | None = None) -> SiteConfig:
    """Read a site's TOML configuration with the environment's overrides (os.environ unless
    `environ` is given) and validate it; relative paths (state_dir, central_public_key, the
    broker's TLS files) are read against the file's folder, so the same config started from
    another folder names the same store, lock and socket. ConfigError names the file and
    every bad key."""
    try:
        return load_settings(SiteConfig, Path(path), environ)
    except SettingsError as exc:
        raise ConfigError(str(exc)) from None
