"""Build the fix_embedding models: `python -m environments.fix_embedding.build --scale cpu`.

Deterministic (fixed seeds, one thread on CPU): trains the large and the small model on
the shared corpus's training text, permutes the large model's embedding rows with
PERMUTATION_SEED, and writes to data/fix_embedding/:

- large_corrupted_<scale>.pt, small_<scale>.pt: float16 state dicts (load as float32);
- meta_<scale>.json: the configurations, the held-out losses of the original, corrupted
  and small models (measured on the float16 weights), and the timings.

`--reference` then runs the reference repair (environments.fix_embedding.repair) on the
shipped corrupted model and records the recovered rows in the meta file, where
`install_reference` applies them. The original, uncorrupted model is not shipped.
"""

from __future__ import annotations

import argparse
import json
import time

from environments.base import DATA_DIR
from environments.fix_embedding.settings import PERMUTATION_SEED, SCALES, files


def permutation(vocab_size: int):
    """perm such that corrupted wte[i] = original wte[perm[i]]."""
    import torch

    return torch.randperm(vocab_size, generator=torch.Generator().manual_seed(PERMUTATION_SEED))


def build_models(scale: str, device: str) -> dict:
    import torch

    from environments import tiny_gpt
    from environments.text_corpus import build_corpus

    corpus = build_corpus()
    params = SCALES[scale]
    out = DATA_DIR / "fix_embedding"
    out.mkdir(parents=True, exist_ok=True)
    meta: dict = {"scale": scale, "large": params["large"], "small": params["small"], "torch": torch.__version__}
    for name in ("small", "large"):
        config = tiny_gpt.GPTConfig(**params[name])
        train_cfg = tiny_gpt.TrainConfig(**params[f"{name}_train"])
        torch.manual_seed(train_cfg.seed)
        model = tiny_gpt.GPT(config).to(device)
        started = time.perf_counter()
        tiny_gpt.train(model, corpus.train, train_cfg, log=lambda _: None)
        seconds = time.perf_counter() - started
        state = {k: v.detach().cpu().to(torch.float16) for k, v in model.state_dict().items()}
        model = tiny_gpt.GPT(config)
        model.load_state_dict({k: v.float() for k, v in state.items()})
        loss = tiny_gpt.evaluate(model, corpus.validation)
        meta[f"{name}_train_seconds"] = round(seconds, 1)
        meta[f"{name}_n_params"] = tiny_gpt.n_params(config)
        if name == "small":
            meta["small_loss"] = loss
            torch.save(state, out / files(scale)["small"])
        else:
            meta["original_loss"] = loss
            state["wte.weight"] = state["wte.weight"][permutation(config.vocab_size)].clone()
            model.load_state_dict({k: v.float() for k, v in state.items()})
            meta["corrupted_loss"] = tiny_gpt.evaluate(model, corpus.validation)
            torch.save(state, out / files(scale)["large"])
        print(f"{name}: {meta[f'{name}_train_seconds']} s, loss {loss:.4f}", flush=True)
    print(f"corrupted: loss {meta['corrupted_loss']:.4f}", flush=True)
    return meta


def build_reference(scale: str, meta: dict) -> dict:
    import torch

    from environments import tiny_gpt
    from environments.fix_embedding.repair import apply_rows, recover_rows
    from environments.text_corpus import build_corpus

    corpus = build_corpus()
    config = tiny_gpt.GPTConfig(**SCALES[scale]["large"])
    model = tiny_gpt.load(DATA_DIR / "fix_embedding" / files(scale)["large"], config)
    started = time.perf_counter()
    rows = recover_rows(model, corpus.train, log=lambda _: None)
    meta["reference_seconds"] = round(time.perf_counter() - started, 1)
    meta["reference_rows"] = rows
    inverse = torch.argsort(permutation(config.vocab_size)).tolist()
    meta["reference_rows_correct"] = sum(int(r == i) for r, i in zip(rows, inverse, strict=True))
    model.load_state_dict(apply_rows(model.state_dict(), rows))
    meta["reference_loss"] = tiny_gpt.evaluate(model, corpus.validation)
    print(
        f"reference: {meta['reference_seconds']} s, {meta['reference_rows_correct']}/{len(rows)} rows right,"
        f" loss {meta['reference_loss']:.4f}",
        flush=True,
    )
    return meta


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", default="cpu", choices=sorted(SCALES))
    parser.add_argument("--reference", action="store_true", help="only (re)run the reference repair")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True, warn_only=True)
    device = "cuda" if args.scale == "gpu" and torch.cuda.is_available() else "cpu"
    path = DATA_DIR / "fix_embedding" / files(args.scale)["meta"]
    if args.reference:
        meta = json.loads(path.read_text())
    else:
        meta = build_models(args.scale, device)
        path.write_text(json.dumps(meta, indent=1))
    meta = build_reference(args.scale, meta)
    path.write_text(json.dumps(meta, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
