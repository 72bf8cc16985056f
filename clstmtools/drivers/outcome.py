"""What an evaluation or recognition run adds up and ends with: the error rate, the report (mode=report, report=FILE.json) and the lines where voting models disagree most (disagree=N)."""
import json
import os

from ..atomic import write_text
from ..ensemble import display_name


class Outcome:
    """The lines of one run as they are recognized (``add``), and its closing lines (``finish``)."""

    def __init__(self, settings, readers, charset):
        self.settings = settings
        self.models = [display_name(reader.path) for reader in readers]
        self.charset = charset
        self.evaluation = None  # made by the first line with ground truth: recognition starts without it
        self.errors = self.total = 0
        self.disagreements = []  # (score, line name, the models' texts) of every line several models read

    def add(self, name, truth, output, texts=None):
        """Count one line (``truth`` None: recognition without ground truth); returns its errors (or None).
        ``texts``: each voting model's own text (None for one model)."""
        if texts is not None and self.settings.disagree:
            from ..vote import disagreement

            self.disagreements.append((disagreement([t for t in texts if t is not None]), name, texts))
        if truth is None:
            return None
        if self.evaluation is None:
            from ..evaluation import Evaluation

            self.evaluation = Evaluation(self.charset)
        errors = self.evaluation.add(truth, output)
        self.errors += errors
        self.total += len(truth)
        return errors

    def most_disagreement(self):
        """The disagree=N lines where the models disagree most, the most first: ``(score, name, texts)``."""
        from ..vote import most_disagreement

        ranked = most_disagreement([score for score, _, _ in self.disagreements], self.settings.disagree)
        return [self.disagreements[k] for k in ranked]

    def finish(self, mode):
        """The summary line (or the report for mode=report), the disagreement ranking and the JSON report."""
        from ..evaluation import Evaluation, format_report

        report = (self.evaluation or Evaluation(self.charset)).report() if mode != "text" else None
        if report is not None and mode == "report":
            print(format_report(report), end="")
        elif report is not None:
            print(f"errs {self.errors} total {self.total} rate {100.0 * self.errors / max(self.total, 1):.4f} %")
        ranked = self.most_disagreement() if self.settings.disagree else []
        if self.settings.disagree:
            lines = "the line" if len(ranked) == 1 else f"the {len(ranked)} lines"
            print(f"# {lines} where the {len(self.models)} models disagree most (disagreement: pairwise edit "
                  f"distance over length):")
            for score, name, texts in ranked:
                print(f"# {score:.4f}\t{name}")
                for model, text in zip(self.models, texts):
                    print(f"#\t{model}\t{'(too short for this model)' if text is None else text}")
        if self.settings.report:
            report["models"] = self.models
            if self.settings.disagree:
                report["disagreement"] = [dict(line=str(name), disagreement=score, texts=dict(zip(self.models, texts)))
                                          for score, name, texts in ranked]
            write_json(self.settings.report, report)


def write_json(path, data):
    """``data`` as JSON in ``path``, written atomically."""
    write_text(os.fspath(path), json.dumps(data, ensure_ascii=False, indent=1) + "\n")
