"""Training-line augmentation: seeded degradations of a normalized line the way printed lines vary (ocrodeg's and Calamari's).

A line is a ``(width, depth)`` float32 array (rows are time steps, ink 1 on background 0), as the
datasets hand it to the network. Each call draws, from the augmenter's own generator, whether to
degrade the line at all (with probability ``probability``, kraken's 0.5 by default; otherwise the
line is returned as it is) and then one combination of: scale and position jitter (one affine map),
an elastic distortion (ocrodeg's ``distort_with_noise``: a smooth random displacement field, drawn
on a coarse grid), ink thickness (grey dilation or erosion), blur, ink contrast, Gaussian and
speckle noise, and random padding at both ends. The depth never changes; the width changes with
the horizontal scale and the padding only, so a line's transcript keeps a plausible width.
"""
import numpy as np

from .dewarp import smooth_2d
from .kernels.augment import warp_line

#: probability that a training line is degraded at all (kraken's default: 0.5)
PROBABILITY = 0.5
#: largest relative change of the height (and, with ASPECT, the width) of the ink
SCALE = 0.12
#: largest extra relative change of the width alone
ASPECT = 0.08
#: largest vertical shift, as a share of the depth
SHIFT = 0.06
#: elastic distortion: smoothness of the displacement field (pixels), its largest amplitude, and the
#: spacing of the coarse grid the field is drawn on (read bilinearly between its nodes)
ELASTIC_SIGMA, ELASTIC_AMPLITUDE, ELASTIC_STEP = 6.0, 1.5, 3
#: largest blur sigma (pixels), Gaussian noise sd and speckle share
BLUR, NOISE, SPECKLE = 1.0, 0.08, 0.002
#: largest padding at each end, as a share of the depth
PADDING = 0.5
#: probability of each optional degradation
P_ELASTIC, P_INK, P_BLUR, P_NOISE = 0.5, 0.3, 0.4, 0.5


def smooth_noise(rng, shape, sigma):
    """Gaussian-smoothed white noise scaled to a maximum magnitude of 1."""
    field = smooth_2d(rng.standard_normal(shape).astype(np.float32), sigma, sigma)
    peak = np.abs(field).max()
    return field / peak if peak > 0 else field


def thicken(image, grow):
    """Grey dilation (``grow``) or erosion of the ink by a 3x3 cross."""
    padded = np.pad(image, 1, mode="constant")
    h, w = image.shape
    shifts = [padded[1:h + 1, 1:w + 1], padded[:h, 1:w + 1], padded[2:, 1:w + 1], padded[1:h + 1, :w],
              padded[1:h + 1, 2:]]
    return np.maximum.reduce(shifts) if grow else np.minimum.reduce(shifts)


class Augmenter:
    """Degrades lines with its own seeded generator ``rng`` (its state is part of a resumable run), each
    with probability ``probability``."""

    def __init__(self, rng, probability=PROBABILITY):
        self.rng = rng
        self.probability = probability

    def __call__(self, line):
        rng = self.rng
        if rng.random() >= self.probability:
            return line
        image = np.ascontiguousarray(np.asarray(line, np.float32).T)  # (depth, width), row 0 at the top
        depth, width = image.shape
        scale = 1 + rng.uniform(-SCALE, SCALE)
        x_scale = scale * (1 + rng.uniform(-ASPECT, ASPECT))
        out_width = max(1, int(round(width * x_scale)))
        shift = rng.uniform(-SHIFT, SHIFT) * depth
        fields = np.zeros((2, 0, 0), np.float32)
        if rng.random() < P_ELASTIC:
            amplitude = np.float32(rng.uniform(0.3, 1) * ELASTIC_AMPLITUDE)
            grid = ((depth - 1) // ELASTIC_STEP + 2, (out_width - 1) // ELASTIC_STEP + 2)
            fields = np.stack([amplitude * smooth_noise(rng, grid, ELASTIC_SIGMA / ELASTIC_STEP) for _ in range(2)])
        out = np.empty((depth, out_width), np.float32)
        warp_line(out, image, np.float32((depth - 1) / 2), np.float32(shift), np.float32(scale),
                  np.float32(x_scale), fields[0], fields[1], np.float32(ELASTIC_STEP))
        if rng.random() < P_INK:  # blended, so that thin strokes lose weight without vanishing
            weight = np.float32(rng.uniform(0.3, 0.7))
            out = (1 - weight) * out + weight * thicken(out, rng.random() < 0.5)
        if rng.random() < P_BLUR:
            sigma = rng.uniform(0.3, BLUR)
            out = smooth_2d(np.ascontiguousarray(out), sigma, sigma)
        out *= np.float32(rng.uniform(0.7, 1.0))  # ink contrast
        if rng.random() < P_NOISE:
            out += rng.normal(0, rng.uniform(0, NOISE), out.shape).astype(np.float32)
            speckle = rng.random(out.shape) < rng.uniform(0, SPECKLE)
            out[speckle] = 1 - out[speckle]
        left, right = (int(v) for v in rng.integers(0, int(PADDING * depth) + 1, 2))
        out = np.pad(np.clip(out, 0, 1), ((0, 0), (left, right)), mode="constant")
        return np.ascontiguousarray(out.T, np.float32)
