"""DECA's encoder and checkpoint loading, on a synthetic ``deca_model.tar`` of the real layout."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from deca_synthetic import CAM_SCALE_BIAS, SyntheticFiles, synthetic_files

from facecodec.sender.deca.deca_checkpoint import load_deca_encoder
from facecodec.sender.deca.deca_encoder import IMAGE_SIZE


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> SyntheticFiles:
    return synthetic_files(tmp_path_factory)


def test_checkpoint_loads_e_flame_and_predicts_deca_code(files: SyntheticFiles) -> None:
    encoder = load_deca_encoder(files.deca_weights)
    saved = torch.load(files.deca_weights, weights_only=True, mmap=True)["E_flame"]
    loaded = encoder.state_dict()
    assert loaded.keys() == saved.keys()
    assert all(torch.equal(loaded[k], saved[k]) for k in saved)
    assert not encoder.training
    images = torch.rand(1, 3, IMAGE_SIZE, IMAGE_SIZE, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        code = encoder(images)
    assert code.shape.shape == (1, 100) and code.exp.shape == (1, 50)
    assert code.pose.shape == (1, 6) and code.cam.shape == (1, 3)
    # The camera slot is where DECA's layout puts it: its bias dominates the output.
    assert abs(code.cam[0, 0].item() - CAM_SCALE_BIAS) < 1.0


def save(path: Path, content: object, legacy: bool = False) -> Path:
    """``legacy``: torch's format before 1.6, which older checkpoints use."""
    torch.save(content, path, _use_new_zipfile_serialization=not legacy)
    return path


def test_missing_file_and_foreign_files(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="DECA checkpoint not found"):
        load_deca_encoder(tmp_path / "deca_model.tar")
    (tmp_path / "junk.tar").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a readable torch checkpoint"):
        load_deca_encoder(tmp_path / "junk.tar")
    no_encoder = save(tmp_path / "other.tar", {"model": {}, "epoch": torch.tensor(3)})
    with pytest.raises(ValueError, match=r"no 'E_flame' state dict.*found: epoch, model"):
        load_deca_encoder(no_encoder)


def test_wrong_keys_and_shapes_are_named(tmp_path: Path) -> None:
    unrelated = {"E_flame": {"encoder.conv9.weight": torch.zeros(1)}}
    missing = save(tmp_path / "m.tar", unrelated, legacy=True)
    with pytest.raises(ValueError) as error:
        load_deca_encoder(missing)
    message = str(error.value)
    assert "missing: encoder.conv1.weight (64, 3, 7, 7)" in message
    assert "unexpected: encoder.conv9.weight" in message
    shapes = {"layers.2.weight": torch.zeros(200, 1024), "layers.2.bias": torch.zeros(200)}
    wrong = save(tmp_path / "w.tar", {"E_flame": shapes})
    with pytest.raises(
        ValueError,
        match=r"wrong shape: layers.2.weight \(200, 1024\) "
        r"\(expected \(236, 1024\)\)",
    ):
        load_deca_encoder(wrong)
