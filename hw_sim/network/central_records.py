"""What central holds, read through central's own read path (`open_reader`: SQLite or
PostgreSQL, whichever the day's store is), never its tables: the events it stored for each
site, its parcels by state, the steps it counted twice, its alarms. The verdict compares these
with what the sites wrote; the live view shows a few of them once a simulated hour."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from central.capacity.placement import DeliveryMode
from central.parcels.lifecycle import AWAITING_THE_NETWORK, ParcelState, ParcelStep
from central.store.open import open_reader
from central.store.read import EFFECT_STEPS, StoreReader
from hw_sim.network.options import HOUR_S


@dataclass(frozen=True)
class ParcelCounts:
    """Central's parcels at the day's end, for the summary."""

    states: dict[str, int]  # by state, with "home" and "stuck_before_a_site" added
    duplicate_effects: int  # (parcel, step) pairs central counted more than once
    deposit_to_pickup_h: list[float]  # per parcel picked up, hours since its deposit
    # Parcels by state, of the states that wait for central or a courier (none at the end
    # of a day whose rounds are done: each is stuck).
    stuck: dict[str, int] = field(default_factory=dict)
    # Home parcels: delivered, failed then redirected, failed then returned.
    home: dict[str, int] = field(default_factory=dict)
    # A few stuck parcels per stuck state, so a failed verdict names its cases: label,
    # delivery mode, site or courier, and the last step central recorded.
    stuck_examples: dict[str, list[str]] = field(default_factory=dict)


class CentralRecords:
    """Central's store at `location` (a SQLite path, a sqlite: or postgresql:// url), read
    one snapshot per call."""

    def __init__(self, location: str | Path) -> None:
        self.location = location

    def event_ids(self) -> defaultdict[str, set[str]]:
        """The id of every event central has stored, by site (a site it has none of: empty)."""
        with open_reader(self.location) as reader:
            return defaultdict(set, reader.event_ids())

    def has_all(self, site: str, written: set[str]) -> bool:
        """Whether central has stored every event id in `written`, from `site`."""
        with open_reader(self.location) as reader:
            have = reader.event_ids(site).get(site, set())
        return written <= have

    def parcels(self) -> ParcelCounts:
        """Parcels by state, plus "home" (placed for home delivery) and
        "stuck_before_a_site" (placed at a locker or a collection point and still assigned
        at the day's end, when the last courier round is long past: a hollow day, whatever
        the events say), and what `ParcelCounts` adds: the parcels stuck by state, and how
        home deliveries ended."""
        with open_reader(self.location) as reader:
            states = reader.parcel_states()
            home = reader.parcel_count(delivery_mode=DeliveryMode.HOME)
            assigned = reader.delivery_modes(state=ParcelState.ASSIGNED)
            stuck = sum(n for mode, n in assigned.items() if mode != DeliveryMode.HOME)
            waits = [s / HOUR_S for s in reader.deposit_to_pickup_s()]
            # An effect counted twice: a parcel collected (or deposited, delivered at the
            # door, redirected) twice at central.
            duplicates = reader.repeated_steps(
                [*EFFECT_STEPS, ParcelStep.DELIVER, ParcelStep.REDIRECT]
            )
            home_figures = reader.view.home_delivery_figures()
            examples = _stuck_examples(reader)
        counts = dict(states)
        counts["home"] = home
        counts["stuck_before_a_site"] = stuck
        waiting = {state: n for state, n in states.items() if state in AWAITING_THE_NETWORK}
        return ParcelCounts(counts, duplicates, waits, waiting, home_figures, examples)

    def promise(self) -> dict[str, float | int | None]:
        """The promise kept (central/parcels/promise.py): `within_promise_share`, of the
        parcels whose promise is decided the share that reached their consumer before their
        deadline (None: none decided), and `breached`, how many did not."""
        with open_reader(self.location) as reader:
            states = reader.view.promise_state_counts()
        met, breached = states.get("met", 0), states.get("breached", 0)
        share = round(met / (met + breached), 4) if met + breached else None
        return {"within_promise_share": share, "breached": breached}

    def notifications_sent(self) -> dict[str, int]:
        """Messages to consumers central sent through the day, by channel ("email",
        "sms"; central/notify), each channel shown even when none went."""
        with open_reader(self.location) as reader:
            counts = reader.view.notification_counts()
        sent = {"email": 0, "sms": 0}
        for (channel, status), n in counts.items():
            if status == "sent":
                sent[channel] = sent.get(channel, 0) + n
        return sent

    def alarms(self) -> dict[str, dict[str, int]]:
        """Alarms central raised through the day, by kind: how many, and how many are open."""
        with open_reader(self.location) as reader:
            counts = reader.alarm_counts()
        return {kind: {"raised": raised, "open": still} for kind, (raised, still) in counts.items()}

    def operator_view(self) -> tuple[dict[str, int], dict[str, int]]:
        """What the operator sees at central now: parcels by state in the lifecycle's order,
        and alarms still open by kind. Empty while central's store is busy or not there
        yet: the next look shows it."""
        try:
            with open_reader(self.location) as reader:
                states = reader.parcel_states()
                alarms = reader.alarm_counts()
        except StoreReader.errors:
            return {}, {}
        return states, {kind: still for kind, (_, still) in alarms.items() if still}


STUCK_EXAMPLES = 3  # parcels named per stuck state: enough to see a pattern, short to read


def _stuck_examples(reader: StoreReader) -> dict[str, list[str]]:
    """Up to `STUCK_EXAMPLES` parcels of each state that waits for central or a courier, each
    as "label (mode, site or courier, last step)", by state."""
    found: dict[str, list[str]] = {}
    for state in sorted(AWAITING_THE_NETWORK):
        named = []
        for parcel in reader.view.parcels_in_state([state], limit=STUCK_EXAMPLES):
            steps = reader.view.steps(parcel.label)
            last = f"{steps[-1].step} by {steps[-1].source}" if steps else "no step"
            who = f"courier {parcel.courier}" if parcel.courier else "no courier"
            mode = parcel.delivery_mode or "not placed"
            named.append(f"{parcel.label} ({mode}, {parcel.site or 'no site'}, {who}, last {last})")
        if named:
            found[str(state)] = named
    return found
