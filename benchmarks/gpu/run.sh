#!/usr/bin/env bash
# Runs a study on a GPU machine from a bundle made by benchmarks/gpu/pack.sh, inside a time
# budget, and leaves in $OUT only small files (tables, logs, a tarball of the runs' JSON
# and YAML, or of the saved study state), so they come back over a narrow channel:
#
#   OUT=/some/dir BUDGET=560 benchmarks/gpu/run.sh sparse|sequential [BUNDLE]
#
# sparse: the study's saved progress (benchmarks/state/sparse) restored, then the models that
#   are not finished and whose search can go on here (none started, or started with the
#   features this run reads: --features-from), JOBS at once (default: one per model); its
#   progress is saved into $OUT/state.tgz even when the budget cuts it short. The checkout
#   is moved to $ROOT/main (ROOT=/work) and the data linked at $ROOT/shared/data, so every
#   path a config records is the one it has on the machine that made the bundle (a search
#   resumes only with the same data files). Back there, stop its study, unpack the tarball and merge it:
#   bench_state.py restore --runs RUNS --state <unpacked>/sparse, then save and commit.
# DEVICE (default cuda) and EXTRA (more arguments for the study script, e.g. a smoke test's
# "--trials 1 --epochs 1 --seeds 1") are for trying this script on a machine without a GPU.
set -u
study=${1:?usage: benchmarks/gpu/run.sh sparse|sequential [BUNDLE]}
bundle=${2:-.dev}
: "${OUT:?set OUT to the folder for results}"
cd "$(dirname "$0")/../.."
root=${ROOT:-/work}  # where the bundle was made: its checkout is $root/main
if [ "$study" = sparse ] && [ "$PWD" != "$root/main" ]; then
  [ -e "$root/main" ] && { echo "$root/main exists: run from it, or on a fresh machine" >&2; exit 2; }
  mkdir -p "$root" && cp -a "$PWD" "$root/main" && cd "$root/main" || exit 3
fi
t0=$(date +%s)
left() { echo $(( ${BUDGET:-560} - ($(date +%s) - t0) - $1 )); }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
  --target /tmp/site "$bundle/whl-$study"/*.whl || exit 3
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
    export RUNS=$root/bench-runs/sparse
    runs=$RUNS
    if [ -n "$(ls -A $runs 2>/dev/null)" ]; then
      echo "$runs is not empty: another study may be running there; use a fresh machine" >&2
      exit 2
    fi
    python3 benchmarks/bench_state.py restore --runs $runs --state benchmarks/state/sparse
    models=${MODELS:-$(python3 - <<'P'
import os
import sys
import yaml
from pathlib import Path
sys.path.insert(0, "benchmarks")
from bench_sparse import model_names
runs = Path(os.environ["RUNS"])
def resumable(m):  # not finished; no trial yet, or its trials read the exported features
    if (runs / m / "bench.json").exists():
        return False
    saved = runs / m / "search_config.yaml"
    trials = runs / m / "trials.json"
    if not trials.exists() or trials.read_text().strip() in ("", "[]"):
        return True
    return bool((yaml.safe_load(saved.read_text()).get("features") or {}).get("precomputed"))
print(",".join(m for m in model_names() if resumable(m)))
P
)}
    n=$(echo "$models" | tr ',' '\n' | grep -c .)
    echo "== models ($n): $models"
    timeout "$(left 45)" python3 benchmarks/bench_sparse.py --device "${DEVICE:-cuda}" --threads 1 \
      --jobs "${JOBS:-$n}" --models "$models" --no-recbole --features-from "$PWD/$bundle/sparse-feats" \
      --runs $runs --out "$OUT/sparse_quality.md" ${EXTRA:-} 2>&1 | quiet | tee "$OUT/study.log" | tail -40
    pkill -f -- "--runs $runs"; sleep 3  # this study's children only
    python3 benchmarks/bench_state.py save --runs $runs --state /tmp/state/sparse
    tar czf "$OUT/state.tgz" -C /tmp/state sparse ;;
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
