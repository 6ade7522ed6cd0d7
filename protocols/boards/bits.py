"""Lock, sensor and channel bits as the boards pack them: LSB first, 8 to a byte.

The Kerong boards send the bytes lowest group first (hardware.md §1, §6); the RS485
"0x8A/0x80" board highest group first (hardware.md §2), i.e. the same bytes reversed.
"""

from __future__ import annotations

from collections.abc import Sequence

# Each byte's 8 bits, LSB first: every poll of every board unpacks its status bytes.
_BYTE_BITS = tuple(tuple(bool(byte >> b & 1) for b in range(8)) for byte in range(256))


def unpack_bits(data: bytes) -> tuple[bool, ...]:
    """8 bits a byte, LSB first: bit b of byte k is index 8k+b."""
    bits: tuple[bool, ...] = ()
    for byte in data:
        bits += _BYTE_BITS[byte]
    return bits


def pack_bits(bits: Sequence[bool]) -> bytes:
    """unpack_bits' inverse: index 8k+b into bit b of byte k, in whole bytes (the last one
    padded with 0 bits)."""
    word = sum(1 << i for i, bit in enumerate(bits) if bit)
    return word.to_bytes(-(-len(bits) // 8), "little")
