#!/usr/bin/env python3
"""Time a fixed sample of `implicit`'s fits of the seed's 192-point x 5-fold grid on the
ml-100k protocol split, and extrapolate to the whole grid (1,152 fits: 5 CV folds + the
full-train fit per point), as ../shared/bench/RESULTS.md does for Spark.

Used only by `make bench-grid-compare` (benches/grid_compare.sh), which times alsflow's
grid in the same run. Fits are enumerated point by point in the protocol's grid order
(rank outer, alpha inner), six per point (folds 0-4, then full train); the sample is
`numpy.random.default_rng(42).choice(1152, 10)`, after three untimed warm-up fits. Each
timed fit includes building its training matrix, `model.fit` (CG, 3 steps, 2 threads,
OPENBLAS_NUM_THREADS=1) and the ROEM of its validation fold (or of test.tsv for the
full-train fit) with the protocol's own code. Confidence is the protocol's c = 1 + alpha*r
(implicit gets data = 1 + alpha*r and its own alpha = 1).

Prints one JSON object on stdout.
"""
import argparse
import itertools
import json
import os
import sys
import time

import numpy as np


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--split", required=True, help="the ml-100k protocol split directory")
    ap.add_argument("--protocol", required=True, help="path of the protocol's protocol.py")
    ap.add_argument("--samples", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    sys.path.insert(0, os.path.dirname(os.path.abspath(args.protocol)))
    import protocol  # noqa: E402  (the protocol's reference implementation)
    from implicit.cpu.als import AlternatingLeastSquares
    import implicit

    meta = json.load(open(os.path.join(args.split, "meta.json")))
    n_users, n_items = int(meta["n_users"]), int(meta["n_items"])
    train_df = protocol.read_tsv(os.path.join(args.split, "train.tsv"))
    test_df = protocol.read_tsv(os.path.join(args.split, "test.tsv"))
    folds = protocol.cv_folds(len(train_df))
    grid = list(itertools.product([10, 20, 30, 40], [10, 20, 30, 40], [0.05, 0.1, 0.15],
                                  [20, 40, 60, 80]))
    n_fits = len(grid) * 6

    def one_fit(index):
        rank, max_iter, reg, alpha = grid[index // 6]
        part = index % 6
        if part < 5:
            mask = np.ones(len(train_df), dtype=bool)
            mask[folds[part]] = False
            fit_df, val_df = train_df[mask], train_df.iloc[folds[part]]
            fit_users = set(fit_df.user_idx.to_numpy().tolist())
            fit_items = set(fit_df.item_idx.to_numpy().tolist())
            keep = val_df.user_idx.isin(fit_users) & val_df.item_idx.isin(fit_items)
            val_df = val_df[keep]
        else:
            fit_df, val_df = train_df, test_df
        t0 = time.perf_counter()
        fit = protocol.to_csr(fit_df, n_users, n_items)
        val = protocol.to_csr(val_df, n_users, n_items)
        conf = fit.astype(np.float32)
        conf.data = (1.0 + alpha * conf.data).astype(np.float32)
        model = AlternatingLeastSquares(factors=rank, regularization=reg, alpha=1.0,
                                        iterations=max_iter, use_cg=True,
                                        num_threads=args.threads, random_state=42,
                                        calculate_training_loss=False)
        model.fit(conf, show_progress=False)
        r = protocol.roem(np.asarray(model.user_factors, dtype=np.float64),
                          np.asarray(model.item_factors, dtype=np.float64), fit, val)
        return time.perf_counter() - t0, r, (rank, max_iter, reg, alpha, part)

    for warm in (0, 6 * 40 + 5, 6 * 100 + 5):  # untimed: imports, thread pools, caches
        one_fit(warm)
    draws = np.random.default_rng(42).choice(n_fits, args.samples)
    samples = [one_fit(int(i)) for i in draws]
    secs = np.array([s[0] for s in samples])
    # Linear model of a fit's seconds in max_iter and max_iter x rank, summed over the grid.
    feats = lambda p: [1.0, p[1], p[1] * p[0]]  # noqa: E731
    x = np.array([feats(s[2]) for s in samples])
    coef, *_ = np.linalg.lstsq(x, secs, rcond=None)
    linear = float(sum(np.dot(coef, feats(grid[i // 6])) for i in range(n_fits)))
    print(json.dumps({
        "system": "implicit",
        "version": implicit.__version__,
        "fits_in_grid": n_fits,
        "sampled": [{"rank": s[2][0], "max_iter": s[2][1], "reg_param": s[2][2],
                     "alpha": s[2][3], "part": "full" if s[2][4] == 5 else f"fold {s[2][4]}",
                     "seconds": round(s[0], 4), "roem": round(s[1], 6)} for s in samples],
        "sample_seconds": round(float(secs.sum()), 3),
        "extrapolated_mean_seconds": round(float(secs.mean() * n_fits), 1),
        "extrapolated_linear_seconds": round(linear, 1),
    }))


if __name__ == "__main__":
    main()
