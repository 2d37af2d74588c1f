"""The sender's crop on real clips: 256x256 face crops pass unchanged, larger frames get the
training framing and keep it while the head moves, the analysis crop moves when the face drifts
away or changes size while the view (the keyframe's crop) holds longer, and parameters move from
one crop's coordinates to another's onto the same input pixels."""

from __future__ import annotations

import numpy as np
import pytest
from sender_inputs import background, clip_frames, place, validation_clip_paths

from facecodec import demo_clip
from facecodec.sender.crop import CropBox, CropConfig, CropMapping, FaceCropper, TrainingFraming
from facecodec.sender.face_model import FaceModel
from facecodec.sender.face_tracker import FaceTracker
from facecodec.sender.fit import crop_landmarks
from facecodec.sender.landmarks import FaceLandmarker
from facecodec.types import FrameParams

FRAMES = 40
DEMO_FRAMES = 200
PLACEMENT_TOLERANCE = 0.05
"""Crop units: the framing measured afresh on the crop image against the training median."""
BOX_CENTRE_TOLERANCE = 0.2
"""Crop units: the landmark box of one person (its shape, head turn) against the median box."""
LANDMARK_AGREEMENT_PX = 3.0
"""Landmarks mapped from the full frame against landmarks found on the crop, in 256-crop pixels
(MediaPipe itself moves them by 1-2 px between two framings of one image)."""
LANDMARK_BIAS_PX = 1.0
"""Mean offset between the two: a coordinate mistake (half a pixel, a scale) shows here."""


@pytest.fixture(scope="module")
def model() -> FaceModel:
    return FaceModel.load()


def follow(
    model: FaceModel, frames: list[np.ndarray], config: CropConfig | None = None
) -> tuple[FaceCropper, list[bool], list[bool]]:
    """Run the tracker and the cropper over frames; the cropper and, per frame, whether the
    analysis crop and the view moved."""
    cropper = FaceCropper(model, config)
    tracker = FaceTracker()
    moves, view_moves = [], []
    for frame in frames:
        landmarks = tracker(frame, cropper.box)
        assert landmarks is not None
        before = cropper.box
        update = cropper.update(landmarks, frame.shape)
        moves.append(update.box != before)
        view_moves.append(update.new_view)
        assert update.view == update.box or not update.new_view, "a view moves onto the crop"
    tracker.close()
    return cropper, moves, view_moves


@pytest.mark.parametrize("source", ["demo", "validation"])
def test_256_face_crops_pass_unchanged(model: FaceModel, source: str) -> None:
    if source == "demo":
        frames = list(clip_frames(demo_clip(), DEMO_FRAMES))
    else:
        frames = list(clip_frames(validation_clip_paths()[0], FRAMES))
    cropper, moves, view_moves = follow(model, frames)
    assert cropper.box == cropper.view == CropBox(0, 0, 256)
    assert moves == view_moves == [True] + [False] * (len(frames) - 1)
    assert np.array_equal(cropper.box.cut(frames[-1]), frames[-1])


def test_720p_input_gets_the_training_framing(model: FaceModel) -> None:
    frames = clip_frames(validation_clip_paths()[0], FRAMES)
    canvas = background()
    inputs = [place(canvas, frame, 480, 700, 150) for frame in frames]
    cropper, moves, _ = follow(model, inputs)
    assert moves == [True] + [False] * (FRAMES - 1), "the crop holds while the head moves"

    box = cropper.box
    crop = box.cut(inputs[0])
    with FaceLandmarker(video=False) as landmarker:
        found = landmarker(crop)
        full = landmarker(inputs[0])
    framing = TrainingFraming.from_model(model)
    scale, translation = cropper.placement(found).in_box(CropBox(0, 0, 256))
    assert abs(scale / framing.scale - 1) < PLACEMENT_TOLERANCE
    np.testing.assert_allclose(translation, framing.translation, atol=PLACEMENT_TOLERANCE)

    points = crop_landmarks(found, 256)[:, :2]
    low, high = points.min(0), points.max(0)
    stats = model.crop_stats
    size_range = stats["landmark_box_size_percentiles"][[0, -1]]
    assert np.all(size_range[0] <= high - low) and np.all(high - low <= size_range[1])
    centre = (low + high) / 2
    assert np.abs(centre - stats["landmark_box_center"]).max() < BOX_CENTRE_TOLERANCE

    offsets_px = (box.to_crop(full)[:, :2] - points) * 128
    assert np.linalg.norm(offsets_px, axis=1).mean() < LANDMARK_AGREEMENT_PX
    assert np.abs(offsets_px.mean(0)).max() < LANDMARK_BIAS_PX


@pytest.mark.parametrize("motion", ["drift", "zoom"])
def test_crop_moves_when_the_face_leaves_the_training_range(model: FaceModel, motion: str) -> None:
    frames = clip_frames(validation_clip_paths()[0], FRAMES)
    canvas = background()
    # The person moves for 2 s (50 frames), then stays.
    steps = np.minimum(np.arange(2 * FRAMES) / 50, 1.0)
    inputs = []
    for step, frame in zip(steps, frames + frames[::-1], strict=True):
        if motion == "drift":  # 240 px to the right
            inputs.append(place(canvas, frame, 360, round(200 + 240 * step), 180))
        else:  # the face doubles in size, centred
            side = round(300 + 300 * step)
            inputs.append(place(canvas, frame, side, 640 - side // 2, 360 - side // 2))
    # The view moving with the analysis crop, as before views were kept apart: a keyframe at
    # every move.
    _, _, every_move = follow(model, inputs, CropConfig(redraw_widening=0.5))
    cropper, moves, view_moves = follow(model, inputs)
    assert moves[0] and view_moves[0]
    moved_at = np.flatnonzero(moves)
    # Re-centred on the face as it goes, and held once it stays.
    assert 2 <= len(moved_at) <= 5 and moved_at[-1] < 60, f"moves at frames {moved_at}"
    assert every_move == moves, "with the analysis crop's range the view follows it"
    # The view moves only when the face has gone too far to redraw in it: never more often
    # than the analysis crop, and less often when the face only grows (twice the size here).
    view_moved_at = np.flatnonzero(view_moves)
    assert 1 <= len(view_moved_at) - 1 <= len(moved_at) - 1, f"view moves at {view_moved_at}"
    if motion == "zoom":
        assert len(view_moved_at) < len(moved_at), f"view moves at {view_moved_at}"

    framing = TrainingFraming.from_model(model)
    with FaceLandmarker(video=False) as landmarker:
        found = landmarker(cropper.box.cut(inputs[-1]))
    assert framing.holds(cropper.placement(found), CropBox(0, 0, 256))


def test_pixels_beyond_the_frame_are_edge_replicated() -> None:
    frame = clip_frames(demo_clip(), 1)[0]
    box = CropBox(-50, 200, 128)
    rows = np.clip(np.arange(200, 328), 0, 255)
    cols = np.clip(np.arange(-50, 78), 0, 255)
    np.testing.assert_array_equal(box.cut(frame, 128), frame[rows[:, None], cols[None, :]])

    shrunk = CropBox(-128, -128, 512).cut(frame, 256)
    assert shrunk.shape == (256, 256, 3)
    np.testing.assert_array_equal(shrunk[:60, :60], np.broadcast_to(frame[0, 0], (60, 60, 3)))


@pytest.mark.parametrize(
    ("source", "target"),
    [(CropBox(100, 50, 200), CropBox(60, 20, 300)), (CropBox(-40, 10, 90), CropBox(0, 0, 256))],
)
def test_a_point_in_one_crop_lands_on_the_same_input_pixel_through_another(
    source: CropBox, target: CropBox
) -> None:
    rng = np.random.default_rng(0)
    points = rng.uniform(-1.5, 1.5, (50, 3)).astype(np.float32)
    # Crop coordinates of ``source`` -> input pixels (types.py: x, y in [-1, 1], z in half
    # widths) -> crop coordinates of ``target``.
    pixels = points.astype(np.float64) + np.array([1.0, 1.0, 0.0])
    pixels = pixels * source.side / 2 + np.array([source.x, source.y, 0.0])
    mapping = CropMapping.between(source, target)
    np.testing.assert_allclose(mapping.points(points), target.to_crop(pixels), atol=1e-5)
    back = CropMapping.between(target, source)
    np.testing.assert_allclose(back.points(mapping.points(points)), points, atol=1e-5)


def test_parameters_in_another_crop_give_the_keypoints_there(model: FaceModel) -> None:
    rng = np.random.default_rng(1)
    identity = rng.standard_normal(model.identity_dims).astype(np.float32)
    params = FrameParams(
        seq=3,
        rotation=[0.1, -0.3, 0.05],
        translation=[0.05, 0.1, 0.2],
        scale=0.9,
        expression=rng.standard_normal(16),
    )
    params.keypoints = model.keypoints(identity, params, 8)
    mapping = CropMapping.between(CropBox(300, 120, 180), CropBox(250, 60, 400))
    moved = mapping.params(params)
    np.testing.assert_allclose(moved.keypoints, mapping.points(params.keypoints), atol=1e-6)
    np.testing.assert_allclose(moved.keypoints, model.keypoints(identity, moved, 8), atol=1e-5)
    np.testing.assert_array_equal(moved.rotation, params.rotation)
    np.testing.assert_array_equal(moved.expression, params.expression)
    assert moved.scale == pytest.approx(params.scale * 180 / 400)
    same = CropMapping.between(CropBox(0, 0, 256), CropBox(0, 0, 256))
    assert same.identity and same.params(params) is params
