"""Tests of the training pictures: real PNG files decoded with Pillow, sizes, content, Unicode, edge cases."""
import os

import numpy as np
import pytest
from PIL import Image

from clstmtools.display import (MAX_WIDTH, MIN_WIDTH, picture_width, render_display, resample_rows,
                                write_display, write_seq_display)
from clstmtools.sequence import Sequence


def naive_resample_rows(values, n, reduce):
    """Row i of the result covers input rows [floor(i L / n), floor((i + 1) L / n)), at least one row."""
    length = len(values)
    rows = []
    for i in range(n):
        start = i * length // n
        stop = max((i + 1) * length // n, start + 1)
        block = values[start:stop]
        rows.append(block.max(axis=0) if reduce == "max" else block.mean(axis=0))
    return np.array(rows)


def posteriors(T, nclasses, seed=0):
    logits = np.random.default_rng(seed).normal(size=(T, nclasses))
    logits[:, 0] += 3.0
    p = np.exp(logits)
    return (p / p.sum(axis=1, keepdims=True)).astype(np.float32)


def line_image(T, depth=48, seed=0):
    return (np.random.default_rng(seed).random((T, depth)) > 0.8).astype(np.float32)


def pixels(path):
    with Image.open(path) as picture:
        picture.load()
        assert picture.format == "PNG"
        return np.asarray(picture.convert("RGB"), dtype=np.int32)


def test_picture_width_rules():
    assert picture_width(1) == MIN_WIDTH
    assert picture_width(250) == 750            # 3 pixels per step, not a fractional 2.4
    assert picture_width(MIN_WIDTH) == MIN_WIDTH
    assert picture_width(1234) == 1234
    assert picture_width(100000) == MAX_WIDTH


@pytest.mark.parametrize("length,n", [(1, 7), (5, 12), (12, 12), (13, 5), (6000, 3000), (3001, 3000)])
@pytest.mark.parametrize("reduce", ["max", "mean"])
def test_resample_rows_matches_naive(length, n, reduce):
    values = np.random.default_rng(length).random((length, 3))
    got = resample_rows(values, n, np.maximum if reduce == "max" else np.add)
    np.testing.assert_allclose(got, naive_resample_rows(values, n, reduce), rtol=1e-12)


def test_binning_keeps_a_one_step_posterior_peak():
    values = np.zeros((7001, 1))
    values[4321, 0] = 1.0
    assert resample_rows(values, MAX_WIDTH, np.maximum).max() == 1.0


def test_write_display_png_size_and_no_leftovers(tmp_path):
    path = tmp_path / "display.png"
    T = 250
    out = write_display(path, line_image(T), posteriors(T, 20), posteriors(T, 20, seed=1),
                        truth="hello world", output_text="helo world", title="trial 10")
    assert out == str(path)
    picture = pixels(path)
    assert picture.shape[1] == picture_width(T) == 750
    # title + input (48 rows x 3 px, capped at 4 px a row) + two 20-class heat maps + curves
    assert 500 < picture.shape[0] < 1000
    assert os.listdir(tmp_path) == ["display.png"]


def test_display_differs_when_inputs_differ(tmp_path):
    T, nclasses = 300, 12
    base = dict(image=line_image(T), outputs=posteriors(T, nclasses), truth="abc", output_text="abc")
    paths = {name: tmp_path / f"{name}.png" for name in ("base", "image", "outputs", "aligned", "text")}
    write_display(paths["base"], **base)
    write_display(paths["image"], **{**base, "image": line_image(T, seed=5)})
    write_display(paths["outputs"], **{**base, "outputs": posteriors(T, nclasses, seed=5)})
    write_display(paths["aligned"], aligned=posteriors(T, nclasses, seed=6), **base)
    write_display(paths["text"], **{**base, "output_text": "abd"})
    reference = pixels(paths["base"])
    for name in ("image", "outputs", "text"):
        other = pixels(paths[name])
        assert other.shape == reference.shape
        assert np.any(other != reference), name
    assert pixels(paths["aligned"]).shape[0] > reference.shape[0]     # one more panel


def test_ink_is_dark_and_time_runs_left_to_right(tmp_path):
    T = 300
    blank_image = np.zeros((T, 48), np.float32)
    inked = blank_image.copy()
    inked[10:20, 5:40] = 1.0                     # early time steps: the left of the picture
    outputs = posteriors(T, 5)
    write_display(tmp_path / "a.png", blank_image, outputs)
    write_display(tmp_path / "b.png", inked, outputs)
    a, b = pixels(tmp_path / "a.png"), pixels(tmp_path / "b.png")
    changed = np.argwhere(np.any(a != b, axis=2))
    assert len(changed) > 0
    assert changed[:, 1].min() >= 2 * 10 and changed[:, 1].max() < 2 * 20 + 1   # 2 px per step
    assert b[changed[:, 0], changed[:, 1]].max() < 60 and a[changed[:, 0], changed[:, 1]].min() > 200


def test_log_scale_changes_the_heat_map(tmp_path):
    T = 100
    args = (line_image(T), posteriors(T, 8))
    write_display(tmp_path / "lin.png", *args)
    write_display(tmp_path / "log.png", *args, log_scale=True)
    assert np.any(pixels(tmp_path / "lin.png") != pixels(tmp_path / "log.png"))


@pytest.mark.parametrize("text", ["Grüße, naïve — αβγ ‏שלום‏ 中文 😀 é", "tab\tnew\nline\x00\x7f", "",
                                  "x" * 5000])
def test_unicode_and_odd_titles_do_not_crash(tmp_path, text):
    path = tmp_path / "u.png"
    write_display(path, line_image(40), posteriors(40, 4), truth=text, output_text=text[::-1], title=text)
    picture = pixels(path)
    assert picture.shape[1] == MIN_WIDTH
    assert picture.shape[0] < 1000                # very long fields are cut, not drawn in full


def test_degenerate_single_step_and_single_class_pair(tmp_path):
    write_display(tmp_path / "one.png", np.ones((1, 1)), np.array([[0.3, 0.7]]), np.array([[0.0, 1.0]]))
    assert pixels(tmp_path / "one.png").shape[1] == MIN_WIDTH
    write_display(tmp_path / "blank_only.png", np.ones((3, 2)), np.ones((3, 1)))     # no non-blank class
    assert pixels(tmp_path / "blank_only.png").shape[1] == MIN_WIDTH


def test_long_sequences_are_capped_and_non_finite_values_tolerated(tmp_path):
    T = 4500
    outputs = posteriors(T, 30)
    outputs[7, 3] = np.nan
    image = line_image(T, depth=32) * 255.0        # 0..255 input is scaled to ink 0..1
    image[9, 0] = np.inf
    write_display(tmp_path / "long.png", image, outputs)
    assert pixels(tmp_path / "long.png").shape[1] == MAX_WIDTH


def test_sequences_and_three_dimensional_arrays_are_accepted():
    T = 60
    image, outputs = line_image(T), posteriors(T, 6)
    plain = np.asarray(render_display(image, outputs))
    as_sequences = np.asarray(render_display(Sequence(image[:, :, None]), outputs[:, :, None]))
    np.testing.assert_array_equal(plain, as_sequences)


def test_bad_shapes_raise_naming_the_file_and_keep_the_old_picture(tmp_path):
    path = tmp_path / "keep.png"
    write_display(path, line_image(20), posteriors(20, 3))
    before = path.read_bytes()
    with pytest.raises(ValueError, match=r"keep\.png: the outputs: 21 time steps, but the input has 20"):
        write_display(path, line_image(20), posteriors(21, 3))
    with pytest.raises(ValueError, match=r"keep\.png: the aligned targets have shape"):
        write_display(path, line_image(20), posteriors(20, 3), aligned=posteriors(20, 4))
    with pytest.raises(ValueError, match=r"keep\.png: the input image is empty"):
        write_display(path, np.zeros((0, 48)), np.zeros((0, 3)))
    with pytest.raises(ValueError, match=r"keep\.png: the outputs must be a \(T, channels\) array"):
        write_display(path, line_image(20), np.zeros((20, 3, 2)))
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["keep.png"]


def test_write_seq_display(tmp_path):
    rng = np.random.default_rng(3)
    T = 200
    inputs = (rng.random((T, 3)) > 0.7).astype(np.float32)
    targets = np.roll(inputs[:, :2], 3, axis=0)
    outputs = np.clip(targets + rng.normal(0.0, 0.1, targets.shape), 0.0, 1.0)
    write_seq_display(tmp_path / "seq.png", inputs, outputs, targets, title="trial 5 ✓")
    write_seq_display(tmp_path / "seq2.png", inputs, outputs, np.roll(targets, 1, axis=0), title="trial 5 ✓")
    write_seq_display(tmp_path / "nt.png", inputs, outputs)
    seq, seq2, no_targets = (pixels(tmp_path / n) for n in ("seq.png", "seq2.png", "nt.png"))
    assert seq.shape[1] == picture_width(T) == 600
    assert 300 < seq.shape[0] < 700               # three heat maps and two curve panels
    assert seq.shape == seq2.shape and np.any(seq != seq2)
    assert no_targets.shape[0] < seq.shape[0]
    write_seq_display(tmp_path / "one.png", np.array([[2.0]]), np.array([[-0.5]]), np.array([[1.0]]))
    assert pixels(tmp_path / "one.png").shape[1] == MIN_WIDTH
    with pytest.raises(ValueError, match=r"bad\.png: the targets have shape"):
        write_seq_display(tmp_path / "bad.png", inputs, outputs, targets[:, :1])


def test_a_failed_write_leaves_the_old_picture_and_no_temporary_file(tmp_path, monkeypatch):
    path = tmp_path / "keep.png"
    write_display(path, line_image(20), posteriors(20, 3))
    before = path.read_bytes()

    def disk_full(self, fh, *args, **kwargs):
        fh.write(b"\x89PNG half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Image.Image, "save", disk_full)
    with pytest.raises(OSError, match="No space left"):
        write_display(path, line_image(20, seed=1), posteriors(20, 3))
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["keep.png"]
