"""clstmtext: train and apply string transducers (text -> text) by CTC, configured from the environment."""
from ..codec import Codec, missing_characters, missing_warning, normalize_text
from ..datasets import DatasetError, TextPairs, encode_input, read_text_lines
from ..ensemble import Reader, model_paths, recognized_lines, single_model
from ..modelfile import load_net, save_stem
from ..tasks import CtcTask
from .common import (UsageError, build_network, check_fine_tuning, configure_learning, ctc_display, ctc_test,
                     fit_codec, main_of, make_trainer, need_files, protect_inputs, require_save_name, resume_state,
                     show_info, skip_short_lines, start_trial, validation_split, warn_unknown, warner)
from .folds import check_folds, fold_name, run_folds
from .outcome import Outcome

PROGRAM = "clstmtext"
SYNOPSIS = """usage: [name=value ...] clstmtext PAIRS.txt
       [name=value ...] clstmtext INPUTS.txt OUTPUTS.txt
       mode=filter load=MODEL.h5 clstmtext TEXT.txt
       mode=report load=MODEL.h5 clstmtext PAIRS.txt
       clstmtext -h | --help-all | --version

Learns string -> string transformations (e.g. spelling -> pronunciation) by
CTC; with mode=filter, prints the trained model's output for every input line.
Settings are environment variables; lo,hi draws a random value, a:b:c picks
one, seed= repeats the draws.

PAIRS.txt: UTF-8 lines input<TAB>output (blank lines and '# ' lines skipped).

Examples:
  save_name=g2p testset=cmu-test.txt test_every=10000 clstmtext cmu-train.txt
  mode=filter load=g2p.h5 clstmtext words.txt"""
#: the settings -h shows: a name (its words from common.BRIEFS), or (name, this program's words)
COMMON = (
    ("mode", "train; filter or report: apply load= to the file"),
    "load", "save_name",
    ("testset", "test pairs, tested every test_every lines"),
    ("valset", "validation pairs: they choose the model saved"),
    ("validation", "or hold out this fraction of the training pairs"),
    "test_every", "early_stop", "ntrain", "lrate", "optimizer", "nhidden",
    "lstm",
    ("spec", "a VGSL spec of recurrent layers, e.g. [1,0,0,1 Lbx100 O1c]"),
    ("neps", "empty input steps before the text and after each character"),
    "minibatch", "threads", "seed", "resize", "freeze", "folds",
    ("unicode", "Unicode normalization of both sides"),
    "report", "disagree", "report_every",
)
FORMATS = """PAIRS.txt: UTF-8 lines input<TAB>output; blank lines and lines starting with '# ' are
skipped, as are lines with an empty side. Or two files of inputs and outputs, line by line.
Inputs become one-hot sequences with neps empty steps before the text and after each character.
With mode=filter, each line's text before a tab (if any) is transformed. Both sides are
Unicode-normalized as read (unicode=NFC); a model keeps its form and applies it to what it reads."""


class TextCoder:
    """Texts as network inputs (and labels) under a model's input and output codecs: ``inputs`` and
    ``outputs`` (None when there is no ground truth) list the texts, ``sources`` name them. An input with
    characters outside the input codec cannot be read (evaluation counts it as recognized as nothing);
    ``unknown_inputs`` and ``unknown_outputs`` count the characters outside either codec."""

    def __init__(self, inputs, outputs, sources, icodec, codec, neps):
        self.texts_in, self.texts_out, self.sources = inputs, outputs, sources
        self.icodec, self.codec, self.neps = icodec, codec, neps
        self.unknown_inputs = missing_characters(inputs, icodec)
        self.unknown_outputs = missing_characters(outputs or (), codec)

    @classmethod
    def of_pairs(cls, pairs, icodec, codec, neps):
        return cls(pairs.inputs, pairs.outputs, pairs.sources, icodec, codec, neps)

    def _in(self, i, codec, text):
        try:
            return codec.encode(text)
        except ValueError as error:
            raise DatasetError(f"{self.sources[i]}: {error}") from None

    def readable(self, i):
        return not self.unknown_inputs or not self.icodec.missing(self.texts_in[i])

    def inputs(self, i):
        self._in(i, self.icodec, self.texts_in[i])
        return encode_input(self.texts_in[i], self.icodec, self.neps)

    def labels(self, i):
        return self._in(i, self.codec, self.texts_out[i])

    def task(self, settings):
        truth = None if self.texts_out is None else (lambda i: self.texts_out[i])
        return CtcTask(self.inputs, self.labels, self.codec, settings.ctc, name=lambda i: self.sources[i],
                       input_text=lambda i: self.texts_in[i], truth=truth, readable=self.readable,
                       width=lambda i: self.neps + len(self.texts_in[i]) * (1 + self.neps))

    def warn_unknown(self, where, say, models=1):
        """One line for the output characters outside the model's codec and one for the unreadable inputs."""
        whose = "the model's" if models == 1 else "any model's"
        if self.texts_out is not None:
            warn_unknown(self.unknown_outputs, where, say, whose + " codec")
        if self.unknown_inputs:
            say(missing_warning(self.unknown_inputs, where, whose + " input codec") +
                (" (their lines count as recognized as nothing)" if self.texts_out is not None else
                 " (their lines are printed empty)"))


def read_pairs(args, unicode):
    if len(args) == 1:
        return TextPairs.read(args[0], unicode)
    return TextPairs.read_two(args[0], args[1], unicode)


def model_unicode(net):
    """The Unicode normalization a model was trained with (none for models from before unicode=)."""
    return net.attributes.get("unicode", "none")


def filter_inputs(path):
    """``(line numbers, texts)`` of the file to filter: each line's text before a tab (if any), empty ones left out."""
    numbered = [(number, line.split("\t", 1)[0]) for number, line in enumerate(read_text_lines(path), 1)]
    return [(number, text) for number, text in numbered if text]


def open_readers(settings, args, mode):
    """``(readers, coders, line count, truth)``: the models of load= (one, or several that vote), each reading
    the texts of ``args`` in its own Unicode form and codecs, with the ground truth (None to filter)."""
    readers, coders = [], []
    for model in model_paths(settings.load):
        net = load_net(model)
        unicode = model_unicode(net)
        if mode == "filter":
            need_files(args, (1,), "one text file to filter")
            numbered = filter_inputs(args[0])
            inputs, outputs = [normalize_text(t, unicode) for _, t in numbered], None
            sources = [f"{args[0]}:{number}" for number, _ in numbered]
        else:
            need_files(args, (1, 2), "a pairs file, or an inputs file and an outputs file")
            pairs = read_pairs(args, unicode)
            inputs, outputs, sources = pairs.inputs, pairs.outputs, pairs.sources
        coder = TextCoder(inputs, outputs, sources, Codec(net.icodec), Codec(net.codec),
                          net.attr_int("neps", settings.neps))
        coders.append(coder)
        readers.append(Reader(model, net, coder.task(settings)))
    return readers, coders


def evaluate(settings, args, mode):
    """mode=filter (the output of each input line) or mode=report (the evaluation of a pairs file), by one
    model or several that vote."""
    if not settings.load:
        raise UsageError(f"mode={mode} needs a model: set load=MODEL.h5")
    if settings.report and mode == "filter":
        raise UsageError(f"report={settings.report} needs ground truth: use mode=report on a pairs file")
    readers, coders = open_readers(settings, args, mode)
    if settings.disagree and len(readers) < 2:
        raise UsageError(f"disagree={settings.disagree} ranks the lines where several models disagree: give "
                         f"load= several models")
    warn = warner(PROGRAM)
    where = " and ".join(args)
    if len(readers) == 1:
        coders[0].warn_unknown(where, warn)
    else:  # what no model reads or produces
        union = [Codec(sorted({p for c in coders for p in getattr(c, side).codepoints})) for side in ("icodec", "codec")]
        TextCoder(coders[0].texts_in, coders[0].texts_out, coders[0].sources, *union, 0).warn_unknown(
            where, warn, len(readers))
    coder = coders[0]
    charset = Codec(sorted({p for c in coders for p in c.codec.codepoints}))
    outcome = Outcome(settings, readers, charset)
    skip = skip_short_lines(settings, lambda i: coder.sources[i], warn,
                            "printed as an empty line" if mode == "filter" else "not counted")
    results = _in_order(readers, len(coder.texts_in), skip)
    if mode == "filter":
        line_count = len(read_text_lines(args[0]))
        numbers = [int(source.rsplit(":", 1)[1]) for source in coder.sources]
        texts = dict(zip(numbers, results))
        for number in range(1, line_count + 1):  # one line out for every line in, empty ones included
            _, text, voters = texts.get(number, (None, "", None))
            print(text or "")
            outcome.add(number, None, text or "", voters)
        outcome.finish("text")
        return 0
    for i, text, voters in results:
        if text is None and all(reader.task.readable(i) for reader in readers):
            continue  # too short for every model: not counted
        outcome.add(coder.sources[i], coder.texts_out[i], text or "", voters)
    outcome.finish("report")
    return 0


def _in_order(readers, count, skip):
    """``(i, text or None, each model's text)`` for every line ``i`` < ``count`` (None where no model read it)."""
    recognized = recognized_lines(readers, range(count), skip, confidences=False)
    pending = next(recognized, None)
    for i in range(count):
        if pending is not None and pending[0] == i:
            yield i, pending[1].text, pending[2]
            pending = next(recognized, None)
        else:
            yield i, None, None


def train(settings, args):
    from ..resume import data_key

    need_files(args, (1, 2), "a pairs file, or an inputs file and an outputs file")
    require_save_name(settings, PROGRAM)
    protect_inputs(settings, args)
    if settings.folds and settings.fold < 0:  # the folds' processes (or ranks) train them; checked first
        check_folds(settings, len(read_pairs(args, settings.unicode)))
        return run_folds(PROGRAM, settings, args, save_stem(settings.save_name), lambda: train(settings, args))
    if settings.folds:
        settings.resolved["save_name"] = fold_name(save_stem(settings.save_name), settings.fold)
    loaded = bool(settings.load)
    check_fine_tuning(settings, loaded)
    if loaded:
        net = load_net(single_model(settings.load))
        neps = net.attr_int("neps", settings.neps)
        pairs = read_pairs(args, model_unicode(net))
    else:
        pairs = read_pairs(args, settings.unicode)
        neps = settings.neps
        net = build_network(settings, len(pairs.icodec), len(pairs.codec))
        net.icodec, net.codec = pairs.icodec.codepoints, pairs.codec.codepoints
        net.attributes["neps"] = str(neps)
        net.attributes["unicode"] = settings.unicode
    check_folds(settings, len(pairs))
    key = data_key([f"{a}\t{b}" for a, b in zip(pairs.inputs, pairs.outputs)])
    state = resume_state(settings, key)
    where = " and ".join(args)
    if loaded:
        icodec = fit_codec(net, settings, pairs.inputs, where, state, inputs=True)
        codec = fit_codec(net, settings, pairs.outputs, where, state)
    else:
        icodec, codec = pairs.icodec, pairs.codec
    configure_learning(net, settings)
    show_info(net, settings)
    task = TextCoder.of_pairs(pairs, icodec, codec, neps).task(settings)
    train_indices, held_out, keep = validation_split(settings, len(pairs), state)

    def evaluation(path, keyword):
        """The test callable over the pairs at ``path`` (TESTERR), or the held-out pairs (VALERR)."""
        if path is None:
            return ctc_test(settings, task, held_out, keyword)
        other = TextCoder.of_pairs(TextPairs.read(path, pairs.unicode), icodec, codec, neps)
        other.warn_unknown(path, lambda line: print(f"# {line}"))
        return ctc_test(settings, other.task(settings), range(min(len(other.texts_in), settings.maxeval)), keyword)

    test = evaluation(settings.testset, "TESTERR") if settings.testset else None
    validate = evaluation(settings.valset or None, "VALERR") if settings.valset or held_out else None
    start = start_trial(net, settings, loaded)
    trainer = make_trainer(net, settings, task, train_indices, test=test, display=ctc_display(settings),
                      validate=validate, state=state, keep=keep,
                      freeze_until=start + settings.freeze if loaded else 0, data_key=key)
    return trainer.train(start, settings.ntrain)


def body(args, settings):
    if settings.mode in ("filter", "report"):
        return evaluate(settings, args, settings.mode)
    return train(settings, args)


main = main_of(PROGRAM, body, SYNOPSIS, FORMATS, COMMON)

if __name__ == "__main__":
    main()
