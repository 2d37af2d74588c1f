"""FLAME (Li et al. 2017) as a torch layer, the way DECA drives it: identity and expression blend
shapes, pose correctives, linear blend skinning over root, neck, jaw and eyes, and the 68
landmarks as barycentric points on the mesh.

DECA's pose is 6 numbers, global (root) then jaw rotation as axis-angle; neck and eyes stay at
rest. Coordinates are FLAME's: metres, y up, z towards the viewer.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
from torch import nn

from facecodec.sender.deca.flame_files import (
    NUM_EXPRESSION_COMPONENTS,
    NUM_SHAPE_COMPONENTS,
    NUM_VERTICES,
    FlameModelData,
    LandmarkEmbedding,
)

NUM_IDENTITY = 100
"""Identity (shape) coefficients DECA predicts, the first of FLAME's 300."""
NUM_EXPRESSION = NUM_EXPRESSION_COMPONENTS
EPSILON = 1e-8
"""Added to axis-angle vectors before their norm so that a zero rotation has a direction (as in
DECA's ``batch_rodrigues``)."""


class FlameMesh(NamedTuple):
    """A posed FLAME mesh."""

    vertices: torch.Tensor
    """(B, V, 3) posed vertices (V = 5023, or the landmark vertices of a ``landmarks_only``
    layer)."""
    root: torch.Tensor
    """(B, 3) root joint, the pivot of the global rotation."""


def axis_angle_to_matrix(axis_angle: torch.Tensor) -> torch.Tensor:
    """Rodrigues' formula: (..., 3) axis * angle in radians -> (..., 3, 3) rotation."""
    angle = torch.linalg.vector_norm(axis_angle + EPSILON, dim=-1, keepdim=True)
    x, y, z = (axis_angle / angle).unbind(-1)
    zero = torch.zeros_like(x)
    cross = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], -1)
    cross = cross.reshape(*axis_angle.shape[:-1], 3, 3)
    sin, cos = angle.sin()[..., None], angle.cos()[..., None]
    eye = torch.eye(3, dtype=axis_angle.dtype, device=axis_angle.device)
    return eye + sin * cross + (1 - cos) * cross @ cross


class Flame(nn.Module):
    """FLAME with DECA's 100 identity and 50 expression coefficients.

    The joint locations are linear in the coefficients, so their regressor is folded into the
    blend shapes once here (``joint_template``, ``joint_dirs``) instead of regressing them from
    all vertices every call. With ``landmarks_only`` the layer keeps just the vertices the 68
    landmarks sit on (about 200 of 5023): landmarks and joints stay exact, 25 times cheaper.
    """

    def __init__(
        self, model: FlameModelData, embedding: LandmarkEmbedding, landmarks_only: bool = False
    ) -> None:
        super().__init__()
        num_faces = model.faces.shape[0]
        if embedding.faces_idx.min() < 0 or embedding.faces_idx.max() >= num_faces:
            raise ValueError(f"landmark embedding names triangles outside the model's {num_faces}")
        landmark_corners = model.faces[embedding.faces_idx]  # 68 x 3 vertex ids
        kept = np.unique(landmark_corners) if landmarks_only else np.arange(NUM_VERTICES)
        dirs = np.concatenate(
            [
                model.shapedirs[:, :, :NUM_IDENTITY],
                model.shapedirs[:, :, NUM_SHAPE_COMPONENTS : NUM_SHAPE_COMPONENTS + NUM_EXPRESSION],
            ],
            axis=2,
        )
        joint_template = model.J_regressor @ model.v_template
        joint_dirs = np.einsum("jv,vkl->jkl", model.J_regressor, dirs)
        posedirs = model.posedirs[kept].reshape(-1, model.posedirs.shape[2]).T
        buffers = {
            "v_template": model.v_template[kept],
            "shapedirs": dirs[kept],
            "posedirs": posedirs,
            "joint_template": joint_template,
            "joint_dirs": joint_dirs,
            "lbs_weights": model.weights[kept],
            "landmark_bary": embedding.bary_coords,
        }
        for name, array in buffers.items():
            self.register_buffer(name, torch.as_tensor(array, dtype=torch.float32))
        self.register_buffer(
            "landmark_vertices", torch.as_tensor(np.searchsorted(kept, landmark_corners))
        )
        self.parents = [int(p) for p in model.parents]

    def forward(
        self,
        identity: torch.Tensor,
        expression: torch.Tensor,
        global_pose: torch.Tensor,
        jaw_pose: torch.Tensor,
    ) -> FlameMesh:
        """identity (B, 100), expression (B, 50), global_pose and jaw_pose (B, 3) axis-angle
        -> posed mesh (the kept vertices only)."""
        betas = torch.cat([identity, expression], dim=1)
        v_shaped = self.v_template + torch.einsum("bl,vkl->bvk", betas, self.shapedirs)
        joints = self.joint_template + torch.einsum("bl,jkl->bjk", betas, self.joint_dirs)
        rest = torch.zeros_like(global_pose)
        pose = torch.stack([global_pose, rest, jaw_pose, rest, rest], dim=1)  # B x 5 x 3
        rotations = axis_angle_to_matrix(pose)  # B x 5 x 3 x 3
        eye = torch.eye(3, dtype=rotations.dtype, device=rotations.device)
        pose_feature = (rotations[:, 1:] - eye).flatten(1)  # B x 36
        v_posed = v_shaped + (pose_feature @ self.posedirs).view_as(v_shaped)
        skin = self._joint_transforms(rotations, joints)  # B x 5 x 3 x 4
        per_vertex = torch.einsum("vj,bjmn->bvmn", self.lbs_weights, skin)  # B x V x 3 x 4
        vertices = (per_vertex[..., :3] @ v_posed[..., None])[..., 0] + per_vertex[..., 3]
        return FlameMesh(vertices=vertices, root=joints[:, 0])

    def _joint_transforms(self, rotations: torch.Tensor, joints: torch.Tensor) -> torch.Tensor:
        """Rotations (B, J, 3, 3) about rest joints (B, J, 3) down the kinematic tree ->
        (B, J, 3, 4) affine maps from rest to posed space (rotation | translation)."""
        world_rot: list[torch.Tensor] = []
        world_pos: list[torch.Tensor] = []
        for j, parent in enumerate(self.parents):
            if parent < 0:
                world_rot.append(rotations[:, j])
                world_pos.append(joints[:, j])
                continue
            offset = (joints[:, j] - joints[:, parent])[..., None]
            world_rot.append(world_rot[parent] @ rotations[:, j])
            world_pos.append(world_pos[parent] + (world_rot[parent] @ offset)[..., 0])
        rot = torch.stack(world_rot, dim=1)
        # Posed joint minus the rotated rest joint: vertices are expressed in rest space.
        trans = torch.stack(world_pos, dim=1) - (rot @ joints[..., None])[..., 0]
        return torch.cat([rot, trans[..., None]], dim=-1)

    def landmarks(self, vertices: torch.Tensor) -> torch.Tensor:
        """(B, V, 3) vertices of this layer -> (B, 68, 3) landmarks in iBUG order."""
        corners = vertices[:, self.landmark_vertices]  # B x 68 x 3 x 3
        return torch.einsum("blfk,lf->blk", corners, self.landmark_bary)
