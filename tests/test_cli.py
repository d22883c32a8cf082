"""Every command answers --help with an example; errors are one line, never a traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest
from click.testing import CliRunner

from semplan.cli import COMMAND_MODULES, cli


def _all_commands():
    import click

    for name in sorted(COMMAND_MODULES):
        command = cli.get_command(None, name)
        yield [name], command
        if isinstance(command, click.Group):
            for sub in command.list_commands(None):
                yield [name, sub], command.get_command(None, sub)


@pytest.mark.parametrize("words", [words for words, _ in _all_commands()], ids=" ".join)
def test_every_command_has_help_with_an_example(words):
    result = CliRunner().invoke(cli, [*words, "--help"])
    assert result.exit_code == 0, result.output
    assert "Example" in result.output, f"`semplan {' '.join(words)} --help` shows no example"


def test_unknown_input_is_one_line_error_not_traceback(tmp_path):
    missing = tmp_path / "no-such-plan.txt"
    result = subprocess.run(
        [sys.executable, "-m", "semplan", "segment", str(missing)], capture_output=True, text=True
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    error_lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(error_lines) == 1 and error_lines[0].startswith("Error: "), result.stderr
    assert "no-such-plan.txt" in error_lines[0]
