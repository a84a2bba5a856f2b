"""`wb estimate`: memory, time and cost of finetuning and serving before committing compute, a pilot
that measures real steps beside the estimate, and the retrieve-or-finetune advisor (docs/estimate.md).

The names below are what the config and the CLI accept; kept free of torch so `wb --help` stays fast
(tests/estimate checks they match the registries in `architecture.METHODS` and `devices.GPUS`)."""

METHOD_NAMES = ("full", "lora", "qlora", "prompt-tuning", "prefix-tuning", "ia3", "adapter", "head", "last-n", "none")
DEVICE_NAMES = ("cpu", "t4", "a10", "l4", "a100-40gb", "a100-80gb", "h100", "h200")
