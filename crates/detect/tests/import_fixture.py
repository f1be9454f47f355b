"""Trains LightGBM and XGBoost models on real CIC-IDS2017 flows and writes what the Rust
tests compare against: the models (LightGBM text, XGBoost JSON), test rows, and each library's
predictions and contributions.

usage: python3 import_fixture.py DATA_DIR OUT_DIR
"""
import csv, json, math, os, random, sys

import lightgbm as lgb
import xgboost as xgb
import numpy as np

data, out = sys.argv[1], sys.argv[2]
files = ["BENIGN_5000.csv", "DDoS_5000.csv", "Portscan_5000.csv", "DoS_Hulk_5000.csv"]
skip = {"id", "Flow ID", "Src IP", "Src Port", "Dst IP", "Timestamp", "Label", "Attempted Category"}
rows, labels, names = [], [], None
rng = random.Random(7)
for cls, f in enumerate(files):
    with open(os.path.join(data, "cicids2017-improved", f), newline="") as fh:
        r = csv.DictReader(fh)
        cols = [c for c in r.fieldnames if c not in skip]
        names = names or cols
        for i, row in enumerate(r):
            if i >= 1200:
                break
            x = []
            for c in names:
                v = float(row[c])
                # Infinities set to 0 (JSON has no infinity); a few values missing, so
                # splits learn a NaN direction.
                x.append(0.0 if math.isinf(v) else (math.nan if rng.random() < 0.03 else v))
            rows.append(x)
            labels.append(cls)
X = np.array(rows)
y = np.array(labels)
test = list(range(0, len(rows), 23))
params = dict(num_leaves=31, min_data_in_leaf=5, learning_rate=0.1, verbose=-1,
              deterministic=True, num_threads=1, seed=1)
result = {"features": names, "x": [[None if math.isnan(v) else v for v in X[i]] for i in test]}
for name, objective, target in [("binary", dict(objective="binary"), (y > 0).astype(int)),
                                ("multiclass", dict(objective="multiclass", num_class=4), y)]:
    b = lgb.train({**params, **objective}, lgb.Dataset(X, target, feature_name=[
        "f%d" % i for i in range(len(names))]), num_boost_round=30)
    b.save_model(os.path.join(out, name + ".txt"))
    Xt = X[test]
    result[name] = {
        "prob": b.predict(Xt).tolist(),
        "raw": b.predict(Xt, raw_score=True).tolist(),
        "contrib": b.predict(Xt, pred_contrib=True).tolist(),
    }
for name, objective, target in [("xgb_binary", dict(objective="binary:logistic"), (y > 0).astype(int)),
                                ("xgb_multiclass", dict(objective="multi:softprob", num_class=4), y)]:
    b = xgb.train({"max_depth": 6, "eta": 0.3, "nthread": 1, "seed": 1, **objective},
                  xgb.DMatrix(X, target), num_boost_round=30)
    b.save_model(os.path.join(out, name + ".json"))
    d = xgb.DMatrix(X[test])
    result[name] = {
        "prob": b.predict(d).astype(float).tolist(),
        "raw": b.predict(d, output_margin=True).astype(float).tolist(),
        "contrib": b.predict(d, pred_contribs=True).astype(float).reshape(len(test), -1).tolist(),
    }
# A model over the flow meter's features only, named as LightGBM writes them (spaces as `_`):
# what `netvigil import` turns into a model `analyze` can use.
meter = [i for i, c in enumerate(names) if c not in ("Dst Port", "Protocol")]
b = lgb.train({**params, "objective": "multiclass", "num_class": 4},
              lgb.Dataset(np.nan_to_num(X[:, meter]), y,
                          feature_name=[names[i].replace(" ", "_") for i in meter]),
              num_boost_round=20)
b.save_model(os.path.join(out, "meter_multiclass.txt"))
with open(os.path.join(out, "expected.json"), "w") as fh:
    json.dump(result, fh)
