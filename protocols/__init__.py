"""lockernet's wire contract: pure, I/O-free codecs, message models and signed tokens.

Everything here is shared by the edge agent and central, so it must stay free of I/O:
importing it never imports paho, pyserial, sqlite3 or socket code.
"""

from protocols.errors import (
    FrameError,
    LabelError,
    MessageError,
    ProtocolError,
    TokenRefused,
    UnsupportedSchemaVersion,
)

__all__ = [
    "FrameError",
    "LabelError",
    "MessageError",
    "ProtocolError",
    "TokenRefused",
    "UnsupportedSchemaVersion",
]
