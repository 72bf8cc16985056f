"""Line images from files: any format Pillow reads, as float32 arrays in [0, 1] with ink 1 on background 0 (grey, or red, green and blue)."""
import os

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .kernels.images import look_up

#: file extensions taken for images when a folder is scanned (lower case)
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".gif", ".webp",
                    ".pgm", ".ppm", ".pbm", ".pnm")

#: EXIF tag of the camera orientation
_EXIF_ORIENTATION = 0x0112


class ImageReadError(ValueError):
    """An image file that cannot be read; ``reason`` says why without repeating the path."""

    def __init__(self, path, reason):
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


def _read_failure(path, error):
    """An ImageReadError for an exception raised by Pillow or the file system."""
    if isinstance(error, FileNotFoundError):
        return ImageReadError(path, "no such file")
    if isinstance(error, UnidentifiedImageError):
        return ImageReadError(path, "not an image file that Pillow can read")
    if isinstance(error, OSError) and error.strerror:
        return ImageReadError(path, f"cannot read: {error.strerror}")
    return ImageReadError(path, f"cannot decode the image: {error}")


#: what Pillow raises on a missing, foreign, truncated or corrupt file
_PILLOW_FAILURES = (OSError, UnidentifiedImageError, Image.DecompressionBombError, SyntaxError, ValueError)


def is_image_name(name):
    """Whether a file name has one of :data:`IMAGE_EXTENSIONS`."""
    return os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def image_size(path):
    """``(width, height)`` of an image file, from its header only; ValueError naming the file if unreadable."""
    return image_info(path)[:2]


def image_info(path):
    """``(width, height, pages)`` of an image file from its header (pages > 1: a multi-page TIFF or GIF).

    Width and height are those of the first page as stored; an ImageReadError names the file if unreadable."""
    try:
        with Image.open(path) as image:
            return (*image.size, getattr(image, "n_frames", 1))
    except _PILLOW_FAILURES as error:
        raise _read_failure(path, error) from None


def read_grey(path):
    """The first page of an image file as ``(height, width)`` float32 grey levels, larger is lighter.

    The scale is the file's (0-255, 0-65535 for 16-bit grey, 0-1 where transparency was laid
    over a background); colour is reduced to luminance, EXIF rotation applied."""
    return _levels(*_read_codes(path))


def read_image(path, channels=1):
    """The image in ``path`` (its first page) as a ``(height, width)`` float32 array in [0, 1], ink 1,
    or with ``channels=3`` a ``(height, width, 3)`` one: the red, green and blue ink (:func:`colour_ink`;
    a grey image's three channels alike).

    Colour is reduced to luminance; transparent pixels are laid over the background
    that contrasts with the opaque ones. Dark ink on a light ground is inverted (the
    ground is judged from the image border), and the grey levels are stretched so that
    the ground is 0 and the darkest ink 1."""
    if channels == 3:
        return colour_ink(*read_colour(path))
    codes, table = _read_codes(path)
    return ink_from_grey(codes) if table is None else _ink_from_codes(codes, table)


def read_colour(path):
    """The first page of an image file as ``(grey, colour)``: its grey levels as :func:`read_grey` gives them,
    and its red, green and blue levels on the same scale (``(height, width, 3)``; a grey image's repeated)."""
    return _opened(path, _colour_levels)


def _read_codes(path):
    """``(codes, table)``: the first page's grey levels as ``table[codes]`` (see :func:`_grey_codes`),
    EXIF rotation applied; an ImageReadError names the file if it is unreadable or empty."""
    return _opened(path, _grey_codes)


def _opened(path, read):
    """``read(image)`` of the first page of the image file at ``path``, EXIF rotation applied; an
    ImageReadError names the file if it is unreadable or empty."""
    try:
        with Image.open(path) as image:
            image.seek(0)
            if image.getexif().get(_EXIF_ORIENTATION, 1) != 1:  # a PNG's eXIf may follow the pixels: decodes them
                image = ImageOps.exif_transpose(image)
            result = read(image)
    except _PILLOW_FAILURES as error:
        raise _read_failure(path, error) from None
    if result[0].size == 0:
        raise ImageReadError(path, f"the image is empty ({result[0].shape[1]}x{result[0].shape[0]})")
    return result


#: grey level of each 8-bit code: as it is, and scaled to [0, 1] (images that had an alpha channel)
_LEVELS = np.arange(256, dtype=np.float32)
_UNIT_LEVELS = _LEVELS / np.float32(255)


def _grey_levels(image):
    """Luminance (larger is lighter; any scale, [0, 1] where alpha was composited) of a Pillow image of any mode."""
    return _levels(*_grey_codes(image))


def _levels(codes, table):
    """The float32 grey levels ``(codes, table)`` stand for (see :func:`_grey_codes`)."""
    return codes if table is None else table[codes]


def _grey_codes(image):
    """:func:`_grey_levels` as ``(codes, table)``: 8-bit codes and the float32 level of each
    (``table[codes]``), so that later steps can work on 256 levels instead of every pixel;
    ``(levels, None)`` where there are more than 256 levels (16-bit, 32-bit and float modes)
    or transparency was composited."""
    mode = image.mode
    if mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
        mode = image.mode
    if mode == "L":
        return np.asarray(image), _LEVELS
    if mode in ("I", "F") or mode.startswith("I;16"):
        return np.asarray(image).astype(np.float32), None
    if mode in ("LA", "La", "RGBA", "RGBa", "PA"):
        alpha = np.asarray(image.getchannel("A"))
        if mode == "PA":
            image = image.convert("RGBA")
        codes = np.asarray(image.convert("L"))
        if alpha.size and alpha.min() == 255:  # opaque throughout: nothing to lay over a ground
            return codes, _UNIT_LEVELS
        return _composite(_UNIT_LEVELS[codes], alpha.astype(np.float32) / np.float32(255)), None
    if mode not in ("1", "RGB"):
        image = image.convert("RGB")
    return np.asarray(image.convert("L")), _LEVELS


#: Pillow modes without colour: their colour levels are the grey ones, repeated
GREY_MODES = ("1", "L", "LA", "La", "I", "F")


def _colour_levels(image):
    """``(grey, colour)`` of a Pillow image (see :func:`read_colour`)."""
    codes, table = _grey_codes(image)
    grey = _levels(codes, table)
    if image.mode in GREY_MODES or image.mode.startswith("I;16"):
        return grey, np.repeat(grey[:, :, None], 3, axis=2)
    rgba = np.asarray(image.convert("RGBA"), np.float32)
    colour = rgba[:, :, :3]
    if table is _LEVELS:  # 8-bit levels as they are
        return grey, colour
    colour /= np.float32(255)  # [0, 1], the scale of the grey levels of images that had an alpha channel
    if table is None:  # laid over a ground, as the grey levels were
        alpha = rgba[:, :, 3] / np.float32(255)
        ground = _composite_ground(_UNIT_LEVELS[np.asarray(image.convert("L"))], alpha)
        colour = colour * alpha[:, :, None] + ground * (np.float32(1) - alpha[:, :, None])
    return grey, colour


def _composite_ground(luminance, alpha):
    """White or black, whichever contrasts with the opaque part of a partly transparent image."""
    weight = float(alpha.sum())
    opaque_mean = float((luminance * alpha).sum()) / weight if weight > 0 else 1.0
    return np.float32(1.0 if opaque_mean < 0.5 else 0.0)


def _composite(luminance, alpha):
    """Lay a partly transparent image over white or black, whichever contrasts with its opaque part."""
    weight = float(alpha.sum())
    if weight == alpha.size:
        return luminance
    if weight == 0:
        return np.zeros_like(luminance)
    return luminance * alpha + _composite_ground(luminance, alpha) * (np.float32(1) - alpha)


def ink_from_grey(grey):
    """Grey levels (larger is lighter) turned into ink 1 on ground 0.

    The ground level is the median of the border (a text line's border is nearly all
    ground, even where ink covers most of the inside); the ink side is whichever extreme
    lies farther from it. Values are stretched from the ground level to that extreme and
    clipped, so that noise around the ground stays at 0."""
    grey = np.asarray(grey, np.float32)
    low, high = float(grey.min()), float(grey.max())
    if high <= low:
        return np.zeros(grey.shape, np.float32)
    return _stretch(grey, _ground(grey, _border(grey), low, high, lambda: grey), low, high)


def colour_ink(grey, colour):
    """Colour levels (``(height, width, 3)``, the scale of ``grey``) turned into ink 1 on ground 0 as
    :func:`ink_from_grey` turns the grey levels: the ground and the stretch are the grey levels', applied to
    each of red, green and blue, so that a grey image gives its grey ink three times."""
    grey = np.asarray(grey, np.float32)
    low, high = float(grey.min()), float(grey.max())
    if high <= low:
        return np.zeros(np.shape(colour), np.float32)
    return _stretch(np.asarray(colour, np.float32), _ground(grey, _border(grey), low, high, lambda: grey), low, high)


def _ink_from_codes(codes, table):
    """:func:`ink_from_grey` of ``table[codes]`` (8-bit ``codes``, non-decreasing ``table``), bit for
    bit, with the stretch worked out once per level instead of once per pixel."""
    low, high = float(table[codes.min()]), float(table[codes.max()])
    if high <= low:
        return np.zeros(codes.shape, np.float32)
    ground = _ground(table, table[_border(codes)], low, high, lambda: table[codes])
    ink = np.empty(codes.shape, np.float32)
    look_up(ink, _stretch(table, ground, low, high), np.ascontiguousarray(codes))
    return ink


def _border(image):
    return np.concatenate([image[0], image[-1], image[:, 0], image[:, -1]])


def _ground(levels, border, low, high, whole):
    """The ground level: the border's median, or where that lies halfway between ``low`` and
    ``high``, whichever extreme the bulk of the grey levels (``whole()``) leans to."""
    ground = float(np.median(border))
    if ground == (low + high) / 2:  # no telling from the border: the ink is the minority
        grey = whole()
        ground = high if float(np.median(grey)) >= float(grey.mean()) else low
    return ground


def _stretch(grey, ground, low, high):
    """Grey levels stretched to ink 1 (the extreme farther from ``ground``) on ground 0, clipped."""
    if ground > (low + high) / 2:
        ink = (np.float32(ground) - grey) / np.float32(ground - low)
    else:
        ink = (grey - np.float32(ground)) / np.float32(high - ground)
    return np.clip(ink, 0, 1)


def scale_to_height(image, target_height):
    """A ``(height, width)`` image resized to ``target_height`` rows, keeping the aspect ratio (Lanczos); a
    ``(height, width, channels)`` one channel by channel."""
    if image.ndim == 3:
        return np.stack([scale_to_height(image[:, :, c], target_height) for c in range(image.shape[2])], axis=2)
    height, width = image.shape
    new_width = max(1, int(round(width * target_height / height)))
    if (height, width) == (target_height, new_width):
        return np.asarray(image, np.float32)
    resized = Image.fromarray(np.asarray(image, np.float32)).resize(
        (new_width, target_height), Image.Resampling.LANCZOS)
    return np.asarray(resized, np.float32).clip(0, 1)
