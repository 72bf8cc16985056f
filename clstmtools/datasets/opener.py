"""One opener for the drivers: picks the OCR line reader for a path (folder, HDF5 file or line list)."""
import os

import h5py

from .base import DatasetError, height_scaler, resolve_normalizer
from .folder import ImageFolderDataset
from .hdf5 import OcrH5Dataset
from .lines import LineListDataset


def open_ocr_dataset(path, codec=None, dewarp=None, target_height=48, norm=None, strict=False, labelled=True,
                     target_name="ctc"):
    """Open OCR lines: a folder of images, a clstm HDF5 file (by signature), or a text list of line images.

    ``dewarp``: ``none``, ``mean`` or ``center``; default ``none`` for HDF5 and folders,
    ``center`` for line lists. ``none`` takes HDF5 lines as stored and scales image files
    (folders, lists) to ``target_height`` keeping the aspect ratio. ``norm``: the normalizer's
    norm_range, norm_vscale, norm_smooth2d, norm_smooth1d. The dataset's ``line_normalization``
    says what was done: ``scale``, ``center``, ``mean`` or ``none`` (HDF5 lines as stored)."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise DatasetError(f"{path}: no such file or folder")
    is_h5 = os.path.isfile(path) and h5py.is_hdf5(path)
    if target_name != "ctc" and not is_h5:
        raise DatasetError(f"{path}: pre-aligned targets (target_name={target_name}) need a clstm HDF5 file")
    default = "center" if not is_h5 and not os.path.isdir(path) else "none"
    method = dewarp or default
    if method != "none":
        normalizer = resolve_normalizer(method, target_height, norm)
    else:
        normalizer = None if is_h5 else height_scaler(target_height)
    if os.path.isdir(path):
        dataset = ImageFolderDataset(path, codec, target_height, normalizer, strict, labelled)
    elif is_h5:
        dataset = OcrH5Dataset(path, codec, normalizer, target_name)
    else:
        dataset = LineListDataset(path, codec, normalizer, target_height, labelled=labelled)
    dataset.line_normalization = "scale" if method == "none" and not is_h5 else method
    return dataset
