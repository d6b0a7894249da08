"""Do two versions of the code feed the metanets the same tensors? Dump, under the netgraph on the path,
every tensor the accuracy-prediction metanets read from a zoo (train and val batches: ``x``,
``edge_attr``, ``edge_index``, ``edge_type``, ``batch``, the dense per-layer weights and biases, 20
state dicts per split, one item, and the standardised ``x`` / ``edge_attr``), or compare two dumps.

    PYTHONPATH=<tree A> python benchmarks/check_layout_inputs.py dump a.pt [zoo root]
    PYTHONPATH=<tree B> python benchmarks/check_layout_inputs.py dump b.pt [zoo root]
    python benchmarks/check_layout_inputs.py compare a.pt b.pt

(RESULTS.md, accuracy prediction: the re-run after the graph-layout change.) Default zoo root:
/tmp/results-zoos/digits-cnn. Seconds, one thread.
"""

import sys

import torch

import netgraph


def dump(path: str, root: str) -> None:
    from netgraph.datasets import ZooDataset
    from netgraph.tasks.normalization import WeightStandardizer

    out = {}
    for split in ("train", "val"):
        data = ZooDataset(root, split=split, kernel_shape=(3, 3))
        batch = data.to_batch()
        for name in ("x", "edge_attr", "edge_index", "edge_type", "batch"):
            out[f"{split}.{name}"] = getattr(batch, name)
        dense = data.weight_space()
        for i, (w, b) in enumerate(zip(dense.weights, dense.biases)):
            out[f"{split}.w{i}"], out[f"{split}.b{i}"] = w.contiguous(), b.contiguous()
        for j, state in enumerate(netgraph.to_state_dicts(batch)[:20]):
            out.update({f"{split}.sd{j}.{k}": v.contiguous() for k, v in state.items()})
        item = data[3]
        out[f"{split}.item.edge_attr"], out[f"{split}.item.edge_index"] = item.edge_attr, item.edge_index
    train = ZooDataset(root, split="train", kernel_shape=(3, 3))
    standardize = WeightStandardizer.fit(train.state_dicts())
    normalized = standardize(train.to_batch())
    out["norm.x"], out["norm.edge_attr"] = normalized.x, normalized.edge_attr
    torch.save(out, path)
    print(f"{len(out)} tensors from {netgraph.__file__} -> {path}")


def compare(path_a: str, path_b: str) -> None:
    a, b = torch.load(path_a), torch.load(path_b)
    if a.keys() != b.keys():
        raise SystemExit(f"different tensors: {sorted(set(a) ^ set(b))[:10]}")
    differing = [k for k in a if a[k].shape != b[k].shape or not torch.equal(a[k], b[k])]
    print(f"{len(a)} tensors compared; bit-identical: {len(a) - len(differing)}; differing: {differing}")


if __name__ == "__main__":
    torch.set_num_threads(1)
    if sys.argv[1] == "dump":
        dump(sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else "/tmp/results-zoos/digits-cnn")
    else:
        compare(sys.argv[2], sys.argv[3])
