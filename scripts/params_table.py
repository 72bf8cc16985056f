"""Print the parameter table of docs/programs.md from clstmtools.params, or check or rewrite it there.

    python scripts/params_table.py                            print the table (Markdown)
    python scripts/params_table.py --check docs/programs.md   exit 1 if the page's table is out of date
    python scripts/params_table.py --write docs/programs.md   replace the page's table

The table sits between the lines ``<!-- params:begin -->`` and ``<!-- params:end -->``.
"""
import argparse
import sys

from clstmtools.atomic import write_text
from clstmtools.params import markdown_table

BEGIN, END = "<!-- params:begin -->", "<!-- params:end -->"


def split_page(path, text):
    """(before, table, after) of ``text`` around the markers; SystemExit(2) if they are missing."""
    start, stop = text.find(BEGIN), text.find(END)
    if start < 0 or stop < start:
        print(f"{path}: no {BEGIN} ... {END} section for the parameter table", file=sys.stderr)
        sys.exit(2)
    start += len(BEGIN)
    return text[:start], text[start:stop], text[stop:]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--check", metavar="PAGE", help="exit 1 if PAGE's table differs from the table")
    action.add_argument("--write", metavar="PAGE", help="replace PAGE's table by the table")
    args = parser.parse_args(argv)
    table = markdown_table()
    path = args.check or args.write
    if path is None:
        sys.stdout.write(table)
        return 0
    with open(path, encoding="utf-8") as f:
        text = f.read()
    before, current, after = split_page(path, text)
    if args.check:
        if current.strip() != table.strip():
            print(f"{path}: the parameter table is out of date; run "
                  f"python scripts/params_table.py --write {path}", file=sys.stderr)
            return 1
        return 0
    write_text(path, before + "\n" + table + after)
    return 0


if __name__ == "__main__":
    sys.exit(main())
