"""Are StatNN's statistics informative on the digits_cnn accuracy-prediction task? Fit scikit-learn
models on exactly the features StatNN computes (``layer_statistics`` of the standardised weights,
and of the raw weights), on the task's train split, and report the test Kendall tau and R^2.

    python benchmarks/check_statnn_features.py [zoo root, default /tmp/results-zoos/digits-cnn]

(RESULTS.md, "Metanetworks on the weight-space tasks": why StatNN trails here.) Seconds, one thread.
"""

import sys

import numpy as np
import torch
from scipy.stats import kendalltau
from sklearn.ensemble import GradientBoostingRegressor
from sklearn.linear_model import RidgeCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from netgraph.metanets.baselines import layer_statistics
from netgraph.tasks.loader import GraphLoader
from netgraph.tasks.models import build_metanet
from netgraph.tasks.registry import create_task

torch.set_num_threads(1)
root = sys.argv[1] if len(sys.argv) > 1 else "/tmp/results-zoos/digits-cnn"
task = create_task("accuracy_prediction", zoo={"preset": "digits_cnn", "root": root, "num_threads": 1})
data = task.setup(progress=False)
statnn = build_metanet("statnn", task, data["train"], hidden=64, depth=2)


def features(split, standardised):
    xs, ys = [], []
    for batch in GraphLoader(data[split], 512, dense=True, even_shards=False):
        xs.append(layer_statistics(statnn.weight_space(task.inputs(batch) if standardised else batch)))
        ys.append(batch.y.reshape(-1))
    return torch.cat(xs).numpy(), torch.cat(ys).numpy()


for standardised in (True, False):
    x_train, y_train = features("train", standardised)
    x_test, y_test = features("test", standardised)
    spread = x_train.std(0)
    print(
        f"{'standardised' if standardised else 'raw'} weights: {x_train.shape[0]} train nets, "
        f"{x_train.shape[1]} features, feature std from {spread.min():.3g} to {spread.max():.3g}"
    )
    for name, model in [
        ("ridge on scaled features", make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-3, 3, 13)))),
        ("gradient boosting", GradientBoostingRegressor(random_state=0)),
    ]:
        model.fit(x_train, y_train)
        pred = model.predict(x_test)
        r2 = 1 - ((pred - y_test) ** 2).sum() / ((y_test - y_test.mean()) ** 2).sum()
        print(f"  {name}: test Kendall tau {kendalltau(pred, y_test).statistic:.3f}, R^2 {r2:.3f}")
