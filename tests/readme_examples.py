"""The README's `semplan` commands, run against an index of the sample plans.

Two kinds of block are checked (tests/test_readme.py), so the README cannot drift from the code:

- **command lists** (```bash blocks): every line that starts with `semplan ` runs and must exit 0.
  `[--opt]` parts are optional and left out. A line is shown, not run, when it is a template (it
  holds `…` or an upper-case placeholder such as NAME or FILE) or when its comment says what it
  needs that the test does not have: `# … (needs your new-plan.docx)`.
- **output blocks** (plain ``` blocks whose first line starts with `$ semplan`): each `$` command
  runs and the lines under it must be the first lines of its output; a last line `…` says the
  output goes on. `scripts/readme-examples` rewrites these blocks from a fresh run, keeping how
  many lines each shows.

Paths: `out/index` is an index of `semplan/data/sample_plans` made by `semplan index`, other
`out/…` paths go to a scratch directory, and paths into the repository are made absolute.
Commands that change an index (`index`, `check`) run on a copy of it. The output is that of the
default model on its default backend, whose int8 kernels differ slightly between CPU kinds: the
figures are compared exactly on the CPU kind the blocks were generated on (named in the marker
comment before them) and only for their shape (same number of lines) on another.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)
PLACEHOLDER = re.compile(r"(?<![\w-])[A-Z]{3,}(?![\w-])|…")
MARKER = re.compile(r"<!-- readme-examples: generated on an? (\w+) CPU by scripts/readme-examples -->")
CHANGES_INDEX = ("index", "check")


@dataclass
class Example:
    """One `$ command` of an output block and the lines the README shows under it."""

    command: str
    shown: list[str] = field(default_factory=list)
    more: bool = False  # the README ends the lines with `…`


@dataclass
class OutputBlock:
    start: int  # character offsets of the block's body in the README
    end: int
    examples: list[Example]

    def render(self) -> str:
        lines = []
        for example in self.examples:
            lines += [f"$ {example.command}", *example.shown, *(["…"] if example.more else [])]
        return "".join(line + "\n" for line in lines)


def command_lines(text: str) -> list[tuple[str, str | None]]:
    """Each `semplan …` line of the bash blocks: (the line, why it is not run or None)."""
    found = []
    for match in FENCE.finditer(text):
        if match.group(1) != "bash":
            continue
        for line in match.group(2).splitlines():
            if not line.startswith("semplan "):
                continue
            command, comment = (re.split(r"\s+#\s", line, maxsplit=1) + [""])[:2]  # a clause id holds `#` too
            needs = re.search(r"\(needs [^)]*\)", comment)
            if needs:
                found.append((line, needs.group(0)))
            elif PLACEHOLDER.search(command):
                found.append((line, "a template"))
            else:
                found.append((line, None))
    return found


def output_blocks(text: str) -> list[OutputBlock]:
    blocks = []
    for match in FENCE.finditer(text):
        body = match.group(2)
        if match.group(1) or not body.startswith("$ semplan "):
            continue
        examples: list[Example] = []
        for line in body.splitlines():
            if line.startswith("$ "):
                examples.append(Example(line[2:]))
            elif line == "…":
                examples[-1].more = True
            else:
                examples[-1].shown.append(line)
        blocks.append(OutputBlock(match.start(2), match.end(2), examples))
    return blocks


def generated_on(text: str) -> str | None:
    found = MARKER.search(text)
    return found.group(1) if found else None


class Runner:
    """Runs README commands through `run(argv) → (exit code, stdout, stderr)` (the real entry point), each
    command once per index state."""

    def __init__(self, run: Callable[..., tuple[int, str, str]], work: Path):
        self.run = run
        self.work = work
        self.index = work / "index"
        self.results: dict[tuple[str, ...], tuple[int, str, str]] = {}
        self.copies = 0

    def build_index(self) -> None:
        code, _, err = self.run("index", str(REPO / "semplan/data/sample_plans"), "--out", str(self.index))
        assert code == 0, err

    def argv(self, command: str) -> list[str]:
        command = re.split(r"\s+#\s", command, maxsplit=1)[0]
        command = re.sub(r"\s\[[^\]]*\]", "", command)
        words = shlex.split(command)
        assert words[0] == "semplan", command
        changes = next(word for word in words[1:] if not word.startswith("-")) in CHANGES_INDEX  # after --quiet
        index = self.index
        if changes:
            self.copies += 1
            index = self.work / f"index-copy-{self.copies}"
            shutil.copytree(self.index, index)
        argv = []
        for word in words[1:]:
            if word == "out/index":
                word = str(index)
            elif word.startswith("out/"):
                word = str(self.work / word)
            elif "/" in word and (REPO / word).exists():  # a path into the repository, not a word like `models`
                word = str(REPO / word)
            argv.append(word)
        return argv

    def __call__(self, command: str) -> tuple[int, str, str]:
        argv = self.argv(command)
        key = tuple(argv)
        if key not in self.results:
            before = os.environ.pop("COLUMNS", None)
            try:
                code, out, err = self.run(*argv)
            finally:
                if before is not None:
                    os.environ["COLUMNS"] = before
            self.results[key] = (code, self.as_shown(out), self.as_shown(err))
        return self.results[key]

    def as_shown(self, text: str) -> str:
        """Output with this run's paths written as the README writes them (`out/index`, `tests/data/…`)."""
        text = re.sub(re.escape(str(self.work)) + r"/index(-copy-\d+)?", "out/index", text)
        return text.replace(str(self.work) + "/", "out/").replace(str(REPO) + "/", "")


def regenerate(text: str, runner: Runner, cpu: str) -> str:
    """The README with every output block rewritten from `runner`, each example keeping its number of lines."""
    pieces, position = [], 0
    for block in output_blocks(text):
        for example in block.examples:
            code, out, err = runner(example.command)
            if code != 0:
                raise RuntimeError(f"`{example.command}` failed: {err.strip()}")
            lines = [line.rstrip() for line in out.splitlines()]
            example.more = len(lines) > len(example.shown)
            example.shown = lines[: len(example.shown)]
        pieces += [text[position : block.start], block.render()]
        position = block.end
    pieces.append(text[position:])
    updated = "".join(pieces)
    marker = f"<!-- readme-examples: generated on a {cpu} CPU by scripts/readme-examples -->"
    return MARKER.sub(marker, updated) if MARKER.search(updated) else updated
