"""The one table of environment parameters of clstmctc, clstmseq, clstmtext and clstmsweep, and what it
drives: parsing, random draws, search spaces, the params=1 echo, the usage texts and the documentation's table."""
import dataclasses
import math
import os
import re
import secrets
import sys
import textwrap
import zlib

import numpy as np

from .codec import UNICODE_FORMS
from .network.kinds import IMAGE_PREFAB_KINDS, LSTM_TYPES, OUTPUT_TYPES, PREFAB_KINDS

CTC, SEQ, TEXT = "clstmctc", "clstmseq", "clstmtext"
PROGRAMS = (CTC, SEQ, TEXT)
ALL = frozenset(PROGRAMS)
SWEEP = "clstmsweep"  # runs the others; reads its own few settings
EVERY_PROGRAM = PROGRAMS + (SWEEP,)
WITH_SWEEP = ALL | {SWEEP}
CTC_TEXT = frozenset({CTC, TEXT})


_INT = re.compile(r"[+-]?\d+")
_FLOAT = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


class ParamError(ValueError):
    """An environment parameter that does not parse or is out of range; the message names it."""


def _for_program(value, program):
    """``value`` itself, or its entry for ``program`` when it is given per program (a dict)."""
    return value[program] if isinstance(value, dict) else value


@dataclasses.dataclass(frozen=True)
class Choice:
    """A parameter type: one name out of a fixed list (a tuple, or a dict program -> tuple)."""

    values: object

    def for_program(self, program):
        return _for_program(self.values, program)


@dataclasses.dataclass(frozen=True)
class Param:
    """One environment parameter: its type, default, meaning, readers and how a range is drawn."""

    name: str
    type: object  # int, float, str, or a Choice
    default: object  # a value, or a dict program -> value
    meaning: object  # a line of text, or a dict program -> line
    programs: frozenset
    aliases: tuple = ()
    bound: str = None  # "positive", "nonnegative", "fraction" (0 <= value < 1), "probability" (0 to 1), or None
    sentinel: object = None  # one value accepted besides the bound (nhidden2=-1: no second layer)
    random: bool = None  # whether lo,hi and a:b:c are accepted (None: for numbers and choices)
    draw: str = None  # "log" or "uniform" for lo,hi (None: log-uniform exactly when positive)

    @property
    def takes_random(self):
        return self.type is not str if self.random is None else self.random

    @property
    def draw_kind(self):
        return self.draw or ("log" if self.bound == "positive" else "uniform")

    def default_for(self, program):
        return _for_program(self.default, program)

    def meaning_for(self, program):
        return _for_program(self.meaning, program)

    def accepts(self, program):
        """What a value may look like, as the end of a one-line error message."""
        if isinstance(self.type, Choice):
            what = "one of " + ", ".join(self.type.for_program(program))
        elif self.type is str:
            what = "a non-empty string"
        else:
            adjective = {None: "", "positive": "positive ", "nonnegative": "non-negative ", "fraction": "",
                         "probability": ""}[self.bound]
            noun = "integer" if self.type is int else "float"
            what = ("an " if (adjective or noun)[0] in "aeiou" else "a ") + adjective + noun
            if self.bound == "fraction":
                what += " at least 0 and below 1"
            if self.bound == "probability":
                what += " from 0 to 1"
            if self.sentinel is not None:
                what += f" or {format_value(self.sentinel)}"
        if not self.takes_random:
            return what
        if self.type in (int, float):
            return f"{what}, lo,hi for a random value, or a:b:c to pick one at random"
        return f"{what}, or a:b:c to pick one at random"

    def parse_one(self, program, text, allow_sentinel=True):
        """The value that ``text`` (one value, no range) stands for, or None when it is not valid."""
        if isinstance(self.type, Choice):
            return text if text in self.type.for_program(program) else None
        if self.type is str:
            return text
        if not (_INT if self.type is int else _FLOAT).fullmatch(text):
            return None
        value = self.type(text)
        if allow_sentinel and self.sentinel is not None and value == self.sentinel:
            return value
        if (self.bound == "positive" and value <= 0) or (self.bound == "nonnegative" and value < 0):
            return None
        if self.bound == "fraction" and not 0 <= value < 1:
            return None
        if self.bound == "probability" and not 0 <= value <= 1:
            return None
        return value


def _param(name, type, default, meaning, programs=ALL, **options):
    return Param(name, type, default, meaning, frozenset(programs), **options)


#: every environment parameter of the three programs, in the order of the usage text
PARAMS = (
    _param("mode", Choice({CTC: ("train", "errs", "text", "full", "quiet", "report", "dump"), SEQ: ("train", "test"),
                       TEXT: ("train", "filter", "report"), SWEEP: ("train", "report")}), "train",
       {CTC: "train; or run the model given by load= on the file and print per line the errors and "
             "output (errs), the output (text), everything (full) or nothing (quiet), then the error "
             "rate; report prints CER, WER, errors per script and the most frequent confusions; dump "
             "prints the file's transcripts",
        SEQ: "train; or test the model given by load= on the held-out lines",
        TEXT: "train; or filter: print the output of the model given by load= for each input line; or "
              "report: CER, WER, errors per script and the most frequent confusions on a pairs file",
        SWEEP: "train: run trials=N trials of PROGRAM; report: print the study's trials, best first, "
               "and draw them to NAME-sweep.png"},
       WITH_SWEEP, random=False),
    _param("load", str, "", "model file (.h5) to start from; its trial attribute sets the start. To recognize "
       "and evaluate, several models vote: a comma list (a.h5,b.h5) or a pattern (book-fold*.h5)"),
    _param("resize", Choice(("fail", "union", "new")), "fail", "training a loaded model on characters its codec "
       "lacks: fail (an error that lists them), union (add outputs for them), new (keep only the outputs "
       "of the data's characters, add the others)", CTC_TEXT, random=False),
    _param("freeze", int, 0, "with load=: train only the output layer for the first N lines, then every layer",
       CTC_TEXT, bound="nonnegative"),
    _param("folds", int, 0, "train K models, each on all folds of the data but one and validated on that "
       "one, saved as save_name-fold0.h5 ... (0: one model); they run as processes sharing the cores",
       CTC_TEXT, bound="nonnegative", random=False),
    _param("fold", int, -1, "with folds=K: train only fold N, in this process (-1: every fold)", CTC_TEXT,
       bound="nonnegative", sentinel=-1, random=False),
    _param("report", str, "", "with an evaluation mode: also write the evaluation report (CER, WER, scripts, "
       "confusions, characters outside the codec) to this JSON file", CTC_TEXT),
    _param("disagree", int, 0, "with several models voting: print the N lines where they disagree most, with "
       "each model's text (the lines to transcribe next)", CTC_TEXT, bound="nonnegative"),
    _param("save_name", str, "", "where models are saved (required to train clstmctc and clstmtext)"),
    _param("save_every", int, 0, "save every N lines to save_name-%08d.h5 (0: only when the test "
       "error improves)", bound="nonnegative"),
    _param("after_save", str, "", "shell command run after each save"),
    _param("after_start", str, "", "shell command run once training has started"),
    _param("after_test", str, "", "shell command run after each test"),
    _param("ntrain", int, {CTC: 1000000, SEQ: 10000000, TEXT: 1000000}, "number of training lines",
       bound="positive"),
    _param("lrate", float, 1e-4, "learning rate", bound="positive"),
    _param("nhidden", int, 100, "LSTM cells per direction of the first layer", aliases=("hidden",),
       bound="positive"),
    _param("nhidden2", int, -1, "LSTM cells per direction of the second layer of BIDILSTM2 (-1: none)",
       aliases=("hidden2",), bound="positive", sentinel=-1),
    _param("pseudo_batch", int, 1, "update the weights every N lines", CTC_TEXT, aliases=("batch",),
       bound="positive"),
    _param("momentum", float, 0.9, "momentum of the weight updates", bound="fraction"),
    _param("display_every", int, 0, "write a picture of the outputs every N lines (0: never)",
       bound="nonnegative"),
    _param("display", str, "", "file name of that picture (empty: save_name-display.png)"),
    _param("report_every", int, {CTC: 1, SEQ: 100, TEXT: 1}, "print a report every N lines (0: never)",
       bound="nonnegative"),
    _param("randomize", int, 1, "1: train on the lines in random order; 0: in file order",
       bound="nonnegative"),
    _param("lrnorm", Choice(("none", "len", "batch")), "batch",
       "divide the learning rate by nothing, the time steps, or the lines of each update"),
    _param("dewarp", Choice(("none", "mean", "center", "auto")), "auto",
       "text-line normalization (auto: chosen by the kind of input)", {CTC}),
    _param("target_height", int, 48, "height of the lines after normalization", {CTC}, bound="positive"),
    _param("norm_range", float, 4.0, "half-height of the normalized band, in mean deviations of the ink",
       {CTC}, bound="positive"),
    _param("norm_vscale", float, 1.0, "vertical scale factor of mean normalization", {CTC},
       bound="positive"),
    _param("norm_smooth2d", float, 1.0, "2-d smoothing of center normalization, relative to the height",
       {CTC}, bound="nonnegative"),
    _param("norm_smooth1d", float, 0.3, "smoothing of the center line, relative to the height", {CTC},
       bound="nonnegative"),
    _param("lstm", Choice({CTC: PREFAB_KINDS + IMAGE_PREFAB_KINDS, SEQ: PREFAB_KINDS, TEXT: PREFAB_KINDS}), "BIDILSTM",
       "network kind (clstmctc also CNNBIDILSTM: Calamari's CNN+BLSTM, CRNN: Shi et al.'s CNN+BLSTM)"),
    _param("spec", str, "", "VGSL network spec, e.g. '[1,48,0,1 Cr3,3,32 Mp2,2 S1(1x0)1,3 Lbx100 O1c]' "
       "(replaces lstm=; its height sets target_height)", random=False),
    _param("lstm_type", Choice(LSTM_TYPES), "LSTM", "LSTM cell type of BIDILSTM"),
    _param("output_type", Choice(OUTPUT_TYPES), "SoftmaxLayer", "output layer of BIDILSTM"),
    _param("target_name", str, "ctc", "ctc: align by CTC; else the name of a dataset of pre-aligned "
       "targets in the file", {CTC}, random=True),
    _param("testset", str, "", "test data (clstmctc: HDF5, line list, image folder or PAGE/ALTO; clstmtext: "
       "text pairs)", CTC_TEXT),
    _param("valset", str, "", "validation data (format as testset): when given, it chooses the best "
       "model and testset is only reported", CTC_TEXT),
    _param("validation", float, 0.0, "hold out this seeded fraction (0 < F < 1) of the training data "
       "for validation, as valset does (0: none)", CTC_TEXT, bound="fraction"),
    _param("early_stop", int, 0, "stop after N tests in a row without a better validation (else test) "
       "error (0: never)", bound="nonnegative"),
    _param("augment", int, 0, "1: degrade each training line on the fly (seeded: scale, position, "
       "elastic distortion, ink thickness, blur, noise, padding)", {CTC}, bound="nonnegative"),
    _param("augment_p", float, 0.5, "with augment=1: the probability that a training line is degraded "
       "(else it is trained on as it is; kraken's default)", {CTC}, bound="probability"),
    _param("test_every", int, {CTC: -1, SEQ: 1000, TEXT: -1}, "test every N lines (0 or -1: never)"),
    _param("maxeval", int, 1000000000, "test on at most N lines", CTC_TEXT, bound="positive"),
    _param("start", int, -1, "trial number to start from (-1: the loaded model's trial, or 0)"),
    _param("info", int, 0, "1: print information about the network", bound="nonnegative"),
    _param("params_only", int, 0, "1: print the parameters and stop", WITH_SWEEP, bound="nonnegative"),
    _param("verbose", int, 0, "1: print more while running", bound="nonnegative"),
    _param("params", int, 0, "1: print every parameter as #: name = value", WITH_SWEEP, bound="nonnegative",
       random=False),
    _param("seed", int, 0, "seed of every random choice (0: a fresh one, printed by params=1)",
       WITH_SWEEP, aliases=("randseed",), bound="nonnegative", random=False),
    _param("eval", int, 0, "1: same as mode=errs (the old name)", {CTC}, bound="nonnegative"),
    _param("testmod", int, 10, "lines whose index is a multiple of N are held out for testing", {SEQ},
       bound="positive"),
    _param("ntest", int, 1000000000, "test on at most N lines", {SEQ}, bound="positive"),
    _param("debug_nets", int, 0, "1: print the network's weights while training", {SEQ},
       bound="nonnegative"),
    _param("debug_states", int, 0, "1: print the network's states while training", {SEQ},
       bound="nonnegative"),
    _param("neps", int, 3, "empty input steps before the text and after each character", {TEXT},
       bound="nonnegative"),
    _param("ctc", Choice(("clstm", "standard")), "clstm",
       "CTC alignment: clstm's (no blank skipping), or standard (Graves)", CTC_TEXT),
    _param("minibatch", int, 1, "lines run through the network together", CTC_TEXT, bound="positive"),
    _param("threads", int, 0, "threads to compute with (0: all cores)", bound="nonnegative"),
    _param("optimizer", Choice(("sgd", "adam")), "sgd", "sgd: clstm's momentum updates; adam: Adam"),
    _param("weight_decay", float, 0.0, "weight decay per update", bound="nonnegative"),
    _param("beta1", float, 0.9, "Adam's first-moment decay", bound="fraction"),
    _param("beta2", float, 0.999, "Adam's second-moment decay", bound="fraction"),
    _param("eps", float, 1e-8, "Adam's epsilon", bound="positive"),
    _param("init", Choice(("clstm", "scaled")), "clstm",
       "initial weights: clstm's uniform (-0.01, 0.01), or scaled by the fan-in"),
    _param("lrate_decay", float, 1.0, "multiply the learning rate by this every 1000 lines (1: never)",
       bound="positive"),
    _param("warmup", int, 0, "raise the learning rate linearly over the first N lines", bound="nonnegative"),
    _param("conf", int, 0, "1: with mode=text, print each line's mean character confidence", {CTC},
       bound="nonnegative"),
    _param("strict", int, 0, "1: unlabeled images in a folder, unusable PAGE/ALTO lines and lines too short "
       "for the network (their transcript, its pooling) are errors, not skipped", {CTC}, bound="nonnegative"),
    _param("unicode", Choice(UNICODE_FORMS), "NFC", "Unicode normalization of transcripts and text pairs as "
       "they are read (none: as they are); a model keeps its own for all the data it reads", CTC_TEXT,
       random=False),
    _param("output", str, "", "with mode=text on PAGE/ALTO data: a folder to write a copy of each file into, "
       "with the recognized text of its lines (PAGE: each line's first TextEquiv, its Words rebuilt)", {CTC}),
    _param("keep_old_text", int, 0, "with output= on PAGE data: 1 keeps the lines' and regions' earlier "
       "TextEquivs after the recognized one (index 2, 3, ...); 0 drops them", {CTC}, bound="nonnegative",
       random=False),
    _param("debug", int, 0, "1: print a traceback on errors", WITH_SWEEP, bound="nonnegative"),
    _param("beam", int, 0, "0: best-path decoding; N > 0: prefix beam search of width N", {CTC},
       bound="nonnegative"),
    # clstmsweep's own settings (see clstmtools/sweep); every other setting is PROGRAM's
    _param("study", str, "", "name of the study the trials belong to (required)", {SWEEP}),
    _param("storage", str, "", "where the study lives: a journal file (empty: NAME.optuna here), or a "
       "postgresql:// or mysql:// URL", {SWEEP}),
    _param("trials", int, 10, "trials this worker runs (several workers may share a study)", {SWEEP},
       bound="positive", random=False),
    _param("sampler", Choice(("tpe", "random")), "tpe", "how trials choose values (trial N draws from "
       "seed and N)", {SWEEP}, random=False),
    _param("pruner", Choice(("median", "hyperband", "none")), "median", "which trials stop early",
       {SWEEP}, random=False),
    _param("prune_after", int, 3, "complete trials before the median pruner stops any", {SWEEP},
       bound="nonnegative", random=False),
    _param("objective", Choice(("auto", "test", "validation")), "auto", "error minimized (auto: the "
       "validation error, refused when the trials have no validation set; test: the test error, which then "
       "also chooses the best trial and so gives an optimistic figure)", {SWEEP}, random=False),
    _param("heartbeat", int, 20, "seconds between a worker's signs of life; a trial silent for 3 of "
       "them is marked failed", {SWEEP}, bound="positive", random=False),
)

BY_NAME = {param.name: param for param in PARAMS}


def _check_program(program):
    if program not in EVERY_PROGRAM:
        raise ValueError(f"unknown program {program!r}: expected one of {', '.join(EVERY_PROGRAM)}")


def params_of(program):
    """The parameters ``program`` reads, in table order."""
    _check_program(program)
    return tuple(param for param in PARAMS if program in param.programs)


def _names_of(program):
    """Every name and alias ``program`` reads -> its parameter's name."""
    return {name: param.name for param in params_of(program) for name in (param.name, *param.aliases)}


def format_value(value):
    """A value as text: echoed, stored in a model, and read back to the same value."""
    return repr(value) if isinstance(value, float) else str(value)


def _draw_rng(seed, name):
    """A generator for drawing parameter ``name``: independent of which other parameters are drawn."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(1, zlib.crc32(name.encode()))))


def _draw_range(param, lo, hi, rng):
    if param.draw_kind == "uniform":
        if param.type is int:
            return int(rng.integers(lo, hi, endpoint=True))
        return float(rng.uniform(lo, hi))
    if param.type is int:  # log-uniform over the integers lo..hi
        return int(min(max(math.floor(math.exp(rng.uniform(math.log(lo), math.log(hi + 1)))), lo), hi))
    return float(min(max(math.exp(rng.uniform(math.log(lo), math.log(hi))), lo), hi))


def _parse_setting(param, program, var, raw):
    """What ``raw`` in variable ``var`` says: ``("value", v)``, ``("choice", [a, b, ...])`` or
    ``("range", lo, hi)``; ParamError when ``program`` would reject it."""
    def invalid():
        return ParamError(f"{var}={raw!r}: expected {param.accepts(program)}")

    if param.type is str and not param.takes_random:
        return "value", raw
    text = raw.strip()
    if param.takes_random and ":" in text:
        options = [param.parse_one(program, piece.strip()) for piece in text.split(":")]
        if any(option is None or option == "" for option in options):
            raise invalid()
        return "choice", options
    if param.takes_random and "," in text and param.type in (int, float):
        ends = [param.parse_one(program, piece.strip(), allow_sentinel=False) for piece in text.split(",")]
        if len(ends) != 2 or None in ends:
            raise invalid()
        lo, hi = ends
        if lo > hi:
            raise ParamError(f"{var}={raw!r}: a range lo,hi needs lo <= hi")
        return "range", lo, hi
    value = param.parse_one(program, text)
    if value is None or value == "":
        raise invalid()
    return "value", value


def _resolve(param, program, var, raw, seed):
    """The value of ``param`` set to ``raw`` in variable ``var``, and whether it was drawn at random."""
    kind, *what = _parse_setting(param, program, var, raw)
    if kind == "choice":
        return what[0][int(_draw_rng(seed, param.name).integers(len(what[0])))], True
    if kind == "range":
        return _draw_range(param, *what, _draw_rng(seed, param.name)), True
    return what[0], False


@dataclasses.dataclass(frozen=True)
class Dimension:
    """One setting given as a range or a choice: what a search over it may pick, on the draws' scale."""

    name: str
    variable: str  # the variable that set it (the name or an alias)
    type: object  # int or float for a range; the options' own types for a choice
    choices: tuple = None  # the options of a:b:c, or None for a range
    lo: object = None
    hi: object = None
    log: bool = False  # a range drawn log-uniformly (sizes and rates), else uniformly


def search_space(program, environ=None):
    """The settings of ``program`` in ``environ`` given as ``lo,hi`` or ``a:b:c``, as Dimensions in table
    order; every setting is checked as ``program`` would check it (ParamError)."""
    _check_program(program)
    environ = os.environ if environ is None else environ
    dimensions = []
    for param in params_of(program):
        setting = _raw_setting(param, environ)
        if setting is None:
            continue
        kind, *what = _parse_setting(param, program, *setting)
        if kind == "choice":
            dimensions.append(Dimension(param.name, setting[0], param.type, choices=tuple(what[0])))
        elif kind == "range":
            dimensions.append(Dimension(param.name, setting[0], param.type, lo=what[0], hi=what[1],
                                        log=param.draw_kind == "log"))
    return tuple(dimensions)


def _raw_setting(param, environ):
    """(variable, text) of ``param`` in ``environ`` under its name or an alias, or None if unset."""
    found = [(name, environ[name]) for name in (param.name, *param.aliases) if name in environ]
    if len({text for _, text in found}) > 1:
        setting = " and ".join(f"{name}={text!r}" for name, text in found)
        raise ParamError(f"{setting} disagree: set only one of them")
    return found[0] if found else None


class Settings:
    """The parameters of one run as resolved: attribute access, the seed used, and the run's generator."""

    def __init__(self, program, resolved, drawn, seed, given=()):
        self.program = program
        #: name -> value of every parameter of the program, drawn values and the seed used included
        self.resolved = resolved
        #: names of the parameters whose value was drawn at random, in table order
        self.drawn = drawn
        #: names of the parameters the environment set (the others have their defaults)
        self.given = frozenset(given)
        self.seed = seed
        self._names = _names_of(program)
        #: the run's generator (weight initialization, sample order), independent of the draws
        self.rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0,)))

    def get(self, name, default=None):
        """The value of parameter ``name`` (or an alias), or ``default`` if the program has none."""
        return self.resolved.get(self._names.get(name, name), default)

    def __getattr__(self, name):
        # only reached when ordinary lookup fails; __dict__ avoids recursion before __init__ ran
        canonical = self.__dict__.get("_names", {}).get(name)
        if canonical is None:
            raise AttributeError(f"{self.__dict__.get('program')} has no parameter {name!r}")
        return self.__dict__["resolved"][canonical]

    def attributes(self):
        """name -> value as text, for every parameter: to store in a saved model."""
        return {name: format_value(value) for name, value in self.resolved.items()}

    def __repr__(self):
        return f"Settings({self.program!r}, seed={self.seed}, drawn={self.drawn})"


def read_params(program, environ=None, stderr=None):
    """Read, check and resolve every parameter of ``program`` from the environment.

    ``lo,hi`` draws a value and ``a:b:c`` picks one, from generators seeded by ``seed`` (0 or
    unset: a fresh random seed, recorded in the result). With ``params=1`` every value is echoed
    as ``#: name = value`` to ``stderr`` (default ``sys.stderr``). Raises ``ParamError``."""
    _check_program(program)
    environ = os.environ if environ is None else environ
    found = {param.name: _raw_setting(param, environ) for param in params_of(program)}
    seed_setting = found["seed"]
    seed = _resolve(BY_NAME["seed"], program, *seed_setting, 0)[0] if seed_setting else 0
    if seed == 0:
        seed = secrets.randbelow(2**31 - 1) + 1
    resolved, drawn = {}, []
    for param in params_of(program):
        if param.name == "seed":
            value, was_drawn = seed, False
        elif found[param.name] is None:
            value, was_drawn = param.default_for(program), False
        else:
            value, was_drawn = _resolve(param, program, *found[param.name], seed)
        resolved[param.name] = value
        if was_drawn:
            drawn.append(param.name)
    settings = Settings(program, resolved, tuple(drawn), seed, (name for name, setting in found.items() if setting))
    if settings.params:
        stream = sys.stderr if stderr is None else stderr
        for name, text in settings.attributes().items():
            print(f"#: {name} = {text}", file=stream)
        stream.flush()
    return settings


def closest_name(name, program):
    """The parameter name or alias of ``program`` nearest to ``name`` by edit distance."""
    import Levenshtein  # here: most runs have no unknown names to look at (8 ms of start-up)

    return min(_names_of(program), key=lambda known: (Levenshtein.distance(name, known), known))


def suspicious_names(environ, program):
    """Lower-case variables in ``environ`` that look like misspelled parameters of ``program``.

    Unknown variables are not errors (the environment is shared with everything else); a name
    that no program reads but that is one or two edits (one, for names up to four letters) from
    a parameter of ``program`` probably is a typo worth a warning. Sorted."""
    known = {name for param in PARAMS for name in (param.name, *param.aliases)}
    suspects = []
    for name in environ:
        if name in known or not re.fullmatch(r"[a-z][a-z0-9_]*", name):
            continue
        limit = 1 if len(name) <= 4 else 2
        import Levenshtein

        if Levenshtein.distance(name, closest_name(name, program)) <= limit:
            suspects.append(name)
    return sorted(suspects)


def _shown(value):
    return '""' if value == "" else format_value(value)


_USAGE_HEAD = """\
Parameters are environment variables: NAME=value {program} ...
A number lo,hi draws a random value in that range, a:b:c picks one of the
values at random; seed= repeats the draws, params=1 prints every value used."""


def usage(program, synopsis, formats):
    """The whole usage text of ``program`` (``--help-all``): ``synopsis``, every parameter with its
    default and meaning, then ``formats`` (the file formats, as the driver words them)."""
    lines = [synopsis.rstrip(), "", _USAGE_HEAD.format(program=program), ""]
    for param in params_of(program):
        meaning = param.meaning_for(program)
        if param.aliases:
            meaning += " (also " + ", ".join(param.aliases) + ")"
        if isinstance(param.type, Choice):
            meaning += "; one of " + " ".join(param.type.for_program(program))
        left = f"  {param.name}={_shown(param.default_for(program))}"
        if len(left) > 23:
            lines.append(left)
            left = ""
        lines.append(textwrap.fill(meaning, 79, initial_indent=left.ljust(24), subsequent_indent=" " * 24,
                                   break_on_hyphens=False))
    lines += ["", "File formats:", formats.rstrip(), ""]
    return "\n".join(lines)


_BRIEF_TAIL = """\
Every setting, its default and meaning: {program} --help-all; the values a
run uses: params=1. Documentation: docs/programs.md (Programs and settings)."""


def brief_usage(program, synopsis, common):
    """The ``-h`` text of ``program``, a screen high: ``synopsis``, the settings people use most
    (``common``: (name, what it does) pairs; the defaults come from the table), and where the
    rest is described."""
    lines = [synopsis.rstrip(), "", "Settings used most (name=default):"]
    for name, what in common:
        param = BY_NAME[name]
        if program not in param.programs:
            raise ValueError(f"{name} is not a parameter of {program}")
        left = f"  {name}={_shown(param.default_for(program))}"
        lines.append(textwrap.fill(what, 79, initial_indent=left.ljust(22) if len(left) < 22 else left + " ",
                                   subsequent_indent=" " * 22, break_on_hyphens=False))
    lines += ["", _BRIEF_TAIL.format(program=program), ""]
    return "\n".join(lines)


def _per_program_cell(param, value_of, shown):
    """One table cell for a setting that may differ by program: the common value, then exceptions."""
    values = {program: value_of(program) for program in EVERY_PROGRAM if program in param.programs}
    ordered = list(values.values())
    common = max(ordered, key=ordered.count)
    cell = shown(common)
    exceptions = [f"{program}: {shown(value)}" for program, value in values.items() if value != common]
    return cell + (" (" + "; ".join(exceptions) + ")" if exceptions else "")


def markdown_table():
    """The parameter table of the documentation (Markdown): name, default, programs, meaning."""
    rows = ["| name | default | programs | meaning |", "| --- | --- | --- | --- |"]
    for param in PARAMS:
        name = f"`{param.name}`" + "".join(f" (`{alias}`)" for alias in param.aliases)
        default = _per_program_cell(param, param.default_for, lambda value: f"`{_shown(value)}`")
        programs = ", ".join(p for p in EVERY_PROGRAM if p in param.programs)
        programs = programs.replace(", ".join(PROGRAMS), "all") if param.programs >= ALL else programs
        meaning = param.meaning if isinstance(param.meaning, str) else "; ".join(
            f"{program}: {text}" for program, text in param.meaning.items())
        if isinstance(param.type, Choice):
            meaning += "; one of " + _per_program_cell(
                param, param.type.for_program, lambda values: ", ".join(f"`{v}`" for v in values))
        rows.append(f"| {name} | {default} | {programs} | {meaning.replace('|', chr(92) + '|')} |")
    return "\n".join(rows) + "\n"
