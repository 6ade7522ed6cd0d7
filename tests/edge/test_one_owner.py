"""One owner per site: a second agent for a running site is refused before it opens anything,
and the first goes on serving. Real `lockernet edge run` processes, ptys, a real broker."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys

import pytest
import serial

from edge.drivers.links import SerialLink
from edge.errors import PortClosed
from edge.host import control
from edge.host.ownership import SiteOwned, lock_path
from hw_sim.field.host_faults import start_second_agent, start_second_agent_process
from hw_sim.people.people import Courier
from protocols.messages import FaultComponent, ReserveSlot, ScannerFaultCode, SlotState
from tests.edge.rig import BRISK, Observer, SiteRig, labels
from tests.edge.test_offline import _toml
from tests.eventually import eventually_async

pytestmark = [pytest.mark.broker, pytest.mark.pty]


async def _edge(*args: str) -> tuple[int, bytes, bytes]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "protocols.cli",
        "edge",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out, err


def test_a_second_edge_run_exits_at_once_naming_the_first_which_keeps_serving(
    tmp_path, broker, topics
):
    observer = Observer(broker, topics, "L0001")
    (parcel,) = labels(1, start=7000)

    async def scenario() -> None:
        rig = SiteRig(tmp_path, broker, topics)
        rig.sim.serve_pty(rig.devices_dir)
        config_file = tmp_path / "site.toml"
        config_file.write_text(_toml(rig))
        first = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "protocols.cli",
            "edge",
            "run",
            "--config",
            str(config_file),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        sock = control.socket_path(rig.config.state_dir, "L0001")
        try:
            await eventually_async(
                lambda: b'"online":true' in observer.retained.get("status", b""), 15, "online"
            )
            await eventually_async(sock.exists, 10, "the control socket")

            second = await start_second_agent_process(config_file)

            assert second.refused and second.exit_code == 2, second
            lock = lock_path(rig.config.state_dir, "L0001")
            assert f"pid {first.pid}" in second.message and str(lock) in second.message
            assert first.returncode is None  # the first is untouched
            assert lock.read_text().strip() == str(first.pid)  # still the first's
            # Its control socket is still its own: the technician's commands still work.
            code, out, _ = await _edge("diag", "--config", str(config_file), "--json")
            assert code == 0
            report = json.loads(out)
            # Never kicked off the broker by a second client with its id, never lost its ports.
            assert report["link"]["connects"] == 1 and report["link"]["disconnects"] == 0
            assert report["serial"]["port_open"] and report["scanner"]["connected"]
            assert all(task["running"] for task in report["tasks"].values())
            # And it serves: central's reservation is answered and the courier's door opens.
            command = rig.command(
                ReserveSlot(parcel=parcel, size="S", until=rig.clock.now() + 3600)
            )
            observer.send(rig.signed(command))
            await eventually_async(lambda: observer.reply_to(command.id) is not None, 10)
            deposit = await Courier(rig.sim, BRISK).deposit(rig.badge(), [parcel])
            assert parcel in deposit.placed
            await eventually_async(lambda: observer.of_type("parcel_deposited"), 10, "deposit")
        finally:
            if first.returncode is None:
                first.send_signal(signal.SIGTERM)
                await first.wait()
            await rig.sim.aclose()
        assert first.returncode == 0
        assert not sock.exists()  # the owner took its socket away on a clean stop

    asyncio.run(scenario())
    observer.close()


def test_a_second_agent_in_one_process_is_refused_and_the_first_still_writes(
    tmp_path, broker, topics
):
    async def scenario() -> None:
        rig = SiteRig(tmp_path, broker, topics)
        agent = await rig.start()
        try:
            outcome = start_second_agent(agent)
            assert outcome.refused and outcome.owner_pid == os.getpid()
            assert str(lock_path(rig.config.state_dir, "L0001")) in outcome.message
            slot = await rig.reserve(labels(1, start=7100)[0])  # the first's store still writes
            assert agent.store.read().slot(slot).state is SlotState.RESERVED
        finally:
            await rig.stop()
        # Once the owner stopped, the site can be taken again (a restart, a new agent).
        again = rig.new_agent()
        again.store.close()

    asyncio.run(scenario())


def test_a_live_control_socket_is_left_alone_and_a_stale_one_replaced(tmp_path, broker, topics):
    async def scenario() -> None:
        rig = SiteRig(tmp_path, broker, topics)
        agent = await rig.start()
        path = control.socket_path(rig.config.state_dir, "L0001")
        try:
            # A socket whose owner is gone (killed without cleaning up): replaced.
            stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            stale.bind(str(path))
            stale.close()
            server = await control.serve(agent, path)
            # A live one: refused, and the first keeps answering.
            with pytest.raises(SiteOwned, match="is answering"):
                await control.serve(agent, path)
            assert (await control.ask(path, {"op": "diag"}))["ok"] is True
            server.close()
        finally:
            await rig.stop()

    asyncio.run(scenario())


def test_serial_ports_are_exclusive_and_a_held_scanner_port_is_a_fault(tmp_path, broker, topics):
    async def scenario() -> None:
        rig = SiteRig(tmp_path, broker, topics)
        rig.sim.serve_pty(rig.devices_dir)
        scanner_port = str(rig.devices_dir / "scanner")
        # Another program (a stray terminal, a second agent) holds the scanner's port.
        intruder = serial.Serial(scanner_port, 9600, timeout=0, exclusive=True)
        agent = rig.agent = rig.new_agent()
        await agent.start()
        try:
            key = (FaultComponent.SCANNER.value, "scanner", ScannerFaultCode.UNPLUGGED.value)
            await eventually_async(lambda: key in agent.faults, 10, "the scanner fault")
            assert "exclusive" in agent.faults[key].detail.lower()
            # The lock bus is the agent's alone: nobody else may open it while it runs.
            with pytest.raises(PortClosed, match="exclusive"):
                await SerialLink.open(str(rig.devices_dir / "locks"), 9600)
            intruder.close()
            await eventually_async(lambda: key not in agent.faults, 10, "the scanner back")
            assert agent.scanner is not None and agent.scanner.status.connected
        finally:
            if intruder.is_open:
                intruder.close()
            await rig.stop()

    asyncio.run(scenario())


def test_a_client_that_takes_the_sites_session_is_not_fought_in_a_reconnect_storm(
    tmp_path, broker, topics
):
    """A second agent elsewhere (a cloned card) with the site's MQTT client id: the broker
    drops whichever connected first each time the other connects. The agent stops fighting
    (it waits at least half its reconnect cap) instead of reconnecting within tenths of a
    second, and serves again once the other is gone."""
    import time

    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

    observer = Observer(broker, topics, "L0001")

    async def scenario() -> None:
        rig = SiteRig(tmp_path, broker, topics, overrides={"timing.reconnect_max_s": 4.0})
        agent = await rig.start()
        intruder = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id="site-L0001",
            protocol=MQTTProtocolVersion.MQTTv5,
        )
        intruder.reconnect_delay_set(0.1, 0.2)  # the other agent fights as ours used to
        try:
            await eventually_async(lambda: agent.link.connected, what="connected")
            before = agent.link.stats.connects
            intruder.connect(broker.host, broker.port)
            intruder.loop_start()
            await eventually_async(lambda: agent.link.stats.disconnects >= 1, 10, "kicked off")
            await asyncio.sleep(4.0)  # the fight begins: each takes the session from the other
            during = agent.link.stats.connects
            started = time.monotonic()
            await asyncio.sleep(4.0)  # the window the issue measured (15 reconnects in 4 s)
            storm = agent.link.stats.connects - during
            assert storm <= 4, f"{storm} reconnects in {time.monotonic() - started:.1f} s"
            assert agent.link.stats.connects > before  # it did try again, not give up
            intruder.loop_stop()
            intruder.disconnect()
            # Once the other is gone, the site is back: central's command is answered.
            await eventually_async(lambda: agent.link.connected, 15, "reconnected")
            command = rig.command(
                ReserveSlot(parcel=labels(1, start=7200)[0], size="S", until=rig.clock.now() + 3600)
            )
            observer.send(rig.signed(command))
            await eventually_async(lambda: observer.reply_to(command.id) is not None, 15)
        finally:
            intruder.loop_stop()
            await rig.stop()

    asyncio.run(scenario())
    observer.close()


def test_the_same_config_from_another_folder_is_the_same_site_and_is_refused(tmp_path, monkeypatch):
    # A relative state_dir was read against the working directory: `lockernet edge run`
    # started from another folder opened a second, empty store beside the running agent's.
    from edge.config import load_config
    from edge.host.ownership import SiteLock

    site_dir = tmp_path / "site"
    site_dir.mkdir()
    (site_dir / "central.pub").write_bytes(b"")
    config_file = site_dir / "site.toml"
    config_file.write_text(
        'site_id = "L0001"\nkind = "counter"\nshelf_capacity = 10\nstate_dir = "state"\n'
        'central_public_key = "central.pub"\n[broker]\nhost = "127.0.0.1"\nport = 1\n'
        '[scanner]\nport = "scanner"\n'
    )
    monkeypatch.chdir(site_dir)
    first = load_config(config_file.relative_to(site_dir))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    second = load_config(config_file)
    assert first.state_dir == second.state_dir == site_dir / "state"
    owner = SiteLock.acquire(first.state_dir, first.site_id)
    try:
        with pytest.raises(SiteOwned) as refused:
            SiteLock.acquire(second.state_dir, second.site_id)
        assert str(os.getpid()) in str(refused.value)
    finally:
        owner.release()
