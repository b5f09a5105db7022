#!/usr/bin/env bash
# Makes (once) and prints the Python that the format checks run: a venv with
# scripts/requirements-tools.txt (onnx, onnxruntime, tensorboard, safetensors,
# numpy, pinned), which read the ONNX files, TensorBoard logs and checkpoints we
# write. Test-only: convnet never links or needs them.
#
# The venv lives outside the checkout, keyed by the requirements' hash, so a
# clean clone reuses it: ${CONVNET_TOOLS_VENV_ROOT:-~/.cache/convnet}/tools-<hash>.
# Prints the interpreter's path on stdout; progress goes to stderr.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
req=$here/requirements-tools.txt
hash=$(sha256sum "$req" | cut -c1-12)
root=${CONVNET_TOOLS_VENV_ROOT:-${XDG_CACHE_HOME:-$HOME/.cache}/convnet}
venv=$root/tools-$hash
if [[ ! -x $venv/bin/python || ! -f $venv/.complete ]]; then
  echo "python_tools: making $venv (pip install -r $req)" >&2
  rm -rf "$venv"
  mkdir -p "$root"
  python3 -m venv "$venv" >&2 || { echo "python_tools: python3 -m venv failed (Debian: python3-venv)" >&2; exit 1; }
  "$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$req" >&2
  touch "$venv/.complete"
fi
echo "$venv/bin/python"
