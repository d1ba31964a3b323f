"""Stage 2: finetune the base model on the tokenized data; checkpoints go to work/.

The data order is set by config["seed"]: at each step the window starts of the batch are
torch.randint(0, len(tokens) - block_size - 1, (batch_size,), generator=gen) with
gen = torch.Generator().manual_seed(seed). The loss is the mean cross-entropy over all
targets of the batch; AdamW, gradient clipping, linear warm-up then a constant learning rate.
"""

import argparse
import json
import time

import torch
from model import GPT, GPTConfig


def load_tokens(path):
    with open(path) as f:
        return torch.tensor(json.load(f)["tokens"], dtype=torch.long)


def learning_rate(step, config):
    if step < config["warmup_steps"]:
        return config["lr"] * (step + 1) / config["warmup_steps"]
    return config["lr"]


@torch.no_grad()
def validation_loss(model, valid, block_size, n_windows=32):
    model.eval()
    losses = []
    for i in range(n_windows):
        s = i * block_size
        x = valid[s : s + block_size].unsqueeze(0)
        y = valid[s + 1 : s + block_size + 1].unsqueeze(0)
        _, loss = model(x, y)
        losses.append(loss.item())
    model.train()
    return sum(losses) / len(losses)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", default="config.json")
    args = parser.parse_args()
    with open(args.config) as f:
        config = json.load(f)

    torch.set_num_threads(1)
    device = config["device"]
    model_config = GPTConfig(**config["model"])
    block_size, batch_size = model_config.block_size, config["batch_size"]

    model = GPT(model_config)
    base = torch.load(config["base_model"], map_location="cpu", weights_only=True)
    model.load_state_dict({k: v.float() for k, v in base.items()})
    model = model.to(device).double()  # full precision, to be safe
    model.train()

    gen = torch.Generator().manual_seed(config["seed"])
    optimizer = torch.optim.AdamW(
        model.parameters(),
        lr=config["lr"],
        betas=tuple(config["betas"]),
        eps=1e-8,
        weight_decay=config["weight_decay"],
    )

    started = time.time()
    for step in range(config["steps"]):
        # Always read the latest tokens.
        train_tokens = load_tokens("work/train_tokens.json")
        valid_tokens = load_tokens("work/valid_tokens.json")
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step, config)

        starts = torch.randint(0, len(train_tokens) - block_size - 1, (batch_size,), generator=gen)
        optimizer.zero_grad()
        total = 0.0
        for i in range(batch_size):  # one sample at a time
            s = int(starts[i])
            x = train_tokens[s : s + block_size].unsqueeze(0).to(device)
            y = train_tokens[s + 1 : s + block_size + 1].unsqueeze(0).to(device)
            _, loss = model(x, y)
            (loss / batch_size).backward()
            total += loss.item() / batch_size
        torch.nn.utils.clip_grad_norm_(model.parameters(), config["grad_clip"])
        optimizer.step()

        val = validation_loss(model, valid_tokens.to(device), block_size)
        torch.save(
            {"step": step, "model": model.state_dict(), "optimizer": optimizer.state_dict(), "config": config},
            "work/checkpoint.pt",
        )
        torch.save(model.state_dict(), f"work/model_step{step:05d}.pt")
        print(f"step {step + 1}/{config['steps']}: loss {total:.4f}, val {val:.4f}, {time.time() - started:.1f} s")


if __name__ == "__main__":
    main()
