"""The operator console in a real browser (Debian's headless Chromium through Playwright):
log in, the island map's dots and colours, a site's slot grid, acknowledging an alarm,
issuing a badge, a remote open behind its confirmation and in the audit log, and a live
update arriving without a reload. Screenshots are kept in each test's temporary folder."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from central.sites.alarms import AlarmKind, raise_alarm
from central.store.open import open_reader
from central.store.records import TaskKind
from protocols.messages import SlotState
from tests.web.browser import WAIT_MS, Console, browser, console, page, screenshot

__all__ = ["browser", "console", "page", "screenshot"]  # the fixtures this module uses

Shot = Callable[[Page, str], Path]


def test_a_page_asks_for_a_login_and_a_wrong_password_is_refused(
    console: Console, page: Page, screenshot: Shot
) -> None:
    page.goto(f"{console.url}/console/sites/L0001")
    expect(page).to_have_url(f"{console.url}/console/login?next=%2Fconsole%2Fsites%2FL0001")
    page.fill("input[name=name]", "olga")
    page.fill("input[name=password]", "not her password")
    page.click("button[type=submit]")
    expect(page.get_by_role("alert")).to_contain_text("Wrong name or password")
    screenshot(page, "login-refused")
    page.fill("input[name=name]", "olga")
    page.fill("input[name=password]", "olga-operator-pw")
    page.click("button[type=submit]")
    # Back where the login was asked for.
    expect(page).to_have_url(f"{console.url}/console/sites/L0001")
    expect(page.locator("header .who")).to_contain_text("olga (operator)")


def test_the_map_shows_every_site_coloured_by_its_state(
    console: Console, page: Page, screenshot: Shot
) -> None:
    console.login(page, "vera")
    dots = page.locator("svg#island circle.dot")
    expect(dots).to_have_count(3)
    expect(page.locator('circle[data-site="L0001"]')).to_have_attribute("class", "dot state-online")
    expect(page.locator('circle[data-site="L0002"]')).to_have_attribute("class", "dot state-full")
    expect(page.locator('circle[data-site="C0001"]')).to_have_attribute(
        "class", "dot state-unknown"
    )
    expect(page.locator('[data-count="online"]')).to_have_text("1")
    expect(page.locator('[data-count="full"]')).to_have_text("1")
    # The dots are drawn inside the island's outline, in its box.
    box = page.locator("svg#island").bounding_box()
    dot = page.locator('circle[data-site="L0001"]').bounding_box()
    assert box is not None and dot is not None
    assert box["x"] < dot["x"] < box["x"] + box["width"]
    assert box["y"] < dot["y"] < box["y"] + box["height"]
    screenshot(page, "map")


def test_a_site_page_shows_its_slot_grid_bank_by_bank(
    console: Console, page: Page, screenshot: Shot
) -> None:
    console.login(page, "vera")
    page.locator('circle[data-site="L0001"]').click()
    expect(page).to_have_url(f"{console.url}/console/sites/L0001")
    expect(page.locator(".bank")).to_have_count(2)
    expect(page.locator(".bank").nth(0).locator(".cell")).to_have_count(3)
    expect(page.locator(".bank").nth(1).locator(".cell")).to_have_count(2)
    occupied = page.locator('.cell[data-slot="A02"]')
    expect(occupied).to_have_class("cell cell-occupied")
    expect(occupied).to_have_attribute(
        "title", f"A02 (S): occupied\ndoor unknown, IR ?\ncontents {console.parcel}"
    )
    expect(page.locator('.cell[data-slot="A01"]')).to_have_class("cell cell-free")
    refusals = page.locator("#refusals tbody tr")
    expect(refusals).to_have_count(2)
    expect(refusals.filter(has_text="bad_code")).to_contain_text("2")
    expect(refusals.filter(has_text="bad_code")).to_contain_text("code expired")
    expect(refusals.filter(has_text="unknown_badge")).to_contain_text("1")
    # A viewer reads; the door buttons are for technicians and operators.
    expect(page.locator("button.open-slot")).to_have_count(0)
    screenshot(page, "site-L0001")


def test_an_operator_acknowledges_an_alarm(console: Console, page: Page, screenshot: Shot) -> None:
    with console.store.transaction() as session:
        raise_alarm(
            session, "L0001", AlarmKind.DOOR_FORCED, time.time(), ref="B02", detail="forced open"
        )
    console.login(page, "olga")
    page.goto(f"{console.url}/console/alarms")
    row = page.locator("#alarms tbody tr", has_text="door_forced")
    expect(row).to_contain_text("B02")
    screenshot(page, "alarms-before")
    row.get_by_role("button", name="Acknowledge").click()
    expect(page.locator("#flash")).to_contain_text("acknowledged; closed")
    expect(page.locator("#alarms tbody tr", has_text="door_forced")).to_have_count(0)
    screenshot(page, "alarms-after")
    with open_reader(str(console.config.store.path)) as reader:
        acked = [
            a for a in reader.view.list_alarms(include_cleared=True) if a.kind == "door_forced"
        ]
    assert [(a.acked_by, a.cleared_at is not None) for a in acked] == [("olga", True)]


def test_an_operator_issues_a_badge_and_sees_its_qr_once(
    console: Console, page: Page, screenshot: Shot
) -> None:
    import zxingcpp
    from PIL import Image

    console.login(page, "olga")
    page.goto(f"{console.url}/console/badges")
    page.fill("input[name=courier]", "K1")
    page.fill("input[name=partner]", "post")
    page.fill("input[name=days]", "30")
    page.get_by_role("button", name="Issue badge").click()
    text = page.locator("#badge-text").inner_text()
    assert text.startswith("LNB:")
    image = screenshot(page, "badge-issued").parent / "badge-qr.png"
    page.locator("#badge-qr").screenshot(path=str(image))
    # Read back with an independent decoder: the QR on the page is the badge's scan text.
    decoded = zxingcpp.read_barcodes(Image.open(image))
    assert [d.text for d in decoded] == [text]
    expect(page.locator("#badges tbody tr", has_text="K1")).to_have_count(1)
    # Shown once: the list page does not show the scan text again.
    page.goto(f"{console.url}/console/badges")
    expect(page.locator("#badge-text")).to_have_count(0)
    expect(page.locator("#badges")).not_to_contain_text(text)


def test_a_remote_open_asks_for_a_reason_and_is_in_the_audit_log(
    console: Console, page: Page, screenshot: Shot
) -> None:
    console.login(page, "tom")
    page.goto(f"{console.url}/console/sites/L0001")
    page.locator('.cell[data-slot="A01"] button.open-slot').click()
    dialog = page.locator("#confirm-dialog")
    expect(dialog).to_be_visible()
    expect(page.locator("#confirm-title")).to_have_text("Open slot A01 at L0001?")
    # No reason, no open: the dialog stays.
    page.locator("#confirm-submit").click()
    expect(dialog).to_be_visible()
    page.fill("#confirm-reason", "courier K1 cannot open it: badge reader dirty")
    screenshot(page, "remote-open-confirm")
    page.locator("#confirm-submit").click()
    expect(page.locator("#flash")).to_contain_text("remote open of A01 queued for the site")
    page.goto(f"{console.url}/console/audit")
    row = page.locator("#audit tbody tr").first
    expect(row).to_contain_text("tom")
    expect(row).to_contain_text("open_slot")
    expect(row).to_contain_text("A01")
    expect(row).to_contain_text("courier K1 cannot open it: badge reader dirty")
    expect(row).to_contain_text("queued")
    screenshot(page, "audit-log")
    with open_reader(str(console.config.store.path)) as reader:
        sends = reader.view.open_tasks(TaskKind.SEND_COMMAND)
    assert any(t.site == "L0001" and "open_slot" in t.payload for t in sends)


def test_the_mass_open_guard_refusal_is_shown(console: Console, page: Page) -> None:
    console.login(page, "olga")
    page.goto(f"{console.url}/console/sites/L0002")
    messages = []
    # L0002 has had none: the guard lets three through in its window and refuses the next.
    for _ in range(4):
        page.locator('.cell[data-slot="A03"] button.open-slot').click()
        page.fill("#confirm-reason", "stuck door, courier waiting")
        page.locator("#confirm-submit").click()
        messages.append(page.locator("#flash").inner_text())
    assert all("queued for the site" in m for m in messages[:3]), messages
    assert "was not opened" in messages[3], messages
    with open_reader(str(console.config.store.path)) as reader:
        entries = [e for e in reader.view.audit_entries(site="L0002")]
    assert [e.outcome for e in entries][:1] == ["refused"]


def test_the_map_and_a_site_page_update_live_without_a_reload(
    console: Console, page: Page, screenshot: Shot
) -> None:
    console.login(page, "vera")
    page.evaluate("window.sameLoad = 'yes'")
    dot = page.locator('circle[data-site="L0002"]')
    expect(dot).to_have_attribute("class", "dot state-full")
    with console.store.transaction() as session:
        raise_alarm(session, "L0002", AlarmKind.BOARD_FAULT, time.time(), ref="board-1")
    expect(dot).to_have_attribute("class", "dot state-alarms", timeout=WAIT_MS)
    expect(page.locator('[data-count="alarms"]')).to_have_text("1")
    assert page.evaluate("window.sameLoad") == "yes"  # the same page: no reload
    screenshot(page, "map-live-alarm")

    page.goto(f"{console.url}/console/sites/L0001")
    page.evaluate("window.sameLoad = 'yes'")
    cell = page.locator('.cell[data-slot="B01"]')
    expect(cell).to_have_class("cell cell-free")
    with console.store.transaction() as session:
        slot = session.get_slot("L0001", "B01")
        assert slot is not None
        session.save_slot(dataclasses.replace(slot, state=SlotState.OUT_OF_SERVICE))
    expect(cell).to_have_class("cell cell-out_of_service", timeout=WAIT_MS)
    assert page.evaluate("window.sameLoad") == "yes"
    screenshot(page, "site-live-slot")


def test_a_live_update_turns_the_service_switch_and_the_grid_lines_up(
    console: Console, page: Page, screenshot: Shot
) -> None:
    console.login(page, "tom")
    page.goto(f"{console.url}/console/sites/L0001")
    page.evaluate("window.sameLoad = 'yes'")
    switch = page.locator('.cell[data-slot="B02"] button.service-slot')
    expect(switch).to_have_text("disable")
    with console.store.transaction() as session:
        slot = session.get_slot("L0001", "B02")
        assert slot is not None
        session.save_slot(dataclasses.replace(slot, state=SlotState.OUT_OF_SERVICE))
    expect(switch).to_have_text("enable", timeout=WAIT_MS)
    expect(switch).to_have_attribute("data-in-service", "true")
    # Its dialog now offers what the label says.
    switch.click()
    expect(page.locator("#confirm-title")).to_have_text("Put slot B02 back into service?")
    page.locator("#confirm-cancel").click()
    with console.store.transaction() as session:
        slot = session.get_slot("L0001", "B02")
        assert slot is not None
        session.save_slot(dataclasses.replace(slot, state=SlotState.FREE))
    expect(switch).to_have_text("disable", timeout=WAIT_MS)
    assert page.evaluate("window.sameLoad") == "yes"
    # On a phone's width, where a bank's cells wrap, each bank's first cell still starts
    # at the same x: the bank names keep their width.
    page.set_viewport_size({"width": 360, "height": 800})
    xs = []
    for bank in page.locator(".bank").all():
        box = bank.locator(".cell").first.bounding_box()
        assert box is not None
        xs.append(box["x"])
    assert len(xs) == 2 and max(xs) - min(xs) < 1, xs
    page.set_viewport_size({"width": 1280, "height": 800})
    # Free and reserved differ by more than a hue: reserved is hatched.
    with console.store.transaction() as session:
        slot = session.get_slot("L0001", "B01")
        assert slot is not None
        before = slot
        session.save_slot(dataclasses.replace(slot, state=SlotState.RESERVED))
    reserved = page.locator('.cell[data-slot="B01"]')
    expect(reserved).to_have_class("cell cell-reserved", timeout=WAIT_MS)
    styles = page.evaluate(
        """() => ["A01", "B01"].map(slot => {
            const s = getComputedStyle(document.querySelector(`.cell[data-slot="${slot}"]`));
            return [s.backgroundColor, s.backgroundImage];
        })"""
    )
    (_, free_image), (_, reserved_image) = styles
    assert free_image == "none" and "repeating-linear-gradient" in reserved_image, styles
    screenshot(page, "site-live-service-switch")
    with console.store.transaction() as session:
        session.save_slot(before)


@pytest.fixture(autouse=True)
def _no_leftover_alarms(console: Console) -> None:
    """Each test starts with no open alarm another left (the map's colours depend on it)."""
    with console.store.transaction() as session:
        for alarm in session.list_alarms():
            session.clear_alarms(alarm.site, alarm.kind, None, time.time())
