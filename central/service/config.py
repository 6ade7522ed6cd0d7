"""Central's one configuration model: loaded from TOML, overridden by the environment.

    lockernet central run --config central.toml

Every key has a default that suits a test bench except the paths a deployment must choose.
Loaded by the rules every lockernet program shares (protocols/settings.py): an environment
variable overrides any key, LOCKERNET_CENTRAL__<SECTION>__<KEY> (double underscores between
levels), e.g. LOCKERNET_CENTRAL__BROKER__CLIENT_ID=central-2 gives a second process its own
session; relative paths are read against the config file's folder; unknown keys are refused,
so a typo never silently falls back to a default.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializationInfo,
    SerializerFunctionWrapHandler,
    ValidationInfo,
    field_validator,
    model_serializer,
    model_validator,
)

from central.errors import ConfigError
from central.notify.config import NotifyConfig
from protocols.settings import (
    NO_ENVIRONMENT,
    ProgramSettings,
    SettingsError,
    load_settings,
    resolve_paths,
    validate_settings,
)
from protocols.topics import CENTRAL_SHARE_GROUP, DEFAULT_ROOT

DAY_S = 86_400.0


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# A broker's name in central.toml: what `sites.broker` stores and log lines and alarms show.
BROKER_NAME_PATTERN = r"^[A-Za-z0-9_-]{1,32}$"
# The name the single `[broker]` section's broker goes by.
SINGLE_BROKER_NAME = "main"


class BrokerConfig(Section):
    # Which shard this is, as sites.broker records it (the single [broker] is "main").
    name: str = Field(default=SINGLE_BROKER_NAME, pattern=BROKER_NAME_PATTERN)
    host: str = "127.0.0.1"
    port: int = Field(default=1883, ge=1, le=65535)
    # Stable across restarts: the broker keeps this session's queued events while we are down.
    client_id: str = Field(default="lockernet-central-1", min_length=1, max_length=64)
    username: str | None = None
    password_file: Path | None = None
    # TLS with a client certificate (lockernet pki init writes central.pem / central.key);
    # the broker takes the certificate's name ("central") as the user.
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    keepalive_s: int = Field(default=30, ge=5, le=300)
    # How long the broker keeps our session (and queues events for it) while we are away.
    # Short: a member of the shared subscription that is gone for good keeps collecting its
    # share of every site's events until its session expires, and the broker discards them
    # then. Five minutes covers a restart; anything the broker took while no session was
    # there is asked for again when a site's heartbeat shows central is behind (issue 11).
    session_expiry_s: int = Field(default=300, ge=0)
    # MQTT 5 Receive Maximum: events in flight to us before we acknowledged them. Bounds how
    # large a commit batch can grow, so it must exceed ingest.batch_size.
    receive_maximum: int = Field(default=2000, ge=1, le=65535)

    @model_validator(mode="after")
    def _client_cert_pair(self) -> BrokerConfig:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("broker.cert_file and broker.key_file go together")
        if self.cert_file is not None and self.ca_file is None:
            raise ValueError("broker.cert_file needs broker.ca_file (the CA of the broker)")
        return self

    @property
    def address(self) -> str:
        """host:port, as every error and log line about this broker names it."""
        return f"{self.host}:{self.port}"


class TopicsConfig(Section):
    root: str = DEFAULT_ROOT
    share_group: str = Field(default=CENTRAL_SHARE_GROUP, pattern=r"^[A-Za-z0-9_-]{1,32}$")


class StoreConfig(Section):
    """Where central keeps its state: a SQLite file (`path`, or `url = "sqlite:..."`) or a
    PostgreSQL database (`url = "postgresql://user@host:port/dbname"`; a password is better
    left to PGPASSWORD or ~/.pgpass than written here)."""

    path: Path = Path("central.sqlite")
    url: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _sqlite_url_is_a_path(cls, data: Any) -> Any:
        # A sqlite: url becomes `path` here, so a relative one is read against the config
        # file's folder like any path; only a PostgreSQL url stays a url.
        if not isinstance(data, Mapping) or data.get("url") is None:
            return data
        url = str(data["url"])
        if url.startswith(("postgresql://", "postgres://")):
            return data
        if not url.startswith("sqlite:"):
            raise ValueError(
                f"store.url {url.split(':', 1)[0]!r}... is neither sqlite: (sqlite:///abs/path, "
                "sqlite:relative/path) nor postgresql:// (postgresql://user@host:port/dbname)"
            )
        if "path" in data:
            raise ValueError("give store.path or a sqlite: store.url, not both")
        rest = url.removeprefix("sqlite:")
        if rest.startswith("//"):
            rest = rest[2:]
            if not rest.startswith("/"):
                raise ValueError(
                    f"store.url {url!r}: a sqlite url names no host; sqlite:///abs/path or "
                    "sqlite:relative/path"
                )
        if not rest:
            raise ValueError("store.url 'sqlite:' names no file: sqlite:///abs/path")
        return {k: v for k, v in data.items() if k != "url"} | {"path": rest}


class KeysConfig(Section):
    # Ed25519 private key (PEM). Sites hold only the public half.
    signing_key: Path = Path("central-signing-key.pem")


class NetworkConfig(Section):
    # The network file (lockernet network generate): sites, partners, couriers.
    file: Path | None = None


class IngestConfig(Section):
    # A batch is committed when it holds this many events or its oldest waited this long.
    batch_size: int = Field(default=500, ge=1, le=20_000)
    flush_interval_s: float = Field(default=0.05, gt=0, le=5)
    # A missing sequence number older than this makes central ask the site to resend.
    gap_timeout_s: float = Field(default=30.0, gt=0)
    # ...and past this, central stops waiting, raises an alarm and applies what followed.
    gap_give_up_s: float = Field(default=7 * DAY_S, gt=0)


class LivenessConfig(Section):
    # A site not heard from (heartbeat, event, state, live status) for this long, or for
    # four of the heartbeat intervals it announced if that is longer, is called offline
    # with an alarm. Sites beat every 15 s by default: a minute is four beats, so one or two
    # lost QoS 0 beats never raise it.
    stale_after_s: float = Field(default=60.0, gt=0)
    # A site whose clock is further off central's than this gets an alarm (cleared below
    # half of it): door commands are refused a minute after issue (DOOR_COMMAND_FRESH_S),
    # so half of that already eats into the margin for delivery.
    clock_offset_limit_s: float = Field(default=30.0, gt=0)
    # A site whose clock is off (past the limit above, or `clock_unsure` in its state) is sent
    # a signed time at once, then at most once per this many seconds (central/sites/site_clock.py):
    # one small command a minute per wrong site, so a site that cannot take it in (a clock
    # ahead: a witnessed time only ever moves a site's time forward) costs little.
    time_send_interval_s: float = Field(default=60.0, gt=0)


class PickupConfig(Section):
    # The regional norm: an uncollected parcel expires 3 days after the consumer was told.
    window_s: float = Field(default=3 * DAY_S, gt=0)
    reminder_before_s: float = Field(default=1 * DAY_S, ge=0)
    # The default notifier writes each message and QR image into this folder.
    notify_folder: Path = Path("notifications")


class MilestonesConfig(Section):
    """[milestones]: partners' and carriers' cross-border milestone feeds."""

    # A folder central's timer takes .csv/.json feed files from (central/parcels/
    # milestone_drop.py): each is recorded, then moved to done/ or rejected/ (with an
    # .errors.txt). None: no file drop (`lockernet parcels events FILE` still records one).
    drop_folder: Path | None = None


class ReservationConfig(Section):
    # A reserved slot lapses if no parcel came by then (the 72-hour delivery promise).
    hold_s: float = Field(default=2 * DAY_S, gt=0)
    max_locker_distance_km: float = Field(default=2.0, gt=0)


class DeliveryConfig(Section):
    """[delivery]: home delivery by couriers (central/delivery/)."""

    # After a failed attempt at the door the consumer may choose a locker or collection
    # point with room for this long (the link in the failed-attempt message, made under
    # [notify] public_url); then central places the parcel at the nearest with room. 0, or
    # no public_url: no choice, central places it at once.
    # At most a day: the parcel is on its courier's van meanwhile, and the 72-hour promise
    # runs on.
    choice_window_s: float = Field(default=2 * 3600.0, ge=0, le=DAY_S)


class CommandConfig(Section):
    # MQTT 5 message expiry: a command a site cannot receive in time is dropped by the broker.
    expiry_s: int = Field(default=3600, ge=1)
    reply_timeout_s: float = Field(default=30.0, gt=0)


# What the rest of a parcel's journey needs from where it is (a cross-border milestone or a
# state in Singapore), hours: the parcel is at risk when less is left before its deadline.
# A milestone or state not named takes the need of the last one before it in the journey
# (central/parcels/promise.py). From dispatch a parcel normally reaches the consumer in
# about 60 hours: a day's linehaul, half a day of customs, the hub's sort, a day's round.
DEFAULT_NEEDS_H: dict[str, float] = {
    "accepted_at_origin": 66.0,
    "dispatched": 60.0,
    "export_customs_cleared": 54.0,
    "linehaul_departed": 48.0,
    "linehaul_arrived": 30.0,
    "import_customs_held": 30.0,
    "import_customs_released": 24.0,
    "import_customs_cleared": 24.0,
    "arrived_at_hub": 20.0,
    "handed_to_partner": 14.0,
    "announced": 12.0,
    "assigned": 8.0,
    "redelivered": 8.0,
    "redirected": 8.0,
    "attempt_failed": 8.0,
    "out_for_delivery": 3.0,
}


class PromiseConfig(Section):
    """The delivery promise (central/parcels/promise.py): a parcel is ready for pickup or
    delivered within `hours` of its dispatch. A parcel sold under a service in `services`
    gets that service's hours, else its partner's in `partners`, else `hours`."""

    hours: float = Field(default=72.0, gt=0, le=24 * 60)
    partners: dict[str, float] = Field(default_factory=dict)
    services: dict[str, float] = Field(default_factory=dict)
    # Laid over DEFAULT_NEEDS_H: name only the milestones or states whose need differs.
    needs: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_NEEDS_H))
    # Parcels judged per transaction by the timer, which judges for at most 0.1 s a tick
    # (central/parcels/promise.py WATCH_BUDGET_S): ingest waits at most one batch.
    batch: int = Field(default=200, ge=1, le=100_000)

    @field_validator("partners", "services")
    @classmethod
    def _positive_hours(cls, value: dict[str, float], info: ValidationInfo) -> dict[str, float]:
        for name, hours in value.items():
            if not (0 < hours <= 24 * 60):
                raise ValueError(
                    f"promise.{info.field_name}.{name} = {hours}: hours must be above 0 and "
                    "at most 1440 (60 days)"
                )
        return value

    @field_validator("needs")
    @classmethod
    def _known_needs(cls, value: dict[str, float]) -> dict[str, float]:
        from central.parcels.lifecycle import ParcelState
        from central.parcels.milestones import Milestone

        known = {m.value for m in Milestone} | {s.value for s in ParcelState}
        for name, hours in value.items():
            if name not in known:
                raise ValueError(
                    f"promise.needs.{name}: not a milestone or a parcel state (one of "
                    f"{', '.join(DEFAULT_NEEDS_H)}, ...)"
                )
            if not (0 <= hours <= 24 * 60):
                raise ValueError(f"promise.needs.{name} = {hours}: hours must be 0 to 1440")
        return {**DEFAULT_NEEDS_H, **value}


class ServiceConfig(Section):
    # How often timers (reminders, expiries, lapses, gap checks) are looked at, real seconds.
    tick_interval_s: float = Field(default=1.0, gt=0, le=60)
    # Central republishes its retained status this often, so with several processes the
    # status comes back "online" soon after one of them stops.
    status_interval_s: float = Field(default=60.0, gt=0)
    # A task claimed by a process that then died is taken over after this long.
    task_lease_s: float = Field(default=60.0, gt=0)
    # A parcel left announced (never placed, or its reservation lapsed or was refused) is
    # placed again by the timer after this long (central/service/timers.py).
    replace_after_s: float = Field(default=30.0, ge=0)
    log_level: str = Field(default="INFO", pattern=r"^(DEBUG|INFO|WARNING|ERROR)$")
    # "text" for a person at a terminal or journalctl; "json" (one object per line) for a
    # log collector.
    log_format: str = Field(default="text", pattern=r"^(text|json)$")


class ApiConfig(Section):
    """[api]: central's HTTP API, the operator console and /metrics (docs/operator.md)."""

    # "HOST:PORT" that `lockernet central run` serves on, in a thread of its own; None: not
    # served by the service (`lockernet central api` serves it beside, in its own process).
    listen: str | None = Field(default=None, pattern=r"^[^:\s]+:[0-9]{1,5}$")
    # The key that signs console login cookies: made (0600) on first use if missing.
    session_secret_file: Path = Path("console-session.key")
    session_max_age_s: int = Field(default=12 * 3600, ge=60)
    # Webhooks (Standard Webhooks): one POST's timeout, the retry schedule's first wait and
    # the attempts before a delivery is given up (and shown as failed).
    webhook_timeout_s: float = Field(default=10.0, gt=0, le=60)
    webhook_retry_first_s: float = Field(default=5.0, gt=0)
    webhook_max_attempts: int = Field(default=8, ge=1, le=50)


class CentralConfig(ProgramSettings):
    """Everything one central process needs to know."""

    program: ClassVar[str] = "central"

    # One broker ([broker], named "main") or several ([[brokers]], each named): never both,
    # except that a [broker] table beside [[brokers]] may set client_id alone, for every
    # broker (LOCKERNET_CENTRAL__BROKER__CLIENT_ID gives a second process its own sessions).
    # `broker_list` is the brokers central consumes from, whichever form was given.
    broker: BrokerConfig = BrokerConfig()
    brokers: list[BrokerConfig] = Field(default_factory=list)
    topics: TopicsConfig = TopicsConfig()
    store: StoreConfig = StoreConfig()
    keys: KeysConfig = KeysConfig()
    network: NetworkConfig = NetworkConfig()
    ingest: IngestConfig = IngestConfig()
    liveness: LivenessConfig = LivenessConfig()
    pickup: PickupConfig = PickupConfig()
    reservations: ReservationConfig = ReservationConfig()
    delivery: DeliveryConfig = DeliveryConfig()
    milestones: MilestonesConfig = MilestonesConfig()
    commands: CommandConfig = CommandConfig()
    service: ServiceConfig = ServiceConfig()
    api: ApiConfig = ApiConfig()
    promise: PromiseConfig = PromiseConfig()
    notify: NotifyConfig = NotifyConfig()

    @model_validator(mode="after")
    def _one_broker_form(self) -> CentralConfig:
        if not self.brokers:
            return self
        if "broker" in self.model_fields_set:
            given = sorted(self.broker.model_fields_set - {"client_id"})
            if given:
                raise ValueError(
                    "[broker] and [[brokers]] are both given (broker."
                    + ", broker.".join(given)
                    + f"; brokers at {', '.join(b.address for b in self.brokers)}): "
                    "move the settings into [[brokers]] (beside it, [broker] may set only "
                    "client_id)"
                )
        problems = []
        names: dict[str, int] = {}
        addresses: dict[str, int] = {}
        for index, broker in enumerate(self.brokers):
            if broker.name in names:
                problems.append(
                    f"brokers[{index}].name {broker.name!r} ({broker.address}) is already "
                    f"brokers[{names[broker.name]}]'s: each broker needs a name of its own"
                )
            if broker.address in addresses:
                problems.append(
                    f"brokers[{index}] ({broker.name}) has the host:port {broker.address} of "
                    f"brokers[{addresses[broker.address]}]: central would consume it twice"
                )
            names.setdefault(broker.name, index)
            addresses.setdefault(broker.address, index)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @model_validator(mode="after")
    def _batch_fits_in_flight(self) -> CentralConfig:
        single = not self.brokers
        for index, broker in enumerate(self.broker_list):
            if self.ingest.batch_size > broker.receive_maximum:
                key = "broker" if single else f"brokers[{index}]"
                raise ValueError(
                    f"ingest.batch_size ({self.ingest.batch_size}) must not exceed "
                    f"{key}.receive_maximum ({broker.receive_maximum}, {broker.address}): "
                    "a batch could never fill"
                )
        return self

    @model_serializer(mode="wrap")
    def _dump_one_broker_form(
        self, handler: SerializerFunctionWrapHandler, info: SerializationInfo
    ) -> dict[str, Any]:
        # A dump parses back to the same brokers (a child process's config, a written file):
        # only the form in use, with a [broker] client_id already laid over [[brokers]].
        data: dict[str, Any] = handler(self)
        if not self.brokers:
            data.pop("brokers", None)
            return data
        data.pop("broker", None)
        if "brokers" in data:
            data["brokers"] = [b.model_dump(mode=info.mode) for b in self.broker_list]
        return data

    @property
    def broker_list(self) -> tuple[BrokerConfig, ...]:
        """Every broker central consumes from: the [[brokers]] (with a [broker] client_id
        laid over each, if one was given), or the single [broker] as "main"."""
        if not self.brokers:
            return (self.broker,)
        if "client_id" in self.broker.model_fields_set:
            client_id = self.broker.client_id
            return tuple(b.model_copy(update={"client_id": client_id}) for b in self.brokers)
        return tuple(self.brokers)

    def resolve_paths(self, base: Path) -> CentralConfig:
        """Relative paths are relative to the config file's folder, not the working dir."""
        resolved: CentralConfig = resolve_paths(self, base)
        return _resolve_broker_paths(resolved, base)


def _resolve_broker_paths(config: CentralConfig, base: Path) -> CentralConfig:
    # The shared resolve_paths walks sections, not lists of them: [[brokers]]' files here.
    if not config.brokers:
        return config
    brokers = [resolve_paths(b, base) for b in config.brokers]
    return config.model_copy(update={"brokers": brokers})


def parse_config(
    data: Mapping[str, Any],
    origin: str = "config",
    environ: Mapping[str, str] = NO_ENVIRONMENT,
) -> CentralConfig:
    """Validate a config table with `environ`'s LOCKERNET_CENTRAL__ overrides on top (none
    unless given); ConfigError names `origin` and every bad key."""
    try:
        return validate_settings(CentralConfig, data, origin, environ)
    except SettingsError as exc:
        raise ConfigError(str(exc)) from None


def load_config(path: Path, environ: Mapping[str, str] | None = None) -> CentralConfig:
    """Read central.toml with the environment's overrides (os.environ unless `environ` is
    given); relative paths in it are relative to its folder. ConfigError names the file
    and every bad key."""
    try:
        config = load_settings(CentralConfig, Path(path), environ)
    except SettingsError as exc:
        raise ConfigError(str(exc)) from None
    return _resolve_broker_paths(config, Path(path).resolve().parent)
