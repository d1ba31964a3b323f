"""Stage 1: tokenize the training and validation text into work/*_tokens.json.

The tokenizer is byte-level: every character becomes the token ids of its UTF-8 bytes
(ids 0-255; the model's vocabulary also has two unused specials, 256 and 257).
"""

import argparse
import json


def build_vocab():
    vocab = {}
    for i in range(256):
        vocab[bytes([i])] = i
    return vocab


def tokenize(text, vocab):
    tokens = []
    lines = text.split("\n")
    for n, line in enumerate(lines):
        for ch in line:
            for b in ch.encode("utf-8"):
                tokens.append(vocab[bytes([b])])
        if n < len(lines) - 1:
            tokens.append(vocab[b"\n"])
    return tokens


def detokenize(tokens):
    return bytes([t for t in tokens if t < 256]).decode("utf-8", errors="ignore")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", default="config.json")
    args = parser.parse_args()
    with open(args.config) as f:
        config = json.load(f)
    for split, key in (("train", "train_file"), ("valid", "valid_file")):
        with open(config[key], encoding="utf-8") as f:
            text = f.read()
        tokens = tokenize(text, build_vocab())
        # Sanity check: the tokenization must round-trip.
        for i in range(0, len(tokens), 4096):
            assert detokenize(tokens[: i + 4096]) == text[: len(detokenize(tokens[: i + 4096]))]
        with open(f"work/{split}_tokens.json", "w") as f:
            json.dump({"split": split, "tokens": tokens}, f, indent=1)
        print(f"{split}: {len(text)} characters -> {len(tokens)} tokens")


if __name__ == "__main__":
    main()
