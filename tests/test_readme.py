"""The README runs as written: its Python API block, every `semplan` command it lists, and the output it shows."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", (REPO / "README.md").read_text(encoding="utf-8"), re.S)


def test_python_api_block_runs_as_written(tmp_path, e5_encoder):
    (block,) = python_blocks()
    # The block's relative paths are the repository's; the index it makes goes into tmp_path.
    (tmp_path / "semplan").mkdir()
    (tmp_path / "semplan" / "data").symlink_to(REPO / "semplan" / "data")
    script = block + (
        "\nassert hits and hits[0].plan_id and len(vectors) == len(clauses) and analysis.priorities"
        "\nassert all(hit.plan_id != 'daqing-2021' for hit in echoes)\nprint('ok')\n"
    )
    env = {**os.environ, "SEMPLAN_CACHE_DIR": str(Path(e5_encoder.cache_path).parent), "PYTHONPATH": str(REPO)}
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("ok")


# ------------------------------------------------------------------ the README's commands (tests/readme_examples.py)

# Commands whose text output is fitted to the width (100 columns off a terminal).
FITTED = ("similar", "cluster", "compare", "plans", "trends")


@pytest.fixture(scope="module")
def readme_runner(tmp_path_factory, cache_env):
    from cli_runner import semplan
    from readme_examples import Runner

    runner = Runner(semplan, tmp_path_factory.mktemp("readme"))
    runner.build_index()
    return runner


def test_every_semplan_line_of_the_command_lists_runs(readme_runner):
    """Every `semplan` line of a ```bash block exits 0 on the sample index, unless marked "(needs …)" or a template;
    the text output of the fitted commands stays within 100 columns."""
    from readme_examples import command_lines

    from semplan.normalize import display_width

    lines = command_lines((REPO / "README.md").read_text(encoding="utf-8"))
    runnable = [line for line, reason in lines if reason is None]
    assert len(runnable) >= 12, "the README's command list is checked"
    for line in runnable:
        code, out, err = readme_runner(line)
        assert code == 0, f"README: `{line}` failed: {err.strip()[-500:]}"
        if line.split()[1] in FITTED and not {"--csv", "--json"} & set(line.split()):
            assert max((display_width(row) for row in out.splitlines()), default=0) <= 100, line
    skipped = {line.split("  ")[0].strip(): reason for line, reason in lines if reason is not None}
    assert all(reason == "a template" or reason.startswith("(needs ") for reason in skipped.values())


def test_readme_output_blocks_are_what_the_commands_print(readme_runner):
    """The README's `$ semplan …` blocks showed 86 priorities, 8 shared by all, when the command printed 92 and 6.
    Exact on the CPU kind the blocks were generated on; elsewhere (another int8 kernel) the shape only."""
    from golden import cpu_kind
    from readme_examples import generated_on, output_blocks

    text = (REPO / "README.md").read_text(encoding="utf-8")
    examples = [example for block in output_blocks(text) for example in block.examples]
    assert len(examples) >= 6 and generated_on(text)
    exact = generated_on(text) == cpu_kind()
    for example in examples:
        code, out, err = readme_runner(example.command)
        assert code == 0, f"README: `{example.command}` failed: {err.strip()[-500:]}"
        lines = [line.rstrip() for line in out.splitlines()]
        hint = f"README: `$ {example.command}` shows other output; run scripts/readme-examples"
        assert example.more == (len(lines) > len(example.shown)), hint
        if exact:
            assert example.shown == lines[: len(example.shown)], hint
        else:
            assert len(lines) >= len(example.shown), hint


def test_readme_command_parsing():
    from readme_examples import command_lines, output_blocks

    text = (
        "```bash\nsemplan similar --clause a-2021#3 --index out/index   # a comment with # in it\n"
        "semplan cluster --index out/index [--json]\nsemplan models build NAME\n"
        "semplan index x.docx --out out/index   # add it (needs your x.docx)\nnot semplan\n```\n"
        "```\n$ semplan plans --index out/index\nline one\n…\n$ semplan cluster --index out/index\n```\n"
    )
    assert command_lines(text) == [
        ("semplan similar --clause a-2021#3 --index out/index   # a comment with # in it", None),
        ("semplan cluster --index out/index [--json]", None),
        ("semplan models build NAME", "a template"),
        ("semplan index x.docx --out out/index   # add it (needs your x.docx)", "(needs your x.docx)"),
    ]
    (block,) = output_blocks(text)
    assert [(e.command, e.shown, e.more) for e in block.examples] == [
        ("semplan plans --index out/index", ["line one"], True), ("semplan cluster --index out/index", [], False)]
    assert block.render() == "$ semplan plans --index out/index\nline one\n…\n$ semplan cluster --index out/index\n"
