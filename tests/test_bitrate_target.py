"""Bit-rate targets as people write them."""

from __future__ import annotations

import argparse

import pytest

from facecodec.bitrate.target import BitrateError, bitrate_argument, parse_bitrate


@pytest.mark.parametrize(
    ("text", "bps"),
    [
        ("2kbps", 2000),
        ("500bps", 500),
        ("8kbps", 8000),
        ("1.5kbps", 1500),
        (" 2 KBPS ", 2000),
        ("0.5Mbps", 500_000),
        ("64kbit/s", 64_000),
        (".25kbps", 250),
    ],
)
def test_parses_what_people_write(text: str, bps: int) -> None:
    assert parse_bitrate(text) == bps


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("2000", "write a number and a unit"),
        ("kbps", "write a number and a unit"),
        ("-2kbps", "write a number and a unit"),
        ("2 k bps", "write a number and a unit"),
        ("nan kbps", "write a number and a unit"),
        ("2kbs", "unit 'kbs'"),
        ("2kB/s", "unit 'kB/s'"),
        ("0kbps", "out of range"),
        ("50bps", "out of range"),
        ("20Mbps", "out of range"),
        ("", "write a number and a unit"),
    ],
)
def test_rejects_bad_values_saying_what_to_write(text: str, complaint: str) -> None:
    with pytest.raises(BitrateError, match=complaint):
        parse_bitrate(text)


def test_argparse_shows_the_message() -> None:
    parser = argparse.ArgumentParser(exit_on_error=False)
    parser.add_argument("--bitrate", type=bitrate_argument)
    assert parser.parse_args(["--bitrate", "2kbps"]).bitrate == 2000
    with pytest.raises(argparse.ArgumentError, match="use bps, kbps or Mbps"):
        parser.parse_args(["--bitrate", "2kbs"])
