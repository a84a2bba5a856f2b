"""Where an index's chunks are embedded (`index.executor`): in this process, or on a Ray cluster.

Either way an executor turns the chunk texts into one normalized vector per text, in the order given; the
index then adds them to FAISS here, in the driving process. With `ray`, Ray Data streams the texts through
a fixed pool of actors, each holding its own copy of the embedder (loaded once, then batch after batch).
Ray retries the batches of an actor that dies (its default for actor pools: the actor is restarted and
its unfinished batches run again), and every vector comes back keyed by its text's position, so the
result is complete and in order whatever finished where and when.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from workbench.config import IndexConfig
from workbench.indexing.embedding import embed_texts, embedder_dimension
from workbench.indexing.errors import IndexBuildError, IndexingError
from workbench.models import load_embedder
from workbench.progress import ProgressCallback, start_stage

# (texts, embedder, batch size, progress) -> float32 rows, L2-normalized, in the texts' order
EmbedChunks = Callable[[list[str], str, int, ProgressCallback | None], np.ndarray]

SCALE_EXTRA = "pip install 'workbench[scale]'"


@dataclass(frozen=True)
class RayEmbedding:
    """Embeds on a Ray cluster: the one at `address` ($RAY_ADDRESS when None), else a local one of
    `actors * cpus_per_actor` CPUs started on first use and kept for the rest of the process."""

    address: str | None
    actors: int
    cpus_per_actor: int

    @classmethod
    def from_config(cls, config: IndexConfig) -> RayEmbedding:
        try:
            import ray.data  # noqa: F401
        except ImportError:
            raise IndexingError(f"index.executor is ray, but Ray Data is not installed: {SCALE_EXTRA} "
                                "(or use --set index.executor=local)") from None
        return cls(config.ray_address, config.ray_actors, config.ray_cpus_per_actor)

    def __call__(self, texts: list[str], embedder: str, batch_size: int = 64,
                 progress: ProgressCallback | None = None) -> np.ndarray:
        """Each actor call embeds one batch of `batch_size` texts; `progress` hears of each batch back
        (stage "embedding", counted in texts)."""
        import ray.data

        vectors = np.zeros((len(texts), embedder_dimension(embedder)), dtype=np.float32)
        if not texts:
            return vectors
        self._connect()
        dataset = ray.data.from_items([{"row": row, "text": text} for row, text in enumerate(texts)])
        dataset.context.enable_progress_bars = False  # progress goes through our callback instead
        embedded = dataset.map_batches(
            EmbeddingActor, fn_constructor_args=(embedder, batch_size), batch_size=batch_size,
            compute=ray.data.ActorPoolStrategy(size=self.actors), num_cpus=self.cpus_per_actor)
        returned = np.zeros(len(texts), dtype=bool)
        embedding = start_stage(progress, "embedding", len(texts))
        for batch in embedded.iter_batches(batch_size=None, batch_format="numpy"):
            rows = batch["row"]
            new = int((~returned[rows]).sum())
            vectors[rows], returned[rows] = batch["vector"], True
            embedding.advance(new)
        if not returned.all():
            raise IndexBuildError(f"the Ray cluster returned {int(returned.sum())} of {len(texts)} chunk vectors; "
                                  "nothing was written: build again, or use --set index.executor=local")
        return vectors

    def _connect(self) -> None:
        """Join the cluster named by index.ray_address or $RAY_ADDRESS, else start a local one (no
        dashboard, no usage report). A connection this process already holds is used as it is."""
        import ray

        if ray.is_initialized():
            return
        address = self.address or os.environ.get("RAY_ADDRESS")
        if address:
            ray.init(address=address, log_to_driver=False)
            return
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # read by the processes ray.init starts
        ray.init(address="local", num_cpus=self.actors * self.cpus_per_actor, include_dashboard=False,
                 log_to_driver=False)


class EmbeddingActor:
    """A Ray Data actor: loads the embedder once, then embeds the batches it is given (rows keep their
    position in the texts, so the driver puts each vector back in its place)."""

    def __init__(self, embedder: str, batch_size: int):
        load_embedder(embedder)
        self.embedder, self.batch_size = embedder, batch_size

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {"row": batch["row"], "vector": embed_texts(list(batch["text"]), self.embedder, self.batch_size)}


def local_embedding(config: IndexConfig) -> EmbedChunks:
    return embed_texts


EXECUTORS: dict[str, Callable[[IndexConfig], EmbedChunks]] = {
    "local": local_embedding,
    "ray": RayEmbedding.from_config,
}


def chunk_embedding(config: IndexConfig) -> EmbedChunks:
    """The embedding function `index.executor` names (a clear error when its packages are missing)."""
    return EXECUTORS[config.executor](config)
