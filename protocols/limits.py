"""The wire contract's size limits, each defined once: every model, truncation and pattern
that must agree with them imports them from here (protocols/messages.py uses them in its
types; the contract files in docs/contract are generated from those types).
"""

from __future__ import annotations

# The longest free text a message carries (a fault's detail, a reply's detail, a refusal's
# reason): a line a technician or an operator reads, never a stack trace.
TEXT_MAX_CHARS = 500
# A fault's code: a short machine-readable name (an enum value, a task's name).
CODE_MAX_CHARS = 64
# An identifier (a command's id, a courier's badge id, a nonce's owner): letters, digits and
# _ . : - only, so it is safe in a topic, a log line and a file name.
IDENT_PATTERN = r"^[A-Za-z0-9_.:-]{1,64}$"
# A parcel label as printed (the UPU S10 13-character form, and carriers' longer ones).
LABEL_MAX_CHARS = 32
# Parcels in one MarkForRemoval: a courier's one visit; central splits longer lists.
REMOVAL_MAX_PARCELS = 500
# An event sequence number: what a 64-bit signed column holds (SQLite's INTEGER, PostgreSQL's
# BIGINT). Larger, central's store refuses the row on every retry of its batch.
SEQ_MAX = 2**63 - 1


def fit_text(text: str) -> str:
    """`text` cut to TEXT_MAX_CHARS, so a message built with it never fails validation for
    its length (an exception's text, a list of parcels, can be any length)."""
    return text[:TEXT_MAX_CHARS]
