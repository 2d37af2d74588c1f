"""The sending session on a file and ``facecodec encode``: encode -> decode round trips on a
real clip through the real codec, the command's file read by ``facecodec inspect``, and clear
errors."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from deca_synthetic import synthetic_files
from sender_inputs import (  # noqa: F401 (flush_denormals is a fixture)
    clip_frames,
    flush_denormals,
    validation_clip_paths,
)

from facecodec import cli, demo_clip
from facecodec.call.capture_loop import CapturedFrame
from facecodec.call.clock import StreamClock
from facecodec.call.recording_link import RecordingLink
from facecodec.call.send_session import References, SendConfig, SendSession
from facecodec.codec import (
    FrameDecoder,
    MessageType,
    StreamReader,
    StreamWriter,
    decode_keyframe,
    parse_message,
)
from facecodec.codec.frames import DEFAULT_HYSTERESIS
from facecodec.codec.quantize import KeypointMode, field_layout
from facecodec.codec.reader import half_float
from facecodec.sender.prior import MediaPipePrior, PriorConfig, PriorFrame
from facecodec.types import FrameParams, OperatingPoint

FRAMES = 75
KEYFRAME_REQUEST_AT = 40
OP = OperatingPoint(keypoints=8, expression_dims=16, quant_level=2, frame_interval=1)
MIN_KEYFRAME_PSNR_DB = 30.0


def coded_values(params: FrameParams, op: OperatingPoint) -> np.ndarray:
    """(7 + d + 3k,) the values a frame message codes, in the codec's field layout."""
    return np.concatenate(
        [
            params.rotation,
            params.translation,
            [params.scale],
            params.full_expression(op.expression_dims),
            params.keypoints[: op.keypoints].reshape(-1),
        ]
    )


def encode_clip(frames: list[np.ndarray]) -> tuple[bytes, dict[int, PriorFrame]]:
    """A stream file of the frames at OP (3 frames a message, a keyframe requested midway),
    and the prior's frames by seq."""
    prior = MediaPipePrior(PriorConfig(identity_frames=10))
    file = io.BytesIO()
    writer = StreamWriter(file, 25.0)
    clock = StreamClock(25.0)
    config = SendConfig(None, 3 * clock.frame_ms, point=OP, references=References.PREVIOUS)
    session = SendSession(RecordingLink(writer.write), prior, None, config, 25.0, clock=clock)
    sent: dict[int, PriorFrame] = {}
    for seq, frame in enumerate(frames):
        if seq == KEYFRAME_REQUEST_AT:
            session.request_keyframe()
        for prior_frame in prior.process(frame, seq):
            sent[prior_frame.params.seq] = prior_frame
            session.offer(CapturedFrame(prior_frame, clock.at_frame(prior_frame.params.seq)))
    session.finish()
    prior.close()
    return file.getvalue(), sent


def test_encode_decode_round_trip_within_quantisation_error() -> None:
    frames = list(clip_frames(validation_clip_paths()[1], FRAMES))
    data, sent = encode_clip(frames)
    model = MediaPipePrior().model
    steps = field_layout(
        OP.quant_level, OP.expression_dims, OP.keypoints, KeypointMode.MODEL_RESIDUAL
    ).steps
    decoder = FrameDecoder()
    keyframe_seqs, decoded = [], {}
    for message in StreamReader(io.BytesIO(data)):
        if parse_message(message) == MessageType.KEYFRAME:
            keyframe, op = decode_keyframe(message)
            assert op == OP
            source = sent[keyframe.params.seq]
            # The identity and parameters as the message carries them (half floats).
            np.testing.assert_array_equal(keyframe.identity, half_float(source.identity))
            expression = half_float(source.params.expression)
            np.testing.assert_array_equal(keyframe.params.expression, expression)
            error = keyframe.image.astype(float) - source.crop
            assert 10 * np.log10(255**2 / np.mean(error**2)) > MIN_KEYFRAME_PSNR_DB
            decoder.set_keyframe(keyframe, op)
            identity = keyframe.identity
            decoder.keypoint_predictor = lambda p, k, a=identity: model.keypoints(a, p, k)
            keyframe_seqs.append(keyframe.params.seq)
            continue
        for params in decoder.decode(message):
            decoded[params.seq] = params
    assert keyframe_seqs == [0, KEYFRAME_REQUEST_AT]
    assert sorted(decoded) == [s for s in range(FRAMES) if s not in keyframe_seqs]
    # The quantiser keeps a value's previous index unless it moved more than 0.5 + hysteresis
    # steps, so that is how far a decoded value may be from the sender's.
    bound = steps * (0.5 + DEFAULT_HYSTERESIS) + 1e-5
    for seq, params in decoded.items():
        error = np.abs(coded_values(params, OP) - coded_values(sent[seq].params, OP))
        assert np.all(error <= bound), f"frame {seq}: values {np.flatnonzero(error > bound)}"


def test_encode_command_writes_what_inspect_reads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "demo.fcs"
    assert cli.main(["encode", str(demo_clip()), "-o", str(out), "--frames", "50", "--quiet"]) == 0
    summary = capsys.readouterr().out
    assert "50 frames, 50 with a face" in summary
    assert "keyframes: 1," in summary and "frame messages: 49 carrying 49 frames" in summary
    assert cli.main(["inspect", str(out)]) == 0
    listing = capsys.readouterr().out
    assert "keyframes: 1" in listing and "undecodable: 0" in listing
    assert "frames: 49 sent (49 with a face)" in listing


@pytest.mark.parametrize("target_kbps", [1, 2])
def test_encode_bitrate_picks_a_point_of_the_rate_table_that_fits(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], target_kbps: int
) -> None:
    out = tmp_path / "demo.fcs"
    args = ["encode", str(demo_clip()), "-o", str(out), "--bitrate", f"{target_kbps}kbps"]
    assert cli.main([*args, "--quiet"]) == 0
    summary = capsys.readouterr().out
    kbps = float(summary.split(" kbps at 25 fps")[0].rsplit(" ", 1)[1])
    # The table is measured on other people; the demo clip lands within 10% of the target.
    assert 0.3 * target_kbps < kbps <= 1.1 * target_kbps


@pytest.mark.usefixtures("flush_denormals")
def test_encode_command_with_the_deca_prior(
    tmp_path_factory: pytest.TempPathFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    files = synthetic_files(tmp_path_factory)
    out = tmp_path_factory.mktemp("deca") / "deca.fcs"
    args = ["encode", str(demo_clip()), "-o", str(out), "--frames", "3", "--quiet"]
    args += ["--prior", "deca", "--deca-weights", str(files.deca_weights)]
    args += ["--flame-model", str(files.flame_model), "--identity-frames", "1", "--keypoints", "4"]
    assert cli.main(args) == 0
    assert "3 frames, 3 with a face" in capsys.readouterr().out
    assert cli.main(["inspect", str(out)]) == 0
    assert "frames: 2 sent (2 with a face)" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--prior", "deca"], "--prior deca needs --deca-weights PATH"),
        (
            ["--prior", "deca", "--deca-weights", "nowhere.tar", "--flame-model", "x.pkl"],
            "--deca-weights nowhere.tar: no such file",
        ),
        (["--deca-weights", "x.tar"], "need --prior deca"),
        (["--bitrate", "2kbps", "--keypoints", "4"], "either --bitrate or --keypoints"),
        (["--keypoints", "40"], "at most 32"),
    ],
)
def test_encode_errors_are_clear(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    args = ["encode", str(demo_clip()), "-o", str(tmp_path / "x.fcs"), "--quiet", *extra]
    assert cli.main(args) == 2
    assert message in capsys.readouterr().err


def test_missing_and_unreadable_inputs_are_clear(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["encode", str(tmp_path / "none.mp4"), "--quiet"]) == 2
    assert "input video not found" in capsys.readouterr().err
    text = tmp_path / "notes.mp4"
    text.write_text("not a video")
    assert cli.main(["encode", str(text), "--quiet"]) == 2
    assert "cannot read" in capsys.readouterr().err
