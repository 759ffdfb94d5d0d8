#!/usr/bin/env bash
# Runs a study on a GPU machine from a bundle made by benchmarks/gpu/pack.sh, inside a time
# budget, and leaves in $OUT only small files (tables, logs, a tarball of the runs' JSON
# and YAML, or of the saved study state), so they come back over a narrow channel:
#
#   OUT=/some/dir BUDGET=560 benchmarks/gpu/run.sh sparse|sequential [BUNDLE]
#
# sparse: the models with no finished trial in benchmarks/state/sparse (MODELS overrides),
#   JOBS at once (default: one per model), resuming from benchmarks/state/sparse-gpu; the
#   study state is saved into $OUT/state.tgz even when the budget cuts it short. Unpack it
#   into benchmarks/state/sparse-gpu and commit it to resume there on a later machine.
# sequential: the whole study (--jobs 14), collected, then the epoch timings.
# DEVICE (default cuda) and EXTRA (more arguments for the study script, e.g. a smoke test's
# "--trials 1 --epochs 1 --seeds 1") are for trying this script on a machine without a GPU.
set -u
study=${1:?usage: benchmarks/gpu/run.sh sparse|sequential [BUNDLE]}
bundle=${2:-.dev}
: "${OUT:?set OUT to the folder for results}"
cd "$(dirname "$0")/../.."
t0=$(date +%s)
left() { echo $(( ${BUDGET:-560} - ($(date +%s) - t0) - $1 )); }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
  --target /tmp/site "$bundle"/whl/*.whl || exit 3
if [ -f "$bundle/git.tar" ]; then  # a copied checkout may carry an older .git
  rm -rf .git && tar xf "$bundle/git.tar"
fi
git rev-parse HEAD 2>/dev/null; git status --short 2>/dev/null | head -5
export PYTHONPATH=/tmp/site:$PWD/src:$PWD/benchmarks FUSIONREC_DATA=$PWD/$bundle/data \
  FUSIONREC_CACHE=/tmp/fcache HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1
# the study specs name ../shared/data
[ -e ../shared/data ] || { mkdir -p ../shared && ln -s "$PWD/$bundle/data" ../shared/data; }
nvidia-smi -L 2>/dev/null; nproc
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"
quiet() { grep -v "duplicate item rows"; }
case $study in
  sparse)
    runs=/tmp/sparse-runs
    models=${MODELS:-$(python3 - <<'P'
import sys
from pathlib import Path
sys.path.insert(0, "benchmarks")
from bench_sparse import model_names
saved = Path("benchmarks/state/sparse")
def started(m):  # a finished model, or a search with a finished trial, continues where it is
    trials = saved / m / "trials.json"
    return (saved / m / "bench.json").exists() or (trials.exists() and trials.read_text().strip() not in ("", "[]"))
print(",".join(m for m in model_names() if not started(m)))
P
)}
    n=$(echo "$models" | tr ',' '\n' | grep -c .)
    echo "== models ($n): $models"
    [ -d benchmarks/state/sparse-gpu ] && python3 benchmarks/bench_state.py restore \
      --runs $runs --state benchmarks/state/sparse-gpu
    timeout "$(left 45)" python3 benchmarks/bench_sparse.py --device "${DEVICE:-cuda}" --threads 1 \
      --jobs "${JOBS:-$n}" --models "$models" --no-recbole --features-from "$bundle/sparse-feats" \
      --runs $runs --out "$OUT/sparse_quality.md" ${EXTRA:-} 2>&1 | quiet | tee "$OUT/study.log" | tail -40
    pkill -f -- "--runs $runs"; sleep 3  # this study's children only
    python3 benchmarks/bench_state.py save --runs $runs --state /tmp/state/sparse-gpu
    tar czf "$OUT/state.tgz" -C /tmp/state sparse-gpu ;;
  sequential)
    runs=/tmp/seq-runs
    b=(python3 benchmarks/bench_sequential.py --device "${DEVICE:-cuda}" --threads 1
       --features-from "$bundle/sequential-feats" --runs $runs)
    timeout "$(left 130)" "${b[@]}" --jobs 14 --out "$OUT/sequential.md" ${EXTRA:-} 2>&1 | quiet \
      | tee "$OUT/study.log" | tail -40
    pkill -f -- "--runs $runs"; sleep 2  # this study's units only
    [ -s "$OUT/sequential.md" ] || "${b[@]}" --collect --out "$OUT/sequential.md" 2>&1 | quiet | tail -3
    timeout "$(left 15)" "${b[@]}" --time-epochs 5 --out "$OUT/sequential_speed.md" 2>&1 | quiet \
      | tee "$OUT/speed.log" | tail -20
    (cd /tmp && find seq-runs -name '*.json' -o -name '*.yaml' | tar czf "$OUT/runs.tgz" -T -) ;;
  *) echo "unknown study '$study': sparse or sequential" >&2; exit 2 ;;
esac
ls -la "$OUT"; echo "== end after $(( $(date +%s) - t0 )) s"
