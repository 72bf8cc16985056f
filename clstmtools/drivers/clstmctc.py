"""clstmctc: train and apply text-line recognizers (line images -> text) by CTC, configured from the environment."""
import os
import sys
import warnings

import h5py

from ..codec import Codec, missing_characters
from ..memory import keep_freed_memory
from ..datasets import OcrH5Dataset, PageLineDataset, open_ocr_dataset
from ..ensemble import Reader, model_paths, recognized_lines, single_model
from ..modelfile import load_net, save_stem
from ..network import SPEC_PREFABS, line_format
from ..tasks import AlignedTask, CtcTask
from .common import (UsageError, build_network, check_fine_tuning, configure_learning, ctc_display, ctc_test,
                     fit_codec, main_of, make_trainer, need_files, protect_inputs, require_save_name, resume_state,
                     run_generator, show_info, skip_short_lines, start_trial, validation_split, warn_unknown, warner)
from .folds import check_folds, fold_name, run_folds
from .outcome import Outcome

PROGRAM = "clstmctc"
SYNOPSIS = """usage: [name=value ...] clstmctc DATA
       load=MODEL.h5 mode=errs|text|full|quiet|report clstmctc DATA
       clstmctc -h | --help-all | --version

Learns image -> text transformations (text-line recognition) by CTC, modelling
sequences of vertical slices through each line image; or applies a trained
model. Settings are environment variables; lo,hi draws a random value, a:b:c
picks one, seed= repeats the draws.

DATA (and testset=, valset=): a clstm HDF5 file; a list of line images, one
path a line, with x.gt.txt beside x.png; a folder of images labelled
ID_LABEL.png or by labels.txt; PAGE XML or ALTO (a file, folder or list).

Examples:
  save_name=book validation=0.1 testset=test.txt test_every=1000 \\
    clstmctc train.txt
  load=book.h5 mode=errs clstmctc test.txt
  load=book.h5 mode=text output=recognized/ clstmctc page.xml"""
#: the settings -h shows: a name (its words from common.BRIEFS), or (name, this program's words)
COMMON = (
    ("mode", "train; errs, text, full, quiet, report: apply load="),
    "load", "save_name",
    ("testset", "test data, tested every test_every lines"),
    ("valset", "validation data: it chooses the model saved"),
    ("validation", "or hold out this fraction of the training data"),
    "test_every", "early_stop", "ntrain", "lrate", "optimizer",
    ("lstm", "network: BIDILSTM, CNNBIDILSTM, CRNN, ..."),
    ("spec", "a VGSL network spec (kraken's notation), not lstm="),
    "nhidden",
    ("augment", "1: degrade training lines on the fly"),
    "minibatch", "threads", "seed", "resize", "freeze", "folds",
    ("target_height", "line height after normalization"),
    ("unicode", "Unicode normalization of the transcripts"),
    ("conf", "1: mode=text prints each line's mean confidence"),
    ("beam", "N: prefix beam search of width N (0: greedy decoding)"),
    ("output", "mode=text on PAGE/ALTO: write copies with the text here"),
    "report", "disagree", "report_every",
)
FORMATS = """DATA (and testset=) is one of:
  - a clstm HDF5 file: images (variable-length float arrays, each a (width, height) array
    flattened row by row), images_dims (N, 2), transcripts (variable-length int arrays of
    labels >= 1), codec (the code point of each label; entry 0 is the blank);
  - a text file listing line images, one path per line (relative to the list), each with its
    ground truth beside it (x.bin.png or x.png -> x.gt.txt); centre-normalized by default;
  - a folder of images labelled by file name (ID_LABEL.png; %XX or %uXXXX escapes for characters
    a file name cannot hold) or by a labels.txt (FILENAME<TAB>LABEL lines); names without a label
    are reported and skipped (strict=1: an error). Images of any size, colour or grey, dark or
    light ink, are scaled to target_height keeping their aspect ratio (dewarp=none; the same
    for a list file);
  - PAGE XML or ALTO: one file, a folder of .xml files, or a list file of them (a line
    page.xml<TAB>page.tif names the image; else the file's own, looked up beside it or in a
    folder above). Each line is
    cut out of the page image along its polygon, in reading order; lines without coordinates,
    text or a place on the image are reported and skipped (strict=1: an error). With mode=text,
    output=DIR writes a copy of each file with the recognized text (PAGE: a TextEquiv with conf;
    ALTO: String and SP elements).
Images may be any format Pillow reads (TIFF: 1-bit, 16-bit grey; of a multi-page TIFF the first
page, the others reported). Transcripts are Unicode-normalized as read (unicode=NFC).
With mode=text no ground truth is needed. With dewarp=auto, images are normalized the way the
model's training lines were (scaled or dewarped), else by the kind of input.
Models are clstm HDF5 model files."""

EVAL_MODES = ("errs", "text", "full", "quiet", "report")


#: dewarp= for image files that reproduces a model's line_normalization attribute
DEWARP_OF_NORMALIZATION = {"scale": "none", "center": "center", "mean": "mean"}


def open_data(settings, path, codec=None, labelled=True, trained_normalization=None, unicode=None, channels=1):
    """The dataset at ``path``; with dewarp=auto, image files are normalized as the model's training lines
    were (``trained_normalization``), else by the kind of input; transcripts in Unicode normalization
    ``unicode`` (a model's; default the unicode= setting); lines in grey or, with ``channels=3``, colour.
    Warnings become one line each on stderr."""
    if path.endswith((".h5", ".hdf5")) and os.path.isfile(path) and not h5py.is_hdf5(path):
        # the dataset opener would read it as a list of image paths and complain about its first line
        raise UsageError(f"{path}: not an HDF5 file (no HDF5 signature)")
    norm = dict(norm_range=settings.norm_range, norm_vscale=settings.norm_vscale,
                norm_smooth2d=settings.norm_smooth2d, norm_smooth1d=settings.norm_smooth1d)
    dewarp = None if settings.dewarp == "auto" else settings.dewarp
    if dewarp is None and not (os.path.isfile(path) and h5py.is_hdf5(path)):
        dewarp = DEWARP_OF_NORMALIZATION.get(trained_normalization)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = open_ocr_dataset(path, codec=codec, dewarp=dewarp, target_height=settings.target_height, norm=norm,
                                strict=bool(settings.strict), labelled=labelled, target_name=settings.target_name,
                                unicode=unicode or settings.unicode, channels=channels)
    for warning in caught:
        warner(PROGRAM)(warning.message)
    return data


def use_spec_height(settings, net=None):
    """The height of the lines a network reads (a loaded model's, see :func:`model_lines`; else spec= or a
    named spec's, where it is not 0) becomes target_height; returns their channels: 1 (grey) or 3 (colour)."""
    if net is not None:
        height, channels = model_lines(settings, net)
    else:
        spec = settings.spec or SPEC_PREFABS.get(settings.lstm)
        height, channels = line_format(spec) if spec else (0, 1)
    if height > 0:
        settings.resolved["target_height"] = height
    return channels


def model_lines(settings, net):
    """``(height, channels)`` of the lines ``net`` reads: a VGSL network's, else grey lines of target_height
    when it is set, else of the network's input depth."""
    spec = net.attributes.get("spec")
    if spec:
        height, channels = line_format(spec)
        return height or net.ninput() // channels, channels
    return settings.target_height if "target_height" in settings.given else net.ninput(), 1


def check_depth(net, data, path):
    if data.depth != net.ninput():
        raise UsageError(f"{path}: lines have depth (height) {data.depth} but the model expects "
                         f"{net.ninput()}; set target_height or dewarp to match")


def model_unicode(net):
    """The Unicode normalization a model was trained with (none for models from before unicode=)."""
    return net.attributes.get("unicode", "none")


def open_readers(settings, path, labelled):
    """The models of load= (one, or several that vote), each with the lines at ``path`` read its way (the data
    opened once per line height, normalization and Unicode form): ``(readers, datasets)``."""
    readers, datasets = [], {}
    for model in model_paths(settings.load):
        net = load_net(model)
        channels = use_spec_height(settings, net)
        key = (settings.target_height, channels, net.attributes.get("line_normalization"), model_unicode(net))
        if key not in datasets:
            datasets[key] = open_data(settings, path, labelled=labelled, trained_normalization=key[2],
                                      unicode=key[3], channels=channels)
        data = datasets[key]
        check_depth(net, data, path)
        readers.append(Reader(model, net, CtcTask(data.input, data.labels, Codec(net.codec), settings.ctc,
                                                  name=data.name, beam=settings.beam)))
    return readers, list(datasets.values())


def evaluate(settings, path, mode):
    if not settings.load:
        raise UsageError(f"mode={mode} needs a model: set load=MODEL.h5")
    if settings.output and mode != "text":
        raise UsageError(f"output={settings.output} is for mode=text (recognition into PAGE/ALTO copies)")
    if settings.report and mode == "text":
        raise UsageError(f"report={settings.report} needs ground truth: use mode=errs, full, quiet or report")
    keep_freed_memory()  # the buffers change size with every minibatch: reuse memory, not fresh pages
    readers, datasets = open_readers(settings, path, labelled=mode != "text")
    if settings.disagree and len(readers) < 2:
        raise UsageError(f"disagree={settings.disagree} ranks the lines where several models disagree: give "
                         f"load= several models")
    data = datasets[0]
    if settings.output:
        if not isinstance(data, PageLineDataset):
            raise UsageError(f"output={settings.output} needs PAGE or ALTO input, not {path}")
        data.output_paths(settings.output)  # refused now, before any recognition, if it would replace an input
    n = min(len(data), settings.maxeval)
    by_index = isinstance(data, OcrH5Dataset)
    charset = Codec(sorted({point for reader in readers for point in reader.task.codec.codepoints}))
    warn = warner(PROGRAM)
    if mode != "text":
        whose = "the model's codec" if len(readers) == 1 else "any model's codec"
        warn_unknown(missing_characters((data.text(i) for i in range(n)), charset), path, warn, whose)
    skip = skip_short_lines(settings, data.name, warn, "not recognized" if mode == "text" else "not counted")
    lines = recognized_lines(readers, range(n), skip, confidences=bool(settings.conf or settings.output))
    outcome = Outcome(settings, readers, charset)
    results = {}
    for i, recognized, texts in lines:
        name = i if by_index else data.name(i)
        if mode == "text":
            print(f"{name}\t{recognized.text}" + (f"\t{recognized.confidence:.4f}" if settings.conf else ""))
            if settings.output:
                results[i] = recognized
            outcome.add(name, None, recognized.text, texts)
            continue
        truth = data.text(i)
        errors = outcome.add(name, truth, recognized.text, texts)
        if mode == "errs":
            print(f"{errors}\t{recognized.text}")
        elif mode == "full":
            print(f"{errors}\t{name}\t{recognized.text}\t{truth}")
    if settings.output:
        for target in data.write_copies(results, settings.output, keep_old_text=settings.keep_old_text > 0):
            print(f"# wrote {target}", file=sys.stderr)
    outcome.finish(mode)
    return 0


def dump(settings, path):
    data = open_data(settings, path)
    for i in range(min(len(data), settings.maxeval)):
        print(f"{i}\t{data.text(i)}")
    return 0


def train(settings, path):
    from ..augment import Augmenter  # training only: recognition starts without them
    from ..resume import data_key

    require_save_name(settings, PROGRAM)
    protect_inputs(settings, [path])
    if settings.folds and settings.fold < 0:  # the folds' processes (or ranks) train them; checked first
        check_folds(settings, len(open_data(settings, path)))
        return run_folds(PROGRAM, settings, [path], save_stem(settings.save_name), lambda: train(settings, path))
    if settings.folds:
        settings.resolved["save_name"] = fold_name(save_stem(settings.save_name), settings.fold)
    loaded = bool(settings.load)
    check_fine_tuning(settings, loaded)
    if loaded:
        net = load_net(single_model(settings.load))
        channels = use_spec_height(settings, net)
        data = open_data(settings, path, Codec(net.codec), unicode=model_unicode(net), channels=channels)
        check_depth(net, data, path)
    else:
        channels = use_spec_height(settings)
        data = open_data(settings, path, channels=channels)
        net = build_network(settings, data.depth, len(data.codec))
        net.codec = data.codec.codepoints
        net.attributes["unicode"] = settings.unicode  # the codec holds text in this form
    check_folds(settings, len(data))
    texts = [data.text(i) for i in range(len(data))]
    key = data_key(texts)
    state = resume_state(settings, key)
    if loaded:
        codec = fit_codec(net, settings, texts, path, state)
        if codec != data.codec:
            data.encode_with(codec)
    codec = data.codec
    # saved with the model: recognition and test sets then normalize their lines the same way
    net.attributes["line_normalization"] = data.line_normalization
    configure_learning(net, settings)
    show_info(net, settings)
    augment = Augmenter(run_generator(settings, "augment"), settings.augment_p) if settings.augment else None
    if settings.target_name != "ctc":
        task = AlignedTask(data, codec, settings.ctc)
    else:
        task = CtcTask(data.input, data.labels, codec, settings.ctc, name=data.name, beam=settings.beam,
                       strict=bool(settings.strict), augment=augment, width=data.stored_width)
    train_indices, held_out, keep = validation_split(settings, len(data), state)
    data.read_ahead_when_idle(train_indices)  # image lines: their first reading is the costly one

    def evaluation(path, keyword):
        """The test callable over the data at ``path`` (TESTERR) or the held-out lines (VALERR)."""
        if path is None:
            held = CtcTask(data.input, data.labels, codec, settings.ctc, name=data.name, beam=settings.beam)
            return ctc_test(settings, held, held_out, keyword)
        other = open_data(settings, path, codec, trained_normalization=data.line_normalization,
                          unicode=data.unicode, channels=channels)
        check_depth(net, other, path)
        warn_unknown(other.unknown_characters, path, lambda line: print(f"# {line}"))
        other_task = CtcTask(other.input, other.labels, codec, settings.ctc, name=other.name, beam=settings.beam,
                             truth=other.text)
        return ctc_test(settings, other_task, range(min(len(other), settings.maxeval)), keyword)

    test = evaluation(settings.testset, "TESTERR") if settings.testset else None
    validate = None
    if settings.valset or held_out:
        validate = evaluation(settings.valset or None, "VALERR")
    start = start_trial(net, settings, loaded)
    trainer = make_trainer(net, settings, task, train_indices, test=test, display=ctc_display(settings, net),
                      validate=validate, state=state, keep=keep,
                      freeze_until=start + settings.freeze if loaded else 0, data_key=key)
    return trainer.train(start, settings.ntrain)


def body(args, settings):
    need_files(args, (1,), "one data file, line list or image folder")
    mode = "errs" if settings.eval and settings.mode == "train" else settings.mode
    if mode == "dump":
        return dump(settings, args[0])
    if mode in EVAL_MODES:
        return evaluate(settings, args[0], mode)
    return train(settings, args[0])


main = main_of(PROGRAM, body, SYNOPSIS, FORMATS, COMMON)

if __name__ == "__main__":
    main()
