"""`wb estimate`: memory, time and cost of finetuning and serving before committing compute, a pilot
that measures real steps beside the estimate, and the retrieve-or-finetune advisor (docs/estimate.md).

`method_names()` is what `estimate.method` accepts: every supervised generator method of the registry
(workbench.models.methods) and the estimator's own profiles (`architecture.METHODS` defines each).
Importing this package loads no torch, so `wb --help` stays fast."""

from workbench.config import DEVICE_NAMES
from workbench.models.methods import generator_methods

PROFILES = ("head", "last-n", "none")  # beyond the generator methods: output layer, last blocks, RAG only


def method_names() -> tuple[str, ...]:
    return (*(entry.name for entry in generator_methods() if entry.objective == "supervised"), *PROFILES)


__all__ = ["DEVICE_NAMES", "PROFILES", "method_names"]
