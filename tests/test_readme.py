"""The README's Python API block runs as written."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

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
