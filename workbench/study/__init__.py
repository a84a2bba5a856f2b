"""A study of your own documents: one folder in, a verdict out.

`run_study` indexes the folder, writes questions from it (or takes a reviewed file), runs the
own-documents experiment (configs/experiments/own-documents.yaml) in each split design, measures the
retrieval ceiling, edits facts in a copy of the documents to see which strategies follow the new text,
and writes a report a domain expert can read (`report`). Every step is cached: a rerun, or a killed
study started again, redoes only what changed.
"""

from workbench.study.run import DesignOutcome, StudyOutcome, run_study

__all__ = ["DesignOutcome", "StudyOutcome", "run_study"]
