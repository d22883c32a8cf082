"""The `semplan` command: a thin click layer over the Python API.

Each command group lives in its own module of this package and exposes `command`;
modules are imported only when their command runs, so `semplan --help` stays fast.
"""

from __future__ import annotations

import importlib
import logging
import sys

import click

from semplan.errors import SemplanError

# command name → module under semplan.cli
COMMAND_MODULES = {
    "segment": "segment",
    "models": "models",
    "index": "index",
    "similar": "similar",
    "cluster": "cluster",
    "report": "report",
    "eval": "eval",
    "plans": "plans",
    "compare": "compare",
    "trends": "trends",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMAND_MODULES)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        module_name = COMMAND_MODULES.get(name)
        if module_name is None:
            return None
        module = importlib.import_module(f"semplan.cli.{module_name}")
        return module.command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="semplan")
def cli() -> None:
    """What a stack of government work plans has in common, and what each one says alone.

    \b
    Example:
      semplan index semplan/data/sample_plans --out out/index
      semplan similar "课后服务" --index out/index
      semplan report --index out/index --out out/report
    """


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever `sys.stderr` is when a message comes (click's test runner swaps it)."""

    @property
    def stream(self):  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


def _show_library_notices() -> None:
    """The library logs its notices (the torch fallback, a first ONNX export); the CLI shows them on stderr."""
    library = logging.getLogger("semplan")
    if any(isinstance(handler, _StderrHandler) for handler in library.handlers):
        return
    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter("semplan: %(message)s"))
    library.addHandler(handler)
    library.setLevel(logging.INFO)


def main() -> None:
    _show_library_notices()
    try:
        cli.main(standalone_mode=False)
    except SemplanError as error:
        click.echo(f"Error: {error}", err=True)
        sys.exit(1)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.ClickException as error:
        error.show()
        sys.exit(error.exit_code)
    except click.exceptions.Exit as exit_:
        sys.exit(exit_.exit_code)
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(130)
