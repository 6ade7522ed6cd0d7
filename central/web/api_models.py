"""The operator API's request and response bodies (pydantic), so the OpenAPI document
(docs/api/openapi.json) says exactly what each route takes and gives.

Times are Unix seconds (float), central's clock; ids are the wire contract's.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from central.web.auth import Role


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Login(_Body):
    name: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class UserOut(BaseModel):
    name: str
    role: Role


class SignedOut(BaseModel):
    signed_out: bool = True


class SiteOut(BaseModel):
    """One site as the network list shows it."""

    id: str
    name: str | None
    kind: str = Field(description="locker, counter, or unknown (heard from, not in the file)")
    area: str | None = Field(description="the planning area it is in (nearest town centre)")
    online: bool | None = Field(description="None: never heard from")
    last_heard_at: float | None
    slots: int = Field(description="compartments the site reported")
    occupied: int
    free: int
    reserved: int
    out_of_service: int
    shelf_capacity: int | None
    shelf_used: int | None
    full: bool = Field(description="no free compartment (locker) or shelves full (counter)")
    faults: int
    open_alarms: int


class NetworkOut(BaseModel):
    sites: int
    online: int
    offline: int
    never_heard: int
    full: int
    open_alarms: int
    compartments: int
    occupied: int


class SitesOut(BaseModel):
    network: NetworkOut = Field(description="the whole network's totals, before any filter")
    sites: list[SiteOut]


class ReservationOut(BaseModel):
    parcel: str
    size: str
    until: float
    status: str


class SlotOut(BaseModel):
    id: str
    size: str
    state: str
    door: str | None
    occupied: bool | None = Field(description="the IR sensor's word, None if unknown")
    parcel: str | None
    reserved_for: str | None
    fault: str | None = Field(description="the site's fault on this slot: component/code")
    reservation: ReservationOut | None
    updated_at: float


class AlarmOut(BaseModel):
    id: int
    site: str
    kind: str
    ref: str
    opened_at: float
    detail: str | None
    source: str | None
    cleared_at: float | None
    acked_at: float | None
    acked_by: str | None


class AckBody(_Body):
    note: str = Field(default="", max_length=200, description="kept in the audit log")


class StepOut(BaseModel):
    at: float
    step: str = Field(description="a step's name, or a milestone's (kind milestone)")
    state: str = Field(description="the parcel's state after the step")
    source: str
    detail: str | None
    location: str | None = Field(default=None, description="where a milestone happened")
    kind: str = Field(default="step", description="step or milestone (cross-border)")


class TimelineOut(BaseModel):
    """A parcel's timeline for an operator: never its consumer's contact details."""

    label: str
    state: str
    size: str | None
    site: str | None
    slot: str | None
    partner: str | None
    courier: str | None
    dispatched_at: float | None
    pickup_expires_at: float | None
    codes_issued: int
    milestone: str | None = Field(default=None, description="furthest cross-border milestone")
    steps: list[StepOut]


class ParcelOut(BaseModel):
    label: str
    state: str | None
    size: str | None
    site: str | None
    slot: str | None
    partner: str | None
    updated_at: float | None


class OpenBody(_Body):
    reason: str = Field(min_length=1, max_length=200)


class ServiceBody(_Body):
    in_service: bool
    reason: str = Field(min_length=1, max_length=200)


class AuditOut(BaseModel):
    id: int | None
    at: float
    actor: str
    role: str
    action: str
    site: str | None
    target: str | None
    reason: str
    outcome: str = Field(description="queued, refused or done")
    command_id: str | None = Field(description="task:N, the durable task sending the command")


class DiagnosticsOut(BaseModel):
    site: str
    ok: bool
    reason: str | None
    detail: str | None
    at: float
    report: dict[str, object]


class BadgeIssue(_Body):
    courier: str = Field(min_length=1, max_length=64)
    partner: str = Field(min_length=1, max_length=32)
    days: float = Field(gt=0, le=366)


class BadgeOut(BaseModel):
    badge_id: str
    courier: str
    partner: str
    valid_from: float
    valid_until: float
    issued_at: float
    issued_by: str
    revoked_at: float | None
    revoked_by: str | None


class IssuedBadgeOut(BaseModel):
    badge: BadgeOut
    text: str = Field(description="the LNB: text to print as the badge's QR code")
