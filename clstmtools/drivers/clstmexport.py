"""clstmexport: write a clstm model file as an ONNX file for onnxruntime, checked against clstmtools first."""
import os
import sys
import traceback

from . import version_line

PROGRAM = "clstmexport"
USAGE = """usage: clstmexport MODEL.h5 OUT.onnx
       clstmexport -h | --version

Writes the network of a clstm model file (clstmtools' or the 2015 C++ clstm's)
as an ONNX graph: inputs lines (batch, time, ninput) float32 and lengths
(batch,) int64; outputs outputs (batch, steps, noutput) and output_lengths
(batch,) int64; the codec and the line normalization as metadata. OUT.onnx is
written only after onnxruntime's outputs on random lines (alone and as one
padded batch) match clstmtools' to 1e-5. Needs the onnx extra:
pip install 'clstmtools[onnx]'. debug=1 prints a traceback on errors.
Documentation: docs/deployment.md (Deployment)."""


def export(model, out):
    try:
        from ..onnx_export import export as export_model
    except ImportError as error:
        raise RuntimeError(f"the onnx extra is not installed ({error.name} is missing): "
                           f"pip install 'clstmtools[onnx]'") from None
    net, difference = export_model(model, out)
    print(f"{PROGRAM}: wrote {out}: {net.attributes.get('kind', net.kind)}, {net.ninput()} inputs, "
          f"{net.noutput()} outputs; onnxruntime matches clstmtools to {difference:.2g}")
    return 0


def main():
    args = sys.argv[1:]
    if args[:1] in (["-h"], ["--help"]):
        print(USAGE)
        sys.exit(0)
    if args[:1] == ["--version"]:
        print(version_line(PROGRAM))
        sys.exit(0)
    if len(args) != 2:
        print(USAGE, file=sys.stderr)
        sys.exit(2)
    try:
        sys.exit(export(*args))
    except (ValueError, OSError, RuntimeError) as error:
        if os.environ.get("debug", "0") not in ("", "0"):
            traceback.print_exc()
        print(f"{PROGRAM}: error: {error}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
