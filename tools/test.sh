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
# the notebooks must be clean as committed (no execution counts, stray metadata or machine-specific output)
nbsums() { find nbs -name '*.ipynb' | sort | xargs sha1sum; }
before=$(nbsums)
nbdev-clean
if [ "$before" != "$(nbsums)" ]; then
  echo "tools/test.sh: nbdev-clean changed notebooks: run nbdev-clean and commit (see git diff nbs)" >&2
  exit 1
fi
# librosa's numba kernels are compiled on first use and cached; parallel notebook workers compiling the same kernel
# at once can leave a corrupt cache that segfaults later, so compile them once, serially, into a fresh cache first
export NUMBA_CACHE_DIR="${NUMBA_CACHE_DIR:-$(mktemp -d)}"
python -c "import numpy as np; from tamil_ser.explore import prosody; from tamil_ser.finetune import augmenter
x = (0.3*np.sin(np.arange(32000)*2*np.pi*150/16000)).astype(np.float32); prosody(x); augmenter(p=1.)(samples=x, sample_rate=16000)"
nbdev-test
python -m pytest -q
