"""What lip motion means for the face model: the mouth opening that speech moves and that an
emotion edit leaves alone (docs/editing.md, "Keeping the lips").

Vertices are MediaPipe face-mesh indices (the topology of every ``mp478-*`` face model).
"""

from __future__ import annotations

import numpy as np

from facecodec.sender.face_model import FaceModel

INNER_LIP_PAIRS = (
    (191, 95),
    (80, 88),
    (81, 178),
    (82, 87),
    (13, 14),
    (312, 317),
    (311, 402),
    (310, 318),
    (415, 324),
)
"""(upper, lower) inner-lip vertices facing each other, person's right to left."""
CHIN = 152
"""Chin tip: its height in the canonical frame is the jaw opening."""
PRIOR_WEIGHT = 0.3
"""Weight of the code prior against mesh geometry in ``keep_opening``. At 0.3 the emotion
directions projected there are about as long as the learned ones (1.04x on average; at 0.1
1.25x, with single dims up to 3.4 std, out of the range the receiver was trained on; at 1.0
0.88x, but the smile widens the mouth by 1.5 px instead of 3.2); learn_emotions prints the
sweep."""


def lip_gap(landmarks: np.ndarray) -> np.ndarray:
    """(..., 478, 3) landmarks (canonical or in the crop) -> (...,) mean distance between the
    facing inner-lip vertices, in the landmarks' unit; independent of head pose."""
    pts = np.asarray(landmarks, np.float64)
    upper, lower = (np.array(side) for side in zip(*INNER_LIP_PAIRS, strict=True))
    return np.linalg.norm(pts[..., lower, :] - pts[..., upper, :], axis=-1).mean(-1)


def opening_functionals(model: FaceModel) -> np.ndarray:
    """(19, 50) linear maps from an expression code to the mouth opening in the canonical frame:
    the vertical and the depth gap of each inner-lip pair (so the opening looks the same from
    any head pose) and the chin height. An expression change ``d`` with
    ``opening_functionals(model) @ d == 0`` leaves every lip gap and the jaw where they were;
    the lips may still widen, narrow and move up or down together (a smile)."""
    basis = model.expression_basis.astype(np.float64)
    upper, lower = (np.array(side) for side in zip(*INNER_LIP_PAIRS, strict=True))
    gaps = basis[:, lower] - basis[:, upper]  # (50, 9, 3)
    return np.concatenate([gaps[..., 1].T, gaps[..., 2].T, basis[None, :, CHIN, 1]])


def keep_opening(model: FaceModel, dims: int, prior_weight: float = PRIOR_WEIGHT) -> np.ndarray:
    """(dims, dims) projection P of code changes in the leading ``dims`` dims onto those that
    leave the mouth opening exactly as it was (``opening_functionals`` of P d are 0).

    Of all such changes P d is the closest to d in the metric ``G / mean eig(G) + prior_weight
    * I``, G the (dims, dims) Gram matrix of the expression basis: geometry (how far the mesh
    moves, so a smile stays a smile) traded against the whitened code prior (so the code stays
    in the range the receiver was trained on). Fewer dims than constraints leave only P = 0.
    """
    basis = model.expression_basis[:dims].reshape(dims, -1).astype(np.float64)
    gram = basis @ basis.T
    metric = gram / np.trace(gram) * dims + prior_weight * np.eye(dims)
    constraints = opening_functionals(model)[:, :dims]
    _, sv, vt = np.linalg.svd(constraints, full_matrices=True)
    rank = int((sv > 1e-9 * sv.max()).sum())
    if rank == dims:
        return np.zeros((dims, dims))
    null = vt[rank:].T  # (dims, free): the changes the constraints do not see
    return null @ np.linalg.solve(null.T @ metric @ null, null.T @ metric)
