"""What each latent's decoder direction does to the agent's play, through the rest of the net.

For latent i of a dictionary writing to site s, the hook API adds

    delta_i = a_i * W_dec[i] / out_scale        (raw units of site s)

to the activation at s, and the remaining blocks and the heads run as usual: the effect goes
through every later MLP and the final LayerNorm, not only through the policy head's weights
(sae_vis's logit table reads the unembedding alone). a_i is the latent's typical strong
activation (the mean of its top examples), so the change is what "this latent on" does.
On a fixed sample of positions (every latent sees the same ones):

    policy   mean change of each action's probability [n*n + 1] (the 6x6 heatmap + pass)
    value    mean change of the value head's output (side to move's view, in (-1, 1))
    tv       mean total-variation distance between the clean and edited policies, the
             latent's "policy effect" in the viewer's list

Many latents run in one forward pass: the positions are tiled once per latent and each
latent's rows receive its own delta.
"""

from __future__ import annotations

import numpy as np
import torch
from tqdm import tqdm

from alphazero.model import AlphaZeroNet
from othello.game import square_name
from sae.dictionary.model import Dictionary


@torch.no_grad()
def decoder_effects(
    net: AlphaZeroNet,
    dictionary: Dictionary,
    me: np.ndarray,
    opp: np.ndarray,
    strength: np.ndarray,
    latents_per_pass: int = 64,
    progress: bool = True,
) -> dict[str, np.ndarray]:
    """Effects of every latent with strength > 0 (others: zeros) on positions (me, opp)."""
    x, legal = net.encode(me, opp)
    dev = x.device
    clean = net(x, legal)
    p0, v0 = torch.softmax(clean.policy_logits, -1), clean.value
    n, m, site = dictionary.cfg.n_latents, len(me), dictionary.cfg.out_site
    direction = dictionary.W_dec.detach().float() / dictionary.out_scale
    policy = np.zeros((n, p0.shape[1]), np.float32)
    value, tv = np.zeros(n, np.float32), np.zeros(n, np.float32)
    live = np.flatnonzero(strength > 0)
    chunks = range(0, len(live), latents_per_pass)
    for start in tqdm(chunks, desc="decoder effects", disable=not progress, leave=False):
        ids = live[start : start + latents_per_pass]
        scale = torch.from_numpy(strength[ids].astype(np.float32)).to(dev)
        delta = (scale[:, None] * direction[torch.from_numpy(ids).to(dev)]).repeat_interleave(m, 0)
        c = len(ids)

        def add(t, delta=delta):
            return t + delta.to(t.dtype)

        out = net.run_with_hooks(x.repeat(c, 1), legal.repeat(c, 1), {site: add})
        dp = (torch.softmax(out.policy_logits, -1) - p0.repeat(c, 1)).view(c, m, -1)
        policy[ids] = dp.mean(1).cpu().numpy()
        value[ids] = (out.value - v0.repeat(c)).view(c, m).mean(1).cpu().numpy()
        tv[ids] = (0.5 * dp.abs().sum(-1)).mean(1).cpu().numpy()
    return {"policy": policy, "value": value, "tv": tv}


def does_line(policy: np.ndarray, value: float, n: int, top: int = 3, floor: float = 0.005) -> str:
    """One line from a latent's mean policy / value change: the actions it promotes and
    suppresses most (changes of at least `floor` in probability, in percentage points) and the
    value change, e.g. "promotes c4 +12.1 pp, b2 +3.0; suppresses a1 -8.0 pp; value +0.05"."""
    names = [square_name(a, n) for a in range(n * n)] + ["pass"]
    order = np.argsort(policy)
    up = [a for a in order[::-1][:top] if policy[a] >= floor]
    down = [a for a in order[:top] if policy[a] <= -floor]
    parts = []
    for verb, acts in (("promotes", up), ("suppresses", down)):
        if acts:
            items = [f"{names[a]} {100 * policy[a]:+.1f}" for a in acts]
            parts.append(f"{verb} {items[0]} pp" + "".join(f", {i}" for i in items[1:]))
    if not parts:
        parts.append(f"moves no action by {100 * floor:.1f} pp or more")
    return "; ".join(parts) + f"; value {value:+.3f}"
