"""Peak memory of graph models as the catalogue grows: 1x, 4x, 16x items.

Synthetic data of one shape: users and items scale together, each user has 20 interactions,
each item a 64-d text-like and a 128-d image-like feature vector. Each (model, scale) runs in a
fresh subprocess that builds the model (including its item-item kNN graphs) and trains one
epoch; its peak resident memory (ru_maxrss) minus the memory of the process after imports is
reported. Linear growth shows as a roughly constant MB-per-1k-items column.

    python benchmarks/bench_graph_memory.py [--models freedom,lattice,mgcn,smore,lightgcn]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
from pathlib import Path

from common import RESULTS, header, write_result

BASE_ITEMS = 2000


def child(model: str, scale: int) -> None:
    import numpy as np
    import scipy.sparse as sp
    import torch

    from fusionrec.config import TrainConfig
    from fusionrec.data.features import ItemFeatures, ModalityFeatures
    from fusionrec.evaluate import Evaluator
    from fusionrec.models import TrainData, build_model
    from fusionrec.train import train_model

    torch.set_num_threads(1)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    n_items, n_users = BASE_ITEMS * scale, BASE_ITEMS * scale // 2
    rng = np.random.default_rng(0)
    users = np.repeat(np.arange(n_users), 20)
    items = rng.integers(0, n_items, len(users))
    train = sp.csr_matrix((np.ones(len(users)), (users, items)), shape=(n_users, n_items))
    train.data[:] = 1
    feats = ItemFeatures(n_items)
    for name, dim in (("text", 64), ("image", 128)):
        mask = rng.random(n_items) > 0.05
        feats.add(ModalityFeatures(name, rng.standard_normal((n_items, dim)), mask))
    data = TrainData(n_users, n_items, train, feats)
    model = build_model(model, data)
    valid = Evaluator(train[:, :], None, ks=[20], batch_users=1024)
    cfg = TrainConfig(epochs=1, batch_size=4096, patience=1)
    train_model(model, data, valid, cfg, progress=False)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"items": n_items, "users": n_users, "peak_mb": peak - base}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--models", default="lightgcn,freedom,lattice,mgcn,smore")
    ap.add_argument("--scales", default="1,4,16")
    ap.add_argument("--child", nargs=2, metavar=("MODEL", "SCALE"))
    ap.add_argument("--out", type=Path, default=RESULTS / "graph_memory.md")
    args = ap.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]))
        return
    rows = ["| model | items | peak MB above baseline | MB per 1k items |", "|---|---|---|---|"]
    for model in args.models.split(","):
        for scale in (int(s) for s in args.scales.split(",")):
            proc = subprocess.run(
                [sys.executable, __file__, "--child", model, str(scale)],
                capture_output=True,
                text=True,
                check=False,
            )
            if proc.returncode != 0:
                rows.append(f"| {model} | x{scale} | failed: {proc.stderr.strip()[-200:]} | |")
                continue
            rec = json.loads(proc.stdout.strip().splitlines()[-1])
            per_k = rec["peak_mb"] / (rec["items"] / 1000)
            rows.append(f"| {model} | {rec['items']:,} | {rec['peak_mb']:.0f} | {per_k:.1f} |")
            print(rows[-1], flush=True)
    text = header("Peak memory of graph models vs catalogue size") + "\n" + "\n".join(rows) + "\n"
    write_result(args.out, text)
    print(text)


if __name__ == "__main__":
    main()
