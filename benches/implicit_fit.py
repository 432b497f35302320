#!/usr/bin/env python3
"""Time the Python `implicit` library's ALS fit on a TSV interaction file.

Used only by `make bench-compare` (benches/compare.sh) to put `implicit` side by side
with alsflow on the same file and machine. Confidence follows the protocol's "hu" mode:
implicit is given data = 1 + alpha*r with its own alpha = 1, which is exactly
c = 1 + alpha*r (see ../shared/bench/PROTOCOL.md §3).

Prints one JSON object on stdout.
"""
import argparse
import json
import resource
import time

import numpy as np
import pandas as pd
import scipy.sparse as sp


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("tsv")
    ap.add_argument("--factors", type=int, default=64)
    ap.add_argument("--iterations", type=int, default=5)
    ap.add_argument("--solver", choices=["cg", "cholesky"], default="cg")
    ap.add_argument("--reg", type=float, default=0.1)
    ap.add_argument("--alpha", type=float, default=40.0)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    t0 = time.perf_counter()
    df = pd.read_csv(args.tsv, sep="\t", header=None, names=["u", "i", "r"],
                     dtype={"u": np.int32, "i": np.int32, "r": np.float32})
    n_users = int(df.u.max()) + 1
    n_items = int(df.i.max()) + 1
    data = (1.0 + args.alpha * df.r.values).astype(np.float32)
    user_items = sp.csr_matrix((data, (df.u.values, df.i.values)), shape=(n_users, n_items))
    load_s = time.perf_counter() - t0
    del df

    from implicit.cpu.als import AlternatingLeastSquares
    import implicit

    model = AlternatingLeastSquares(
        factors=args.factors,
        regularization=args.reg,
        alpha=1.0,
        iterations=args.iterations,
        use_cg=(args.solver == "cg"),
        num_threads=args.threads,
        random_state=42,
        calculate_training_loss=False,
    )
    t1 = time.perf_counter()
    model.fit(user_items, show_progress=False)
    fit_s = time.perf_counter() - t1
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(json.dumps({
        "system": "implicit",
        "version": implicit.__version__,
        "solver": args.solver,
        "factors": args.factors,
        "iterations": args.iterations,
        "nnz": int(user_items.nnz),
        "users": n_users,
        "items": n_items,
        "load_seconds": round(load_s, 3),
        "fit_seconds": round(fit_s, 3),
        "seconds_per_iteration": round(fit_s / args.iterations, 4),
        "peak_rss_mb": round(peak_mb, 1),
    }))


if __name__ == "__main__":
    main()
