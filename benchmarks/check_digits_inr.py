"""Sanity check of INR classification on the digits_inr zoo: do the labels match the INRs, and is the
class recoverable from what the INRs compute? Renders every INR of the task's splits on its 8x8 grid,
fits a logistic regression from rendered train images to their labels and reports test accuracy;
checks the labels against scikit-learn's digits through the zoo's image_index.

    python benchmarks/check_digits_inr.py [zoo root, default /tmp/results-zoos/digits-inr]

(RESULTS.md, "Metanetworks on the weight-space tasks", INR classification.) Seconds, one thread.
"""

import csv
import sys

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression

from netgraph.tasks.loader import GraphLoader
from netgraph.tasks.registry import create_task

torch.set_num_threads(1)
root = sys.argv[1] if len(sys.argv) > 1 else "/tmp/results-zoos/digits-inr"
zoo = {"preset": "digits_inr", "root": root, "num_threads": 1}
ed = create_task("inr_editing", zoo=zoo)
d_ed = ed.setup(progress=False)
cl = create_task("inr_classification", zoo=zoo)
d_cl = cl.setup(progress=False)


def get(split):
    X, Y, N = [], [], []
    for b in GraphLoader(d_cl[split], 400, even_shards=False):
        X.append(ed.render(b).reshape(b.num_graphs, -1))
        Y.append(b.y.reshape(-1))
        N.append(b.net_id)
    return torch.cat(X).numpy(), torch.cat(Y).numpy(), torch.cat(N).numpy()


Xtr, ytr, ntr = get("train")
Xte, yte, nte = get("test")
m = LogisticRegression(max_iter=2000).fit(Xtr, ytr)
print("rendered INR -> label, logistic regression test acc", (m.predict(Xte) == yte).mean())
# labels vs sklearn digits through image_index
rows = {int(r["net_id"]): r for r in csv.DictReader(open(root + "/metadata.csv"))}
dig = load_digits()
print(
    "label == digits.target[image_index]:",
    np.mean([int(rows[int(n)]["class"]) == dig.target[int(rows[int(n)]["image_index"])] for n in ntr]),
)
print("y == metadata class:", np.mean([int(rows[int(n)]["class"]) == int(y) for n, y in zip(ntr, ytr)]))
img = dig.images / 16.0
print(
    "rendered vs true image corr (first 5):",
    [
        round(float(np.corrcoef(Xtr[i], img[int(rows[int(ntr[i])]["image_index"])].reshape(-1))[0, 1]), 3)
        for i in range(5)
    ],
)
