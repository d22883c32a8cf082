"""The `semplan` command: a thin click layer over the Python API.

Each command group lives in its own module of this package and exposes `command`;
modules are imported only when their command runs, so `semplan --help` stays fast.
"""

from __future__ import annotations

import importlib
import sys
import unicodedata
from typing import NoReturn

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
    "check": "check",
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
@click.option("--quiet", "-q", is_flag=True, help="Nothing on stderr but errors: no progress bar, no notices.")
@click.option("--verbose", "-v", is_flag=True, help="Also show the library's log (the `semplan` logger's DEBUG and INFO).")
def cli(quiet: bool, verbose: bool) -> None:
    """What a stack of government work plans has in common, and what each one says alone.

    A long command shows one progress bar on stderr when stderr is a terminal
    (SEMPLAN_PROGRESS=1 forces it, 0 turns it off).

    \b
    Example:
      semplan index semplan/data/sample_plans --out out/index
      semplan similar "课后服务" --index out/index
      semplan report --index out/index --out out/report
      semplan --quiet index plans/ --out out/index
    """
    from semplan.cli._progress import configure

    if quiet and verbose:
        raise click.UsageError("choose one of --quiet and --verbose")
    configure(quiet=quiet, verbose=verbose)


_HIDDEN = {"\u2028", "\u2029", *map(chr, range(0x202A, 0x202F)), *map(chr, range(0x2066, 0x206A))}


def shown(text: str) -> str:
    """`text` for a terminal line: control characters (newlines, escape sequences), line separators
    and bidi overrides escaped, so a file name or a plan's text cannot break the line or rewrite
    the terminal."""
    return "".join(
        ch.encode("unicode_escape").decode("ascii") if unicodedata.category(ch) == "Cc" or ch in _HIDDEN else ch
        for ch in text
    )


def error_line(message: str) -> str:
    """`Error: message` on one line (messages name files: see `shown`)."""
    return f"Error: {shown(message)}"


def _fail(message: str) -> NoReturn:
    click.echo(error_line(message), err=True)
    sys.exit(1)


def main() -> None:
    """The `semplan` entry point: every error, a usage error too, is one `Error: …` line and exit status 1."""
    from semplan.cli._progress import show_library_notices

    show_library_notices()
    try:
        # Without standalone mode click returns `ctx.exit(n)`'s code instead of exiting with it.
        code = cli.main(prog_name="semplan", standalone_mode=False)
        if isinstance(code, int) and code:
            sys.exit(code)
    except SemplanError as error:
        _fail(str(error))
    except click.exceptions.NoArgsIsHelpError as error:  # `semplan`, `semplan models`: the help is the answer
        error.show()
        sys.exit(1)
    except click.UsageError as error:
        command_path = error.ctx.command_path if error.ctx is not None else "semplan"
        _fail(f"{error.format_message()} (see: {command_path} --help)")
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.ClickException as error:
        _fail(error.format_message())
    except click.exceptions.Exit as exit_:
        sys.exit(exit_.exit_code)
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(130)
