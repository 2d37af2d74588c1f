"""Every subcommand's ``--help`` renders: argparse formats help text only when asked, so a
stray ``%`` in one option's help crashes ``facecodec CMD --help`` and nothing else."""

from __future__ import annotations

import pytest

from facecodec.cli import COMMANDS, main


@pytest.mark.parametrize("command", COMMANDS)
def test_help_of_every_subcommand_renders(command: str, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert text.startswith(f"usage: facecodec {command}")
    assert "options:" in text
