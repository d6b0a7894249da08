"""Tables of results: every ``results.json`` under a folder, grouped by task, metanet and variant,
with the mean and the sample standard deviation (``ddof = 1``) over seeds of each test metric.

Runs are averaged only when they share a config: a run records the hash of its config less the seed
(``config_hash``, also in its folder name); runs of one metanet and variant with different hashes (a
50-epoch and a 3-epoch run) are separate rows labelled with their hash, never two seeds of one row.

Example:
    >>> runs = [{"task": "t", "metanet": "gmn", "seed": s, "test": {"acc": a}, "train_seconds": 2.0}
    ...         for s, a in enumerate([0.5, 0.7])]
    >>> print(results_table(runs))
    ### t
    <BLANKLINE>
    | metanet | variant | seeds | acc | train s |
    |---|---|---|---|---|
    | gmn | default | 2 | 0.6 ± 0.1414 | 2 |
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Iterable, Sequence

__all__ = ["collect_results", "results_table", "METANET_ORDER"]

#: row order of the tables: baselines, dense equivariant models, graph models
METANET_ORDER = ("mlp", "statnn", "dwsnet", "nfn_np", "nfn_hnp", "gmn", "ngt", "scalegmn", "scalegmn_b")


def collect_results(root: str | Path, results_file: str = "results.json") -> list[dict[str, Any]]:
    """Every ``results.json`` under ``root`` (its folder added as ``"path"``), in path order."""
    paths = sorted(Path(root).rglob(results_file))
    return [{**json.loads(p.read_text()), "path": str(p.parent)} for p in paths]


def results_table(results: Iterable[dict[str, Any]], metrics: Sequence[str] | None = None) -> str:
    """Markdown tables (one per task) of ``mean ± std`` over seeds of each test metric."""
    groups: dict[str, dict[tuple[str, str], list[dict[str, Any]]]] = {}
    hashes: dict[tuple[str, str, str], set] = {}
    for result in results:
        hashes.setdefault((result["task"], result["metanet"], result.get("variant", "default")), set()).add(
            result.get("config_hash")
        )
    for result in results:
        variant = result.get("variant", "default")
        if len(hashes[(result["task"], result["metanet"], variant)]) > 1:  # never average two configs
            variant = f"{variant} ({result.get('config_hash') or 'no config hash'})"
        key = (result["metanet"], variant)
        groups.setdefault(result["task"], {}).setdefault(key, []).append(result)
    sections = []
    for task, rows in sorted(groups.items()):
        names = (
            list(metrics)
            if metrics
            else list(dict.fromkeys(m for runs in rows.values() for r in runs for m in r["test"]))
        )
        lines = [
            f"### {task}",
            "",
            "| metanet | variant | seeds | " + " | ".join(names) + " | train s |",
            "|" + "---|" * (len(names) + 4),
        ]
        order = {name: i for i, name in enumerate(METANET_ORDER)}
        for (metanet, variant), runs in sorted(rows.items(), key=lambda kv: (order.get(kv[0][0], 99), kv[0])):
            cells = [_mean_std([r["test"][m] for r in runs if m in r["test"]]) for m in names]
            seconds = _mean([r.get("train_seconds", float("nan")) for r in runs])
            lines.append(f"| {metanet} | {variant} | {len(runs)} | " + " | ".join(cells) + f" | {seconds:.0f} |")
        sections.append("\n".join(lines))
    return "\n\n".join(sections)


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


def _mean_std(values: Sequence[float]) -> str:
    if not values:
        return "-"
    mean = _mean(values)
    if len(values) == 1:
        return f"{mean:.4g}"
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
    return f"{mean:.4g} ± {std:.4g}"
