"""Line images from files: any format Pillow reads, as float32 arrays in [0, 1] with ink 1 on background 0."""
import os

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

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
    try:
        with Image.open(path) as image:
            image.seek(0)
            if image.getexif().get(_EXIF_ORIENTATION, 1) != 1:
                image = ImageOps.exif_transpose(image)
            grey = _grey_levels(image)
    except _PILLOW_FAILURES as error:
        raise _read_failure(path, error) from None
    if grey.size == 0:
        raise ImageReadError(path, f"the image is empty ({grey.shape[1]}x{grey.shape[0]})")
    return grey


def read_image(path):
    """The image in ``path`` (its first page) as a ``(height, width)`` float32 array in [0, 1], ink 1.

    Colour is reduced to luminance; transparent pixels are laid over the background
    that contrasts with the opaque ones. Dark ink on a light ground is inverted (the
    ground is judged from the image border), and the grey levels are stretched so that
    the ground is 0 and the darkest ink 1."""
    return ink_from_grey(read_grey(path))


def _grey_levels(image):
    """Luminance (larger is lighter; any scale, [0, 1] where alpha was composited) of a Pillow image of any mode."""
    mode = image.mode
    if mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
        mode = image.mode
    if mode in ("L", "I", "F") or mode.startswith("I;16"):
        return np.asarray(image).astype(np.float32)
    if mode in ("LA", "La", "RGBA", "RGBa", "PA"):
        alpha = np.asarray(image.getchannel("A"), np.float32) / np.float32(255)
        if mode == "PA":
            image = image.convert("RGBA")
        luminance = np.asarray(image.convert("L"), np.float32) / np.float32(255)
        return _composite(luminance, alpha)
    if mode not in ("1", "RGB"):
        image = image.convert("RGB")
    return np.asarray(image.convert("L"), np.float32)


def _composite(luminance, alpha):
    """Lay a partly transparent image over white or black, whichever contrasts with its opaque part."""
    weight = float(alpha.sum())
    if weight == alpha.size:
        return luminance
    if weight == 0:
        return np.zeros_like(luminance)
    opaque_mean = float((luminance * alpha).sum()) / weight
    ground = np.float32(1.0 if opaque_mean < 0.5 else 0.0)
    return luminance * alpha + ground * (np.float32(1) - alpha)


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
    border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
    ground = float(np.median(border))
    if ground == (low + high) / 2:  # no telling from the border: the ink is the minority
        ground = high if float(np.median(grey)) >= float(grey.mean()) else low
    if ground > (low + high) / 2:
        ink = (np.float32(ground) - grey) / np.float32(ground - low)
    else:
        ink = (grey - np.float32(ground)) / np.float32(high - ground)
    return np.clip(ink, 0, 1)


def scale_to_height(image, target_height):
    """A ``(height, width)`` image resized to ``target_height`` rows, keeping the aspect ratio (Lanczos)."""
    height, width = image.shape
    new_width = max(1, int(round(width * target_height / height)))
    if (height, width) == (target_height, new_width):
        return np.asarray(image, np.float32)
    resized = Image.fromarray(np.asarray(image, np.float32)).resize(
        (new_width, target_height), Image.Resampling.LANCZOS)
    return np.asarray(resized, np.float32).clip(0, 1)
