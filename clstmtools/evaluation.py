"""Evaluation reports: error rates, errors per Unicode script, frequent confusions, characters outside the codec.

Everything is counted from (ground truth, output) text pairs, one pair per line, as the programs' error rate
is: a line's errors are the Levenshtein distance between its whole ground truth and its whole output, and a
rate is errors divided by ground-truth characters (by 1 where there are none). Each error is one edit
operation of a minimal edit script (``Levenshtein.editops``), so the confusions and the errors per script add
up to the same total.

Per script, a substitution or deletion counts for the script of the ground-truth character it changes; an
insertion counts for the script of the ground-truth character before it (of the first one at the start of a
line, and of the inserted character where the ground truth is empty). Scripts are Unicode's Script property
as it is (:mod:`clstmtools.unicode_scripts`): digits, punctuation and spaces are Common, combining marks
Inherited.
"""
import collections

import Levenshtein

from .codec import by_frequency, describe_counts, show_char
from .unicode_scripts import script

#: how many of the most frequent confusions a report lists
CONFUSIONS_LISTED = 20


def _rate(errors, count):
    return errors / max(count, 1)


class Evaluation:
    """The counts behind a report, line by line: ``add(truth, output)`` for each line, then :meth:`report`.

    ``charset`` is what the model (or the voting models together) can produce: anything with ``in`` (a
    Codec, a set of characters); without it, no character counts as unknown."""

    def __init__(self, charset=None):
        self.charset = charset
        self.lines = self.characters = self.words = self.word_errors = 0
        self.operations = collections.Counter()  # insert, delete, replace -> count
        self.confusions = collections.Counter()  # (truth, output) -> count, '' for none
        self.truth_characters = collections.Counter()  # character -> count in the ground truth
        self.charged = collections.Counter()  # character -> errors counted for its script

    def add(self, truth, output):
        """Count one line; returns its errors (the Levenshtein distance)."""
        operations = Levenshtein.editops(truth, output)
        for operation, t, o in operations:
            self.operations[operation] += 1
            if operation == "insert":
                self.confusions["", output[o]] += 1
                self.charged[truth[max(t - 1, 0)] if truth else output[o]] += 1
            else:
                self.confusions[truth[t], output[o] if operation == "replace" else ""] += 1
                self.charged[truth[t]] += 1
        truth_words = truth.split()
        self.lines += 1
        self.characters += len(truth)
        self.truth_characters.update(truth)
        self.words += len(truth_words)
        self.word_errors += Levenshtein.distance(truth_words, output.split())
        return len(operations)

    @property
    def errors(self):
        return sum(self.operations.values())

    def scripts(self):
        """Script name -> ``{"characters", "errors", "cer"}``, the most frequent script first (then by name)."""
        table = collections.defaultdict(lambda: {"characters": 0, "errors": 0})
        for char, count in self.truth_characters.items():
            table[script(char)]["characters"] += count
        for char, count in self.charged.items():
            table[script(char)]["errors"] += count
        ordered = sorted(table.items(), key=lambda item: (-item[1]["characters"], -item[1]["errors"], item[0]))
        return {name: {**row, "cer": _rate(row["errors"], row["characters"])} for name, row in ordered}

    def most_frequent_confusions(self, n=CONFUSIONS_LISTED):
        """The ``n`` most frequent ``{"truth", "output", "count"}`` (most frequent first, then by the texts)."""
        ordered = sorted(self.confusions.items(), key=lambda item: (-item[1], item[0]))
        return [{"truth": truth, "output": output, "count": count} for (truth, output), count in ordered[:n]]

    def report(self):
        """The report as a dict that serializes to JSON (see :func:`evaluate`)."""
        errors = self.errors
        unknown = {} if self.charset is None else dict(by_frequency(
            {char: count for char, count in self.truth_characters.items() if char not in self.charset}))
        return {
            "lines": self.lines,
            "characters": self.characters,
            "errors": errors,
            "cer": _rate(errors, self.characters),
            "substitutions": self.operations["replace"],
            "deletions": self.operations["delete"],
            "insertions": self.operations["insert"],
            "words": self.words,
            "word_errors": self.word_errors,
            "wer": _rate(self.word_errors, self.words),
            "scripts": self.scripts(),
            "confusions": self.most_frequent_confusions(),
            "unknown_characters": unknown,
        }


def evaluate(pairs, charset=None):
    """The evaluation report of ``(truth, output)`` text pairs, one per line, as a dict that serializes to JSON.

    Keys: ``lines``, ``characters`` (of the ground truth), ``errors`` (the lines' Levenshtein distances
    added up), ``cer`` (errors / characters), ``substitutions``, ``deletions``, ``insertions`` (they add up
    to ``errors``), ``words`` (whitespace-separated, of the ground truth), ``word_errors`` (the word-level
    Levenshtein distances added up), ``wer``, ``scripts`` (script -> characters, errors, cer),
    ``confusions`` (the CONFUSIONS_LISTED most frequent ``{"truth", "output", "count"}``, '' standing for
    no character: '' -> x is an insertion, x -> '' a deletion) and ``unknown_characters`` (ground-truth
    character -> count, for the characters not in ``charset``; see :class:`Evaluation`)."""
    evaluation = Evaluation(charset)
    for truth, output in pairs:
        evaluation.add(truth, output)
    return evaluation.report()


def format_report(report):
    """``report`` (from :func:`evaluate`) as a short text for people: totals, scripts, confusions, unknown characters."""
    lines = [
        f"{report['lines']} lines, {report['characters']} characters, {report['errors']} errors "
        f"({report['substitutions']} substitutions, {report['deletions']} deletions, "
        f"{report['insertions']} insertions): CER {100 * report['cer']:.2f} %",
        f"{report['words']} words, {report['word_errors']} word errors: WER {100 * report['wer']:.2f} %",
    ]
    if report["scripts"]:
        width = max(len("script"), *(len(name) for name in report["scripts"]))
        lines += ["", f"{'script':<{width}}  characters  errors      CER"]
        lines += [f"{name:<{width}}  {row['characters']:>10}  {row['errors']:>6}  {100 * row['cer']:>6.2f} %"
                  for name, row in report["scripts"].items()]
    if report["confusions"]:
        lines += ["", "most frequent confusions (ground truth -> output):"]
        lines += [f"{c['count']:>6}  {show_char(c['truth'])} -> {show_char(c['output'])}" for c in report["confusions"]]
    if report["unknown_characters"]:
        lines += ["", f"not in the codec: {describe_counts(report['unknown_characters'], limit=None)}"]
    return "\n".join(lines) + "\n"
