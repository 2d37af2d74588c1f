"""The DECA/FLAME face prior (paper section 3.1): per frame, DECA's encoder on a face crop gives
FLAME identity, expression, jaw and head pose and an orthographic camera; they become
facecodec's FrameParams in the conventions of flame_face_model.py.

Pose mapping. DECA projects a FLAME point X (posed by the global rotation R_g about the root
joint r) into its crop as ``s * FLIP @ (X + [tx, ty, 0])`` (``batch_orth_proj``, then y and z
negated). With the canonical shape ``S = k * FLIP @ (X_rest - r)`` this is
``scale * R @ S + t`` for ``R = FLIP @ R_g @ FLIP``, ``scale = s / k`` and
``t = s * FLIP @ (r + [tx, ty, 0])``; the crop's similarity to the frame then scales both.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from facecodec.sender.deca.deca_checkpoint import load_deca_encoder
from facecodec.sender.deca.deca_crop import DecaCrop
from facecodec.sender.deca.deca_encoder import DecaCode, DecaEncoder
from facecodec.sender.deca.flame import axis_angle_to_matrix
from facecodec.sender.deca.flame_face_model import (
    CANONICAL_UNITS_PER_METRE,
    DEFAULT_KEYPOINTS,
    FLIP,
    FlameFaceModel,
    expression_code,
    split_expression,
)
from facecodec.sender.deca.flame_files import (
    default_embedding_path,
    load_flame_model,
    load_landmark_embedding,
)
from facecodec.sender.face_model import rotation_angles
from facecodec.sender.landmarks import FaceLandmarker
from facecodec.types import FrameParams


@dataclass(frozen=True)
class DecaPriorConfig:
    """Files of the DECA backend (``facecodec encode --prior deca``)."""

    deca_weights: Path
    """DECA's ``deca_model.tar`` (only its E_flame encoder is read)."""
    flame_model: Path
    """FLAME 2020 ``generic_model.pkl`` (or an ``.npz`` of its arrays)."""
    landmark_embedding: Path | None = None
    """DECA's ``landmark_embedding.npy``; None looks beside ``flame_model``."""

    def build(self, landmarker: FaceLandmarker | None = None) -> DecaPrior:
        """Load the files (FileNotFoundError / ValueError name the file at fault); the small
        ones first, so that a wrong path fails fast."""
        embedding_path = self.landmark_embedding or default_embedding_path(self.flame_model)
        embedding = load_landmark_embedding(embedding_path)
        encoder = load_deca_encoder(self.deca_weights)
        face_model = FlameFaceModel(load_flame_model(self.flame_model), embedding)
        return DecaPrior(encoder, face_model, landmarker)


@dataclass
class DecaEstimate:
    """What the prior measured in one frame."""

    params: FrameParams
    """Head pose and the full 50-value expression code (no explicit keypoints)."""
    identity: np.ndarray | None
    """(100,) FLAME shape of the face in this frame; None when no face was found."""


class DecaPrior:
    """Frames -> FrameParams through MediaPipe's face box, DECA's encoder and FLAME.

    Feed the frames of one stream in order (the face detector tracks); ``reset`` between
    streams. ``keypoints`` and ``landmarks`` are those of ``face_model``.
    """

    def __init__(
        self,
        encoder: DecaEncoder,
        face_model: FlameFaceModel,
        landmarker: FaceLandmarker | None = None,
    ) -> None:
        self.encoder = encoder.eval()
        self.face_model = face_model
        self.landmarker = landmarker or FaceLandmarker(video=True)
        self.version = face_model.version

    def reset(self) -> None:
        """Start a new stream."""
        self.landmarker.reset()

    def close(self) -> None:
        self.landmarker.close()

    def estimate(self, frame: np.ndarray, seq: int) -> DecaEstimate:
        """(H, W, 3) RGB uint8 frame -> the frame's parameters in normalised frame coordinates;
        a frame without a face gives ``FrameParams.no_face``."""
        landmarks = self.landmarker(frame)
        if landmarks is None:
            return DecaEstimate(params=FrameParams.no_face(seq), identity=None)
        crop = DecaCrop.from_landmarks(landmarks)
        image = torch.from_numpy(crop.image(frame)).permute(2, 0, 1)[None]
        with torch.no_grad():
            code = self.encoder(image)
        return frame_params_from_code(self.face_model, code, crop, frame.shape, seq)

    def landmarks(self, identity: np.ndarray, params: FrameParams) -> np.ndarray:
        """(68, 3) FLAME landmarks in crop coordinates (see FlameFaceModel.landmarks)."""
        return self.face_model.landmarks(identity, params)

    def keypoints(
        self, identity: np.ndarray, params: FrameParams, count: int = DEFAULT_KEYPOINTS
    ) -> np.ndarray:
        """(count, 3) semantic keypoints (see FlameFaceModel.keypoints)."""
        return self.face_model.keypoints(identity, params, count)


def frame_params_from_code(
    face_model: FlameFaceModel,
    code: DecaCode,
    crop: DecaCrop,
    frame_shape: tuple[int, ...],
    seq: int,
) -> DecaEstimate:
    """DECA's code (first batch item) for the crop ``crop`` of a frame of ``frame_shape`` ->
    the frame's parameters in normalised frame coordinates (see the module docstring)."""
    identity, global_pose = code.shape[:1], code.pose[:1, :3]
    expression = expression_code(code.pose[0, 3:].numpy(), code.exp[0].numpy())
    # The root as the receiver will compute it: from the expression as sent.
    jaw_pose, exp = split_expression(torch.from_numpy(expression)[None])
    with torch.no_grad():
        root = face_model.flame(identity, exp, global_pose, jaw_pose).root[0]
    cam_scale, tx, ty = (float(v) for v in code.cam[0])
    global_rot = axis_angle_to_matrix(global_pose[0]).double().numpy()
    translation = cam_scale * FLIP @ (root.double().numpy() + np.array([tx, ty, 0.0]))
    gain, offset = crop.to_frame(frame_shape)
    params = FrameParams(
        seq=seq,
        rotation=rotation_angles(FLIP @ global_rot @ FLIP),
        translation=gain * translation + offset,
        scale=gain * cam_scale / CANONICAL_UNITS_PER_METRE,
        expression=expression,
    )
    return DecaEstimate(params=params, identity=identity[0].numpy().astype(np.float32))
