"""Tests of the evaluation report (error rates, scripts, confusions, unknown characters) and the Unicode script table."""
import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from clstmtools import unicode_scripts
from clstmtools.codec import Codec
from clstmtools.codec import LISTED_CHARACTERS, missing_characters, missing_warning, show_char
from clstmtools.evaluation import CONFUSIONS_LISTED, Evaluation, evaluate, format_report
from clstmtools.tasks import edit_distance
from clstmtools.unicode_scripts import script

ROOT = Path(__file__).resolve().parents[1]
GENERATOR = ROOT / "scripts" / "unicode_scripts.py"
SCRIPTS_TXT = Path("/usr/share/unicode/Scripts.txt")


def confusion(truth, output, count=1):
    return {"truth": truth, "output": output, "count": count}


# --- hand-computed cases ---------------------------------------------------------------------------------------


def test_a_substitution():
    report = evaluate([("abc", "abd")])
    assert (report["lines"], report["characters"], report["errors"]) == (1, 3, 1)
    assert (report["substitutions"], report["deletions"], report["insertions"]) == (1, 0, 0)
    assert report["cer"] == pytest.approx(1 / 3)
    assert report["confusions"] == [confusion("c", "d")]
    assert report["scripts"] == {"Latin": {"characters": 3, "errors": 1, "cer": pytest.approx(1 / 3)}}
    assert (report["words"], report["word_errors"], report["wer"]) == (1, 1, 1.0)


def test_a_deletion():
    report = evaluate([("abc", "ac")])
    assert (report["errors"], report["deletions"]) == (1, 1)
    assert report["confusions"] == [confusion("b", "")]


def test_an_insertion_counts_for_the_script_of_the_character_before_it():
    report = evaluate([("aβ", "aXβ")])  # inserted after the Latin a
    assert (report["errors"], report["insertions"]) == (1, 1)
    assert report["confusions"] == [confusion("", "X")]
    assert report["scripts"]["Latin"]["errors"] == 1 and report["scripts"]["Greek"]["errors"] == 0


def test_an_insertion_at_the_start_counts_for_the_first_character():
    report = evaluate([("αb", "xαb")])
    assert report["scripts"]["Greek"]["errors"] == 1 and report["scripts"]["Latin"]["errors"] == 0


def test_an_insertion_into_an_empty_line_counts_for_the_inserted_characters_script():
    report = evaluate([("", "жx")])
    assert (report["characters"], report["errors"], report["cer"]) == (0, 2, 2.0)  # errors / max(characters, 1)
    assert report["scripts"] == {"Cyrillic": {"characters": 0, "errors": 1, "cer": 1.0},
                                 "Latin": {"characters": 0, "errors": 1, "cer": 1.0}}
    assert (report["words"], report["word_errors"]) == (0, 1)


def test_combining_marks_are_inherited_and_count_as_characters_of_their_own():
    # decomposed é in the ground truth, precomposed in the output: e -> é, and the accent deleted
    report = evaluate([("e\u0301", "\u00e9")])
    assert (report["characters"], report["errors"]) == (2, 2)
    assert report["scripts"] == {"Inherited": {"characters": 1, "errors": 1, "cer": 1.0},
                                 "Latin": {"characters": 1, "errors": 1, "cer": 1.0}}
    assert sorted(report["confusions"], key=lambda c: c["truth"]) == [confusion("e", "\u00e9"),
                                                                      confusion("\u0301", "")]


def test_mixed_scripts_are_counted_each_apart():
    truth = "Ab 12 αβ Жא"
    report = evaluate([(truth, "Ab 12 αβ Жא"), (truth, "Ac 12 αβ Жא")])
    assert report["scripts"] == {
        "Common": {"characters": 10, "errors": 0, "cer": 0.0},  # spaces and digits
        "Latin": {"characters": 4, "errors": 1, "cer": 0.25},
        "Greek": {"characters": 4, "errors": 0, "cer": 0.0},
        "Cyrillic": {"characters": 2, "errors": 0, "cer": 0.0},
        "Hebrew": {"characters": 2, "errors": 0, "cer": 0.0},
    }
    assert list(report["scripts"]) == ["Common", "Latin", "Greek", "Cyrillic", "Hebrew"]  # most characters first


def test_word_errors_are_edit_distances_over_whitespace_separated_words():
    report = evaluate([("the cat  sat", "the bat sat"), ("on the mat", "onthe mat")])
    assert report["words"] == 6
    assert report["word_errors"] == 1 + 2  # cat -> bat; on, the -> onthe
    assert report["wer"] == pytest.approx(3 / 6)
    assert report["errors"] == 2 + 1  # c -> b and one space; the space between on and the


def test_unknown_characters_are_ground_truth_characters_outside_the_charset():
    pairs = [("Äpfel", "Apfel"), ("ſo Äſ", "so As"), ("ok", "ok")]
    report = evaluate(pairs, Codec.from_texts(["Apfel so ok"]))
    assert report["unknown_characters"] == {"Ä": 2, "ſ": 2}
    assert list(report["unknown_characters"]) == ["Ä", "ſ"]  # as frequent: by code point
    assert evaluate(pairs)["unknown_characters"] == {}  # without a charset, nothing is unknown
    assert missing_characters([t for t, _ in pairs], set("Apfelsok ")) == {"Ä": 2, "ſ": 2}


def test_unknown_characters_are_ordered_by_count_then_code_point():
    counts = missing_characters(["zzzyyxa", "b"], set("a"))
    assert list(counts.items()) == [("z", 3), ("y", 2), ("b", 1), ("x", 1)]


# --- the totals agree ------------------------------------------------------------------------------------------


def test_counts_agree_with_the_programs_edit_distance():
    rng = random.Random(24)
    alphabet = "abc ſα1\u0301"
    pairs = [("".join(rng.choices(alphabet, k=rng.randrange(0, 12))),
              "".join(rng.choices(alphabet, k=rng.randrange(0, 12)))) for _ in range(300)]
    evaluation = Evaluation()
    assert [evaluation.add(t, o) for t, o in pairs] == [edit_distance(t, o) for t, o in pairs]
    report = evaluation.report()
    total = sum(edit_distance(t, o) for t, o in pairs)
    assert report["errors"] == total
    assert report["substitutions"] + report["deletions"] + report["insertions"] == total
    assert sum(evaluation.confusions.values()) == total
    assert sum(row["errors"] for row in report["scripts"].values()) == total
    assert sum(row["characters"] for row in report["scripts"].values()) == report["characters"]
    assert report["characters"] == sum(len(t) for t, _ in pairs)
    assert report["cer"] == total / report["characters"]
    assert len(report["confusions"]) == CONFUSIONS_LISTED


def test_confusions_list_the_most_frequent_first():
    pairs = [("a" * k + "b", "a" * k) for k in range(1, 4)]  # b deleted three times
    pairs += [("x", "y"), ("x", "y"), ("q", "")]
    pairs += [(chr(0x400 + k), chr(0x500 + k)) for k in range(CONFUSIONS_LISTED)]  # once each
    confusions = evaluate(pairs)["confusions"]
    assert len(confusions) == CONFUSIONS_LISTED
    assert confusions[:4] == [confusion("b", "", 3), confusion("x", "y", 2), confusion("q", ""),
                              confusion("\u0400", "\u0500")]  # equal counts: by the texts


def test_an_empty_evaluation():
    report = evaluate([])
    assert (report["lines"], report["characters"], report["errors"], report["cer"], report["wer"]) == (0, 0, 0, 0, 0)
    assert report["scripts"] == {} and report["confusions"] == [] and report["unknown_characters"] == {}
    assert format_report(report).startswith("0 lines, 0 characters, 0 errors")


def test_the_report_serializes_to_json_with_the_documented_keys():
    report = evaluate([("Äpfel, 3 ſtück", "Apfel 3 stück")], set("Apfelstück 3,"))
    assert {"cer", "wer", "scripts", "confusions", "unknown_characters", "characters", "errors", "lines", "words",
            "word_errors"} <= set(report)
    assert json.loads(json.dumps(report, ensure_ascii=False)) == report


# --- the texts for people --------------------------------------------------------------------------------------


def test_format_report():
    report = evaluate([("Äpfel und Birnen", "Apfel und Bimen"), ("e\u0301", "e")], set("Apfelundbirnm eB"))
    text = format_report(report)
    assert text.splitlines()[0] == ("2 lines, 18 characters, 4 errors (2 substitutions, 2 deletions, 0 insertions): "
                                    "CER 22.22 %")
    assert "4 words, 3 word errors: WER 75.00 %" in text
    assert text.split("\n\n")[1].splitlines() == ["script     characters  errors      CER",
                                                 "Latin              15       3   20.00 %",
                                                 "Common              2       0    0.00 %",
                                                 "Inherited           1       1  100.00 %"]
    assert "     1  'r' -> 'm'" in text and "     1  '\\u0301' -> ''" in text
    assert text.splitlines()[-1] == "not in the codec: 'Ä' ×1, '\\u0301' ×1"


def test_missing_warning():
    assert (missing_warning({"ſ": 1, "Ä": 2}, "test.txt")
            == "3 characters in test.txt are not in the model's codec: 'Ä' ×2, 'ſ' ×1")
    assert (missing_warning({"Ä": 1}, "lines.h5", "the models' codecs")
            == "1 character in lines.h5 is not in the models' codecs: 'Ä' ×1")
    assert missing_warning({}, "test.txt") is None


def test_unknown_characters_message_names_at_most_so_many():
    counts = {chr(0x3B1 + k): 1 for k in range(LISTED_CHARACTERS + 3)}
    message = missing_warning(counts, "x")
    assert message.startswith(f"{LISTED_CHARACTERS + 3} characters in x are not in the model's codec: 'α' ×1, 'β' ×1")
    assert message.endswith(" and 3 more") and message.count("×") == LISTED_CHARACTERS


def test_show_char():
    assert show_char("Ä") == "'Ä'"
    assert show_char("") == "''"
    assert show_char("'") == '"\'"'
    assert show_char("\t") == "'\\t'"
    assert show_char("\u0301") == "'\\u0301'"  # a combining mark would sit on the quote


# --- the Unicode Script table ----------------------------------------------------------------------------------


@pytest.mark.parametrize("char, name", [
    ("a", "Latin"), ("ſ", "Latin"), ("Ä", "Latin"), ("ﬁ", "Latin"), ("α", "Greek"), ("Ж", "Cyrillic"),
    ("א", "Hebrew"), ("ب", "Arabic"), ("中", "Han"), ("ぁ", "Hiragana"), ("ア", "Katakana"), ("가", "Hangul"),
    ("ⲁ", "Coptic"), ("ᚠ", "Runic"), ("𐌰", "Gothic"), ("1", "Common"), (" ", "Common"), (".", "Common"),
    ("—", "Common"), ("\u0301", "Inherited"), ("\u0364", "Inherited"), ("\x00", "Common"),
    ("\u0378", "Unknown"), ("\U0010FFFF", "Unknown"), ("\U000E01EF", "Inherited"),
])
def test_scripts_of_characters(char, name):
    assert script(char) == name


def test_the_generator_reads_scripts_txt():
    sys.path.insert(0, str(GENERATOR.parent))
    try:
        import unicode_scripts as generator
    finally:
        sys.path.remove(str(GENERATOR.parent))
    source = generator.module_text("# Scripts-9.9.9.txt\n"
                                   "0041..005A    ; Latin # Lu  [26] ...\n"
                                   "0030..0039    ; Common # Nd  [10] ...\n"
                                   "0061..007A    ; Latin # Ll  [26] ...\n"
                                   "005B          ; Latin # invented, to merge with its neighbours\n"
                                   "0300..036F    ; Inherited # Mn ...\n")
    namespace = {}
    exec(compile(source, "generated", "exec"), namespace)
    lookup = namespace["script"]
    assert namespace["UNICODE_VERSION"] == "9.9.9"
    assert [lookup(c) for c in "\x00/09:@AZ[\\az{\u0300\u036f\u0370\U0010ffff"] == [
        "Unknown", "Unknown", "Common", "Common", "Unknown", "Unknown", "Latin", "Latin", "Latin", "Unknown",
        "Latin", "Latin", "Unknown", "Inherited", "Inherited", "Unknown", "Unknown"]
    assert namespace["_STARTS"][:4] == (0x0, 0x30, 0x3A, 0x41)  # Z and [ in one run
    with pytest.raises(ValueError, match="listed twice"):
        generator.module_text("# Scripts-9.9.9.txt\n0041..005A ; Latin\n005A ; Greek\n")
    with pytest.raises(ValueError, match="no version"):
        generator.module_text("0041 ; Latin\n")


@pytest.mark.skipif(not SCRIPTS_TXT.exists() or unicode_scripts.UNICODE_VERSION not in SCRIPTS_TXT.read_text()[:100],
                    reason="Unicode's Scripts.txt of the table's version is not installed (apt-get install unicode-data)")
def test_the_table_is_what_scripts_txt_gives():
    result = subprocess.run([sys.executable, str(GENERATOR), "--check", "--scripts", str(SCRIPTS_TXT)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
