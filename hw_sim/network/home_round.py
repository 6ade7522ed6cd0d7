"""The couriers' home rounds of the simulated day: each courier's phone speaks to central's
handheld API (/api/courier, central/delivery/api.py) over HTTP, as a handheld does.

The API is served by the day's first central process, as `lockernet central run` serves it
with `api.listen` set: in a thread of central's own process, on a loopback port of the day's.
Served from this process instead (the app over the day's store, as the console is), its
requests took the loop the sites and the people run on: at the default day's pace (60
couriers, a door every few real tenths of a second each) the sites' scans waited seconds and
the day fell behind. Here only the phones' side of each request runs.

A round: the courier asks for its round, marks the parcels still assigned out for delivery,
then at each door (a few simulated minutes apart) delivers with a photo or signature
reference, or fails with a reason by a seeded roll. A share of the phone's calls is sent
again with the same attempt key, as a phone that lost the answer would: central must answer
it as the first and change nothing. A failed parcel is central's to redirect (its REDIRECT
task, at the end of the consumer's window to choose); a share of the consumers choose the
site themselves first, through the link of the failed-attempt message (central/delivery/
choice.py: the page's list, then the second site on it). The sites' courier rounds then
deposit each redirected parcel where it was placed.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from central.broker.launcher import free_port
from central.delivery.choice import choice_url
from central.delivery.tokens import issue_token
from central.notify.unsubscribe import link_key
from central.service.config import parse_config
from central.sites.network import Network
from central.store.open import open_store
from hw_sim.network.options import HOUR_S

if TYPE_CHECKING:
    from hw_sim.network.world import World

# Simulated hours of the home rounds: after the morning's waves are placed, and early enough
# that a redirected parcel meets a site round (every 2 h until 22:30) the same day; the last
# takes what a round that ran late left.
HOME_ROUND_HOURS = (7.0, 10.0, 13.0, 15.5, 18.0)
DOOR_S = 10 * 60.0  # simulated seconds from one door to the next (a drive, a ring, a wait)
# A round ends within this many simulated hours, before the next begins: a courier with
# more doors than fit at DOOR_S goes faster (dispatch may give one courier 80 home parcels
# a day, and a round that outlasted the next left what came meanwhile for no one).
ROUND_SPAN_H = 2.4
# Of the attempts at the door, by a seeded roll: below NOBODY_HOME nobody is home, then the
# address is not found, then the parcel is refused; the rest are delivered.
NOBODY_HOME = 0.10
ADDRESS_NOT_FOUND = NOBODY_HOME + 0.02
REFUSED = ADDRESS_NOT_FOUND + 0.02
SIGNED = 0.3  # of those delivered, signed for on the phone; the rest photographed
RESENT = 0.05  # calls sent again with the same key (the phone lost the answer)
OUT_CHUNK = 500  # parcels per out-for-delivery call (the API's limit)
SESSION_KEY_FILE = "api-session.key"
LINK_KEY_FILE = "notify-link.key"
# The consumer's window to choose a site after a failed attempt, in simulated hours: short
# enough that a parcel failed on the 18:00 round still meets the 22:30 site round.
CHOICE_WINDOW_H = 0.5
CHOOSE = 0.3  # of the consumers of a parcel failed at the door (not refused), who choose
# Real seconds a phone waits for central's answer (a loaded central answers late, not never).
CALL_TIMEOUT_S = 120.0
CALL_TRIES = 5  # a call whose connection failed is made again, up to this many times
RECALL_AFTER_S = 1.0  # real seconds before calling again


class HomeRounds:
    """The day's couriers with their handhelds. `start` once the day's store exists."""

    def __init__(self, world: World, workdir: Path) -> None:
        self.world = world
        self._workdir = workdir
        self._port = free_port()
        self._client: httpx.AsyncClient | None = None
        self._tokens: dict[str, str] = {}
        self._busy: set[str] = set()
        self.resent = 0
        self.calls = 0
        self.chosen = 0  # parcels whose consumer chose the site (410/409 not counted)

    @property
    def _public_url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    def central_sections(self) -> dict[str, dict[str, Any]]:
        """The sections of the central process that serves the handhelds and the choice
        links: [api], and the [notify] and [delivery] keys that offer the choice."""
        return {
            "api": {
                "listen": f"127.0.0.1:{self._port}",
                "session_secret_file": str(self._workdir / SESSION_KEY_FILE),
            },
            "notify": {
                "public_url": self._public_url,
                "link_secret_file": str(self._workdir / LINK_KEY_FILE),
            },
            "delivery": {"choice_window_s": CHOICE_WINDOW_H * HOUR_S},
        }

    def start(self, network: Network, central: dict[str, Any]) -> None:
        """Give every courier of `network` a handheld token (in the store of the central
        configured by `central`, which serves the API by now)."""
        config = parse_config(central, "the simulation's central", environ={})
        store = open_store(config.store)
        try:
            now = self.world.clock.now()
            with store.transaction() as session:
                for courier in network.couriers:
                    issued = issue_token(session, courier.id, courier.partner, now)
                    self._tokens[courier.id] = issued.text
        finally:
            store.close()
        self._client = httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{self._port}", timeout=CALL_TIMEOUT_S
        )

    def round(self) -> None:
        """Every courier not still on the last round sets out (beside the day)."""
        for courier in self._tokens:
            if courier not in self._busy:
                self._busy.add(courier)
                self.world.background(self._round(courier))

    async def _round(self, courier: str) -> None:
        try:
            await self._round_of(courier)
        finally:
            self._busy.discard(courier)

    async def _round_of(self, courier: str) -> None:
        world = self.world
        headers = {"Authorization": f"Bearer {self._tokens[courier]}"}
        answer = await self._call("GET", "/api/courier/round", headers)
        if answer is None:
            return
        parcels = answer.json()
        assigned = [p["label"] for p in parcels if p["state"] == "assigned"]
        for start in range(0, len(assigned), OUT_CHUNK):
            body = {"labels": assigned[start : start + OUT_CHUNK]}
            if await self._call("POST", "/api/courier/out-for-delivery", headers, body) is None:
                return
        door_s = min(DOOR_S, ROUND_SPAN_H * HOUR_S / max(1, len(parcels)))
        # Each door at its time from the round's start, the phone's calls counted in: on a
        # loaded machine a call takes real seconds (simulated minutes), and a sleep of door_s
        # after each made a round of 80 doors outlast the next two and the day's end.
        began = world.clock.now()
        calls: list[asyncio.Task[None]] = []
        for number, parcel in enumerate(parcels):
            await world.clock.sleep(max(0.0, began + (number + 1) * door_s - world.clock.now()))
            label = parcel["label"]
            body = self._at_the_door(courier, label, number)
            # The courier walks on while the phone sends (a loaded central answers in real
            # seconds, simulated minutes: waiting for each answer at the door made a courier
            # with 80 doors miss every later round); the round ends when every call is done.
            resend = world.rng.random() < RESENT
            calls.append(asyncio.ensure_future(self._attempt(headers, label, body, resend)))
        await asyncio.gather(*calls)

    async def _attempt(
        self, headers: dict[str, str], label: str, body: dict[str, Any], resend: bool
    ) -> None:
        """One door's attempt sent, and sent again with the same key if `resend`."""
        path = f"/api/courier/parcels/{label}/attempts"
        first = await self._call("POST", path, headers, body)
        if first is None:
            return
        failed = body.get("reason") in ("nobody_home", "address_not_found")
        if failed and self.world.rng.random() < CHOOSE:
            await self._choose(label, body["attempt_key"])
        if not resend:
            return
        self.resent += 1
        again = await self._call("POST", path, headers, body)
        if again is not None and (
            not again.json()["repeated"] or again.json()["at"] != first.json()["at"]
        ):
            self.world.tally.broken.append(f"{label}: a resent attempt was done again")

    async def _choose(self, label: str, attempt_key: str) -> None:
        """The consumer opens the failed-attempt message's link and chooses the second site
        listed (the first, if it is the only one). Too late (410: the window ended, central
        redirected it) or taken meanwhile (409) is an answer, not a fault."""
        key = link_key(self._workdir / LINK_KEY_FILE)  # the message's link, as central made it
        path = "/api" + choice_url("", key, label, attempt_key)
        offer = await self._call("GET", path, {}, ok=(200, 410))
        if offer is None or offer.status_code != 200:
            return
        options = offer.json()["options"]
        if not options:
            return
        site = options[min(1, len(options) - 1)]["site"]
        chosen = await self._call("POST", path, {}, {"site": site}, ok=(200, 409, 410))
        if chosen is not None and chosen.status_code == 200:
            self.chosen += 1

    def _at_the_door(self, courier: str, label: str, number: int) -> dict[str, Any]:
        rng = self.world.rng
        key = f"{courier}-{label}-{round(self.world.hour() * HOUR_S)}-{number}"
        roll = rng.random()
        if roll < REFUSED:
            reason = (
                "nobody_home"
                if roll < NOBODY_HOME
                else "address_not_found"
                if roll < ADDRESS_NOT_FOUND
                else "refused"
            )
            return {"attempt_key": key, "outcome": "failed", "reason": reason}
        kind = "signature" if rng.random() < SIGNED else "photo"
        return {
            "attempt_key": key,
            "outcome": "delivered",
            "proof_kind": kind,
            "proof": f"{kind}://{courier}/{label}.{'svg' if kind == 'signature' else 'jpg'}",
        }

    async def _call(
        self,
        method: str,
        path: str,
        headers: dict[str, str],
        body: Any = None,
        ok: tuple[int, ...] = (200,),
    ) -> httpx.Response | None:
        """One call of the phone's (or a consumer's); an answer not in `ok` breaks the day
        (every call the simulation makes is a right one), and None is returned."""
        assert self._client is not None, "start() first"
        self.calls += 1
        answer: httpx.Response | None = None
        failure: Exception | None = None
        for _ in range(CALL_TRIES):
            try:
                answer = await self._client.request(method, path, headers=headers, json=body)
                break
            except httpx.TransportError as exc:
                # A kept-alive connection the server closed as it was reused, or a central
                # too busy to answer: the phone calls again, the same call (every call of
                # the API may be repeated: the attempt key makes an attempt once).
                failure = exc
                await asyncio.sleep(RECALL_AFTER_S)
        if answer is None:
            self.world.tally.broken.append(f"handheld {method} {path}: {failure!r}")
            return None
        if answer.status_code not in ok:
            self.world.tally.broken.append(
                f"handheld {method} {path}: {answer.status_code} {answer.text[:200]}"
            )
            return None
        return answer

    async def close(self) -> None:
        """Hang up the phones (the rounds are over)."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None
