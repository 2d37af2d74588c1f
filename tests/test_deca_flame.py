"""FLAME's files and layer, on synthetic files of the real layout (tests/deca_synthetic.py)."""

from __future__ import annotations

import importlib.util
import pickle
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from deca_synthetic import (
    EYE_LANDMARKS,
    JAW_LANDMARKS,
    NUM_FACES,
    SyntheticFiles,
    pickled_as,
    synthetic_files,
    synthetic_model,
)

from facecodec.sender.deca.flame import Flame, axis_angle_to_matrix
from facecodec.sender.deca.flame_files import (
    FLAME_LAYOUT,
    load_flame_model,
    load_landmark_embedding,
)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> SyntheticFiles:
    return synthetic_files(tmp_path_factory)


@pytest.fixture(scope="module")
def flame(files: SyntheticFiles) -> Flame:
    return Flame(*synthetic_model(files.flame_model))


def small_model(**replace: np.ndarray) -> dict[str, np.ndarray]:
    """Entries of FLAME's shapes, except a shapedirs too short, made small to write fast."""
    entries = {
        key: np.zeros([n or 3 for n in shape], np.float32) for key, shape in FLAME_LAYOUT.items()
    }
    entries["shapedirs"] = np.zeros((5023, 3, 10), np.float32)
    entries.update(replace)
    return entries


def zeros(n: int) -> torch.Tensor:
    return torch.zeros(1, n)


def test_chumpy_pickle_loads_without_chumpy(files: SyntheticFiles) -> None:
    assert importlib.util.find_spec("chumpy") is None  # the loader cannot lean on it
    model = load_flame_model(files.flame_model)
    np.testing.assert_array_equal(model.shapedirs, files.arrays["shapedirs"])
    np.testing.assert_array_equal(model.v_template, files.arrays["v_template"])
    np.testing.assert_array_equal(model.J_regressor, files.arrays["J_regressor"])  # from CSC
    np.testing.assert_array_equal(model.parents, [-1, 0, 1, 1, 1])
    assert model.faces.dtype == np.int64 and model.faces.shape == (NUM_FACES, 3)


def test_npz_variant_loads(files: SyntheticFiles, tmp_path: Path) -> None:
    entries = dict(files.arrays, shapedirs=files.arrays["shapedirs"][:, :, :350])
    np.savez(tmp_path / "flame.npz", **entries)
    model = load_flame_model(tmp_path / "flame.npz")
    np.testing.assert_array_equal(model.posedirs, files.arrays["posedirs"])
    np.testing.assert_array_equal(model.shapedirs, entries["shapedirs"])


def test_model_file_errors_name_the_problem(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="FLAME model not found"):
        load_flame_model(tmp_path / "absent.pkl")
    np.savez(tmp_path / "missing.npz", **{k: v for k, v in small_model().items() if k != "f"})
    with pytest.raises(ValueError, match="missing 'f'"):
        load_flame_model(tmp_path / "missing.npz")
    np.savez(tmp_path / "wrong.npz", **small_model(weights=np.zeros((5023, 4))))
    with pytest.raises(ValueError, match=r"'weights' has shape \(5023, 4\), expected \(5023, 5\)"):
        load_flame_model(tmp_path / "wrong.npz")
    np.savez(tmp_path / "short.npz", **small_model())
    with pytest.raises(ValueError, match="'shapedirs' has 10 components"):
        load_flame_model(tmp_path / "short.npz")


def test_pickle_refuses_foreign_code(tmp_path: Path) -> None:
    (tmp_path / "evil.pkl").write_bytes(b"cos\nsystem\n(S'echo hi'\ntR.")
    with pytest.raises(pickle.UnpicklingError, match=r"refusing to load global os\.system"):
        load_flame_model(tmp_path / "evil.pkl")


class Expression:
    """Stands in for a chumpy expression node (not a plain array)."""

    def __init__(self) -> None:
        self.a, self.b = 1, 2


def test_chumpy_expression_is_rejected(tmp_path: Path) -> None:
    content = dict(small_model(), v_template=Expression())
    with pickled_as(Expression, "chumpy.ch_ops", "add"), open(tmp_path / "m.pkl", "wb") as fp:
        pickle.dump(content, fp, protocol=2)
    with pytest.raises(ValueError, match=r"'v_template' is a chumpy chumpy\.ch_ops\.add expr"):
        load_flame_model(tmp_path / "m.pkl")


def test_embedding_reads_the_full_68(files: SyntheticFiles, tmp_path: Path) -> None:
    path = files.flame_model.with_name("landmark_embedding.npy")
    embedding = load_landmark_embedding(path)
    assert embedding.faces_idx.shape == (68,) and embedding.bary_coords.shape == (68, 3)
    np.testing.assert_allclose(embedding.bary_coords.sum(1), 1.0)
    np.savez(tmp_path / "e.npz", full_lmk_faces_idx=embedding.faces_idx[:51])
    with pytest.raises(ValueError, match="missing 'full_lmk_bary_coords'"):
        load_landmark_embedding(tmp_path / "e.npz")
    too_few_faces = replace(load_flame_model(files.flame_model), faces=np.zeros((100, 3), int))
    with pytest.raises(ValueError, match="triangles outside the model's 100"):
        Flame(too_few_faces, embedding)


def test_zero_parameters_give_the_template(flame: Flame) -> None:
    mesh = flame(zeros(100), zeros(50), zeros(3), zeros(3))
    torch.testing.assert_close(mesh.vertices[0], flame.v_template, atol=1e-6, rtol=0)


def test_jaw_moves_the_mouth_not_the_eyes(flame: Flame) -> None:
    identity = torch.randn(1, 100, generator=torch.Generator().manual_seed(1))
    rest = flame.landmarks(flame(identity, zeros(50), zeros(3), zeros(3)).vertices)[0]
    jaw = torch.tensor([[0.3, 0.0, 0.0]])  # open the mouth by 0.3 rad
    open_ = flame.landmarks(flame(identity, zeros(50), zeros(3), jaw).vertices)[0]
    moved = (open_ - rest).norm(dim=1)
    assert moved[JAW_LANDMARKS].min() > 1e-3  # every mouth and chin landmark, over 1 mm
    assert moved[EYE_LANDMARKS].max() < 1e-6


def test_global_pose_rotates_rigidly_about_the_root(flame: Flame) -> None:
    gen = torch.Generator().manual_seed(2)
    identity, expression = torch.randn(1, 100, generator=gen), torch.randn(1, 50, generator=gen)
    jaw, head = torch.tensor([[0.2, 0.0, 0.05]]), torch.tensor([[0.1, -0.6, 0.3]])
    still = flame(identity, expression, zeros(3), jaw)
    turned = flame(identity, expression, head, jaw)
    rotation = axis_angle_to_matrix(head[0])
    expected = (still.vertices[0] - still.root[0]) @ rotation.T + still.root[0]
    torch.testing.assert_close(turned.vertices[0], expected, atol=1e-6, rtol=0)
    torch.testing.assert_close(turned.root, still.root)


def test_axis_angle_to_matrix() -> None:
    quarter_turn_z = axis_angle_to_matrix(torch.tensor([0.0, 0.0, np.pi / 2]))
    torch.testing.assert_close(
        quarter_turn_z @ torch.tensor([1.0, 0.0, 0.0]),
        torch.tensor([0.0, 1.0, 0.0]),
        atol=1e-6,
        rtol=0,
    )
    random = axis_angle_to_matrix(torch.randn(10, 3))
    torch.testing.assert_close(
        random @ random.transpose(1, 2), torch.eye(3).expand(10, 3, 3), atol=1e-5, rtol=0
    )
    torch.testing.assert_close(torch.linalg.det(random), torch.ones(10))


def test_landmarks_only_layer_is_exact(flame: Flame, files: SyntheticFiles) -> None:
    small = Flame(*synthetic_model(files.flame_model), landmarks_only=True)
    assert small.v_template.shape[0] < 3 * 68
    gen = torch.Generator().manual_seed(3)
    args = (torch.randn(2, 100, generator=gen), torch.randn(2, 50, generator=gen))
    poses = (torch.randn(2, 3, generator=gen) * 0.3, torch.randn(2, 3, generator=gen) * 0.3)
    full_mesh, small_mesh = flame(*args, *poses), small(*args, *poses)
    torch.testing.assert_close(
        small.landmarks(small_mesh.vertices), flame.landmarks(full_mesh.vertices)
    )
    torch.testing.assert_close(small_mesh.root, full_mesh.root)
