"""One opener for the drivers: picks the OCR line reader for a path (PAGE/ALTO, folder, HDF5 file or line list)."""
import os

import h5py

from .base import DatasetError, height_scaler, resolve_normalizer
from .folder import ImageFolderDataset
from .hdf5 import OcrH5Dataset
from .lines import LineListDataset
from .pagelines import PageLineDataset, layout_sources


def open_ocr_dataset(path, codec=None, dewarp=None, target_height=48, norm=None, strict=False, labelled=True,
                     target_name="ctc", unicode="NFC", channels=1):
    """Open OCR lines: PAGE XML or ALTO (a file, a folder with .xml files, a list of .xml files), a folder
    of images, a clstm HDF5 file (by signature), or a text list of line images.

    ``dewarp``: ``none``, ``mean`` or ``center``; default ``none`` for HDF5 and folders,
    ``center`` for line lists and PAGE/ALTO. ``unicode``: the normalization of the transcripts. ``none`` takes HDF5 lines as stored and scales image files
    (folders, lists) to ``target_height`` keeping the aspect ratio. ``norm``: the normalizer's
    norm_range, norm_vscale, norm_smooth2d, norm_smooth1d. The dataset's ``line_normalization``
    says what was done: ``scale``, ``center``, ``mean`` or ``none`` (HDF5 lines as stored). ``channels=3``
    reads colour lines (red, green and blue of each row; an HDF5 file's grey lines three times), which
    images are scaled to: the dewarping methods straighten grey lines only."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise DatasetError(f"{path}: no such file or folder")
    is_h5 = os.path.isfile(path) and h5py.is_hdf5(path)
    sources = None if is_h5 else layout_sources(path)
    if target_name != "ctc" and not is_h5:
        raise DatasetError(f"{path}: pre-aligned targets (target_name={target_name}) need a clstm HDF5 file")
    default = "center" if sources or not (is_h5 or os.path.isdir(path)) else "none"
    if channels == 3 and not is_h5:
        if dewarp not in (None, "none"):
            raise DatasetError(f"{path}: dewarp={dewarp} straightens grey lines; colour lines (a network of 3 "
                               f"channels) are scaled to the height: set dewarp=none")
        default = "none"
    method = dewarp or default
    if method != "none":
        normalizer = resolve_normalizer(method, target_height, norm)
    else:
        normalizer = None if is_h5 else height_scaler(target_height)
    if sources:
        dataset = PageLineDataset(sources, codec, normalizer, target_height, labelled=labelled, strict=strict,
                                  unicode=unicode, channels=channels)
    elif os.path.isdir(path):
        dataset = ImageFolderDataset(path, codec, target_height, normalizer, strict, labelled, unicode=unicode,
                                     channels=channels)
    elif is_h5:
        dataset = OcrH5Dataset(path, codec, normalizer, target_name, unicode=unicode, channels=channels)
    else:
        dataset = LineListDataset(path, codec, normalizer, target_height, labelled=labelled, unicode=unicode,
                                  channels=channels)
    dataset.line_normalization = "scale" if method == "none" and not is_h5 else method
    return dataset
