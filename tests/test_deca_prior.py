"""The DECA/FLAME prior: pose mapping, keypoints from the source identity, and the whole path
on real frames of ../shared/data with synthetic DECA and FLAME files."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from deca_synthetic import SyntheticFiles, synthetic_files, synthetic_model
from shared_data import DATA_DIR

from facecodec.sender.deca import DecaPriorConfig, FlameFaceModel
from facecodec.sender.deca.deca_crop import DecaCrop
from facecodec.sender.deca.deca_encoder import DecaCode
from facecodec.sender.deca.deca_prior import frame_params_from_code
from facecodec.sender.deca.flame import Flame
from facecodec.sender.deca.flame_face_model import K_MAX, KEYPOINT_ORDER
from facecodec.sender.landmarks import FaceLandmarker
from facecodec.types import MAX_EXPRESSION_DIMS

CLIP = DATA_DIR / "train" / "dh_001106__000.mp4"
FRAMES = 3


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> SyntheticFiles:
    return synthetic_files(tmp_path_factory)


@pytest.fixture(scope="module")
def face_model(files: SyntheticFiles) -> FlameFaceModel:
    return FlameFaceModel(*synthetic_model(files.flame_model))


def random_code(seed: int) -> DecaCode:
    """A DECA code with moderate head and jaw rotations, expression 47..49 zero (never sent)."""
    gen = torch.Generator().manual_seed(seed)
    exp = torch.randn(1, 50, generator=gen)
    exp[:, 47:] = 0
    pose = torch.randn(1, 6, generator=gen) * 0.3
    cam = torch.tensor([[8.0, 0.01, -0.02]])
    return DecaCode(shape=torch.randn(1, 100, generator=gen), exp=exp, pose=pose, cam=cam)


def deca_projection(flame: Flame, code: DecaCode) -> np.ndarray:
    """DECA's own 3D landmarks in its crop (decalib/deca.py decode: batch_orth_proj, then y
    and z negated), (68, 3) in [-1, 1] crop units."""
    mesh = flame(code.shape, code.exp, code.pose[:, :3], code.pose[:, 3:])
    points = flame.landmarks(mesh.vertices)[0]
    scale, tx, ty = code.cam[0]
    projected = scale * torch.cat([points[:, :2] + torch.stack([tx, ty]), points[:, 2:]], 1)
    return (projected * torch.tensor([1.0, -1.0, -1.0])).numpy()


def test_frame_params_reproduce_decas_projection(face_model: FlameFaceModel) -> None:
    code = random_code(0)
    crop = DecaCrop(center=(140.0, 110.0), size=150.0)
    estimate = frame_params_from_code(face_model, code, crop, (256, 256, 3), seq=7)
    gain, offset = 150.0 / 256, np.array([12 / 128, -18 / 128, 0.0])
    expected = gain * deca_projection(face_model.flame, code) + offset
    landmarks = face_model.landmarks(estimate.identity, estimate.params)
    np.testing.assert_allclose(landmarks, expected, atol=1e-4)
    assert estimate.params.seq == 7 and estimate.params.expression.shape == (MAX_EXPRESSION_DIMS,)
    np.testing.assert_allclose(estimate.params.expression[:3], code.pose[0, 3:])  # jaw first
    np.testing.assert_allclose(estimate.params.expression[3:], code.exp[0, :47])


def test_keypoints_use_the_source_identity(face_model: FlameFaceModel) -> None:
    source, driver = random_code(1), random_code(2)
    source_id = source.shape[0].numpy()
    crop = DecaCrop(center=(128.0, 128.0), size=180.0)
    driving = frame_params_from_code(face_model, driver, crop, (256, 256, 3), seq=0)
    keypoints = face_model.keypoints(source_id, driving.params, count=K_MAX)
    # The source's face with the driver's expression, jaw and pose, placed by DECA's camera.
    swapped = DecaCode(shape=source.shape, exp=driver.exp, pose=driver.pose, cam=driver.cam)
    placed = frame_params_from_code(face_model, swapped, crop, (256, 256, 3), seq=0)
    expected = face_model.landmarks(source_id, placed.params)[KEYPOINT_ORDER]
    # Equal up to where each face's root joint sits (the pivot the driver's translation names).
    centred = keypoints - keypoints.mean(0)
    np.testing.assert_allclose(centred, expected - expected.mean(0), atol=1e-4)
    with_driver_id = face_model.keypoints(driving.identity, driving.params, count=K_MAX)
    assert np.abs(with_driver_id - with_driver_id.mean(0) - centred).max() > 1e-3
    np.testing.assert_array_equal(face_model.keypoints(source_id, driving.params, 5), keypoints[:5])
    with pytest.raises(ValueError, match="keypoint count"):
        face_model.keypoints(source_id, driving.params, K_MAX + 1)


def real_frames() -> list[np.ndarray]:
    with av.open(str(CLIP)) as container:
        frames = container.decode(video=0)
        return [next(frames).to_ndarray(format="rgb24") for _ in range(FRAMES)]


@pytest.fixture
def one_thread() -> Iterator[None]:
    """ResNet-50 on one core, as the sender gets (and the machine is shared)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.usefixtures("one_thread")
def test_prior_on_real_frames(files: SyntheticFiles) -> None:
    prior = DecaPriorConfig(deca_weights=files.deca_weights, flame_model=files.flame_model).build()
    frames = real_frames()
    detector = FaceLandmarker(video=False)
    estimates = [prior.estimate(frame, seq) for seq, frame in enumerate(frames)]
    for seq, estimate in enumerate(estimates):
        params = estimate.params
        assert params.face and params.seq == seq
        assert params.expression.shape == (50,) and estimate.identity.shape == (100,)
        # The synthetic face (about 0.2 m across, DECA scale about 8) lands on the face crop.
        crop = DecaCrop.from_landmarks(detector(frames[seq]))
        gain, offset = crop.to_frame(frames[seq].shape)
        centre = prior.landmarks(estimate.identity, params)[:, :2].mean(0)
        assert np.abs(centre - offset[:2]).max() < gain
    assert prior.version == prior.face_model.version and prior.version.startswith("deca-flame-")
    blank = prior.estimate(np.zeros((720, 1280, 3), np.uint8), seq=9)
    assert not blank.params.face and blank.identity is None and blank.params.seq == 9
    prior.close()
    detector.close()


def test_config_errors_name_the_missing_file(files: SyntheticFiles, tmp_path: Path) -> None:
    lonely = tmp_path / "generic_model.pkl"
    lonely.symlink_to(files.flame_model)
    with pytest.raises(FileNotFoundError, match=r"embedding not found: .*landmark_embedding"):
        DecaPriorConfig(deca_weights=files.deca_weights, flame_model=lonely).build()
    with pytest.raises(FileNotFoundError, match="DECA checkpoint not found"):
        DecaPriorConfig(deca_weights=tmp_path / "none.tar", flame_model=files.flame_model).build()
