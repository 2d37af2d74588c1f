"""The training data's trip in pieces: packed here from real clips, stashed piece by piece
and unpacked as on the GPU machine, it comes back whole (the parameters in float16)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from training_inputs import DATA_DIR, VGG, write_params_file

from facecodec.training import gpu_data
from facecodec.training.splits import read_clips

PIECE_BYTES = 2 * 2**20


def test_pieces_stashed_one_call_at_a_time_unpack_to_the_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "data"
    (source / "train").mkdir(parents=True)
    clips = read_clips(DATA_DIR)[:2]
    for clip in clips:
        shutil.copy(clip.path, source / "train" / clip.path.name)
    shutil.copy(DATA_DIR / "train.tsv", source / "train.tsv")
    params = write_params_file(tmp_path / "params.npz", 4)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(gpu_data, "WAITING", tmp_path / "waiting")
    pieces = gpu_data.pack(source, params, VGG, None, PIECE_BYTES)
    assert len(pieces) > 2 and all(p.stat().st_size <= PIECE_BYTES for p in pieces)

    carried = [p.read_bytes() for p in pieces]
    for p in pieces:
        p.unlink()
    for i, blob in enumerate(carried[:-1]):  # one call per piece, the tree replaced between
        (tmp_path / gpu_data.PACK / pieces[i].name).write_bytes(blob)
        gpu_data.stash()
        assert not (tmp_path / ".gpu").exists()
    (tmp_path / gpu_data.PACK / pieces[-1].name).write_bytes(carried[-1])
    gpu_data.unpack()

    unpacked = tmp_path / ".gpu"
    for clip in clips:
        assert (unpacked / "train" / clip.path.name).read_bytes() == clip.path.read_bytes()
    assert (unpacked / "vgg16.safetensors").read_bytes() == VGG.read_bytes()
    with np.load(params) as before, np.load(unpacked / "prior_params.npz") as after:
        assert sorted(before.files) == sorted(after.files)
        for key in before.files:
            if key in gpu_data.HALF_PRECISION:
                assert after[key].dtype == np.float16
                np.testing.assert_allclose(after[key], before[key], rtol=2**-10, atol=2**-14)
            else:
                assert np.array_equal(after[key], before[key])
