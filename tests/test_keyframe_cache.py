"""The keyframe cache on disk: entries by key, refused when their bytes no longer match it,
the least recently used evicted past the size limit, and nothing in the folder able to crash
its reader. Entries are real keyframes of a real clip."""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path

import numpy as np
import pytest
from codec_inputs import demo_keyframe_image, real_clip_params

from facecodec.call.keyframe_cache import (
    FOLDER_VARIABLE,
    RECEIVED,
    SENT,
    KeyframeCache,
    KeyframeCacheConfig,
    default_folder,
)
from facecodec.call.sent_keyframes import SAME_FACE_MAX_DISTANCE, SentKeyframes
from facecodec.codec import keyframe_entry, keyframe_key
from facecodec.codec.image import DEFAULT_IMAGE_CODEC, CodedImage
from facecodec.sender.face_model import FaceModel
from facecodec.types import Keyframe


@pytest.fixture(scope="module")
def keyframe() -> Keyframe:
    params, identity = real_clip_params(frames=1)
    params0 = dataclasses.replace(params[0], keypoints=None)
    return Keyframe(demo_keyframe_image(), identity, params0, FaceModel.load().version)


def _entries(keyframe: Keyframe, count: int) -> list[bytes]:
    """``count`` different entries of one size (the same image, other source poses)."""
    full = CodedImage.encode(keyframe.image, DEFAULT_IMAGE_CODEC, 87)
    return [
        keyframe_entry(
            dataclasses.replace(keyframe, params=dataclasses.replace(keyframe.params, scale=s)),
            full,
        )
        for s in np.linspace(0.9, 1.1, count)
    ]


def test_an_entry_comes_back_by_its_key(tmp_path, keyframe):
    cache = KeyframeCache(KeyframeCacheConfig(tmp_path / "kf"))
    entry = _entries(keyframe, 1)[0]
    key = cache.put(entry)
    assert key == keyframe_key(entry)
    assert cache.get(key) == entry
    assert cache.get(bytes(len(key))) is None
    assert [f.name for f in (tmp_path / "kf").iterdir()] == [f"{key.hex()}.kf"]


def test_an_entry_changed_under_its_key_is_refused_deleted_and_warned_of(
    tmp_path, keyframe, caplog
):
    cache = KeyframeCache(KeyframeCacheConfig(tmp_path))
    entry = _entries(keyframe, 1)[0]
    key = cache.put(entry)
    path = tmp_path / f"{key.hex()}.kf"
    tampered = bytearray(entry)
    tampered[len(tampered) // 2] ^= 0x40
    path.write_bytes(bytes(tampered))
    with caplog.at_level(logging.WARNING):
        assert cache.get(key) is None
    assert cache.refused == 1 and not path.exists()
    assert "does not match its key" in caplog.text
    assert cache.get(key) is None and cache.refused == 1


def test_the_least_recently_used_entries_go_past_the_size_limit(tmp_path, keyframe):
    entries = _entries(keyframe, 4)
    limit = 3 * len(entries[0])
    cache = KeyframeCache(KeyframeCacheConfig(tmp_path, max_bytes=limit))
    keys = [cache.put(e) for e in entries[:3]]
    assert all(cache.get(k) is not None for k in keys)
    cache.get(keys[0])  # now the most recently used: keys[1] is the least
    cache.put(entries[3])
    kept = {key for key in [*keys, keyframe_key(entries[3])] if cache.get(key) is not None}
    assert kept == {keys[0], keys[2], keyframe_key(entries[3])}
    assert sum(f.stat().st_size for f in tmp_path.iterdir()) <= limit


def test_an_entry_larger_than_the_limit_is_not_kept(tmp_path, keyframe):
    entry = _entries(keyframe, 1)[0]
    cache = KeyframeCache(KeyframeCacheConfig(tmp_path, max_bytes=len(entry) - 1))
    assert cache.get(cache.put(entry)) is None
    assert list(tmp_path.iterdir()) == []


def test_what_else_lies_in_the_folder_is_never_used_nor_crashes_it(tmp_path, keyframe):
    cache = KeyframeCache(KeyframeCacheConfig(tmp_path))
    entry = _entries(keyframe, 1)[0]
    key = cache.put(entry)
    (tmp_path / "not-a-key.kf").write_bytes(b"garbage")
    (tmp_path / f"{bytes(16).hex()}.kf").write_bytes(b"")
    (tmp_path / f"{bytes(17).hex()}.kf").mkdir()
    (tmp_path / ".half-written.tmp").write_bytes(entry[:100])
    assert list(cache.entries()) == [(key, entry)]
    assert cache.refused == 1  # the empty file filed under a key it does not match


def test_a_folder_that_cannot_be_written_is_a_cache_that_has_nothing(tmp_path, keyframe):
    blocker = tmp_path / "file"
    blocker.write_bytes(b"")
    cache = KeyframeCache(KeyframeCacheConfig(blocker / "kf"))
    entry = _entries(keyframe, 1)[0]
    assert cache.get(cache.put(entry)) is None
    assert list(cache.entries()) == []


def test_the_folder_is_under_the_users_cache_folder(monkeypatch, tmp_path):
    monkeypatch.delenv(FOLDER_VARIABLE)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_folder() == tmp_path / "facecodec" / "keyframes"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/path")  # the XDG spec ignores it
    assert default_folder() == Path.home() / ".cache" / "facecodec" / "keyframes"
    monkeypatch.setenv(FOLDER_VARIABLE, str(tmp_path / "here"))
    assert default_folder() == tmp_path / "here"
    config = KeyframeCacheConfig(tmp_path)
    assert config.store(RECEIVED).config.folder != config.store(SENT).config.folder


def test_a_sender_offers_its_kept_keyframe_of_the_same_face_only(tmp_path, keyframe):
    kept = SentKeyframes(KeyframeCache(KeyframeCacheConfig(tmp_path)))
    full = CodedImage.encode(keyframe.image, DEFAULT_IMAGE_CODEC, 87)
    kept.remember(keyframe, full)
    live = dataclasses.replace(keyframe, image=np.zeros_like(keyframe.image))
    found = kept.find(live)
    assert found is not None and found[0] == keyframe_key(keyframe_entry(keyframe, full))
    assert np.array_equal(found[1].image, full.decode())
    # Another face: the identity moved well past the bound.
    model = kept.face_model
    other = keyframe.identity.copy()
    other[:4] += 2.0
    assert kept.distance(other, keyframe.identity) > SAME_FACE_MAX_DISTANCE
    assert kept.find(dataclasses.replace(keyframe, identity=other)) is None
    # Another network or face model: never offered.
    assert kept.find(dataclasses.replace(keyframe, network="net-2")) is None
    assert kept.find(dataclasses.replace(keyframe, face_model=model.version + "x")) is None


def test_entries_come_newest_first_without_becoming_more_recent(tmp_path, keyframe):
    cache = KeyframeCache(KeyframeCacheConfig(tmp_path))
    keys = [cache.put(e) for e in _entries(keyframe, 3)]
    assert [k for k, _ in cache.entries()] == keys[::-1]
    assert [k for k, _ in cache.entries()] == keys[::-1]
    os.utime(tmp_path / f"{keys[2].hex()}.kf", ns=(0, 0))
    assert [k for k, _ in cache.entries()] == [keys[1], keys[0], keys[2]]
