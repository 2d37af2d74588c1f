"""``facecodec bench`` end to end on two short real clips on the CPU: results, CSVs, summary,
plots, reenactment pairs, and resumption that skips finished entries."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import pytest
from shared_data import DATA_DIR

from facecodec.benchmark.bench import ClipRecord, reenactment_sources
from facecodec.benchmark.report import Row, hard_subset, metric_figure
from facecodec.cli import main

DATA = DATA_DIR / "train"
CLIPS = (DATA / "obama__000.mp4", DATA / "lp_d14__103.mp4")
CLASSICAL = ("h264", "h265", "av1")
METHODS = ",".join(("still", *CLASSICAL))
"""facecodec has its own test (its receiver takes seconds per frame on a CPU)."""
pytestmark = pytest.mark.slow  # about 50 s on two busy CPU cores


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("bench")
    argv = ["bench", *map(str, CLIPS), "--bitrates", "8kbps", "--out", str(out)]
    argv += ["--mode", "both", "--max-frames", "11", "--feature-stride", "5"]
    assert main([*argv, "--methods", METHODS]) == 0
    return out


def _entry_times(out: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in (out / "entries").glob("*.json")}


def test_results_hold_every_method_point_and_mode(run_dir):
    results = json.loads((run_dir / "results.json").read_text())
    assert results["unavailable"] == {}
    keys = {(e["mode"], e["clip"], e["method"], e["point"]) for e in results["entries"]}
    for clip in ("obama__000", "lp_d14__103"):
        for method in CLASSICAL:
            for point in ("lowest", "8kbps"):
                assert ("reconstruction", clip, method, point) in keys
        assert ("reenactment", clip, "still", "keyframe-only") in keys
    assert not any(m == "reenactment" and meth in CLASSICAL for m, _, meth, _ in keys)
    entry = next(e for e in results["entries"] if e["method"] == "h264")
    assert entry["frames"] == 10 and entry["keyframes"] == 1 and entry["payload_bytes"] > 0
    assert entry["total_kbps"] == pytest.approx(
        8 * (entry["payload_bytes"] + entry["keyframe_bytes"]) / entry["seconds"] / 1000
    )
    assert entry["wire_kbps"] > entry["total_kbps"]
    assert entry["sender_ms_per_frame"] > 0 and entry["receiver_ms_per_frame"] > 0
    reenact = next(e for e in results["entries"] if e["mode"] == "reenactment")
    assert reenact["source_clip"] != reenact["clip"] and reenact["scores"]["akd"] is None
    assert results["hard_subset"] == [
        max(results["clips"], key=lambda c: c["pose_variance"])["name"]
    ]


def test_csv_per_metric_and_summary(run_dir):
    for metric in ("akd", "akd_mouth", "aed", "aemod", "psnr", "ssim", "fvd_vgg16"):
        with open(run_dir / f"metric_{metric}.csv") as f:
            rows = list(csv.DictReader(f))
        assert rows and metric in rows[0]
    summary = (run_dir / "summary.md").read_text()
    assert "not comparable with published FID" in summary
    assert "| h264 | lowest |" in summary
    assert "- command: `facecodec bench " in summary and "--methods still," in summary


def test_plots_written_with_a_series_per_method(run_dir):
    for subset in ("full", "hard"):
        for metric in ("akd", "akd_mouth", "aemod"):
            image = cv2.imread(str(run_dir / f"plot_reconstruction_{subset}_{metric}.png"))
            assert image is not None and image.shape[0] > 200 and image.std() > 10
    assert (run_dir / "plot_reenactment_full_aemod.png").exists()
    assert not (run_dir / "plot_reenactment_full_akd.png").exists()  # no ground truth there
    rows = [Row(**r) for r in json.loads((run_dir / "results.json").read_text())["rows"]]
    group = [r for r in rows if (r.mode, r.subset) == ("reconstruction", "full")]
    ax = metric_figure(group, "akd", "reconstruction, full set").axes[0]
    series = {line.get_label(): line.get_xdata() for line in ax.get_lines()}
    assert set(series) == {*CLASSICAL, "still"}
    assert all(len(series[m]) == 2 for m in CLASSICAL)  # lowest and 8kbps


def test_rerun_skips_finished_entries(run_dir, capsys):
    before = _entry_times(run_dir)
    argv = ["bench", *map(str, CLIPS), "--bitrates", "8kbps", "--out", str(run_dir)]
    argv += ["--methods", METHODS]
    assert main([*argv, "--mode", "both", "--max-frames", "11", "--feature-stride", "5"]) == 0
    assert _entry_times(run_dir) == before and len(before) == 16
    assert main([*argv, "--max-frames", "12"]) == 2  # other settings: refused, not mixed
    assert "other settings" in capsys.readouterr().err


def test_reenactment_pairs_other_identities_and_hard_subset_share():
    clips = [("a1", "a", 5.0), ("a2", "a", 1.0), ("b1", "b", 9.0), ("c1", "c", 2.0)]
    records = [ClipRecord(name, who, 10, 25.0, variance) for name, who, variance in clips]
    assert reenactment_sources(records) == {"a1": "b1", "a2": "b1", "b1": "c1", "c1": "a1"}
    assert hard_subset(records) == ["b1"]
    assert reenactment_sources(records[:2]) == {}
