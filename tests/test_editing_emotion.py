"""Emotion edits on real frames (every third frame of the bundled demo clip, landmarked and
fitted at test time) with the shipped directions; one slow test checks the shipped directions
against acted clips of ../shared/data."""

from __future__ import annotations

import argparse
import dataclasses

import numpy as np
import pytest
from editing_demo import PX, demo, model
from shared_data import DATA_DIR

from facecodec.editing import (
    EditConfig,
    Editor,
    Emotion,
    EmotionDirections,
    EmotionEdit,
    EmotionEditor,
    PoseMode,
)
from facecodec.editing.args import add_edit_arguments, edit_config
from facecodec.editing.clip_fit import fit_person
from facecodec.editing.correctives import PoseCorrectives
from facecodec.editing.mouth import lip_gap, opening_functionals
from facecodec.sender.face_model import K_MAX
from facecodec.types import FrameParams

BROWS = [46, 52, 53, 55, 63, 65, 66, 70, 105, 107, 276, 282, 283, 285, 293, 295, 296, 300, 334, 336]
MOUTH_CORNERS = [61, 291]


def edited(emotion: Emotion, strength: float, dims: int = 50) -> list[FrameParams]:
    editor = EmotionEditor(EmotionEdit(emotion, strength), model())
    return [editor(f, dims) for f in demo().clips[0]]


def shapes(frames: list[FrameParams]) -> np.ndarray:
    """(T, 478, 3) canonical shapes, pixels at scale 1."""
    return np.stack([model().shape(demo().identity, f.full_expression()) for f in frames]) * PX


def posed_lip_gap(frames: list[FrameParams]) -> np.ndarray:
    """(T,) inner-lip gap of the face model's landmarks in the crop, pixels."""
    return np.array([lip_gap(model().landmarks(demo().identity, f)) for f in frames]) * PX


@pytest.mark.parametrize("emotion", list(Emotion))
def test_the_code_moves_towards_the_emotion(emotion: Emotion) -> None:
    """The projection on the learned direction grows in proportion to the strength."""
    d = EmotionDirections.load().directions[emotion]
    unit = d / np.linalg.norm(d)
    driver = np.stack([f.full_expression() for f in demo().clips[0]])
    along = []
    for strength in (0.25, 0.5, 1.0):
        codes = np.stack([f.expression for f in edited(emotion, strength)])
        along.append(((codes - driver) @ unit).mean())
    assert along[0] > 0.25  # whitened units: a quarter strength moves over a quarter std
    np.testing.assert_allclose(along, np.array([0.25, 0.5, 1.0]) * along[2] / 1.0, rtol=1e-4)


@pytest.mark.parametrize("emotion", list(Emotion))
def test_the_lips_open_and_close_with_the_driver(emotion: Emotion) -> None:
    driver, out = demo().clips[0], edited(emotion, 1.0)
    gap, driver_gap = posed_lip_gap(out), posed_lip_gap(driver)
    assert np.corrcoef(gap, driver_gap)[0, 1] > 0.99
    # Not only correlated: the mouth closes as far as the driver's (the learned directions
    # alone open it by 4-6 px on average, so that it never closes).
    assert np.abs(gap - driver_gap).max() < 0.1
    # In the face's own frame every lip gap and the jaw stay exactly the driver's.
    opening = opening_functionals(model())
    change = np.stack(
        [o.expression - d.full_expression() for o, d in zip(out, driver, strict=True)]
    )
    np.testing.assert_allclose(change @ opening.T * PX, 0.0, atol=1e-3)


def test_emotions_move_the_face_where_they_should() -> None:
    """Acted emotions as the directions learned them, in pixels of a 256 crop at scale 1."""
    base = shapes(demo().clips[0])

    def change(emotion: Emotion) -> np.ndarray:
        return (shapes(edited(emotion, 1.0)) - base).mean(0)

    surprised, angry = change(Emotion.SURPRISED), change(Emotion.ANGRY)
    happy, sad = change(Emotion.HAPPY), change(Emotion.SAD)
    assert surprised[BROWS, 1].mean() < -2.0  # brows up (y grows downwards)
    assert angry[BROWS, 1].mean() > 2.0  # brows down
    assert happy[MOUTH_CORNERS[1], 0] - happy[MOUTH_CORNERS[0], 0] > 2.0  # a wider mouth
    assert happy[MOUTH_CORNERS, 1].mean() < -0.3  # corners up
    assert sad[MOUTH_CORNERS, 1].mean() > 0.5  # corners down


def test_strength_zero_is_the_identity() -> None:
    for f, g in zip(edited(Emotion.HAPPY, 0.0), demo().clips[0], strict=True):
        assert f is g


def test_an_edit_for_a_truncated_code_stays_within_it() -> None:
    """On the sender the encoder sends 16 dims: the edit lives in them, and the lips of the
    truncated code are the driver's."""
    driver, out = demo().clips[0], edited(Emotion.SURPRISED, 1.0, dims=16)
    truncated = lambda f: dataclasses.replace(f, expression=f.expression[:16])  # noqa: E731
    for o, d in zip(out, driver, strict=True):
        np.testing.assert_array_equal(o.expression[16:], d.full_expression()[16:])
    sent, driver_sent = [truncated(f) for f in out], [truncated(f) for f in driver]
    np.testing.assert_allclose(posed_lip_gap(sent), posed_lip_gap(driver_sent), atol=0.05)
    assert (shapes(sent) - shapes(driver_sent))[:, BROWS, 1].mean() < -1.0


def test_explicit_keypoints_follow_the_edit() -> None:
    editor = Editor(EditConfig(emotion=EmotionEdit(Emotion.SAD, 0.8)), model())
    for f in demo().clips[0][:10]:
        kp = model().keypoints(demo().identity, f, K_MAX)
        out = editor(dataclasses.replace(f, keypoints=kp))
        predicted = model().keypoints(demo().identity, out, K_MAX)
        np.testing.assert_allclose(out.keypoints, predicted, atol=2e-5)


def test_mismatched_face_model_is_refused() -> None:
    shipped = EmotionDirections.load()
    other = dataclasses.replace(shipped, face_model="mp478-lin-v0")
    with pytest.raises(ValueError, match="learned for face model mp478-lin-v0, not mp478-lin-v1"):
        EmotionEditor(EmotionEdit(Emotion.HAPPY), model(), other)
    with pytest.raises(ValueError, match="format"):
        EmotionDirections.from_json('{"format": "something else"}')
    again = EmotionDirections.from_json(shipped.to_json())
    assert again.face_model == shipped.face_model == model().version
    for e in Emotion:
        np.testing.assert_array_equal(again.directions[e], shipped.directions[e])


def test_invalid_strength_is_refused() -> None:
    for bad in (-0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match="strength"):
            EmotionEdit(Emotion.HAPPY, bad)


def test_command_line_flags() -> None:
    parser = argparse.ArgumentParser()
    add_edit_arguments(parser)
    flags = "--pose lock --pose-damping 0.5 --yaw-offset 10 --emotion happy --emotion-strength 0.6"
    config = edit_config(parser.parse_args(flags.split()))
    assert config.pose.mode is PoseMode.LOCK and config.pose.damping == 0.5
    assert config.pose.offset_deg == (0.0, 10.0, 0.0)
    assert config.emotion == EmotionEdit(Emotion.HAPPY, 0.6)
    assert not edit_config(parser.parse_args([])).active
    for bad in ("--emotion-strength 2", "--pose-damping 1", "--emotion calm", "--pose tilt"):
        with pytest.raises(SystemExit):
            parser.parse_args(bad.split())


@pytest.mark.slow
@pytest.mark.skipif(not (DATA_DIR / "train.tsv").exists(), reason=f"no clips in {DATA_DIR}")
def test_shipped_directions_name_acted_clips() -> None:
    """Fitted from scratch, mead_W009's acted clips sit nearest the shipped direction of their
    own label (this person is one of the three the directions were learned from)."""
    labels = ("neutral", "happy", "sad", "surprised", "angry")
    files = {
        label: DATA_DIR / "train" / f"mead_W009__{n}.mp4"
        for label, n in zip(labels, (132, 131, 133, 134, 127), strict=True)
    }
    fitted = fit_person(model(), list(files.values()))
    correctives = PoseCorrectives.from_model(model())
    means = {
        label: np.mean([f.full_expression() - correctives.code(f.rotation) for f in frames], axis=0)
        for label, frames in zip(labels, fitted.clips, strict=True)
    }
    directions = EmotionDirections.load().directions
    for label in labels[1:]:
        v = means[label] - means["neutral"]
        cosine = {e: v @ d / np.linalg.norm(v) / np.linalg.norm(d) for e, d in directions.items()}
        assert max(cosine, key=cosine.__getitem__).value == label
