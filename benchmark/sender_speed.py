"""The whole sender per frame on one CPU core, split by stage (docs/sender.md, "Speed").

    taskset -c 0 python -m facecodec.benchmark.sender_speed [--clips 4] [--frames 150]
        [--frame-interval 1] [--out runs/sender_speed.json]

Inputs: real 256x256 clips of ../shared/data (validation identities), and 1280x720 input made
at run time from two of them (each frame upscaled to 512x512 on a gradient canvas, H.264-coded
in memory; nothing is written to disk). Stages per frame: decode (H.264 to RGB), landmarks
(MediaPipe, tracking), crop (framing and crop image), fit (pose and expression), keypoints,
packing (the frame message at 16 keypoints and 16 expression dims; keyframes are timed
apart). The identity estimate runs once per stream and is reported apart too. With
``--frame-interval N`` only every Nth frame is analysed and sent, as a live sender does when
its controller sends every Nth frame (the others cost their decode only): the mean per captured
frame is then what counts, the median per-stage table mixes both kinds of frame. The process pins
itself to one core and OpenCV and the decoder to one thread.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import os
import platform
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import av
import cv2
import numpy as np

from facecodec.call.capture_loop import CapturedFrame
from facecodec.call.clock import StreamClock
from facecodec.call.recording_link import RecordingLink
from facecodec.call.send_session import References, SendConfig, SendSession
from facecodec.codec import MessageType, parse_message
from facecodec.sender.crop import CropBox
from facecodec.sender.prior import MediaPipePrior, PriorConfig, PriorFrame
from facecodec.training.splits import split_clips
from facecodec.types import FrameParams, OperatingPoint

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data"
DEFAULT_OUT = REPO / "runs" / "sender_speed.json"
STAGES = ("decode", "landmarks", "crop", "fit", "keypoints", "packing")
ONCE = ("keyframe", "identity")
CANVAS_SHAPE = (720, 1280)
CANVAS_FACE_PX = 512
TARGET_MS = 6.0
"""Median for the whole sender per 256x256 frame on one core (issue 3)."""
OPERATING_POINT = OperatingPoint(keypoints=16, expression_dims=16)
"""Timed with explicit keypoints, so that every stage runs (0 keypoints skips that stage)."""


@dataclass
class StageClock:
    """Wall and CPU milliseconds per stage and frame (``seq``), and of the once-per-stream
    stages. CPU time (the process's, on its one core) is the cost of a stage whatever else
    runs on the machine; wall time adds the waits for the core."""

    per_frame: dict[str, dict[int, np.ndarray]] = field(default_factory=lambda: defaultdict(dict))
    once: dict[str, list[np.ndarray]] = field(default_factory=lambda: defaultdict(list))
    seq: int = 0
    """Frame being captured (stages that do not know their frame book it here)."""

    @contextmanager
    def stage(self, name: str, seq: int | None = None, once: bool = False) -> Iterator[None]:
        wall, cpu = time.perf_counter(), time.process_time()
        yield
        ms = np.array([time.perf_counter() - wall, time.process_time() - cpu]) * 1e3
        if once:
            self.once[name].append(ms)
            return
        frames = self.per_frame[name]
        key = self.seq if seq is None else seq
        frames[key] = frames.get(key, 0.0) + ms

    def move_to_once(self, name: str, seq: int, once: str) -> None:
        """Book frame ``seq``'s time of stage ``name`` as a once-per-stream ``once``."""
        self.once[once].append(self.per_frame[name].pop(seq))


class TimedPrior(MediaPipePrior):
    """The default prior with each stage timed into a StageClock."""

    def __init__(self, clock: StageClock) -> None:
        super().__init__(PriorConfig(keypoints=OPERATING_POINT.keypoints))
        self.clock = clock

    def _landmarks(self, frame: np.ndarray) -> np.ndarray | None:
        with self.clock.stage("landmarks"):
            return super()._landmarks(frame)

    def _crop(
        self, frame: np.ndarray, landmarks: np.ndarray
    ) -> tuple[CropBox, bool, np.ndarray, np.ndarray]:
        with self.clock.stage("crop"):
            return super()._crop(frame, landmarks)

    def _measure(self, crop: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        with self.clock.stage("crop"):
            return super()._measure(crop, landmarks)

    def _estimate_identity(self, measurements: list[np.ndarray]) -> np.ndarray:
        with self.clock.stage("identity", once=True):
            return super()._estimate_identity(measurements)

    def _params(self, measurement: np.ndarray, identity: np.ndarray, seq: int) -> FrameParams:
        with self.clock.stage("fit", seq):
            return super()._params(measurement, identity, seq)

    def keypoints(self, identity: np.ndarray, params: FrameParams, count: int) -> np.ndarray:
        with self.clock.stage("keypoints", params.seq):
            return super().keypoints(identity, params, count)


def decoded(data: bytes, clock: StageClock | None = None) -> Iterator[np.ndarray]:
    """Frames of an in-memory video, decoded on one thread (timed as "decode" into ``clock``,
    booked to ``clock.seq``)."""
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "NONE"
        stream.codec_context.thread_count = 1
        frames = container.decode(stream)
        while True:
            with clock.stage("decode") if clock else nullcontext():
                frame = next(frames, None)
                image = None if frame is None else frame.to_ndarray(format="rgb24")
            if image is None:
                return
            yield image
            if clock:
                clock.seq += 1


def canvas_video(paths: list[Path], frames: int) -> list[bytes]:
    """Each clip's frames upscaled on a 1280x720 gradient canvas, H.264 in memory."""
    height, width = CANVAS_SHAPE
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    canvas = np.stack([40 + 0.1 * xx, 60 + 0.15 * yy, 120 - 0.05 * xx], -1).astype(np.uint8)
    x, y = (width - CANVAS_FACE_PX) // 2 + 120, (height - CANVAS_FACE_PX) // 2
    videos = []
    for path in paths:
        buffer = io.BytesIO()
        with av.open(buffer, "w", format="mp4") as out:
            stream = out.add_stream("libx264", rate=25)
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            stream.options = {"crf": "22", "preset": "veryfast"}
            for _, image in zip(range(frames), decoded(path.read_bytes()), strict=False):
                big = cv2.resize(image, (CANVAS_FACE_PX,) * 2, interpolation=cv2.INTER_CUBIC)
                frame = canvas.copy()
                frame[y : y + CANVAS_FACE_PX, x : x + CANVAS_FACE_PX] = big
                out.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
            out.mux(stream.encode(None))
        videos.append(buffer.getvalue())
    return videos


def run_stream(data: bytes, frames: int, clock: StageClock, op: OperatingPoint) -> int:
    """One video through decode, prior and the sending session; the number of frames with a
    face."""
    prior = TimedPrior(clock)
    stream = StreamClock(25.0)
    sent: list[bytes] = []
    config = SendConfig(None, stream.frame_ms, point=op, references=References.PREVIOUS)
    session = SendSession(RecordingLink(sent.append), prior, None, config, 25.0, clock=stream)
    faces = 0

    def pack(ready: list[PriorFrame]) -> None:
        nonlocal faces
        for frame in ready:
            faces += frame.params.face
            before = len(sent)
            with clock.stage("packing", frame.params.seq):
                session.offer(CapturedFrame(frame, stream.at_frame(frame.params.seq)))
            if any(parse_message(m) == MessageType.KEYFRAME for m in sent[before:]):
                clock.move_to_once("packing", frame.params.seq, "keyframe")

    for _, image in zip(range(frames), decoded(data, clock), strict=False):
        pack(prior.process(image, clock.seq, session.schedule.wanted(clock.seq)))
    pack(prior.flush())
    session.finish()
    prior.close()
    return faces


def summarise(clocks: list[StageClock]) -> dict[str, dict[str, float]]:
    """Median, p90 and mean wall and CPU ms per stage and for the whole sender per frame."""
    rows: dict[str, list[np.ndarray]] = defaultdict(list)
    zero = np.zeros(2)
    for clock in clocks:
        seqs = sorted(clock.per_frame["decode"])
        for stage in STAGES:
            rows[stage] += [clock.per_frame[stage].get(s, zero) for s in seqs]
        rows["total"] += [sum(clock.per_frame[st].get(s, zero) for st in STAGES) for s in seqs]
        for stage in ONCE:
            rows[stage] += clock.once[stage]
    out = {}
    for stage, values in rows.items():
        table = np.array(values).reshape(-1, 2)
        median, p90 = np.median(table, 0), np.percentile(table, 90, axis=0)
        mean = table.mean(0)
        out[stage] = {
            "mean_ms": float(mean[0]),
            "cpu_mean_ms": float(mean[1]),
            "median_ms": float(median[0]),
            "p90_ms": float(p90[0]),
            "cpu_median_ms": float(median[1]),
            "cpu_p90_ms": float(p90[1]),
            "count": len(table),
        }
    return out


def machine(core: int) -> dict[str, str]:
    import mediapipe

    with open("/proc/cpuinfo") as f:
        names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
    return {
        "cpu": names[0] if names else platform.processor(),
        "cores_online": str(os.cpu_count()),
        "pinned_core": str(core),
        "load_average_1min": f"{os.getloadavg()[0]:.2f}",
        "python": platform.python_version(),
        "mediapipe": mediapipe.__version__,
        "numpy": np.__version__,
    }


def print_table(results: dict[str, dict[str, dict[str, float]]]) -> None:
    """Per input: median and p90 of wall time, median and p90 of CPU time."""
    keys = ("median_ms", "p90_ms", "cpu_median_ms", "cpu_p90_ms")
    print(f"{'ms':<11}" + "".join(f"{name + ' wall, cpu (median p90)':>38}" for name in results))
    for stage in (*STAGES, "total", *ONCE):
        cells = ""
        for rows in results.values():
            row = rows.get(stage)
            cells += "".join(f"{row[k]:>9.2f}" for k in keys) if row else f"{'-':>36}"
            cells += "  "
        print(f"{stage:<11}{cells}")


def pin_process(core: int) -> None:
    """Every thread of this process, and those it starts later, on one core (``taskset``
    pins from the start; a thread pool made at import time would otherwise escape)."""
    for thread in os.listdir("/proc/self/task"):
        os.sched_setaffinity(int(thread), {core})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--clips", type=int, default=4, help="256x256 clips (720p uses 2)")
    parser.add_argument("--frames", type=int, default=150, help="frames per clip")
    parser.add_argument(
        "--frame-interval", type=int, default=1, help="analyse and send every Nth frame"
    )
    parser.add_argument("--core", type=int, default=None, help="CPU core (default: first)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)

    core = args.core if args.core is not None else min(os.sched_getaffinity(0))
    pin_process(core)
    cv2.setNumThreads(1)
    _, validation = split_clips(args.data)
    paths = [c.path for c in validation if c.frames >= args.frames][: args.clips]
    inputs = {
        "256x256": [p.read_bytes() for p in paths],
        "1280x720": canvas_video(paths[:2], args.frames),
    }
    op = dataclasses.replace(OPERATING_POINT, frame_interval=args.frame_interval)
    results, faces = {}, {}
    for name, videos in inputs.items():
        clocks = [StageClock() for _ in videos]
        faces[name] = sum(
            run_stream(v, args.frames, c, op) for v, c in zip(videos, clocks, strict=True)
        )
        results[name] = summarise(clocks)
    print_table(results)
    total = results["256x256"]["total"]
    print(
        f"256x256 whole sender median {total['median_ms']:.2f} ms wall, "
        f"{total['cpu_median_ms']:.2f} ms CPU (target {TARGET_MS} ms)"
    )
    for name, rows in results.items():
        print(
            f"{name} per captured frame at frame interval {args.frame_interval}: mean "
            f"{rows['total']['mean_ms']:.2f} ms wall, {rows['total']['cpu_mean_ms']:.2f} ms CPU"
        )
    report = {
        "command": "taskset -c 0 python -m facecodec.benchmark.sender_speed "
        f"--clips {args.clips} --frames {args.frames} --frame-interval {args.frame_interval}",
        "machine": machine(core),
        "clips": [p.name for p in paths],
        "frames_per_clip": args.frames,
        "frames_with_face": faces,
        "operating_point": dataclasses.asdict(op),
        "target_median_ms_256": TARGET_MS,
        "results": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
