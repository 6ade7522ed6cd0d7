"""One root error for central, and the few kinds a caller acts on differently."""

from __future__ import annotations


class CentralError(Exception):
    """Root of every error central raises on purpose."""


class ConfigError(CentralError):
    """A configuration file or override that cannot be used; the message names the key."""


class StoreError(CentralError):
    """The store cannot do what was asked (schema too new, a broken invariant)."""


class IllegalTransition(CentralError):
    """A parcel step that the lifecycle table does not allow from the parcel's state."""

    def __init__(self, label: str, state: str | None, step: str) -> None:
        self.label = label
        self.state = state
        self.step = step
        super().__init__(
            f"parcel {label}: step {step!r} is not allowed from state {state or 'unknown'!r}"
        )


class UnknownParcel(CentralError):
    """A label central has never been told about."""

    def __init__(self, label: str) -> None:
        self.label = label
        super().__init__(f"parcel {label} is not known to central")


class UnknownSite(CentralError):
    """A site id that is not in the registry."""

    def __init__(self, site: str) -> None:
        self.site = site
        super().__init__(f"site {site} is not in the registry (is it in the network file?)")


class NoCapacity(CentralError):
    """No delivery point could take the parcel (placement found nothing, or lost a race)."""


class CommandFailed(CentralError):
    """A command to a site got no reply in time, or a refusal."""


class StoreConflict(StoreError):
    """A write that would break a uniqueness rule (a slot reserved twice, a parcel twice)."""
