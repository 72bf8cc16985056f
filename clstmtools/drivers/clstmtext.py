"""clstmtext: train and apply string transducers (text -> text) by CTC, configured from the environment."""
from ..codec import Codec, missing_characters, missing_warning, normalize_text
from ..datasets import DatasetError, TextPairs, encode_input, read_text_lines
from ..modelfile import load_net
from ..recognize import network_outputs
from ..tasks import CtcTask
from .common import (UsageError, build_network, check_fine_tuning, configure_learning, ctc_display, ctc_test,
                     fit_codec, main_of, need_files, protect_inputs, require_save_name, resume_state, save_base,
                     show_info, skip_short_lines, start_trial, validation_split, warn_unknown, warner)
from .folds import check_folds, fold_name, run_folds

PROGRAM = "clstmtext"
SYNOPSIS = """usage: [name=value ...] clstmtext PAIRS.txt
       [name=value ...] clstmtext INPUTS.txt OUTPUTS.txt
       mode=filter load=MODEL.h5 clstmtext TEXT.txt

Learns string -> string transformations (e.g. spelling -> pronunciation) by CTC; with
mode=filter, prints the trained model's output for every input line."""
FORMATS = """PAIRS.txt: UTF-8 lines input<TAB>output; blank lines and lines starting with '# ' are
skipped, as are lines with an empty side. Or two files of inputs and outputs, line by line.
Inputs become one-hot sequences with neps empty steps before the text and after each character.
With mode=filter, each line's text before a tab (if any) is transformed. Both sides are
Unicode-normalized as read (unicode=NFC); a model keeps its form and applies it to what it reads."""


class TextCoder:
    """Pairs as network inputs and labels under a model's input and output codecs. A pair whose input has
    characters outside the input codec cannot be read (evaluation counts it as recognized as nothing);
    ``unknown_inputs`` and ``unknown_outputs`` count the characters outside either codec."""

    def __init__(self, pairs, icodec, codec, neps):
        self.pairs, self.icodec, self.codec, self.neps = pairs, icodec, codec, neps
        self.unknown_inputs = missing_characters(pairs.inputs, icodec)
        self.unknown_outputs = missing_characters(pairs.outputs, codec)

    def _in(self, i, codec, text):
        try:
            return codec.encode(text)
        except ValueError as error:
            raise DatasetError(f"{self.pairs.sources[i]}: {error}") from None

    def readable(self, i):
        return not self.unknown_inputs or not self.icodec.missing(self.pairs.inputs[i])

    def inputs(self, i):
        self._in(i, self.icodec, self.pairs.inputs[i])
        return encode_input(self.pairs.inputs[i], self.icodec, self.neps)

    def labels(self, i):
        return self._in(i, self.codec, self.pairs.outputs[i])

    def task(self, settings):
        return CtcTask(self.inputs, self.labels, self.codec, settings.ctc, name=lambda i: self.pairs.sources[i],
                       input_text=lambda i: self.pairs.inputs[i], truth=lambda i: self.pairs.outputs[i],
                       readable=self.readable)

    def warn_unknown(self, where, say):
        """One line for the output characters outside the model's codec and one for the unreadable inputs."""
        warn_unknown(self.unknown_outputs, where, say)
        if self.unknown_inputs:
            say(missing_warning(self.unknown_inputs, where, "the model's input") +
                " (their lines count as recognized as nothing)")


def read_pairs(args, unicode):
    if len(args) == 1:
        return TextPairs.read(args[0], unicode)
    return TextPairs.read_two(args[0], args[1], unicode)


def model_unicode(net):
    """The Unicode normalization a model was trained with (none for models from before unicode=)."""
    return net.attributes.get("unicode", "none")


def filter_lines(settings, args):
    need_files(args, (1,), "one text file to filter")
    if not settings.load:
        raise UsageError("mode=filter needs a model: set load=MODEL.h5")
    net = load_net(settings.load)
    icodec, codec = Codec(net.icodec), Codec(net.codec)
    neps = net.attr_int("neps", settings.neps)
    unicode = model_unicode(net)
    task = CtcTask(None, None, codec, settings.ctc)
    lines = [(number, normalize_text(line.split("\t", 1)[0], unicode))
             for number, line in enumerate(read_text_lines(args[0]), 1)]
    unknown = missing_characters((text for _, text in lines), icodec)
    texts = [(number, text) for number, text in lines if text and not (unknown and icodec.missing(text))]
    warn = warner(PROGRAM)
    if unknown:
        warn(missing_warning(unknown, args[0], "the model's input") + " (their lines are printed empty)")

    def load(k):
        return encode_input(texts[k][1], icodec, neps)

    skip = skip_short_lines(settings, lambda k: f"{args[0]}:{texts[k][0]}", warn, "printed as an empty line")
    recognized = network_outputs(net, load, range(len(texts)), skip=skip)
    pending = next(recognized, None)
    k = 0  # the position in ``texts`` of the next non-empty line
    readable = {number for number, _ in texts}
    for number, _ in lines:
        if number in readable:
            if pending is not None and pending[0] == k:
                print(codec.decode(task.decode(pending[2])), end="")
                pending = next(recognized, None)
            k += 1
        print()
    return 0


def train(settings, args):
    from ..resume import data_key
    from ..trainer import Trainer  # training only: recognition starts without it

    need_files(args, (1, 2), "a pairs file, or an inputs file and an outputs file")
    require_save_name(settings, PROGRAM)
    protect_inputs(settings, args)
    if settings.folds:
        check_folds(settings, len(read_pairs(args, settings.unicode)))
        if settings.fold < 0:
            return run_folds(PROGRAM, settings, args, save_base(settings))
        settings.resolved["save_name"] = fold_name(save_base(settings), settings.fold)
    loaded = bool(settings.load)
    check_fine_tuning(settings, loaded)
    if loaded:
        net = load_net(settings.load)
        neps = net.attr_int("neps", settings.neps)
        pairs = read_pairs(args, model_unicode(net))
    else:
        pairs = read_pairs(args, settings.unicode)
        neps = settings.neps
        net = build_network(settings, len(pairs.icodec), len(pairs.codec))
        net.icodec, net.codec = pairs.icodec.codepoints, pairs.codec.codepoints
        net.attributes["neps"] = str(neps)
        net.attributes["unicode"] = settings.unicode
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
    task = TextCoder(pairs, icodec, codec, neps).task(settings)
    train_indices, held_out = validation_split(settings, len(pairs), state)

    def evaluation(path, keyword):
        """The test callable over the pairs at ``path`` (TESTERR), or the held-out pairs (VALERR)."""
        if path is None:
            return ctc_test(settings, task, held_out, keyword)
        other = TextCoder(TextPairs.read(path, pairs.unicode), icodec, codec, neps)
        other.warn_unknown(path, lambda line: print(f"# {line}"))
        return ctc_test(settings, other.task(settings), range(min(len(other.pairs), settings.maxeval)), keyword)

    test = evaluation(settings.testset, "TESTERR") if settings.testset else None
    validate = evaluation(settings.valset or None, "VALERR") if settings.valset or held_out else None
    start = start_trial(net, settings, loaded)
    trainer = Trainer(net, settings, task, train_indices, test=test, display=ctc_display(settings),
                      validate=validate, state=state, keep={"validation": held_out} if held_out else None,
                      freeze_until=start + settings.freeze if loaded else 0, data_key=key)
    return trainer.train(start, settings.ntrain)


def body(args, settings):
    if settings.mode == "filter":
        return filter_lines(settings, args)
    return train(settings, args)


main = main_of(PROGRAM, body, SYNOPSIS, FORMATS)

if __name__ == "__main__":
    main()
