"""Tests for reading line images of any format and mode into ink-1 float32 arrays, and aspect scaling."""
import numpy as np
import pytest
from PIL import Image

from clstmtools import images
from clstmtools.images import ImageReadError, image_info, image_size, is_image_name, read_image, scale_to_height

from conftest import shared_file


def text_like(height=30, width=80, seed=0):
    """A boolean ink mask: a few strokes on an empty ground, away from the border."""
    rng = np.random.default_rng(seed)
    ink = np.zeros((height, width), bool)
    for _ in range(12):
        r, c = rng.integers(3, height - 8), rng.integers(3, width - 8)
        ink[r:r + rng.integers(2, 6), c:c + rng.integers(1, 5)] = True
    return ink


def naive_ink(grey):
    """NumPy twin of read_image for an opaque grey image with a light ground: invert, stretch, clip."""
    grey = grey.astype(np.float64)
    ground = np.median(np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]]))
    return np.clip((ground - grey) / (ground - grey.min()), 0, 1)


INK = text_like()
GREY8 = np.where(INK, 20, 235).astype(np.uint8)  # dark ink on light ground


@pytest.mark.parametrize("extension", ["png", "bmp", "tif", "gif", "webp", "pgm", "ppm", "jpg"])
def test_formats(tmp_path, extension):
    path = tmp_path / f"line.{extension}"
    image = Image.fromarray(GREY8)
    if extension == "ppm":
        image = image.convert("RGB")
    image.save(path, **({"lossless": True} if extension == "webp" else {}))
    ink = read_image(path)
    assert ink.dtype == np.float32 and ink.shape == INK.shape
    assert ink.min() >= 0 and ink.max() <= 1
    if extension == "jpg":  # lossy: ringing around the strokes
        assert np.abs(ink - INK).mean() < 0.05 and np.abs(ink - INK).max() < 0.35
    else:
        np.testing.assert_allclose(ink, INK.astype(np.float32), atol=1e-6)
    assert image_size(path) == (INK.shape[1], INK.shape[0])


def save_mode(path, mode):
    """Save GREY8 in Pillow ``mode`` (ink dark, ground light) and return the luminance written."""
    if mode == "1":
        Image.fromarray(~INK).convert("1").save(path)  # True is white
    elif mode == "P":
        Image.fromarray(np.stack([GREY8, GREY8 // 2, GREY8], -1)).convert("P", palette=Image.Palette.ADAPTIVE).save(path)
    elif mode == "I;16":
        Image.fromarray(GREY8.astype(np.uint16) * 257).save(path)
    elif mode == "I":
        Image.fromarray(GREY8.astype(np.int32) * 1000).save(path)
    elif mode == "F":
        Image.fromarray(GREY8.astype(np.float32) * np.float32(0.01)).save(path)
    elif mode == "CMYK":
        Image.fromarray(GREY8).convert("CMYK").save(path)
    else:
        Image.fromarray(GREY8).convert(mode).save(path)


@pytest.mark.parametrize("mode,extension", [("1", "png"), ("L", "png"), ("LA", "png"), ("P", "png"),
                                            ("RGB", "png"), ("RGBA", "png"), ("I;16", "png"), ("I", "tif"),
                                            ("F", "tif"), ("CMYK", "tif"), ("1", "tif"), ("I;16", "tif")])
def test_modes(tmp_path, mode, extension):
    path = tmp_path / f"line.{extension}"
    save_mode(path, mode)
    with Image.open(path) as image:
        assert image.mode == mode or (mode, image.mode) in {("I", "I;32")}
    ink = read_image(path)
    assert ink.dtype == np.float32 and ink.shape == INK.shape
    np.testing.assert_allclose(ink, INK.astype(np.float32), atol=0.02)


def test_light_ink_on_dark_ground_is_kept(tmp_path):
    Image.fromarray(255 - GREY8).save(tmp_path / "neg.png")
    np.testing.assert_allclose(read_image(tmp_path / "neg.png"), INK.astype(np.float32), atol=1e-6)


def test_grey_levels_are_stretched_like_the_numpy_twin(tmp_path):
    rng = np.random.default_rng(1)
    grey = np.where(INK, 60, 200).astype(np.int16) + rng.integers(-15, 16, INK.shape)
    grey = grey.astype(np.uint8)
    Image.fromarray(grey).save(tmp_path / "grey.png")
    np.testing.assert_allclose(read_image(tmp_path / "grey.png"), naive_ink(grey), atol=1e-6)


def test_heavy_ink_is_judged_by_the_border(tmp_path):
    """Ink covering most of the inside would fool a median; the border is still ground."""
    ink = np.zeros((20, 40), bool)
    ink[2:-2, 2:-2] = True
    Image.fromarray(np.where(ink, 0, 255).astype(np.uint8)).save(tmp_path / "bold.png")
    np.testing.assert_array_equal(read_image(tmp_path / "bold.png"), ink.astype(np.float32))


def test_transparent_ground(tmp_path):
    """Dark ink on a transparent ground (as text renderers write it) comes out as ink 1."""
    rgba = np.zeros(INK.shape + (4,), np.uint8)
    rgba[..., 3] = np.where(INK, 255, 0)
    Image.fromarray(rgba).save(tmp_path / "alpha.png")
    np.testing.assert_allclose(read_image(tmp_path / "alpha.png"), INK.astype(np.float32), atol=1e-6)
    rgba[..., :3] = 255  # white ink on transparent: laid over black
    Image.fromarray(rgba).save(tmp_path / "white.png")
    np.testing.assert_allclose(read_image(tmp_path / "white.png"), INK.astype(np.float32), atol=1e-6)


def test_blank_image_is_all_ground(tmp_path):
    Image.new("L", (10, 5), 255).save(tmp_path / "blank.png")
    ink = read_image(tmp_path / "blank.png")
    assert ink.shape == (5, 10) and not ink.any()


def test_unreadable_files_name_the_file(tmp_path):
    (tmp_path / "text.png").write_text("not an image")
    with pytest.raises(ImageReadError, match="text.png: not an image"):
        read_image(tmp_path / "text.png")
    with pytest.raises(ValueError, match="missing.png: no such file"):
        read_image(tmp_path / "missing.png")
    Image.fromarray(GREY8).save(tmp_path / "cut.png")
    data = (tmp_path / "cut.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageReadError, match="cut.png"):
        read_image(tmp_path / "cut.png")
    with pytest.raises(ImageReadError, match="text.png"):
        image_size(tmp_path / "text.png")


def test_real_line_matches_the_numpy_twin():
    path = shared_file("textline.bin.png")
    with Image.open(path) as image:
        grey = np.asarray(image.convert("L"))
    ink = read_image(path)
    np.testing.assert_allclose(ink, naive_ink(grey), atol=1e-6)
    assert 0.02 < ink.mean() < 0.5  # ink is the minority


def test_scale_to_height():
    ink = INK.astype(np.float32)
    doubled = np.kron(ink, np.ones((2, 2), np.float32))
    scaled = scale_to_height(doubled, 30)
    assert scaled.shape == (30, 80) and scaled.dtype == np.float32
    assert scaled.min() >= 0 and scaled.max() <= 1
    assert np.abs(scaled - ink).mean() < 0.05
    assert scale_to_height(ink, 30) is not None and scale_to_height(ink, 30).shape == (30, 80)
    tall = scale_to_height(np.ones((100, 7), np.float32), 48)
    assert tall.shape == (48, 3) and np.allclose(tall, 1, atol=1e-3)
    assert scale_to_height(np.ones((500, 1), np.float32), 48).shape == (48, 1)


def test_is_image_name():
    assert is_image_name("a.PNG") and is_image_name("x.bin.png") and is_image_name("b.jpeg")
    assert not is_image_name("labels.txt") and not is_image_name("x.gt.txt") and not is_image_name("png")


def test_multi_page_tiff_reads_its_first_page_and_counts_the_pages(tmp_path):
    path = tmp_path / "pages.tif"
    first, other = Image.fromarray(GREY8), Image.fromarray(255 - GREY8)
    first.save(path, save_all=True, append_images=[other, other])
    assert image_info(path) == (INK.shape[1], INK.shape[0], 3)
    np.testing.assert_allclose(read_image(path), INK.astype(np.float32), atol=0.02)


def per_pixel_ink(path):
    """Twin of read_image that stretches every pixel, not each of the 256 levels once: luminance as
    float32 (over [0, 1] where the image has alpha), then clstmtools.images.ink_from_grey."""
    with Image.open(path) as image:
        if image.mode == "P":
            image = image.convert("RGBA" if "transparency" in image.info else "RGB")
        if image.mode in ("RGBA", "LA"):
            alpha = np.asarray(image.getchannel("A"), np.float32) / np.float32(255)
            grey = np.asarray(image.convert("L"), np.float32) / np.float32(255)
            if alpha.min() < 1:
                grey = images._composite(grey, alpha)
        else:
            grey = np.asarray(image.convert("L"), np.float32)
    return images.ink_from_grey(grey)


@pytest.mark.parametrize("mode", ["L", "1", "RGB", "RGBA", "LA", "P", "PT", "RGBA-partly"])
@pytest.mark.parametrize("levels", ["two", "noisy", "tie"])
def test_levels_are_stretched_bit_for_bit_like_every_pixel(tmp_path, mode, levels):
    """read_image stretches the 256 levels of an 8-bit image once and looks each pixel up: the
    same float32 values, bit for bit, as stretching every pixel (the normalized lines, and so the
    recognized text, must not change)."""
    rng = np.random.default_rng(len(mode) + len(levels))
    grey = np.where(INK, 60, 200) + (rng.integers(-40, 41, INK.shape) if levels == "noisy" else 0)
    if levels == "tie":  # the border's median halfway between the extremes: the bulk decides
        grey[0, :] = grey[:15, 0] = grey[:15, -1] = 60
    grey = grey.astype(np.uint8)
    path = tmp_path / "line.png"
    if mode in ("RGBA", "LA", "RGBA-partly"):
        alpha = np.full(grey.shape, 255, np.uint8)
        if mode == "RGBA-partly":
            alpha[INK] = 128
        channels = [grey, grey, grey, alpha] if mode != "LA" else [grey, alpha]
        Image.fromarray(np.stack(channels, -1)).save(path)
    elif mode == "PT":
        Image.fromarray(grey).convert("P").save(path, transparency=255)
    else:
        Image.fromarray(grey).convert(mode).save(path)
    expected = per_pixel_ink(path)
    ink = read_image(path)
    assert ink.dtype == np.float32 and ink.shape == grey.shape
    np.testing.assert_array_equal(ink.view(np.uint32), expected.view(np.uint32))
    np.testing.assert_array_equal(images.read_grey(path), images._grey_levels(Image.open(path)))


def test_look_up_is_the_table_indexed_by_the_codes():
    from clstmtools.kernels.images import look_up
    rng = np.random.default_rng(8)
    codes = rng.integers(0, 256, (7, 19)).astype(np.uint8)
    table = rng.random(256).astype(np.float32)
    out = np.full(codes.shape, np.nan, np.float32)
    look_up(out, table, codes)
    np.testing.assert_array_equal(out, table[codes])


# --- colour lines ---------------------------------------------------------------------------------------
def test_colour_reading_stretches_each_channel_as_the_luminance_and_repeats_grey_images(tmp_path):
    """Red ink on cream paper: every channel gets the luminance's ground and stretch, so the red ink is faint
    in red and dark in green and blue; a grey image (8-bit, 16-bit, with alpha) gives its grey ink three times."""
    rgb = np.zeros(INK.shape + (3,), np.uint8)
    rgb[...] = (250, 240, 220)
    rgb[INK] = (200, 30, 40)
    Image.fromarray(rgb).save(tmp_path / "red.png")
    ink = read_image(tmp_path / "red.png", channels=3)
    luminance = np.asarray(Image.fromarray(rgb).convert("L"), np.float64)
    ground = np.median(np.concatenate([luminance[0], luminance[-1], luminance[:, 0], luminance[:, -1]]))
    expected = np.clip((ground - rgb.astype(np.float64)) / (ground - luminance.min()), 0, 1)
    assert ink.shape == INK.shape + (3,) and ink.dtype == np.float32
    np.testing.assert_allclose(ink, expected, atol=1e-6)
    assert ink[INK][:, 0].max() < 0.5 < ink[INK][:, 1].min()  # the red ink: faint in red, dark in green
    grey16 = (GREY8.astype(np.uint16) * 257)
    translucent = np.dstack([GREY8] * 3 + [np.where(INK, 255, 128).astype(np.uint8)])
    for name, image in (("grey.png", Image.fromarray(GREY8)), ("grey16.png", Image.fromarray(grey16)),
                        ("grey-alpha.png", Image.fromarray(translucent, "RGBA"))):
        image.save(tmp_path / name)
        grey, colour = read_image(tmp_path / name), read_image(tmp_path / name, channels=3)
        np.testing.assert_allclose(colour, np.repeat(grey[:, :, None], 3, axis=2), atol=1e-6, err_msg=name)


def test_scaling_a_colour_line_scales_each_channel():
    rng = np.random.default_rng(3)
    image = rng.random((30, 50, 3)).astype(np.float32)
    scaled = scale_to_height(image, 15)
    assert scaled.shape == (15, 25, 3)
    for c in range(3):
        np.testing.assert_array_equal(scaled[:, :, c], scale_to_height(image[:, :, c], 15))
