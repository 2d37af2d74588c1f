"""The sender's prior pipeline on real clips: frames in order with one frozen identity, keypoints
in crop coordinates, frames without a face, frames skipped because they will not be sent,
several faces, keyframes, and the DECA backend (synthetic DECA and FLAME files of the real
layout)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from deca_synthetic import synthetic_files
from sender_inputs import (  # noqa: F401 (flush_denormals is a fixture)
    CANVAS_SHAPE,
    background,
    clip_frames,
    flush_denormals,
    place,
    validation_clip_paths,
)

from facecodec.call.capture_loop import CapturedFrame
from facecodec.call.clock import StreamClock
from facecodec.call.recording_link import RecordingLink
from facecodec.call.send_session import References, SendConfig, SendSession
from facecodec.codec import FrameDecoder, MessageType, decode_keyframe, parse_message
from facecodec.codec.frames import DEFAULT_HYSTERESIS
from facecodec.codec.quantize import POSE_FIELDS, KeypointMode, field_layout
from facecodec.sender.crop import CropBox, CropMapping
from facecodec.sender.face_model import K_MAX
from facecodec.sender.fit import crop_landmarks
from facecodec.sender.landmarks import FaceLandmarker
from facecodec.sender.prior import (
    DecaFacePrior,
    DecaFiles,
    FacePrior,
    MediaPipePrior,
    PriorConfig,
    PriorFrame,
)
from facecodec.sender.send_schedule import SendSchedule
from facecodec.types import MAX_EXPRESSION_DIMS, OperatingPoint

FRAMES = 30
IDENTITY_FRAMES = 10
KEYPOINT_ERROR_PX = 3.0
"""Mean distance, in 256-crop pixels, between the prior's keypoints and MediaPipe's landmarks
at the same vertices found afresh on the crop (fit error plus MediaPipe's own jitter)."""


@pytest.fixture(scope="module")
def prior() -> Iterator[MediaPipePrior]:
    with_prior = MediaPipePrior(PriorConfig(identity_frames=IDENTITY_FRAMES))
    yield with_prior
    with_prior.close()


def run(prior: FacePrior, frames: list[np.ndarray]) -> tuple[list[PriorFrame], list[int]]:
    """All frames of a new stream through the prior; the outputs and how many each call gave."""
    prior.reset()
    out, counts = [], []
    for seq, frame in enumerate(frames):
        ready = prior.process(frame, seq)
        counts.append(len(ready))
        out += ready
    return out + prior.flush(), counts


def test_frames_come_out_in_order_with_one_frozen_identity(prior: MediaPipePrior) -> None:
    frames = list(clip_frames(validation_clip_paths()[1], FRAMES))
    out, counts = run(prior, frames)
    # The first frames wait for the identity, then everything flows one to one.
    assert counts == [0] * (IDENTITY_FRAMES - 1) + [IDENTITY_FRAMES] + [1] * (FRAMES - 10)
    assert [f.params.seq for f in out] == list(range(FRAMES))
    identity = out[0].identity
    assert identity is not None and identity.shape == (prior.model.identity_dims,)
    assert all(f.identity is identity for f in out), "one identity, frozen"
    assert [f.new_crop for f in out] == [True] + [False] * (FRAMES - 1)
    for f in out:
        assert f.params.face and f.crop.shape == (256, 256, 3)
        assert f.params.expression.shape == (MAX_EXPRESSION_DIMS,)
        assert f.params.keypoints.shape == (K_MAX, 3)


def test_keypoints_sit_on_the_face_in_the_crop(prior: MediaPipePrior) -> None:
    """On 720p input: keypoints (crop coordinates) against landmarks found on the crop image."""
    frames = clip_frames(validation_clip_paths()[0], IDENTITY_FRAMES)
    inputs = [place(background(), frame, 420, 640, 200) for frame in frames]
    out, _ = run(prior, inputs)
    vertices = prior.model.keypoint_indices
    with FaceLandmarker(video=False) as landmarker:
        for f in out:
            found = crop_landmarks(landmarker(f.crop), 256)[vertices, :2]
            error_px = np.linalg.norm(f.params.keypoints[:, :2] - found, axis=1).mean() * 128
            assert error_px < KEYPOINT_ERROR_PX


def test_keypoints_sit_on_the_face_in_the_view_while_the_analysis_crop_moves(
    prior: MediaPipePrior,
) -> None:
    """The face grows to twice its size: the analysis crop follows it while the view (the
    keyframe's crop) holds, and the parameters come out in the view's coordinates."""
    frames = clip_frames(validation_clip_paths()[0], 2 * FRAMES)
    sides = np.round(np.linspace(300, 600, 2 * FRAMES)).astype(int)
    inputs = [
        place(background(), f, s, 640 - s // 2, 360 - s // 2)
        for f, s in zip(frames, sides, strict=True)
    ]
    prior.reset()
    out, analysis = [], []
    for seq, frame in enumerate(inputs):
        out += prior.process(frame, seq)
        analysis.append(prior.cropper.box)
    out += prior.flush()
    apart = [f for f in out if f.box != analysis[f.params.seq]]
    assert len(apart) > FRAMES // 4, "the view holds while the analysis crop moves"
    assert sum(f.new_crop for f in out) < len(set(analysis))
    vertices = prior.model.keypoint_indices
    errors_px = []
    with FaceLandmarker(video=False) as landmarker:
        for f in apart:
            assert f.crop.shape == (256, 256, 3)
            found = landmarker(f.crop)
            if found is not None:
                found = crop_landmarks(found, 256)[vertices, :2]
                errors_px.append(np.linalg.norm(f.params.keypoints[:, :2] - found, axis=1).mean())
    assert len(errors_px) > 0.8 * len(apart)
    # A growing face is fitted less well on some frames (MediaPipe's tracking lags): the
    # median frame, where the analysis crop's coordinates would be about 45 px off.
    assert np.median(errors_px) * 128 < KEYPOINT_ERROR_PX


def test_identity_stays_frozen_until_reset(prior: MediaPipePrior) -> None:
    first = list(clip_frames(validation_clip_paths()[0], IDENTITY_FRAMES))
    other = list(clip_frames(validation_clip_paths()[-1], IDENTITY_FRAMES))
    out, _ = run(prior, first)
    for seq, frame in enumerate(other, start=len(first)):
        out += prior.process(frame, seq)
    assert all(f.identity is out[0].identity for f in out)
    after_reset, _ = run(prior, other)
    assert np.abs(after_reset[0].identity - out[0].identity).max() > 0.5


def test_frames_without_a_face_give_no_face_params(prior: MediaPipePrior) -> None:
    rng = np.random.default_rng(0)
    blank = np.zeros((256, 256, 3), np.uint8)
    noise = rng.integers(0, 256, (*CANVAS_SHAPE, 3), dtype=np.uint8)
    faces = list(clip_frames(validation_clip_paths()[0], IDENTITY_FRAMES))
    frames = [blank, noise, blank, *faces, noise, blank]
    out, counts = run(prior, frames)
    assert counts[:3] == [1, 1, 1], "nothing to wait for before the first face"
    assert [f.params.seq for f in out] == list(range(len(frames)))
    assert [f.params.face for f in out] == [False] * 3 + [True] * IDENTITY_FRAMES + [False] * 2
    for f in out[:3]:
        assert f.crop is None and f.identity is None and f.params.keypoints is None
    assert all(f.identity is out[3].identity for f in out[3:])
    with pytest.raises(ValueError, match="no face"):
        prior.keyframe(out[-1])


def test_frames_that_will_not_be_sent_skip_the_prior(prior: MediaPipePrior) -> None:
    """Every 2nd frame wanted: the others come out in order without a face, once the identity
    is known (until then all are analysed), and a sending session sends none of them, even at
    a point that would send every frame (the point changed after the frame was skipped)."""
    frames = clip_frames(validation_clip_paths()[1], FRAMES)
    schedule = SendSchedule(OperatingPoint(frame_interval=2))
    prior.reset()
    out = []
    for seq, frame in enumerate(frames):
        out += prior.process(frame, seq, schedule.wanted(seq))
    out += prior.flush()
    assert [f.params.seq for f in out] == list(range(FRAMES))
    wanted = [seq < IDENTITY_FRAMES or seq % 2 == 0 for seq in range(FRAMES)]
    assert [f.analysed for f in out] == wanted
    assert [f.params.face for f in out] == wanted, "tracking holds across skipped frames"
    assert all(f.crop is None and f.identity is out[0].identity for f in out if not f.analysed)
    clock = StreamClock(25.0)
    config = SendConfig(None, point=OperatingPoint(), references=References.PREVIOUS)
    session = SendSession(RecordingLink(list().append), prior, None, config, 25.0, clock=clock)
    for f in out:
        session.offer(CapturedFrame(f, clock.at_frame(f.params.seq)))
    stats = session.finish()
    assert len(stats.keyframes) == 1, "the first frame"
    assert stats.frames_sent == sum(wanted[1:])


def test_frames_go_in_the_crop_of_the_keyframe_the_receiver_draws_from(
    prior: MediaPipePrior,
) -> None:
    """A view move that waits (for a keyframe's refinement in flight, docs/call.md): the prior
    already gives its frames in the new view, the session sends them in the keyframe's."""
    out, _ = run(prior, list(clip_frames(validation_clip_paths()[1], FRAMES)))
    keyframe_box, moved_to = out[0].box, CropBox(-60, 40, 200)
    assert keyframe_box == CropBox(0, 0, 256)
    to_moved = CropMapping.between(keyframe_box, moved_to)
    later = [
        dataclasses.replace(f, params=to_moved.params(f.params), box=moved_to)
        for f in out[FRAMES // 2 :]
    ]
    sent: list[bytes] = []
    clock = StreamClock(25.0)
    config = SendConfig(None, point=OperatingPoint(), references=References.PREVIOUS)
    session = SendSession(RecordingLink(sent.append), prior, None, config, 25.0, clock=clock)
    for f in [*out[: FRAMES // 2], *later]:
        session.offer(CapturedFrame(f, clock.at_frame(f.params.seq)))
        assert session.view == keyframe_box
    session.finish()

    decoder, decoded = FrameDecoder(), {}
    for message in sent:
        if parse_message(message) == MessageType.KEYFRAME:
            decoder.set_keyframe(*decode_keyframe(message))
        else:
            decoded.update({p.seq: p for p in decoder.decode(message)})
    layout = field_layout(2, 16, 0, KeypointMode.MODEL_RESIDUAL)
    bound = layout.steps[3:POSE_FIELDS] * (0.5 + DEFAULT_HYSTERESIS) + 1e-5
    for f in out[FRAMES // 2 :]:
        got = decoded[f.params.seq]
        pose = np.array([*got.translation, got.scale]) - [*f.params.translation, f.params.scale]
        assert np.all(np.abs(pose) <= bound), f"frame {f.params.seq}: {pose}"


def test_landmarks_read_as_mediapipe_gives_them() -> None:
    """The landmarks read from MediaPipe's serialised result equal those read one by one."""
    import mediapipe as mp

    frames = clip_frames(validation_clip_paths()[0], 3)
    mesh = mp.solutions.face_mesh.FaceMesh(static_image_mode=True, refine_landmarks=True)
    with FaceLandmarker(video=False) as landmarker:
        for frame in frames:
            face = mesh.process(frame).multi_face_landmarks[0]
            slow = np.array([(p.x, p.y, p.z) for p in face.landmark], np.float32) * 256
            assert np.array_equal(landmarker(frame), slow)
    mesh.close()


@pytest.mark.parametrize("large_on_left", [True, False])
def test_the_largest_face_is_kept(prior: MediaPipePrior, large_on_left: bool) -> None:
    paths = validation_clip_paths()
    large = clip_frames(paths[0], IDENTITY_FRAMES)
    small = clip_frames(paths[-1], IDENTITY_FRAMES)
    large_x, small_x = (60, 820) if large_on_left else (760, 100)
    inputs = [
        place(place(background(), big, 440, large_x, 140), little, 260, small_x, 230)
        for big, little in zip(large, small, strict=True)
    ]
    out, _ = run(prior, inputs)
    assert all(f.params.face for f in out)
    for f in out:
        centre = f.box.x + f.box.side / 2
        assert large_x < centre < large_x + 440, "the crop sits on the large face"
    # The identity is the large face's, measured alone, not the small one's.
    large_alone, _ = run(prior, [place(background(), f, 440, large_x, 140) for f in large])
    small_alone, _ = run(prior, [place(background(), f, 440, large_x, 140) for f in small])
    to_large = np.linalg.norm(out[0].identity - large_alone[0].identity)
    to_small = np.linalg.norm(out[0].identity - small_alone[0].identity)
    assert to_large < 0.5 * to_small


def test_keyframe_is_the_crop_with_identity_and_versions(prior: MediaPipePrior) -> None:
    out, _ = run(prior, list(clip_frames(validation_clip_paths()[1], IDENTITY_FRAMES)))
    keyframe = prior.keyframe(out[4], network="net-v1")
    assert keyframe.image is out[4].crop
    assert keyframe.identity is out[4].identity
    assert keyframe.face_model == prior.model.version and keyframe.network == "net-v1"
    assert keyframe.params.seq == 4 and keyframe.params.keypoints is None
    np.testing.assert_array_equal(keyframe.params.expression, out[4].params.expression)


@pytest.mark.usefixtures("flush_denormals")
def test_deca_prior_on_real_frames(tmp_path_factory: pytest.TempPathFactory) -> None:
    files = synthetic_files(tmp_path_factory)
    deca = DecaFacePrior(
        DecaFiles(files.deca_weights, files.flame_model), PriorConfig(identity_frames=2)
    )
    frames = clip_frames(validation_clip_paths()[0], 3)
    inputs = [place(background(), frame, 420, 640, 200) for frame in frames]
    out, counts = run(deca, inputs)
    deca.close()
    assert counts == [0, 2, 1]
    assert all(f.params.face for f in out)
    assert out[0].identity.shape == (100,)
    assert out[0].params.expression.shape == (MAX_EXPRESSION_DIMS,)
    assert out[0].params.keypoints.shape == (32, 3)
    assert deca.keyframe(out[0]).face_model == deca.version
    expected = deca.backend.keypoints(out[0].identity, out[0].params, 32)
    np.testing.assert_allclose(out[0].params.keypoints, expected)


def test_deca_prior_names_missing_files(tmp_path: Path) -> None:
    files = DecaFiles(tmp_path / "deca_model.tar", tmp_path / "generic_model.pkl")
    with pytest.raises(FileNotFoundError, match="not found"):
        DecaFacePrior(files)
