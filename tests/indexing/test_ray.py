"""`index.executor: ray`: the chunks embedded by a pool of two Ray actors on a local 2-CPU cluster (started
once for the module, by the first build) make the same index as a local build, also when an actor is killed
while it embeds; without Ray the setting fails at once, naming the extra to install.

The Ray builds take about half a minute each on 2 cores: most of it is each actor importing
sentence-transformers and loading the embedder."""

from __future__ import annotations

import signal
import sys

import numpy as np
import psutil
import pytest

from workbench.config import load_config, setting_choices
from workbench.indexing import IndexingError, build_index
from workbench.indexing.executors import EXECUTORS, EmbeddingActor
from workbench.session import Workbench

# 300-character chunks in batches of 4: a few dozen chunks, a dozen batches, so a build is many actor calls.
SMALL_BATCHES = ["chunking.chunk_size=300", "index.embed_batch_size=4"]


def _config(root, *overrides: str):
    return load_config(overrides=[f"index.root={root}", *SMALL_BATCHES, *overrides])


@pytest.fixture(scope="module")
def ray_cluster():
    """Ray, disconnected at the end of the module; RAY_ADDRESS unset, so the first build starts a local cluster."""
    ray = pytest.importorskip("ray", reason="the Ray executor's tests need ray[data] (pip install -e '.[dev]')")
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("RAY_ADDRESS", raising=False)
        yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def local_index(few_documents, tmp_path_factory):
    return build_index("local", few_documents, config=_config(tmp_path_factory.mktemp("local")))


def _assert_same_index(index, expected) -> None:
    """Same chunks under the same ids, vectors equal up to float rounding, and the same search results."""
    assert index.chunks() == expected.chunks()
    ids = expected.store.ids()
    assert np.array_equal(np.sort(index.store.ids()), np.sort(ids)) and index.store.ntotal == len(ids)
    assert np.allclose(index.store.vectors(ids), expected.store.vectors(ids), atol=1e-5)
    queries = [chunk.text[:80] for _, chunk in expected.chunks()[::4]] + ["Who founded the university?"]
    for hybrid in (False, True):
        found = [[hit.chunk_id for hit in hits] for hits in index.search_many(queries, k=5, hybrid=hybrid)]
        assert found == [[hit.chunk_id for hit in hits] for hits in expected.search_many(queries, k=5, hybrid=hybrid)]


@pytest.mark.long
def test_a_ray_build_equals_a_local_build(ray_cluster, local_index, few_documents, tmp_path):
    reports = []
    index = build_index("on-ray", few_documents, config=_config(tmp_path, "index.executor=ray"), progress=reports.append)
    assert ray_cluster.cluster_resources()["CPU"] == 2  # the local cluster it started: 2 actors of 1 CPU
    _assert_same_index(index, local_index)
    done = [report.done for report in reports if report.stage == "embedding"]
    chunks = len(local_index.chunks())
    assert done[0] == 0 and done[-1] == chunks and done == sorted(done) and len(done) > 3  # batch by batch


def _busy_embedding_actors() -> list[psutil.Process]:
    """This test's actors running a batch right now: Ray titles an actor's process `ray::<actor>.<method>`."""
    busy = []
    for process in psutil.Process().children(recursive=True):
        try:
            title = " ".join(process.cmdline()).strip()
        except psutil.Error:  # gone in between
            continue
        if title.startswith(f"ray::MapWorker(MapBatches({EmbeddingActor.__name__}))") and title.endswith(".submit"):
            busy.append(process)
    return busy


@pytest.mark.long
def test_an_actor_killed_while_embedding_loses_no_chunk(ray_cluster, local_index, few_documents, tmp_path):
    killed = []

    def kill_a_busy_actor(report) -> None:
        """Once some batches are back and others are not: SIGKILL an actor in the middle of a batch."""
        if killed or report.stage != "embedding" or not 0 < report.done < report.total:
            return
        for actor in _busy_embedding_actors()[:1]:
            actor.send_signal(signal.SIGKILL)
            killed.append(report.done)

    index = build_index("killed", few_documents, config=_config(tmp_path, "index.executor=ray"),
                        progress=kill_a_busy_actor)
    assert killed and killed[0] < len(local_index.chunks()), "no actor was embedding between two batches"
    _assert_same_index(index, local_index)  # the lost batch ran again, once: nothing missing, nothing twice
    assert index.last_update.chunks_embedded == len(local_index.chunks())


def test_executor_ray_without_ray_names_the_extra(monkeypatch, few_documents, local_index, tmp_path):
    monkeypatch.setitem(sys.modules, "ray", None)  # as where ray is not installed: `import ray` raises ImportError
    missing = r"Ray Data is not installed: pip install 'workbench\[scale\]'"
    with pytest.raises(IndexingError, match=missing):
        build_index("no-ray", few_documents, config=_config(tmp_path, "index.executor=ray"))
    assert not (tmp_path / "no-ray").exists()
    (tmp_path / "new.txt").write_text("Zebras mostly eat grasses.", encoding="utf-8")
    session = Workbench(_config(local_index.path.parent, "index.executor=ray"))  # `wb index add`, on Ray
    with pytest.raises(IndexingError, match=missing):
        session.add_documents(local_index.name, [tmp_path / "new.txt"])
    assert session.open_index(local_index.name).version == local_index.version  # nothing written


def test_every_executor_setting_has_an_executor():
    assert set(EXECUTORS) == set(setting_choices("index.executor"))
