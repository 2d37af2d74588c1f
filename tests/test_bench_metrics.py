"""Benchmark metrics on real frames decoded from ../shared/data at test time."""

from __future__ import annotations

import numpy as np
import pytest
from shared_data import DATA_DIR

from facecodec.benchmark.clips import read_video
from facecodec.benchmark.metrics.emotion import EMOTION_CLASSES, EmotionEmbedder
from facecodec.benchmark.metrics.frechet import FeatureMoments, frechet_distance
from facecodec.benchmark.metrics.head_pose import head_pose_deg, pose_variance
from facecodec.benchmark.metrics.identity import IdentityEmbedder
from facecodec.benchmark.metrics.landmarks import Landmarks68, keypoint_distance
from facecodec.benchmark.metrics.pixels import PSNR_CAP_DB, psnr
from facecodec.benchmark.scoring import Scorer

CLIP = DATA_DIR / "train" / "obama__000.mp4"
OTHER = DATA_DIR / "train" / "lp_d14__103.mp4"
MEAD_EMOTIONS = {  # clip -> label in EMOTION_CLASSES (train.tsv notes)
    "mead_W009__127.mp4": "angry",
    "mead_W009__131.mp4": "happy",
    "mead_W011__139.mp4": "happy",
    "mead_W011__142.mp4": "surprise",
    "mead_W009__132.mp4": "neutral",
    "mead_W009__133.mp4": "sad",
}


@pytest.fixture(scope="module")
def frames() -> np.ndarray:
    return read_video(CLIP, max_frames=4)[0]


@pytest.fixture(scope="module")
def scorer() -> Scorer:
    return Scorer(feature_stride=2)


@pytest.fixture(scope="module")
def reference(scorer, frames):
    return scorer.analyse(frames)


def test_identical_frames_score_zero_distance(frames, scorer, reference):
    scores, _ = scorer.reconstruction(reference, frames, frames.copy())
    assert scores.face_frames == len(frames) and scores.missed_faces == 0
    assert scores.akd == 0 and scores.akd_mouth == 0
    assert scores.aed == pytest.approx(0, abs=1e-6)
    assert scores.aemod == pytest.approx(0, abs=1e-5)
    assert scores.psnr == PSNR_CAP_DB and np.isfinite(scores.psnr)
    assert scores.ssim == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("shift_px", [2, 5])
def test_shifted_frame_gives_akd_of_the_shift(frames, scorer, reference, shift_px):
    shifted = np.roll(frames, shift_px, axis=2)  # x shift; the face is far from the edges
    scores, _ = scorer.reconstruction(reference, frames, shifted)
    assert scores.akd == pytest.approx(shift_px, abs=0.5)
    assert scores.akd_mouth == pytest.approx(shift_px, abs=0.75)
    assert scores.psnr < 35


def test_keypoint_distance_of_known_offsets():
    reference = np.zeros((68, 2))
    output = reference.copy()
    output[48:] += (3.0, 4.0)  # the 20 mouth landmarks move 5 px
    akd, akd_mouth = keypoint_distance(reference, output)
    assert akd_mouth == pytest.approx(5.0) and akd == pytest.approx(5.0 * 20 / 68)


def test_psnr_of_known_error():
    a = np.full((1, 8, 8, 3), 100, np.uint8)
    b = a + np.uint8(10)  # MSE = (10/255)^2
    assert psnr(a, b)[0] == pytest.approx(20 * np.log10(255 / 10), abs=1e-3)


def test_identity_embeddings_separate_people():
    landmarks, embed = Landmarks68(), IdentityEmbedder()
    a = read_video(CLIP, max_frames=10)[0][[0, 9]]
    b = read_video(OTHER, max_frames=1)[0]
    ea = embed(list(a), [landmarks(f) for f in a])
    eb = embed(list(b), [landmarks(f) for f in b])
    same, different = np.linalg.norm(ea[0] - ea[1]), np.linalg.norm(ea[0] - eb[0])
    assert same < 0.4 < 0.6 < different  # dlib's same-person threshold is 0.6


def test_emotion_network_recognises_acted_emotions():
    """The converted FER2013 network labels MEAD's acted emotions far above chance (1/7); a
    mis-ported layer gives chance or a constant class."""
    landmarks, emotion = Landmarks68(), EmotionEmbedder()
    predicted, truth = [], []
    for name, label in MEAD_EMOTIONS.items():
        frames = read_video(DATA_DIR / "train" / name, max_frames=60)[0][30::10]
        probs = emotion.classify(list(frames), [landmarks(f) for f in frames])
        predicted += [EMOTION_CLASSES[i] for i in probs.argmax(1)]
        truth += [label] * len(frames)
    accuracy = np.mean([p == t for p, t in zip(predicted, truth, strict=True)])
    assert accuracy > 3 / len(EMOTION_CLASSES), (accuracy, predicted)
    assert len(set(predicted)) >= 4


def test_frechet_distance_of_known_gaussians():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(20000, 4))
    b = rng.normal(size=(20000, 4)) * 2.0 + 3.0  # mean shift 3 per dim, std 2
    # |3|^2 * 4 + tr(I + 4I - 2 * 2I) = 36 + 4
    assert frechet_distance(FeatureMoments.of(a), FeatureMoments.of(b)) == pytest.approx(
        40.0, rel=0.03
    )
    halves = FeatureMoments.of(a[:100]) + FeatureMoments.of(a[100:])
    assert frechet_distance(halves, FeatureMoments.of(a)) == pytest.approx(0, abs=1e-6)


def test_head_pose_turns_sign_when_mirrored(frames):
    face = Landmarks68()(frames[0])
    mirrored = np.ascontiguousarray(frames[0][:, ::-1])
    yaw = head_pose_deg(face.points, frames.shape[1:3])[1]
    yaw_mirrored = head_pose_deg(Landmarks68()(mirrored).points, frames.shape[1:3])[1]
    assert abs(yaw) > 10 and yaw_mirrored == pytest.approx(-yaw, abs=3)
    assert pose_variance(np.array([[0, 0, 0], [0, 10, 0]])) == pytest.approx(25.0)
