#!/usr/bin/env bash
# The project's test command: the package must be in step with the notebooks, then the notebooks run as tests, then pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1   # tests never reach a model hub: the tiny backbone and generated audio stand in
sums() { find tamil_ser -name '*.py' -not -path '*/__pycache__/*' | sort | xargs sha1sum; }
before=$(sums)
nbdev-export
if [ "$before" != "$(sums)" ]; then
  echo "tools/test.sh: nbdev-export changed tamil_ser/: the package was not in step with the notebooks (see git diff tamil_ser)" >&2
  exit 1
fi
nbdev-test
python -m pytest -q
