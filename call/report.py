"""A loopback call's numbers as a person reads them: report.json, report.md and the bit-rate
plot (bitrate/plot.py) beside the side-by-side video.

Payload is what the paper counts (the frames messages' bytes); wire adds the transport's
headers (transport.overhead estimates, checked against aiortc's counters). Both are averaged
over the time the frames messages span; the most payload in any 1-second window is what the
controller bounds (target + 10%). Keyframes travel apart and are reported apart.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from facecodec.bitrate.log import read_log
from facecodec.bitrate.plot import plot_log, windowed_bps

from .audio_timeline import SAMPLES_PER_MS
from .loopback import CallResult, LoopbackConfig


def summarize(result: CallResult, config: LoopbackConfig) -> dict[str, object]:
    """The report's numbers (JSON-ready)."""
    send, receive = result.send, result.receive
    payload_bps = send.mean_bps(send.payload_bytes)
    frames_wire_bps = send.mean_bps(send.frames_wire_bytes)
    return {
        "input": str(config.input),
        "seconds": round(result.seconds, 2),
        "capture_fps": result.capture_fps,
        "bitrate": {
            "target_payload_kbps": config.send.target_bps / 1000,
            "target_wire_kbps": _kbps(config.send.wire_bitrate_bps),
            "max_latency_ms": config.send.max_latency_ms,
            "payload_kbps": _kbps(payload_bps),
            "max_1s_payload_kbps": _kbps(_max_window_bps(config.log)),
            "frames_wire_kbps": _kbps(frames_wire_bps),
            "all_forward_wire_kbps": _kbps(8 * result.forward_wire_bytes / result.seconds),
            "all_reverse_wire_kbps": _kbps(8 * result.reverse_wire_bytes / result.seconds),
            "final_operating_point": asdict(send.point) if send.point else None,
        },
        "keyframes": {
            "count": len(send.keyframes),
            "bytes": send.keyframes,
            "cached_named": len(send.cached_keyframes),
            "cached_used": sum(receive.cached_keyframes),
        },
        "frames": {
            "captured": send.frames,
            "stale_at_start": send.stale,
            "sent": send.frames_sent,
            "dropped_by_controller": send.frames_dropped,
            "decoded": receive.frames_decoded,
            "lost_in_transit": send.frames_sent - receive.frames_decoded,
            "late": receive.late,
            "output": receive.output,
            "concealed": receive.lost,
            "rendered": result.render.rendered,
        },
        "messages": {
            "sent": send.messages,
            "received": receive.messages,
            "unreferenced": receive.unreferenced,
            "malformed": receive.malformed,
            "keyframe_requests": receive.keyframe_requests,
        },
        "latency_ms": {
            "capture_to_playout": asdict(result.to_playout),
            "capture_to_rendered": asdict(result.to_render),
            "render_s_per_frame": _per_frame(result.render.render_s, result.render.rendered),
            "render_model": result.render.model,
            "rtt": None if result.rtt_ms is None else round(result.rtt_ms, 1),
        },
        "start": result.first.since_start(),
        "voice": _voice(result),
        "link": _link(result, config),
    }


def _voice(result: CallResult) -> dict[str, object] | None:
    """The voice's rates, losses and its offset from the face; None when none was sent."""
    audio = result.audio
    if audio is None:
        return None
    seconds = audio.sent.seconds
    forward = result.forward_wire_bytes + audio.sent.wire_bytes
    return {
        "opus_kbps": _kbps(8 * audio.sent.encoded_bytes / seconds) if seconds else None,
        "wire_kbps": _kbps(8 * audio.sent.wire_bytes / seconds) if seconds else None,
        "all_forward_wire_kbps": _kbps(8 * forward / result.seconds),
        "packets_sent": audio.sent.packets,
        "packets_dropped": audio.sent.dropped,
        "frames_played": audio.played.frames,
        "silence_inserted_ms": round(
            (audio.played.played_samples - audio.played.samples + audio.played.skipped_samples)
            / SAMPLES_PER_MS
        ),
        "offset_ms": asdict(audio.offset),
    }


def write_report(summary: dict[str, object], config: LoopbackConfig, out_dir: Path) -> list[Path]:
    """report.json, report.md and, with a decision log, its plot; the paths written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / "report.json", out_dir / "report.md"]
    paths[0].write_text(json.dumps(summary, indent=2) + "\n")
    paths[1].write_text(markdown(summary))
    if config.log is not None:
        paths.append(plot_log(config.log, out_dir / "bitrate.png"))
    return paths


def markdown(summary: dict[str, object]) -> str:
    rate, frames, latency = summary["bitrate"], summary["frames"], summary["latency_ms"]
    keyframes = summary["keyframes"]
    assert isinstance(rate, dict) and isinstance(frames, dict) and isinstance(latency, dict)
    assert isinstance(keyframes, dict)
    playout, rendered = latency["capture_to_playout"], latency["capture_to_rendered"]
    rows = [
        ("payload target", f"{rate['target_payload_kbps']} kbps"),
        (
            "payload achieved (mean / most in 1 s)",
            _joined(rate, "payload", "max_1s_payload", unit="kbps"),
        ),
        ("frames messages on the wire", f"{rate['frames_wire_kbps']} kbps"),
        (
            "everything forward / back (incl. keyframes)",
            _joined(rate, "all_forward_wire", "all_reverse_wire", unit="kbps"),
        ),
        ("keyframes", f"{keyframes['count']}: {keyframes['bytes']} B"),
        ("cached keyframes named / had", _joined(keyframes, "cached_named", "cached_used")),
        ("frames captured / sent / decoded", _joined(frames, "captured", "sent", "decoded")),
        ("frames lost in transit / concealed", _joined(frames, "lost_in_transit", "concealed")),
        ("output frames", ", ".join(f"{k} {v}" for k, v in frames["output"].items())),
        ("frames rendered", str(frames["rendered"])),
        ("capture to playout (median / p95)", _joined(playout, "median", "p95", unit="ms")),
        ("capture to rendered (median / p95)", _joined(rendered, "median", "p95", unit="ms")),
        ("rendering per frame", f"{latency['render_s_per_frame']} s ({latency['render_model']})"),
        ("round-trip time", f"{latency['rtt']} ms"),
        ("from the start to the full keyframe / first face / first rendered", _start_row(summary)),
        *_voice_rows(summary["voice"]),
        *_link_rows(summary["link"]),
    ]
    lines = [
        f"# Loopback call: {Path(str(summary['input'])).name}, {summary['seconds']} s",
        "",
        "| | |",
        "|---|---|",
        *(f"| {name} | {value} |" for name, value in rows),
        "",
        "Payload is what the paper counts (frames messages); wire adds DTLS/SCTP/UDP/IP headers. "
        "Keyframes travel on the reliable channel and are not in the payload; a cached keyframe "
        "is one the receiver kept from an earlier call, named instead of sent (no image). "
        "Latencies run from "
        "the capture of each output frame (or of the frame a concealed one stands for). The "
        "voice (Opus on an RTP audio track) is apart from the payload; its wire adds RTP, SRTP "
        "and UDP/IP headers; voice minus face compares when each output frame was scheduled "
        "with when the audio captured with it plays (negative: the voice leads). The start is "
        "the capture of the first frame; the first face is the first output frame the receiver "
        "could draw (a GPU draws it about a millisecond later).",
        "",
    ]
    return "\n".join(lines)


def _voice_rows(voice: object) -> list[tuple[str, str]]:
    if not isinstance(voice, dict):
        return [("voice", "none (the input has no audio track, or --no-audio)")]
    offset = voice["offset_ms"]
    assert isinstance(offset, dict)
    return [
        ("voice: Opus / on the wire", _joined(voice, "opus", "wire", unit="kbps")),
        ("everything forward with the voice", f"{voice['all_forward_wire_kbps']} kbps"),
        ("voice packets sent / dropped", _joined(voice, "packets_sent", "packets_dropped")),
        (
            "voice minus face (median / p95 of the size)",
            f"{offset['median_ms']} / {offset['p95_abs_ms']} ms over {offset['frames']} frames",
        ),
    ]


def _link(result: CallResult, config: LoopbackConfig) -> dict[str, object] | None:
    """What the emulated path was and did each way, or None without one."""
    if config.link is None or result.link is None:
        return None
    forward, reverse = result.link
    return {
        "config": asdict(config.link),
        "forward": forward.summary(),
        "reverse": reverse.summary(),
    }


def _link_rows(link: object) -> list[tuple[str, str]]:
    if not isinstance(link, dict):
        return []
    config = link["config"]
    rate = "no rate limit" if config["rate_bps"] is None else f"{config['rate_bps'] / 1000} kbps"
    rows = [("link (each way)", f"{rate}, {config['delay_ms']} ms, {config['loss']:.1%} loss")]
    for direction in ("forward", "reverse"):
        done = link[direction]
        drops = ", ".join(f"{cause} {count}" for cause, count in done["dropped"].items())
        delay = f"{done['queue_delay_median_ms']} / {done['queue_delay_p95_ms']} ms"
        rows.append(
            (
                f"link {direction}: datagrams delivered / accepted / offered (dropped) / queue "
                "delay median / p95",
                f"{done['delivered']} / {done['accepted']} / {done['datagrams']} ({drops}) / "
                f"{delay}",
            )
        )
    return rows


def _kbps(bps: float | None) -> float | None:
    return None if bps is None else round(bps / 1000, 2)


def _per_frame(seconds: float, frames: int) -> float | None:
    return round(seconds / frames, 3) if frames else None


def _start_row(summary: dict[str, object]) -> str:
    start = summary["start"]
    assert isinstance(start, dict)
    return _joined(start, "to_full_keyframe", "to_first_face", "to_first_rendered", unit="ms")


def _joined(values: dict, *names: str, unit: str = "") -> str:
    """``values[name + "_" + unit]`` (or ``values[name]`` without a unit) joined by slashes."""
    keys = [f"{name}_{unit}" if unit else name for name in names]
    text = " / ".join(str(values[key]) for key in keys)
    return f"{text} {unit}" if unit else text


def _max_window_bps(log: Path | None) -> float | None:
    if log is None:
        return None
    _, rates = windowed_bps(read_log(log), 1)
    return max(rates, default=None)
