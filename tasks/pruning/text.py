"""Pruning a Hugging Face text encoder, with recovery by distillation toward the unpruned model.

* :func:`docstring_sentences` - offline text: sentences from the docstrings of installed packages
  (read with ``ast``, nothing imported or downloaded), deterministic order.
* :func:`encode` - tokenised inputs ``{input_ids, attention_mask, token_type_ids}`` ``[n, max_length]``.
* :func:`mean_pooled` - sentence embeddings ``[n, hidden]``: the last hidden state averaged over real
  tokens (the sentence-transformers pooling of MiniLM).
* :func:`distill` - recovery fine-tuning: ``1 - cos(student, teacher)`` on the training sentences,
  the epoch with the best validation cosine kept (:func:`~netgraph.tasks.pruning.finetune.fit_batches`).
* :func:`prune_text_encoder` - prune to a FLOPs target (heads + MLP neurons by default), distill, and
  measure: params, FLOPs, speed-up, held-out cosine to the original embeddings.

Example:
    >>> sentences = docstring_sentences(["json"], limit=5)
    >>> len(sentences), all(isinstance(s, str) for s in sentences)
    (5, True)
"""

from __future__ import annotations

import ast
import copy
import importlib.util
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from .engine import check_speedup, prune_to_speedup, torch_pruning_to_speedup
from .finetune import fit_batches
from .cost import measure

__all__ = [
    "docstring_sentences",
    "encode",
    "mean_pooled",
    "distill",
    "prune_text_encoder",
    "TextPruneResult",
    "DEFAULT_PACKAGES",
    "load_sentences",
]

#: packages whose docstrings make the default offline text (all installed with netgraph's dependencies)
DEFAULT_PACKAGES = ("torch", "transformers", "sklearn", "scipy", "numpy")
_SENTENCE = re.compile(r"(?<=[.!?])\s+")


def docstring_sentences(
    packages: Sequence[str] = DEFAULT_PACKAGES,
    limit: int | None = None,
    min_words: int = 6,
    max_words: int = 40,
    seed: int = 0,
) -> list[str]:
    """Up to ``limit`` distinct prose sentences (``min_words``..``max_words`` words) from the docstrings of
    the installed ``packages``, in a shuffled order fixed by ``seed``."""
    found: set[str] = set()
    for name in packages:
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.submodule_search_locations:
            files = [Path(spec.origin)] if spec is not None and spec.origin else []
        else:
            files = sorted(p for root in spec.submodule_search_locations for p in Path(root).rglob("*.py"))
        for path in files:
            for doc in _docstrings(path):
                for sentence in _SENTENCE.split(" ".join(doc.split())):
                    words = sentence.split()
                    if (
                        min_words <= len(words) <= max_words
                        and sentence[0].isupper()
                        and sum(w.isalpha() for w in words) >= 0.7 * len(words)
                    ):
                        found.add(sentence)
            if limit is not None and len(found) >= 20 * limit:
                break
    if not found:
        raise ValueError(
            f"no docstring sentences found in packages {list(packages)}; give installed packages or your own sentences"
        )
    ordered = sorted(found)
    order = torch.randperm(len(ordered), generator=torch.Generator().manual_seed(seed)).tolist()
    return [ordered[i] for i in order][:limit]


def _docstrings(path: Path) -> list[str]:
    try:
        tree = ast.parse(path.read_text(encoding="utf-8", errors="ignore"))
    except (SyntaxError, ValueError):
        return []
    nodes = [tree, *(n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)))]
    return [d for d in (ast.get_docstring(n) for n in nodes) if d]


def load_sentences(source: str | Sequence[str] | None = None, options: Mapping[str, Any] | None = None) -> list[str]:
    """Text for distillation: ``None`` -> :func:`docstring_sentences` (``options``: ``packages``, ``limit``),
    a ``.txt`` file -> its non-empty lines, ``"package.module:function"`` -> the list of strings it returns."""
    options = dict(options or {})
    if source is None:
        return docstring_sentences(options.get("packages") or DEFAULT_PACKAGES, limit=int(options.get("limit", 2000)))
    if not isinstance(source, str):
        return list(source)
    path = Path(source)
    if path.is_file():
        return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if ":" in source:
        from netgraph.architectures import resolve_factory

        sentences = resolve_factory(source)()
        if isinstance(sentences, (list, tuple)) and all(isinstance(s, str) for s in sentences):
            return list(sentences)
        raise ValueError(f"text.sentences={source!r} must return a list of strings, got {type(sentences).__name__}")
    raise FileNotFoundError(f"text.sentences={source!r} is neither a text file nor 'package.module:function'")


def encode(tokenizer: Any, sentences: Sequence[str], max_length: int = 32) -> dict[str, torch.Tensor]:
    """Tokenised ``sentences`` padded / truncated to ``max_length``: ``{name: [n, max_length]}``."""
    return dict(
        tokenizer(list(sentences), return_tensors="pt", padding="max_length", truncation=True, max_length=max_length)
    )


def _take(inputs: Mapping[str, torch.Tensor], idx: torch.Tensor) -> dict[str, torch.Tensor]:
    return {k: v[idx] for k, v in inputs.items()}


def _pool(model: nn.Module, inputs: Mapping[str, torch.Tensor]) -> torch.Tensor:
    hidden = model(**inputs).last_hidden_state
    mask = inputs["attention_mask"].unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(1) / mask.sum(1).clamp_min(1.0)


@torch.no_grad()
def mean_pooled(model: nn.Module, inputs: Mapping[str, torch.Tensor], batch_size: int = 64) -> torch.Tensor:
    """Sentence embeddings ``[n, hidden]`` of tokenised ``inputs`` (mean over real tokens)."""
    model.eval()
    n = len(next(iter(inputs.values())))
    return torch.cat(
        [_pool(model, _take(inputs, torch.arange(i, min(i + batch_size, n)))) for i in range(0, n, batch_size)]
    )


def distill(
    student: nn.Module,
    inputs: Mapping[str, Mapping[str, torch.Tensor]],
    targets: Mapping[str, torch.Tensor],
    epochs: int,
    lr: float = 1e-4,
    batch_size: int = 32,
    seed: int = 0,
    device: torch.device | str = "cpu",
) -> list[dict[str, float]]:
    """Train ``student`` in place so its mean-pooled embeddings of ``inputs["train"]`` match ``targets["train"]``
    (loss ``1 - cos``), keeping the epoch with the best mean cosine on ``inputs["val"]``."""
    train, val = inputs["train"], inputs["val"]

    def loss(m, idx):
        return 1 - F.cosine_similarity(_pool(m, _take(train, idx)), targets["train"][idx], dim=-1).mean()

    def score(m, idx):
        with torch.no_grad():
            return float(F.cosine_similarity(_pool(m, _take(val, idx)), targets["val"][idx], dim=-1).sum()), len(idx)

    return fit_batches(
        student,
        loss,
        score,
        len(targets["train"]),
        len(targets["val"]),
        epochs,
        lr,
        batch_size,
        0.0,
        seed,
        device,
        metric="cosine",
    )


@dataclass
class TextPruneResult:
    """A pruned text encoder and its table (``rows``: ``stage``, ``params``, ``flops``, ``speedup``,
    ``cosine`` = mean cosine to the original's embeddings on held-out sentences)."""

    model: nn.Module
    method: str
    rows: list[dict[str, Any]]
    history: list[dict[str, float]] = field(default_factory=list)

    @property
    def speedup(self) -> float:
        return self.rows[-1]["speedup"]

    def table(self) -> str:
        lines = ["| stage | params | FLOPs | speed-up | held-out cosine |", "|---|---:|---:|---:|---:|"]
        lines += [
            f"| {r['stage']} | {r['params']:,} | {r['flops']:,} | {r['speedup']:.2f}x | {r['cosine']:.4f} |"
            for r in self.rows
        ]
        return "\n".join(lines)


def prune_text_encoder(
    model: nn.Module,
    tokenizer: Any,
    speedup: float = 2.0,
    method: str = "magnitude",
    sentences: Sequence[str] | None = None,
    *,
    val: int = 64,
    test: int = 128,
    max_length: int = 32,
    epochs: int = 2,
    lr: float = 1e-4,
    batch_size: int = 32,
    structures: Sequence[str] = ("heads", "channels"),
    norm: str = "l1",
    step: float = 0.05,
    seed: int = 0,
    device: torch.device | str = "cpu",
) -> TextPruneResult:
    """Prune ``model`` (a Hugging Face encoder returning ``last_hidden_state``) to ``speedup`` times fewer
    FLOPs and distill it toward the original's mean-pooled embeddings.

    Args:
        sentences: text (default: :func:`docstring_sentences`, 2,000 sentences); the last ``test`` are
            held out for the reported cosine, the ``val`` before them select the distillation epoch.
        method: ``magnitude`` (graph groups) or ``torch_pruning`` (Torch-Pruning's heads + MLP neurons).
        structures: group kinds of the ``magnitude`` route (default heads + MLP neurons).
        epochs, lr, batch_size: distillation (``epochs=0``: none).
    """
    speedup = check_speedup(speedup)
    sentences = list(sentences) if sentences is not None else docstring_sentences(limit=2000, seed=seed)
    if len(sentences) < val + test + 1:
        raise ValueError(f"{len(sentences)} sentences are too few for val={val} and test={test}; give more")
    splits = {"train": sentences[: -(val + test)], "val": sentences[-(val + test) : -test], "test": sentences[-test:]}
    inputs = {k: {n: t.to(device) for n, t in encode(tokenizer, v, max_length).items()} for k, v in splits.items()}
    teacher = copy.deepcopy(model).to(device).eval()
    targets = {k: mean_pooled(teacher, v) for k, v in inputs.items()}
    example = _take(inputs["train"], torch.arange(2))
    base_flops = measure(teacher, example)[0]

    def row(stage: str, net: nn.Module) -> dict[str, Any]:
        flops, params = measure(net, example)
        cos = F.cosine_similarity(mean_pooled(net, inputs["test"]), targets["test"], dim=-1).mean()
        return {"stage": stage, "params": params, "flops": flops, "speedup": base_flops / flops, "cosine": float(cos)}

    rows = [row("original", teacher)]
    if method == "magnitude":
        pruned = prune_to_speedup(teacher, example, speedup, norm, step, structures=structures)
    elif method == "torch_pruning":
        pruned = torch_pruning_to_speedup(teacher, example, speedup, step, heads_and_neurons=True)
    else:
        raise ValueError(f"method must be 'magnitude' or 'torch_pruning' for text encoders, got {method!r}")
    rows.append(row("pruned", pruned))
    history = distill(pruned, inputs, targets, epochs, lr, batch_size, seed, device)
    if epochs > 0:
        rows.append(row("distilled", pruned))
    return TextPruneResult(pruned.eval(), method, rows, history)
