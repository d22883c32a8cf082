"""Every command answers --help with an example; errors are one line, never a traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest
from cli_runner import semplan
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


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["cluster", "--seed", "-1"], "Invalid value for '--seed': -1 is not in the range 0<=x<=4294967295."),
        (["report", "--out", "r", "--seed", "4294967296"],
         "Invalid value for '--seed': 4294967296 is not in the range 0<=x<=4294967295."),
        (["cluster", "--match-threshold", "nan"],
         "Invalid value for '--match-threshold': 'nan' is not a number between -1 and 1"),
        (["report", "--out", "r", "--assign-outliers", "--assign-threshold", "NaN"],
         "Invalid value for '--assign-threshold': 'NaN' is not a number between -1 and 1"),
        (["cluster", "--min-cluster-size", "1e3"], "Invalid value for '--min-cluster-size': '1e3' is not a valid integer."),
    ],
)
def test_clustering_options_out_of_range_are_usage_errors(tmp_path, args, expected):
    """A seed outside numpy's 0 … 2**32 - 1 was a ValueError traceback from UMAP; a nan threshold passed
    click's FloatRange and every cross-plan match was false (all clauses "unique")."""
    command = args[0]
    code, out, err = semplan(*args, "--index", str(tmp_path / "no-index"))
    assert (code, out, err) == (1, "", f"Error: {expected} (see: semplan {command} --help)\n")


def test_error_line_shows_control_characters_escaped(tmp_path):
    """A file name with a newline split the error into two lines; an escape sequence reached the terminal."""
    name = "a\nError: forged\x1b[2J\u202e.txt"
    code, out, err = semplan("segment", str(tmp_path / name))
    assert (code, out) == (1, "")
    assert err == f"Error: {tmp_path}/a\\nError: forged\\x1b[2J\\u202e.txt: no such file\n"


def test_bare_group_shows_its_help_and_fails():
    code, out, err = semplan("models")
    assert code == 1 and out == "" and "Usage: semplan models" in err and "Commands:" in err


def test_cluster_table_shows_control_characters_escaped():
    from semplan.cli._table import padded

    assert padded("加强\x1b]0;pwned\x07学前教育", 40).rstrip() == "加强\\x1b]0;pwned\\x07学前教育"
