"""What every feed's parser shares: the error a frame is counted under, and the checks of a value.

A frame that is not a usable liquidation raises FrameError with a short `kind` (not_json,
wrong_type, bad_value, ...) that the feed counts and logs once per kind. Exchanges send numbers as
strings; a JSON number is accepted too, a boolean is not.
"""

from __future__ import annotations

import json
import math
from typing import Any

# A real frame is a few hundred bytes; anything this large is not one and is not worth decoding.
MAX_FRAME_CHARS = 64 * 1024
# No single liquidation comes near this; a larger notional is a corrupt frame.
MAX_NOTIONAL_USD = 1e12
# Event times are kept as uint32 seconds (history.py): good until 2106.
MAX_TIME_MS = 2**32 * 1000
_decode = json.JSONDecoder().decode


class FrameError(ValueError):
    """A frame that is not a usable liquidation. `kind` groups them for counting and logging."""

    def __init__(self, kind: str, detail: str = "") -> None:
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind = kind


def check_size(message: str | bytes) -> None:
    if len(message) > MAX_FRAME_CHARS:
        raise FrameError("too_large", f"{len(message)} characters")


def decode_object(message: str | bytes) -> dict[str, Any]:
    """The standard library's reading of a frame that must be a JSON object (the exact, slower path)."""
    try:
        frame = _decode(message if isinstance(message, str) else message.decode())
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise FrameError("not_json") from None
    if type(frame) is not dict:
        raise FrameError("not_object")
    return frame


def missing_or_wrong(value: Any, name: str) -> FrameError:
    return FrameError("missing_field" if value is None else "wrong_type", name)


def text_field(obj: dict[str, Any], name: str) -> str:
    """A non-empty string field."""
    value = obj.get(name)
    if type(value) is not str:
        raise missing_or_wrong(value, name)
    if not value:
        raise FrameError("bad_value", name)
    return value


def number(value: Any, name: str) -> float:
    """A finite, non-negative number sent as a string (or a JSON number)."""
    if type(value) is str:
        try:
            result = float(value)
        except ValueError:
            raise FrameError("bad_value", name) from None
    elif type(value) is float or type(value) is int:
        result = float(value)
    else:
        raise missing_or_wrong(value, name)
    if not math.isfinite(result) or result < 0:
        raise FrameError("bad_value", name)
    return result


def event_time(value: Any, name: str) -> int:
    """Epoch milliseconds as a JSON integer."""
    if type(value) is not int:
        raise missing_or_wrong(value, name)
    return check_time(value, name)


def check_time(time_ms: int, name: str) -> int:
    if not 0 < time_ms < MAX_TIME_MS:
        raise FrameError("bad_value", name)
    return time_ms


def notional(usd: float, what: str) -> float:
    if usd > MAX_NOTIONAL_USD:
        raise FrameError("bad_value", what)
    return usd
