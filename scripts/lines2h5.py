#!/usr/bin/env python3
"""Convert a list of line images with .gt.txt ground truth into clstm's OCR HDF5 layout."""
import argparse
import sys


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("list", help="text file with one line-image path per line (x.bin.png with x.gt.txt)")
    parser.add_argument("output", help="HDF5 file to write")
    parser.add_argument("--dewarp", choices=("center", "mean", "none"), default="center",
                        help="line normalization (none: the images must share one height)")
    parser.add_argument("--target-height", type=int, default=48, help="height of normalized lines")
    args = parser.parse_args(argv)

    from clstmtools.datasets import LineListDataset, write_ocr_h5

    try:
        dataset = LineListDataset(args.list, normalizer=None if args.dewarp == "none" else args.dewarp,
                                  target_height=args.target_height, cache=False)
        images = [dataset.input(i) for i in range(len(dataset))]
        transcripts = [dataset.labels(i) for i in range(len(dataset))]
        write_ocr_h5(args.output, images, transcripts, dataset.codec.codepoints)
    except (ValueError, OSError) as error:
        print(f"lines2h5: error: {error}", file=sys.stderr)
        return 1
    print(f"wrote {len(images)} lines (depth {dataset.depth}, {len(dataset.codec) - 1} characters) "
          f"to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
