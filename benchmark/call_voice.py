"""The voice in whole calls on loopback (docs/call.md, "Voice and face"): rates with and
without it, and how far the voice is from the face in the recorded call, clean and at 10% loss.

    python -m facecodec.benchmark.call_voice [--clips 3] [--data ../shared/data]
        [--out runs/call_voice]

The training clips have no audio, so each of the longest held-out clips gets one made here
(benchmark/voice_clips.py): a 1 kHz burst at every 25th frame, silence between. Opus runs at a
constant bit rate, so its rate does not depend on what it codes. Per clip, three calls at
2 kbps: the face alone, the face with the voice, and both at 10% loss (the face's messages and
the voice's packets). The calls with the voice render every 25th frame (the marked ones) on the
CPU; the offset in the file is each burst's onset against the time the file shows its frame,
the scheduled offset is ``SyncMeter``'s over every output frame. Writes call_voice.json and
prints the table.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from facecodec.benchmark.call_rates import held_out_clips, setup
from facecodec.benchmark.voice_clips import clip_with_marks, mark_offsets_ms
from facecodec.call.loopback import LoopbackCall, LoopbackConfig
from facecodec.call.render import RenderConfig
from facecodec.call.report import summarize
from facecodec.call.send_session import SendConfig
from facecodec.sender.capture import open_source
from facecodec.transport import Impairment, eventloop
from facecodec.transport.audio import AudioConfig

TARGET_BPS = 2000
MARK_EVERY = 25
LOSS = 0.1


def marked_clip(clip: Path, out: Path) -> tuple[Path, list[int]]:
    """``clip`` with a burst at every MARK_EVERY-th frame, and those frames."""
    with open_source(clip) as source:
        frames = source.info.frames or 0
    marks = list(range(MARK_EVERY, frames - MARK_EVERY // 2, MARK_EVERY))
    return clip_with_marks(clip, out / f"{clip.stem}_marked.mp4", frames, marks), marks


def call(clip: Path, out: Path, name: str, voice: bool, loss: float) -> LoopbackConfig:
    impairment = Impairment(loss, seed=5) if loss else None
    return LoopbackConfig(
        clip,
        SendConfig(TARGET_BPS),
        RenderConfig(every=MARK_EVERY if voice else 0),
        impairment=impairment,
        video=out / f"{clip.stem}_{name}.mp4" if voice else None,
        audio=AudioConfig(impairment=impairment) if voice else None,
    )


def main() -> None:
    args, table, receiver = setup(__doc__, Path("runs/call_voice"))
    results = []
    for source in held_out_clips(args.data, args.clips):
        clip, marks = marked_clip(source, args.out)
        for name, voice, loss in (("face", False, 0.0), ("voice", True, 0.0), ("loss", True, LOSS)):
            config = call(clip, args.out, name, voice, loss)
            loopback = LoopbackCall(config, table, receiver if voice else None)
            summary = summarize(eventloop.run(loopback.run()), config)
            rendered = [seq for seq, _ in loopback.recorder.rendered]
            offsets = mark_offsets_ms(config.video, rendered, marks) if config.video else []
            results.append(
                {"run": name, "marks": len(marks), "file_offsets_ms": offsets, **summary}
            )
            print(name, clip.name, json.dumps(summary["voice"]), offsets, flush=True)
    (args.out / "call_voice.json").write_text(json.dumps(results, indent=2) + "\n")
    print_table(results)


def print_table(results: list[dict]) -> None:
    print(
        "\n| clip | call | face payload / frames wire | voice Opus / wire | all forward "
        "| voice - face in the file: median / p95 of size (bursts heard) "
        "| scheduled: median / p95 of size | capture to playout (median) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        rate, voice = r["bitrate"], r["voice"]
        forward = voice["all_forward_wire_kbps"] if voice else rate["all_forward_wire_kbps"]
        voice_rate = f"{voice['opus_kbps']} / {voice['wire_kbps']}" if voice else "-"
        offset = voice["offset_ms"] if voice else None
        scheduled = f"{offset['median_ms']} / {offset['p95_abs_ms']} ms" if offset else "-"
        print(
            f"| {Path(r['input']).stem.removesuffix('_marked')} | {r['run']} | "
            f"{rate['payload_kbps']} / {rate['frames_wire_kbps']} | {voice_rate} | {forward} | "
            f"{_file_offsets(r)} | {scheduled} | "
            f"{r['latency_ms']['capture_to_playout']['median_ms']} ms |"
        )


def _file_offsets(result: dict) -> str:
    offsets = np.asarray(result["file_offsets_ms"])
    if not len(offsets):
        return "-"
    median, p95 = np.median(offsets), np.percentile(np.abs(offsets), 95)
    return f"{median:.0f} / {p95:.0f} ms ({len(offsets)} of {result['marks']})"


if __name__ == "__main__":
    main()
