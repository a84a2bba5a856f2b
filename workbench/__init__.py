"""workbench: decide, on your own documents, whether to retrieve or to finetune."""

import os

# Offline by default: no machine here reaches a model hub, and a silent download is a surprise.
# Set WORKBENCH_ONLINE=1 to let Hugging Face libraries download models.
if os.environ.get("WORKBENCH_ONLINE") != "1":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

__version__ = "0.1.0"
