"""`wb estimate`: memory, time and cost of finetuning and serving before committing compute, a pilot
that measures real steps beside the estimate, and the retrieve-or-finetune advisor (docs/estimate.md).

The names below are what the config and the CLI accept; kept free of torch so `wb --help` stays fast
(tests/estimate checks they match the registries in `architecture.METHODS` and `devices.GPUS`)."""

from workbench.config import DEVICE_NAMES, METHOD_NAMES

__all__ = ["DEVICE_NAMES", "METHOD_NAMES"]
