#!/usr/bin/env bash
# One-shot check of namelstm's GPU path on a machine with an NVIDIA GPU, in at most ~8 minutes.
#
# It installs nothing from the internet: torch (CUDA build), numpy, click, tqdm, matplotlib and
# anyascii must already be there. It needs the 18 name files: in $NAMELSTM_DATA, or copied to
# data/names in the checkout first (cp -r /path/to/names data/names; data/ is git-ignored, so
# carry it along if the checkout is copied to the GPU machine).
#
#   OUT=/some/dir bash scripts/gpu_check.sh      # results in $OUT (default outputs/gpu-check)
#
# Writes: env.txt (GPU, driver, torch), tests.txt (the CUDA tests), bench-gpu.json and
# bench-gpu.md (scripts/bench.py --device cuda), log.txt (everything). Exit code 0 if all passed.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-outputs/gpu-check}
mkdir -p "$OUT"
exec > >(tee "$OUT/log.txt") 2>&1
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"  # this checkout, whatever pip did
status=0
step() { echo; echo "== $1 ($(date +%T))"; }

step "environment"
{
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda,
      "cudnn", torch.backends.cudnn.version(), "|", torch.cuda.get_device_name(0))'
  nproc
} | tee "$OUT/env.txt"
python3 -c 'import torch; assert torch.cuda.is_available(), "PyTorch sees no CUDA GPU"' || exit 1
for module in numpy click tqdm matplotlib anyascii fontTools; do
  python3 -c "import $module" 2>/dev/null || { echo "missing Python package: $module (nothing is downloaded)"; exit 1; }
done

step "install (no dependencies, no download)"
# --no-build-isolation: a build environment would fetch setuptools from the internet.
pip install --no-deps --no-build-isolation -q -e . || echo "pip install failed; going on with PYTHONPATH"

DATA=${NAMELSTM_DATA:-data/names}
if [ ! -f "$DATA/Russian.txt" ]; then
  echo "no name files in $DATA: set NAMELSTM_DATA or copy the 18 files to data/names"; exit 1
fi
export NAMELSTM_DATA="$DATA"

step "CUDA tests"
if python3 -c "import pytest" 2>/dev/null; then
  timeout 180 python3 -m pytest -q -p no:cacheprovider tests/test_cuda.py 2>&1 | tee "$OUT/tests.txt"
  [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
else
  echo "pytest is not installed: CUDA tests skipped" | tee "$OUT/tests.txt"
fi

step "train --device cuda, then predict with the run (the CLI end to end)"
timeout 120 python3 -m namelstm train --model lstm --device cuda --epochs 3 --batch-size 1024 --no-plots -q \
  --data-dir "$DATA" --out "$OUT/run-cuda" --overwrite && python3 -m namelstm predict --checkpoint "$OUT/run-cuda" \
  Dostoevsky Nakamura || status=1

step "bench --device cuda"
timeout 240 python3 scripts/bench.py --device cuda --data-dir "$DATA" --out "$OUT/bench-gpu.json" ${BENCH_ARGS:-} \
  > "$OUT/bench-gpu.md" || status=1
cat "$OUT/bench-gpu.md"

step "done: exit $status"
exit $status
