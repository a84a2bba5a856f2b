"""`wb ask` and `wb eval qa` end to end (real model, 4 answer tokens)."""

from __future__ import annotations

import json
import shutil

from workbench.cli.main import main
from workbench.evaluation.metrics import exact_match, token_f1


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_ask_all_answers_with_every_strategy_side_by_side(capsys, small_index, real_lora_adapters):
    _, root = small_index
    question = "Who ruled the duchy of Normandy?"
    common = ["--set", f"index.root={root}", "--max-new-tokens", "4", "--index", "normans"]
    code, out, _ = _run(capsys, "ask", question, "--strategy", "all", "--json", "--adapter",
                        f"alpha={real_lora_adapters[0]}", "--adapter", str(real_lora_adapters[1]), *common)
    assert code == 0
    results = json.loads(out)
    assert [r["strategy"] for r in results] == ["zero-shot", "few-shot", "rag", "finetuned[alpha]",
                                                "finetuned[beta]", "rag+finetuned[alpha]", "rag+finetuned[beta]"]
    assert all("answer" in r and r["answer"]["question"] == question for r in results)

    # Without an adapter the finetuned strategies fail, in their own column; the others still answer.
    code, out, _ = _run(capsys, "ask", question, "--strategy", "all", "--json", *common)
    assert code == 0
    errors = {r["strategy"]: r["error"] for r in json.loads(out) if "error" in r}
    assert set(errors) == {"finetuned", "rag+finetuned"} and "needs an adapter" in errors["finetuned"]
    code, out, _ = _run(capsys, "ask", question, "--strategy", "zero-shot,finetuned", *common)
    assert code == 0
    assert out.splitlines()[0].split() == ["zero-shot", "finetuned"]  # side by side, the error in its column
    assert out.count("error:") == 1


def test_ask_all_isolates_a_strategy_that_breaks(capsys, small_index, real_lora_adapters, tmp_path):
    """An adapter whose weights file is garbage: a clear error in its column, the others answer."""
    _, root = small_index
    broken = tmp_path / "broken"
    shutil.copytree(real_lora_adapters[0], broken)
    (broken / "adapter_model.safetensors").write_bytes(b"not safetensors at all")
    code, out, _ = _run(capsys, "ask", "Who ruled the duchy of Normandy?", "--strategy", "zero-shot,finetuned",
                        "--adapter", f"broken={broken}", "--max-new-tokens", "4", "--json",
                        "--set", f"index.root={root}")
    assert code == 0
    results = {r["strategy"]: r for r in json.loads(out)}
    assert "answer" in results["zero-shot"]
    assert f"adapter {broken}: cannot be loaded" in results["finetuned[broken]"]["error"]  # the column names it


def test_ask_one_strategy_streams_and_reports_errors_clearly(capsys, config):
    code, out, _ = _run(capsys, "ask", "Where is Normandy?", "--max-new-tokens", "4")
    assert code == 0 and "smollm2-135m-instruct:" in out and "tokens in" in out
    code, _, err = _run(capsys, "ask", "  ")
    assert code == 2 and "wb: error: the question is empty" in err
    code, _, err = _run(capsys, "ask", "Where?", "--strategy", "rag", "--set", f"index.root={config.index.root}",
                        "--index", "missing")
    assert code == 2 and "missing" in err


def test_eval_qa_scores_strategies_and_saves_predictions(capsys, tmp_path, demo_corpus):
    data = tmp_path / "qa.jsonl"
    pairs = demo_corpus.qa_pairs[:8]
    data.write_text("".join(json.dumps({"id": p.id, "question": p.question, "answers": list(p.answers)}) + "\n"
                            for p in pairs))
    output = tmp_path / "out"
    code, out, _ = _run(capsys, "eval", "qa", "--data", str(data), "--strategies", "zero-shot,few-shot",
                        "--limit", "3", "--shots", "2", "--max-new-tokens", "4", "--output", str(output), "--json")
    assert code == 0
    scores = json.loads(out)
    assert [s["strategy"] for s in scores] == ["zero-shot", "few-shot"]
    assert all(s["questions"] == 3 and 0 <= s["token_f1"] <= 1 for s in scores)
    lines = [json.loads(line) for line in (output / "predictions-few-shot.jsonl").read_text().splitlines()]
    assert [line["id"] for line in lines] == [p.id for p in pairs[:3]]
    for line in lines:
        assert line["token_f1"] == token_f1(line["prediction"], line["reference"])
        assert line["exact_match"] == exact_match(line["prediction"], line["reference"])
        # demonstrations come from the 5 pairs not evaluated
        assert {d["id"] for d in line["answer"]["demonstrations"]} <= {p.id for p in pairs[3:]}
    assert json.loads((output / "scores.json").read_text()) == scores

    code, _, err = _run(capsys, "eval", "qa", "--data", str(tmp_path / "absent.jsonl"))
    assert code == 2 and "absent.jsonl: file not found" in err
