"""One training process of tests/training/test_distributed.py, run by torchrun (or called in the test's own
process as the single-process reference).

`python -m tests.training.distributed_worker SPEC_JSON` trains the tiny random generator and writes what this
process saw to OUT/rank-R.json:
- `fit`: LoRA through `workbench.training.generator.train_generator`'s loop; before every step the processes
  compare their trainable weights (they must be identical), and each records the examples it learned from.
  With `"sharding": "fsdp"` each records instead how many of the model's numbers it holds, and the adapter is
  saved as train_generator saves it;
- `dpo`: DPO through TRL (`train_preference`).
`cancel_at`: rank 0's progress callback cancels at that step (as a job's cancel does).
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch


def fit_run(spec: dict[str, Any]) -> dict[str, Any]:
    from workbench.corpus import load_demo_corpus
    from workbench.models.lora import LoraSettings
    from workbench.progress import Cancelled
    from workbench.training.checkpoints import trainable_state
    from workbench.training.data import pad_batch, tokenize_completions
    from workbench.training.distributed import current_world, gather, is_sharded, shared_run
    from workbench.training.examples import qa_examples
    from workbench.training.generator import (
        GeneratorOptions,
        apply_method,
        completion_token_loss,
        load_base,
        save_generator,
    )
    from workbench.training.loop import LoopSettings, fit

    world = current_world()
    loop = LoopSettings(epochs=2, batch_size=spec["batch_size"], learning_rate=5e-3, seed=0, device="cpu",
                        checkpoint_every=1, group_by_length=True, sharding=spec.get("sharding", "none"))
    options = GeneratorOptions(loop=loop, method="lora", model=spec["model"], max_length=48,
                               lora=replace(LoraSettings(), dropout=0.0))  # no dropout: the processes draw apart
    pairs = load_demo_corpus().qa_pairs[:spec["examples"]]
    seen: list[list[int]] = []
    result: dict[str, Any] = {"rank": world.rank, "seen": seen}
    with shared_run(Path(spec["output"]), {"kind": "generator", "source": "test", "train_examples": len(pairs),
                                           "eval_examples": 2, "options": {"method": "lora", "max_length": 48}},
                    spec.get("resume", False), "cpu") as run:
        torch.manual_seed(0)
        model, tokenizer = load_base(spec["model"], "cpu")
        examples = qa_examples(pairs, "Answer with a short phrase.")
        tokenized = [{**example, "id": i} for i, example in enumerate(tokenize_completions(examples, tokenizer, 48)[0])]
        model = apply_method(model, options)
        trainable = [p for p in model.parameters() if p.requires_grad]

        def collate(batch: list[dict]) -> dict[str, torch.Tensor]:
            return {**pad_batch(batch, tokenizer.pad_token_id), "example_ids": torch.tensor([e["id"] for e in batch])}

        def loss(wrapped: torch.nn.Module, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, int]:
            seen.append(batch.pop("example_ids").tolist())
            if is_sharded(wrapped):  # the processes hold different shards by design
                result["held"] = sum(p.to_local().numel() for p in wrapped.parameters())
                result["numbers"] = sum(p.numel() for p in wrapped.parameters())
            else:
                weights = torch.cat([p.detach().flatten() for p in trainable])
                assert all(torch.equal(weights, other) for other in gather(weights)), "the processes' weights differ"
            return completion_token_loss(wrapped, batch)

        def cancel(update: Any) -> None:
            if update.done == spec.get("cancel_at"):
                raise Cancelled("asked by the test")

        try:
            state = fit(model, [{"params": trainable}], tokenized, collate, [len(e["input_ids"]) for e in tokenized],
                        loop, run, lambda trained: {"eval_loss": 0.0}, resume=spec.get("resume", False),
                        progress_callback=cancel, compute_loss=loss)
        except Cancelled:
            result["cancelled"] = True
            return result
        result["curve"] = state.step_losses
        weights = trainable_state(model)  # whole, from the shards if sharded
        result["weights"] = {name: tensor.tolist() for name, tensor in weights.items()}
        result["steps"] = state.global_step
        if is_sharded(model) and run.writer:
            save_generator(model, tokenizer, options, run.path, weights)
    return result


def dpo_run(spec: dict[str, Any]) -> dict[str, Any]:
    from workbench.corpus import PreferenceExample, load_demo_corpus
    from workbench.preference.policy import PreferenceOptions, train_preference
    from workbench.progress import Cancelled
    from workbench.training.distributed import current_world
    from workbench.training.loop import LoopSettings

    pairs = load_demo_corpus().qa_pairs[:10]
    records = [PreferenceExample(p.question, p.answers[0], "I do not know.") for p in pairs]
    loop = LoopSettings(epochs=1, batch_size=2, learning_rate=1e-3, seed=0, device="cpu", checkpoint_every=1, max_steps=2)
    options = PreferenceOptions(loop=loop, method="dpo", model=spec["model"], max_length=96,
                                system_prompt="Answer with a short phrase.", max_new_tokens=4)

    def cancel(update: Any) -> None:
        if update.stage == "training" and update.done == spec.get("cancel_at"):
            raise Cancelled("asked by the test")

    result: dict[str, Any] = {"rank": current_world().rank}
    try:
        run = train_preference(records[:8], records[8:], options, Path(spec["output"]),
                               resume=spec.get("resume", False), progress=cancel)
    except Cancelled:
        result["cancelled"] = True
        return result
    result["run"] = str(run.path)
    return result


MODES = {"fit": fit_run, "dpo": dpo_run}


if __name__ == "__main__":
    spec = json.loads(sys.argv[1])
    outcome = MODES[spec["mode"]](spec)
    Path(spec["report"], f"rank-{os.environ.get('RANK', 0)}.json").write_text(json.dumps(outcome))
