"""The decoders trust nothing: 100,000+ random and mutated packets raise only BitstreamError,
and memory stays bounded while they do."""

from __future__ import annotations

import contextlib
import io
import random
import resource
import time
import tracemalloc
import zlib

import numpy as np
import pytest
from codec_inputs import demo_keyframe_image, real_clip_params

from facecodec.codec import (
    BitstreamError,
    CacheAnswer,
    CachedKeyframe,
    FrameDecoder,
    FrameEncoder,
    KeyframeReason,
    KeyframeRequest,
    MessageType,
    OperatingPointChange,
    ReceiverReport,
    StreamReader,
    StreamWriter,
    decode_cached_keyframe,
    decode_control,
    decode_keyframe_message,
    decode_keyframe_part,
    encode_cached_keyframe,
    encode_control,
    encode_keyframe,
    keyframe_entry,
    keyframe_from_entry,
    keyframe_key,
    parse_message,
)
from facecodec.codec.messages import type_byte
from facecodec.codec.progressive import encode_progressive_keyframe
from facecodec.types import Keyframe, OperatingPoint

PACKETS = 100_000
TRACED_PACKETS = 10_000
"""tracemalloc (which slows Python down) watches the first packets; RSS watches them all."""
BUNDLES = (1, 2, 1, 3, 1, 1, 8, 1, 2)
MAX_TRACED_PEAK_BYTES = 16 << 20
MAX_RSS_GROWTH_BYTES = 64 << 20
OPS = (
    OperatingPoint(0, 16, 2, 1),
    OperatingPoint(16, 8, 1, 1),
    OperatingPoint(4, 50, 0, 2),
    OperatingPoint(32, 0, 4, 3),
)


def _valid_messages(params, identity, image) -> tuple[list[bytes], Keyframe, OperatingPoint]:
    """Keyframe, frame (intra, inter, bundles, no-face) and control messages of a real clip."""
    keyframe = Keyframe(image, identity, params[0], "fuzz", "")
    messages = [encode_keyframe(keyframe, OPS[0])]
    predictor = _model_free_predictor
    for op in OPS:
        enc = FrameEncoder(op, keypoint_predictor=predictor if op.keypoints % 8 == 0 else None)
        enc.set_keyframe(keyframe, OPS[0])
        messages.append(enc.encode(params[1:2], None))
        start, reference = 2, 1
        for size in BUNDLES:
            frames = params[start : start + size]
            messages.append(enc.encode(frames, reference))
            start, reference = start + size, frames[-1].seq
        messages.append(enc.encode(params[start : start + 2], params[0].seq))
    no_face = type(params[0]).no_face
    enc = FrameEncoder(OPS[0])
    enc.set_keyframe(keyframe, OPS[0])
    messages.append(enc.encode([no_face(p.seq) for p in params[1:4]], params[0].seq))
    messages += [
        encode_control(KeyframeRequest(KeyframeReason.MISSING_REFERENCE, 1234)),
        encode_control(OperatingPointChange(77, OPS[1])),
        encode_control(ReceiverReport(99_999, 12, 85, 2400)),
        encode_control(CacheAnswer(4321, True)),
    ]
    progressive = encode_progressive_keyframe(keyframe, OPS[0])
    messages += [progressive.first, *progressive.parts(700)]
    entry = keyframe_entry(keyframe, progressive.full)
    messages += [entry, encode_cached_keyframe(CachedKeyframe(3, OPS[2], keyframe_key(entry)))]
    return messages, keyframe, OPS[0]


def _model_free_predictor(params, count):
    """A stand-in for the face model's keypoints: deterministic in the decoded params."""
    base = np.linspace(-0.5, 0.5, 3 * count, dtype=np.float32).reshape(count, 3)
    return base * params.scale + params.translation


def _mutate(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    for _ in range(rng.choice((1, 1, 1, 2, 3, 8))):
        op = rng.randrange(6)
        if op == 0 and out:  # bit flip
            i = rng.randrange(len(out))
            out[i] ^= 1 << rng.randrange(8)
        elif op == 1 and out:  # truncation
            del out[rng.randrange(len(out)) :]
        elif op == 2:  # extension
            out += rng.randbytes(rng.choice((1, 2, 7, 100)))
        elif op == 3:  # byte insertion
            out.insert(rng.randrange(len(out) + 1), rng.randrange(256))
        elif op == 4 and out:  # byte replacement
            out[rng.randrange(len(out))] = rng.randrange(256)
        elif op == 5 and len(out) > 1:  # byte deletion
            del out[rng.randrange(len(out))]
    return bytes(out)


def _fix_checksum(data: bytes) -> bytes:
    """Re-seal a mutated keyframe so the parser and the image decoder see the damage."""
    if len(data) < 5:
        return data
    return data[:-4] + zlib.crc32(data[:-4]).to_bytes(4, "little")


def _decode_any(data: bytes, decoder: FrameDecoder, wrong: int) -> None:
    """Decode as the receiver would (by type), and sometimes with a decoder of another type."""
    kind = parse_message(data)
    if kind == MessageType.KEYFRAME:
        decode_keyframe_message(data)
    elif kind == MessageType.KEYFRAME_PART:
        decode_keyframe_part(data)
    elif kind == MessageType.CACHED_KEYFRAME:
        decode_cached_keyframe(data)
    elif kind == MessageType.CONTROL:
        decode_control(data)
    else:
        decoder.decode(data)
    if wrong == 0:
        decode_control(data)
    elif wrong == 1:
        decoder.decode(data)
    elif wrong == 2:  # a cache entry read back from disk, whatever it holds
        keyframe_from_entry(data, CachedKeyframe(5, OperatingPoint(), keyframe_key(data)))


def _fresh_decoder(keyframe: Keyframe, op: OperatingPoint, warmup: list[bytes]) -> FrameDecoder:
    decoder = FrameDecoder(keypoint_predictor=_model_free_predictor)
    decoder.set_keyframe(keyframe, op)
    for message in warmup:
        decoder.decode(message)
    return decoder


@pytest.mark.slow  # about 55 s of one CPU core (tracemalloc on for the first 10,000 packets)
def test_fuzz_only_bitstream_errors_and_bounded_memory():
    params, identity = real_clip_params(frames=40)
    messages, keyframe, kf_op = _valid_messages(params, identity, demo_keyframe_image())
    # With a CRC-32 of their own.
    sealed = (MessageType.KEYFRAME, MessageType.KEYFRAME_PART, MessageType.CACHED_KEYFRAME)
    keyframes = [m for m in messages if m[0] & 0x0F in sealed]
    others = [m for m in messages if m[0] & 0x0F not in sealed]
    warmup = [m for m in others if m[0] & 0x0F == MessageType.FRAMES_INTRA]
    rng = random.Random(20240611)
    stream = io.BytesIO()
    writer = StreamWriter(stream, 25)
    for m in messages:
        writer.write(m)
    stream_bytes = stream.getvalue()

    decoder = _fresh_decoder(keyframe, kf_op, warmup)
    outcomes = {"ok": 0, "error": 0}
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    tracemalloc.start()
    start, start_cpu = time.perf_counter(), time.process_time()
    for i in range(PACKETS):
        if i == TRACED_PACKETS:
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
        if i % 2000 == 0:
            decoder = _fresh_decoder(keyframe, kf_op, warmup)
        choice = rng.random()
        if choice < 0.10:
            packet = rng.randbytes(rng.choice((0, 1, 2, 3, 5, 9, 17, 64, 300)))
        elif choice < 0.12:
            # random bytes behind a valid type byte reach the decoders' bodies
            packet = bytes([type_byte(rng.choice(list(MessageType)))]) + rng.randbytes(
                rng.randrange(1, 40)
            )
        elif choice < 0.15:
            packet = _mutate(rng.choice(keyframes), rng)
            if rng.random() < 0.5:
                packet = _fix_checksum(packet)
        else:
            packet = _mutate(rng.choice(others), rng)
        try:
            _decode_any(packet, decoder, rng.randrange(20))
            outcomes["ok"] += 1
        except BitstreamError:
            outcomes["error"] += 1
        if i % 100 == 0:
            with contextlib.suppress(BitstreamError):
                list(StreamReader(io.BytesIO(_mutate(stream_bytes, rng))))
    elapsed, cpu = time.perf_counter() - start, time.process_time() - start_cpu
    rss_growth = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - rss_before
    print(
        f"fuzz: {PACKETS} packets in {elapsed:.1f} s ({cpu:.1f} s of CPU), {outcomes}, traced peak "
        f"{peak / 2**20:.1f} MiB, max RSS growth {rss_growth / 2**20:.1f} MiB"
    )
    assert outcomes["ok"] > 0 and outcomes["error"] > 0
    assert peak < MAX_TRACED_PEAK_BYTES
    assert rss_growth < MAX_RSS_GROWTH_BYTES


@pytest.mark.parametrize("size", [0, 1, 3, 10, 1000])
def test_fuzz_random_stream_files_rejected(size):
    rng = random.Random(size)
    with pytest.raises(BitstreamError):
        list(StreamReader(io.BytesIO(rng.randbytes(size))))
