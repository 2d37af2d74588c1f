"""The rate-distortion table the controller chooses from (bitrate/rd_table.json).

The codec's measuring script (bitrate/rd_table.py) writes it from the training identities::

    {"version": 1,
     "bytes_per_message": 4.0,
     "points": [{"keypoints": 0, "expression_dims": 16, "quant_level": 2, "frame_interval": 1,
                 "bytes_per_frame": 9.1, "distortion": 1.8}, ...]}
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from facecodec.types import OperatingPoint

TABLE_VERSION = 1
DEFAULT_TABLE_PATH = Path(__file__).with_name("rd_table.json")
_POINT_FIELDS = ("keypoints", "expression_dims", "quant_level", "frame_interval")


@dataclass(frozen=True)
class RatePoint:
    """One row: an operating point, what it costs and how far it is from the truth."""

    point: OperatingPoint
    bytes_per_frame: float
    """Mean coded bytes per sent frame, inside bundles, beyond the message's fixed bytes."""
    distortion: float
    """Landmark error with concealment between sent frames (lower is better)."""

    def payload_bps(self, capture_fps: float, content_factor: float = 1.0) -> float:
        """Payload bit rate of the frames alone at this point, for content this costly."""
        sent_fps = capture_fps / self.point.frame_interval
        return 8 * self.bytes_per_frame * content_factor * sent_fps


@dataclass(frozen=True)
class RateTable:
    points: tuple[RatePoint, ...]
    bytes_per_message: float = 0.0
    """Fixed bytes of every frames message (header, entropy coder flush), whatever it holds."""

    def __post_init__(self) -> None:
        if not self.points:
            raise ValueError("rate-distortion table without operating points")

    @property
    def cheapest(self) -> RatePoint:
        return min(self.points, key=lambda row: row.payload_bps(1.0))


def load_table(path: Path = DEFAULT_TABLE_PATH) -> RateTable:
    """Read a table; ValueError naming the file and the row for anything malformed."""
    try:
        data = json.loads(Path(path).read_text())
        if data.get("version") != TABLE_VERSION:
            raise ValueError(f"version {data.get('version')!r}, expected {TABLE_VERSION}")
        points = tuple(_row(i, row) for i, row in enumerate(data["points"]))
        return RateTable(points, float(data.get("bytes_per_message", 0.0)))
    except (KeyError, TypeError, AttributeError, json.JSONDecodeError, ValueError) as exc:
        raise ValueError(f"{path}: not a rate-distortion table: {exc}") from exc


def _row(index: int, row: dict[str, float]) -> RatePoint:
    try:
        point = OperatingPoint(**{name: int(row[name]) for name in _POINT_FIELDS})
        rate = RatePoint(point, float(row["bytes_per_frame"]), float(row["distortion"]))
    except KeyError as exc:
        raise ValueError(f"point {index}: missing {exc}") from exc
    if rate.bytes_per_frame <= 0:
        raise ValueError(f"point {index}: bytes_per_frame must be positive")
    return rate
