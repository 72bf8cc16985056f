"""Tests of the CTC alignment, loss, decoders and training modes against NumPy twins and brute force."""
import Levenshtein
import numpy as np
import pytest

from clstmtools import Sequence, ctc
from clstmtools.kernels import ctc as kernels
from clstmtools.kernels import elementary
from clstmtools.codec import Codec
from clstmtools.kernels import layers as layer_kernels
from clstmtools.network import make_net
from clstmtools.tasks import CtcTask

from margins import SEED, at_least, at_most
from naive_ctc import (
    brute_force_ctc,
    exact_ctc,
    log_softmax,
    brute_force_labelling_probabilities,
    naive_best_path_decode,
    naive_clstm_logadd,
    naive_clstm_logadd_pairs,
    naive_ctc_align_targets,
    naive_ctc_nll,
    naive_mktargets,
    naive_trivial_decode,
    softmax,
)


def random_outputs(rng, T, C, sharpness=1.0, blank_bias=0.0):
    activations = sharpness * rng.standard_normal((T, C))
    activations[:, 0] += blank_bias
    return softmax(activations).astype(np.float32)


def random_labels(rng, L, C):
    return [int(c) for c in rng.integers(1, C, size=L)]


# --- log-space helpers ------------------------------------------------------------------------


def test_log_adds_match_numpy():
    rng = np.random.default_rng(12)
    pairs = [(a, b) for a, b in rng.uniform(-60, 60, (400, 2))]
    pairs += [(a, a + d) for a in (-3.0, 1e4) for d in (0.0, 1e-9, 9.999, 10.0, 10.001, 39.99, 45.0)]
    for x, y in pairs:
        assert elementary.logaddexp(x, y) == pytest.approx(np.logaddexp(x, y), rel=1e-15, abs=1e-13)
        # clstm's log-add is float32, as clstm's: the float32 inputs' exact result to float32 rounding
        x32, y32 = np.float32(x), np.float32(y)
        assert kernels.clstm_logadd(x32, y32) == pytest.approx(naive_clstm_logadd(float(x32), float(y32)), rel=2e-7, abs=2e-7)
    for add, number in ((elementary.logaddexp, float), (kernels.clstm_logadd, np.float32)):
        inf = number(-np.inf)
        assert add(inf, inf) == -np.inf
        assert add(inf, number(-2.5)) == -2.5 and add(number(-2.5), inf) == -2.5


def adjacent_pairs_grid():
    """Values whose adjacent pairs cover gaps -12..12 densely (across clstm's cut-off at 10) at several
    magnitudes, with -inf next to finite values and next to -inf."""
    gaps = np.linspace(-12, 12, 24001)
    rows = [np.ravel(np.column_stack([np.full_like(gaps, base), base + gaps])) for base in (0.0, -7.25, -3e3, 1e4)]
    rows.append(np.array([-np.inf, 2.5, -np.inf, -np.inf, -1e4, -np.inf, 0.0]))
    return np.concatenate(rows)


def test_vectorized_log_adds_match_numpy_on_a_dense_grid():
    # through the row steps, so that the vectorized loops are what is checked, not only scalar calls
    values = adjacent_pairs_grid()
    # the pairs at the end: (2.5, -inf) both ways, (-inf, -inf), (-1e4, -inf) both ways, (0, -inf)
    exact_tail = [2.5, 2.5, -np.inf, -1e4, -1e4, 0.0]
    # clstm's rows are float32; the grid's float32 neighbours differ exactly (Sterbenz), so the cut-off
    # falls where it does in float64, and what is left is the float32 rounding of the result
    values32 = values.astype(np.float32)
    row, zeros = np.empty_like(values32), np.zeros_like(values32)
    expected = naive_clstm_logadd_pairs(values32[1:].astype(float), values32[:-1].astype(float))
    top = kernels.clstm_forward_row(row, values32, zeros, np.float32(-np.inf), np.float32(0))
    assert row[0] == values32[0] and row[-6:].tolist() == exact_tail and top == row.max()
    np.testing.assert_allclose(row[1:], expected, rtol=2e-7, atol=2e-7)
    # the backward row reads one value past its states: what enters the last state (-inf here)
    following = np.append(values32, np.float32(-np.inf))
    top = kernels.clstm_backward_row(row, following, zeros, np.float32(0))
    assert row[-1] == values32[-1] and row[-7:-1].tolist() == exact_tail and top == row.max()
    np.testing.assert_allclose(row[:-1], expected, rtol=2e-7, atol=2e-7)
    # the shift is subtracted from every state
    kernels.clstm_forward_row(row, values32, zeros, np.float32(-np.inf), np.float32(2.5))
    np.testing.assert_allclose(row[1:], expected - 2.5, rtol=2e-7, atol=2e-7)
    # standard CTC's rows, all blank states: no skips (a mask of -inf), so each state is
    # logaddexp(logaddexp(stay, advance), -inf), without a cut-off
    no_skips = np.full_like(values32, -np.inf)
    top = kernels.ctc_forward_row(row, values32, zeros, no_skips, np.float32(0))
    with np.errstate(invalid="ignore"):
        expected = np.logaddexp(values32[1:].astype(float), values32[:-1].astype(float))
    np.testing.assert_allclose(row[1:], expected, rtol=2e-7, atol=2e-7)
    assert row[-6:].tolist() == exact_tail and top == row.max()
    # the backward row reads two values past its states, padding here
    following = np.append(values32, [kernels.PAD_32, kernels.PAD_32])
    top = kernels.ctc_backward_row(row, following, zeros, np.append(no_skips, [-np.inf, -np.inf]), np.float32(0))
    np.testing.assert_allclose(row[:-1], expected, rtol=2e-7, atol=2e-7)
    assert row[-1] == values32[-1] and row[-7:-1].tolist() == exact_tail and top == row.max()


def test_exp_and_log_helpers_match_numpy():
    x = np.concatenate([-np.geomspace(1e-12, 700, 300), [0.0, -np.log(2) / 2, -np.log(2) * 20.5],
                        np.geomspace(1e-12, 30, 100)])
    got = np.array([elementary.exp_bounded(v) for v in x])
    used = x >= -70  # the range the kernels use
    np.testing.assert_allclose(got[used], np.exp(x[used]), rtol=3e-15, atol=0)
    np.testing.assert_array_less(np.abs(got / np.exp(x) - 1), 2e-15 + 4e-17 * np.abs(x))
    assert elementary.exp_bounded(-np.inf) == elementary.exp_bounded(-700.0) > 0
    # float32 values over the whole range, mantissas on both sides of sqrt(2), below the floor and zero
    rng = np.random.default_rng(4)
    near_sqrt2 = np.sqrt(2) * 2.0 ** np.arange(-60, 1)
    outputs = np.concatenate([np.geomspace(1e-38, 1, 1000), near_sqrt2, rng.random(937), [0, 1e-45]])
    outputs = outputs.astype(np.float32)
    floor, log_floor = 1e-30, np.log(1e-30)
    log_out = np.array([elementary.log_float32(v, floor, log_floor) for v in outputs])
    np.testing.assert_allclose(log_out, np.log(np.maximum(outputs.astype(np.float64), 1e-30)), rtol=1e-15, atol=1e-15)
    log_out = [elementary.log_float32(np.float32(v), floor, log_floor) for v in (np.nan, np.inf, -1.0)]
    assert np.isnan(log_out[0]) and log_out[1] == np.inf and log_out[2] == np.log(1e-30)


def test_float32_exp_and_log_helpers_match_numpy():
    # clstm's alignment runs in float32: exp over the range it uses, log over every float32 value
    x = np.concatenate([-np.geomspace(1e-7, 87, 500), [0.0, -np.log(2) / 2, -30.0]]).astype(np.float32)
    got = np.array([kernels.exp_nonpositive32(v) for v in x])
    np.testing.assert_allclose(got, np.exp(x.astype(float)), rtol=3e-7, atol=0)
    f = np.linspace(-0.5, 1.0, 1001).astype(np.float32)
    got = np.array([kernels.log1p_moderate32(v) for v in f])
    np.testing.assert_allclose(got, np.log1p(f.astype(float)), rtol=0, atol=1.5e-7)
    rng = np.random.default_rng(5)
    near_sqrt2 = np.sqrt(2) * 2.0 ** np.arange(-60, 1)
    values = np.concatenate([np.geomspace(1e-38, 3e38, 1000), near_sqrt2, rng.random(1000)]).astype(np.float32)
    floor, log_floor = np.float32(1e-30), np.float32(np.log(np.float32(1e-30)))
    got = np.array([kernels.log_float32_32(v, floor, log_floor) for v in values])
    expected = np.log(np.maximum(values.astype(float), float(floor)))
    np.testing.assert_allclose(got, expected, rtol=2e-7, atol=1.5e-7)
    assert np.isnan(kernels.log_float32_32(np.float32(np.nan), floor, log_floor))
    assert kernels.log_float32_32(np.float32(np.inf), floor, log_floor) == np.inf
    assert kernels.log_float32_32(np.float32(0), floor, log_floor) == log_floor


# --- clstm's alignment ------------------------------------------------------------------------


def test_mktargets_interleaves_blanks():
    targets = ctc.mktargets([3, 1, 3], 5)
    assert targets.dtype == np.float32
    np.testing.assert_array_equal(targets, naive_mktargets([3, 1, 3], 5))
    assert ctc.mktargets([], 4).tolist() == [[1, 0, 0, 0]]


@pytest.mark.parametrize("labels", [[0, 1], [1, 4], [1.0]])
def test_mktargets_rejects_bad_labels(labels):
    with pytest.raises(ValueError, match="label"):
        ctc.mktargets(labels, 4)


@pytest.mark.parametrize("seed", range(6))
def test_align_matches_naive_transcription(seed):
    rng = np.random.default_rng(seed)
    T, C, L = rng.integers(1, 40), rng.integers(2, 9), rng.integers(0, 8)
    # sharp outputs put lmatch differences beyond clstm's logadd cut-off of 10
    outputs = random_outputs(rng, T, C, sharpness=[0.5, 3.0, 12.0][seed % 3], blank_bias=1.0)
    targets = ctc.mktargets(random_labels(rng, L, C), C)
    aligned = ctc.ctc_align_targets(outputs, targets)
    assert aligned.dtype == np.float32 and aligned.shape == (T, C)
    np.testing.assert_allclose(aligned, naive_ctc_align_targets(outputs, targets), rtol=1e-5, atol=1e-6)


def test_align_general_targets_match_naive():
    rng = np.random.default_rng(7)
    outputs = random_outputs(rng, 30, 6, sharpness=2.0)
    targets = rng.random((9, 6))
    targets[2] = 0  # a state no output can match: log(0) must stay harmless
    aligned = ctc.ctc_align_targets(outputs, targets)
    assert aligned.dtype == np.float32
    np.testing.assert_allclose(aligned, naive_ctc_align_targets(outputs, targets), rtol=1e-5, atol=1e-6)


# OCR-sized lines: (T, L, sharpness, blank bias); the last has more states than steps
LONG_LINES = [(800, 80, 3.0, 2.0), (800, 80, 0.3, 0.0), (800, 80, 12.0, 1.0), (300, 200, 3.0, 0.0)]


@pytest.mark.parametrize("T, L, sharpness, blank_bias", LONG_LINES)
def test_long_alignment_is_closer_to_exact_than_clstms_own_float32(T, L, sharpness, blank_bias):
    # the alignment runs in float32, as clstm's did; renormalized rows keep it well within clstm's own
    # float32 error of the exact (float64) result
    rng = np.random.default_rng(T + L)
    outputs = random_outputs(rng, T, 100, sharpness=sharpness, blank_bias=blank_bias)
    targets = ctc.mktargets(random_labels(rng, L, 100), 100)
    exact = naive_ctc_align_targets(outputs, targets)
    error = np.abs(ctc.ctc_align_targets(outputs, targets) - exact).max()
    clstm_error = np.abs(naive_ctc_align_targets(outputs, targets, dtype=np.float32) - exact).max()
    assert error < 1e-4 and error < clstm_error / 2


def test_path_weights_outside_the_band_are_exactly_the_clamp():
    # sharp outputs on a long line: most cells sit at the exp(-30) clamp, and only the band is computed
    rng = np.random.default_rng(3)
    outputs = random_outputs(rng, 400, 20, sharpness=10.0, blank_bias=1.0)
    state_class = np.zeros(61, np.int64)
    state_class[1::2] = random_labels(rng, 30, 20)
    epath, band, column_scale = ctc._path_weights(_lmatch(outputs, state_class), len(state_class))
    S = len(state_class)
    epath, column_scale = epath[:, :S], column_scale[:S]
    assert np.mean(band[:, 1] - band[:, 0]) < 0.5 * len(state_class)
    full = epath.copy()
    kernels.fill_outside_bands(full, band, kernels.EXP_AT_LOWER_CLAMP_32)
    inside = np.zeros(full.shape, bool)
    for t, (lo, hi) in enumerate(band):
        inside[t, lo:hi] = True
    assert np.all(full[~inside] == kernels.EXP_AT_LOWER_CLAMP_32)
    np.testing.assert_allclose(column_scale, 1 / full.astype(float).sum(axis=0), rtol=1e-6)
    # the classes, from the band and the prefix-free baseline, equal the dense computation
    weights = full * column_scale
    dense = np.stack([weights[:, state_class == c].sum(axis=1) for c in range(20)], axis=1)
    dense /= dense.sum(axis=1, keepdims=True)
    classes = np.unique(state_class)
    logs = np.log(outputs[:, classes])
    aligned = np.empty((len(outputs), 20), np.float32)
    loss = kernels.states_to_classes(aligned, full, band, kernels.EXP_AT_LOWER_CLAMP_32, column_scale,
                                     state_class.astype(np.uint64), np.empty(20), classes.astype(np.uint64), logs)
    np.testing.assert_allclose(aligned, dense, rtol=1e-5, atol=1e-7)
    assert loss == pytest.approx(-np.sum(dense[:, classes] * logs), rel=1e-5)


def test_match_table_matches_numpy():
    rng = np.random.default_rng(8)
    outputs = random_outputs(rng, 50, 12, sharpness=6.0)
    outputs[3, :4] = [0, 1e-38, 1e-20, 1]
    state_class = np.array([0, 3, 0, 7, 0, 3, 0], np.int64)
    floored = np.maximum(outputs.astype(float), 1e-5)
    expected = np.log(floored / floored.sum(axis=1, keepdims=True))[:, state_class]
    np.testing.assert_allclose(_lmatch(outputs, state_class)[:, :len(state_class)], expected, rtol=0, atol=2e-6)


def _lmatch(outputs, state_class):
    classes, slots = np.unique(state_class, return_inverse=True)
    lmatch = np.empty((len(outputs), kernels.padded_width(len(state_class))), np.float32)
    class_logs = np.empty((len(outputs), len(classes)), np.float32)
    kernels.match_table(lmatch, class_logs, outputs, classes.astype(np.uint64), slots.astype(np.uint64),
                        ctc.ALIGN_FLOOR, ctc.LOG_FLOOR)
    np.testing.assert_allclose(class_logs, np.log(np.maximum(outputs[:, classes].astype(float), 1e-30)), atol=2e-6)
    assert np.all(lmatch[:, len(state_class):] == kernels.PAD_32)
    return lmatch


def test_align_follows_a_clear_path():
    # blank, 1 for two steps, blank, 2, blank: the alignment picks the same classes
    classes = [0, 1, 1, 0, 2, 0]
    outputs = np.full((6, 3), 0.05, np.float32)
    outputs[np.arange(6), classes] = 0.9
    aligned = ctc.ctc_align_targets(outputs, ctc.mktargets([1, 2], 3))
    assert np.argmax(aligned, axis=1).tolist() == classes
    np.testing.assert_allclose(aligned.sum(axis=1), 1, rtol=1e-6)


def test_seq_ctc_align_on_sequences():
    rng = np.random.default_rng(3)
    outputs = random_outputs(rng, 12, 4)
    targets = ctc.mktargets([2, 3], 4)
    aligned = Sequence()
    result = ctc.seq_ctc_align(aligned, Sequence(outputs[:, :, None]), Sequence(targets[:, :, None]))
    assert result is aligned and aligned.shape == (12, 4, 1)
    np.testing.assert_array_equal(aligned.array()[:, :, 0], ctc.ctc_align_targets(outputs, targets))
    with pytest.raises(ValueError, match="batch 1"):
        ctc.seq_ctc_align(aligned, Sequence(np.ones((12, 4, 2), np.float32)), Sequence(targets[:, :, None]))


def test_align_rejects_mismatched_targets():
    with pytest.raises(ValueError, match="targets"):
        ctc.ctc_align_targets(np.full((5, 3), 1 / 3, np.float32), np.ones((3, 4)))


# --- clstm's decoder --------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(4))
def test_trivial_decode_matches_naive(seed):
    rng = np.random.default_rng(seed)
    outputs = random_outputs(rng, 60, 5, sharpness=2.0, blank_bias=1.5)
    assert ctc.trivial_decode(outputs) == naive_trivial_decode(outputs)


def test_trivial_decode_keeps_best_of_run_and_drops_open_run():
    outputs = np.array(
        [[0.9, 0.1, 0.0], [0.2, 0.5, 0.3], [0.1, 0.2, 0.7], [0.8, 0.1, 0.1], [0.1, 0.8, 0.1]], np.float32
    )
    # run 1-2 closed by a blank emits its best class (2); the final run is never closed
    assert ctc.trivial_decode(outputs) == [2]
    assert ctc.best_path_decode(outputs) == [1, 2, 1]


# --- standard CTC -----------------------------------------------------------------------------


def test_ctc_loss_hand_computed_t2():
    outputs = np.array([[0.3, 0.7], [0.6, 0.4]], np.float32)
    a0, a1 = 0.3, 0.7
    b0, b1 = 0.6, 0.4
    p = a1 * b1 + a0 * b1 + a1 * b0  # paths 11, 01, 10
    nll, aligned = ctc.ctc_loss(outputs, [1])
    assert nll == pytest.approx(-np.log(p), rel=1e-6)
    expected = np.array([[a0 * b1, a1 * b1 + a1 * b0], [a1 * b0, a1 * b1 + a0 * b1]]) / p
    np.testing.assert_allclose(aligned, expected, rtol=1e-6)
    assert aligned.dtype == np.float32


def central_differences(f, x, eps):
    """The float64 gradient of scalar ``f`` at ``x`` by central differences."""
    gradient = np.zeros_like(x)
    for index in np.ndindex(*x.shape):
        up, down = x.copy(), x.copy()
        up[index] += eps
        down[index] -= eps
        gradient[index] = (f(up) - f(down)) / (2 * eps)
    return gradient


CASES = [(1, 3, []), (3, 3, [1]), (4, 3, [1, 1]), (5, 4, [1, 2, 3]), (5, 3, [2, 2, 1]), (6, 3, [1, 2, 1, 2]),
         (6, 4, [3]), (5, 3, [])]


@pytest.mark.parametrize("T,C,labels", CASES)
def test_ctc_loss_matches_brute_force(T, C, labels):
    rng = np.random.default_rng(T * 10 + C + len(labels))
    outputs = random_outputs(rng, T, C)
    p, posteriors = brute_force_ctc(outputs, labels)
    nll, aligned = ctc.ctc_loss(outputs, labels)
    assert nll == pytest.approx(-np.log(p), rel=1e-6)
    np.testing.assert_allclose(aligned, posteriors, atol=2e-6)


@pytest.mark.parametrize("T,C,labels", CASES[1:6])
def test_ctc_gradient_matches_finite_differences_of_brute_force(T, C, labels):
    rng = np.random.default_rng(len(labels))
    activations = rng.standard_normal((T, C))
    outputs = softmax(activations)
    _, aligned = ctc.ctc_loss(outputs.astype(np.float32), labels)

    numeric = central_differences(lambda a: -np.log(brute_force_ctc(softmax(a), labels)[0]), activations, 1e-5)
    np.testing.assert_allclose(outputs - aligned, numeric, atol=2e-6)


def test_ctc_gradient_matches_finite_differences_long():
    rng = np.random.default_rng(11)
    T, C, labels = 25, 5, [1, 3, 3, 2, 4, 1]
    activations = rng.standard_normal((T, C))
    _, aligned = ctc.ctc_loss(softmax(activations).astype(np.float32), labels)
    # through float32 outputs: a larger step keeps the rounding noise small against it
    numeric = central_differences(lambda a: ctc.ctc_loss(softmax(a), labels)[0], activations, 1e-3)
    np.testing.assert_allclose(softmax(activations) - aligned, numeric, atol=1e-3)


@pytest.mark.parametrize("T, L, sharpness", [(200, 20, 3.0), (800, 80, 3.0), (800, 80, 12.0), (300, 140, 1.0)])
def test_long_ctc_loss_matches_numpy_forward(T, L, sharpness):
    # float32 rows, shifted by their maxima, against a float64 forward pass in NumPy; the backward pass
    # gives the same likelihood, and every row of posteriors is a probability vector
    rng = np.random.default_rng(T + L)
    outputs = random_outputs(rng, T, 100, sharpness=sharpness, blank_bias=1.0)
    labels = random_labels(rng, L, 100)
    nll, aligned = ctc.ctc_loss(outputs, labels)
    assert nll == pytest.approx(naive_ctc_nll(outputs, labels), rel=1e-5)
    np.testing.assert_allclose(aligned.sum(axis=1), 1, rtol=1e-5)
    state_class = ctc._state_classes(np.array(labels))
    emit = np.log(np.maximum(outputs[:, state_class], 1e-30)).astype(np.float32)
    S, W = len(state_class), kernels.padded_width(len(state_class))
    skip_mask = np.full(W, -np.inf, np.float32)
    skip_mask[2:S][(state_class[2:] != 0) & (state_class[2:] != state_class[:-2])] = 0
    emit = np.concatenate([emit, np.full((T, W - S), kernels.PAD_32, np.float32)], axis=1)
    alpha, offsets, rows = np.empty(emit.shape, np.float32), np.empty(T), np.empty((2, W), np.float32)
    forward = kernels.ctc_forward_algorithm(alpha, offsets, emit, S, skip_mask)
    band = np.empty((T, 2), np.int32)
    backward = kernels.ctc_backward_posteriors(emit, S, skip_mask, rows, alpha, band)
    assert np.all(alpha[:, :S][np.arange(S) < band[:, :1]] == 0) and np.all(alpha[:, :S][np.arange(S) >= band[:, 1:]] == 0)
    assert forward == pytest.approx(-nll, rel=1e-6) and backward == pytest.approx(forward, rel=1e-5)


def test_tight_case_is_finite_and_infeasible_case_is_inf():
    rng = np.random.default_rng(2)
    labels = [1, 1, 2]  # needs L + repeats = 4 steps
    outputs = random_outputs(rng, 4, 3)
    nll, aligned = ctc.ctc_loss(outputs, labels)
    only_path = outputs[np.arange(4), [1, 0, 1, 2]].astype(float)
    assert nll == pytest.approx(-np.log(only_path).sum(), rel=1e-6)
    np.testing.assert_allclose(aligned, np.eye(3)[[1, 0, 1, 2]], atol=1e-6)

    short = outputs[:3]
    nll, aligned = ctc.ctc_loss(short, labels)
    assert nll == np.inf
    assert np.all(np.isfinite(aligned)) and aligned.dtype == np.float32
    np.testing.assert_array_equal(aligned, short)  # training on it changes nothing
    aligned, loss = ctc.ctc_targets(short, labels, "standard")
    assert loss == np.inf and np.all(np.isfinite(aligned))


def test_empty_labels_align_to_blank():
    outputs = random_outputs(np.random.default_rng(4), 7, 4)
    nll, aligned = ctc.ctc_loss(outputs, [])
    assert nll == pytest.approx(-np.log(outputs[:, 0].astype(float)).sum(), rel=1e-6)
    np.testing.assert_array_equal(aligned, np.eye(4, dtype=np.float32)[[0] * 7])


@pytest.mark.parametrize("shape", [(0, 4), (5, 0), (0, 0)])
def test_empty_outputs_are_refused_before_the_kernels(shape):
    empty = np.zeros(shape, np.float32)
    calls = [lambda: ctc.ctc_loss(empty, []), lambda: ctc.ctc_targets(empty, [], "clstm"),
             lambda: ctc.ctc_targets(empty, [], "standard"), lambda: ctc.ctc_align_targets(empty, np.ones((1, shape[1]))),
             lambda: ctc.beam_search_decode(empty), lambda: ctc.char_confidences(empty)]
    if shape[1] == 0:  # the greedy decoders decode no steps to nothing, but need the classes
        calls += [lambda: ctc.trivial_decode(empty), lambda: ctc.best_path_decode(empty)]
    for call in calls:
        with pytest.raises(ValueError, match="at least one time step and one class"):
            call()


# --- standard CTC on saturated outputs, against an exact float64 reference ----------------------


def saturated_case(seed, T=50, C=10, L=10, span=100.0):
    """Logits spanning +-span (probabilities down to about 1e-80) and a transcript of L labels."""
    rng = np.random.default_rng(seed)
    logits = rng.uniform(-span, span, (T, C))
    return logits, list(rng.integers(1, C, L))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_saturated_outputs_match_the_exact_loss_and_gradient(seed):
    logits, labels = saturated_case(seed)
    log_probs = log_softmax(logits)
    assert np.exp(log_probs).min() < 1e-70  # far below float32's range
    nll, posteriors = exact_ctc(log_probs, labels)
    gradient = np.exp(log_probs) - posteriors
    for outputs, log_input in ((np.exp(log_probs), False), (log_probs, True), (log_probs.astype(np.float32), True)):
        got, aligned = ctc.ctc_loss(outputs, labels, log_probs=log_input)
        assert got == pytest.approx(nll, rel=1e-6), (outputs.dtype, log_input)
        np.testing.assert_allclose(np.exp(log_probs) - aligned, gradient, atol=2e-5)


def test_exact_reference_gradient_matches_central_differences():
    logits, labels = saturated_case(3, T=9, C=4, L=3, span=40.0)
    nll, posteriors = exact_ctc(log_softmax(logits), labels)
    numeric = central_differences(lambda a: exact_ctc(log_softmax(a), labels)[0], logits, 1e-5)
    np.testing.assert_allclose(np.exp(log_softmax(logits)) - posteriors, numeric, atol=1e-6)
    _, aligned = ctc.ctc_loss(log_softmax(logits), labels, log_probs=True)
    np.testing.assert_allclose(np.exp(log_softmax(logits)) - aligned, numeric, atol=2e-5)


def test_log_softmax_kernel_matches_numpy_and_saturates_exactly():
    rng = np.random.default_rng(7)
    Z = rng.uniform(-120, 120, (30, 6)).astype(np.float32)
    bias = rng.uniform(-1, 1, 6).astype(np.float32)
    softmax_out, logs = Z.copy(), np.empty_like(Z)
    layer_kernels.bias_log_softmax(softmax_out, logs, bias)
    expected = log_softmax(Z.astype(float) + bias)
    np.testing.assert_allclose(logs, expected, rtol=1e-6, atol=1e-5)
    np.testing.assert_allclose(softmax_out, np.exp(expected), rtol=1e-5, atol=1e-30)
    assert logs.dtype == softmax_out.dtype == np.float32


def test_standard_training_of_a_confident_wrong_network_gets_the_exact_gradient():
    """ctc=standard trains from the output layer's log-softmax: the deltas are the exact float64 gradient."""
    rng = np.random.default_rng(8)
    T, C, labels = 30, 5, np.array([1, 2, 3, 4, 1, 2], np.int32)
    net = make_net("SoftmaxLayer", ninput=4, noutput=C, rng=1)
    net.W[...] = rng.uniform(-100, 100, net.W.shape)
    x = rng.uniform(-1, 1, (T, 4)).astype(np.float32)
    task = CtcTask([x].__getitem__, [labels].__getitem__, Codec([0, 97, 98, 99, 100]), "standard")
    task.step(net, 0)
    logits = x.astype(float) @ net.W.T.astype(float) + net.b
    log_probs = log_softmax(logits)
    assert np.exp(log_probs).min() < 1e-40
    _, posteriors = exact_ctc(log_probs, labels)
    # the network's deltas are aligned - outputs: minus the gradient
    np.testing.assert_allclose(net.d_outputs.array()[:, :, 0], posteriors - np.exp(log_probs), atol=1e-4)


# --- decoders ---------------------------------------------------------------------------------


def test_best_path_hand_cases():
    def onehot_rows(classes, C=4):
        rows = np.full((len(classes), C), 0.1, np.float32)
        rows[np.arange(len(classes)), classes] = 0.7
        return rows

    assert ctc.best_path_decode(onehot_rows([0, 1, 1, 0, 1, 2, 2, 0])) == [1, 1, 2]
    assert ctc.best_path_decode(onehot_rows([3, 3, 3])) == [3]
    assert ctc.best_path_decode(onehot_rows([0, 0])) == []
    assert ctc.best_path_decode(np.zeros((0, 4), np.float32)) == []
    outputs = random_outputs(np.random.default_rng(1), 50, 5, blank_bias=1.0)
    assert ctc.best_path_decode(outputs) == naive_best_path_decode(outputs)


@pytest.mark.parametrize("seed", range(5))
def test_wide_beam_finds_most_probable_labelling(seed):
    rng = np.random.default_rng(seed)
    T, C = (5, 3) if seed % 2 else (4, 4)
    outputs = random_outputs(rng, T, C, sharpness=0.7)
    probabilities = brute_force_labelling_probabilities(outputs)
    best = max(probabilities, key=probabilities.get)
    labels, log_probability = ctc.beam_search_decode(outputs, beam_width=200)
    assert tuple(labels) == best
    assert log_probability == pytest.approx(np.log(probabilities[best]), rel=1e-6)


def test_beam_beats_best_path_where_paths_split():
    # best path says blank twice, but "1" collects more probability over its paths
    outputs = np.array([[0.6, 0.4], [0.6, 0.4]], np.float32)
    assert ctc.best_path_decode(outputs) == []
    labels, log_probability = ctc.beam_search_decode(outputs, beam_width=2)
    assert labels == [1] and log_probability == pytest.approx(np.log(0.64), rel=1e-6)
    with pytest.raises(ValueError, match="beam_width"):
        ctc.beam_search_decode(outputs, beam_width=0)


def test_char_confidences():
    outputs = np.array(
        [[0.8, 0.1, 0.1], [0.2, 0.5, 0.3], [0.1, 0.7, 0.2], [0.9, 0.05, 0.05], [0.3, 0.1, 0.6]], np.float32
    )
    confidences = ctc.char_confidences(outputs)
    assert [t for t, _ in confidences] == [2, 4]
    np.testing.assert_allclose([p for _, p in confidences], [0.7, 0.6])
    given = ctc.char_confidences(outputs, [1, 2])
    assert [t for t, _ in given] == [2, 4]
    assert ctc.char_confidences(outputs, []) == []
    with pytest.raises(ValueError, match="cannot be aligned"):
        ctc.char_confidences(outputs[:1], [1, 2])


# --- training modes and robustness ------------------------------------------------------------


def test_ctc_targets_modes():
    rng = np.random.default_rng(9)
    outputs = random_outputs(rng, 20, 5)
    labels = [1, 4, 2]
    aligned, loss = ctc.ctc_targets(outputs, labels, "clstm")
    np.testing.assert_array_equal(aligned, ctc.ctc_align_targets(outputs, ctc.mktargets(labels, 5)))
    assert loss == pytest.approx(-(aligned * np.log(outputs.astype(float))).sum(), rel=1e-6)
    aligned, loss = ctc.ctc_targets(outputs, labels, "standard")
    nll, expected = ctc.ctc_loss(outputs, labels)
    assert loss == nll
    np.testing.assert_array_equal(aligned, expected)
    assert ctc.decode(outputs, "clstm") == ctc.trivial_decode(outputs)
    assert ctc.decode(outputs, "standard") == ctc.best_path_decode(outputs)
    for call in (lambda: ctc.ctc_targets(outputs, labels, "x"), lambda: ctc.decode(outputs, "x")):
        with pytest.raises(ValueError, match="unknown ctc mode 'x': use clstm or standard"):
            call()


@pytest.mark.parametrize("mode", ctc.CTC_MODES)
def test_extreme_outputs_give_no_nan(mode):
    rng = np.random.default_rng(6)
    T, C = 300, 40
    labels = random_labels(rng, 30, C)
    saturated = np.zeros((T, C), np.float32)
    saturated[np.arange(T), rng.integers(0, C, T)] = 1  # one-hot, mostly wrong
    tiny = np.full((T, C), 1e-30, np.float32)
    tiny[:, 0] = 1  # the labels have probability 1e-30 everywhere
    for outputs in (saturated, tiny):
        aligned, loss = ctc.ctc_targets(outputs, labels, mode)
        assert aligned.dtype == np.float32 and np.all(np.isfinite(aligned)) and np.isfinite(loss)
        np.testing.assert_allclose(aligned.sum(axis=1), 1, rtol=1e-5)
        assert np.all(np.isfinite(ctc.beam_search_decode(outputs, 4)[1]))


def test_non_finite_outputs_are_refused_by_every_alignment():
    """A row of +inf once ran clstm's band of states past its table (memory corruption without
    bounds checks); NaN or infinity anywhere is now a clear error, log 0 (-inf logs) is still fine."""
    rng = np.random.default_rng(9)
    labels = np.array([1, 2, 3, 1], np.int32)
    good = rng.dirichlet(np.ones(6), 30).astype(np.float32)
    for row, value in ((7, np.inf), (0, np.nan), (29, -np.inf)):
        bad = good.copy()
        bad[row] = value
        for align in (lambda o: ctc.ctc_targets(o, labels, "clstm"), lambda o: ctc.ctc_loss(o, labels),
                      lambda o: ctc.ctc_align_targets(o, ctc.mktargets(labels, 6))):
            with pytest.raises(ValueError, match="CTC outputs must be finite"):
                align(bad)
        bad_logs = np.log(good)
        bad_logs[row, 2] = value if value != -np.inf else np.inf
        with pytest.raises(ValueError, match="CTC outputs must be finite"):
            ctc.ctc_loss(bad_logs, labels, log_probs=True)
    zero = good.copy()
    zero[:, 5] = 0  # a class that never occurs: its logs are -inf, clamped
    with np.errstate(divide="ignore"):
        zero_logs = np.log(zero)
    assert np.isfinite(ctc.ctc_loss(zero, labels)[0]) and np.isfinite(ctc.ctc_loss(zero_logs, labels, log_probs=True)[0])


def test_long_wide_line_gives_no_nan():
    rng = np.random.default_rng(8)
    T, C = 10000, 5000
    outputs = np.full((T, C), 1e-30, np.float32)
    outputs[np.arange(T), rng.integers(0, C, T)] = 1
    labels = random_labels(rng, 50, C)
    for mode in ctc.CTC_MODES:
        aligned, loss = ctc.ctc_targets(outputs, labels, mode)
        assert np.isfinite(loss) and not np.isnan(aligned).any()
        del aligned


# --- learning ---------------------------------------------------------------------------------


def symbol_line(rng, nsymbols=3, depth=4, nchars=3):
    """A (T, depth, 1) input where each label shows as its one-hot feature for 2-3 steps, with gaps."""
    labels = [int(c) for c in rng.integers(1, nsymbols + 1, nchars)]
    steps = []
    for c in labels:
        steps += [np.zeros(depth)] * int(rng.integers(1, 3))
        steps += [np.eye(depth)[c - 1]] * int(rng.integers(2, 4))
    steps += [np.zeros(depth)] * 2
    xs = np.array(steps) + 0.1 * rng.random((len(steps), depth))
    return xs.astype(np.float32)[:, :, None], labels


def label_error_rate(net, lines, mode):
    errors = total = 0
    for xs, labels in lines:
        net.inputs.aset(xs)
        net.forward()
        decoded = ctc.decode(net.outputs.array()[:, :, 0], mode)
        errors += Levenshtein.distance("".join(chr(65 + c) for c in decoded), "".join(chr(65 + c) for c in labels))
        total += len(labels)
    return errors / total


@pytest.mark.parametrize("mode", ctc.CTC_MODES)
def test_training_lowers_label_error(mode):
    rng = np.random.default_rng(SEED - 1)
    net = make_net("lstm1", rng=SEED, ninput=4, nhidden=12, noutput=4)
    net.setLearningRate(1e-2, 0.9)
    test_lines = [symbol_line(rng) for _ in range(30)]
    before = label_error_rate(net, test_lines, mode)
    losses = []
    for _ in range(600):
        xs, labels = symbol_line(rng)
        net.inputs.aset(xs)
        net.forward()
        outputs = net.outputs.array()[:, :, 0]
        aligned, loss = ctc.ctc_targets(outputs, labels, mode)
        losses.append(loss)
        net.d_outputs.aset((aligned - outputs)[:, :, None])
        net.backward()
        net.update()
    after = label_error_rate(net, test_lines, mode)
    at_least(f"symbol lines {mode} label error before", before, 0.5)
    at_most(f"symbol lines {mode} label error after", after, 0.1)
    at_most(f"symbol lines {mode} loss last / first", np.mean(losses[-50:]) / np.mean(losses[:50]), 0.2)
