"""The training recipe's pieces on real frames of ../shared/data: region masks drawn from the
fitted face model land on the eyes, the mouth and the background that MediaPipe finds in the
frame, the region losses respond to their own region, and far-pose pairs are far in pose."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from training_inputs import DATA_DIR, VGG, write_params_file

from facecodec.sender.face_model import FaceModel
from facecodec.sender.landmarks import FaceLandmarker
from facecodec.training.data import ClipStore, PairSampling, PoseBatch, decode_clip
from facecodec.training.discriminator import MultiScaleDiscriminator
from facecodec.training.objective import LossWeights, Objective
from facecodec.training.regions import FACE_OVAL, LEFT_EYE, MOUTH_LANDMARKS, RIGHT_EYE, FaceRegions
from facecodec.training.vgg import VGG16Features

FRAMES_PER_CLIP = 24
SIZE = 256
EYES = list(RIGHT_EYE + LEFT_EYE)
MOUTH = MOUTH_LANDMARKS.tolist()


@pytest.fixture(scope="module")
def params_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_params_file(tmp_path_factory.mktemp("recipe") / "params.npz", FRAMES_PER_CLIP)


@pytest.fixture(scope="module")
def frame_and_masks(params_file: Path) -> tuple[np.ndarray, np.ndarray, torch.Tensor]:
    """The first training clip's first frame (S, S, 3), MediaPipe's landmarks on it (478, 2)
    in pixels, and the masks (2, 3, S, S) from its fitted parameters, unmirrored and mirrored."""
    with np.load(params_file) as z:
        p = {k: z[k] for k in z.files}
    frame = decode_clip(DATA_DIR / "train" / str(p["clip_files"][0]))[0]
    with FaceLandmarker(video=False) as landmarker:
        points = landmarker(frame)[:, :2]
    pose = PoseBatch(*(torch.from_numpy(p[k][:1]).float() for k in PoseBatch.__annotations__))
    pose2 = PoseBatch(*(torch.cat([t, t]) for t in vars(pose).values()))
    identity = torch.from_numpy(p["clip_identity_code"][:1]).float().expand(2, -1)
    regions = FaceRegions(FaceModel.load(), SIZE)
    masks = regions(identity, pose2, pose2, torch.tensor([False, True]))
    return frame, points, masks


def at(mask: torch.Tensor, points: np.ndarray) -> np.ndarray:
    """Mask values (S, S) at (n, 2) pixel positions."""
    xy = np.clip(points.round().astype(int), 0, SIZE - 1)
    return mask.numpy()[xy[:, 1], xy[:, 0]]


def test_region_masks_land_on_the_eyes_mouth_and_background_of_a_real_frame(
    frame_and_masks: tuple[np.ndarray, np.ndarray, torch.Tensor],
) -> None:
    _, points, masks = frame_and_masks
    eyes, mouth, background = masks[0]
    assert at(eyes, points[EYES]).min() > 0.5
    assert at(mouth, points[MOUTH]).min() > 0.5
    assert at(eyes, points[MOUTH]).max() < 0.1 and at(mouth, points[EYES]).max() < 0.1
    assert at(background, points[list(FACE_OVAL)]).max() < 0.1
    assert background[SIZE // 2, 0] > 0.5 and background[SIZE // 2, -1] > 0.5
    mirrored = points.copy()
    mirrored[:, 0] = SIZE - 1 - mirrored[:, 0]
    assert at(masks[1, 0], mirrored[EYES]).min() > 0.5
    assert at(masks[1, 1], mirrored[MOUTH]).min() > 0.5


def test_region_losses_respond_to_their_own_region(
    frame_and_masks: tuple[np.ndarray, np.ndarray, torch.Tensor],
) -> None:
    frame, _, masks = frame_and_masks
    torch.manual_seed(0)
    objective = Objective(LossWeights(), VGG16Features(VGG), MultiScaleDiscriminator(), None)

    def terms_with_blurred(mask: torch.Tensor) -> dict[str, float]:
        """Loss terms of the frame against itself with the region under ``mask`` blurred."""
        keep = (mask > 0.5).numpy()[..., None]
        blurred = np.where(keep, cv2.GaussianBlur(frame, (0, 0), 4), frame)
        images = [
            torch.from_numpy(f).permute(2, 0, 1)[None].float() / 255 for f in (blurred, frame)
        ]
        with torch.no_grad():
            terms = objective.generator_terms(*images, masks[:1])
        return {k: float(v) for k, v in terms.items()}

    eyes_blurred = terms_with_blurred(masks[0, 0])
    mouth_blurred = terms_with_blurred(masks[0, 1])
    assert eyes_blurred["eyes"] > 5 * eyes_blurred["mouth"]
    assert mouth_blurred["mouth"] > 5 * mouth_blurred["eyes"]
    assert eyes_blurred["background"] < 0.2 * eyes_blurred["eyes"]


def test_far_pose_pairs_are_far_apart_in_head_pose(params_file: Path) -> None:
    store = ClipStore(DATA_DIR, params_file, False, torch.device("cpu"), image_size=64)
    generator = torch.Generator().manual_seed(0)
    uniform = store.sample_indices(512, generator, PairSampling(far_share=0.0))
    far = store.sample_indices(512, generator, PairSampling(far_share=1.0))
    for source, driving in (uniform, far):
        assert torch.equal(store.clip_of_frame[source], store.clip_of_frame[driving])
        assert store.valid[driving].all()
    assert store.pose_distance(*far).mean() > 1.5 * store.pose_distance(*uniform).mean()
    half = store.sample_indices(512, generator, PairSampling(far_share=0.5))
    between = store.pose_distance(*half).mean()
    assert store.pose_distance(*uniform).mean() < between < store.pose_distance(*far).mean()
