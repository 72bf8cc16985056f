#!/usr/bin/env python3
"""The demo: generate OCR lines, train clstmctc on them for a few minutes with periodic validation and tests
(the model is chosen on a tenth of the training lines held out, never on the test lines), evaluate the saved
model on the test lines with mode=errs, write a display picture and the run's curve, and summarize what was
produced where.

    python scripts/demo.py [--outdir demo-out] [--ntrain 20000] [--quick]
"""
import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

#: settings that learn the generated lines in minutes (Adam, fan-in scaled initialization)
TRAIN_SETTINGS = dict(nhidden="60", lrate="1e-3", optimizer="adam", init="scaled", seed="1", report_every="500")


def run(command, env=None, capture=False):
    print("$ " + " ".join(f"{k}={v}" for k, v in (env or {}).items()) + (" " if env else "") + " ".join(command),
          flush=True)
    result = subprocess.run(command, env=dict(os.environ, **(env or {})), text=True,
                            stdout=subprocess.PIPE if capture else None)
    if result.returncode != 0:
        sys.exit(f"demo: the command failed with status {result.returncode}")
    return result.stdout


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--outdir", default="demo-out", help="where everything is written (default demo-out)")
    parser.add_argument("--ntrain", type=int, default=20000, help="training lines (default 20000, a few minutes)")
    parser.add_argument("--quick", action="store_true", help="a tiny run (seconds) to check that it all works")
    args = parser.parse_args(argv)
    out = Path(args.outdir)
    out.mkdir(parents=True, exist_ok=True)
    ntrain, lines, test_lines, every = args.ntrain, 2000, 100, 1000
    if args.quick:
        ntrain, lines, test_lines, every = 60, 40, 10, 30
    start = time.time()
    python = sys.executable

    print("\n== 1. generate OCR text lines (Pillow's built-in font, noise, blur, slant, wobble)", flush=True)
    run([python, str(REPO / "scripts" / "generate.py"), "--tasks", "ocr", "--ocr-train", str(lines),
         "--ocr-test", str(test_lines), "--ocr-text", "words", "-o", str(out), "-q"])

    print(f"\n== 2. train clstmctc on {lines} lines ({lines // 10} held out for validation) for {ntrain} steps, "
          f"validating and testing every {every}", flush=True)
    model = out / "ocr"
    settings = dict(TRAIN_SETTINGS, save_name=str(model), ntrain=str(ntrain), testset=str(out / "ocr-test.h5"),
                    validation="0.1", test_every=str(every), display_every=str(every), display=str(out / "ocr-display.png"))
    if args.quick:
        settings.update(nhidden="8", report_every="30")
    log = run([python, "-m", "clstmtools.drivers.clstmctc", str(out / "ocr-train.h5")], settings, capture=True)
    (out / "train.log").write_text(log)
    validation = {fields[3]: fields[4] for fields in (line.split() for line in log.splitlines())
                  if fields and fields[0] == "VALERR"}
    for fields in (line.split() for line in log.splitlines()):
        if fields and fields[0] == "TESTERR":
            print(f"   after {fields[3]:>6} lines  validation error {100 * float(validation[fields[3]]):6.2f} %"
                  f"  test error {100 * float(fields[4]):6.2f} %  ({fields[1]} s)")
    print("   " + next(line for line in log.splitlines() if line.startswith("# selected")))

    print("\n== 3. evaluate the saved model (chosen on validation) on the test lines (mode=errs)", flush=True)
    errs = run([python, "-m", "clstmtools.drivers.clstmctc", str(out / "ocr-test.h5")],
               dict(mode="errs", load=f"{model}.h5"), capture=True)
    (out / "errs.txt").write_text(errs)
    summary = errs.strip().splitlines()[-1]
    print("   " + summary)

    print(f"\n== done in {time.time() - start:.0f} s. Produced in {out}/:")
    for name, what in (("ocr-train.h5, ocr-test.h5", "generated training and test lines (clstm's HDF5 layout)"),
                       ("ocr.h5", "the best model on the validation lines (clstm's model layout)"),
                       ("ocr-curve.png", "the run's curve: training, validation and test error"),
                       ("ocr-display.png", "the last display: input, posteriors, alignment, curves"),
                       ("train.log", "the training log (VALERR and TESTERR lines)"),
                       ("errs.txt", "per-line errors and outputs of mode=errs")):
        print(f"   {name:28s} {what}")
    print(f"Try it on your own lines:  mode=text load={model}.h5 clstmctc LINES.txt")
    return 0


if __name__ == "__main__":
    sys.exit(main())
