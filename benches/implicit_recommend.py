#!/usr/bin/env python3
"""Time the Python `implicit` library's in-process `model.recommend(...)` for one user
at a time: the best a web app wrapping it (Flask and the like) could do per request,
before any HTTP. Used by `make bench-serve` (benches/serve_bench.sh), on the same TSV
file and model shape as the alsflow server it is put beside.

The model is fitted for one iteration (latency does not depend on the factors'
values); confidence is data = 1 + alpha*r, as in implicit_fit.py. Prints one JSON
object on stdout.
"""
import argparse
import json
import time

import numpy as np
import pandas as pd
import scipy.sparse as sp


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("tsv")
    ap.add_argument("--factors", type=int, default=64)
    ap.add_argument("--calls", type=int, default=2000)
    ap.add_argument("--n", type=int, default=10)
    ap.add_argument("--label", default="")
    args = ap.parse_args()

    df = pd.read_csv(args.tsv, sep="\t", header=None, names=["u", "i", "r"],
                     dtype={"u": np.int32, "i": np.int32, "r": np.float32})
    n_users, n_items = int(df.u.max()) + 1, int(df.i.max()) + 1
    data = (1.0 + 40.0 * df.r.values).astype(np.float32)
    user_items = sp.csr_matrix((data, (df.u.values, df.i.values)), shape=(n_users, n_items))
    del df

    from implicit.cpu.als import AlternatingLeastSquares
    model = AlternatingLeastSquares(factors=args.factors, iterations=1, alpha=1.0,
                                    num_threads=2, random_state=42)
    model.fit(user_items, show_progress=False)

    rng = np.random.default_rng(42)
    users = rng.integers(0, n_users, size=args.calls)
    for u in users[:50]:  # warm-up
        model.recommend(int(u), user_items[int(u)], N=args.n, filter_already_liked_items=True)
    took = []
    t_all = time.perf_counter()
    for u in users:
        t0 = time.perf_counter()
        model.recommend(int(u), user_items[int(u)], N=args.n, filter_already_liked_items=True)
        took.append(time.perf_counter() - t0)
    wall = time.perf_counter() - t_all
    took = np.array(took) * 1000.0
    print(json.dumps({
        "system": "implicit", "label": args.label, "users": n_users, "items": n_items,
        "factors": args.factors, "calls": args.calls,
        "p50_ms": round(float(np.percentile(took, 50)), 3),
        "p99_ms": round(float(np.percentile(took, 99)), 3),
        "calls_per_s_one_thread": round(args.calls / wall, 1),
    }))


if __name__ == "__main__":
    main()
