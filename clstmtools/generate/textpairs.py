"""Text-transform pairs for clstmtext (reverse, upper, rot13, spelled digits)."""
import codecs

from .common import WORDS, draw_unseen

DIGIT_NAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def spell_digits(text):
    """'412' -> 'four one two'."""
    return " ".join(DIGIT_NAMES[int(ch)] for ch in text)


#: deterministic string transforms for clstmtext: name -> (transform, kind of input)
TEXT_TRANSFORMS = {
    "reverse": (lambda s: s[::-1], "words"),
    "upper": (str.upper, "words"),
    "rot13": (lambda s: codecs.encode(s, "rot13"), "words"),
    "spell": (spell_digits, "digits"),
}


def make_text_pairs(name, count, rng, exclude=frozenset()):
    """``count`` (input, output) pairs of transform ``name``, no input in ``exclude``."""
    transform, kind = TEXT_TRANSFORMS[name]

    def draw():
        if kind == "digits":
            return "".join(str(d) for d in rng.integers(0, 10, int(rng.integers(1, 9))))
        return " ".join(WORDS[i] for i in rng.integers(0, len(WORDS), int(rng.integers(1, 4))))

    sources = [draw_unseen(draw, exclude, f"text-{name}") for _ in range(count)]
    return [(source, transform(source)) for source in sources]


def write_text_pairs(path, pairs):
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for source, target in pairs:
            f.write(f"{source}\t{target}\n")
    return path
