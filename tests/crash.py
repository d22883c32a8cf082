"""Kill a child process at a named fault point (semplan/_faults.py): no timing, on any machine."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path


def kill_at_fault_point(command: list[str], point: str, marker: Path, env: dict[str, str] | None = None) -> str:
    """Run `command` until it reaches `point`, SIGKILL it there, and return its stderr.

    The child writes `marker` when it reaches the point and then blocks, so the kill lands at
    exactly that point however fast or busy the machine is. A child that ends without reaching the
    point fails the test with its stderr.
    """
    env = {**(env if env is not None else os.environ), "SEMPLAN_FAULT_AT": point, "SEMPLAN_FAULT_MARKER": str(marker)}
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        while not marker.exists():
            try:
                process.wait(timeout=0.05)
            except subprocess.TimeoutExpired:
                continue
            raise AssertionError(
                f"the process ended (exit {process.returncode}) before {point}: "
                + process.stderr.read().decode(errors="replace")[-2000:]
            )
        assert marker.read_text() == point.partition(":")[0]
        process.send_signal(signal.SIGKILL)
        _, stderr = process.communicate()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == -signal.SIGKILL
    return stderr.decode(errors="replace")
