"""Run the real `semplan` entry point in-process, error handling included."""

from __future__ import annotations

import sys

from click.testing import CliRunner

from semplan.cli import main


def semplan(*args: str) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of `semplan ARGS…`, as a user's shell would see them."""
    runner = CliRunner()
    code = 0
    with runner.isolation() as (out, err, _):
        argv, sys.argv = sys.argv, ["semplan", *args]
        try:
            main()
        except SystemExit as exit_:
            code = exit_.code or 0
        finally:
            sys.argv = argv
            sys.stdout.flush()
            sys.stderr.flush()
        return code, out.getvalue().decode(), err.getvalue().decode()
