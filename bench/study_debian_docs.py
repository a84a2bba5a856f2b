"""The worked example of `wb study`: a real manual set that is not SQuAD, installed from Debian's package
registry, studied end to end, its report committed.

The documents (bench/data/debian-docs/README.md has their packages, versions and licenses): libffi's
HTML manual (libffi-dev, Expat), "Users and Groups in the Debian System" (base-passwd, GPL-2) and the
Shared MIME-info Database specification as PDF (shared-mime-info, GPL-2+). They are copied from
/usr/share/doc into a folder (installed on this project's machines; `apt-get install libffi-dev
base-passwd shared-mime-info` elsewhere) and studied with the default settings on SmolLM2-135M: questions
written from them, both split designs, every strategy, facts changed, and the 36 questions written by
hand in bench/data/debian-docs/human-questions.jsonl asked too, so the report says whether the verdicts
on generated questions hold on human ones.

    .venv/bin/python bench/study_debian_docs.py [--work DIR] [--smoke]

Writes bench/results/experiments/debian-docs/ (study.md, study.json, study.png, the questions, and each
design's experiment report with its per-question predictions). About an hour on 2 CPU cores: run it
on a quiet machine (`uptime`), nothing else CPU-heavy at the same time.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from workbench.config import load_config  # noqa: E402
from workbench.ondisk import write_json  # noqa: E402
from workbench.progress import ProgressUpdate  # noqa: E402
from workbench.requests import StudyRequest  # noqa: E402
from workbench.session import Workbench  # noqa: E402

DOC = Path("/usr/share/doc")
SOURCES = {"libffi": sorted((DOC / "libffi-dev" / "html").glob("*.html")),
           "base-passwd": [DOC / "base-passwd" / "users-and-groups.html"],
           "shared-mime-info": [DOC / "shared-mime-info" / "shared-mime-info-spec.pdf"]}
HUMAN = ROOT / "bench" / "data" / "debian-docs" / "human-questions.jsonl"
RESULTS = ROOT / "bench" / "results" / "experiments" / "debian-docs"


def assemble(folder: Path) -> Path:
    """The documents, one subfolder per package, copied from /usr/share/doc."""
    missing = [str(p) for files in SOURCES.values() for p in files if not p.is_file()] or \
        [name for name, files in SOURCES.items() if not files]
    if missing:
        sys.exit(f"not installed: {', '.join(missing)} (apt-get install libffi-dev base-passwd shared-mime-info)")
    for package, files in SOURCES.items():
        (folder / package).mkdir(parents=True, exist_ok=True)
        for path in files:
            shutil.copy2(path, folder / package / path.name)
    return folder


def printed(update: ProgressUpdate) -> None:
    if update.total and (update.done == update.total or update.done % max(1, update.total // 10) == 0):
        print(f"  {update.stage}: {update.done}/{update.total}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=Path("/tmp/study-debian-docs"), help="indexes, runs, the copied documents")
    parser.add_argument("--smoke", action="store_true", help="the tiny study (a check of this script)")
    args = parser.parse_args()
    folder = assemble(args.work / "debian-docs")
    config = load_config(overrides=["models.generator=smollm2-135m-instruct", f"index.root={args.work / 'indexes'}",
                                    f"training.output_root={args.work / 'runs'}"])
    output = args.work / "study"
    started = time.perf_counter()
    outcome = Workbench(config).study(StudyRequest(folder=folder, human=HUMAN, output=output, smoke=args.smoke), printed)
    seconds = time.perf_counter() - started
    timing = output / "timing.json"  # the first run's wall time is what the study costs; a rerun reuses its steps
    first = json.loads(timing.read_text())["first_run_seconds"] if timing.is_file() else round(seconds, 1)
    write_json(timing, {"first_run_seconds": first, "last_run_seconds": round(seconds, 1)})
    if not args.smoke:
        shutil.rmtree(RESULTS, ignore_errors=True)
        shutil.copytree(output, RESULTS, ignore=shutil.ignore_patterns("locks", "*.lock"))
    print((outcome.folder / "study.md").read_text(encoding="utf-8"))
    print(f"{seconds / 60:.1f} min; report: {RESULTS if not args.smoke else outcome.folder}")


if __name__ == "__main__":
    main()
