"""Why INR classification on mnist_inr is hard at this size: the class from what each INR computes
versus from its weights, with and without the symmetries factored out.

Fits scikit-learn logistic regressions on the zoo's stored split (train -> test) from

* the rendered 28x28 images (what the INRs compute: an upper bound for any metanet),
* the flattened weights (what a flat MLP sees; not invariant to anything),
* per-layer weight statistics (what StatNN sees; permutation invariant),
* the weights canonicalised for both symmetries: each hidden neuron's sign fixed by making its
  incoming-weight sum positive, then neurons sorted within a layer by that sum (an exact
  canonical form of the permutation x sign-flip group for generic weights),

and checks the labels against the MNIST file through ``image_index``.

    python benchmarks/check_mnist_inr.py [zoo root, default /tmp/i18-zoos/mnist-inr-500]

Seconds, one thread. (RESULTS.md, "INR classification on real MNIST".)
"""

import sys

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from netgraph.datasets import inr_grid, load_zoo, mnist_images

torch.set_num_threads(1)
root = sys.argv[1] if len(sys.argv) > 1 else "/tmp/i18-zoos/mnist-inr-500"
zoo = load_zoo(root)
w = {k: v[:, -1] for k, v in zoo.weights[0].items()}  # [n, *shape] final weights
split = np.array([r["split"] for r in zoo.rows])
y = np.array([r["class"] for r in zoo.rows])
images, labels = mnist_images()
print(
    "labels == MNIST label of image_index:", np.mean([labels[r["image_index"]].item() == r["class"] for r in zoo.rows])
)


def canonical(w):
    """Sign of each hidden neuron flipped so its incoming weights sum > 0, then neurons sorted by that sum."""
    w = {k: v.clone() for k, v in w.items()}
    for layer in range(2):  # the two hidden layers
        wi, bi, wo = w[f"layers.{layer}.weight"], w[f"layers.{layer}.bias"], w[f"layers.{layer + 1}.weight"]
        sign = torch.where(wi.sum(-1) < 0, -1.0, 1.0)  # [n, hidden]
        wi, bi, wo = wi * sign[..., None], bi * sign, wo * sign[:, None, :]
        order = wi.sum(-1).argsort(-1)  # [n, hidden]
        w[f"layers.{layer}.weight"] = torch.gather(wi, 1, order[..., None].expand_as(wi))
        w[f"layers.{layer}.bias"] = torch.gather(bi, 1, order)
        w[f"layers.{layer + 1}.weight"] = torch.gather(wo, 2, order[:, None, :].expand_as(wo))
    return w


def flat(w):
    return torch.cat([v.flatten(1) for v in w.values()], 1).numpy()


def stats(w):
    q = torch.tensor([0.0, 0.25, 0.5, 0.75, 1.0])
    return torch.cat(
        [
            torch.cat(
                [
                    v.flatten(1).mean(1, keepdim=True),
                    v.flatten(1).std(1, keepdim=True, correction=0),
                    v.flatten(1).abs().mean(1, keepdim=True),
                    torch.quantile(v.flatten(1), q, dim=1).T,
                ],
                1,
            )
            for v in w.values()
        ],
        1,
    ).numpy()


def rendered():
    coords = inr_grid((28, 28))
    h = coords
    for i in range(2):
        h = torch.sin(30.0 * (h @ w[f"layers.{i}.weight"].transpose(1, 2) + w[f"layers.{i}.bias"][:, None]))
    return (h @ w["layers.2.weight"].transpose(1, 2) + w["layers.2.bias"][:, None]).flatten(1).numpy()


def score(name, x):
    tr, te = split == "train", split == "test"
    scaler = StandardScaler().fit(x[tr])
    model = LogisticRegression(max_iter=3000, C=0.1).fit(scaler.transform(x[tr]), y[tr])
    print(
        f"{name:<42} train {model.score(scaler.transform(x[tr]), y[tr]):.3f}  "
        f"test {model.score(scaler.transform(x[te]), y[te]):.3f}"
    )


print(f"{len(y)} INRs: {(split == 'train').sum()} train / {(split == 'test').sum()} test; chance 0.10")
score("rendered images (what the INRs compute)", rendered())
score("flattened weights", flat(w))
score("per-layer statistics", stats(w))
score("canonical weights (sign fixed, sorted)", flat(canonical(w)))
