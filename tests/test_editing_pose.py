"""Pose edits on real frames: every third frame of the bundled demo clip (8 s), landmarked and
fitted at test time (facecodec/samples; no other footage needed)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from editing_demo import PX, demo, model

from facecodec.editing import EditConfig, Editor, HeadPose, PoseEdit, PoseEditor, PoseMode
from facecodec.editing.correctives import PoseCorrectives
from facecodec.editing.mouth import opening_functionals
from facecodec.sender.face_model import K_MAX
from facecodec.types import FrameParams, Keyframe

UPPER_LIP, LOWER_LIP = 2, 3  # keypoint rows of the inner lips


def frames(explicit: bool = False) -> list[FrameParams]:
    """The demo frames' fits, with all 32 explicit keypoints if asked."""
    out = demo().clips[0]
    if explicit:
        out = [
            dataclasses.replace(f, keypoints=model().keypoints(demo().identity, f, K_MAX))
            for f in out
        ]
    return out


def edit(pose: PoseEdit, explicit: bool = False) -> list[FrameParams]:
    editor = PoseEditor(pose, model())
    return [editor(f) for f in frames(explicit)]


def mouth_opening(params: list[FrameParams]) -> np.ndarray:
    """(T,) distance between the inner-lip keypoints the receiver computes, in pixels."""
    kp = np.stack([model().keypoints(demo().identity, p) for p in params])
    return np.linalg.norm(kp[:, LOWER_LIP] - kp[:, UPPER_LIP], axis=-1) * PX


def lip_gap(params: list[FrameParams]) -> np.ndarray:
    """(T,) vertical gap between the inner-lip keypoints in the face's own (canonical) frame,
    pixels at scale 1: the opening without the head's pose and size."""
    kp = np.stack([model().keypoint_shape(demo().identity, p.full_expression()) for p in params])
    return (kp[:, LOWER_LIP, 1] - kp[:, UPPER_LIP, 1]) * PX


def test_demo_clip_moves_its_head_and_mouth() -> None:
    rotation = np.rad2deg(np.stack([f.rotation for f in frames()]))
    assert len(frames()) == 67
    assert np.ptp(rotation[:, 1]) > 3.0 and np.ptp(rotation[:, 0]) > 3.0  # yaw, pitch
    assert np.ptp(mouth_opening(frames())) > 4.0


def test_lock_holds_the_first_pose_while_the_mouth_moves() -> None:
    driver = frames()
    locked = edit(PoseEdit(PoseMode.LOCK))
    for f in locked:
        np.testing.assert_array_equal(f.rotation, driver[0].rotation)
        np.testing.assert_array_equal(f.translation, driver[0].translation)
        assert f.scale == driver[0].scale
    assert np.ptp(mouth_opening(locked)) > 4.0
    assert np.corrcoef(mouth_opening(locked), mouth_opening(driver))[0, 1] > 0.99
    np.testing.assert_allclose(lip_gap(locked), lip_gap(driver), atol=1e-3)


def test_lock_to_a_given_pose() -> None:
    reference = HeadPose(np.array([0.1, -0.2, 0.05], np.float32), np.zeros(3, np.float32), 0.9)
    for f in edit(PoseEdit(PoseMode.LOCK, reference=reference)):
        np.testing.assert_allclose(f.rotation, reference.rotation)
        assert f.scale == pytest.approx(0.9)


def test_frontal_faces_the_camera_in_place() -> None:
    driver = frames()
    frontal = edit(PoseEdit(PoseMode.FRONTAL))
    for f, d in zip(frontal, driver, strict=True):
        np.testing.assert_array_equal(f.rotation, np.zeros(3))
        np.testing.assert_array_equal(f.translation, d.translation)
        assert f.scale == d.scale
    np.testing.assert_allclose(lip_gap(frontal), lip_gap(driver), atol=1e-3)


def test_offsets_turn_the_head_by_that_much() -> None:
    driver = frames()
    turned = edit(PoseEdit(offset_deg=(-5.0, 20.0, 3.0)))
    change = np.rad2deg(np.stack([f.rotation for f in turned]) - [d.rotation for d in driver])
    np.testing.assert_allclose(change, np.tile([-5.0, 20.0, 3.0], (len(driver), 1)), atol=1e-4)


def test_damping_smooths_and_follows() -> None:
    driver = np.stack([f.rotation for f in frames()])
    damped = np.stack([f.rotation for f in edit(PoseEdit(damping=0.9))])
    jitter = lambda r: np.abs(np.diff(r, axis=0)).mean()  # noqa: E731
    assert jitter(damped) < 0.5 * jitter(driver)
    # It lags but follows: the damped pose stays within a few degrees of the driver's.
    assert np.rad2deg(np.abs(damped - driver).mean()) < 2.0
    np.testing.assert_array_equal(damped[0], driver[0])


def test_damping_counts_lost_frames() -> None:
    """A frame 10 steps after the last one moves 1 - 0.8**10 of the way."""
    editor = PoseEditor(PoseEdit(damping=0.8), model())
    first, later = frames()[0], frames()[1]
    editor(first)
    out = editor(dataclasses.replace(later, seq=first.seq + 10))
    expected = first.rotation + (1 - 0.8**10) * (later.rotation - first.rotation)
    np.testing.assert_allclose(out.rotation, expected, atol=1e-6)


@pytest.mark.parametrize(
    "pose",
    [
        PoseEdit(PoseMode.LOCK),
        PoseEdit(PoseMode.FRONTAL),
        PoseEdit(damping=0.7, offset_deg=(0, 15, 0)),
    ],
)
def test_explicit_keypoints_follow_the_edit(pose: PoseEdit) -> None:
    """Keypoints a frame carries are what the model computes for the edited frame."""
    for f in edit(pose, explicit=True):
        predicted = model().keypoints(demo().identity, f, K_MAX)
        np.testing.assert_allclose(f.keypoints, predicted, atol=2e-5)


def test_the_pose_part_of_the_code_follows_the_pose() -> None:
    """Frontalized codes lose what the pose correctives attribute to the driver's rotation,
    except in the mouth opening."""
    correctives = PoseCorrectives.from_model(model())
    opening = opening_functionals(model())
    driver = frames()
    for f, d in zip(edit(PoseEdit(PoseMode.FRONTAL)), driver, strict=True):
        change = f.expression - d.full_expression()
        np.testing.assert_allclose(change, correctives.change(d.rotation, np.zeros(3)), atol=1e-5)
        np.testing.assert_allclose(opening @ change, 0.0, atol=1e-5)
        assert np.linalg.norm(change) > 0.5
    # The demo's head is pitched down (about -12 degrees): the offset that gives its codes in
    # the pose-sensitive dims 3 and 7 is mostly that pose.
    codes = np.stack([d.full_expression() for d in driver])[:, [3, 7]].mean(0)
    pose_part = correctives.code(np.stack([d.rotation for d in driver]))[:, [3, 7]].mean(0)
    assert np.linalg.norm(codes - pose_part) < 0.3 * np.linalg.norm(codes)


def test_a_keyframe_restarts_the_lock_at_its_pose() -> None:
    editor = Editor(EditConfig(PoseEdit(PoseMode.LOCK)), model())
    gap = FrameParams.no_face(99)
    assert editor(gap) is gap
    a, b, c = frames()[0], frames()[10], frames()[30]
    assert np.array_equal(editor(a).rotation, a.rotation)  # no keyframe yet: the first frame
    assert np.array_equal(editor(c).rotation, a.rotation)
    keyframe = Keyframe(np.zeros((256, 256, 3), np.uint8), demo().identity, b, model().version)
    editor.new_keyframe(keyframe)
    for f in (a, c):
        np.testing.assert_array_equal(editor(f).rotation, b.rotation)
        np.testing.assert_array_equal(editor(f).translation, b.translation)
    with pytest.raises(ValueError, match="face model"):
        editor.new_keyframe(dataclasses.replace(keyframe, face_model="flame2020-deca"))


def test_invalid_pose_edits_are_refused() -> None:
    with pytest.raises(ValueError, match="damping"):
        PoseEdit(damping=1.0)
    with pytest.raises(ValueError, match="offset"):
        PoseEdit(offset_deg=(0.0, float("nan"), 0.0))
    assert not PoseEdit().active and not EditConfig().active
