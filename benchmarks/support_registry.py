"""Registry-wide support sweep (issue 25 item 4), transformers part: every model type of the auto-mapping.

Run: nice -n 10 env OMP_NUM_THREADS=1 python benchmarks/support_registry.py [--cache /work/exp/n5/hf.json]
     [--only bert gpt2 ...] [--timeout 120]

For each model type, the base model is built from its default config shrunk to a tiny width (the common size
fields, where the config has them) and run on random token ids; then ``support_table.check`` (torch.export)
converts it, checks the exact round trip and two random permutations. Results are cached per model type in a
JSON file (resume: a type already in the cache is not run again). A permuted copy that computes something else
prints ``WRONG`` and is counted separately: it is a bug, never a refusal. torchvision and timm are not swept yet.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from support_table import check  # noqa: E402

from netgraph.io import write_text  # noqa: E402

SMALL = {
    "hidden_size": 32,
    "d_model": 32,
    "n_embd": 32,
    "num_hidden_layers": 2,
    "num_layers": 2,
    "n_layer": 2,
    "num_attention_heads": 4,
    "n_head": 4,
    "num_key_value_heads": 2,
    "intermediate_size": 64,
    "ffn_dim": 64,
    "d_ff": 64,
    "vocab_size": 128,
    "max_position_embeddings": 64,
}


class _Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise _Timeout


def small_config(model_type: str):
    from transformers import CONFIG_MAPPING

    config = CONFIG_MAPPING[model_type]()
    for key, value in SMALL.items():
        if hasattr(config, key) and isinstance(getattr(config, key), int):
            setattr(config, key, value)
    return config


def sweep_one(model_type: str, timeout: int) -> dict:
    """{status, groups} of one model type; status starts with yes / WRONG / CRASH / no: / skip:."""
    from transformers import AutoModel

    signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(timeout)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            config = small_config(model_type)
            model = AutoModel.from_config(config).eval()
            ids = torch.randint(0, 100, (1, 8))
            model(input_ids=ids)
    except _Timeout:
        signal.alarm(0)
        return {"status": f"skip: building or running over {timeout} s", "groups": ""}
    except Exception as err:  # a model that cannot be built small or run on token ids is a recorded skip
        signal.alarm(0)
        first = (str(err).splitlines() or [""])[0][:160]
        return {"status": f"skip: {type(err).__name__}: {first}", "groups": ""}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            status, groups = check(lambda: model, lambda: {"input_ids": ids}, "export")
    except _Timeout:
        return {"status": f"no: conversion over {timeout} s", "groups": ""}
    except Exception as err:  # not an UnsupportedModuleError: a netgraph or torch crash, a bug to fix
        first = (str(err).splitlines() or [""])[0][:160]
        return {"status": f"CRASH: {type(err).__name__}: {first}", "groups": ""}
    finally:
        signal.alarm(0)
    return {"status": status, "groups": groups}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cache", default="/work/exp/n5/hf.json")
    parser.add_argument("--only", nargs="*", default=None)
    parser.add_argument("--timeout", type=int, default=120)
    args = parser.parse_args()
    torch.set_num_threads(1)
    from transformers.models.auto.modeling_auto import MODEL_MAPPING_NAMES

    cache = Path(args.cache)
    results = json.loads(cache.read_text()) if cache.exists() else {}
    for model_type in sorted(args.only or MODEL_MAPPING_NAMES):
        if model_type in results:
            continue
        results[model_type] = sweep_one(model_type, args.timeout)
        print(model_type, results[model_type], flush=True)
        cache.parent.mkdir(parents=True, exist_ok=True)
        write_text(cache, json.dumps(results, indent=1, sort_keys=True))
    done = [r for r in results.values() if not r["status"].startswith("skip")]
    kept = [r for r in done if r["status"].startswith("yes") and r["groups"]]
    wrong = [r for r in done if r["status"].startswith("WRONG")]
    crashed = [r for r in done if r["status"].startswith("CRASH")]
    print(
        f"{len(kept)}/{len(done)} run types converted+exact+permutation-kept with groups; {len(wrong)} WRONG; {len(crashed)} crashed "
        f"{len(results) - len(done)} skipped"
    )


if __name__ == "__main__":
    main()
