"""A courier's stack of parcels in a presentation scanner's view: the field fault "the label
on top is read between each of the others".

A presentation scanner reads whatever label is in its view. A courier who holds a stack
while scanning each parcel in turn has the top label read again and again between the
others; when that parcel is one the site does not expect (its reservation not there yet),
each of those reads is a refusal of an unknown label. The site must count it once, not lock
itself out (issue 11, kind 9): a guesser gains nothing by showing the same text again.

To play it in a simulated day: `StackCourier(site, pace).deposit_with_stray(badge, parcels,
stray)` in place of a `Courier.deposit`, `stray` being a label the site does not expect;
the verdict's checks are the usual ones (no `scanner_locked_out` event, every reserved
parcel deposited).
"""

from __future__ import annotations

from collections.abc import Sequence

from hw_sim.devices.site import LABEL_SYMBOLOGY, QR_SYMBOLOGY
from hw_sim.people.people import Courier, DepositReport


class StackCourier(Courier):
    """A courier whose stack's top label is read before each parcel they scan."""

    async def deposit_with_stray(
        self, badge: str, parcels: Sequence[str], stray: str
    ) -> DepositReport:
        """Deposit `parcels` (as `Courier.deposit`) with `stray` read before each of them.
        The scanner's reads reach the site in order, so nothing waits for the stray's."""
        report = DepositReport()
        await self.scan(badge, QR_SYMBOLOGY)
        for parcel in parcels:
            self.site.scan(stray, LABEL_SYMBOLOGY)
            await self.deposit_one(parcel, report)
        return report
