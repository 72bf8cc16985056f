"""Synthetic training data: clstm's sequence tasks, rendered OCR lines, text-transform pairs and expression images."""
from .cli import main, run
from .common import WORDS, GenerateError, smooth_along_axis, stream
from .expressions import ExpressionStyle, random_expression, write_expression_folder
from .fonts import common_alphabet, drawable_characters, load_font
from .lines import LETTERS, LineRenderer, LineStyle, LineText, make_ocr_lines, ocr_setup, write_ocr_file
from .sequences import SEQUENCE_TASKS, make_sequence_task, write_sequence_task
from .textpairs import TEXT_TRANSFORMS, make_text_pairs, write_text_pairs

__all__ = ["main", "run", "WORDS", "GenerateError", "smooth_along_axis", "stream", "ExpressionStyle",
           "random_expression", "write_expression_folder", "common_alphabet", "drawable_characters", "load_font",
           "LETTERS", "LineRenderer", "LineStyle", "LineText", "make_ocr_lines", "ocr_setup", "write_ocr_file",
           "SEQUENCE_TASKS", "make_sequence_task", "write_sequence_task", "TEXT_TRANSFORMS", "make_text_pairs",
           "write_text_pairs"]
