"""Central's signed commands: a site obeys only what central signed for it, in date."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols import MessageError, ProtocolError, TokenRefused, UnsupportedSchemaVersion
from protocols import messages as m
from protocols.commands import sign_command, verify_command
from protocols.errors import RefusalReason
from protocols.tokens import CLOCK_SKEW_S, TokenKind, TokenSigner

from . import strategies as s

NOW = 1_767_225_600
SITE = "L0001"
SIGNER = TokenSigner.generate()
VERIFIER = SIGNER.verifier()
OTHER = TokenSigner.generate()


def open_slot(site: str = SITE, issued_at: float = NOW, expires_at: float = NOW + 60) -> m.Command:
    return m.Command(
        id="cmd-1",
        site=site,
        issued_at=issued_at,
        expires_at=expires_at,
        nonce="00112233445566778899aabbccddeeff",
        body=m.OpenSlot(slot="A07", reason="customer locked out"),
    )


def refusal(signed: m.SignedCommand, now: float = NOW) -> RefusalReason:
    with pytest.raises(TokenRefused) as caught:
        verify_command(VERIFIER, signed, SITE, now)
    return caught.value.reason


def test_a_signed_command_survives_the_wire_and_verifies() -> None:
    signed = sign_command(SIGNER, open_slot())
    received = m.decode(m.SignedCommand, m.encode(signed))
    assert verify_command(VERIFIER, received, SITE, NOW) == open_slot()


def test_a_command_signed_by_another_key_is_refused_as_bad_signature() -> None:
    assert refusal(sign_command(OTHER, open_slot())) is RefusalReason.BAD_SIGNATURE


def test_an_altered_command_is_refused_as_bad_signature() -> None:
    signed = sign_command(SIGNER, open_slot())
    altered = signed.command.replace('"A07"', '"A08"')
    assert altered != signed.command
    assert refusal(m.SignedCommand(command=altered, sig=signed.sig)) is (
        RefusalReason.BAD_SIGNATURE
    )
    # Even a change that means the same JSON: the signature covers the exact bytes.
    spaced = signed.command.replace(",", ", ")
    assert refusal(m.SignedCommand(command=spaced, sig=signed.sig)) is (RefusalReason.BAD_SIGNATURE)


def test_a_signature_from_another_command_is_refused() -> None:
    other = sign_command(SIGNER, open_slot(expires_at=NOW + 3600))
    mine = sign_command(SIGNER, open_slot())
    assert refusal(m.SignedCommand(command=mine.command, sig=other.sig)) is (
        RefusalReason.BAD_SIGNATURE
    )


def test_a_command_for_another_site_is_refused_as_wrong_site() -> None:
    assert refusal(sign_command(SIGNER, open_slot(site="L0002"))) is RefusalReason.WRONG_SITE


def test_an_expired_command_is_refused_as_expired() -> None:
    signed = sign_command(SIGNER, open_slot(expires_at=NOW + 60))
    assert refusal(signed, now=NOW + 60) is RefusalReason.EXPIRED
    assert verify_command(VERIFIER, signed, SITE, NOW + 59).id == "cmd-1"


def test_a_command_from_the_future_is_refused_as_not_yet_valid() -> None:
    signed = sign_command(SIGNER, open_slot(issued_at=NOW + 600, expires_at=NOW + 900))
    assert refusal(signed) is RefusalReason.NOT_YET_VALID
    # A device clock a little behind central's is tolerated.
    slightly = sign_command(SIGNER, open_slot(issued_at=NOW + CLOCK_SKEW_S, expires_at=NOW + 900))
    assert verify_command(VERIFIER, slightly, SITE, NOW).id == "cmd-1"


def test_signed_bytes_that_are_no_command_are_refused_as_malformed() -> None:
    text = '{"v":1,"hello":"world"}'
    sig = SIGNER.sign(TokenKind.COMMAND, text.encode())
    signed = m.SignedCommand(command=text, sig=b64url(sig))
    assert refusal(signed) is RefusalReason.MALFORMED


def test_a_signed_command_of_another_schema_version_says_so() -> None:
    data = json.loads(m.encode(open_slot()))
    data["v"] = 2
    text = json.dumps(data, separators=(",", ":"))
    signed = m.SignedCommand(
        command=text, sig=b64url(SIGNER.sign(TokenKind.COMMAND, text.encode()))
    )
    with pytest.raises(UnsupportedSchemaVersion, match="unsupported schema version 2"):
        verify_command(VERIFIER, signed, SITE, NOW)


def test_a_signature_that_is_not_base64url_never_reaches_the_site() -> None:
    with pytest.raises(MessageError, match="sig"):
        m.decode(m.SignedCommand, b'{"v":1,"command":"{}","sig":"not base64!"}')


def b64url(sig: bytes) -> str:
    return base64.urlsafe_b64encode(sig).decode().rstrip("=")


# ------------------------------------------------------------------------------ hypothesis


@settings(deadline=None, max_examples=200)
@given(s.commands, st.floats(0, 2**32), st.floats(0, 1e6))
def test_every_command_round_trips_signed(command: m.Command, issued: float, window: float) -> None:
    command = command.model_copy(update={"issued_at": issued, "expires_at": issued + window + 1})
    signed = sign_command(SIGNER, command)
    received = m.decode(m.SignedCommand, m.encode(signed))
    now = issued + window
    assert verify_command(VERIFIER, received, command.site, now) == command


REAL = [
    sign_command(SIGNER, open_slot()),
    sign_command(SIGNER, open_slot(site="L0002")),
    sign_command(SIGNER, open_slot(issued_at=0, expires_at=2**33)),
    sign_command(
        SIGNER,
        open_slot().model_copy(
            update={"body": m.MarkForRemoval(parcels=["RR123456785CN"], reason="expired")}
        ),
    ),
]


# What can arrive: text off the wire is decoded UTF-8, so it never holds a lone surrogate.
WIRE_CHARACTERS = st.characters(exclude_categories=("Cs",))


@st.composite
def signed_commands(draw: st.DrawFn) -> m.SignedCommand:
    """Real signed commands, damaged or not, and made-up ones."""
    real = draw(st.sampled_from(REAL))
    text = draw(
        st.sampled_from([real.command, '{"v":1}', "", "[]"]) | st.text(WIRE_CHARACTERS, max_size=80)
    )
    if text == real.command and draw(st.booleans()):
        at = draw(st.integers(0, len(text) - 1))
        text = text[:at] + draw(WIRE_CHARACTERS) + text[at + 1 :]
    sig = draw(st.sampled_from([real.sig]) | st.binary(min_size=64, max_size=64).map(b64url))
    if draw(st.booleans()):  # central signed whatever this text is
        sig = b64url(SIGNER.sign(TokenKind.COMMAND, text.encode()))
    return m.SignedCommand(command=text, sig=sig)


@settings(deadline=None, max_examples=1500)
@given(signed_commands(), st.sampled_from([SITE, "L0002"]), st.floats(0, 2**33))
def test_arbitrary_signed_commands_give_a_command_or_a_protocol_error(
    signed: m.SignedCommand, site: str, now: float
) -> None:
    try:
        command = verify_command(VERIFIER, signed, site, now)
    except ProtocolError as exc:
        assert isinstance(exc, TokenRefused | UnsupportedSchemaVersion)
    else:
        assert command.site == site
        assert command.issued_at <= now + CLOCK_SKEW_S and now < command.expires_at
