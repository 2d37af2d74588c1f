"""Bit-rate targets as a person writes them: ``2kbps``, ``500bps``, ``1.5kbps``, ``8kbps``."""

from __future__ import annotations

import argparse
import math
import re

MIN_BITRATE_BPS = 100
"""Below this not even the cheapest operating point's message headers fit."""
MAX_BITRATE_BPS = 10_000_000
_UNITS_BPS = {
    "bps": 1,
    "kbps": 1_000,
    "mbps": 1_000_000,
    "bit/s": 1,
    "kbit/s": 1_000,
    "mbit/s": 1_000_000,
}
_PATTERN = re.compile(r"\s*([0-9]*\.?[0-9]+)\s*([a-z/]+)\s*", re.IGNORECASE)
_EXAMPLES = "e.g. 2kbps, 500bps or 1.5kbps"


class BitrateError(ValueError):
    """A bit rate that does not parse or is out of range; the message says what to write."""


def parse_bitrate(text: str) -> int:
    """Bits per second in ``text``: a number and bps, kbps or Mbps (or bit/s, kbit/s, Mbit/s),
    in any case."""
    match = _PATTERN.fullmatch(text)
    if match is None:
        raise BitrateError(f"bad bit rate {text!r}: write a number and a unit, {_EXAMPLES}")
    number, unit = match.groups()
    scale = _UNITS_BPS.get(unit.lower())
    if scale is None:
        raise BitrateError(f"bad bit-rate unit {unit!r} in {text!r}: use bps, kbps or Mbps")
    bps = float(number) * scale
    if not (math.isfinite(bps) and MIN_BITRATE_BPS <= bps <= MAX_BITRATE_BPS):
        raise BitrateError(
            f"bit rate {text!r} out of range: between {MIN_BITRATE_BPS}bps and "
            f"{MAX_BITRATE_BPS // 1_000_000}Mbps"
        )
    return round(bps)


def bitrate_argument(text: str) -> int:
    """``parse_bitrate`` for argparse's ``type=``, which then shows our message as it is."""
    try:
        return parse_bitrate(text)
    except BitrateError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc
