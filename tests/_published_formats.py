"""Tiny files in the published weight-zoo formats (Small CNN Zoo, DWSNets INRs), for the loader tests."""

import csv
import gzip

import numpy as np
import torch

from netgraph.architectures import Siren


KERAS_NAMES = [
    ("sequential/conv2d", "features.0"),
    ("sequential/conv2d_1", "features.2"),
    ("sequential/conv2d_2", "features.4"),
    ("sequential/dense", "classifier"),
]


def to_keras(state):
    """Flat Keras-layout row (per layer: bias, then kernel) and the layout.csv rows describing it."""
    chunks, layout, start = [], [], 0
    for keras, torch_name in KERAS_NAMES:
        weight = state[f"{torch_name}.weight"]
        kernel = weight.permute(2, 3, 1, 0) if weight.dim() == 4 else weight.T  # [kh, kw, in, out] / [in, out]
        for varname, value in ((f"{keras}/bias:0", state[f"{torch_name}.bias"]), (f"{keras}/kernel:0", kernel)):
            flat = value.contiguous().flatten().numpy()
            layout.append(
                {
                    "varname": varname,
                    "start_idx": start,
                    "end_idx": start + flat.size,
                    "size": flat.size,
                    "shape": str(tuple(value.shape)),
                }
            )
            chunks.append(flat)
            start += flat.size
    return np.concatenate(chunks), layout


def write_small_cnn_zoo_files(folder, rows, metrics, layout):
    """``weights.npy`` (one flat row per checkpoint), ``metrics.csv.gz`` and ``layout.csv`` in ``folder``."""
    np.save(folder / "weights.npy", np.stack(rows).astype(np.float32))
    with gzip.open(folder / "metrics.csv.gz", "wt", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(metrics[0]))
        writer.writeheader()
        writer.writerows(metrics)
    with open(folder / "layout.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(layout[0]))
        writer.writeheader()
        writer.writerows(layout)


def dwsnets_state(seed):
    torch.manual_seed(seed)
    return {f"seq.{i}.{k}": v for i, layer in enumerate(Siren().layers) for k, v in layer.state_dict().items()}
