"""The consumer's files: private whatever the umask, in words that fit the site, in the
network's local time."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from central.parcels.pickup import FolderReminders, Reminder
from central.parcels.pickup_codes import FolderNotifier, PickupNotice, issue_code
from protocols.messages import SiteKind
from protocols.tokens import TokenSigner

# Mon 30 Nov 2026 10:00 UTC: 18:00 in Singapore.
DEADLINE = 1_796_032_800
LABEL = "RR123456785CN"


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The umask of a shell started without systemd's UMask=: everything readable."""
    old = os.umask(0o000)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def notify(folder: Path, kind: SiteKind, site: str, name: str) -> str:
    issued = issue_code(TokenSigner.generate(), site, LABEL, DEADLINE)
    notice = PickupNotice(issued, name, consumer_name="Siti Rahman", site_kind=kind)
    sent = FolderNotifier(folder).notify(notice)
    assert sent.message_path is not None
    return sent.message_path.read_text()


def test_code_and_reminder_files_are_the_service_users_only(tmp_path, open_umask) -> None:
    outbox = tmp_path / "spool" / "outbox"
    # A temporary file a crash left behind, world-readable, is not reused as it was.
    notify(outbox, SiteKind.LOCKER, "L0001", "Bedok Locker 1")
    leftover = outbox / f".{LABEL}.txt.tmp"
    leftover.write_text("old")
    leftover.chmod(0o644)
    notify(outbox, SiteKind.LOCKER, "L0001", "Bedok Locker 1")
    FolderReminders(outbox).remind(
        Reminder(LABEL, "L0001", "Bedok Locker 1", DEADLINE, None, None, None)
    )
    assert mode(outbox) == 0o700
    files = sorted(outbox.iterdir())
    assert [p.name for p in files] == [f"{LABEL}.png", f"{LABEL}.reminder.txt", f"{LABEL}.txt"]
    assert {p.name: mode(p) for p in files} == {p.name: 0o600 for p in files}


def test_a_folder_the_operator_made_keeps_its_mode(tmp_path, open_umask) -> None:
    shared = tmp_path / "outbox"
    shared.mkdir(mode=0o750)
    shared.chmod(0o750)  # shared with a mail gateway's group
    notify(shared, SiteKind.LOCKER, "L0001", "Bedok Locker 1")
    assert mode(shared) == 0o750
    assert mode(shared / f"{LABEL}.txt") == 0o600


def test_a_lockers_message_says_scan_at_its_scanner_by_local_time(tmp_path) -> None:
    message = notify(tmp_path, SiteKind.LOCKER, "L0001", "Bedok Locker 1")
    assert "ready for pickup at locker Bedok Locker 1 (L0001)" in message
    assert "scanner of locker Bedok Locker 1 (L0001)" in message
    assert "door" in message
    assert "counter" not in message and "staff" not in message
    assert "before Mon 30 Nov 18:00 SGT" in message
    assert "UTC" not in message


def test_a_counters_message_says_show_it_to_the_staff(tmp_path) -> None:
    message = notify(tmp_path, SiteKind.COUNTER, "C0042", "Tampines Mart 7")
    assert "ready for pickup at the counter of Tampines Mart 7 (C0042)" in message
    assert "staff will scan it and hand you the parcel" in message
    assert "door" not in message and "scanner" not in message
    assert "before Mon 30 Nov 18:00 SGT" in message


@pytest.mark.parametrize(
    ("kind", "place"),
    [
        (SiteKind.LOCKER, "waiting at locker Bedok Locker 1 (L0001)"),
        (SiteKind.COUNTER, "waiting at the counter of Bedok Point (L0001)"),
    ],
)
def test_a_reminder_names_the_place_and_the_local_deadline(tmp_path, kind, place) -> None:
    name = "Bedok Point" if kind is SiteKind.COUNTER else "Bedok Locker 1"
    reminder = Reminder(LABEL, "L0001", name, DEADLINE, "Ana", None, None, kind)
    FolderReminders(tmp_path).remind(reminder)
    text = (tmp_path / f"{LABEL}.reminder.txt").read_text()
    assert place in text
    assert "before Mon 30 Nov 18:00 SGT" in text
