"""A tiny training script for `gitrack demo`: fit y = a*x + b by gradient descent.

Reads data.csv, trains for --epochs with learning rate --lr, writes metrics.json and the
model (its weights) to model.json.
Deterministic: the same code, data and params give the same metrics, bit for bit.
"""

import argparse
import csv
import json

try:  # under `gitrack run`, the loss at each epoch becomes a step metric
    from gitrack import log_metric
except ImportError:  # run without gitrack: no step metrics, same result
    log_metric = None

EPOCHS = 30

parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float, default=0.01)
parser.add_argument("--epochs", type=int, default=EPOCHS)
args = parser.parse_args()

with open("data.csv", newline="") as fh:
    rows = [(float(r["x"]), float(r["y"])) for r in csv.DictReader(fh)]

a = b = 0.0
for epoch in range(args.epochs):
    grad_a = sum(2 * (a * x + b - y) * x for x, y in rows) / len(rows)
    grad_b = sum(2 * (a * x + b - y) for x, y in rows) / len(rows)
    a -= args.lr * grad_a
    b -= args.lr * grad_b
    if log_metric is not None:
        loss = sum((a * x + b - y) ** 2 for x, y in rows) / len(rows)
        log_metric("train_mse", loss, step=epoch)

mse = sum((a * x + b - y) ** 2 for x, y in rows) / len(rows)
print(f"lr={args.lr} epochs={args.epochs}: a={a:.4f} b={b:.4f} mse={mse:.6f}")
with open("metrics.json", "w") as fh:
    json.dump({"mse": mse, "weights": {"a": a, "b": b}}, fh)
with open("model.json", "w") as fh:
    json.dump({"a": a, "b": b}, fh)
