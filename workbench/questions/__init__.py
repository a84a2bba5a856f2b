"""Questions from a user's own documents: candidate answers picked in an index's chunks, a question
written for each by the generator, checked and counted (`generate`); the records a review reads and
writes (`records`)."""

from workbench.questions.generate import QuestionReport, generate, generate_for, paraphrase, report_file
from workbench.questions.records import FILTERS, GeneratedQuestion, read_questions, write_questions
from workbench.questions.review import Decision, apply_review, split_questions

__all__ = ["FILTERS", "Decision", "GeneratedQuestion", "QuestionReport", "apply_review", "generate", "generate_for", "paraphrase", "read_questions",
           "report_file", "split_questions", "write_questions"]
