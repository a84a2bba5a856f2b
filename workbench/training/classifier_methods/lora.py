"""LoRA adapters (peft) in the backbone, and the head, train; the adapter is saved as RUN_DIR/adapter/."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from workbench.training.classifier_methods import ClassifierMethod

if TYPE_CHECKING:
    from workbench.training.classifier import ClassifierOptions, TextClassifier


def configure(model: TextClassifier, options: ClassifierOptions) -> None:
    from peft import get_peft_model

    from workbench.models.lora import lora_config

    model.backbone = get_peft_model(model.backbone, lora_config(options.lora, "FEATURE_EXTRACTION"))


def save(model: TextClassifier, folder: Path) -> list[Path]:
    from workbench.training.classifier import ADAPTER_DIR

    model.backbone.save_pretrained(folder / ADAPTER_DIR)
    return [folder / ADAPTER_DIR]


def load(model: TextClassifier, folder: Path, options: ClassifierOptions) -> None:
    from peft import PeftModel
    from safetensors import SafetensorError

    from workbench.models.adapter_files import PEFT_WEIGHTS
    from workbench.runfolder import damaged
    from workbench.training.classifier import ADAPTER_DIR

    try:
        model.backbone = PeftModel.from_pretrained(model.backbone, folder / ADAPTER_DIR)
    except SafetensorError as exc:
        raise damaged(folder / ADAPTER_DIR / PEFT_WEIGHTS, exc) from None


METHOD = ClassifierMethod(
    name="lora",
    description="LoRA: low-rank adapters (peft) in the backbone, and the head, train (training.lora)",
    configure=configure, save=save, load=load,
)
