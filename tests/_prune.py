"""Shared by the pruning tests: zero units on the parameter graph (the reference a physical cut must match),
and one small run of the ``netgraph-prune`` CLI on a saved Hugging Face model."""

import torch

import netgraph
from netgraph.masks import parameter_masks


def zero_units(model, spec, removal):
    """Zero, on the parameter graph, every parameter attached to the nodes of the removed units."""
    graph = netgraph.from_module(model, spec=spec)
    nodes = torch.cat([spec.groups[g].nodes[u].reshape(-1) for g, u in removal.items()])
    node_mask, edge_mask = parameter_masks(graph)
    touched = torch.isin(graph.edge_index, nodes).any(0, keepdim=True).T
    graph.edge_attr = torch.where(touched & edge_mask, 0.0, graph.edge_attr)
    chosen = torch.zeros(graph.num_nodes, 1, dtype=torch.bool).index_fill(0, nodes, True)
    graph.x = torch.where(chosen & node_mask, 0.0, graph.x)
    return netgraph.to_module(graph, model)


def prune_saved_model(source, tmp_path, words: str):
    """Run ``netgraph-prune model=<source>`` to a 1.5x speed-up (one distillation epoch, sentences made from
    ``words``); returns ``(result, out folder)`` after checking the run reached the distilled stage."""
    from hydra import compose, initialize_config_module

    from netgraph.tasks.pruning.cli import run

    words = words.split()
    text = tmp_path / "text.txt"
    text.write_text("\n".join(" ".join(words[i % 7 :] + words[: i % 5]) for i in range(48)))
    out = tmp_path / "pruned"
    with initialize_config_module(config_module="netgraph.configs.prune", version_base="1.3"):
        config = compose(
            config_name="prune",
            overrides=[
                f"model={source}",
                f"out={out}",
                "speedup=1.5",
                "finetune.epochs=1",
                f"text.sentences={text}",
                "text.val=8",
                "text.test=8",
                "text.max_length=12",
                "step=0.25",
            ],
        )
    result, folder = run(config)
    assert folder == out and result.speedup >= 1.5 and [r["stage"] for r in result.rows][-1] == "distilled"
    return result, out
