"""Stream files and ``facecodec inspect`` on a stream encoded from a real clip."""

from __future__ import annotations

import io

import pytest
from codec_inputs import demo_keyframe_image, face_model_predictor, real_clip_params

from facecodec.cli import main
from facecodec.codec import (
    FORMAT_VERSION,
    BitstreamError,
    ErrorCode,
    FrameEncoder,
    ReceiverReport,
    StreamReader,
    StreamWriter,
    encode_control,
    encode_keyframe,
)
from facecodec.codec.stream import MAGIC
from facecodec.sender.face_model import FaceModel
from facecodec.types import Keyframe, OperatingPoint


@pytest.fixture(scope="module")
def stream_file(tmp_path_factory):
    """A stream of a real clip: keyframe, bundles of frame messages, a receiver report."""
    params, identity = real_clip_params(frames=101)
    model = FaceModel.load()
    keyframe = Keyframe(demo_keyframe_image(), identity, params[0], model.version, "")
    op = OperatingPoint(8, 16, 2, 1)
    enc = FrameEncoder(op, face_model_predictor(identity))
    enc.set_keyframe(keyframe, op)
    path = tmp_path_factory.mktemp("stream") / "clip.fcs"
    with open(path, "wb") as f:
        writer = StreamWriter(f, fps=25)
        writer.write(encode_keyframe(keyframe, op))
        reference = 0
        for start in range(1, 101, 4):
            bundle = params[start : start + 4]
            writer.write(enc.encode(bundle, reference))
            reference = bundle[-1].seq
        writer.write(encode_control(ReceiverReport(100, 0, 30, 2000)))
    return path


def test_stream_round_trip(stream_file):
    with open(stream_file, "rb") as f:
        reader = StreamReader(f)
        messages = list(reader)
    assert reader.fps == 25 and reader.version == FORMAT_VERSION
    assert len(messages) == 1 + 25 + 1


def test_inspect_prints_header_and_frame_sizes(stream_file, capsys):
    assert main(["inspect", str(stream_file)]) == 0
    out = capsys.readouterr().out
    assert f"format version {FORMAT_VERSION}, 25 fps" in out
    assert "keyframe" in out and "image 256x256" in out and "keypoints=8" in out
    assert out.count(" inter ") == 25
    assert "100 sent (100 with a face) in 25 messages" in out
    assert "kbps payload at 25 fps" in out


def test_inspect_reports_undecodable_messages(stream_file, tmp_path, capsys):
    data = bytearray(stream_file.read_bytes())
    data[-3] ^= 0xFF  # inside the receiver report
    bad = tmp_path / "bad.fcs"
    bad.write_bytes(bytes(data))
    assert main(["inspect", str(bad)]) == 1
    assert "undecodable: 1" in capsys.readouterr().out


def test_stream_reader_refuses_bad_files():
    header = MAGIC + bytes([FORMAT_VERSION]) + (2500).to_bytes(2, "little")
    cases = {
        ErrorCode.TYPE: b"not a stream at all",
        ErrorCode.VERSION: MAGIC + bytes([7]) + (2500).to_bytes(2, "little"),
        ErrorCode.TRUNCATED: header + (10).to_bytes(4, "little") + b"abc",
        ErrorCode.TOO_LARGE: header + (1 << 31).to_bytes(4, "little"),
    }
    for code, data in cases.items():
        with pytest.raises(BitstreamError) as info:
            list(StreamReader(io.BytesIO(data)))
        assert info.value.code == code, code


def test_stream_writer_limits():
    with pytest.raises(ValueError):
        StreamWriter(io.BytesIO(), fps=0)
    writer = StreamWriter(io.BytesIO(), fps=30)
    with pytest.raises(ValueError):
        writer.write(b"")
