"""workbench: decide, on your own documents, whether to retrieve or to finetune."""

import logging
import os

# Offline by default: no machine here reaches a model hub, and a silent download is a surprise.
# Set WORKBENCH_ONLINE=1 to let Hugging Face libraries download models.
if os.environ.get("WORKBENCH_ONLINE") != "1":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

# bitsandbytes (imported with peft) logs at import, on CPUs with AVX512-BF16, that an optional inference kernel
# fetched from the Hugging Face Hub is missing; training does not use it (docs/training.md#qlora). Only that
# message is dropped, before any workbench command would print it.
logging.getLogger("bitsandbytes.backends.cpu.ops").addFilter(lambda record: "gemm_4bit_forward" not in record.getMessage())

__version__ = "0.1.0"
