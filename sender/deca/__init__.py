"""DECA/FLAME backend of the face prior (``facecodec encode --prior deca``).

``DecaPriorConfig(deca_weights, flame_model).build()`` loads DECA's ``deca_model.tar`` and
FLAME's ``generic_model.pkl`` (with DECA's ``landmark_embedding.npy`` beside it) into a
``DecaPrior``; ``FlameFaceModel`` alone gives the keypoints from an identity and FrameParams.
"""

from facecodec.sender.deca.deca_prior import DecaEstimate, DecaPrior, DecaPriorConfig
from facecodec.sender.deca.flame_face_model import FlameFaceModel

__all__ = ["DecaEstimate", "DecaPrior", "DecaPriorConfig", "FlameFaceModel"]
