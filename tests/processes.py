"""Running `wb` in a subprocess, and killing it the hard way, for the resume-after-SIGKILL tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

WB = [sys.executable, "-c", "import sys; from workbench.cli.main import main; sys.exit(main())"]


def _environment() -> dict[str, str]:
    """This process's environment as it is now (the suite's fixtures set $WORKBENCH_CONFIG), without progress bars."""
    return {**os.environ, "TQDM_DISABLE": "1"}


def kill_at_first_checkpoint(command: list[str], run: Path, pattern: str, timeout: float = 300) -> None:
    """Start `command` and SIGKILL it as soon as `run/checkpoints/<pattern>` exists; fails the test, with the
    end of the command's log, if the run ends first or finishes before it could be killed."""
    log = run.with_name(f"{run.name}.log")
    with log.open("wb") as output:
        # a session of its own: the kill takes its whole process group (torchrun's processes too), as a crash would
        process = subprocess.Popen(command, env=_environment(), stdout=subprocess.DEVNULL, stderr=output,
                                   start_new_session=True)
    deadline = time.monotonic() + timeout
    while not list((run / "checkpoints").glob(pattern)):
        assert process.poll() is None, f"the run ended before its first checkpoint:\n{log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, f"no checkpoint within {timeout:.0f} s"
        time.sleep(0.02)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert not (run / "COMPLETE").exists(), "the run finished before it could be killed: make it longer"
