"""What the three programs share: usage and error handling, model building and the test/display glue."""
import gc
import os
import sys
import traceback

import numpy as np

from .. import distributed, parallel, resume
from ..codec import Codec, missing_warning, resized_codec
from ..modelfile import save_stem
from ..network import NetworkError, describe_maps, make_net, network_info, seed_dropout
from ..params import ParamError, brief_usage, read_params, suspicious_names, usage
from ..tasks import TrainingError, evaluate_ctc
from . import version_line


class UsageError(ValueError):
    """The command line itself is wrong (files missing or too many)."""


def run(program, body, synopsis, formats, common=(), bare=None):
    """Run ``body(args, settings)`` as the program: the short usage (``common``: the settings used most)
    on -h/--help or no arguments (unless ``bare(settings)`` says it runs without), the whole usage on
    --help-all, the version on --version, one-line errors on stderr with a non-zero exit (a traceback
    only with debug=1)."""
    try:
        return _run(program, body, synopsis, formats, common, bare)
    except BrokenPipeError:
        # the reader went away (``clstmctc mode=text ... | head``): stop quietly, as Unix tools do
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141


def _run(program, body, synopsis, formats, common, bare):
    args = sys.argv[1:]
    if args and args[0] in ("-h", "--help"):
        print(brief_usage(program, synopsis, shown(*common)))
        return 0
    if args and args[0] == "--help-all":
        print(usage(program, synopsis, formats))
        return 0
    if args and args[0] == "--version":
        print(version_line(program))
        return 0
    debug = os.environ.get("debug", "0") not in ("", "0")
    w = None
    try:
        w = distributed.world()
        settings = read_params(program, stderr=None if w is None or w.leader else open(os.devnull, "w"))
        if w is not None:
            settings = w.broadcast(settings)  # rank 0's: every rank has the same seed and draws
            distributed.silence_followers(w)
        if settings.params_only:
            if not settings.params:  # params=1 already echoed them
                for name, value in settings.attributes().items():
                    print(f"#: {name} = {value}", file=sys.stderr)
            return 0
        if not args and not (bare and bare(settings)):
            print(brief_usage(program, synopsis, shown(*common)), file=sys.stderr)
            return 2
        for name in suspicious_names(os.environ, program):
            print(f"{program}: warning: {name} is not a parameter of {program} (misspelled?)", file=sys.stderr)
        parallel.set_threads(settings.get("threads", 0) or distributed.threads_per_rank(w, parallel.cpu_count()))
        return body(args, settings) or 0
    except BrokenPipeError:
        raise
    except (ParamError, UsageError, TrainingError, ValueError, OSError, distributed.DistributedError) as error:
        if debug:
            traceback.print_exc()
        print(f"{program}: error: {error}", file=sys.stderr)
        if w is not None:  # the other ranks may wait for this one in a sum: end them all
            w.abort(1)
        return 1
    except _interruptions():
        print(f"{program}: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # a bug: still one line, the traceback with debug=1
        if debug:
            traceback.print_exc()
        print(f"{program}: internal error: {error.__class__.__name__}: {error} (debug=1 shows the traceback)",
              file=sys.stderr)
        return 2


#: what the settings -h shows do, in a few words (a program that words one its own way gives its words)
BRIEFS = {
    "load": "model to start from or apply (a.h5,b.h5 or a*.h5: vote)",
    "save_name": "where models are saved: NAME.h5 (required to train)",
    "test_every": "test and validate every N lines",
    "early_stop": "stop after N tests without a better validation error",
    "ntrain": "the number of training lines",
    "lrate": "learning rate",
    "optimizer": "sgd (clstm's momentum updates) or adam",
    "nhidden": "LSTM cells per direction",
    "lstm": "network: BIDILSTM, LSTM1, BIDILSTM2, ...",
    "minibatch": "lines per weight update",
    "threads": "threads to compute with (0: all cores)",
    "seed": "seed of every random choice (0: a fresh one)",
    "resize": "with load=: union adds the data's new characters",
    "freeze": "with load=: train the output layer alone for N lines",
    "folds": "train K cross-fold models: save_name-fold0.h5 ...",
    "report": "also write the evaluation report to this JSON file",
    "disagree": "with several models: the N lines they disagree on most",
    "report_every": "print a progress report every N lines (0: never)",
    "display_every": "write a picture of the outputs every N lines",
}


def shown(*settings):
    """The settings -h shows, as (name, words) pairs: a name takes its words from BRIEFS, a (name, words)
    pair is a program's own wording."""
    return tuple((setting, BRIEFS[setting]) if isinstance(setting, str) else setting for setting in settings)


def _interruptions():
    """What stops a run on a signal: KeyboardInterrupt, and the trainer's Interrupted where the trainer
    was loaded (only it raises that; recognition alone does not load it)."""
    trainer = sys.modules.get("clstmtools.trainer")
    return (KeyboardInterrupt,) if trainer is None else (KeyboardInterrupt, trainer.Interrupted)


def main_of(program, body, synopsis, formats, common=(), bare=None):
    """The console-script entry point for a program (``common``: its settings used most, for -h; see
    :func:`shown`)."""
    def main():
        # the modules imported so far stay for the whole run: the cyclic garbage collector need not
        # walk their objects (Numba's alone are over 100,000) again and again; nor when the interpreter
        # exits, where its last collections took 0.15 s of a short run (mode=text)
        gc.freeze()
        try:
            status = run(program, body, synopsis, formats, common, bare)
        finally:
            gc.freeze()
        sys.exit(status)
    return main


def need_files(args, count, what):
    if len(args) not in count:
        raise UsageError(f"expected {what}, got {len(args)} argument(s): {' '.join(args)}")


def build_network(settings, ninput, noutput):
    """A new network of the settings' kind (or VGSL spec) and sizes, initialized from the run's generator."""
    if settings.spec:
        return make_net("VGSL", rng=settings.rng, init=settings.init, spec=settings.spec, ninput=ninput,
                        noutput=noutput)
    return make_net(settings.lstm, rng=settings.rng, init=settings.init, ninput=ninput, nhidden=settings.nhidden,
                    nhidden2=settings.nhidden2, noutput=noutput, lstm_type=settings.lstm_type,
                    output_type=settings.output_type)


def configure_learning(net, settings):
    """The run's learning rate, normalization and optimizer, and its dropout layers' generators (from the
    run's seed: a network loaded from a file keeps no random state; a resumed run then restores them)."""
    seed_dropout(net, np.random.SeedSequence(settings.seed, spawn_key=(STREAMS["dropout"],)))
    net.setLearningRate(settings.lrate, settings.momentum)
    net.set_normalization(settings.lrnorm)
    net.set_optimizer(settings.optimizer, settings.beta1, settings.beta2, settings.eps, settings.weight_decay)


def start_trial(net, settings, loaded):
    if settings.start >= 0:
        return settings.start
    return net.attr_int("trial", 0) if loaded else 0


def show_info(net, settings):
    if settings.info or settings.verbose:
        print(network_info(net))


def require_save_name(settings, program):
    if not settings.save_name:
        raise ParamError(f"save_name: required to train with {program} (e.g. save_name=mymodel)")


def protect_inputs(settings, paths):
    """Refuse a save_name whose model file would replace one of the run's data files."""
    target = save_stem(settings.save_name) + ".h5"
    if not settings.save_name or not os.path.exists(target):
        return
    for path in [*paths, settings.get("testset"), settings.get("valset")]:
        if path and os.path.exists(path) and os.path.samefile(path, target):
            raise ParamError(f"save_name={settings.save_name!r}: saving to {target} would replace the data "
                             f"file {path}")


def display_path(settings):
    if settings.display:
        return settings.display
    return f"{save_stem(settings.save_name) or 'clstm'}-display.png"


def ctc_test_line(trainer, result, settings, keyword="TESTERR"):
    """(error rate, the original's TESTERR line, or its VALERR twin) from (total edit distance, total characters)."""
    errors, count = result
    rate = errors / max(count, 1)
    fields = [keyword, f"{trainer.elapsed():.1f}", trainer.save_name or "-", trainer.trial, f"{rate:g}",
              "lrate", f"{settings.lrate:g}", "hidden", *trainer.hidden_sizes(),
              "batch", settings.pseudo_batch, "momentum", f"{settings.momentum:g}", "errors", errors, "chars", count]
    return rate, " ".join(str(f) for f in fields)


def ctc_display(settings, net=None):
    """The trainer's display callback for CTC training (None without display_every)."""
    if settings.display_every <= 0:
        return None
    from ..display import write_display
    target = display_path(settings)
    maps = describe_maps(net) if net is not None else ""

    def display(record):
        title = f"input: {record['input_text']}" if record.get("input_text") else None
        write_display(target, record["input"], record["outputs"], record["aligned"], record["truth"],
                      record["output"], title=title, maps=maps)
    return display


def warner(program):
    """``warn(message)``: one ``PROGRAM: warning: ...`` line on stderr."""
    def warn(message):
        print(f"{program}: warning: {message}", file=sys.stderr)
    return warn


def skip_short_lines(settings, name, say, consequence, reported=None):
    """The ``skip`` callback of :func:`clstmtools.recognize.network_outputs`: a line too short for
    the network (``name(i)`` names it) is reported once through ``say`` and left out, with
    ``consequence`` saying what that means; with strict=1 (clstmctc) it is an error. ``reported`` (a set)
    remembers the lines already reported across calls."""
    reported = set() if reported is None else reported
    strict = settings.get("strict")  # None: the program has no strict=
    note = " (strict=1 makes this an error)" if strict is not None else ""

    def skip(i, reason):
        message = f"{name(i)}: {reason}"
        if strict:
            raise NetworkError(message)
        if i not in reported:
            reported.add(i)
            say(f"skipping {message}; {consequence}{note}")
    return skip


def ctc_test(settings, task, indices, keyword="TESTERR"):
    """The trainer's test (or validation) callable: ``task`` evaluated on the samples ``indices``
    (a line too short for the network is reported at the first test and left out of every one)."""
    reported = set()

    def test(net, trainer):
        skip = skip_short_lines(settings, task.name, trainer.warn, f"not counted in {keyword}", reported)
        w = getattr(trainer, "world", None)
        if w is None:
            return ctc_test_line(trainer, evaluate_ctc(net, task, indices, skip), settings, keyword)
        errors, count = w.sum(evaluate_ctc(net, task, w.share(indices), skip))  # each rank its part
        return ctc_test_line(trainer, (int(errors), int(count)), settings, keyword)
    return test


#: spawn keys of the run's independent random streams besides ``settings.rng`` (weights, sample order)
STREAMS = {"augment": 2, "validation": 3, "dropout": 4, "folds": 5}


def run_generator(settings, purpose):
    """The run's own random generator for ``purpose`` (``augment``, ``validation``), seeded by ``seed``."""
    return np.random.default_rng(np.random.SeedSequence(settings.seed, spawn_key=(STREAMS[purpose],)))


def resume_state(settings, data_key=None):
    """The run state stored in the ``load=`` model (None without one, or when ``start=`` is set). When
    the model was trained on other data than ``data_key`` names, its model selection is left behind
    (:meth:`clstmtools.resume.RunState.without_selection`)."""
    if not settings.load or settings.start >= 0:
        return None
    try:
        state = resume.read(settings.load)
    except (OSError, KeyError, ValueError) as error:
        raise UsageError(f"{settings.load}: unreadable resume state ({error})") from None
    if state is not None and data_key is not None and state.get("data") not in (None, data_key):
        print(f"# {settings.load} was trained on other lines: its weights and optimizer state go on, the choice "
              f"of the best model starts afresh")
        state = state.without_selection()
    return state


def make_trainer(net, settings, task, train_indices, **options):
    """The trainer of this run: a :class:`~clstmtools.trainer.Trainer`, or on the ranks of an MPI job (but for
    folds, which train a model each) a :class:`~clstmtools.data_parallel.DataParallelTrainer`."""
    w = distributed.world()
    if w is None or settings.get("folds"):
        from ..trainer import Trainer

        return Trainer(net, settings, task, train_indices, **options)
    from ..data_parallel import DataParallelTrainer

    return DataParallelTrainer(net, settings, task, train_indices, world=w, **options)


def check_fine_tuning(settings, loaded):
    """resize= and freeze= change a loaded model: refuse them without one."""
    for name, unset in (("resize", "fail"), ("freeze", 0)):
        if settings.get(name) != unset and not loaded:
            raise ParamError(f"{name}={settings.get(name)}: fine-tunes a loaded model; set load=MODEL.h5")


def fit_codec(net, settings, texts, where, state, inputs=False):
    """The codec a loaded network needs to train on ``texts`` (the data set ``where``), by resize=: the
    network's outputs (``inputs``: a transducer's input characters) resized to it, with the run
    ``state``; a one-line report of the change. ValueError (naming resize=union) for characters the
    model lacks with resize=fail."""
    from ..network.finetune import resize_inputs, resize_outputs  # training a loaded model only

    old = Codec(net.icodec if inputs else net.codec)
    new = resized_codec(old, texts, settings.resize, where, "the model's input codec" if inputs else "the model's codec")
    if new == old:
        return old
    (resize_inputs if inputs else resize_outputs)(net, new.translation_to(old), settings.rng, settings.init, state)
    if inputs:
        net.icodec = new.codepoints
    else:
        net.codec = new.codepoints
    added = "".join(c for c in new.decode(range(1, len(new))) if c not in old)
    dropped = "".join(c for c in old.decode(range(1, len(old))) if c not in new)
    what = "inputs" if inputs else "outputs"
    print(f"# resize={settings.resize}: {len(old)} -> {len(new)} {what}" + (f"; added {added!r}" if added else "")
          + (f"; dropped {dropped!r}" if dropped else ""))
    return new


def warn_unknown(counts, where, say, whose="the model's codec"):
    """``say`` the one line naming the characters of the data set ``where`` that ``whose`` codec lacks (they
    count as errors), when there are any."""
    if counts:
        say(missing_warning(counts, where, whose))


def validation_split(settings, count, state):
    """``(training indices, held-out indices or None, arrays to keep in the run state)`` for
    ``validation=F``: a seeded F of the ``count`` samples; with ``folds=K fold=k``, fold k of K seeded
    folds. A run resumed from ``state`` holds out the very same samples (when the state's split is of
    the same kind: the same fold's, or a fraction's)."""
    fold = [settings.fold, settings.folds] if settings.get("folds") else []
    kept = state is not None and "validation" in state.arrays and \
        [int(v) for v in state.arrays.get("fold", [])] == fold
    if fold:
        from .folds import fold_of

        k, folds = fold
        held = sorted(int(i) for i in state.arrays["validation"]) if kept else \
            fold_of(count, folds, k, run_generator(settings, "folds"))
        print(f"# fold {k} of {folds}: {len(held)} of {count} training samples held out for validation")
    else:
        fraction = settings.validation
        if fraction <= 0:
            return list(range(count)), None, None
        if fraction >= 1:
            raise ParamError(f"validation={fraction!r}: expected a fraction 0 < F < 1")
        if settings.valset:
            raise ParamError("valset and validation both set: hold out a fraction or give a set, not both")
        if kept:
            held = sorted(int(i) for i in state.arrays["validation"])
        else:
            size = min(max(1, round(fraction * count)), count - 1)
            held = sorted(int(i) for i in run_generator(settings, "validation").permutation(count)[:size])
        if not held or len(held) >= count or held[-1] >= count:
            raise UsageError(f"validation={fraction!r}: cannot hold out a fraction of {count} sample(s)")
        print(f"# validation: {len(held)} of {count} training samples held out (validation={fraction:g})")
    chosen = set(held)
    keep = {"validation": held, **({"fold": fold} if fold else {})}
    return [i for i in range(count) if i not in chosen], held, keep
