"""The central service: one MQTT session, one worker, the store.

    paho network thread --on_message--> inbox queue --> worker thread
                                                          | commit batch (one transaction)
                                                          | acknowledge its messages
                                                          | every tick: gaps, lapses,
                                                          |   placement, due tasks, status

Events are acknowledged to the broker (MQTT 5 PUBACK, paho manual_ack) only after the batch
holding them is committed, so a crash at any point loses nothing: the broker resends what
was not acknowledged, and the store's (site, seq) key makes the resend a no-op.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import signal
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType

import paho.mqtt.client as mqtt
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from central.capacity.placement import PlacementPolicy
from central.capacity.reservations import PLACEMENT_CHUNK, Reservations
from central.errors import ConfigError
from central.parcels.pickup import FolderReminders, PickupFollowUps, ReminderSender
from central.parcels.pickup_codes import FolderNotifier, Notifier
from central.parcels.tasks import TaskKind, TaskRunner
from central.service import systemd
from central.service.config import CentralConfig
from central.service.link import LinkError, Will, make_client, publish_and_wait
from central.sites import liveness, registry
from central.sites.commands import CommandSender
from central.sites.ingest import Delivery, Ingest
from central.sites.network import Network, NetworkFileError, load_network
from central.sites.site_events import EventEffects
from central.store import AlarmRecord, CentralStore, CommandRecord, SqliteStore
from protocols.clock import Clock, SystemClock
from protocols.errors import ProtocolError
from protocols.messages import CentralStatus, Reply, decode, encode
from protocols.tokens import TokenSigner
from protocols.topics import SiteChannel, Topics

log = logging.getLogger(__name__)

# A failed commit (the disk, a lock held too long) is retried after this long; the batch's
# messages stay unacknowledged meanwhile, so nothing is lost.
COMMIT_RETRY_S = 1.0
# A parcel left announced (never placed, or its reservation lapsed or was refused) is placed
# again by the timer after this long: `parcels import` places its own at once, and a site
# that refuses a reservation gets time to send its state before central tries again.
REPLACE_AFTER_S = 30.0
# An idle ingest worker looks up this often (to notice a stop, and to show it is alive).
IDLE_WAKE_S = 0.5


def load_signer(config: CentralConfig) -> TokenSigner:
    path = config.keys.signing_key
    try:
        pem = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            f"keys.signing_key: {path} does not exist "
            "(make one with: lockernet central keygen --out <file>)"
        ) from None
    except OSError as exc:
        raise ConfigError(f"keys.signing_key: cannot read {path}: {exc.strerror}") from None
    try:
        return TokenSigner.from_pem(pem)
    except ValueError as exc:
        raise ConfigError(
            f"keys.signing_key: {path} is not an Ed25519 private key: {exc}"
        ) from None


def load_configured_network(config: CentralConfig) -> Network | None:
    if config.network.file is None:
        return None
    try:
        return load_network(config.network.file)
    except NetworkFileError as exc:
        raise ConfigError(f"network.file: {exc}") from None


@dataclass(frozen=True)
class _AckToken:
    generation: int
    mid: int
    qos: int


class CentralService:
    """Everything `lockernet central run` does, startable and stoppable in-process (tests)."""

    def __init__(
        self,
        config: CentralConfig,
        *,
        clock: Clock | None = None,
        signer: TokenSigner | None = None,
        network: Network | None = None,
        store: CentralStore | None = None,
        notifier: Notifier | None = None,
        reminders: ReminderSender | None = None,
    ) -> None:
        self.config = config
        self.clock: Clock = clock or SystemClock()
        self.signer = signer or load_signer(config)
        self.network = network if network is not None else load_configured_network(config)
        self.store: CentralStore = store or SqliteStore(config.store.path)
        self.topics = Topics(config.topics.root)
        self.boot_id = uuid.uuid4().hex[:16]
        self.ingest = Ingest(
            self.store,
            self.topics,
            EventEffects(config.pickup),
            config.ingest,
            liveness=config.liveness,
        )
        # When this process last began to hear the sites (a connect): a site's silence is
        # counted from here at the earliest (central/sites/liveness.py).
        self._listening_since: float | None = None
        self.sender = CommandSender(
            self.store,
            self.signer,
            self.topics,
            self.clock,
            self._publish_command,
            config.commands.expiry_s,
        )
        folder = config.pickup.notify_folder
        self.followups = PickupFollowUps(
            self.store,
            self.signer,
            notifier or FolderNotifier(folder),
            reminders or FolderReminders(folder),
        )
        self.reservations = (
            Reservations(
                self.store,
                self.network,
                config.reservations.hold_s,
                PlacementPolicy(max_locker_distance_km=config.reservations.max_locker_distance_km),
            )
            if self.network is not None
            else None
        )
        self.tasks = TaskRunner(
            self.store,
            owner=f"{config.broker.client_id}/{self.boot_id}",
            lease_s=config.service.task_lease_s,
            handlers={
                TaskKind.ISSUE_CODE.value: self.followups.issue_codes,
                TaskKind.REMIND.value: self.followups.remind,
                TaskKind.EXPIRE.value: self.followups.expire,
                TaskKind.SEND_COMMAND.value: self.sender.run_tasks,
            },
        )
        self._inbox: queue.Queue[tuple[Delivery, _AckToken]] = queue.Queue()
        self._generation = 0
        self._connected = threading.Event()
        self._stopping = threading.Event()
        self._worker: threading.Thread | None = None
        self._timer: threading.Thread | None = None
        self._heartbeat = self._timer_heartbeat = time.monotonic()
        will = Will(self.topics.central_status(), self._status(online=False))
        self.client, self._connect_properties = make_client(
            config.broker, config.broker.client_id, persistent=True, manual_ack=True, will=will
        )
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe
        self._group = config.topics.share_group
        self.committed_batches = 0
        self.on_commit: Callable[[int], None] | None = None  # tests and benchmarks watch this

    # ------------------------------------------------------------------- life cycle

    def start(self, wait_connected_s: float | None = 10.0) -> None:
        if self.network is not None:
            with self.store.transaction() as session:
                added = registry.load_network(session, self.network)
            log.info(
                "registry: %s sites from the network file (%s new)", len(self.network.sites), added
            )
        self._worker = threading.Thread(target=self._work, name="central-ingest", daemon=True)
        self._worker.start()
        self._timer = threading.Thread(target=self._time, name="central-timer", daemon=True)
        self._timer.start()
        broker = self.config.broker
        self.client.connect_async(
            broker.host,
            broker.port,
            broker.keepalive_s,
            clean_start=False,
            properties=self._connect_properties,
        )
        self.client.loop_start()
        if wait_connected_s is not None and not self._connected.wait(wait_connected_s):
            log.warning(
                "not connected to %s:%s yet; retrying in the background", broker.host, broker.port
            )

    def stop(self) -> None:
        """Commit what was received, say offline, disconnect (the session stays at the broker)."""
        self._stopping.set()
        for thread in (self._timer, self._worker):
            if thread is not None:
                thread.join()
        if self.client.is_connected():
            try:
                publish_and_wait(
                    self.client,
                    self.topics.central_status(),
                    self._status(online=False),
                    retain=True,
                    timeout_s=2.0,
                )
            except LinkError as exc:
                log.warning("could not publish central's offline status: %s", exc)
        self.client.disconnect()
        self.client.loop_stop()
        self.store.close()
        totals = self.ingest.totals
        log.info(
            "stopped: %s events received, %s applied, %s duplicates, %s rejected, %s other",
            totals["received"],
            totals["applied"],
            totals["duplicates"],
            totals["rejected"],
            totals["other"],
        )

    def run_forever(self) -> int:
        """`lockernet central run`: until SIGTERM or SIGINT."""
        done = threading.Event()

        def handle(signum: int, _frame: FrameType | None) -> None:
            log.info("signal %s: stopping", signal.Signals(signum).name)
            done.set()

        signal.signal(signal.SIGTERM, handle)
        signal.signal(signal.SIGINT, handle)
        self.start(wait_connected_s=None)
        watchdog = systemd.watchdog_interval_s()
        while not done.wait(watchdog or 3600):
            # Fed only while the worker goes round its loop: a hung commit or a dead worker
            # stops the feeding, and systemd restarts central (the broker keeps the events).
            now = time.monotonic()
            beats = (now - self._heartbeat, now - self._timer_heartbeat)
            if watchdog and max(beats) < 2 * watchdog + self.config.service.tick_interval_s:
                systemd.notify("WATCHDOG=1")
        systemd.notify("STOPPING=1")
        self.stop()
        return 0

    # ---------------------------------------------------------------- MQTT callbacks

    def _on_connect(
        self,
        client: mqtt.Client,
        _userdata: object,
        flags: mqtt.ConnectFlags,
        reason: ReasonCode,
        _properties: Properties | None,
    ) -> None:
        if reason.is_failure:
            log.error("broker refused central's connection: %s", reason)
            return
        self._generation += 1
        self._listening_since = self.clock.now()
        options = SubscribeOptions(qos=1)
        # Subscribed on every connect, whatever session_present says: Mosquitto 2.0 does not
        # restore a shared subscription across its own restart, though it says the session
        # is present. Heartbeats at QoS 0: one that is late is worth nothing.
        client.subscribe(
            [
                (self.topics.shared_events(self.config.topics.share_group), options),
                (self.topics.all_sites(SiteChannel.STATUS), options),
                (self.topics.all_sites(SiteChannel.STATE), options),
                (self.topics.all_sites(SiteChannel.REPLIES), options),
                (self.topics.all_sites(SiteChannel.HEARTBEAT), SubscribeOptions(qos=0)),
            ]
        )
        client.publish(self.topics.central_status(), self._status(online=True), qos=1, retain=True)
        log.info(
            "connected to the broker (session %s)",
            "resumed" if flags.session_present else "new",
        )
        self._connected.set()
        systemd.notify("READY=1")

    def _on_subscribe(
        self,
        _client: mqtt.Client,
        _userdata: object,
        _mid: int,
        reasons: list[ReasonCode],
        _properties: Properties | None,
    ) -> None:
        refused = [str(r) for r in reasons if r.is_failure]
        if refused:
            log.error("broker refused central's subscriptions: %s", ", ".join(refused))
        else:
            log.info("subscribed to the sites (events shared in group %s)", self._group)

    def _on_disconnect(
        self,
        _client: mqtt.Client,
        _userdata: object,
        _flags: mqtt.DisconnectFlags,
        reason: ReasonCode,
        _properties: Properties | None,
    ) -> None:
        self._connected.clear()
        if not self._stopping.is_set():
            broker = self.config.broker
            log.warning(
                "lost the broker %s:%s (%s); reconnecting", broker.host, broker.port, reason
            )

    def _on_message(
        self, _client: mqtt.Client, _userdata: object, message: mqtt.MQTTMessage
    ) -> None:
        if self._stopping.is_set():
            return  # not acknowledged: the broker gives it to whoever runs next
        token = _AckToken(self._generation, message.mid, message.qos)
        topic = message.topic
        if topic.endswith("/" + SiteChannel.REPLIES.value):
            # Whoever waits for this reply hears it now; it is stored with the next batch.
            # A malformed reply is counted and logged by the batch commit.
            with contextlib.suppress(ProtocolError):
                self.sender.waiters.resolve(decode(Reply, bytes(message.payload)))
        delivery = Delivery(
            topic,
            bytes(message.payload),
            retained=bool(message.retain),
            received_at=self.clock.now(),
        )
        self._inbox.put((delivery, token))

    # ------------------------------------------------------------------------ worker

    def _work(self) -> None:
        """The ingest worker: batches from the inbox, committed, then acknowledged."""
        ingest = self.config.ingest
        batch: list[tuple[Delivery, _AckToken]] = []
        batch_started = 0.0
        while True:
            stopping = self._stopping.is_set()
            now_m = self._heartbeat = time.monotonic()
            if batch and (
                len(batch) >= ingest.batch_size
                or now_m - batch_started >= ingest.flush_interval_s
                or stopping
            ):
                if not self._commit(batch):
                    if self._stopping.wait(COMMIT_RETRY_S) and not self._retry_on_stop(batch):
                        return
                    continue
                batch = []
            if stopping and self._inbox.empty():
                return
            wait = IDLE_WAKE_S
            if batch:
                wait = min(wait, batch_started + ingest.flush_interval_s - time.monotonic())
            try:
                item = self._inbox.get(timeout=max(0.0, wait) if not stopping else 0)
            except queue.Empty:
                continue
            if not batch:
                batch_started = time.monotonic()
            batch.append(item)
            # Take whatever else is already waiting, up to a full batch, without blocking.
            while len(batch) < ingest.batch_size:
                try:
                    batch.append(self._inbox.get_nowait())
                except queue.Empty:
                    break

    def _time(self) -> None:
        """The timer thread: gaps, lapses, placement, due tasks and central's status, so
        slow follow-up work (a QR image, a command round trip) never holds up ingest."""
        service = self.config.service
        next_status = time.monotonic() + service.status_interval_s
        while not self._stopping.wait(service.tick_interval_s):
            self._timer_heartbeat = time.monotonic()
            self._safe_tick()
            if time.monotonic() >= next_status and self.client.is_connected():
                self.client.publish(
                    self.topics.central_status(), self._status(online=True), qos=1, retain=True
                )
                next_status = time.monotonic() + service.status_interval_s

    def _retry_on_stop(self, batch: list[tuple[Delivery, _AckToken]]) -> bool:
        # Stopping with a batch that will not commit: leave it unacknowledged for the broker
        # to resend to whoever runs next.
        log.error("stopping with %s uncommitted messages; the broker will resend them", len(batch))
        return False

    def _commit(self, batch: list[tuple[Delivery, _AckToken]]) -> bool:
        try:
            result = self.ingest.commit([d for d, _ in batch], self.clock.now())
        except Exception:
            log.exception("commit of %s messages failed; retrying", len(batch))
            return False
        generation = self._generation
        for _, token in batch:
            # A message from an earlier connection is already on its way again from the
            # broker (unacknowledged messages are resent on reconnect): acking its old
            # packet id on the new connection would acknowledge a different message.
            if token.generation == generation and token.qos > 0:
                self.client.ack(token.mid, token.qos)
        self.committed_batches += 1
        if result.rejected:
            log.warning("batch: %s message(s) rejected", result.rejected)
        if self.on_commit is not None:
            self.on_commit(len(batch))
        return True

    def _safe_tick(self) -> None:
        try:
            self.tick()
        except Exception:
            log.exception("timer work failed; trying again at the next tick")

    def tick(self) -> None:
        """Timer work: gaps, reservation lapses, placement of waiting parcels, due tasks."""
        now = self.clock.now()
        self.ingest.check_gaps(now)
        if self.client.is_connected() and self._listening_since is not None:
            # Only while connected: with the broker gone central hears nobody, and that
            # says nothing about the sites.
            with self.store.transaction() as session:
                liveness.check_stale(session, now, self._listening_since, self.config.liveness)
        if self.reservations is not None:
            self.reservations.lapse_due(now)
            with self.store.transaction() as session:
                waiting = [
                    p.label
                    for p in session.parcels_in_state(["announced"], PLACEMENT_CHUNK)
                    if p.updated_at <= now - REPLACE_AFTER_S
                ]
            if waiting:
                self.reservations.place(waiting, now)
        if self.client.is_connected():
            while self.tasks.run_due(now) > 0 and not self._stopping.is_set():
                now = self.clock.now()

    # ----------------------------------------------------------------------- helpers

    def _publish_command(self, topic: str, payload: bytes, expiry_s: int) -> None:
        publish_and_wait(self.client, topic, payload, expiry_s=expiry_s)

    def _status(self, online: bool) -> bytes:
        return encode(CentralStatus(online=online, boot_id=self.boot_id, at=time.time()))

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def store_commands(self, site: str) -> list[CommandRecord]:
        """Commands sent to a site, with their replies (for tests and the operator shell)."""
        with self.store.transaction() as session:
            return session.commands_to(site)

    def store_alarms(self) -> list[AlarmRecord]:
        """Open alarms (for tests and the operator shell)."""
        with self.store.transaction() as session:
            return session.list_alarms()
