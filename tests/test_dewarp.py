"""Tests for text-line normalization: kernels against NumPy twins, synthetic warped lines, real uw3 lines."""
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from clstmtools.dewarp import (METHODS, centre_line, gaussian_weights, make_normalizer, smooth_1d_nearest,
                               smooth_2d)
from clstmtools.dewarp import ink_mad
from clstmtools.kernels.dewarp import (box_mean_zero_edges, column_argmax, cut_band, resample_clamped,
                                       smooth_columns_zero_edges, smooth_rows_zero_edges, weighted_row_distance)

UW3_ARCHIVE = Path(__file__).resolve().parents[2] / "shared" / "data" / "uw3-500.tgz"
TARGET = 48


# --- NumPy twins ---------------------------------------------------------------------------------
def naive_convolve_rows(image, weights):
    """Each row convolved with ``weights`` (odd length), zeros outside: the 'full' result, centred."""
    radius = len(weights) // 2
    width = image.shape[1]
    return np.array([np.convolve(row.astype(np.float64), weights)[radius:radius + width] for row in image])


def naive_box_mean(image, rows, columns):
    """scipy.ndimage.uniform_filter(mode='constant') written out pixel by pixel."""
    height, width = image.shape
    out = np.zeros((height, width))
    for i in range(height):
        for x in range(width):
            top, left = max(0, i - rows // 2), max(0, x - columns // 2)
            out[i, x] = image[top:max(0, i - rows // 2 + rows), left:max(0, x - columns // 2 + columns)].sum()
    return out / (rows * columns)


def naive_bilinear_clamped(image, ys, xs):
    """Bilinear samples of ``image`` at every (y in ys, x in xs), coordinates clamped to the edge."""
    height, width = image.shape
    y0, x0 = np.floor(ys).astype(int), np.floor(xs).astype(int)
    fy, fx = (ys - y0)[:, None], (xs - x0)[None, :]
    rows = [np.clip(y0, 0, height - 1), np.clip(y0 + 1, 0, height - 1)]
    cols = [np.clip(x0, 0, width - 1), np.clip(x0 + 1, 0, width - 1)]
    pick = lambda r, c: image[rows[r][:, None], cols[c][None, :]].astype(np.float64)  # noqa: E731
    return (1 - fy) * ((1 - fx) * pick(0, 0) + fx * pick(0, 1)) + fy * ((1 - fx) * pick(1, 0) + fx * pick(1, 1))


def sparse_image(rng, shape, density=0.2):
    return (rng.random(shape) * (rng.random(shape) < density)).astype(np.float32)


# --- kernels against their twins -------------------------------------------------------------------
def test_gaussian_weights():
    weights = gaussian_weights(2.5)
    assert weights.dtype == np.float32 and len(weights) == 2 * int(4 * 2.5 + 0.5) + 1
    assert np.isclose(weights.sum(), 1) and np.array_equal(weights, weights[::-1])
    assert weights.argmax() == len(weights) // 2
    assert np.array_equal(gaussian_weights(0), [1])


@pytest.mark.parametrize("shape, sigma", [((7, 50), 3.0), ((5, 9), 6.0), ((1, 1), 0.5), ((30, 4), 0.0)])
def test_smoothing_kernels_match_convolution(shape, sigma):
    rng = np.random.default_rng(1)
    image = sparse_image(rng, shape)
    weights = gaussian_weights(sigma)
    across = np.full(shape, np.nan, np.float32)
    smooth_rows_zero_edges(across, image, weights)
    np.testing.assert_allclose(across, naive_convolve_rows(image, weights), rtol=1e-5, atol=1e-6)
    down = np.full(shape, np.nan, np.float32)
    smooth_columns_zero_edges(down, image, weights)
    np.testing.assert_allclose(down, naive_convolve_rows(image.T, weights).T, rtol=1e-5, atol=1e-6)
    assert across.dtype == down.dtype == np.float32


def test_smooth_2d_and_1d():
    rng = np.random.default_rng(2)
    image = sparse_image(rng, (12, 40))
    expected = naive_convolve_rows(naive_convolve_rows(image, gaussian_weights(5.0)).T, gaussian_weights(2.0)).T
    np.testing.assert_allclose(smooth_2d(image, 2.0, 5.0), expected, rtol=1e-5, atol=1e-6)
    values = rng.random(30)
    weights = gaussian_weights(3.0).astype(np.float64)
    radius = len(weights) // 2
    edge_padded = np.concatenate([np.full(radius, values[0]), values, np.full(radius, values[-1])])
    expected = [edge_padded[i:i + len(weights)] @ weights for i in range(len(values))]
    np.testing.assert_allclose(smooth_1d_nearest(values, 3.0), expected, rtol=1e-12)


def test_column_smoothing_skips_blank_rows_bit_for_bit():
    """Rows without ink add nothing: the sums with them skipped are the same float32 values, bit for
    bit, as a plain row-by-row accumulation (NumPy, in the kernel's order)."""
    rng = np.random.default_rng(6)
    image = sparse_image(rng, (14, 33), density=0.3)
    image[:4] = image[9:11] = 0
    weights = gaussian_weights(3.0)
    radius = len(weights) // 2
    expected = np.zeros_like(image)
    for row in range(image.shape[0]):
        for target in range(max(0, row - radius), min(image.shape[0], row + radius + 1)):
            expected[target] += weights[row - target + radius] * image[row]
    out = np.full_like(image, np.nan)
    smooth_columns_zero_edges(out, image, weights)
    np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-7)
    blank = np.zeros_like(image)
    smooth_columns_zero_edges(out, blank, weights)
    assert not out.any() and not np.signbit(out).any()


@pytest.mark.parametrize("shape", [(1, 1), (5, 1), (1, 7), (9, 40)])
def test_column_argmax_is_numpys_first_largest(shape):
    rng = np.random.default_rng(sum(shape))
    image = rng.integers(0, 3, shape).astype(np.float32)  # many ties: the first row of the largest wins
    out = np.full(shape[1], -1, np.int64)
    column_argmax(out, image)
    np.testing.assert_array_equal(out, np.argmax(image, axis=0))


def test_weighted_row_distance_is_the_ink_weighted_sum_of_distances():
    rng = np.random.default_rng(7)
    image = sparse_image(rng, (11, 25))
    centre = rng.uniform(-2, 12, 25)
    offsets = np.abs(np.arange(11)[:, None] - centre[None, :])
    expected = (image.astype(np.float64) * offsets).sum()
    assert weighted_row_distance(image, centre) == pytest.approx(expected, rel=1e-12)
    assert ink_mad(image, centre, float(image.sum())) == pytest.approx(expected / image.sum(), rel=1e-12)
    assert weighted_row_distance(np.zeros((3, 4), np.float32), np.zeros(4)) == 0


def test_gaussian_weights_are_remembered_but_handed_out_as_copies():
    first = gaussian_weights(4.5)
    first[:] = 0
    np.testing.assert_array_equal(gaussian_weights(4.5), gaussian_weights(np.float32(4.5)))
    assert gaussian_weights(4.5).sum() == pytest.approx(1)


@pytest.mark.parametrize("shape, rows, columns", [((9, 31), 4, 31), ((9, 31), 3, 7), ((2, 5), 6, 12), ((1, 1), 1, 1)])
def test_box_mean_matches_naive(shape, rows, columns):
    image = sparse_image(np.random.default_rng(3), shape, density=0.5)
    out = np.full(shape, np.nan, np.float32)
    box_mean_zero_edges(out, image, rows, columns)
    np.testing.assert_allclose(out, naive_box_mean(image, rows, columns), rtol=1e-5, atol=1e-7)


def test_cut_band_follows_the_curve_with_zero_padding():
    image = np.arange(1, 1 + 6 * 5, dtype=np.float32).reshape(6, 5)
    band_top = np.array([-2, 0, 3, 4, 1], np.int64)
    band = np.full((4, 5), np.nan, np.float32)
    cut_band(band, image, band_top)
    padded = np.vstack([np.zeros((4, 5)), image, np.zeros((4, 5))])
    expected = np.stack([padded[band_top[c] + 4:band_top[c] + 8, c] for c in range(5)], axis=1)
    np.testing.assert_array_equal(band, expected)


@pytest.mark.parametrize("first_row, scale, out_shape", [(0.0, 0.75, (8, 20)), (-2.3, 1.7, (6, 9)), (1.5, 0.2, (5, 40))])
def test_resample_clamped_matches_naive(first_row, scale, out_shape):
    image = np.random.default_rng(4).random((7, 13)).astype(np.float32)
    out = np.full(out_shape, np.nan, np.float32)
    resample_clamped(out, image, np.float32(first_row), np.float32(scale))
    ys = np.float32(first_row) + np.arange(out_shape[0], dtype=np.float32) * np.float32(scale)
    xs = np.arange(out_shape[1], dtype=np.float32) * np.float32(scale)
    np.testing.assert_allclose(out, naive_bilinear_clamped(image, ys, xs), rtol=1e-5, atol=1e-6)


# --- synthetic lines -------------------------------------------------------------------------------
def rendered_text(text="The quick brown fox jumps over the lazy dog 0123456789; pack my box with five dozen jugs."):
    """A tightly cropped line of text rendered by Pillow's built-in font: ink 1 on 0."""
    font = ImageFont.load_default(size=24)
    image = Image.new("L", (font.getbbox(text)[2] + 10, 38))
    ImageDraw.Draw(image).text((5, 3), text, font=font, fill=255)
    return np.asarray(image, np.float32) / np.float32(255)


def warped(line, shifts):
    """``line`` with column x moved down by ``shifts[x]`` rows, on a canvas just tall enough."""
    out = np.zeros((line.shape[0] + shifts.max(), line.shape[1]), np.float32)
    for x, shift in enumerate(shifts):
        out[shift:shift + line.shape[0], x] = line[:, x]
    return out


def block_centroids(image, blocks=8):
    """Ink-weighted mean row of each of ``blocks`` vertical slices that holds a fair share of ink."""
    rows = np.arange(image.shape[0])
    centroids = []
    for part in np.array_split(image, blocks, axis=1):
        if part.sum() > 0.2 * image.sum() / blocks:
            centroids.append(rows @ part.sum(axis=1) / part.sum())
    return np.array(centroids)


@pytest.mark.parametrize("warp", ["slant", "curve"])
def test_center_levels_slanted_and_curved_lines(warp):
    line = rendered_text()
    x = np.arange(line.shape[1])
    if warp == "slant":  # about 1.4 degrees: a 27-row drift over the line
        shifts = np.round(0.025 * x).astype(int)
    else:  # one full period of a sine across the line, 24 rows peak to peak
        shifts = np.round(12 + 12 * np.sin(2 * np.pi * x / len(x))).astype(int)
    image = warped(line, shifts)
    out = make_normalizer("center")(image)
    assert out.dtype == np.float32 and out.shape[0] == TARGET
    assert 0 <= out.min() and out.max() <= 1 and out.max() > 0.9
    scale = out.shape[1] / image.shape[1]
    raw_spread = np.ptp(block_centroids(image)) * scale  # in output rows
    centroids = block_centroids(out)
    assert len(centroids) >= 6
    assert np.abs(centroids - TARGET / 2).max() < 4
    assert np.ptp(centroids) < 6 and raw_spread > 3 * np.ptp(centroids)


def test_centre_line_follows_a_slanted_band():
    image = np.zeros((40, 400), np.float32)
    for x in range(400):
        image[8 + x // 20:16 + x // 20, x] = 1  # band centre at row 11.5 + x / 20
    centre = centre_line(image)
    middle = slice(100, 300)  # away from the ends, where zero padding pulls the centre inwards
    np.testing.assert_allclose(centre[middle], 11.5 + np.arange(400)[middle] / 20, atol=1.5)


def test_mean_centres_and_scales_a_known_band():
    image = np.zeros((60, 300), np.float32)
    image[30:42] = 1  # 12 rows of ink, mean row 35.5, mean absolute deviation 3
    mad = np.abs(np.arange(30, 42) - 35.5).mean()
    for norm_range, norm_vscale in ((4.0, 1.0), (2.0, 1.5)):
        out = make_normalizer("mean", norm_range=norm_range, norm_vscale=norm_vscale)(image)
        scale = 2 * norm_range * norm_vscale * mad / TARGET
        assert out.dtype == np.float32 and out.shape == (TARGET, int(300 / scale))
        column = out[:, out.shape[1] // 2]
        assert abs(column.sum() - 12 / scale) < 1.5  # the band's height in output rows
        centroid = np.arange(TARGET) @ column / column.sum()
        assert abs(centroid - TARGET / 2) < 1


def test_mean_keeps_text_centred():
    line = rendered_text()
    image = np.vstack([np.zeros((25, line.shape[1]), np.float32), line])
    out = make_normalizer("mean")(image)
    assert out.shape[0] == TARGET and out.dtype == np.float32
    centroid = np.arange(TARGET) @ out.sum(axis=1) / out.sum()
    assert abs(centroid - TARGET / 2) < 1.5


# --- methods, degenerate inputs, errors ------------------------------------------------------------
def test_none_passes_lines_of_the_target_height():
    image = np.random.default_rng(5).random((TARGET, 30)).astype(np.float64)
    out = make_normalizer("none")(image)
    assert out.dtype == np.float32 and np.array_equal(out, image.astype(np.float32))
    with pytest.raises(ValueError, match="line height 47 differs from target_height 48; use dewarp=center or mean"):
        make_normalizer("none")(image[:47])


@pytest.mark.parametrize("method", ["mean", "center"])
@pytest.mark.parametrize("shape, ink", [((40, 100), None), ((1, 1), (0, 0)), ((1, 1), None), ((30, 1), (12, 0)),
                                        ((1, 50), (0, 20)), ((60, 1), None), ((1, 200), None), ((3, 3), (2, 2))])
def test_degenerate_lines(method, shape, ink):
    image = np.zeros(shape, np.float32)
    if ink is not None:
        image[ink] = 1
    out = make_normalizer(method)(image)
    assert out.dtype == np.float32 and out.shape[0] == TARGET and out.shape[1] >= 1
    assert np.isfinite(out).all() and 0 <= out.min() and out.max() <= 1
    if ink is None:
        assert out.shape[1] == max(1, round(shape[1] * TARGET / shape[0])) and not out.any()
    else:
        assert out.max() > 0


def test_bad_settings_and_images_are_refused():
    with pytest.raises(ValueError, match="unknown dewarp method 'centre'; choose one of none, mean, center"):
        make_normalizer("centre")
    for settings in ({"target_height": 0}, {"target_height": 4.5}, {"norm_range": 0}, {"norm_vscale": -1},
                     {"norm_smooth2d": -0.1}, {"norm_smooth1d": float("nan")}):
        with pytest.raises(ValueError, match=next(iter(settings))):
            make_normalizer("center", **settings)
    normalize = make_normalizer("center")
    with pytest.raises(ValueError, match="2-d"):
        normalize(np.zeros((4, 5, 3), np.float32))
    with pytest.raises(ValueError, match="non-empty"):
        normalize(np.zeros((0, 5), np.float32))
    image = np.zeros((10, 10), np.float32)
    image[3, 3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        normalize(image)


def test_normalizer_records_its_settings():
    normalize = make_normalizer("center", target_height=32, norm_range=3)
    assert set(METHODS) == {"none", "mean", "center"}
    assert (normalize.method, normalize.target_height, normalize.norm_range) == ("center", 32, 3.0)
    assert normalize(rendered_text()).shape[0] == 32


# --- real lines ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def uw3_lines(tmp_path_factory):
    """Six uw3 lines spread over the sorted list, as ink 1 on 0 (skips when ../shared is absent)."""
    if not UW3_ARCHIVE.exists():
        pytest.skip(f"shared data {UW3_ARCHIVE} is not available")
    target = tmp_path_factory.mktemp("uw3")
    with tarfile.open(UW3_ARCHIVE) as tar:
        members = sorted((m for m in tar.getmembers() if m.name.endswith(".bin.png")), key=lambda m: m.name)
        chosen = members[::len(members) // 6][:6]
        tar.extractall(target, members=chosen, filter="data")
    return [np.float32(1) - np.asarray(Image.open(target / m.name).convert("L"), np.float32) / np.float32(255)
            for m in chosen]


def test_center_on_real_uw3_lines(uw3_lines, tmp_path):
    normalize = make_normalizer("center")
    outs = [normalize(line) for line in uw3_lines]
    for line, out in zip(uw3_lines, outs):
        assert out.dtype == np.float32 and out.shape[0] == TARGET
        assert 0 <= out.min() and out.max() <= 1 and out.max() > 0.9
        centroid = np.arange(TARGET) @ out.sum(axis=1) / out.sum()
        assert abs(centroid - TARGET / 2) < 0.15 * TARGET, (line.shape, centroid)
    # five of them stacked, dark ink on white, to look at
    stacked = np.vstack([np.pad(out, ((0, 2), (0, max(o.shape[1] for o in outs) - out.shape[1])))
                         for out in outs[:5]])
    Image.fromarray(((1 - stacked) * 255).astype(np.uint8)).save(tmp_path / "dewarped.png")
    assert np.asarray(Image.open(tmp_path / "dewarped.png")).shape == stacked.shape
