#!/usr/bin/env bash
# The README's main command: installs what is missing, builds, and runs the main
# job. Arguments go to the example (try --help).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_deps.sh
bash scripts/build.sh
./build/examples/digits_cnn "$@"
