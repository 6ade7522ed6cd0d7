"""Scanner framing (hardware.md §3): suffixes, prefix and AIM ids, length cap, garbage."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.scanner import (
    ACK,
    ENQ,
    MENU_STORE_FLASH,
    NAK,
    ScanLineSplitter,
    ScannedCode,
    ScannerFraming,
    Suffix,
    encode_scan,
    menu_command,
    menu_statuses,
)

CODE = "RR123456785CN"


def one_byte_at_a_time(splitter: ScanLineSplitter, data: bytes) -> list[ScannedCode]:
    out: list[ScannedCode] = []
    for b in data:
        out += splitter.feed(bytes((b,)))
    return out


@pytest.mark.parametrize("suffix", list(Suffix))
def test_each_suffix_ends_a_code_even_split_across_chunks(suffix: Suffix) -> None:
    line = CODE.encode() + suffix.value.encode()
    splitter = ScanLineSplitter(ScannerFraming(suffix=suffix))
    assert splitter.feed(line * 2) == [ScannedCode(CODE)] * 2
    assert one_byte_at_a_time(splitter, line) == [ScannedCode(CODE)]
    assert splitter.feed(line[:4]) == []
    assert splitter.feed(line[4:]) == [ScannedCode(CODE)]
    assert splitter.stats.codes == 4


def test_crlf_split_between_its_cr_and_lf() -> None:
    splitter = ScanLineSplitter(ScannerFraming(suffix=Suffix.CRLF))
    assert splitter.feed(CODE.encode() + b"\r") == [ScannedCode(CODE)]  # the CR ends it
    assert splitter.feed(b"\n") == []  # the empty line before the LF is no scan
    assert splitter.stats.codes == 1 and splitter.stats.garbage == 0


def test_prefix_and_aim_id_are_stripped_and_the_symbology_kept() -> None:
    framing = ScannerFraming(suffix=Suffix.CRLF, prefix="SCN:", strip_aim_id=True)
    splitter = ScanLineSplitter(framing)
    assert one_byte_at_a_time(splitter, b"SCN:]Q1LNP:ABC234\r\n") == [
        ScannedCode("LNP:ABC234", "]Q1")
    ]
    # A code sent without an AIM id is taken as it is.
    assert splitter.feed(b"SCN:" + CODE.encode() + b"\r\n") == [ScannedCode(CODE)]


def test_an_aim_id_is_removed_even_when_stripping_was_never_configured() -> None:
    """Issue 11 kind 10: `]Q1` before a pickup code, stripping off, was taken as the code."""
    splitter = ScanLineSplitter(ScannerFraming())
    assert splitter.feed(b"]Q1LNP:ABC\r") == [ScannedCode("LNP:ABC", "]Q1")]
    assert splitter.feed(b"]C0" + CODE.encode() + b"\r") == [ScannedCode(CODE, "]C0")]


@pytest.mark.parametrize("configured", list(Suffix))
@pytest.mark.parametrize("sent", list(Suffix))
def test_cr_lf_and_crlf_each_end_a_line_whatever_the_setting(
    configured: Suffix, sent: Suffix
) -> None:
    """Issue 11 kind 10: a CR LF scanner on a site set for CR lost every line after the
    first (its LF began the next line, which then read as garbage)."""
    splitter = ScanLineSplitter(ScannerFraming(suffix=configured))
    data = b"".join(code.encode() + sent.value.encode() for code in ("LNB:AAA", CODE, "LP1"))
    expected = [ScannedCode("LNB:AAA"), ScannedCode(CODE), ScannedCode("LP1")]
    assert splitter.feed(data) == expected
    assert one_byte_at_a_time(splitter, data) == expected
    assert splitter.stats.garbage == 0 and splitter.stats.unreadable_run == 0


def test_a_configured_prefix_is_removed_when_present_and_not_required() -> None:
    splitter = ScanLineSplitter(ScannerFraming(prefix="SCN:"))
    assert splitter.feed(b"SCN:" + CODE.encode() + b"\r") == [ScannedCode(CODE)]
    assert splitter.feed(CODE.encode() + b"\r") == [ScannedCode(CODE)]
    assert splitter.stats.garbage == 0


def test_unreadable_lines_in_a_row_are_counted_until_a_good_code() -> None:
    splitter = ScanLineSplitter(ScannerFraming(max_length=20))
    splitter.feed(b"\xff\xfe\r" + b"A" * 30 + b"\r\x07\r")
    assert splitter.stats.unreadable_run == 3
    assert splitter.feed(CODE.encode() + b"\r\n") == [ScannedCode(CODE)]
    assert splitter.stats.unreadable_run == 0


@pytest.mark.parametrize("chunk", [1, 7, 10_000])
def test_over_long_lines_are_dropped_counted_and_the_next_line_still_read(chunk: int) -> None:
    splitter = ScanLineSplitter(ScannerFraming(max_length=20))
    data = b"A" * 21 + b"\r" + b"B" * 500 + b"\r" + CODE.encode() + b"\r"
    got: list[ScannedCode] = []
    for pos in range(0, len(data), chunk):
        got += splitter.feed(data[pos : pos + chunk])
    assert got == [ScannedCode(CODE)]
    assert splitter.stats.too_long == 2
    assert splitter.stats.codes == 1


def test_a_code_of_the_longest_length_passes_however_it_is_chunked() -> None:
    framing = ScannerFraming(suffix=Suffix.CRLF, strip_aim_id=True, max_length=20)
    for text in ("A" * 20, "é" * 20):  # é is two bytes of UTF-8: the cap counts characters
        line = encode_scan(text, framing, "]Q1")
        for cut in range(1, len(line)):
            splitter = ScanLineSplitter(framing)
            got = splitter.feed(line[:cut]) + splitter.feed(line[cut:])
            assert got == [ScannedCode(text, "]Q1")], (text, cut)


def test_garbage_is_counted_and_never_raises() -> None:
    splitter = ScanLineSplitter(ScannerFraming())
    lines = [
        b"\xff\xfe\xc3(\r",  # invalid UTF-8
        b"AB\x00CD\r",  # a NUL inside
        b"\x1b[2J\r",  # an escape sequence
        b"\x07\x07\r",  # bells
        b"\r\r",  # empty lines: nothing, not even garbage
    ]
    for line in lines:
        assert splitter.feed(line) == []
    assert splitter.stats.garbage == 4
    assert splitter.feed(CODE.encode() + b"\r") == [ScannedCode(CODE)]


def test_reset_forgets_a_partial_line_after_an_unplug() -> None:
    splitter = ScanLineSplitter(ScannerFraming())
    splitter.feed(b"RR1234")
    splitter.reset()
    assert splitter.feed(CODE.encode() + b"\r") == [ScannedCode(CODE)]


# ------------------------------------------------------------------------------- hypothesis

framings = st.builds(
    ScannerFraming,
    suffix=st.sampled_from(Suffix),
    prefix=st.sampled_from(["", "SCN:", "Ω"]),
    strip_aim_id=st.booleans(),
    max_length=st.integers(1, 64),
)
# What a scanner can send as a code: printable text with no line breaks in it.
code_texts = st.text(
    alphabet=st.characters(
        min_codepoint=0x20, max_codepoint=0xFFFF, blacklist_categories=("Cs", "Cc")
    ),
    min_size=1,
    max_size=64,
)
aim_ids = st.from_regex(r"\][A-Za-z][0-9A-Za-z]", fullmatch=True)


def cut(data: bytes, sizes: list[int]) -> list[bytes]:
    chunks, pos, i = [], 0, 0
    while pos < len(data):
        chunks.append(data[pos : pos + sizes[i % len(sizes)]])
        pos += sizes[i % len(sizes)]
        i += 1
    return chunks


@settings(deadline=None, max_examples=500)
@given(
    framing=framings,
    codes=st.lists(st.tuples(code_texts, aim_ids), min_size=1, max_size=5),
    sizes=st.lists(st.integers(1, 9), min_size=1, max_size=5),
)
def test_encode_scan_then_split_round_trips(
    framing: ScannerFraming, codes: list[tuple[str, str]], sizes: list[int]
) -> None:
    # No lockernet code begins with "]" (an AIM id is then removed) or with the prefix.
    codes = [(text.lstrip("]"), aim) for text, aim in codes]
    prefix = framing.prefix
    codes = [(t, a) for t, a in codes if t and not (prefix and t.startswith(prefix))]
    line = b"".join(encode_scan(text, framing, aim) for text, aim in codes)
    splitter = ScanLineSplitter(framing)
    got = [code for chunk in cut(line, sizes) for code in splitter.feed(chunk)]
    expected = [
        ScannedCode(text, aim if framing.strip_aim_id else None)
        for text, aim in codes
        if len(text) <= framing.max_length
    ]
    assert got == expected
    assert splitter.stats.codes == len(expected)
    assert splitter.stats.too_long == len(codes) - len(expected)


@settings(deadline=None, max_examples=2000)
@given(
    framing=framings,
    chunks=st.lists(
        st.binary(max_size=30)
        | st.sampled_from([b"\r", b"\n", b"\r\n", b"]Q1", b"SCN:", "é".encode(), b"\xff"]),
        max_size=30,
    ),
)
def test_arbitrary_bytes_never_raise_and_give_the_same_codes_however_chunked(
    framing: ScannerFraming, chunks: list[bytes]
) -> None:
    splitter = ScanLineSplitter(framing)
    got = [code for chunk in chunks for code in splitter.feed(chunk)]
    whole = ScanLineSplitter(framing)
    assert whole.feed(b"".join(chunks)) == got
    for code in got:
        assert 1 <= len(code.text) <= framing.max_length
        assert not any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in code.text)
        assert "\r" not in code.text and "\n" not in code.text


def test_menu_command_bytes_as_the_honeywell_manuals_give_them() -> None:
    # SYN M CR (22, 77, 13) + Tag SubTag Data + storage ("!" RAM, "." flash).
    assert menu_command("TRGMOD0") == b"\x16M\rTRGMOD0!"
    assert menu_command("cbrena*", MENU_STORE_FLASH) == b"\x16M\rcbrena*."
    with pytest.raises(ValueError, match="storage"):
        menu_command("TRGMOD0", ";")
    with pytest.raises(ValueError, match="storage character"):
        menu_command("TRGMOD0.BEPLVL1")


def test_menu_statuses_one_per_setting_in_order() -> None:
    # The manuals' example reply to "cbr?.": CBRENA1[ACK],SSX0[ACK],... then the storage.
    assert menu_statuses(b"CBRENA1\x06,SSX0\x06,CK2Q\x15;XYZ\x05.") == [ACK, ACK, NAK, ENQ]
