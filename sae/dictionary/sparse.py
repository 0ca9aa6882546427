"""Sparse codes and the differentiable products over them (TopK, thresholds, BatchTopK).

Selection runs without autograd: the encoder's pre-activations are computed a block of rows
at a time and the active entries picked while the block is in cache, so the full [B, n]
matrix never exists. Gradients then flow only through the active entries:

    pre  = sampled_linear(x, W_enc, b_enc, codes)   # pre[e] = x[row(e)] . W_enc[idx[e]] + b
    out  = sparse_decode(codes, acts, W_dec)        # out[b] = sum_e acts[e] * W_dec[idx[e]]

Both backward passes cost O(nnz * d), not O(B * n * d). On CPU the numba kernels in
sae.dictionary.kernels do the work; on other devices plain torch ops (embedding_bag, index_add_) do.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np
import torch
import torch.nn.functional as F

from sae.dictionary import kernels

BLOCK_ROWS = 512  # rows of pre-activations alive at once: 512 x 4096 floats = 8 MiB


class SparseCodes:
    """Which latents are active in each row (CSR), and their pre-activations at selection."""

    def __init__(self, indptr: torch.Tensor, idx: torch.Tensor, pre: torch.Tensor, n: int):
        self.indptr, self.idx, self.pre, self.n_latents = indptr, idx, pre, n

    @property
    def rows(self) -> int:
        return self.indptr.numel() - 1

    @property
    def nnz(self) -> int:
        return self.idx.numel()

    @cached_property
    def row_of_entry(self) -> torch.Tensor:
        counts = self.indptr[1:] - self.indptr[:-1]
        return torch.repeat_interleave(torch.arange(self.rows, device=counts.device), counts)

    @cached_property
    def by_latent(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Entries sorted by latent (shared by the encoder and decoder backward passes)."""
        return kernels.by_latent(self.indptr.numpy(), self.idx.numpy(), self.n_latents)

    def to_dense(self, values: torch.Tensor) -> torch.Tensor:
        out = values.new_zeros(self.rows, self.n_latents)
        out[self.row_of_entry, self.idx] = values
        return out


def _on_cpu(*ts: torch.Tensor) -> bool:
    return all(t.device.type == "cpu" and t.dtype == torch.float32 for t in ts)


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().contiguous().numpy()


# -- the three products -------------------------------------------------------------------
def _gather_sum(codes: SparseCodes, w: torch.Tensor, M: torch.Tensor) -> torch.Tensor:
    if _on_cpu(w, M):
        out = torch.empty(codes.rows, M.shape[1])
        kernels.gather_sum(codes.indptr.numpy(), codes.idx.numpy(), _np(w), _np(M), out.numpy())
        return out
    return F.embedding_bag(
        codes.idx, M, codes.indptr[:-1], mode="sum", per_sample_weights=w.to(M.dtype)
    )


def _sampled_dot(codes: SparseCodes, v: torch.Tensor, M: torch.Tensor) -> torch.Tensor:
    if _on_cpu(v, M):
        out = torch.empty(codes.nnz)
        kernels.sampled_dot(codes.indptr.numpy(), codes.idx.numpy(), _np(v), _np(M), out.numpy())
        return out
    return (v[codes.row_of_entry] * M[codes.idx]).sum(1)


def _scatter_outer(codes: SparseCodes, w: torch.Tensor, v: torch.Tensor):
    """(sum_e w[e] v[row(e)] per latent [n, d], sum_e w[e] per latent [n])."""
    if _on_cpu(w, v):
        out = torch.empty(codes.n_latents, v.shape[1])
        out_sum = torch.empty(codes.n_latents)
        order, latent_ptr, rows = codes.by_latent
        kernels.scatter_outer(order, latent_ptr, rows, _np(w), _np(v), out.numpy(), out_sum.numpy())
        return out, out_sum
    out = v.new_zeros(codes.n_latents, v.shape[1])
    out.index_add_(0, codes.idx, w[:, None] * v[codes.row_of_entry])
    return out, v.new_zeros(codes.n_latents).index_add_(0, codes.idx, w)


class _SampledLinear(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, W, b, codes):
        ctx.codes = codes
        ctx.save_for_backward(x, W)
        return codes.pre.clone()

    @staticmethod
    def backward(ctx, grad):
        x, W = ctx.saved_tensors
        codes, grad = ctx.codes, grad.contiguous()
        dx = _gather_sum(codes, grad, W) if ctx.needs_input_grad[0] else None
        dW, db = _scatter_outer(codes, grad, x) if ctx.needs_input_grad[1] else (None, None)
        return dx, dW, db, None


class _SparseDecode(torch.autograd.Function):
    @staticmethod
    def forward(ctx, acts, W, codes):
        ctx.codes = codes
        ctx.save_for_backward(acts, W)
        return _gather_sum(codes, acts, W)

    @staticmethod
    def backward(ctx, grad):
        acts, W = ctx.saved_tensors
        codes, grad = ctx.codes, grad.contiguous()
        dacts = _sampled_dot(codes, grad, W) if ctx.needs_input_grad[0] else None
        dW = _scatter_outer(codes, acts, grad)[0] if ctx.needs_input_grad[1] else None
        return dacts, dW, None


def sampled_linear(x, W, b, codes: SparseCodes) -> torch.Tensor:
    """pre[e] = x[row(e)] . W[idx[e]] + b[idx[e]], differentiable in x, W and b."""
    return _SampledLinear.apply(x, W, b, codes)


def sparse_decode(codes: SparseCodes, acts: torch.Tensor, W: torch.Tensor) -> torch.Tensor:
    """out[b] = sum over row b's entries of acts[e] * W[idx[e]], differentiable in acts, W."""
    return _SparseDecode.apply(acts, W, codes)


# -- selection ----------------------------------------------------------------------------
def _pre_blocks(x: torch.Tensor, W: torch.Tensor, b: torch.Tensor):
    """Yield (first row, pre-activations of a block of rows) without building [B, n]."""
    x, W, b = x.detach(), W.detach(), b.detach()
    buf = torch.empty(min(BLOCK_ROWS, x.shape[0]), W.shape[0], device=x.device)
    for start in range(0, x.shape[0], BLOCK_ROWS):
        xb = x[start : start + BLOCK_ROWS]
        out = buf[: xb.shape[0]]
        torch.addmm(b, xb, W.T, out=out)
        yield start, out


@torch.no_grad()
def select_topk(x, W, b, k: int) -> SparseCodes:
    """The k largest pre-activations of every row (ties broken arbitrarily)."""
    n, rows = W.shape[0], x.shape[0]
    if not 1 <= k <= n:
        raise ValueError(f"k={k} must be in 1..{n}")
    if not _on_cpu(x, W):
        pre, idx = torch.topk(F.linear(x, W, b), k, dim=1, sorted=False)
        indptr = torch.arange(rows + 1, device=x.device) * k
        return SparseCodes(indptr, idx.reshape(-1), pre.reshape(-1), n)
    vals = np.empty((rows, k), np.float32)
    idx = np.empty((rows, k), np.int64)
    for start, block in _pre_blocks(x, W, b):
        kernels.topk_block(block.numpy(), k, vals, idx, start)
    indptr = torch.arange(rows + 1) * k
    idx_t, vals_t = torch.from_numpy(idx.reshape(-1)), torch.from_numpy(vals.reshape(-1))
    return SparseCodes(indptr, idx_t, vals_t, n)


@torch.no_grad()
def select_above(x, W, b, threshold: float, max_density: float = 1.0) -> SparseCodes | None:
    """Every entry whose pre-activation exceeds `threshold` (ReLU: 0; BatchTopK at inference).
    None if the first block is denser than `max_density` (the caller then goes dense)."""
    n, rows = W.shape[0], x.shape[0]
    if not _on_cpu(x, W):
        pre = F.linear(x, W, b)
        r, i = torch.nonzero(pre > threshold, as_tuple=True)
        if len(r) > max_density * rows * n:
            return None
        indptr = F.pad(torch.bincount(r, minlength=rows).cumsum(0), (1, 0))
        return SparseCodes(indptr, i, pre[r, i], n)
    counts = np.empty(rows, np.int64)
    parts = []
    for start, block in _pre_blocks(x, W, b):
        pb = block.numpy()
        kernels.count_above(pb, threshold, counts, start)
        if start == 0 and counts[: len(pb)].sum() > max_density * len(pb) * n:
            return None
        local = np.zeros(pb.shape[0] + 1, np.int64)
        np.cumsum(counts[start : start + pb.shape[0]], out=local[1:])
        idx = np.empty(local[-1], np.int64)
        vals = np.empty(local[-1], np.float32)
        kernels.collect_above(pb, threshold, local, idx, vals, 0)
        parts.append((idx, vals))
    indptr = np.zeros(rows + 1, np.int64)
    np.cumsum(counts, out=indptr[1:])
    idx = np.concatenate([p[0] for p in parts]) if parts else np.empty(0, np.int64)
    vals = np.concatenate([p[1] for p in parts]) if parts else np.empty(0, np.float32)
    return SparseCodes(torch.from_numpy(indptr), torch.from_numpy(idx), torch.from_numpy(vals), n)


@torch.no_grad()
def select_batch_topk(x, W, b, k: int, candidates: int = 4) -> SparseCodes:
    """The rows * k largest pre-activations of the whole batch (BatchTopK, Bussmann et al.).

    Each row offers its top `candidates * k`; the batch threshold is taken over those. A row
    whose every candidate clears it may hold more, so then the exact set is re-selected with
    a threshold pass (rare: it needs one row to own candidates * k of the batch's winners)."""
    n, rows = W.shape[0], x.shape[0]
    want = rows * k
    cand = select_topk(x, W, b, min(n, candidates * k))
    per_row = cand.nnz // rows
    pre = cand.pre.view(rows, per_row)
    bar = torch.topk(cand.pre, want, sorted=False).values.min()
    saturated = per_row < n and bool((pre.min(1).values >= bar).any())
    if saturated:
        wide = select_above(x, W, b, float(bar) - 1e-6)
        bar = torch.topk(wide.pre, want, sorted=False).values.min()
        keep = wide.pre >= bar
        ones = torch.ones(int(keep.sum()), dtype=torch.int64, device=x.device)
        counts = torch.zeros(rows, dtype=torch.int64, device=x.device).index_add_(
            0, wide.row_of_entry[keep], ones
        )
        src_idx, src_pre = wide.idx[keep], wide.pre[keep]
    else:
        keep = pre >= bar
        counts = keep.sum(1)
        src_idx, src_pre = cand.idx.view(rows, per_row)[keep], pre[keep]
    indptr = F.pad(counts.cumsum(0), (1, 0))
    return SparseCodes(indptr, src_idx.contiguous(), src_pre.contiguous(), n)
