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
from facecodec.sender.deca.flame_files import (
    NUM_EXPRESSION_COMPONENTS,
    NUM_SHAPE_COMPONENTS,
    FlameModelData,
    LandmarkEmbedding,
)
from torch import nn

NUM_IDENTITY = 100
"""Identity (shape) coefficients DECA predicts, the first of FLAME's 300."""
NUM_EXPRESSION = NUM_EXPRESSION_COMPONENTS
JAW_JOINT = 2
EPSILON = 1e-8


class FlameMesh(NamedTuple):
    """A posed FLAME mesh."""

    vertices: torch.Tensor
    """(B, V, 3) posed vertices."""
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
    all vertices every call.
    """

    def __init__(self, model: FlameModelData, embedding: LandmarkEmbedding) -> None:
        super().__init__()
        num_faces = model.faces.shape[0]
        if embedding.faces_idx.min() < 0 or embedding.faces_idx.max() >= num_faces:
            raise ValueError(f"landmark embedding names triangles outside the model's {num_faces}")
        f32 = torch.float32
        dirs = np.concatenate(
            [
                model.shapedirs[:, :, :NUM_IDENTITY],
                model.shapedirs[:, :, NUM_SHAPE_COMPONENTS : NUM_SHAPE_COMPONENTS + NUM_EXPRESSION],
            ],
            axis=2,
        )
        self.register_buffer("v_template", torch.as_tensor(model.v_template, dtype=f32))
        self.register_buffer("shapedirs", torch.as_tensor(dirs, dtype=f32))
        posedirs = model.posedirs.reshape(-1, model.posedirs.shape[2]).T
        self.register_buffer("posedirs", torch.as_tensor(posedirs, dtype=f32))
        self.register_buffer(
            "joint_template", torch.as_tensor(model.J_regressor @ model.v_template, dtype=f32)
        )
        joint_dirs = np.einsum("jv,vkl->jkl", model.J_regressor, dirs)
        self.register_buffer("joint_dirs", torch.as_tensor(joint_dirs, dtype=f32))
        self.register_buffer("lbs_weights", torch.as_tensor(model.weights, dtype=f32))
        self.parents = [int(p) for p in model.parents]
        self.register_buffer("faces", torch.as_tensor(model.faces))
        lmk_vertices = model.faces[embedding.faces_idx]
        self.register_buffer("landmark_vertices", torch.as_tensor(lmk_vertices))
        self.register_buffer("landmark_bary", torch.as_tensor(embedding.bary_coords, dtype=f32))

    def forward(
        self,
        identity: torch.Tensor,
        expression: torch.Tensor,
        global_pose: torch.Tensor,
        jaw_pose: torch.Tensor,
    ) -> FlameMesh:
        """identity (B, 100), expression (B, 50), global_pose and jaw_pose (B, 3) axis-angle
        -> posed mesh."""
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
        """(B, V, 3) vertices -> (B, 68, 3) landmarks in iBUG order."""
        corners = vertices[:, self.landmark_vertices]  # B x 68 x 3 x 3
        return torch.einsum("blfk,lf->blk", corners, self.landmark_bary)
