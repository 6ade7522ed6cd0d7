"""Issue 11, kind 9: the scan lockout as a pure decision (edge.site.lockout), no I/O."""

from __future__ import annotations

import pytest

from edge.site.lockout import Admission, Decision, LockoutPolicy, ScanLockout, looks_like_guessing
from protocols.messages import ScanRefusal

POLICY = LockoutPolicy(failures=5, window_s=60, lockout_s=300)


def _handle(lockout: ScanLockout, text: str, now: float, refusal: ScanRefusal | None) -> Decision:
    """One scan as the agent handles it: admit, then refuse (or succeed), then done."""
    decision = lockout.admit(text, now)
    if decision.admission is Admission.REPEAT:
        return decision
    if decision.admission is Admission.LOCKED_OUT:
        refusal = ScanRefusal.LOCKED_OUT
    if refusal is not None:
        lockout.refused(refusal, now, decision=decision)
    lockout.handled(text, now, refused=refusal, served=refusal is None)
    return decision


def _scan(lockout: ScanLockout, text: str, now: float, refusal: ScanRefusal | None) -> Admission:
    return _handle(lockout, text, now, refusal).admission


def test_six_re_reads_of_a_used_code_count_once_and_lock_nothing_out() -> None:
    lockout = ScanLockout(POLICY)
    decisions = [
        _handle(lockout, "LNP:used", t, ScanRefusal.ALREADY_USED) for t in (0, 1, 2, 3, 4, 5, 6)
    ]
    assert [d.admission for d in decisions] == [Admission.FRESH] * 7
    # The re-reads are looked at again (what refused a code may pass) but said and counted
    # once: the agent reports a re-read's refusal only when its reason changed.
    assert [d.retry_of for d in decisions] == [None] + [ScanRefusal.ALREADY_USED] * 6
    assert lockout.stats.counted == 0 and lockout.stats.not_counted == 1
    assert lockout.stats.retries == 6
    assert lockout.admit("LNP:next-consumer", 7).admission is Admission.FRESH


def test_a_re_read_after_a_lock_that_did_not_release_tries_again() -> None:
    lockout = ScanLockout(POLICY)
    assert lockout.admit("LNP:good", 0).admission is Admission.FRESH
    lockout.handled("LNP:good", 0.5)  # neither refused nor served: the lock stuck
    decision = lockout.admit("LNP:good", 1.0)
    assert decision.admission is Admission.FRESH and decision.retry


def test_a_badge_re_read_is_not_acted_on_again() -> None:
    lockout = ScanLockout(POLICY)
    assert _scan(lockout, "LNB:badge", 0, None) is Admission.FRESH
    assert _scan(lockout, "LNB:badge", 1, None) is Admission.REPEAT


def test_re_reads_of_a_code_that_opened_a_door_show_that_door_until_it_is_shut() -> None:
    lockout = ScanLockout(POLICY)
    assert lockout.admit("LNP:good", 0).admission is Admission.FRESH
    lockout.handled("LNP:good", 0.6, slot="A03", served=True)
    for t in (1.5, 2.5, 3.5):
        decision = lockout.admit("LNP:good", t)
        assert decision.admission is Admission.REPEAT and decision.slot == "A03"
    lockout.door_closed("A03")  # a consumer who changed their mind may scan again
    assert lockout.admit("LNP:good", 4.0).admission is Admission.FRESH


@pytest.mark.parametrize(
    "reason",
    [
        ScanRefusal.ALREADY_USED,
        ScanRefusal.EXPIRED,
        ScanRefusal.REVOKED,
        ScanRefusal.WRONG_SITE,
        ScanRefusal.NOT_YET_VALID,
        ScanRefusal.PARCEL_NOT_HERE,
        ScanRefusal.NO_BADGE,
        ScanRefusal.NO_FREE_SLOT,
    ],
)
def test_refusals_of_codes_that_cannot_be_guessed_never_lock_out(reason: ScanRefusal) -> None:
    lockout = ScanLockout(POLICY)
    for i in range(20):
        assert _scan(lockout, f"code-{i}", i, reason) is Admission.FRESH
    assert not lockout.locked_out(20)


def test_ten_bad_signatures_still_lock_out_and_a_re_read_does_not_extend_the_count() -> None:
    lockout = ScanLockout(POLICY)
    admissions = [
        _scan(lockout, f"LNP:forged-{i}", i, ScanRefusal.BAD_SIGNATURE) for i in range(10)
    ]
    assert admissions[:5] == [Admission.FRESH] * 5
    assert admissions[5:] == [Admission.LOCKED_OUT] * 5
    assert lockout.stats.lockouts == 1 and lockout.locked_out(300)
    assert not lockout.locked_out(305)
    # One forgery held in view for ten seconds is one guess, not ten.
    fresh = ScanLockout(POLICY)
    for t in range(10):
        _scan(fresh, "LNP:forged", t, ScanRefusal.BAD_SIGNATURE)
    assert fresh.stats.counted == 1 and not fresh.locked_out(10)


def test_a_repeat_is_only_the_same_code_with_nothing_shown_between() -> None:
    """A courier scans a label without a badge, the badge, then the label again within a
    second: the second label scan is a new request, not a re-read."""
    lockout = ScanLockout(POLICY)
    assert _scan(lockout, "RR123456785CN", 0, ScanRefusal.NO_BADGE) is Admission.FRESH
    assert _scan(lockout, "LNB:badge", 0.4, None) is Admission.FRESH
    assert _scan(lockout, "RR123456785CN", 0.8, None) is Admission.FRESH
    # And a code shown again after a pause longer than the re-read window is new too.
    assert _scan(lockout, "RR123456785CN", 0.8 + POLICY.reread_window_s + 0.1, None) is (
        Admission.FRESH
    )


def test_guessing_is_what_needs_no_signature() -> None:
    guesses = {r for r in ScanRefusal if looks_like_guessing(r)}
    assert guesses == {
        ScanRefusal.MALFORMED,
        ScanRefusal.BAD_SIGNATURE,
        ScanRefusal.WRONG_KIND,
        ScanRefusal.BAD_LABEL,
        ScanRefusal.UNKNOWN_LABEL,
    }
    # The caller may know better: a label the site does hold, scanned again.
    lockout = ScanLockout(POLICY)
    assert lockout.refused(ScanRefusal.UNKNOWN_LABEL, 0, guessing=False) is None
    assert lockout.stats.counted == 0


def test_a_bad_policy_is_refused() -> None:
    with pytest.raises(ValueError, match="lockout"):
        LockoutPolicy(failures=0, window_s=60, lockout_s=300)


def test_slow_re_reads_are_still_the_same_scan_while_its_door_is_open_or_it_was_refused() -> None:
    """On a loaded agent (or a compressed simulated day) re-reads may be handled further
    apart than the window: a door the code opened stays its door until seen shut, and the
    same refused code, nothing shown between, stays one attempt."""
    lockout = ScanLockout(POLICY)
    lockout.admit("LNP:good", 0)
    lockout.handled("LNP:good", 0.5, slot="A03", served=True)
    late = lockout.admit("LNP:good", 60.0)
    assert late.admission is Admission.REPEAT and late.slot == "A03"
    forged = [_handle(lockout, "LNP:forged", t, ScanRefusal.BAD_SIGNATURE) for t in (61, 90, 200)]
    assert [d.retry for d in forged] == [False, True, True]
    assert lockout.stats.counted == 1
