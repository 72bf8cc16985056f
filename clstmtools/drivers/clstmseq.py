"""clstmseq: train and test sequence -> sequence networks on clstm's HDF5 sequence files."""
from ..datasets import SeqH5Dataset
from ..modelfile import load_net
from ..tasks import SeqTask
from .common import (UsageError, build_network, configure_learning, display_path, main_of, make_trainer, need_files,
                     protect_inputs, resume_state, show_info, start_trial)

PROGRAM = "clstmseq"
SYNOPSIS = """usage: [name=value ...] clstmseq DATA.h5
       mode=test load=MODEL.h5 clstmseq DATA.h5
       clstmseq -h | --help-all | --version

Learns sequence -> sequence mappings (one output vector per input step).
Samples whose index is a multiple of testmod are held out and tested every
test_every lines. Settings are environment variables; lo,hi draws a random
value, a:b:c picks one, seed= repeats the draws.

DATA.h5: clstm's sequence layout (inputs, outputs and their _dims).

Example:
  lrate=1e-3 nhidden=20 save_name=dmod3 clstmseq dmod3.h5"""
#: the settings -h shows: a name (its words from common.BRIEFS), or (name, this program's words)
COMMON = (
    ("mode", "train; test: test load= on the held-out samples"),
    ("load", "model to start from or to test"),
    ("save_name", "where models are saved: NAME.h5"),
    "ntrain",
    ("testmod", "samples whose index is a multiple of N are held out"),
    ("test_every", "test every N lines"),
    ("early_stop", "stop after N tests without a better test error"),
    "lrate", "optimizer", "nhidden",
    "lstm",
    ("output_type", "output layer: SoftmaxLayer, SigmoidLayer, ..."),
    "threads", "seed", "display_every", "report_every",
)
FORMATS = """DATA.h5 (clstm's sequence layout): inputs and outputs, variable-length float arrays (each a
(T, depth) array flattened row by row), with inputs_dims and outputs_dims, (N, 2) shapes
(T, depth). An output depth of 1 is widened to 2 as [1 - y, y]."""


def test_line(task, net, indices, trial, world=None):
    """(binary error, the TESTERR line) of ``net`` on the samples ``indices`` (split among ``world``'s ranks)."""
    if world is None:
        mse, mse0, cerr, cerr0, n = task.test(net, indices)
    else:
        mse, mse0, cerr, cerr0, n = task.test(net, world.share(indices), world.sum)
    line = (f"TESTERR {mse:g} {mse / max(mse0, 1e-12):g} CERR {cerr:g} {cerr / max(cerr0, 1e-12):g} "
            f"N {n} at {trial}")
    return cerr, line


def body(args, settings):
    need_files(args, (1,), "one sequence data file")
    data = SeqH5Dataset(args[0])
    test_indices = [i for i in range(len(data)) if i % settings.testmod == 0][:settings.ntest]
    train_indices = [i for i in range(len(data)) if i % settings.testmod != 0]
    task = SeqTask(data, debug_nets=settings.debug_nets, debug_states=settings.debug_states)
    if settings.mode == "test":
        if not settings.load:
            raise UsageError("mode=test needs a model: set load=MODEL.h5")
        net = load_net(settings.load)
        check_shapes(net, data, args[0])
        print(test_line(task, net, test_indices, net.attr_int("trial", 0))[1])
        return 0
    protect_inputs(settings, args)
    loaded = bool(settings.load)
    if loaded:
        net = load_net(settings.load)
        check_shapes(net, data, args[0])
    else:
        net = build_network(settings, data.ninput, data.noutput)
        check_steps(net)
    configure_learning(net, settings)
    show_info(net, settings)
    task.net = net
    if not train_indices:
        raise UsageError(f"{args[0]}: every sample is held out for testing (testmod={settings.testmod})")
    test = None
    if test_indices:
        def test(net, trainer):
            return test_line(task, net, test_indices, trainer.trial, getattr(trainer, "world", None))
    display = None
    if settings.display_every > 0:
        from ..display import write_seq_display
        target = display_path(settings)

        def display(record):
            write_seq_display(target, record["input"], record["outputs"], record["target"])

    trainer = make_trainer(net, settings, task, train_indices, test=test, display=display, state=resume_state(settings))
    return trainer.train(start_trial(net, settings, loaded), settings.ntrain)


def check_shapes(net, data, path):
    if (net.ninput(), net.noutput()) != (data.ninput, data.noutput):
        raise UsageError(f"{path}: samples have {data.ninput} inputs and {data.noutput} outputs, the model "
                         f"{net.ninput()} and {net.noutput()}")
    check_steps(net)


def check_steps(net):
    """clstmseq's targets have one value per input step: a network whose pooling shortens sequences cannot learn them."""
    if net.output_length(POOLING_PROBE) != POOLING_PROBE:
        raise UsageError("clstmseq needs one output step per input step, but the network's horizontal pooling (Mp) "
                         "or strides shorten the sequence; leave them out of spec=")


#: a sequence length divisible by any pooling a spec can hold (a pooled network shortens it)
POOLING_PROBE = 1 << 20


main = main_of(PROGRAM, body, SYNOPSIS, FORMATS, COMMON)

if __name__ == "__main__":
    main()
