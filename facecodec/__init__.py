"""facecodec: face video calls at a few kilobits per second.

The sender transmits what a face does (head pose, semantic 3D keypoints, a truncated expression
code); the receiver redraws each frame from one keyframe with a neural generator.
"""

from importlib.resources import files
from pathlib import Path

__version__ = "0.1.0"


def demo_clip() -> Path:
    """The bundled demo clip (see samples/README.md for its provenance)."""
    return Path(str(files("facecodec") / "samples" / "menendez_8s_256.mp4"))
