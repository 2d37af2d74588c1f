"""FLAME's published files: the model (``generic_model.pkl`` or an ``.npz`` of the same arrays)
and DECA's landmark embedding (``landmark_embedding.npy``), checked against FLAME's layout.

FLAME 2020: 5023 vertices, 9976 triangles, 5 joints (root, neck, jaw, left eye, right eye),
``shapedirs`` with 300 identity then 100 expression components, ``posedirs`` for the 4 non-root
joints' rotation matrices (4 * 9 = 36).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from facecodec.sender.deca.legacy_pickle import load_npy_object, load_pickle, to_numpy

NUM_VERTICES = 5023
NUM_JOINTS = 5
NUM_SHAPE_COMPONENTS = 300
"""Identity components at the front of ``shapedirs``; expression components follow."""
NUM_EXPRESSION_COMPONENTS = 50
"""Expression components DECA uses (of FLAME's 100)."""
NUM_POSE_FEATURES = (NUM_JOINTS - 1) * 9
NUM_LANDMARKS = 68
EMBEDDING_NAME = "landmark_embedding.npy"
"""DECA keeps the embedding beside the model file (its data/ folder)."""
FLAME_LAYOUT: dict[str, tuple[int | None, ...]] = {
    "v_template": (NUM_VERTICES, 3),
    "shapedirs": (NUM_VERTICES, 3, None),
    "posedirs": (NUM_VERTICES, 3, NUM_POSE_FEATURES),
    "J_regressor": (NUM_JOINTS, NUM_VERTICES),
    "kintree_table": (2, NUM_JOINTS),
    "weights": (NUM_VERTICES, NUM_JOINTS),
    "f": (None, 3),
}
"""Entries of a FLAME model file and their shapes (None: any length)."""


@dataclass(frozen=True, eq=False)
class FlameModelData:
    """The arrays of a FLAME model file (float64 as published, int64 indices)."""

    v_template: np.ndarray
    """(V, 3) template mesh in metres (y up, z towards the viewer)."""
    shapedirs: np.ndarray
    """(V, 3, 300 + n_exp) identity then expression displacement per unit coefficient."""
    posedirs: np.ndarray
    """(V, 3, 36) pose-corrective displacement per entry of (R_j - I) of joints 1..4."""
    J_regressor: np.ndarray
    """(5, V) dense joint regressor."""
    parents: np.ndarray
    """(5,) parent joint of each joint, -1 for the root."""
    weights: np.ndarray
    """(V, 5) linear blend skinning weights."""
    faces: np.ndarray
    """(F, 3) triangle vertex indices."""


@dataclass(frozen=True, eq=False)
class LandmarkEmbedding:
    """The 68 iBUG landmarks as barycentric points on FLAME's triangles."""

    faces_idx: np.ndarray
    """(68,) int64 triangle of each landmark."""
    bary_coords: np.ndarray
    """(68, 3) barycentric weights of the triangle's three vertices."""


def load_flame_model(path: str | Path) -> FlameModelData:
    """Read ``generic_model.pkl`` (chumpy-era pickle, read without chumpy) or an ``.npz`` with
    the same keys; raises FileNotFoundError or ValueError naming the file and the bad entry."""
    path = _existing(path, "FLAME model")
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as npz:
            raw: dict[str, Any] = {k: npz[k] for k in npz.files}
    else:
        raw = load_pickle(path)
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: expected a dict of FLAME arrays, got {type(raw).__name__}")
    arrays = {k: _entry(raw, k, path) for k in FLAME_LAYOUT}
    for key, expected in FLAME_LAYOUT.items():
        _check_shape(path, key, arrays[key].shape, expected)
    if arrays["shapedirs"].shape[2] < NUM_SHAPE_COMPONENTS + NUM_EXPRESSION_COMPONENTS:
        raise ValueError(
            f"{path}: 'shapedirs' has {arrays['shapedirs'].shape[2]} components, expected "
            f"{NUM_SHAPE_COMPONENTS} identity + at least {NUM_EXPRESSION_COMPONENTS} expression"
        )
    parents = arrays["kintree_table"][0].astype(np.int64)
    parents[0] = -1  # stored as uint32 -1
    return FlameModelData(
        v_template=arrays["v_template"].astype(np.float64),
        shapedirs=arrays["shapedirs"].astype(np.float64),
        posedirs=arrays["posedirs"].astype(np.float64),
        J_regressor=arrays["J_regressor"].astype(np.float64),
        parents=parents,
        weights=arrays["weights"].astype(np.float64),
        faces=arrays["f"].astype(np.int64),
    )


def load_landmark_embedding(path: str | Path) -> LandmarkEmbedding:
    """Read the full 68-point embedding (``full_lmk_faces_idx``, ``full_lmk_bary_coords``) of
    DECA's ``landmark_embedding.npy`` (or an ``.npz`` with those keys)."""
    path = _existing(path, "FLAME landmark embedding")
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as npz:
            raw: Any = {k: npz[k] for k in npz.files}
    else:
        raw = load_npy_object(path)
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: expected a dict of landmark arrays, got {type(raw).__name__}")
    faces_idx = _entry(raw, "full_lmk_faces_idx", path).astype(np.int64).reshape(-1)
    bary = _entry(raw, "full_lmk_bary_coords", path).astype(np.float64)
    bary = bary.reshape(-1, 3) if bary.size == NUM_LANDMARKS * 3 else bary
    _check_shape(path, "full_lmk_faces_idx", faces_idx.shape, (NUM_LANDMARKS,))
    _check_shape(path, "full_lmk_bary_coords", bary.shape, (NUM_LANDMARKS, 3))
    return LandmarkEmbedding(faces_idx=faces_idx, bary_coords=bary)


def default_embedding_path(flame_model: str | Path) -> Path:
    """Where DECA keeps the landmark embedding: beside the model file."""
    return Path(flame_model).with_name(EMBEDDING_NAME)


def _existing(path: str | Path, what: str) -> Path:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} not found: {path}")
    return path


def _entry(raw: dict[str, Any], key: str, path: Path) -> np.ndarray:
    if key not in raw:
        raise ValueError(f"{path}: missing {key!r} (found: {', '.join(sorted(map(str, raw)))})")
    try:
        return to_numpy(raw[key], key)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None


def _check_shape(
    path: Path, key: str, shape: tuple[int, ...], expected: tuple[int | None, ...]
) -> None:
    same_rank = len(shape) == len(expected)
    if not same_rank or any(e not in (None, s) for s, e in zip(shape, expected, strict=True)):
        want = "(" + ", ".join("n" if e is None else str(e) for e in expected) + ")"
        raise ValueError(f"{path}: {key!r} has shape {tuple(shape)}, expected {want}")
