"""Synthetic stand-ins for DECA's and FLAME's files, written at test time: the real shapes and
file layouts, random contents. They carry no learned data and are never committed.

The FLAME model is a random point cloud with a region structure just real enough to test with:
a "jaw" region skinned to the jaw joint (it holds the mouth and chin landmarks), eyeballs on
the eye joints, the rest on the neck; pose correctives only in the jaw region.
"""

from __future__ import annotations

import contextlib
import functools
import pickle
import sys
import types
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from facecodec.sender.deca.deca_encoder import CODE_LAYOUT, DecaEncoder
from facecodec.sender.deca.flame_files import (
    FlameModelData,
    LandmarkEmbedding,
    load_flame_model,
    load_landmark_embedding,
)

NUM_VERTICES = 5023
NUM_FACES = 9976
JAW_LANDMARKS = list(range(5, 12)) + list(range(48, 68))
"""iBUG landmarks placed on the jaw region: chin and mouth."""
EYE_LANDMARKS = list(range(36, 48))
CAM_SCALE_BIAS = 8.0
"""DECA's camera scale for a face filling its crop; random outputs are centred on it."""
ROOT, NECK, JAW, EYE_L, EYE_R = range(5)
JOINT_POSITIONS = np.array(
    [[0, -0.09, -0.02], [0, -0.05, -0.02], [0, -0.03, 0], [0.03, 0.03, 0.05], [-0.03, 0.03, 0.05]]
)
"""Root, neck, jaw, left and right eye in metres."""


class Ch:
    """Pickles like chumpy's plain array ``chumpy.ch.Ch`` (class global, then its __dict__)."""

    def __init__(self, x: np.ndarray) -> None:
        self.x = x

    def __getstate__(self) -> dict:
        return {"x": self.x, "_dirty_vars": set(), "_itr": None, "_depends_on_deps": {}}


class CscMatrix:
    """Pickles like ``scipy.sparse.csc.csc_matrix`` of scipy versions of FLAME's time."""

    def __init__(self, dense: np.ndarray) -> None:
        cols = [np.flatnonzero(dense[:, j]) for j in range(dense.shape[1])]
        self.indices = np.concatenate(cols).astype(np.int32)
        self.indptr = np.concatenate([[0], np.cumsum([len(c) for c in cols])]).astype(np.int32)
        self.data = np.concatenate([dense[c, j] for j, c in enumerate(cols)])
        self._shape = dense.shape
        self.maxprint = 50


@contextlib.contextmanager
def pickled_as(cls: type, module: str, name: str) -> Iterator[None]:
    """Let pickle find ``cls`` as ``module.name`` while dumping: that module (and any missing
    parent package) is replaced by a stand-in, so chumpy or scipy need not be importable."""
    parts = module.split(".")
    names = [".".join(parts[: i + 1]) for i in range(len(parts))]
    fakes = {n: types.ModuleType(n) for n in names if n == module or n not in sys.modules}
    setattr(fakes[module], name, cls)
    saved = {n: sys.modules.get(n) for n in fakes}
    saved_names = cls.__module__, cls.__qualname__
    cls.__module__, cls.__qualname__ = module, name
    sys.modules.update(fakes)
    try:
        yield
    finally:
        cls.__module__, cls.__qualname__ = saved_names
        for n, previous in saved.items():
            if previous is None:
                del sys.modules[n]
            else:
                sys.modules[n] = previous


def flame_arrays(seed: int = 0) -> dict[str, np.ndarray]:
    """FLAME 2020's entries with their real shapes and dtypes and random region-wise content."""
    rng = np.random.default_rng(seed)
    v = rng.normal(size=(NUM_VERTICES, 3)) * [0.07, 0.09, 0.06]
    region = np.full(NUM_VERTICES, NECK)
    region[(v[:, 1] < -0.03) & (v[:, 2] > 0)] = JAW
    region[:150], region[150:300] = EYE_L, EYE_R
    v[:150] = JOINT_POSITIONS[EYE_L] + rng.normal(size=(150, 3)) * 0.01
    v[150:300] = JOINT_POSITIONS[EYE_R] + rng.normal(size=(150, 3)) * 0.01
    weights = np.eye(5)[region]
    posedirs = rng.normal(size=(NUM_VERTICES, 3, 36)) * 1e-3 * (region == JAW)[:, None, None]
    regressor = np.zeros((5, NUM_VERTICES))
    for j, position in enumerate(JOINT_POSITIONS):
        nearest = np.argsort(np.linalg.norm(v - position, axis=1))[:8]
        regressor[j, nearest] = 1 / 8
    return {
        "v_template": v,
        "shapedirs": rng.normal(size=(NUM_VERTICES, 3, 400)) * 1e-3,
        "posedirs": posedirs,
        "J_regressor": regressor,
        "kintree_table": np.array([[4294967295, ROOT, NECK, NECK, NECK], [0, 1, 2, 3, 4]]),
        "weights": weights,
        "f": _faces(region, rng).astype(np.uint32),
        "bs_style": "lbs",
        "bs_type": "lrotmin",
    }


def _faces(region: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Random triangles, each within one region; the first half on the jaw region."""
    jaw, rest = np.flatnonzero(region == JAW), np.flatnonzero(region == NECK)
    half = NUM_FACES // 2
    return np.concatenate(
        [rng.choice(jaw, size=(half, 3)), rng.choice(rest, size=(NUM_FACES - half, 3))]
    )


def write_flame_pkl(path: Path, arrays: dict[str, np.ndarray]) -> Path:
    """``generic_model.pkl`` as published: protocol 2, float arrays as chumpy Ch objects, the
    joint regressor as a CSC matrix."""
    content = {
        key: Ch(value) if key in ("v_template", "shapedirs", "posedirs", "weights") else value
        for key, value in arrays.items()
    }
    content["J_regressor"] = CscMatrix(arrays["J_regressor"])
    with (
        pickled_as(Ch, "chumpy.ch", "Ch"),
        pickled_as(CscMatrix, "scipy.sparse.csc", "csc_matrix"),
        open(path, "wb") as fp,
    ):
        pickle.dump(content, fp, protocol=2)
    return path


def write_embedding(path: Path, seed: int = 0) -> Path:
    """``landmark_embedding.npy``: a pickled dict with DECA's keys (its dynamic contour tables
    are torch tensors, as in the published file); mouth and chin landmarks on jaw triangles."""
    rng = np.random.default_rng(seed)
    faces_idx = rng.integers(NUM_FACES // 2, NUM_FACES, size=68)
    faces_idx[JAW_LANDMARKS] = rng.integers(0, NUM_FACES // 2, size=len(JAW_LANDMARKS))
    bary = rng.dirichlet(np.ones(3), size=68)
    embedding = {
        "static_lmk_faces_idx": faces_idx[17:],
        "static_lmk_bary_coords": bary[17:],
        "dynamic_lmk_faces_idx": torch.zeros(79, 17, dtype=torch.long),
        "dynamic_lmk_bary_coords": torch.zeros(79, 17, 3),
        "full_lmk_faces_idx": faces_idx[None],
        "full_lmk_bary_coords": bary[None],
    }
    np.save(path, np.array(embedding, dtype=object), allow_pickle=True)
    return path


def write_deca_checkpoint(path: Path, seed: int = 0) -> Path:
    """``deca_model.tar``: E_flame from the real module definitions, randomly initialised, with
    the regressor's output shrunk around a plausible camera; small E_detail and D_detail."""
    torch.manual_seed(seed)
    encoder = DecaEncoder()
    state = encoder.state_dict()
    state["layers.2.weight"] *= 0.01
    state["layers.2.bias"].zero_()
    cam_index = sum(n for name, n in CODE_LAYOUT[: [k for k, _ in CODE_LAYOUT].index("cam")])
    state["layers.2.bias"][cam_index] = CAM_SCALE_BIAS
    detail = {"layers.2.weight": torch.zeros(128, 1024)}
    torch.save({"E_flame": state, "E_detail": detail, "D_detail": {"w": torch.zeros(1)}}, path)
    return path


@dataclass(frozen=True)
class SyntheticFiles:
    """Where the synthetic files of one test session are."""

    flame_model: Path
    """generic_model.pkl, with landmark_embedding.npy beside it."""
    deca_weights: Path
    arrays: dict[str, np.ndarray]
    """What generic_model.pkl holds."""


def synthetic_files(tmp_path_factory: pytest.TempPathFactory) -> SyntheticFiles:
    """The synthetic FLAME and DECA files, written once per test session."""
    return _write_files(tmp_path_factory.getbasetemp() / "deca_synthetic")


@functools.cache
def _write_files(folder: Path) -> SyntheticFiles:
    folder.mkdir()
    arrays = flame_arrays()
    write_embedding(folder / "landmark_embedding.npy")
    return SyntheticFiles(
        flame_model=write_flame_pkl(folder / "generic_model.pkl", arrays),
        deca_weights=write_deca_checkpoint(folder / "deca_model.tar"),
        arrays=arrays,
    )


@functools.cache
def synthetic_model(flame_model: Path) -> tuple[FlameModelData, LandmarkEmbedding]:
    """A synthetic model file's content and the embedding beside it, loaded."""
    embedding = load_landmark_embedding(flame_model.with_name("landmark_embedding.npy"))
    return load_flame_model(flame_model), embedding
