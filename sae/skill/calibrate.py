"""Calibration of a weak checkpoint toward stronger play, the two routes of the Maia-2
skill-adaptation study:

(a) fine-tune ONLY the policy head toward the exact solver's optimal moves on threat
    positions: positions of the store's training split with <= 14 empties where some
    optimal move resolves a threat (`sae.skill.levels.threat_targets`), the target being
    the uniform distribution over all optimal moves; cross-entropy on the legal-masked
    logits, Adam (batch 256 as in the study; lr 1e-3, as the study's 1e-4 had not
    converged after 20 epochs on our ~1.6k positions), at most `max_epochs` epochs with
    early stopping (patience 3) on a validation split of those positions by game, the best
    epoch's head kept. The trunk is frozen, so its features are computed once.
(b) steer the weak checkpoint's threat latents (`sae.steering.edit`), beside the same edit on
    as many random live latents.

The evaluation (before / after, on the held-out positions of the skill study) is in
`sae.skill.study`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch

from alphazero.evaluate import solve_all
from othello import batch
from othello.game import Position
from sae.skill.levels import optimal_actions, threat_targets

CHUNK = 4096


@dataclass
class FinetuneConfig:
    positions: int = 2000  # threat positions to collect from the training split
    max_candidates: int = 12000  # positions solved at most while collecting them
    max_empties: int = 14
    lr: float = 1e-3
    batch_size: int = 256
    max_epochs: int = 20
    patience: int = 3
    val_fraction: float = 0.2
    seed: int = 0
    progress: bool = True


def threat_training_set(store, cfg: FinetuneConfig):
    """(solved threat positions, their game ids) from the store's training split."""
    rng = np.random.default_rng(cfg.seed)
    rows = rng.permutation(store.rows("train"))
    n = store.board_size
    picked, games, tried = [], [], 0
    for start in range(0, len(rows), 2048):
        chunk = np.sort(rows[start : start + 2048])
        me, opp = store.read("me", chunk), store.read("opp", chunk)
        empties = n * n - batch.popcount(me | opp)
        ok = (empties <= cfg.max_empties) & (batch.legal_action_mask(me, opp, n).sum(1) > 1)
        at = np.flatnonzero(ok)[: cfg.max_candidates - tried]
        tried += len(at)
        solved = solve_all([Position(int(me[i]), int(opp[i]), True, n) for i in at], cfg.progress)
        threat, _ = threat_targets(solved, n)
        picked += [s for s, t in zip(solved, threat, strict=True) if t]
        games += store.read("game", chunk[at])[threat].tolist()
        if len(picked) >= cfg.positions or tried >= cfg.max_candidates:
            break
    return picked[: cfg.positions], np.array(games[: cfg.positions])


@torch.no_grad()
def head_inputs(net, solved) -> tuple[torch.Tensor, torch.Tensor]:
    """(final features ln_final [P, d], legal masks [P, A]) of the frozen trunk."""
    me = np.array([s.position.me for s in solved], np.uint64)
    opp = np.array([s.position.opp for s in solved], np.uint64)
    feats, legal = [], []
    for s in range(0, len(me), CHUNK):
        x, lg = net.encode(me[s : s + CHUNK], opp[s : s + CHUNK])
        _, cache = net.run_with_cache(x, lg, ["ln_final"])
        feats.append(cache["ln_final"].float())
        legal.append(lg)
    return torch.cat(feats), torch.cat(legal)


def _loss(head, feats, legal, target) -> torch.Tensor:
    logits = head(feats).masked_fill(~legal, float("-inf"))
    logp = torch.log_softmax(logits, -1)
    return -(target * torch.where(target > 0, logp, torch.zeros_like(logp))).sum(1).mean()


def finetune_head(net, solved, games, cfg: FinetuneConfig) -> tuple[object, dict]:
    """(copy of `net` with the fine-tuned policy head, training log)."""
    n = net.cfg.board_size
    feats, legal = head_inputs(net, solved)
    target = torch.from_numpy(optimal_actions(solved, n).astype(np.float32))
    target /= target.sum(1, keepdim=True)
    ids = np.unique(games)
    val_games = np.random.default_rng(cfg.seed).permutation(ids)[
        : max(1, int(cfg.val_fraction * len(ids)))
    ]
    val = torch.from_numpy(np.isin(games, val_games))
    fit = torch.nonzero(~val).squeeze(1)
    head = copy.deepcopy(net.policy_head).float().train()
    opt = torch.optim.Adam(head.parameters(), lr=cfg.lr)
    gen = torch.Generator().manual_seed(cfg.seed)

    def val_loss() -> float:
        with torch.no_grad():
            return float(_loss(head, feats[val], legal[val], target[val]))

    best, best_state, waited = val_loss(), copy.deepcopy(head.state_dict()), 0
    log = [{"epoch": 0, "val_loss": best}]
    for epoch in range(1, cfg.max_epochs + 1):
        for b in fit[torch.randperm(len(fit), generator=gen)].split(cfg.batch_size):
            opt.zero_grad()
            _loss(head, feats[b], legal[b], target[b]).backward()
            opt.step()
        loss = val_loss()
        log.append({"epoch": epoch, "val_loss": loss})
        if loss < best:
            best, best_state, waited = loss, copy.deepcopy(head.state_dict()), 0
        else:
            waited += 1
            if waited >= cfg.patience:
                break
    tuned = copy.deepcopy(net)
    tuned.policy_head.load_state_dict(best_state)
    info = {
        "train_positions": int(len(fit)),
        "val_positions": int(val.sum()),
        "epochs": log[-1]["epoch"],
        "best_val_loss": best,
        "log": log,
    }
    return tuned.eval(), info
