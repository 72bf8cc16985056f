"""clstmsweep: hyperparameter sweeps of clstmctc, clstmtext or clstmseq on Optuna, configured from the environment."""
import io
import os
import sys

from ..params import BY_NAME, PROGRAMS, SEQ, TEXT, ParamError, read_params, search_space, suspicious_names
from .common import UsageError, main_of

PROGRAM = "clstmsweep"
SYNOPSIS = """usage: [name=value ...] clstmsweep PROGRAM DATA...
       mode=report study=NAME [storage=...] clstmsweep
       clstmsweep -h | --help-all | --version

Runs trials=N trials of PROGRAM (clstmctc, clstmtext or clstmseq) on DATA as
one worker of the study study=NAME; any number of workers, on any number of
machines, may share a study. Every setting of PROGRAM given as a range lo,hi
or a choice a:b:c is searched; fixed settings pass through. Each trial is a
training run saved under save_name-trialN (its output in save_name-trialN.log);
its validation errors (valset= or validation=) go to the study as they are
printed and poor trials are pruned; the best model is copied to
save_name-best.h5. mode=report prints the trials, best first, and draws them
to NAME-sweep.png.

Example:
  study=s1 trials=12 lrate=1e-4,1e-2 nhidden=20,100 save_name=s1 \\
    validation=0.1 test_every=500 ntrain=5000 clstmsweep clstmctc train.h5"""
#: the settings -h shows: a name (its words from common.BRIEFS), or (name, this program's words)
COMMON = (
    ("mode", "train: run trials; report: the study's trials, best first"),
    ("study", "name of the study (required)"),
    ("storage", "journal file (empty: NAME.optuna) or postgresql:// URL"),
    ("trials", "trials this worker runs"),
    ("sampler", "tpe or random"),
    ("pruner", "median, hyperband or none"),
    ("prune_after", "complete trials before the median pruner stops any"),
    ("objective", "auto (validation error), validation or test"),
    ("heartbeat", "seconds between a worker's signs of life"),
    ("seed", "seed of the draws (trial N draws from seed and N)"),
)
FORMATS = """DATA is PROGRAM's data (see PROGRAM -h). storage= is a journal file (safe for several
processes on one machine or a shared filesystem), or a postgresql:// or mysql:// URL for many
machines (pip install 'clstmtools[sweep]' brings Optuna and the PostgreSQL driver)."""
VALIDATION_SETTINGS = ("valset", "validation")


def has_validation(environ):
    """Whether the trials hold out a validation set (valset=, or a fraction validation= other than 0)."""
    def given(text):
        try:
            return float(text) != 0
        except ValueError:
            return bool(text)  # a path, or a range or choice to sweep
    return any(given(environ.get(name, "").strip()) for name in VALIDATION_SETTINGS)


def objective_of(settings, program, environ):
    """Which error the trials minimize: the validation error, or the test error when objective=test asks
    for it (the test set then also chooses the best trial, and its figure is optimistic)."""
    if settings.objective == "test":
        return "test"
    if has_validation(environ):
        return "validation"
    if program not in BY_NAME["validation"].programs:
        raise ParamError(f"objective={settings.objective}: {program} has no validation set; objective=test "
                         "chooses on its test lines (an optimistic figure of the best trial's error)")
    raise ParamError(f"objective={settings.objective}: the trials have no validation set; set validation= "
                     "(a held-out fraction of the training data) or valset=, or objective=test to choose on "
                     "the test set (an optimistic figure of the best trial's error)")


def check_program_settings(program, environ):
    """PROGRAM's settings as PROGRAM would check them, and the search space; ParamError up front."""
    echo = io.StringIO()  # params=1 is for the sweep's own echo
    settings = read_params(program, environ, stderr=echo)
    space = search_space(program, environ)
    if not settings.save_name:
        raise ParamError("save_name: required (trials save under save_name-trialN, the best as save_name-best.h5)")
    if settings.save_every:
        raise ParamError("save_every: must be 0 in a sweep (each trial keeps its best model)")
    if settings.test_every <= 0 or (program != SEQ and not settings.testset and not has_validation(environ)):
        what = "test_every=N" if program == SEQ else \
            "validation= or valset= (or testset= with objective=test) and test_every=N"
        raise ParamError(f"{program} must test for the sweep to learn: set {what}")
    for name in suspicious_names(environ, program):
        print(f"{PROGRAM}: warning: {name} is not a parameter of {program} (misspelled?)", file=sys.stderr)
    return settings, space


def optuna_available():
    try:
        import optuna  # noqa: F401
    except ImportError:
        raise UsageError("clstmsweep needs Optuna: pip install 'clstmtools[sweep]'") from None


def report(settings):
    optuna_available()
    from ..sweep.report import table, write_picture
    from ..sweep.study import load_study
    study = load_study(settings)
    for line in table(study):
        print(line)
    print(f"# picture: {write_picture(study)}")
    return 0


def body(args, settings):
    if not settings.study:
        raise ParamError("study: required (the name of the study, e.g. study=lrate-sweep)")
    if settings.mode == "report":
        return report(settings)
    if len(args) < 2 or args[0] not in PROGRAMS:
        raise UsageError(f"expected PROGRAM ({', '.join(PROGRAMS)}) and its data, got: {' '.join(args)}")
    program, data = args[0], args[1:]
    if len(data) > (2 if program == TEXT else 1):
        raise UsageError(f"{program} takes {'one or two data files' if program == TEXT else 'one data file'}, "
                         f"got {len(data)}: {' '.join(data)}")
    program_settings, space = check_program_settings(program, os.environ)
    objective = objective_of(settings, program, os.environ)
    optuna_available()
    from ..sweep.worker import Worker
    return Worker(settings, program, data, program_settings, space, objective).work()


main = main_of(PROGRAM, body, SYNOPSIS, FORMATS, COMMON, bare=lambda settings: settings.mode == "report")

if __name__ == "__main__":
    main()
