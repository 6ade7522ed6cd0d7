"""The central service: one MQTT session per broker, one ingest worker, one timer thread,
the store.

    paho network threads --on_message--> inbox --> ingest worker thread
      (broker_session.py)                          | commit batch (one transaction)
                                                   | acknowledge its messages
                                                   (ingest_worker.py)
                                                  timer thread
                                                   | every tick: gaps, lapses,
                                                   |   placement, due tasks, status
                                                   (timers.py)
                                                  webhook thread
                                                   | due webhook deliveries, signed
                                                   (central/partners/sender.py)

This module wires the parts together and starts and stops them.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
import uuid
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING

from central.capacity.placement import PlacementPolicy
from central.capacity.reservations import Reservations
from central.delivery.redirect import redirect_handlers
from central.errors import CentralError
from central.notify.code_links import code_links
from central.notify.queued_only import QueuedOnly
from central.notify.sender import NotificationSender, RetryPolicy, transports_for
from central.operator.processes import alive_within_s
from central.parcels.pickup import FolderReminders, PickupFollowUps, ReminderSender
from central.parcels.pickup_codes import FolderNotifier, Notifier
from central.parcels.tasks import TaskKind, TaskRunner
from central.partners.sender import WebhookSender
from central.service import systemd
from central.service.broker_session import BrokerSession, BrokerSessions
from central.service.config import CentralConfig
from central.service.ingest_worker import AckToken, IngestWorker
from central.service.loading import load_configured_network, load_signer
from central.service.metrics import CentralMetrics
from central.service.startup_checks import check_files
from central.service.timers import REPLACE_AFTER_S, ProcessHeartbeat, Timers
from central.sites import registry
from central.sites.commands import CommandSender
from central.sites.ingest import Delivery, Ingest
from central.sites.lockouts import LockoutEnds
from central.sites.network import Network
from central.sites.site_events import EventEffects
from central.store import AlarmRecord, CentralStore, CommandRecord
from central.store.open import open_reader, open_store, store_location
from protocols.clock import Clock, SystemClock
from protocols.messages import CentralStatus, encode
from protocols.tokens import TokenSigner
from protocols.topics import Topics

if TYPE_CHECKING:
    from central.web.serve import ApiServer

__all__ = [
    "REPLACE_AFTER_S",
    "CentralService",
    "load_configured_network",
    "load_signer",
]

log = logging.getLogger(__name__)


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
        check_files(config)  # a missing TLS file is named now, not as a failed connect later
        self.clock: Clock = clock or SystemClock()
        self.signer = signer or load_signer(config)
        self.network = network if network is not None else load_configured_network(config)
        self.store: CentralStore = store or open_store(config.store)
        # This process's metrics, in a registry of its own (served at /metrics by the app).
        self.metrics = CentralMetrics()
        self.metrics.watch_store(lambda: open_reader(store_location(config.store)))
        self.topics = Topics(config.topics.root)
        self.boot_id = uuid.uuid4().hex[:16]
        self.ingest = Ingest(
            self.store,
            self.topics,
            EventEffects(config.pickup),
            config.ingest,
            liveness=config.liveness,
        )
        self.sender = CommandSender(
            self.store,
            self.signer,
            self.topics,
            self.clock,
            self._publish_command,
            config.commands.expiry_s,
        )
        folder = config.pickup.notify_folder
        # With an e-mail or SMS server configured the consumer hears through the queue
        # (central/notify) alone; the folder stays the default for development and the sim.
        queued = QueuedOnly() if config.notify.email or config.notify.sms else None
        self.followups = PickupFollowUps(
            self.store,
            self.signer,
            notifier or queued or FolderNotifier(folder),
            reminders or queued or FolderReminders(folder),
            links=code_links(config.notify),
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
            owner=f"{config.broker_list[0].client_id}/{self.boot_id}",
            lease_s=config.service.task_lease_s,
            handlers={
                TaskKind.ISSUE_CODE.value: self.followups.issue_codes,
                TaskKind.REMIND.value: self.followups.remind,
                TaskKind.EXPIRE.value: self.followups.expire,
                TaskKind.SEND_COMMAND.value: self.sender.run_tasks,
                TaskKind.END_LOCKOUT.value: LockoutEnds(self.store).run_tasks,
                # A failed home delivery: redirected to a site with room, or returned.
                **redirect_handlers(self.store, self.network, config),
            },
        )
        self._stopping = threading.Event()
        self.api_server: ApiServer | None = None
        self._worker: threading.Thread | None = None
        self._timer: threading.Thread | None = None
        # Partners' webhooks, sent from a thread of their own: a slow receiver waits out
        # its timeout there, never on ingest's or the timer's (central/partners/sender.py).
        self.webhooks = WebhookSender(self.store, config.api, clock=self.clock)
        self._webhook_thread: threading.Thread | None = None
        # Consumers' e-mails and SMS, sent from a thread of their own too (central/notify).
        self.notifications = NotificationSender(
            self.store,
            transports_for(config.notify, config.pickup.notify_folder),
            clock=self.clock,
            quiet=config.notify.quiet,
            retry=RetryPolicy(
                config.notify.retry_first_s, config.notify.retry_max_s, config.notify.max_attempts
            ),
        )
        self._notify_thread: threading.Thread | None = None
        # One session per broker (docs/brokers.md): each its own client and connection.
        self.mqtt = BrokerSessions(
            [
                BrokerSession(
                    config,
                    broker,
                    topics=self.topics,
                    clock=self.clock,
                    status=lambda online: self._status(online=online),
                    stopping=self._stopping,
                    deliver=self._deliver,
                    reply_heard=self.sender.waiters.resolve,
                )
                for broker in config.broker_list
            ]
        )
        self.ingest_worker = IngestWorker(
            self.ingest,
            config=config.ingest,
            clock=self.clock,
            ack=self.mqtt.ack,
            stopping=self._stopping,
            metrics=self.metrics,
        )
        self.process = ProcessHeartbeat(
            self.store,
            client_id=config.broker_list[0].client_id,
            boot_id=self.boot_id,
            started_at=self.clock.now(),
            totals=self.ingest.totals,
            brokers=self._connected_brokers,
        )
        self.timers = Timers(
            config=config,
            clock=self.clock,
            store=self.store,
            ingest=self.ingest,
            reservations=self.reservations,
            tasks=self.tasks,
            client=self.mqtt,
            topics=self.topics,
            status=lambda: self._status(online=True),
            listening_since=self.mqtt.hearing,
            stopping=self._stopping,
            process=self.process,
            metrics=self.metrics,
        )

    # ------------------------------------------------------------------- life cycle

    def start(self, wait_connected_s: float | None = 10.0) -> None:
        """Load the network file, start the threads, connect. CentralError if another
        process on this host runs under the same broker.client_id (it would take the
        broker session from this one, and this one from it, every few seconds)."""
        twin = self.process.live_twin(
            self.clock.now(), alive_within_s(self.config.service.tick_interval_s)
        )
        if twin is not None:
            raise CentralError(
                f"central process {twin.process} (pid {twin.pid}) already runs here under "
                f"broker.client_id {twin.client_id!r}: stop it, or give this one its own "
                "(LOCKERNET_CENTRAL__BROKER__CLIENT_ID=...) - this one changed nothing"
            )
        # Bound before anything starts: a port in use stops the start with its host:port.
        self.api_server = self._api_server()
        if self.network is not None:
            with self.store.transaction() as session:
                added = registry.load_network(session, self.network)
            log.info(
                "registry: %s sites from the network file (%s new)", len(self.network.sites), added
            )
        self._worker = threading.Thread(
            target=self.ingest_worker.run, name="central-ingest", daemon=True
        )
        self._worker.start()
        self.process.write(self.clock.now())
        self._timer = threading.Thread(target=self.timers.run, name="central-timer", daemon=True)
        self._timer.start()
        self._webhook_thread = threading.Thread(
            target=self.webhooks.run,
            args=(self._stopping, self.config.service.tick_interval_s),
            name="central-webhooks",
            daemon=True,
        )
        self._webhook_thread.start()
        self._notify_thread = threading.Thread(
            target=self.notifications.run,
            args=(self._stopping, self.config.service.tick_interval_s),
            name="central-notify",
            daemon=True,
        )
        self._notify_thread.start()
        self.mqtt.connect(wait_connected_s)
        if self.api_server is not None:
            self.api_server.start()

    def stop(self) -> None:
        """Commit what was received, say offline, disconnect (the session stays at the broker)."""
        if self.api_server is not None:
            self.api_server.stop()  # first: no request may write to a store being closed
        self._stopping.set()
        for thread in (self._timer, self._worker, self._webhook_thread, self._notify_thread):
            if thread is not None:
                thread.join()
        self.webhooks.close()
        self.notifications.close()
        self.mqtt.close()
        self.process.write(self.clock.now(), stopped=True)
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
            beats = (now - self.ingest_worker.heartbeat, now - self.timers.heartbeat)
            if watchdog and max(beats) < 2 * watchdog + self.config.service.tick_interval_s:
                systemd.notify("WATCHDOG=1")
        systemd.notify("STOPPING=1")
        self.stop()
        return 0

    # ------------------------------------------------------------------- the threads

    def tick(self) -> None:
        """One round of the timer work now (central/service/timers.py)."""
        self.timers.tick()

    @property
    def committed_batches(self) -> int:
        """Batches the ingest worker has committed since start."""
        return self.ingest_worker.committed_batches

    @property
    def on_commit(self) -> Callable[[int], None] | None:
        """Called with each committed batch's message count (tests and benchmarks watch)."""
        return self.ingest_worker.on_commit

    @on_commit.setter
    def on_commit(self, watcher: Callable[[int], None] | None) -> None:
        self.ingest_worker.on_commit = watcher

    # ----------------------------------------------------------------------- helpers

    def _api_server(self) -> ApiServer | None:
        """The HTTP app on `[api] listen`, asking sites through this process's sender."""
        if self.config.api.listen is None:
            return None
        from central.web.app import create_app
        from central.web.serve import ApiServer, web_context

        ctx = web_context(self.config, self.store, self.signer, self.clock, self.sender.request)
        ctx.registry = self.metrics.registry  # /metrics shows this process's own metrics
        return ApiServer(create_app(ctx), self.config.api.listen)

    def _publish_command(
        self, topic: str, payload: bytes, expiry_s: int, broker: str | None = None
    ) -> None:
        # On the site's own broker; unknown yet: on every one (the site hears it on its own).
        self.mqtt.publish_to_site(topic, payload, expiry_s, broker)

    def _deliver(self, delivery: Delivery, token: AckToken) -> None:
        self.ingest_worker.put(delivery, token)

    def _status(self, online: bool) -> bytes:
        return encode(CentralStatus(online=online, boot_id=self.boot_id, at=time.time()))

    def _connected_brokers(self) -> list[str]:
        """Names of the brokers this process is connected to now (its status row)."""
        return self.mqtt.connected_names()

    @property
    def connected(self) -> bool:
        """True once every configured broker is connected."""
        return self.mqtt.all_connected()

    def store_commands(self, site: str) -> list[CommandRecord]:
        """Commands sent to a site, with their replies (for tests and the operator shell)."""
        with self.store.transaction() as session:
            return session.commands_to(site)

    def store_alarms(self) -> list[AlarmRecord]:
        """Open alarms (for tests and the operator shell)."""
        with self.store.transaction() as session:
            return session.list_alarms()
