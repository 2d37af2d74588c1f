"""Where the tests find ../shared: the training clips (``DATA_DIR``) and the pretrained models
beside them. ``FACECODEC_DATA`` names another data folder (a worktree, a CI copy)."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA_DIR = Path(os.environ.get("FACECODEC_DATA", REPO.parent / "shared" / "data"))
MODELS_DIR = DATA_DIR.parent / "models"
