"""Datasets: clstm's HDF5 files (OCR lines and sequence pairs) read lazily, and written."""
import h5py
import numpy as np


def write_ocr_h5(path, images, transcripts, codec):
    """Write OCR lines in clstm's layout.

    ``images``: list of ``(width, height)`` float arrays (row t is image column t, ink high);
    ``transcripts``: list of label lists (each label >= 1); ``codec``: list of code points,
    entry 0 the blank (stored as 0)."""
    with h5py.File(path, "w") as f:
        fvlen = h5py.vlen_dtype(np.float32)
        ivlen = h5py.vlen_dtype(np.int32)
        ds = f.create_dataset("images", (len(images),), dtype=fvlen)
        dims = np.zeros((len(images), 2), np.int32)
        for i, image in enumerate(images):
            image = np.asarray(image, np.float32)
            ds[i] = image.ravel()
            dims[i] = image.shape
        f.create_dataset("images_dims", data=dims)
        tr = f.create_dataset("transcripts", (len(transcripts),), dtype=ivlen)
        for i, labels in enumerate(transcripts):
            tr[i] = np.asarray(labels, np.int32)
        f.create_dataset("codec", data=np.asarray(codec, np.int32))


def write_seq_h5(path, inputs, outputs):
    """Write sequence pairs in clstmseq's layout: lists of ``(T, depth)`` arrays."""
    with h5py.File(path, "w") as f:
        fvlen = h5py.vlen_dtype(np.float32)
        for name, seqs in (("inputs", inputs), ("outputs", outputs)):
            ds = f.create_dataset(name, (len(seqs),), dtype=fvlen)
            dims = np.zeros((len(seqs), 2), np.int32)
            for i, s in enumerate(seqs):
                s = np.asarray(s, np.float32)
                if s.ndim == 1:
                    s = s[:, None]
                ds[i] = s.ravel()
                dims[i] = s.shape
            f.create_dataset(name + "_dims", data=dims)
