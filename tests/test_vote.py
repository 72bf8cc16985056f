"""Tests of confidence voting: models' readings of a line from their outputs, the alignment, the vote and the disagreement."""
import itertools

import numpy as np
import pytest

from clstmtools import ctc
from clstmtools.codec import Codec
from clstmtools.datasets.layout import RecognizedLine
from clstmtools.vote import (ALTERNATIVE_FLOOR, Reading, align, disagreement, most_disagreement, read_line, step_at,
                             vote)

from margins import SEED
from naive_ctc import softmax


def reading(text, probabilities=None, alternatives=None, positions=None):
    """A Reading of ``text``: each character with its probability (1 by default) and the given extra alternatives."""
    probabilities = probabilities or [1.0] * len(text)
    alternatives = alternatives or [()] * len(text)
    positions = positions or [(i + 0.5) / len(text) for i in range(len(text))]
    return Reading(text, tuple(positions),
                   tuple(((c, p),) + tuple(more) for c, p, more in zip(text, probabilities, alternatives)))


def random_outputs(rng, T, C, sharpness=4.0, blank_bias=1.0):
    activations = sharpness * rng.standard_normal((T, C))
    activations[:, 0] += blank_bias
    return softmax(activations).astype(np.float32)


def outputs_for(codec, frames):
    """Posteriors of ``len(frames)`` steps over ``codec``: each step a dict character -> probability, the blank
    ('' ) taking what is left."""
    outputs = np.zeros((len(frames), len(codec)), np.float32)
    labels = {char: i for i, char in enumerate(codec.decode(range(1, len(codec))), 1)}
    for t, frame in enumerate(frames):
        for char, p in frame.items():
            outputs[t, labels[char]] = p
        outputs[t, 0] = 1 - sum(frame.values())
    return outputs


def the_same(a, b):
    assert (a.text, a.confidences, a.positions) == (b.text, b.confidences, b.positions)


# --- one model's reading ---------------------------------------------------------------------------------------


def test_a_reading_from_outputs():
    codec = Codec.from_texts(["ab"])
    outputs = outputs_for(codec, [{"a": 0.7, "b": 0.2}, {"a": 0.9, "b": 0.05}, {}, {"b": 0.6, "a": 0.3}, {}, {}])
    read = read_line(outputs, codec)
    f = lambda x: float(np.float32(x))  # noqa: E731  the outputs are float32
    assert read.text == "ab"
    assert read.positions == (1.5 / 6, 3.5 / 6)  # the centres of the steps where a and b peak
    # a: its peak; b's best over a's two steps. b: its one step, and a there
    assert read.alternatives == ((("a", f(0.9)), ("b", f(0.2))), (("b", f(0.6)), ("a", f(0.3))))
    assert [p for _, p in ctc.char_confidences(outputs)] == [f(0.9), f(0.6)]


def test_alternatives_leave_out_the_blank_and_the_improbable():
    codec = Codec.from_texts(["abc"])
    outputs = outputs_for(codec, [{}, {"a": 0.5, "b": ALTERNATIVE_FLOOR / 2, "c": 2 * ALTERNATIVE_FLOOR}, {}])
    (alternatives,) = read_line(outputs, codec).alternatives
    assert [char for char, _ in alternatives] == ["a", "c"]  # the blank (0.5 here) is no alternative


def test_alternatives_never_outrank_what_the_model_decoded():
    codec = Codec.from_texts(["ab"])
    outputs = outputs_for(codec, [{"a": 0.6, "b": 0.3}])
    read = read_line(outputs, codec, labels=[2])  # b, where a is likelier (as a beam search may decide)
    assert read.text == "b"
    assert read.alternatives == ((("b", float(np.float32(0.3))), ("a", float(np.float32(0.3)))),)
    assert vote([read]).text == "b"


def test_a_reading_of_the_decoded_labels_has_the_programs_confidences():
    rng = np.random.default_rng(SEED)
    codec = Codec.from_texts(["abcde"])
    for _ in range(20):
        outputs = random_outputs(rng, 30, len(codec))
        for labels in (ctc.trivial_decode(outputs), ctc.best_path_decode(outputs)):
            read = read_line(outputs, codec, labels)
            assert read.text == codec.decode(labels)
            assert [alternatives[0][1] for alternatives in read.alternatives] == [
                p for _, p in ctc.char_confidences(outputs, labels)]
        assert read_line(outputs, codec) == read_line(outputs, codec, ctc.best_path_decode(outputs))


def test_a_codec_as_a_list_of_code_points():
    codec = Codec.from_texts(["ab"])
    outputs = outputs_for(codec, [{"b": 0.9}, {}])
    assert read_line(outputs, codec.codepoints) == read_line(outputs, codec)
    with pytest.raises(ValueError, match="start with the blank"):
        read_line(outputs, [98, 0, 97])


def test_empty_readings():
    codec = Codec.from_texts(["ab"])
    assert read_line(np.zeros((0, 3), np.float32), codec) == Reading("", (), ())
    assert read_line(outputs_for(codec, [{}, {}]), codec) == Reading("", (), ())
    assert read_line(outputs_for(codec, [{"a": 0.9}]), codec, labels=[]) == Reading("", (), ())
    with pytest.raises(ValueError, match="no time steps"):
        read_line(np.zeros((0, 3), np.float32), codec, labels=[1])


def test_outputs_that_do_not_fit_the_codec_are_refused():
    with pytest.raises(ValueError, match="do not fit a codec of 3 classes"):
        read_line(np.full((4, 5), 0.2, np.float32), Codec.from_texts(["ab"]))


def test_a_reading_checks_itself():
    with pytest.raises(ValueError, match="2 characters has 1 positions"):
        Reading("ab", (0.5,), ((("a", 1.0),), (("b", 1.0),)))
    with pytest.raises(ValueError, match="do not start with it"):
        Reading("a", (0.5,), ((("b", 1.0), ("a", 0.5)),))


# --- the alignment ---------------------------------------------------------------------------------------------


def test_alignment_columns():
    assert align([reading("abc"), reading("ac"), reading("abxc")]) == [
        [0, 0, 0], [1, None, 1], [None, None, 2], [2, 1, 3]]
    assert align([reading(""), reading("ab")]) == [[None, 0], [None, 1]]
    assert align([reading("ab"), reading("")]) == [[0, None], [1, None]]


def test_a_column_stands_for_its_likeliest_character():
    # after "bx" and "ba", the second column reads a (0.9 against 0.4): the third reading's a pairs with it
    assert align([reading("bx", [1, 0.4]), reading("ba", [1, 0.9]), reading("a")]) == [[0, 0, None], [1, 1, 0]]
    assert align([reading("bx", [1, 0.9]), reading("ba", [1, 0.4]), reading("a")]) == [[0, 0, 0], [1, 1, None]]


# --- the vote --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("copies", [1, 2, 3, 5])
def test_a_vote_of_identical_models_is_that_model_exactly(copies):
    rng = np.random.default_rng(SEED)
    codec = Codec.from_texts(["abcdefg "])
    for _ in range(30):
        T = int(rng.integers(1, 60))
        outputs = random_outputs(rng, T, len(codec))
        labels = ctc.trivial_decode(outputs)
        read = read_line(outputs, codec, labels)
        voted = vote([read] * copies)
        the_same(voted, vote([read]))
        assert voted.positions == list(read.positions)
        alone = RecognizedLine(codec.decode(labels), ctc.char_confidences(outputs, labels), T)
        assert voted.recognized_line(T) == alone  # text, steps and confidences, not a bit apart
        assert voted.confidence == alone.confidence
        assert voted.disagreement == 0.0
    # means of values that three equal terms would round: 0.1 * 3 / 3 is not 0.1 in floating point
    voted = vote([reading("ab", [0.49543508709194095, 0.1], positions=[0.1, 0.7])] * copies)
    assert voted.confidences == [0.49543508709194095, 0.1] and voted.positions == [0.1, 0.7]


def test_the_majority_wins_a_character():
    voted = vote([reading("hallo", [0.9] * 5), reading("hallo", [0.9] * 5), reading("hailo", [0.9] * 5)])
    assert voted.text == "hallo"
    assert voted.confidences[2] == pytest.approx(0.6)  # 0.9 + 0.9 of three
    assert voted.confidences[0] == pytest.approx(0.9)


def test_a_confident_minority_wins():
    assert vote([reading("e", [0.99]), reading("c", [0.4]), reading("c", [0.4])]).text == "e"
    # through the alternatives: the two that read c were not sure either
    voted = vote([reading("e", [0.99], [[("c", 0.005)]]),
                  reading("c", [0.5], [[("e", 0.45)]]), reading("c", [0.5], [[("e", 0.45)]])])
    assert voted.text == "e" and voted.confidences == [pytest.approx((0.99 + 0.45 + 0.45) / 3)]
    # the counts win where the minority is not more confident than the majority together
    assert vote([reading("e", [0.7]), reading("c", [0.4]), reading("c", [0.4])]).text == "c"


def test_a_model_without_a_character_votes_for_none_with_its_weight():
    voted = vote([reading("abc"), reading("abc"), reading("ac")])
    assert voted.text == "abc" and voted.confidences == [1.0, pytest.approx(2 / 3), 1.0]
    assert vote([reading("abc"), reading("ac"), reading("ac")]).text == "ac"
    assert vote([reading("ab"), reading("aXb"), reading("ab")]).text == "ab"
    # two unsure readings of b weigh less than one model that reads nothing there
    assert vote([reading("abc", [1, 0.4, 1]), reading("abc", [1, 0.4, 1]), reading("ac")]).text == "ac"


def test_models_with_different_codecs_and_frame_rates():
    # model 1 has no ä and runs at 4 steps per character; models 2 and 3 know ä, in other label orders, at 1
    codec1, codec2, codec3 = Codec.from_texts(["abr"]), Codec([0, ord("ä"), ord("r"), ord("b")]), \
        Codec([0, ord("b"), ord("ä"), ord("r")])
    wide = [{}, {"b": 0.9}, {"b": 0.8}, {}] + [{}, {"a": 0.8}, {"a": 0.6}, {}] + [{}, {"r": 0.9}, {}, {}]
    narrow = [{"b": 0.95}, {"ä": 0.7}, {"r": 0.9}]
    readings = [read_line(outputs_for(codec1, wide), codec1), read_line(outputs_for(codec2, narrow), codec2),
                read_line(outputs_for(codec3, narrow), codec3)]
    assert [r.text for r in readings] == ["bar", "bär", "bär"]
    voted = vote(readings)
    assert voted.text == "bär"
    assert voted.confidences == [pytest.approx((0.9 + 0.95 + 0.95) / 3), pytest.approx(1.4 / 3),
                                 pytest.approx(0.9)]
    # each character where the models that read it place it: b at 1.5/12 and 0.5/3 (twice); ä from models 2, 3
    assert voted.positions == [pytest.approx((1.5 / 12 + 2 * 0.5 / 3) / 3), pytest.approx(1.5 / 3),
                               pytest.approx((9.5 / 12 + 2 * 2.5 / 3) / 3)]
    assert voted.recognized_line(30).chars == [(int(30 * p), c) for p, c in zip(voted.positions, voted.confidences)]


def test_lines_of_different_lengths_and_positions():
    voted = vote([reading("abc", positions=[0.1, 0.5, 0.9]), reading("abcd", positions=[0.1, 0.3, 0.5, 0.7]),
                  reading("abcd", positions=[0.2, 0.4, 0.6, 0.8])])
    assert voted.text == "abcd"
    assert voted.positions == [pytest.approx(0.4 / 3), pytest.approx(1.2 / 3), pytest.approx(2.0 / 3),
                               pytest.approx(0.75)]
    assert voted.confidences[3] == pytest.approx(2 / 3)


def test_a_character_won_on_alternatives_alone_is_placed_where_the_models_read_their_own():
    voted = vote([reading("c", [0.4], [[("e", 0.39)]], [0.2]), reading("o", [0.4], [[("e", 0.39)]], [0.4])])
    assert voted.text == "e" and voted.positions == [pytest.approx(0.3)]


def test_empty_readings_vote():
    assert vote([reading("")]).text == ""
    voted = vote([reading(""), reading(""), reading("")])
    assert (voted.text, voted.confidences, voted.positions, voted.disagreement) == ("", [], [], 0.0)
    assert voted.recognized_line(10) == RecognizedLine("", [], 10) and voted.confidence == 0.0
    voted = vote([reading(""), reading("ab"), reading("ab")])
    assert voted.text == "ab" and voted.confidences == [pytest.approx(2 / 3)] * 2
    assert vote([reading(""), reading(""), reading("ab")]).text == ""
    with pytest.raises(ValueError, match="at least one reading"):
        vote([])


def test_ties_go_to_the_earliest_model():
    assert vote([reading("a"), reading("b")]).text == "a"
    assert vote([reading("b"), reading("a")]).text == "b"
    assert vote([reading(""), reading("x")]).text == ""
    assert vote([reading("x"), reading("")]).text == "x"
    # within one model: its likelier alternative first, as the reading lists them
    assert vote([reading("a", [0.5], [[("b", 0.3), ("c", 0.3)]]), reading("d", [0.5], [[("c", 0.5)]])]).text == "c"
    assert vote([reading("a", [0.5], [[("c", 0.3), ("b", 0.3)]]), reading("d", [0.5], [[("b", 0.5)]])]).text == "b"


def test_the_vote_is_deterministic_and_its_sums_do_not_depend_on_the_models_order():
    readings = [reading("hallo", [0.9, 0.8, 0.7, 0.6, 0.5]), reading("hallo", [0.1, 0.2, 0.3, 0.4, 0.5]),
                reading("hailo", [0.3, 0.3, 0.3, 0.3, 0.3])]
    results = [vote(list(order)) for order in itertools.permutations(readings)]
    for result in results:
        the_same(result, results[0])
    assert results[0].text == "hallo"


def test_step_at():
    assert [step_at(p, 4) for p in (0.0, 0.124, 0.125, 0.5, 0.99, 1.0, -0.1, 1.5)] == [0, 0, 0, 2, 3, 3, 0, 3]
    assert all(step_at((t + 0.5) / T, T) == t for T in (1, 3, 7, 1000) for t in range(T))


def test_hundreds_of_lines_of_five_models_vote_quickly():
    # no timing here: this runs the scale the programs meet (measured: see the report) as a smoke test
    rng = np.random.default_rng(SEED)
    codec = Codec.from_texts(["abcdefghij .,"])
    for _ in range(20):
        readings = [read_line(random_outputs(rng, 150, len(codec), sharpness=6.0), codec) for _ in range(5)]
        voted = vote(readings)
        assert len(voted.confidences) == len(voted.positions) == len(voted.text)
        assert all(0 < c <= 1 for c in voted.confidences)
        assert all(0 <= p <= 1 for p in voted.positions)


# --- the disagreement ------------------------------------------------------------------------------------------


def test_disagreement_of_constructed_lines():
    line = "abcdefghij"
    one_dissent = [line] * 4 + ["abcdefghiX"]
    split = [line] * 3 + ["abcdefghiX"] * 2
    three_way = [line] * 3 + ["abcdefghiX", "abcdefghiY"]
    assert disagreement([line] * 5) == 0.0
    assert disagreement(one_dissent) == pytest.approx(4 / 100)
    assert disagreement(split) == pytest.approx(6 / 100)
    assert disagreement(three_way) == pytest.approx(7 / 100)
    assert disagreement(["abc", "abX"]) > disagreement(["abcdefghij", "abcdefghiX"])  # the shorter line
    assert disagreement(["abcdefghij", "abcdefghij", "qwzrtpklmn"]) > disagreement(three_way)  # nonsense
    assert disagreement(["", "", ""]) == 0.0 and disagreement(["", "ab"]) == 1.0 and disagreement(["ab"]) == 0.0
    assert vote([reading(t) for t in split]).disagreement == disagreement(split)


def test_the_lines_with_the_most_disagreement():
    scores = [0.0, 0.1, 0.5, 0.1, 0.0, 0.3]
    assert most_disagreement(scores, 3) == [2, 5, 1]
    assert most_disagreement(scores, 10) == [2, 5, 1, 3]  # never a line that all models read alike
    assert most_disagreement(scores, 0) == [] and most_disagreement([], 5) == []


def test_real_networks_of_different_codecs_and_frame_rates_vote():
    from clstmtools.network import make_net
    from clstmtools.recognize import network_outputs

    line = np.random.default_rng(SEED).random((96, 48)).astype(np.float32)
    models = [(make_net("BIDILSTM", ninput=48, nhidden=6, noutput=5, rng=0), Codec.from_texts(["abcd"])),
              (make_net("CNNBIDILSTM", ninput=48, noutput=4, rng=1), Codec([0, ord("d"), ord("ä"), ord("a")]))]
    readings, lengths = [], []
    for net, codec in models:
        for _, weights, _ in net.weights():
            weights *= 6  # sharper outputs than a fresh network's, for characters to read
        ((_, _, outputs),) = network_outputs(net, lambda i: line, [0])
        for labels in (ctc.trivial_decode(outputs), ctc.best_path_decode(outputs)):
            alone = RecognizedLine(codec.decode(labels), ctc.char_confidences(outputs, labels), len(outputs))
            assert vote([read_line(outputs, codec, labels)] * 3).recognized_line(len(outputs)) == alone
        readings.append(read_line(outputs, codec))
        lengths.append(len(outputs))
    assert lengths[0] == 4 * lengths[1]  # the CNN pools columns by 4
    assert all(reading.text for reading in readings)
    voted = vote(readings + readings[1:])
    assert voted.text and set(voted.text) <= set(readings[0].text + readings[1].text)
    for steps in lengths:
        assert all(0 <= t < steps for t, _ in voted.recognized_line(steps).chars)
