#!/usr/bin/env python3
"""Time the Python `implicit` library's `ranking_metrics_at_k` (K=10) on a split
written by alsflow's `eval_tsv --write-split DIR`, for a model of the same shape
(64 factors, CG, 10 iterations, c = 1 + 40·r as data with alpha 1), plus its batch
`recommend` of the top 10 for every user.

Used only by `make bench-eval` (benches/eval_compare.sh). Prints one JSON object.
"""
import argparse
import json
import resource
import time

import numpy as np
import pandas as pd
import scipy.sparse as sp


def load(path, shape=None):
    df = pd.read_csv(path, sep="\t", header=None, names=["u", "i", "r"],
                     dtype={"u": np.int32, "i": np.int32, "r": np.float32})
    return df


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("split_dir")
    ap.add_argument("--factors", type=int, default=64)
    ap.add_argument("--iterations", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    tr = load(f"{args.split_dir}/train.tsv")
    te = load(f"{args.split_dir}/test.tsv")
    n_users = int(max(tr.u.max(), te.u.max())) + 1
    n_items = int(max(tr.i.max(), te.i.max())) + 1
    train = sp.csr_matrix(((1.0 + 40.0 * tr.r.values).astype(np.float32), (tr.u.values, tr.i.values)),
                          shape=(n_users, n_items))
    test = sp.csr_matrix((te.r.values.astype(np.float32), (te.u.values, te.i.values)),
                         shape=(n_users, n_items))

    from implicit.cpu.als import AlternatingLeastSquares
    from implicit.evaluation import ranking_metrics_at_k
    import implicit

    model = AlternatingLeastSquares(factors=args.factors, regularization=0.1, alpha=1.0,
                                    iterations=args.iterations, use_cg=True,
                                    num_threads=args.threads, random_state=42)
    t = time.perf_counter()
    model.fit(train, show_progress=False)
    fit_s = time.perf_counter() - t

    t = time.perf_counter()
    m = ranking_metrics_at_k(model, train, test, K=10, show_progress=False, num_threads=args.threads)
    metrics_s = time.perf_counter() - t

    t = time.perf_counter()
    ids, scores = model.recommend(np.arange(n_users), train, N=10, filter_already_liked_items=True)
    recommend_s = time.perf_counter() - t

    print(json.dumps({
        "system": "implicit", "version": implicit.__version__, "factors": args.factors,
        "iterations": args.iterations, "users": n_users, "items": n_items,
        "fit_seconds": round(fit_s, 3), "ranking_metrics_at_k_seconds": round(metrics_s, 3),
        "recommend_all_seconds": round(recommend_s, 3),
        "metrics": {k: float(v) for k, v in m.items()},
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
    }))


if __name__ == "__main__":
    main()
