"""Crash safety and exclusive writers, with real processes: a writer SIGKILLed in the middle of saving
leaves the previous version loadable, and a second writer is turned away while the first holds the lock."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from workbench.indexing import IndexLocked, build_index, open_index

REPO = Path(__file__).resolve().parents[2]


def start(code: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def wait_for(process: subprocess.Popen, line: str) -> None:
    for output in process.stdout:
        if output.strip() == line:
            return
    pytest.fail(f"child exited before printing {line!r}: {process.stderr.read()}")


def test_writer_killed_mid_save_leaves_previous_version(few_documents, config):
    index = build_index("crash", few_documents[:4], config=config)
    # The child adds documents; it announces when the new version's vector file is on disk (the
    # pointer still names the old version) and pauses there so the parent can kill it at that moment.
    child = start(f"""
        import time
        from workbench.corpus import Document
        from workbench.indexing import open_index, storage
        write = storage._write_synced
        def write_then_pause(file, data):
            write(file, data)
            if file.name == "vectors.faiss":
                print("mid-write", flush=True)
                time.sleep(60)
        storage._write_synced = write_then_pause
        open_index("crash", {str(config.index.root)!r}).add([Document("extra", "An extra document.")])
    """)
    wait_for(child, "mid-write")
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    survivor = open_index("crash", config.index.root)
    assert survivor.version == index.version and "extra" not in survivor.document_ids()
    assert any(p.name.startswith(".tmp-") for p in index.path.iterdir())  # the half-written version
    survivor.add(few_documents[4:5])  # the next writer cleans it up and carries on
    assert not any(p.name.startswith(".tmp-") for p in index.path.iterdir())
    assert len(open_index("crash", config.index.root).document_ids()) == 5


def test_second_writer_is_turned_away_while_the_first_holds_the_lock(few_documents, config):
    index = build_index("locked", few_documents[:2], config=config)
    child = start(f"""
        import time
        from pathlib import Path
        from workbench.indexing import storage
        with storage.write_lock(Path({str(index.path)!r})):
            print("locked", flush=True)
            time.sleep(60)
    """)
    try:
        wait_for(child, "locked")
        with pytest.raises(IndexLocked, match=rf"being written by another process \(pid {child.pid}\)"):
            index.add(few_documents[2:3])
        with pytest.raises(IndexLocked):
            build_index("locked", few_documents, config=config)
    finally:
        child.kill()
        child.wait()
    assert index.add(few_documents[2:3]).added == 1  # the lock died with its holder
