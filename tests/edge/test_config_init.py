"""`lockernet edge config init` writes a site.toml the agent loads as it is, naming every key
it reads; docs/site-config.md is the reference of every key, generated from the same table."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from edge.config import SiteConfig, load_config
from edge.config_reference import DESCRIPTIONS, keys, reference
from protocols.boards import BoardFamily
from protocols.cli import main
from protocols.messages import SiteKind, SizeClass

REPO = Path(__file__).resolve().parents[2]
NO_ENV: dict[str, str] = {}


def init(tmp_path: Path, *options: str, name: str = "site.toml") -> tuple[int, Path]:
    out = tmp_path / name
    return main(["edge", "config", "init", *options, "-o", str(out)]), out


@pytest.mark.parametrize(
    ("family", "boards", "layout", "expect"),
    [
        ("cu16", "3", "S=8,M=6,L=2", ([0, 1, 2], 16)),
        ("cu48", "1", "S=18,M=18,L=8,XL=4", ([0], 48)),
        ("rs485-8a", "2", "M=10", ([1, 2], 10)),
    ],
)
def test_init_writes_a_file_the_agent_loads_for_each_family(
    tmp_path, family, boards, layout, expect
) -> None:
    ids, per_board = expect
    code, path = init(tmp_path, "--family", family, "--boards", boards, "--layout", layout,
                      "--site", "L0042")  # fmt: skip
    assert code == 0
    config = load_config(path, NO_ENV)
    assert config.site_id == "L0042"
    assert config.kind is SiteKind.LOCKER
    assert config.lock_bus is not None and config.lock_bus.family is BoardFamily(family)
    assert list(config.lock_bus.board_layout()) == ids
    assert len(config.slots) == per_board * len(ids)
    sizes = {}
    for part in layout.split(","):
        size, count = part.split("=")
        sizes[SizeClass(size)] = int(count) * len(ids)
    assert {s: sum(1 for slot in config.slots if slot.size is s) for s in sizes} == sizes
    first = config.slots[0]
    assert (first.id, first.board, first.lock) == ("A01", ids[0], 1)
    # TLS to the production broker with the bundle's files, read beside the file.
    assert config.broker.tls and config.broker.port == 8883
    assert config.broker.cert_file == tmp_path / "site.pem"
    assert config.central_public_key == tmp_path / "central.pub"
    assert config.scanner is not None and config.scanner.suffix == "CR"


def test_every_key_the_agent_reads_is_in_the_template_with_a_comment(tmp_path) -> None:
    code, path = init(tmp_path, "--family", "cu16", "--boards", "2")
    assert code == 0
    lines = path.read_text().splitlines()
    for key in keys():
        if "[]" in key.path:  # a list of tables: its keys are described above the list
            assert any(line.startswith(f"#   {key.name}: ") for line in lines), key.path
            continue
        pattern = re.compile(rf"^(# )?{re.escape(key.name)} = ")
        found = [n for n, line in enumerate(lines) if pattern.match(line)]
        if key.path == "lock_bus.rs485_boards" or not found:
            # Another family's key is named as not read on this bus.
            assert f"# {key.name}: not read on a cu16 bus." in lines, key.path
            continue
        (at,) = found if key.section == "" else found[-1:]
        assert lines[at - 1].startswith("# "), f"{key.path} has no comment"
    text = "\n".join(lines)
    assert "remote_open_limit = 3" in text  # the mass-open breaker, at its default
    assert "# rs485_boards" not in text.split("[lock_bus]")[0]


def test_a_counter_template_loads_with_its_shelves(tmp_path) -> None:
    code, path = init(tmp_path, "--kind", "counter", "--shelf-capacity", "120", "--site",
                      "C0042")  # fmt: skip
    assert code == 0
    config = load_config(path, NO_ENV)
    assert (config.kind, config.shelf_capacity, config.slots) == (SiteKind.COUNTER, 120, [])
    assert config.lock_bus is None


def test_an_existing_file_is_kept_unless_forced(tmp_path, capsys) -> None:
    path = tmp_path / "site.toml"
    path.write_text("site_id = 'mine'\n")
    code, _ = init(tmp_path, "--family", "cu16")
    assert code == 2
    assert "site.toml exists: pass --force" in capsys.readouterr().err
    assert path.read_text() == "site_id = 'mine'\n"
    code, _ = init(tmp_path, "--family", "cu16", "--force")
    assert code == 0
    assert load_config(path, NO_ENV).site_id == "L0001"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--family", "cu16", "--boards", "11"], "--boards 11: a Kerong CU16 bus carries 1-10"),
        (["--family", "cu48", "--boards", "0"], "--boards 0: a Kerong CU48 bus carries 1-10"),
        (["--family", "cu16", "--layout", "S=12,M=6"], "--layout has 18 compartments a board"),
        (["--family", "cu16", "--layout", "Q=2"], "'Q' is not a size class"),
        (["--family", "cu16", "--layout", "S"], "write SIZE=COUNT"),
        (["--family", "rs485-8a", "--channels", "4"], "--channels 4"),
        (["--kind", "counter"], "--shelf-capacity"),
        (["--broker", "nohost"], "--broker 'nohost' is not HOST:PORT"),
        (["--site", "L 1"], "site_id"),
    ],
)
def test_bad_options_say_which_and_write_nothing(tmp_path, capsys, options, message) -> None:
    code, path = init(tmp_path, *options)
    assert code == 2
    assert message in capsys.readouterr().err
    assert not path.exists()
    assert list(tmp_path.iterdir()) == []


def test_an_unknown_family_is_refused_by_name(tmp_path, capsys) -> None:
    with pytest.raises(SystemExit) as exited:
        init(tmp_path, "--family", "cu99")
    assert exited.value.code == 2
    assert "invalid choice: 'cu99' (choose from 'cu16', 'cu48', 'rs485-8a')" in (
        capsys.readouterr().err
    )
    assert list(tmp_path.iterdir()) == []


def test_every_model_key_has_a_description_and_every_description_a_key() -> None:
    paths = {key.path for key in keys()}
    assert sorted(k.path for k in keys() if not k.description) == []
    assert sorted(set(DESCRIPTIONS) - paths) == []
    # The walk reaches every section of the model.
    assert {path.split(".")[0].removesuffix("[]") for path in paths} >= set(SiteConfig.model_fields)


def test_the_reference_in_docs_is_the_generated_one() -> None:
    committed = (REPO / "docs" / "site-config.md").read_text()
    assert committed == reference(), (
        "docs/site-config.md is stale: lockernet edge config reference -o docs/site-config.md"
    )
    for key in keys():
        assert f"| `{key.name}` |" in committed


def test_init_sets_the_serial_ports_and_the_store_folder_it_is_given(tmp_path) -> None:
    # What an installer knows at the site (or a trial on the simulator's ports): no edit of
    # the written file is needed.
    scanner = "socket://10.0.0.9:7000"  # a pyserial URL: a scanner behind a serial server
    code, path = init(tmp_path, "--layout", "M=2", "--lock-port", "/dev/serial/by-id/rs485",
                      "--scanner-port", scanner, "--state-dir", "state")  # fmt: skip
    assert code == 0
    config = load_config(path, NO_ENV)
    assert config.lock_bus is not None and config.lock_bus.port == "/dev/serial/by-id/rs485"
    assert config.scanner is not None and config.scanner.port == scanner
    assert config.state_dir == tmp_path / "state"
    # The header's command writes the same file again.
    assert "--lock-port /dev/serial/by-id/rs485" in path.read_text()
    assert "--state-dir state" in path.read_text()


def test_init_refuses_an_empty_port_and_writes_nothing(tmp_path, capsys) -> None:
    code, path = init(tmp_path, "--scanner-port", "")
    assert code == 2 and not path.exists()
    assert "--scanner-port '' is not a path" in capsys.readouterr().err
