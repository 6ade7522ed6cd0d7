"""`lockernet sim --store URL --centrals N --brokers M`: central's store, processes and brokers
for the day. The shapes are checked without a day (what goes where); one small day runs on
PostgreSQL with two central processes and two brokers, and must end as clean as one central
on SQLite (tests/hw_sim/test_sim.py)."""

from __future__ import annotations

import asyncio

import psycopg
import pytest

from central.broker.launcher import free_port
from central.service.config import parse_config
from hw_sim.errors import ConfigError
from hw_sim.network.day_store import DayStore
from hw_sim.network.field_day import LOST_MEMBER_SESSION_S, member_session_s
from hw_sim.network.fleet import Fleet, SimOptions, simulate
from hw_sim.network.site_setup import central_config
from protocols.cli import main


def test_sites_go_to_broker_i_mod_m_and_central_is_configured_with_every_broker(tmp_path):
    fleet = Fleet(SimOptions(lockers=4, counters=3, brokers=3), tmp_path, lambda _: None)
    assert [fleet.broker_of(i) for i in range(7)] == [
        *fleet.brokers,
        *fleet.brokers,
        fleet.brokers[0],
    ]
    config = parse_config(
        central_config(
            fleet.options, fleet.brokers, tmp_path, fleet.store.section, client_id="sim-central-2"
        )
    )
    assert [(b.name, b.port, b.client_id) for b in config.broker_list] == [
        ("b1", fleet.brokers[0].port, "sim-central-2"),
        ("b2", fleet.brokers[1].port, "sim-central-2"),
        ("b3", fleet.brokers[2].port, "sim-central-2"),
    ]
    assert len({b.port for b in fleet.brokers}) == 3


def test_one_broker_stays_the_single_broker_section(tmp_path):
    fleet = Fleet(SimOptions(lockers=1, counters=1), tmp_path, lambda _: None)
    raw = central_config(fleet.options, fleet.brokers, tmp_path, fleet.store.section)
    assert "brokers" not in raw and raw["broker"]["port"] == fleet.broker.port
    assert [b.name for b in parse_config(raw).broker_list] == ["main"]


def test_only_the_central_the_field_kills_gets_the_short_session():
    assert [member_session_s(n, 3, faults=True) for n in (1, 2, 3)] == [
        None,
        None,
        LOST_MEMBER_SESSION_S,
    ]
    assert member_session_s(1, 1, faults=True) is None  # alone: the fault starts its own member
    assert member_session_s(2, 2, faults=False) is None


def test_the_days_store_is_planned_without_touching_anything(tmp_path):
    default = DayStore.plan(None, tmp_path)
    assert default.location == tmp_path / "central.sqlite"
    assert default.section == {"path": str(tmp_path / "central.sqlite")}
    named = DayStore.plan(str(tmp_path / "mine.sqlite"), tmp_path)
    assert named.section == {"path": str(tmp_path / "mine.sqlite")}
    assert DayStore.plan("sqlite:///var/x.sqlite", tmp_path).section == {
        "url": "sqlite:///var/x.sqlite"
    }
    on_server = DayStore.plan("postgresql://me:pw@db.example:5433/ops?sslmode=require", tmp_path)
    assert isinstance(on_server.location, str)
    prefix, name = on_server.location.rsplit("/", 1)
    assert prefix == "postgresql://me:pw@db.example:5433"
    assert name.startswith("ops_sim_") and name.endswith("?sslmode=require")
    assert on_server.section == {"url": on_server.location}
    on_server.close()  # never created: nothing to drop, no connection tried


def test_a_sqlite_store_already_there_is_refused_not_counted_in(tmp_path):
    old = tmp_path / "yesterday.sqlite"
    old.write_bytes(b"an earlier day's store")
    for given in (str(old), f"sqlite:///{old}"):
        with pytest.raises(ConfigError, match="the file exists"):
            DayStore.plan(given, tmp_path).create()
    DayStore.plan(str(tmp_path / "new.sqlite"), tmp_path).create()  # central makes it
    assert not (tmp_path / "new.sqlite").exists()


def test_options_refuse_a_day_without_central_or_broker():
    with pytest.raises(ValueError, match="at least one"):
        SimOptions(centrals=0)
    assert main(["sim", "--brokers", "0"]) == 2


def test_a_server_that_cannot_be_reached_is_named_and_nothing_is_left_running(tmp_path, capsys):
    port = free_port()  # nothing listens there
    url = f"postgresql://nobody:secret@127.0.0.1:{port}/ops"
    code = main(["sim", "--lockers", "1", "--counters", "0", "--parcels", "1", "--store", url])
    assert code == 2
    err = capsys.readouterr().err
    assert "cannot create the day's database" in err and f"127.0.0.1:{port}" in err
    assert "secret" not in err  # the url is shown without its password


@pytest.mark.broker
@pytest.mark.postgres
def test_a_day_on_postgresql_with_two_centrals_and_two_brokers_ends_clean(tmp_path, pg_server):
    # Six lockers: the field's faults play (fewer and they are skipped), so one of the two
    # central processes is killed -9 at 12:00 and the second broker killed -9 at 17:30,
    # beside the day's restart of the first.
    server = pg_server.url()
    options = SimOptions(
        lockers=6,
        counters=4,
        couriers=6,
        parcels=150,
        seed=5,
        wall_s=45.0,
        pty_sites=1,
        store=server,
        centrals=2,
        brokers=2,
    )
    lines: list[str] = []
    summary = asyncio.run(simulate(options, lines.append, tmp_path))
    tally = summary.pop("_tally")
    assert "12.00h central 2 killed (-9)" in tally.faults
    assert any("broker killed (-9) (the last of 2)" in f for f in tally.faults)
    assert any("broker restart (the first of 2)" in f for f in tally.faults)
    assert summary["central_processes"] == 2 and summary["brokers"] == 2
    assert summary["store"] == "postgresql"
    assert summary["events_lost"] == 0, summary
    assert summary["duplicate_effects"] == 0, summary
    assert summary["invariants_broken"] == [], (summary, tally.faults)
    assert summary["events_received"] == summary["events_sent"] > 0
    assert summary["deposited"] > 0 and summary["picked_up"] > summary["deposited"] // 2
    assert summary["verdict"] == "clean"
    # The day's own database is gone from the server; nothing else was touched.
    with psycopg.connect(server) as conn:
        names = {row[0] for row in conn.execute("SELECT datname FROM pg_database")}
    assert not [n for n in names if "_sim_" in n], names
    assert not (tmp_path / "central.sqlite").exists()
