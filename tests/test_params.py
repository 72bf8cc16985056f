"""Tests of the environment-parameter table: parsing, draws, seeds, echo, usage texts and the documentation's table."""
import io
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from clstmtools import params
from clstmtools.params import (BY_NAME, CTC, PARAMS, PROGRAMS, SEQ, TEXT, WITH_SWEEP, Choice, ParamError,
                               brief_usage, closest_name, format_value, markdown_table, params_of, read_params,
                               suspicious_names, usage)

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "params_table.py"


def read(program=CTC, **environ):
    return read_params(program, environ={"seed": "7", **environ})


def test_table_is_consistent():
    names = [name for param in PARAMS for name in (param.name, *param.aliases)]
    assert len(names) == len(set(names))
    for param in PARAMS:
        assert param.programs and param.programs <= WITH_SWEEP, param.name
        assert param.type in (int, float, str) or isinstance(param.type, Choice), param.name
        for program in param.programs:
            default = param.default_for(program)
            assert param.parse_one(program, format_value(default)) == default, (param.name, program)
            assert param.meaning_for(program).strip(), param.name
    assert {p.name for p in params_of(SEQ)} >= {"testmod", "ntest", "debug_nets", "debug_states"}
    assert "neps" in {p.name for p in params_of(TEXT)} and "neps" not in {p.name for p in params_of(CTC)}


def test_defaults_and_per_program_defaults():
    settings = {program: read(program) for program in PROGRAMS}
    assert [settings[p].ntrain for p in PROGRAMS] == [1000000, 10000000, 1000000]
    assert [settings[p].report_every for p in PROGRAMS] == [1, 100, 1]
    assert [settings[p].test_every for p in PROGRAMS] == [-1, 1000, -1]
    ctc = settings[CTC]
    assert ctc.lrate == 1e-4 and isinstance(ctc.lrate, float)
    assert (ctc.nhidden, ctc.nhidden2, ctc.momentum) == (100, -1, 0.9)
    assert (ctc.lstm, ctc.lrnorm) == ("BIDILSTM", "batch")
    assert ctc.dewarp == "auto" and ctc.target_name == "ctc" and ctc.load == "" and ctc.maxeval == 10**9
    assert ctc.drawn == ()
    assert list(ctc.resolved) == [p.name for p in params_of(CTC)]


def test_parses_each_type():
    s = read(nhidden=" 250 ", start="-1", ntrain="1000000", lrate="3e-3", momentum=".5",
             load="models/a b.h5", after_save="scp x host:dir, y", lstm_type="NPLSTM")
    assert (s.nhidden, s.start, s.ntrain) == (250, -1, 1000000)
    assert (s.lrate, s.momentum) == (3e-3, 0.5)
    assert s.load == "models/a b.h5"
    assert s.after_save == "scp x host:dir, y"  # strings take no ranges and no choices
    assert s.lstm_type == "NPLSTM" and s.drawn == ()
    assert read(nhidden2="-1").nhidden2 == -1 and read(nhidden2="30").nhidden2 == 30


def test_reads_os_environ_by_default(monkeypatch):
    monkeypatch.setenv("lrate", "0.25")
    monkeypatch.setenv("seed", "3")
    assert read_params(TEXT).lrate == 0.25


@pytest.mark.parametrize("environ, variable", [
    ({"lrate": "fast"}, "lrate"),
    ({"lrate": ""}, "lrate"),
    ({"lrate": "nan"}, "lrate"),
    ({"lrate": "0"}, "lrate"),
    ({"lrate": "1e-2,1e-4"}, "lrate"),
    ({"lrate": "1e-4,1e-3,1e-2"}, "lrate"),
    ({"nhidden": "1e3"}, "nhidden"),
    ({"nhidden": "1.5"}, "nhidden"),
    ({"nhidden": "1_000"}, "nhidden"),
    ({"nhidden": "0"}, "nhidden"),
    ({"hidden": "-5"}, "hidden"),
    ({"nhidden2": "0"}, "nhidden2"),
    ({"nhidden2": "-1,10"}, "nhidden2"),
    ({"nhidden": "50::200"}, "nhidden"),
    ({"momentum": "-0.1"}, "momentum"),
    ({"ntrain": "-1"}, "ntrain"),
    ({"lstm": "BIDILSTM3"}, "lstm"),
    ({"lstm": "bidi:nonsense"}, "lstm"),
    ({"lrnorm": "len,none"}, "lrnorm"),
    ({"mode": "filter"}, "mode"),
    ({"mode": "train:errs"}, "mode"),
    ({"target_name": ""}, "target_name"),
    ({"seed": "1,5"}, "seed"),
    ({"seed": "-3"}, "seed"),
    ({"params": "0:1"}, "params"),
    # decays and momentum of 1 or more never forget (beta2=1 trains until the weights turn NaN)
    ({"momentum": "1"}, "momentum"),
    ({"beta1": "1.5"}, "beta1"),
    ({"beta2": "1"}, "beta2"),
    ({"beta2": "0.9,1"}, "beta2"),
    ({"eps": "0"}, "eps"),
])
def test_bad_values_are_errors_naming_the_variable(environ, variable):
    with pytest.raises(ParamError) as caught:
        read(**environ)
    message = str(caught.value)
    assert message.startswith(f"{variable}={environ[variable]!r}: ")
    assert "\n" not in message
    assert isinstance(caught.value, ValueError)


def test_error_messages_say_what_is_accepted():
    with pytest.raises(ParamError, match=r"^lrate='fast': expected a positive float, lo,hi for a random"):
        read(lrate="fast")
    with pytest.raises(ParamError, match=r"lo,hi needs lo <= hi"):
        read(lrate="1e-2,1e-4")
    with pytest.raises(ParamError, match=r"expected one of none, mean, center, auto"):
        read(dewarp="wobbly")
    with pytest.raises(ParamError, match=r"a positive integer or -1"):
        read(nhidden2="0")


def test_fraction_bounds_say_what_is_accepted():
    with pytest.raises(ParamError, match=r"^beta2='1': expected a float at least 0 and below 1, lo,hi"):
        read(beta2="1")
    assert read(momentum="0", beta1="0.99", beta2="0.999").beta2 == 0.999


def test_aliases():
    assert read(hidden="50", hidden2="20").resolved["nhidden"] == 50
    assert read(hidden="50", hidden2="20").nhidden2 == 20
    assert read_params(CTC, environ={"randseed": "99"}).seed == 99
    text = read(TEXT, batch="4")
    assert text.pseudo_batch == 4 and text.batch == 4 and text.get("batch") == 4
    assert read(nhidden="64", hidden="64").nhidden == 64  # the same value twice is no conflict
    with pytest.raises(ParamError, match=r"^nhidden='64' and hidden='65' disagree"):
        read(nhidden="64", hidden="65")
    seq = read(SEQ, batch="4", neps="7")  # other programs' settings are not read
    assert seq.get("pseudo_batch") is None and seq.get("neps", "none") == "none"
    with pytest.raises(AttributeError, match="clstmseq has no parameter 'neps'"):
        seq.neps


def test_unknown_program():
    with pytest.raises(ValueError, match="unknown program 'clstmfoo'"):
        read_params("clstmfoo", environ={})


def test_log_uniform_range_stays_inside_and_is_log_uniform():
    lrates = np.array([read(lrate="1e-5,1e-1", seed=str(seed)).lrate for seed in range(1, 401)])
    assert lrates.min() >= 1e-5 and lrates.max() <= 1e-1
    # log-uniform: half of the values lie below the geometric middle 1e-3 (uniform: about 1 %)
    assert 0.4 < np.mean(lrates < 1e-3) < 0.6
    nhidden = np.array([read(nhidden="10,1000", seed=str(seed)).nhidden for seed in range(1, 401)])
    assert nhidden.min() >= 10 and nhidden.max() <= 1000 and nhidden.dtype.kind == "i"
    assert 0.4 < np.mean(nhidden < 100) < 0.6


def test_uniform_range_for_momentum_and_small_integers():
    momenta = np.array([read(momentum="0.1,0.9", seed=str(seed)).momentum for seed in range(1, 401)])
    assert momenta.min() >= 0.1 and momenta.max() <= 0.9
    # uniform: half below 0.5 (log-uniform would put 73 % there)
    assert 0.4 < np.mean(momenta < 0.5) < 0.6
    neps = {read(TEXT, neps="0,4", seed=str(seed)).neps for seed in range(1, 101)}
    assert neps == {0, 1, 2, 3, 4}
    assert BY_NAME["momentum"].draw_kind == "uniform" and BY_NAME["lrate"].draw_kind == "log"
    assert BY_NAME["test_every"].draw_kind == "uniform"


def test_range_is_reproducible_with_the_seed_and_marked_drawn():
    first = read(lrate="1e-5,1e-1", nhidden="10,1000", seed="1234")
    again = read(lrate="1e-5,1e-1", nhidden="10,1000", seed="1234")
    other = read(lrate="1e-5,1e-1", nhidden="10,1000", seed="1235")
    assert (first.lrate, first.nhidden) == (again.lrate, again.nhidden)
    assert (first.lrate, first.nhidden) != (other.lrate, other.nhidden)
    assert first.drawn == ("lrate", "nhidden")
    # each parameter's draw does not depend on which others are drawn
    assert read(lrate="1e-5,1e-1", seed="1234").lrate == first.lrate
    assert read(lrate="2e-3,2e-3").lrate == 2e-3


def test_choices_pick_among_the_values():
    kinds = {read(lstm="bidi:BIDILSTM2:LSTM1", seed=str(seed)).lstm for seed in range(1, 61)}
    assert kinds == {"bidi", "BIDILSTM2", "LSTM1"}
    sizes = {read(nhidden="50:100:200", seed=str(seed)).nhidden for seed in range(1, 61)}
    assert sizes == {50, 100, 200}
    rates = {read(lrate="1e-4:1e-3", seed=str(seed)).lrate for seed in range(1, 61)}
    assert rates == {1e-4, 1e-3}
    names = {read(target_name="ctc:aligned", seed=str(seed)).target_name for seed in range(1, 61)}
    assert names == {"ctc", "aligned"}
    assert read(lstm="bidi:LSTM1").drawn == ("lstm",)


def test_seed_zero_or_unset_records_a_fresh_seed():
    unset = read_params(CTC, environ={"lrate": "1e-5,1e-1"})
    zero = read_params(CTC, environ={"seed": "0", "lrate": "1e-5,1e-1"})
    for settings in (unset, zero):
        assert settings.seed > 0 and settings.resolved["seed"] == settings.seed
        assert settings.attributes()["seed"] == str(settings.seed)
    assert unset.seed != zero.seed
    replay = read_params(CTC, environ={"seed": str(unset.seed), "lrate": "1e-5,1e-1"})
    assert replay.lrate == unset.lrate


def test_same_seed_gives_the_same_run_generator():
    a, b, c = read(seed="42"), read(seed="42", lrate="1e-4,1e-2"), read(seed="43")
    first = a.rng.random(5)
    assert np.array_equal(first, b.rng.random(5))  # drawing parameters does not shift the run's stream
    assert not np.array_equal(first, c.rng.random(5))
    assert isinstance(a.rng, np.random.Generator) and a.rng is a.rng


def test_attributes_read_back_to_the_same_settings():
    drawn = read(TEXT, lrate="1e-5,1e-1", momentum="0.1,0.9", lstm="bidi:LSTM1", seed="5")
    attributes = drawn.attributes()
    assert all(isinstance(text, str) for text in attributes.values())
    again = read_params(TEXT, environ=attributes)
    assert again.resolved == drawn.resolved and again.drawn == ()


def test_params_echo():
    stream = io.StringIO()
    settings = read_params(SEQ, environ={"params": "1", "lrate": "1e-5,1e-1", "seed": "0"}, stderr=stream)
    lines = stream.getvalue().splitlines()
    assert lines == [f"#: {p.name} = {format_value(settings.resolved[p.name])}" for p in params_of(SEQ)]
    assert f"#: lrate = {settings.lrate!r}" in lines and f"#: seed = {settings.seed}" in lines
    assert "#: ntrain = 10000000" in lines
    quiet = io.StringIO()
    read_params(SEQ, environ={"seed": "1"}, stderr=quiet)
    assert quiet.getvalue() == ""


@pytest.mark.parametrize("program", PROGRAMS)
def test_usage_lists_every_parameter_with_its_default(program):
    text = usage(program, f"usage: {program} data", "FORMATS: data is a file")
    assert text.startswith(f"usage: {program} data\n") and "FORMATS: data is a file" in text
    for param in params_of(program):
        default = format_value(param.default_for(program))
        assert f"  {param.name}={default or chr(34) * 2}" in text, param.name
        assert param.meaning_for(program).split()[0] in text
    others = {p.name for p in PARAMS} - {p.name for p in params_of(program)}
    for name in others:
        assert f"\n  {name}=" not in text
    assert max(len(line) for line in text.splitlines()) <= 79
    if program == SEQ:
        assert "ntrain=10000000" in text and "test_every=1000" in text and "one of train test" in text


def test_brief_usage_takes_its_defaults_from_the_table_and_names_the_rest():
    common = (("lrate", "learning rate"), ("ntrain", "the number of training lines, " * 4))
    text = brief_usage(SEQ, "usage: clstmseq data", common)
    lines = text.splitlines()
    assert lines[0] == "usage: clstmseq data" and max(map(len, lines)) <= 79
    assert "  lrate=0.0001        learning rate" in lines
    assert re.search(r"^  ntrain=10000000 +the number", text, re.M)  # clstmseq's default
    assert lines[-1].endswith("(Programs and settings).") and "clstmseq --help-all" in text and "params=1" in text
    assert "File formats:" not in text
    with pytest.raises(ValueError, match="neps is not a parameter of clstmseq"):
        brief_usage(SEQ, "usage: clstmseq data", (("neps", "empty steps"),))


def test_markdown_table():
    table = markdown_table()
    rows = table.splitlines()
    assert rows[0] == "| name | default | programs | meaning |" and rows[1] == "| --- | --- | --- | --- |"
    assert len(rows) == 2 + len(PARAMS)
    assert all(row.count(" | ") == 3 for row in rows[2:])
    assert "| `nhidden` (`hidden`) | `100` | all | " in table
    assert "| `ntrain` | `1000000` (clstmseq: `10000000`) | all | " in table
    assert "| `neps` | `3` | clstmtext | " in table
    assert "| `pseudo_batch` (`batch`) | `1` | clstmctc, clstmtext | " in table


def run_script(*args):
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True)


def test_table_script_prints_writes_and_checks(tmp_path):
    printed = run_script()
    assert printed.returncode == 0 and printed.stdout == markdown_table()
    readme = tmp_path / "README.md"
    readme.write_text("# x\n\n<!-- params:begin -->\nold\n<!-- params:end -->\n\nafter\n", encoding="utf-8")
    assert run_script("--check", str(readme)).returncode == 1
    assert run_script("--write", str(readme)).returncode == 0
    text = readme.read_text(encoding="utf-8")
    assert text.startswith("# x\n\n<!-- params:begin -->\n| name |")
    assert text.endswith("<!-- params:end -->\n\nafter\n")
    assert run_script("--check", str(readme)).returncode == 0
    readme.write_text(text.replace("learning rate", "learning speed"), encoding="utf-8")
    stale = run_script("--check", str(readme))
    assert stale.returncode == 1 and "out of date" in stale.stderr
    readme.write_text("no markers\n", encoding="utf-8")
    missing = run_script("--check", str(readme))
    assert missing.returncode == 2 and "params:begin" in missing.stderr



def test_table_script_replaces_the_readme_atomically(tmp_path):
    readme, other = tmp_path / "README.md", tmp_path / "linked.md"
    old = "<!-- params:begin -->\nold\n<!-- params:end -->\n"
    readme.write_text(old, encoding="utf-8")
    os.link(readme, other)  # a write in place would show through the second name; a rename does not
    assert run_script("--write", str(readme)).returncode == 0
    assert other.read_text(encoding="utf-8") == old and "| `nhidden`" in readme.read_text(encoding="utf-8")
    assert sorted(os.listdir(tmp_path)) == ["README.md", "linked.md"]

def test_suspicious_names():
    environ = {"lrat": "1", "nhiden": "1", "momentun": "1", "lrate": "1", "neps": "3", "http_proxy": "x",
               "HOME": "/", "PATH": "/bin", "lang": "x", "ep": "1"}
    assert suspicious_names(environ, CTC) == ["ep", "lrat", "momentun", "nhiden"]
    assert closest_name("nhiden", CTC) == "nhidden" and closest_name("lrat", CTC) == "lrate"
    assert suspicious_names({"neps": "3"}, CTC) == []  # another program's parameter is no typo
    assert suspicious_names({"nep": "3"}, TEXT) == ["nep"]


def test_log_draw_of_integers_covers_both_ends():
    rng = np.random.default_rng(0)
    values = [params._draw_range(BY_NAME["nhidden"], 1, 3, rng) for _ in range(300)]
    assert set(values) == {1, 2, 3}
    # log-uniform over 1..3: P(1) = log 2 / log 4 = 1/2
    assert math.isclose(values.count(1) / 300, 0.5, abs_tol=0.1)


@pytest.mark.parametrize("program", PROGRAMS)
def test_lstm_accepts_exactly_the_network_kinds_make_net_builds(program):
    """``lstm=`` and ``make_net`` read one registry: every prefab and alias passes both (clstm's
    ``revlstm1`` and ``linbidi`` once passed make_net only), and every choice of lstm= builds."""
    from clstmtools.network import ALIASES, PREFABS, SPEC_PREFABS, make_net
    offered = set(BY_NAME["lstm"].type.for_program(program))
    assert {"revlstm1", "linbidi"} <= set(ALIASES) <= offered
    assert set(PREFABS) <= offered
    assert (set(SPEC_PREFABS) <= offered) == (program == CTC)  # the image networks read line images
    for kind in sorted(offered):
        assert read(program, lstm=kind).lstm == kind
        assert make_net(kind, rng=0, ninput=48 if kind in SPEC_PREFABS else 3, nhidden=2, noutput=4).noutput() == 4


def test_probability_bounds_take_both_ends():
    assert read(augment_p="0").augment_p == 0 and read(augment_p="1").augment_p == 1
    with pytest.raises(ParamError, match=r"^augment_p='1.5': expected a float from 0 to 1, lo,hi"):
        read(augment_p="1.5")
