"""Every test gets its own empty keyframe cache: the commands keep keyframes in the user's cache
folder by default (call/keyframe_cache.py), and one test's calls must not start another's."""

from __future__ import annotations

from pathlib import Path

import pytest

from facecodec.call.keyframe_cache import FOLDER_VARIABLE


@pytest.fixture(autouse=True)
def _own_keyframe_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(FOLDER_VARIABLE, str(tmp_path / "keyframe-cache"))
