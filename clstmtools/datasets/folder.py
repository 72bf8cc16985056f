"""A folder of line images labelled by ``labels.txt``, ``.gt.txt`` files or their file names."""
import os
import warnings

from ..filenames import label_from_filename
from ..images import IMAGE_EXTENSIONS, is_image_name
from .base import DatasetError, height_scaler, read_text_lines, resolve_normalizer
from .lines import _ImageLineDataset, ground_truth_path, read_ground_truth


class ImageFolderDataset(_ImageLineDataset):
    """Every image in a folder (sorted by name), labelled by ``labels.txt``, ``.gt.txt`` files or file names.

    With a ``labels.txt`` beside the images (``FILENAME<TAB>LABEL`` or ``FILENAME LABEL``), it
    labels the images; otherwise each image's ``x.gt.txt`` if present, else its name
    (``ID_LABEL.ext``, see :func:`label_from_filename`). Images without a label (or with an
    invalid ``%`` escape in the name) are skipped and listed in ``skipped`` (with a warning),
    or are an error with ``strict=True``; ``labelled=False`` takes every image with text None.
    Images are scaled to ``target_height`` keeping their aspect ratio, unless a ``normalizer``
    (a callable or a dewarp method name) does the scaling; ``channels=3`` reads them in colour."""

    def __init__(self, directory, codec=None, target_height=48, normalizer=None, strict=False,
                 labelled=True, norm=None, cache=True, unicode="NFC", channels=1):
        directory = os.fspath(directory)
        try:
            files = sorted(name for name in os.listdir(directory)
                           if is_image_name(name) and os.path.isfile(os.path.join(directory, name)))
        except OSError as error:
            raise DatasetError(f"{directory}: cannot list the folder: {error.strerror}") from None
        if not files:
            raise DatasetError(f"{directory}: no image files ({' '.join(IMAGE_EXTENSIONS)})")
        self.skipped = []
        texts = None
        if labelled:
            labels = self._labels_by_name(directory, files)
            for name in files:
                if isinstance(labels[name], _Unlabelled):
                    if strict:
                        raise DatasetError(f"{os.path.join(directory, name)}: {labels[name].reason}")
                    self.skipped.append(name)
            if self.skipped:
                shown = ", ".join(labels[name].shown(name) for name in self.skipped[:10])
                more = ", ..." if len(self.skipped) > 10 else ""
                warnings.warn(f"{directory}: {len(self.skipped)} images without a label skipped: {shown}{more}",
                              stacklevel=2)
            files = [name for name in files if not isinstance(labels[name], _Unlabelled)]
            if not files:
                first = self.skipped[0]
                raise DatasetError(f"{directory}: none of the images has a label (the first, {first}: "
                                   f"{labels[first].reason})")
            texts = [labels[name] for name in files]
        paths = [os.path.join(directory, name) for name in files]
        self._setup(paths, texts, codec, unicode=unicode)
        self._setup_images(paths, paths, resolve_normalizer(normalizer or height_scaler(target_height),
                                                            target_height, norm), cache, channels)

    @staticmethod
    def _labels_by_name(directory, files):
        """Label of each image file name, or an :class:`_Unlabelled` saying why it has none."""
        listing = os.path.join(directory, "labels.txt")
        if os.path.isfile(listing):
            labels = _read_labels_txt(listing, set(files))
            return {name: labels.get(name) or _Unlabelled(f"no label in {listing}") for name in files}
        labels = {}
        for name in files:
            truth = ground_truth_path(os.path.join(directory, name))
            if os.path.isfile(truth):
                labels[name] = read_ground_truth(truth) or _Unlabelled(f"no label: {truth} is empty")
            else:
                labels[name] = _label_in_name(name)
        return labels


class _Unlabelled:
    """Why an image of a folder has no label."""

    def __init__(self, reason, detailed=False):
        self.reason = reason
        self.detailed = detailed

    def shown(self, name):
        """``name`` for the list of skipped images, with the reason where "without a label" does not say it."""
        return f"{name} ({self.reason})" if self.detailed else name


def _label_in_name(name):
    """The label in an ``ID_LABEL.ext`` file name, or an :class:`_Unlabelled`."""
    try:
        label = label_from_filename(name)
    except ValueError as error:
        return _Unlabelled(str(error).removeprefix(f"{name}: "), detailed=True)
    if label is None:
        stem = os.path.splitext(name)[0]
        return _Unlabelled("no label after the '_' of ID_LABEL" if "_" in stem else
                           "no label: the name has no '_' (ID_LABEL.ext)")
    return label


def _read_labels_txt(path, files):
    """``labels.txt``: ``FILENAME<TAB>LABEL`` or ``FILENAME LABEL`` per line; the label is the rest of the line."""
    labels = {}
    for number, line in enumerate(read_text_lines(path), 1):
        if not line.strip() or line.startswith("#"):
            continue
        name, separator, label = line.partition("\t") if "\t" in line else line.partition(" ")
        where = f"{path}:{number}"
        if not separator:
            raise DatasetError(f"{where}: no label after the file name {name!r}")
        if name not in files:
            raise DatasetError(f"{where}: no image file {name!r} in the folder")
        if name in labels:
            raise DatasetError(f"{where}: {name!r} is labelled twice")
        labels[name] = label or None
    return labels
