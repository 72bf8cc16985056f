"""What every generator shares: its error type, per-output random streams, Gaussian smoothing and the word list."""
import zlib

import numpy as np

# Conventions: a sequence task is a pair of arrays ``inputs (count, T, depth)`` and
# ``targets (count, T, 1)``, float32, rows are time steps. Every output file draws from its
# own random stream, seeded by (seed, file name), so the same seed writes the same file
# whatever else is generated in the same run.


class GenerateError(ValueError):
    """A request the generator cannot carry out (bad option, unreadable font or word list)."""


def stream(seed, name):
    """The random generator of one output (a task, or the train/test half of one)."""
    return np.random.default_rng(np.random.SeedSequence([int(seed), zlib.crc32(name.encode())]))


#: draws allowed per wanted item before a test set is given up as impossible to keep apart from training
DRAWS_PER_ITEM = 1000


def draw_unseen(draw, exclude, what):
    """``draw()`` until it gives an item not in ``exclude`` (a training set's items): test sets share
    nothing with their training sets."""
    for _ in range(DRAWS_PER_ITEM):
        item = draw()
        if item not in exclude:
            return item
    raise GenerateError(f"{what}: cannot draw a test item that is not in the training set "
                        f"({len(exclude)} items); ask for fewer or use more words")


def gaussian_weights(sigma):
    """Normalised Gaussian taps, truncated at four sigma (as scipy.ndimage does)."""
    radius = max(1, int(4.0 * sigma + 0.5))
    offsets = np.arange(-radius, radius + 1)
    weights = np.exp(-0.5 * (offsets / sigma) ** 2)
    return weights / weights.sum()


def smooth_along_axis(values, sigma, axis):
    """Gaussian smoothing along one axis, edges mirrored (scipy's 'reflect'), in float64."""
    if sigma <= 0:
        return np.asarray(values, np.float64)
    weights = gaussian_weights(sigma)
    radius = len(weights) // 2
    values = np.moveaxis(np.asarray(values, np.float64), axis, -1)
    padding = [(0, 0)] * (values.ndim - 1) + [(radius, radius)]
    padded = np.pad(values, padding, mode="symmetric")
    n = values.shape[-1]
    smoothed = sum(w * padded[..., k:k + n] for k, w in enumerate(weights))
    return np.moveaxis(smoothed, -1, axis)


#: built-in word list for OCR lines and text pairs (the accented words show the alphabet check:
#: fonts that cannot draw their letters lose them)
WORDS = """
the of and to in is it you that he was for on are with as his they be at one have this from
or had by word but what some we can out other were all there when up use your how said an each
she which do their time if will way about many then them write would like so these her long make
thing see him two has look more day could go come did number sound no most people my over know
water than call first who may down side been now find any new work part take get place made live
where after back little only round man year came show every good me give our under name very
through just form sentence great think say help low line differ turn cause much mean before move
right boy old too same tell does set three want air well also play small end put home read hand
port large spell add even land here must big high such follow act why ask men change went light
kind off need house picture try us again animal point mother world near build self earth father
head stand own page should country found answer school grow study still learn plant cover food
sun four between state keep eye never last let thought city tree cross farm hard start might story
saw far sea draw left late run while press close night real life few north open seem together next
white children begin got walk example ease paper group always music those both mark often letter
until mile river car feet care second book carry took science eat room friend began idea fish
mountain stop once base hear horse cut sure watch color face wood main enough plain girl usual
young ready above ever red list though feel talk bird soon body dog family direct pose leave song
measure door product black short numeral class wind question happen complete ship area half rock
order fire south problem piece told knew pass since top whole king space heard best hour better
true during hundred five remember step early hold west ground interest reach fast verb sing listen
six table travel less morning ten simple several vowel toward war lay against pattern slow center
café naïve über façade señor smörgåsbord déjà
""".split()
