"""Datasets: OCR lines (clstm HDF5, line lists, image folders), PAGE XML and ALTO pages, sequence pairs and text pairs, read lazily; one module per format."""
from .base import DatasetError, OcrDataset, height_scaler, read_text_lines, resolve_normalizer
from .folder import ImageFolderDataset
from .hdf5 import OcrH5Dataset, SeqH5Dataset, write_ocr_h5, write_seq_h5
from .lines import LineListDataset, ground_truth_path, read_ground_truth
from .layout import RecognizedLine
from .opener import open_ocr_dataset
from .pagelines import PageLineDataset
from .text import TextPairs, encode_input

__all__ = [
    "DatasetError", "ImageFolderDataset", "LineListDataset", "OcrDataset", "OcrH5Dataset", "PageLineDataset",
    "RecognizedLine", "SeqH5Dataset", "TextPairs", "encode_input", "ground_truth_path", "height_scaler", "open_ocr_dataset", "read_ground_truth",
    "read_text_lines", "resolve_normalizer", "write_ocr_h5", "write_seq_h5",
]
