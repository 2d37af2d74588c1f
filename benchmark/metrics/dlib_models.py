"""dlib's pretrained models, shipped inside the PyPI package ``face_recognition_models``.

The package's own ``__init__`` imports ``pkg_resources``, which newer setuptools no longer has,
so the files are located through the import system without running it.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

MODELS_PACKAGE = "face_recognition_models"
LANDMARKS_68_FILE = "shape_predictor_68_face_landmarks.dat"
FACE_RECOGNITION_FILE = "dlib_face_recognition_resnet_model_v1.dat"
INSTALL_HINT = "pip install -e '.[bench]' (dlib-bin and face_recognition_models)"


def model_path(filename: str) -> Path:
    """Path of one of the package's model files; FileNotFoundError with the install hint."""
    spec = importlib.util.find_spec(MODELS_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"{MODELS_PACKAGE} is not installed: {INSTALL_HINT}")
    path = Path(next(iter(spec.submodule_search_locations))) / "models" / filename
    if not path.is_file():
        raise FileNotFoundError(f"{path} missing: reinstall with {INSTALL_HINT}")
    return path


def import_dlib():
    """The dlib module, or ImportError with the install hint."""
    try:
        import dlib
    except ImportError as exc:
        raise ImportError(f"dlib is not installed: {INSTALL_HINT}") from exc
    return dlib
