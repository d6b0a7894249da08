"""Model cards (``README.md`` with Hub YAML metadata) of generator and metanet repos.

A card says what the model is, the target architecture (every parameter and its shape, how to
rebuild it), what it was trained on (zoo, data, recipe), measured results when given, and how to
load it with ``netgraph.hub``.

Example:
    >>> from netgraph.architectures import mlp
    >>> from netgraph.metanets import ChunkedHypernetwork
    >>> card = model_card(ChunkedHypernetwork(mlp([4, 8, 3]), chunk_size=16, hidden=[8]), "me/iris-hypernet")
    >>> card.splitlines()[:4]
    ['---', 'library_name: netgraph', 'license: mit', 'tags:']
    >>> "| `0.weight` | (8, 4) |" in card
    True
"""

from __future__ import annotations

import json
from typing import Any, Mapping

import torch.nn as nn

from netgraph.metanets import (
    OperationGraphHypernetwork,
    ChunkedHypernetwork,
    ParameterGraphHypernetwork,
    WeightDiffusion,
    WeightGenerator,
)

__all__ = ["model_card"]

_DESCRIPTIONS = {
    ChunkedHypernetwork: "an MLP hypernetwork with chunking (Ha et al. 2017){mip}: noise (and a condition, if any) "
    "-> every learnable value of the target",
    ParameterGraphHypernetwork: "a graph hypernetwork (GHN-2 style) on parameter graphs: a GNN over the target's own parameter "
    "graph predicts every parameter, for any architecture `netgraph.from_module` supports",
    OperationGraphHypernetwork: "a graph hypernetwork over operation graphs (GHN-2 / GHN-3 style, Knyazev et al. 2021, 2023): a transformer "
    "(or GNN) over the network's layers predicts every linear / conv weight and bias, tiled from a channel block and "
    "normalised to the layer's fan-in; `ghn(model)` initialises any network `netgraph.from_module` supports",
    WeightDiffusion: "a latent diffusion model over network weights (p-diff / D2NWG style): per-neuron weight tokens -> "
    "autoencoder -> DDPM on the latents",
}


def model_card(
    model: nn.Module, repo_id: str, config: Mapping[str, Any] | None = None, results: Mapping[str, Any] | None = None
) -> str:
    """The card of a generator or metanet saved as ``repo_id`` (``config``: its ``config.json``;
    ``results``: measured figures, shown as JSON)."""
    generator = isinstance(model, WeightGenerator)
    name = type(model).__name__
    tags = ["netgraph", "weight-space-learning", "weight-generator" if generator else "metanetwork"]
    sections = [f"# {repo_id.rsplit('/', 1)[-1]}: {name}", "", _description(model), ""]
    target = getattr(model, "target_architecture", None)
    if generator:
        sections += ["## Target architecture", ""]
        sections += (
            _target_section(target)
            if target is not None
            else ["Any architecture that `netgraph.from_module` supports (graph hypernetwork)."]
        )
        sections.append("")
    trained_on = getattr(model, "trained_on", None)
    if trained_on:
        sections += ["## Trained on", ""] + [f"* {k}: `{json.dumps(v)}`" for k, v in trained_on.items()] + [""]
    if results:
        sections += ["## Results", ""] + _results_section(results) + [""]
    sections += ["## Use", "", "```python", "import netgraph"]
    if generator:
        call = "gen.generate(n=8)" if target is not None and target.factory else "gen.generate(MyNet(), n=8)"
        if isinstance(model, OperationGraphHypernetwork):
            sections += [
                f'ghn = netgraph.hub.load_generator("{repo_id}")',
                "model = ghn(MyCNN())                     # weights predicted in place: fine-tune from here",
            ]
        sections += [
            f'gen = netgraph.hub.load_generator("{repo_id}")',
            f"nets = {call}          # 8 networks ready to run: nets(x) -> [8, ...], nets[0] is an nn.Module",
        ]
    else:
        sections += [
            f'metanet = netgraph.hub.load_metanet("{repo_id}")',
            "metanet(batch)                           # batch: parameter graphs (netgraph.from_module)",
        ]
    sections += ["```", ""]
    if config is not None:
        shown = {k: v for k, v in config.items() if k not in ("target", "trained_on")}
        sections += ["## Config", "", "```json", json.dumps(shown, indent=1, sort_keys=True), "```", ""]
    header = ["---", "library_name: netgraph", "license: mit", "tags:"] + [f"- {t}" for t in tags] + ["---", ""]
    return "\n".join(header + sections)


def _description(model: nn.Module) -> str:
    template = next((text for cls, text in _DESCRIPTIONS.items() if isinstance(model, cls)), None)
    if template is None:
        kind = "weight generator" if isinstance(model, WeightGenerator) else "metanetwork"
        return f"A netgraph {kind} (`{type(model).__module__}.{type(model).__name__}`)."
    return (
        "This repo holds "
        + template.format(
            mip=" with the Magnitude Invariant Parametrisation (Ortiz et al. 2024)"
            if getattr(model, "mip", False)
            else ""
        )
        + "."
    )


def _results_section(results: Mapping[str, Any]) -> list[str]:
    """Tables of the evaluation rows (``{architecture: {row: {stat: value}}}``), the rest as JSON."""
    lines = []
    evaluation = dict(results.get("evaluation", {}))
    if "zoo" in results:
        evaluation.setdefault("zoo", {})["trained zoo"] = results["zoo"]
    for name, rows in evaluation.items():
        columns = list(dict.fromkeys(k for row in rows.values() for k in row))
        lines += [f"**{name}**", "", "| | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
        lines += [
            f"| {label} | " + " | ".join(str(row.get(c, "")) for c in columns) + " |" for label, row in rows.items()
        ]
        lines.append("")
    rest = {k: v for k, v in results.items() if k not in ("evaluation", "zoo", "history")}
    if rest:
        lines += [f"* {k}: `{json.dumps(v)}`" for k, v in rest.items()]
    return lines


def _target_section(target) -> list[str]:
    lines = []
    if target.factory:
        lines += [
            f"`netgraph.architectures.{target.factory['factory']}(**{json.dumps(target.factory.get('kwargs', {}))})`"
            " (rebuilt by `gen.generate(n=...)` when no target is given).",
            "",
        ]
    lines += [
        f"{target.learnable:,} learnable values; generating for another architecture raises an error naming the "
        "missing, extra or reshaped parameters.",
        "",
        "| parameter | shape |",
        "|---|---|",
    ]
    lines += [f"| `{k}` | {tuple(v)} |" for k, v in target.params.items()]
    return lines
