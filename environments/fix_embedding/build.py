"""Build the fix_embedding models: `python -m environments.fix_embedding.build --scale cpu`.

Writes to data/fix_embedding/ (float16 state dicts load as float32):

- small_<scale>.pt: the intact helper model, trained with the public seed in settings.py
  (deterministic, one thread on CPU);
- reference/original_<scale>.pt: the large model, uncorrupted. Its training seed (the
  initial weights and the batches) is drawn from os.urandom and recorded only in
  reference/reference_<scale>.json: a public seed would let a participant rebuild the
  initial embedding, whose rows stay close enough to the trained ones to match most of
  them back (213 of 258 rows of the first cpu build, with no other work).
  `--seed N` retrains from a recorded seed;
- reference/reference_<scale>.json (protected): that seed; the reference repair
  (environments.fix_embedding.reference.repair, itself protected: it is the reference
  solution), run on `--reference-runs` fresh random corruptions, the run of lowest loss on
  the training text kept (restarts: a run can stall), expressed in the original's rows:
  `source_rows[b]` is the original row the repair put at byte b, so `install_reference`
  applies it under any session's permutation;
- meta_<scale>.json (public): the configurations, the held-out losses of the original
  and small models, the typical corrupted loss over random permutations (`start_raw`:
  each session's permutation is redrawn until its corrupted model scores near it) and
  the timings. Nothing in it depends on a session's permutation. The surrogate that
  screens those draws (`start_model`) is kept in reference_<scale>.json.

The corrupted model is made per session at `prepare` (environments.fix_embedding.corruption).

    --part small|large|reference|start   only that step (default: large, reference, start;
                                          the small model is rebuilt only when asked)
"""

from __future__ import annotations

import argparse
import json
import math
import secrets
import statistics
import time
from pathlib import Path

from environments.base import DATA_DIR
from environments.fix_embedding.settings import FLOOR, SCALES, files

_DATA = DATA_DIR / "fix_embedding"
CHECK_BYTES = 65536  # the workspace's check.py evaluates the last 64 KiB of train.bin


def _read(path: Path) -> dict:
    return json.loads(path.read_text()) if path.exists() else {}


def _write(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1) + "\n")


def _train(scale: str, name: str, seed: int, device: str):
    """Train the `name` model of `scale` from `seed` (initial weights and batches); float16 state, seconds."""
    import torch

    from environments import tiny_gpt
    from environments.text_corpus import build_corpus

    params = SCALES[scale]
    config = tiny_gpt.GPTConfig(**params[name])
    train_cfg = tiny_gpt.TrainConfig(**{**params[f"{name}_train"], "seed": seed})
    torch.manual_seed(seed)
    model = tiny_gpt.GPT(config).to(device)
    started = time.perf_counter()
    tiny_gpt.train(model, build_corpus().train, train_cfg, log=lambda _: None)
    seconds = round(time.perf_counter() - started, 1)
    return {k: v.detach().cpu().to(torch.float16) for k, v in model.state_dict().items()}, seconds


def _loss(state: dict, config_params: dict, text: bytes | None = None) -> float:
    """The held-out loss (or the loss on `text`)."""
    from environments import tiny_gpt
    from environments.text_corpus import build_corpus

    model = tiny_gpt.GPT(tiny_gpt.GPTConfig(**config_params))
    model.load_state_dict({k: v.float() for k, v in state.items()})
    return tiny_gpt.evaluate(model, build_corpus().validation if text is None else text)


def build_small(scale: str, device: str) -> tuple[dict, dict]:
    """The public helper model, from the public seed in settings.py."""
    import torch

    from environments import tiny_gpt

    params = SCALES[scale]
    state, seconds = _train(scale, "small", params["small_train"]["seed"], device)
    torch.save(state, _DATA / files(scale)["small"])
    meta = {"small_train_seconds": seconds, "small_n_params": tiny_gpt.n_params(tiny_gpt.GPTConfig(**params["small"]))}
    meta["small_loss"] = _loss(state, params["small"])
    print(f"small: {seconds} s, loss {meta['small_loss']:.4f}", flush=True)
    return meta, {}


def build_large(scale: str, device: str, seed: int | None) -> tuple[dict, dict]:
    """Train the original large model from a secret seed (or a recorded one). A new original
    voids the reference repair and the start model: rerun those parts."""
    import torch

    from environments import tiny_gpt

    seed = secrets.randbits(62) if seed is None else seed
    state, seconds = _train(scale, "large", seed, device)
    path = _DATA / files(scale)["original"]
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, path)
    config = tiny_gpt.GPTConfig(**SCALES[scale]["large"])
    meta = {"large_train_seconds": seconds, "large_n_params": tiny_gpt.n_params(config)}
    meta["original_loss"] = _loss(state, SCALES[scale]["large"])
    print(f"large: {seconds} s, loss {meta['original_loss']:.4f}", flush=True)
    return meta, {"large_seed": seed}


def _repair_once(scale: str, original: dict, train: bytes) -> dict:
    """The reference repair on one fresh random corruption, in the original's rows."""
    import torch

    from environments import tiny_gpt
    from environments.fix_embedding.corruption import corrupt, draw_permutation, repair_with
    from environments.fix_embedding.reference.repair import recover_rows

    config = tiny_gpt.GPTConfig(**SCALES[scale]["large"])
    permutation = draw_permutation(config.vocab_size)
    corrupted = corrupt(original, permutation)
    model = tiny_gpt.GPT(config)
    model.load_state_dict({k: v.float() for k, v in corrupted.items()})
    started = time.perf_counter()
    rows = recover_rows(model, train, log=lambda _: None)
    seconds = round(time.perf_counter() - started, 1)
    source = [permutation[r] for r in rows]  # fixed wte[b] = corrupted wte[rows[b]] = original wte[source[b]]
    fixed = repair_with(corrupted, rows)
    assert torch.equal(fixed["wte.weight"], original["wte.weight"][torch.tensor(source)])
    run = {
        "source_rows": source,
        "rows_correct": sum(int(s == b) for b, s in enumerate(source)),
        "train_loss": _loss(fixed, SCALES[scale]["large"], train[-CHECK_BYTES:]),
        "loss": _loss(fixed, SCALES[scale]["large"]),
        "seconds": seconds,
    }
    print(
        f"reference repair: {seconds} s, {run['rows_correct']}/{len(source)} rows right,"
        f" loss {run['loss']:.4f} (train {run['train_loss']:.4f})",
        flush=True,
    )
    return run


def build_reference(scale: str, runs: int) -> tuple[dict, dict]:
    """The reference repair with restarts: run it on `runs` fresh random corruptions and keep the
    run of lowest loss on the end of the training text (what a participant can measure: check.py's
    slice; the held-out loss plays no part in the choice). Records every run, in the original's rows.

    Restarts because the alternating assignment can stall: on the first original of this build,
    one run of two placed 20 rows right (held-out loss 3.90), the other 97 (1.65)."""
    import torch

    from environments.text_corpus import build_corpus

    original = torch.load(_DATA / files(scale)["original"], map_location="cpu", weights_only=True)
    train = build_corpus().train
    done = [_repair_once(scale, original, train) for _ in range(runs)]
    kept = min(done, key=lambda r: r["train_loss"])
    reference = {**kept, "runs": done}
    seconds = round(sum(r["seconds"] for r in done), 1)
    return {"reference_loss": kept["loss"], "reference_seconds": seconds, "reference_runs": runs}, reference


def build_start(scale: str, draws: int) -> tuple[dict, dict]:
    """The corrupted model's held-out raw score over `draws` random permutations: its median is the
    target each session's corruption is drawn near (`start_raw`, public), and the surrogate that
    screens the draws (environments.fix_embedding.corruption.StartModel) is fitted to them."""
    import numpy as np
    import torch

    from environments import tiny_gpt
    from environments.fix_embedding.corruption import (
        StartModel,
        byte_frequencies,
        corrupt,
        draw_permutation,
        generic_cost,
        held_out_raw,
        surrogate,
    )
    from environments.text_corpus import build_corpus

    config = tiny_gpt.GPTConfig(**SCALES[scale]["large"])
    original = torch.load(_DATA / files(scale)["original"], map_location="cpu", weights_only=True)
    corpus = build_corpus()
    text = corpus.validation
    cost = generic_cost(original, config, corpus.train)
    freq = byte_frequencies(text, config.vocab_size)
    model = tiny_gpt.GPT(config)
    raws, surrogates = [], []
    for _ in range(draws):
        permutation = draw_permutation(config.vocab_size)
        model.load_state_dict({k: v.float() for k, v in corrupt(original, permutation).items()})
        raws.append(held_out_raw(model, text, FLOOR))
        surrogates.append(surrogate(permutation, cost, freq))
    slope, intercept = np.polyfit(surrogates, raws, 1)
    residual = np.asarray(raws) - (slope * np.asarray(surrogates) + intercept)
    meta: dict = {"start_raw": statistics.median(raws)}
    meta["start_raw_sd"] = statistics.stdev(raws)
    meta["start_raw_range"] = [min(raws), max(raws)]
    meta["start_draws"] = draws
    meta["start_surrogate"] = {
        "correlation": float(np.corrcoef(surrogates, raws)[0, 1]),
        "residual_sd": float(residual.std()),
    }
    meta["corrupted_loss"] = FLOOR + math.exp(meta["start_raw"])
    print(f"start: median raw {meta['start_raw']:.4f} (loss {meta['corrupted_loss']:.3f}), {meta['start_surrogate']}")
    return meta, {"start_model": StartModel(cost, float(slope), float(intercept)).to_json()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", default="cpu", choices=sorted(SCALES))
    parser.add_argument("--part", choices=["small", "large", "reference", "start"], action="append")
    parser.add_argument("--seed", type=int, help="retrain the large model from this recorded seed")
    parser.add_argument("--start-draws", type=int, default=64)
    parser.add_argument("--reference-runs", type=int, default=3, help="restarts of the repair")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True, warn_only=True)
    device = "cuda" if args.scale == "gpu" and torch.cuda.is_available() else "cpu"
    parts = args.part or ["large", "reference", "start"]
    meta_path, reference_path = _DATA / files(args.scale)["meta"], _DATA / files(args.scale)["reference"]
    steps = {
        "small": lambda: build_small(args.scale, device),
        "large": lambda: build_large(args.scale, device, args.seed),
        "reference": lambda: build_reference(args.scale, args.reference_runs),
        "start": lambda: build_start(args.scale, args.start_draws),
    }
    for part in ("small", "large", "reference", "start"):
        if part not in parts:
            continue
        meta_update, reference_update = steps[part]()
        # Read again and write at once after each step: a step takes minutes to an hour.
        stale = {"reference_rows", "reference_rows_correct"}  # the fixed corruption's repair, before per-session ones
        meta = {k: v for k, v in _read(meta_path).items() if k not in stale}
        meta |= {"scale": args.scale, "large": SCALES[args.scale]["large"], "small": SCALES[args.scale]["small"]}
        _write(meta_path, meta | meta_update | {"torch": torch.__version__})
        if reference_update:
            reference = {} if part == "large" else _read(reference_path)  # a new original voids the rest
            _write(reference_path, reference | reference_update)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
