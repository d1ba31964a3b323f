"""Tokenize, finetune and save in one process (the reference solution of finetune_runtime)."""

import json
import sys

import torch
import torch.nn.functional as F
from model import GPT, GPTConfig


def main():
    with open(sys.argv[1] if len(sys.argv) > 1 else "config.json") as f:
        config = json.load(f)
    # One thread: this model's operations are too small to gain from more (and more threads
    # slow down badly on a shared machine).
    torch.set_num_threads(1)
    device = config["device"]
    with open(config["train_file"], "rb") as f:
        tokens = torch.frombuffer(bytearray(f.read()), dtype=torch.uint8).long()  # byte-level tokens

    cfg = GPTConfig(**config["model"])
    model = GPT(cfg)
    base = torch.load(config["base_model"], map_location="cpu", weights_only=True)
    model.load_state_dict({k: v.float() for k, v in base.items()})
    model.to(device).train()
    params = list(model.parameters())
    opt = torch.optim.AdamW(
        params, lr=config["lr"], betas=tuple(config["betas"]), eps=1e-8, weight_decay=config["weight_decay"]
    )
    gen = torch.Generator().manual_seed(config["seed"])
    data = tokens.to(device)
    block, batch = cfg.block_size, config["batch_size"]
    offsets = torch.arange(block + 1, device=device)
    for step in range(config["steps"]):
        warmup = config["warmup_steps"]
        lr = config["lr"] * (step + 1) / warmup if step < warmup else config["lr"]
        for group in opt.param_groups:
            group["lr"] = lr
        starts = torch.randint(0, len(tokens) - block - 1, (batch,), generator=gen).to(device)
        windows = data[starts[:, None] + offsets[None, :]]
        logits, _ = model(windows[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), windows[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, config["grad_clip"])
        opt.step()
    torch.save({k: v.detach().float().cpu() for k, v in model.state_dict().items()}, config["output"])


if __name__ == "__main__":
    main()
