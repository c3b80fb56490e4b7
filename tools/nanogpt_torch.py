"""nanoGPT's shakespeare_char CPU recipe restated in PyTorch eager: the reference for the README's figures.

    python tools/nanogpt_torch.py --data=tinyshakespeare.txt --seed=1337   # train 2000 steps, then evaluate
    python tools/nanogpt_torch.py --data=tinyshakespeare.txt --bench       # milliseconds per step

The model and loop are nanoGPT's model.py / train.py at the configuration of
`experiments/shakespeare_char.py:cpu` (4 layers, 4 heads, d_model 128, context 64, batch 12, AdamW
(0.9, 0.99) with weight decay 0.1 on every >= 2-dim weight, lr 1e-3 with 100 warmup steps and cosine
decay to 1e-4 at step 2000, clipping 1.0, no dropout, no biases, tied embeddings). Like nanoGPT it
estimates the losses from 20 random batches every 250 steps, which also draws from the same random
stream as nanoGPT does. At the end it prints the validation loss two ways: nanoGPT's estimate, and over
the whole split in windows of the context (what `launch.py` reports as eval/loss).

tests/test_reference.py checks that our training of this model equals lm's step for step, and that
the learning-rate schedule is ours. Needs torch (requirements-test.txt).
"""

import argparse
import math
import statistics
import time

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F


class Block(nn.Module):
    """nanoGPT's pre-norm block without biases: causal self-attention, then a GELU MLP."""

    def __init__(self, d_model: int, num_heads: int):
        super().__init__()
        self.num_heads = num_heads
        self.ln_1, self.ln_2 = nn.LayerNorm(d_model, bias=False), nn.LayerNorm(d_model, bias=False)
        self.c_attn = nn.Linear(d_model, 3 * d_model, bias=False)
        self.c_proj = nn.Linear(d_model, d_model, bias=False)
        self.c_fc = nn.Linear(d_model, 4 * d_model, bias=False)
        self.mlp_proj = nn.Linear(4 * d_model, d_model, bias=False)

    def forward(self, x):
        b, t, d = x.shape
        heads = self.c_attn(self.ln_1(x)).split(d, dim=2)
        q, k, v = (z.view(b, t, self.num_heads, d // self.num_heads).transpose(1, 2) for z in heads)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(b, t, d)
        x = x + self.c_proj(y)
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x))))


class GPT(nn.Module):
    """nanoGPT's GPT: learned positions, tied head, N(0, 0.02) init, residual projections / sqrt(2 L)."""

    def __init__(self, vocab_size: int, num_layers: int, num_heads: int, d_model: int, context: int):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(vocab_size, d_model), nn.Embedding(context, d_model)
        self.h = nn.ModuleList([Block(d_model, num_heads) for _ in range(num_layers)])
        self.ln_f = nn.LayerNorm(d_model, bias=False)
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, 0.0, 0.02)
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight") or name.endswith("mlp_proj.weight"):
                nn.init.normal_(p, 0.0, 0.02 / math.sqrt(2 * num_layers))

    def forward(self, idx, targets):
        """The loss of every target token, [B, T]."""
        x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1]))
        for block in self.h:
            x = block(x)
        logits = self.ln_f(x) @ self.wte.weight.T
        return F.cross_entropy(logits.flatten(0, 1), targets.flatten(), reduction="none").view(targets.shape)


def make_optimizer(model: GPT, learning_rate: float, weight_decay: float = 0.1, betas=(0.9, 0.99)):
    """nanoGPT's configure_optimizers: weight decay on every weight with >= 2 dims, none on the rest."""
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=learning_rate, betas=betas)


def nanogpt_lr(it: int, peak=1e-3, floor=1e-4, warmup=100, decay_steps=2000) -> float:
    """nanoGPT's get_lr: linear warmup from peak / (warmup + 1), then cosine to the floor."""
    if it < warmup:
        return peak * (it + 1) / (warmup + 1)
    if it > decay_steps:
        return floor
    ratio = (it - warmup) / (decay_steps - warmup)
    return floor + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (peak - floor)


def get_batch(data: torch.Tensor, batch_size: int, context: int):
    """nanoGPT's get_batch: windows at random offsets, from torch's global generator."""
    ix = torch.randint(len(data) - context, (batch_size,))
    return torch.stack([data[i : i + context] for i in ix]), torch.stack([data[i + 1 : i + 1 + context] for i in ix])


@torch.no_grad()
def estimate_loss(model: GPT, data: torch.Tensor, batch_size: int, context: int, batches: int = 20) -> float:
    """nanoGPT's estimate_loss for one split: the mean loss of `batches` random batches."""
    return float(np.mean([model(*get_batch(data, batch_size, context)).mean().item() for _ in range(batches)]))


@torch.no_grad()
def whole_split_loss(model: GPT, data: torch.Tensor, context: int, batch_size: int = 64) -> float:
    """The mean loss over every token of the split, in consecutive windows of the context (the last one
    shorter), as lm's eval computes it."""
    starts = list(range(0, len(data) - 1, context))
    total, count = 0.0, 0
    for first in range(0, len(starts), batch_size):
        windows = [(s, min(s + context, len(data) - 1)) for s in starts[first : first + batch_size]]
        for length in sorted({end - s for s, end in windows}):  # the last window may be shorter
            same = [s for s, end in windows if end - s == length]
            x = torch.stack([data[s : s + length] for s in same])
            y = torch.stack([data[s + 1 : s + 1 + length] for s in same])
            losses = model(x, y)
            total, count = total + losses.sum().item(), count + losses.numel()
    return total / count


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, help="the tiny Shakespeare text (input.txt)")
    parser.add_argument("--seed", type=int, default=1337, help="nanoGPT's default is 1337")
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--eval_interval", type=int, default=250)
    parser.add_argument("--bench", action="store_true", help="only time 100 steps (after 10 warm-up steps)")
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    with open(args.data, encoding="utf-8") as f:
        text = f.read()
    chars = sorted(set(text))  # nanoGPT's data/shakespeare_char/prepare.py
    stoi = {c: i for i, c in enumerate(chars)}
    data = torch.tensor([stoi[c] for c in text], dtype=torch.int64)
    n = int(len(data) * 0.9)
    train, val = data[:n], data[n:]
    batch_size, context = 12, 64
    model = GPT(len(chars), num_layers=4, num_heads=4, d_model=128, context=context)
    opt = make_optimizer(model, nanogpt_lr(0))
    print(
        f"{len(chars)} characters | {len(train):,} train / {len(val):,} val tokens | torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads"
    )

    def train_step(it):
        for group in opt.param_groups:
            group["lr"] = nanogpt_lr(it)
        loss = model(*get_batch(train, batch_size, context)).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return loss.item()

    if args.bench:
        times = []
        for it in range(110):
            start = time.perf_counter()
            train_step(it)
            times.append(time.perf_counter() - start)
        times = sorted(times[10:])
        print(
            f"step {1000 * statistics.median(times):.2f} ms median (min {1000 * times[0]:.2f}, max "
            f"{1000 * times[-1]:.2f}, 100 steps) | {batch_size * context / statistics.median(times):,.0f} tokens/s"
        )
        return

    start = time.perf_counter()
    for it in range(args.steps + 1):
        if it % args.eval_interval == 0 or it == args.steps:
            model.eval()
            train_loss = estimate_loss(model, train, batch_size, context)
            val_loss = estimate_loss(model, val, batch_size, context)
            model.train()
            print(
                f"step {it}: train loss {train_loss:.4f}, val loss {val_loss:.4f} ({time.perf_counter() - start:.0f} s)"
            )
        if it == args.steps:
            break
        train_step(it)
    model.eval()
    print(
        f"step {args.steps}: val loss over the whole split {whole_split_loss(model, val, context):.4f} "
        f"(nanoGPT's 20-batch estimate: {val_loss:.4f})"
    )


if __name__ == "__main__":
    main()
