"""Train the model defined in model.py on train.bin and save its weights to model.pt.

    python train.py                 # the defaults in model.TRAINING
    python train.py --steps 6000 --lr 2e-3 --threads 2

Training may use any operation; only the model's forward pass is restricted. The last
10% of train.bin is held out (never trained on) so that `evaluate.py` can check a model
on text it has not seen; pass --holdout 0 to train on everything.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import mlm_data  # noqa: E402
import model as model_module  # noqa: E402


def train_tokens(holdout: float) -> torch.Tensor:
    data = (HERE / "train.bin").read_bytes()
    end = len(data) - int(len(data) * holdout)
    return torch.frombuffer(bytearray(data[:end]), dtype=torch.uint8).long()


def train(
    model: torch.nn.Module,
    tokens: torch.Tensor,
    *,
    steps: int,
    batch: int,
    lr: float,
    warmup: int,
    seq_len: int,
    mask_fraction: float,
    seed: int,
    device: str,
    log_every: int = 250,
) -> torch.nn.Module:
    """AdamW with a linear warm-up and a cosine decay; a fresh random mask every batch."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    model.to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01, betas=(0.9, 0.98))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda s: min(1.0, (s + 1) / max(1, warmup)) * 0.5 * (1 + math.cos(math.pi * min(1.0, s / max(1, steps)))),
    )
    started, running = time.monotonic(), None
    for step in range(1, steps + 1):
        inputs, targets, masked = mlm_data.random_batch(tokens, batch, seq_len, mask_fraction, generator)
        inputs, targets, masked = inputs.to(device), targets.to(device), masked.to(device)
        loss = mlm_data.masked_loss(model(inputs), targets, masked)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        running = loss.item() if running is None else 0.98 * running + 0.02 * loss.item()
        if step % log_every == 0 or step == steps:
            print(f"step {step}/{steps}  loss {running:.4f}  {time.monotonic() - started:.0f} s", flush=True)
    return model.eval()


def main(argv: list[str] | None = None) -> int:
    defaults = {"steps": 3000, "batch": 64, "lr": 3e-3, "warmup": 100, **getattr(model_module, "TRAINING", {})}
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=defaults["steps"])
    parser.add_argument("--batch", type=int, default=defaults["batch"])
    parser.add_argument("--lr", type=float, default=defaults["lr"])
    parser.add_argument("--warmup", type=int, default=defaults["warmup"])
    parser.add_argument("--seq-len", type=int, default=mlm_data.SCALE["seq_len"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--holdout", type=float, default=0.1, help="fraction of train.bin kept for evaluate.py")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--out", type=Path, default=model_module.WEIGHTS)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)  # the initial weights, too, come from the seed
    model = model_module.Model()
    print(f"{sum(p.numel() for p in model.parameters()):,} parameters on {args.device}", flush=True)
    train(
        model,
        train_tokens(args.holdout),
        steps=args.steps,
        batch=args.batch,
        lr=args.lr,
        warmup=args.warmup,
        seq_len=args.seq_len,
        mask_fraction=mlm_data.SCALE["mask_fraction"],
        seed=args.seed,
        device=args.device,
    )
    torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, args.out)
    print(f"saved {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
