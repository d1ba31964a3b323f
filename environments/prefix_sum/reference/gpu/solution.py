"""Reference GPU solution: a three-kernel Triton scan.

1. `_summarize`: each block of BLOCK values gives (sum of values at odd local parity,
   sum of all values, parity of its positives), as if no positive came before it.
2. `_carries`: one program scans those summaries, CHUNK at a time, into the (sum, parity)
   entering every block.
3. `_scan`: each block scans itself again, starting from its carry.
The input is read twice and the output written once. Summaries compose associatively:
a block entered at odd parity contributes (all - odd) instead of odd.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

BLOCK = 4096
CHUNK = 1024
NUM_WARPS = 8


@triton.jit
def _combine(a_odd, a_all, a_par, b_odd, b_all, b_par):
    return a_odd + tl.where(a_par != 0, b_all - b_odd, b_odd), a_all + b_all, a_par ^ b_par


@triton.jit
def _summarize(x_ptr, odd_ptr, all_ptr, par_ptr, n, BLOCK: tl.constexpr):
    pid = tl.program_id(0)
    offs = pid.to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    x = tl.load(x_ptr + offs, mask=offs < n, other=0)
    positive = (x > 0).to(tl.int32)
    before = tl.cumsum(positive, 0) - positive
    tl.store(odd_ptr + pid, tl.sum(tl.where((before & 1) != 0, x, 0), 0))
    tl.store(all_ptr + pid, tl.sum(x, 0))
    tl.store(par_ptr + pid, tl.sum(positive, 0) & 1)


@triton.jit
def _carries(odd_ptr, all_ptr, par_ptr, carry_sum_ptr, carry_par_ptr, blocks, CHUNK: tl.constexpr):
    idx = tl.arange(0, CHUNK)
    carry_sum = tl.sum(idx * 0, 0)  # int32 scalars that live across chunks
    carry_par = tl.sum(idx * 0, 0)
    tl.store(carry_sum_ptr, carry_sum)
    tl.store(carry_par_ptr, carry_par)
    for start in range(0, blocks, CHUNK):
        offs = start + idx
        valid = offs < blocks
        odd = tl.load(odd_ptr + offs, mask=valid, other=0)  # zeros are the identity of _combine
        total = tl.load(all_ptr + offs, mask=valid, other=0)
        par = tl.load(par_ptr + offs, mask=valid, other=0)
        s_odd, s_all, s_par = tl.associative_scan((odd, total, par), 0, _combine)
        after_sum = carry_sum + tl.where(carry_par != 0, s_all - s_odd, s_odd)
        after_par = carry_par ^ s_par
        following = offs + 1
        tl.store(carry_sum_ptr + following, after_sum, mask=following < blocks)
        tl.store(carry_par_ptr + following, after_par, mask=following < blocks)
        carry_sum = tl.sum(tl.where(idx == CHUNK - 1, after_sum, 0), 0)
        carry_par = tl.sum(tl.where(idx == CHUNK - 1, after_par, 0), 0)


@triton.jit
def _scan(x_ptr, y_ptr, carry_sum_ptr, carry_par_ptr, n, BLOCK: tl.constexpr):
    pid = tl.program_id(0)
    offs = pid.to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    x = tl.load(x_ptr + offs, mask=mask, other=0)
    positive = (x > 0).to(tl.int32)
    before = tl.cumsum(positive, 0) - positive + tl.load(carry_par_ptr + pid)
    y = tl.cumsum(tl.where((before & 1) != 0, x, 0), 0) + tl.load(carry_sum_ptr + pid)
    tl.store(y_ptr + offs, y, mask=mask)


def prefix_sum(
    x: torch.Tensor, block: int = BLOCK, chunk: int = CHUNK, out: torch.Tensor | None = None
) -> torch.Tensor:
    """The scan of x, written into `out` when given (the scorer passes its output buffer)."""
    if x.dtype != torch.int32 or x.dim() != 1:
        raise ValueError(f"expected a 1-D int32 tensor, got {x.dtype} {tuple(x.shape)}")
    x = x.contiguous()
    n = x.numel()
    y = torch.empty_like(x) if out is None else out
    if n == 0:
        return y
    blocks = triton.cdiv(n, block)
    summaries = torch.empty((5, blocks), dtype=torch.int32, device=x.device)
    odd, total, par, carry_sum, carry_par = summaries.unbind(0)
    _summarize[(blocks,)](x, odd, total, par, n, BLOCK=block, num_warps=NUM_WARPS)
    _carries[(1,)](odd, total, par, carry_sum, carry_par, blocks, CHUNK=chunk, num_warps=4)
    _scan[(blocks,)](x, y, carry_sum, carry_par, n, BLOCK=block, num_warps=NUM_WARPS)
    return y
