"""Loading the rate-distortion table the codec's script writes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from facecodec.bitrate.table import RatePoint, RateTable, load_table
from facecodec.types import OperatingPoint

ROWS = [
    {"keypoints": 0, "expression_dims": 8, "quant_level": 3, "frame_interval": 2,
     "bytes_per_frame": 2.5, "distortion": 3.1},
    {"keypoints": 10, "expression_dims": 32, "quant_level": 1, "frame_interval": 1,
     "bytes_per_frame": 21.0, "distortion": 1.2},
]  # fmt: skip


def write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "rd_table.json"
    path.write_text(json.dumps(data))
    return path


def test_loads_rows_into_operating_points(tmp_path: Path) -> None:
    table = load_table(write(tmp_path, {"version": 1, "bytes_per_message": 4, "points": ROWS}))
    assert table.bytes_per_message == 4.0
    assert table.points[1] == RatePoint(OperatingPoint(10, 32, 1, 1), 21.0, 1.2)
    assert table.cheapest.point == OperatingPoint(0, 8, 3, 2)
    assert table.points[0].payload_bps(capture_fps=25) == pytest.approx(8 * 2.5 * 12.5)


@pytest.mark.parametrize(
    ("data", "complaint"),
    [
        ({"version": 2, "points": ROWS}, "version 2"),
        ({"version": 1}, "points"),
        ({"version": 1, "points": []}, "without operating points"),
        ({"version": 1, "points": [{**ROWS[0], "distortion": None} ]}, "distortion|float"),
        ({"version": 1, "points": [{k: v for k, v in ROWS[0].items() if k != "keypoints"}]},
         "point 0: missing 'keypoints'"),
        ({"version": 1, "points": [{**ROWS[0], "bytes_per_frame": 0}]}, "must be positive"),
        ({"version": 1, "points": [{**ROWS[0], "expression_dims": 99}]}, "expression_dims"),
        ([1, 2], "not a rate-distortion table"),
    ],
)  # fmt: skip
def test_malformed_tables_name_the_file_and_the_problem(
    tmp_path: Path, data: object, complaint: str
) -> None:
    with pytest.raises(ValueError, match=complaint) as raised:
        load_table(write(tmp_path, data))
    assert "rd_table.json" in str(raised.value)


def test_empty_table_is_refused() -> None:
    with pytest.raises(ValueError, match="without operating points"):
        RateTable(())
