#!/usr/bin/env python3
"""The peer for docs/detection.md: a scikit-learn random forest (100 trees, infinities set to 0)
on the same fixed 70/30 stratified split `netvigil train --eval` uses (within each class, rows
ordered by SHA-256 of their `id`; the first ceil(0.3 n) are the test set).

    python3 bench/sklearn_rf.py ../shared/data/cicids2017-improved [--with-ports]

Features: the 81 flow features netvigil's model reads (every column from `Flow Duration` to
`Total TCP Flow Time`); --with-ports adds `Dst Port` and `Protocol` (83 columns).
Prints binary F1 (attack = any non-benign predicted class), macro-F1 over classes with at least
100 test rows, and the per-class table.
"""
import csv, glob, hashlib, math, os, sys, time

import numpy as np
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import f1_score, precision_recall_fscore_support

data_dir = sys.argv[1]
with_ports = "--with-ports" in sys.argv
rows, labels, keys = [], [], []
header = None
for path in sorted(glob.glob(os.path.join(data_dir, "**", "*.csv"), recursive=True)):
    with open(path, newline="") as f:
        r = csv.reader(f)
        h = next(r)
        if header is None:
            header = h
            first = h.index("Flow Duration")
            last = h.index("Total TCP Flow Time")
            cols = list(range(first, last + 1))
            if with_ports:
                cols += [h.index("Dst Port"), h.index("Protocol")]
        for row in r:
            v = [float(row[c]) for c in cols]
            rows.append([0.0 if not math.isfinite(x) else x for x in v])
            labels.append(row[h.index("Label")].strip())
            keys.append(hashlib.sha256(row[h.index("id")].encode()).digest())

X = np.array(rows)
y = np.array(labels)
test = np.zeros(len(y), dtype=bool)
for c in sorted(set(labels)):
    idx = [i for i in range(len(y)) if y[i] == c]
    idx.sort(key=lambda i: (keys[i], i))
    test[idx[: math.ceil(0.3 * len(idx))]] = True

t0 = time.time()
rf = RandomForestClassifier(n_estimators=100, random_state=0, n_jobs=1)
rf.fit(X[~test], y[~test])
fit_s = time.time() - t0
t0 = time.time()
pred = rf.predict(X[test])
pred_s = time.time() - t0
truth = y[test]
benign = "BENIGN"
binary = f1_score(truth != benign, pred != benign)
classes = sorted(set(truth))
p, r, f, s = precision_recall_fscore_support(truth, pred, labels=classes, zero_division=0)
big = [f[i] for i in range(len(classes)) if s[i] >= 100]
print(f"features {X.shape[1]}, train {int((~test).sum())}, test {int(test.sum())}; fit {fit_s:.1f} s, predict {pred_s * 1e6 / test.sum():.1f} µs/flow")
print(f"binary F1 {binary:.5f}; macro-F1 (support >= 100) {np.mean(big):.4f} over {len(big)} classes; macro-F1 (all) {np.mean(f):.4f}")
for i, c in enumerate(classes):
    print(f"{c:<28} {p[i]:9.4f} {r[i]:9.4f} {f[i]:9.4f} {s[i]:8d}")
