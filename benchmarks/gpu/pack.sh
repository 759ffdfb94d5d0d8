#!/usr/bin/env bash
# Packs what benchmarks/gpu/run.sh needs on a GPU machine that has no network, no encoder
# models and not every package: the study's item features (encoded here), its data files
# without media, wheels for the machine's Python, and this checkout's .git (so the results
# name the commit they ran; commit first). Run from the repository root:
#
#   benchmarks/gpu/pack.sh sparse|sequential [BUNDLE]      # BUNDLE defaults to .dev
#
# It writes BUNDLE/<study>-feats, BUNDLE/data/<dataset>, BUNDLE/whl-<study> and
# BUNDLE/git.tar, and prints them: the paths to carry to the machine with the checkout.
# BUNDLE should be ignored by git (echo /.dev/ >> .git/info/exclude). Wheels are for CPython
# $GPU_PYTHON (default 3.12), at the versions installed here, and only those the machine lacks
# (GPU_WHEELS overrides the list).
set -euo pipefail
study=${1:?usage: benchmarks/gpu/pack.sh sparse|sequential [BUNDLE]}
bundle=${2:-.dev}
data_root=${FUSIONREC_DATA:-../shared/data}
case $study in
  sparse)
    dataset=movielens-latest-small-mm
    files="ratings.csv movies.csv tags.csv split-8-1-1.inter"
    encode=(-c benchmarks/sparse_study.yaml)
    wheels="optuna alembic mako sqlalchemy colorlog pydantic pydantic-core annotated-types typing-inspection pandas" ;;
  sequential)
    dataset=movielens-100k-mm
    files="ratings.csv items.csv users.csv split-8-1-1.inter"
    encode=(-d movielens-100k-mm -m text,image)
    wheels="recbole texttable colorlog pydantic pydantic-core annotated-types typing-inspection pandas" ;;
  *) echo "unknown study '$study': sparse or sequential" >&2; exit 2 ;;
esac
wheels=${GPU_WHEELS:-$wheels}
[ -d "$data_root/$dataset" ] || { echo "no $data_root/$dataset: set FUSIONREC_DATA" >&2; exit 2; }
if [ -n "$(git status --porcelain --untracked-files=no)" ]; then
  echo "commit first: the bundle's .git is what the results will name" >&2; exit 2
fi
mkdir -p "$bundle/data/$dataset" "$bundle/whl-$study"
for f in $files; do cp "$data_root/$dataset/$f" "$bundle/data/$dataset/"; done
echo "encoding the $study study's item features into $bundle/$study-feats"
fusionrec encode "${encode[@]}" --export "$bundle/$study-feats"
rm -f "$bundle/whl-$study"/*.whl
for name in $wheels; do
  version=$(python -c "import importlib.metadata as m, sys; print(m.version(sys.argv[1]))" "$name")
  python -m pip download -q --no-deps --only-binary=:all: --python-version "${GPU_PYTHON:-3.12}" \
    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_24_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d "$bundle/whl-$study" \
    "$name==$version"
done
tar cf "$bundle/git.tar" .git
echo "packed $(git rev-parse --short HEAD) for the $study study:"
du -sh "$bundle/data/$dataset" "$bundle/$study-feats" "$bundle/whl-$study" "$bundle/git.tar"
echo "carry: $bundle/data/$dataset $bundle/$study-feats $bundle/whl-$study $bundle/git.tar"
