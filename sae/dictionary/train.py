"""The one training engine for sparse dictionaries (SAEs and, unchanged, transcoders).

Several dictionaries train from one pass over the data: every batch is fed to each of them
in turn, each taking its own (input, target) columns from it (`sae.activations.batches`), so
a sweep, or a
transcoder per block, reads the store once. Per run: Adam (fused), LR warmup then linear decay
over the last `decay_fraction` of steps, gradient clipping, and

    relu       loss = mean_b sum_d (y - y_hat)^2 + l1 * sum_i f_i ||W_dec[i]||   (the seed's)
               with the L1 coefficient ramped up over the first `l1_warmup_fraction`;
               p-annealing (Karvonen et al. 2024; a run's `p_end` < 1): the penalty becomes
               sum_i (f_i ||W_dec[i]||)^p, p stepping down from 1 to p_end in `p_updates`
               equal steps over the steps after `p_anneal_start`; at each step the
               coefficient is rescaled by L_old / L_new on that batch, so the penalty is
               continuous while it turns from L1 towards L0;
    topk,      loss = sum (y - y_hat)^2 / sum (y - mean y)^2   (normalised MSE, Gao et al.)
    batchtopk       + aux_coeff * the same for the AuxK reconstruction of the residual by
               the top aux_k dead latents; decoder rows kept unit norm, the gradient's
               component along them removed before each step.
    matryoshka loss = mean over the nested prefixes of the normalised MSE of the prefix's own
               reconstruction (its active latents only, + b_dec) + the AuxK term (Bussmann
               et al. 2025 sum the prefix losses; the mean keeps the loss on FVU's scale).

A non-finite loss stops training with a clear error. Checkpoints (`<out>/<run>/train_state`
with weights, optimizer moments, dead-latent counters and step; `<out>/<run>/dictionary` the
usable export) are written atomically every `checkpoint_every` steps; calling `train` again
with the same settings resumes from them, on exactly the batches it would have seen.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from tqdm import tqdm

from common.io import (
    CheckpointError,
    atomic_write_json,
    load_state,
    remove_stale_generations,
    remove_stale_temp,
    save_state,
    settings_diff,
)
from sae.activations.batches import Columns
from sae.dictionary.model import DictConfig, Dictionary, geometric_median, save_dictionary
from sae.dictionary.sparse import SparseCodes, sampled_linear, select_topk, sparse_decode

STATE_KIND = "dictionary_train_state"
# settings that may change between an interrupted run and its resumption
_VOLATILE = ("checkpoint_every", "log_every", "wandb", "wandb_project", "progress", "device")
# settings added after states were written: a state that lacks one is resumed without it
_ADDED = {"train_config": ("enc_init_scale", "p_anneal_start", "p_updates"), "run": ("p_end",)}
_ADDED_DICT = ("prefixes",)


@dataclass
class TrainConfig:
    batch_size: int = 4096
    steps: int = 4000  # 16M rows: ~18 passes over a 1M-position store's training split
    warmup_steps: int = 100
    decay_fraction: float = 0.2  # LR decays linearly to 0 over the last 20% (Anthropic)
    l1_warmup_fraction: float = 0.05  # relu: L1 coefficient ramps up over the first 5%
    p_anneal_start: float = 0.25  # relu with p_end < 1: p starts falling after this fraction
    p_updates: int = 10  # ... in this many equal steps
    grad_clip: float = 1.0
    aux_k: int | None = None  # AuxK latents; None: d_out // 2 (Gao et al.)
    aux_coeff: float = 1 / 32
    dead_after: int = 1_000_000  # rows without firing before a latent counts as dead
    threshold_ema: float = 0.99  # batchtopk: EMA of the smallest kept activation
    b_dec_init: str = "geometric_median"  # or "mean"
    # Encoder rows = decoder rows (unit for topk) times this at init. EleutherAI sparsify's
    # nn.Linear init gives rows of length 1/sqrt(3) ~ 0.577, which learned faster per step
    # here than 1.0 (bench/bench_sparsify.py measures both).
    enc_init_scale: float = 1.0
    init_rows: int = 16384  # rows sampled for the b_dec initialisation
    seed: int = 0
    checkpoint_every: int = 500
    log_every: int = 25
    progress: bool = True
    wandb: bool = False
    wandb_project: str = "othello-sae"
    device: str = "cpu"  # where the dictionaries train (batches are read on the CPU)

    def validate(self) -> TrainConfig:
        if self.batch_size < 1 or self.steps < 1:
            raise ValueError("batch_size and steps must be positive")
        if not (self.enc_init_scale > 0 and math.isfinite(self.enc_init_scale)):
            raise ValueError("enc_init_scale must be positive and finite")
        if self.b_dec_init not in ("geometric_median", "mean"):
            raise ValueError("b_dec_init must be 'geometric_median' or 'mean'")
        if not 0 <= self.decay_fraction <= 1 or not 0 <= self.l1_warmup_fraction <= 1:
            raise ValueError("decay_fraction and l1_warmup_fraction must be in [0, 1]")
        if not 0 <= self.p_anneal_start < 1 or self.p_updates < 1:
            raise ValueError("p_anneal_start must be in [0, 1) and p_updates positive")
        return self


@dataclass
class RunSpec:
    name: str
    dictionary: DictConfig
    l1_coeff: float = 0.0  # relu only
    p_end: float = 1.0  # relu only: the penalty's final exponent (1: plain L1, no annealing)
    lr: float | None = None  # None: default_lr(dictionary)
    extra: dict = field(default_factory=dict)  # carried into the saved config

    @property
    def learning_rate(self) -> float:
        return self.lr if self.lr is not None else default_lr(self.dictionary)


def default_lr(cfg: DictConfig) -> float:
    """TopK: 2e-4 / sqrt(n / 2^14) (EleutherAI sparsify's rule). ReLU: 4e-4, the seed's 1e-4
    scaled up for our ~4x smaller batch-step budget (4096 x 4k steps vs 16384 x 12k)."""
    if cfg.architecture == "relu":
        return 4e-4
    return 2e-4 / math.sqrt(cfg.n_latents / 2**14)


def penalty_exponent(step: int, cfg: TrainConfig, p_end: float) -> float:
    """p at `step`: 1 until p_anneal_start, then down to p_end in p_updates equal steps."""
    if p_end == 1.0:
        return 1.0
    start = int(cfg.p_anneal_start * cfg.steps)
    if step < start:
        return 1.0
    j = min(cfg.p_updates, 1 + (step - start) * cfg.p_updates // max(1, cfg.steps - start))
    return 1.0 - j * (1.0 - p_end) / cfg.p_updates


def lr_factor(step: int, cfg: TrainConfig) -> float:
    warm = min(1.0, (step + 1) / max(1, cfg.warmup_steps))
    decay_steps = cfg.decay_fraction * cfg.steps
    decay = min(1.0, (cfg.steps - step) / decay_steps) if decay_steps > 0 else 1.0
    return warm * decay


class TrainingDiverged(FloatingPointError):
    pass


class Run:
    """One dictionary being trained: module, optimizer, dead-latent counters."""

    def __init__(self, spec: RunSpec, cfg: TrainConfig, out_dir: Path):
        self.spec, self.cfg, self.dir = spec, cfg, Path(out_dir) / spec.name
        self.device = torch.device(cfg.device)
        self.dict = Dictionary(spec.dictionary).train()
        gen = torch.Generator().manual_seed(cfg.seed)
        self.dict.reset_parameters(gen, cfg.enc_init_scale)
        self.dict.to(self.device)
        self.unit_decoder = spec.dictionary.sparse_by_k
        self.opt = torch.optim.Adam(self.dict.parameters(), lr=spec.learning_rate, fused=True)
        self.rows_since_fired = torch.zeros(
            spec.dictionary.n_latents, dtype=torch.int64, device=self.device
        )
        self.step = 0
        self.history: list[dict] = []
        # relu: the penalty's coefficient, rescaled at each step of p (part of the state)
        self.penalty_coeff = torch.tensor(float(spec.l1_coeff), dtype=torch.float64)

    # -- one optimisation step -------------------------------------------------------------
    def loss(self, x, y, step) -> tuple[torch.Tensor, dict]:
        d, cfg = self.dict, self.cfg
        z, y_hat = d.predict_scaled(x)
        y_s = y * d.out_scale
        sq = (y_hat - y_s).pow(2).sum()
        total_var = (y_s - y_s.mean(0)).pow(2).sum()
        stats = {
            "fvu": float(sq.detach() / total_var),
            "l0": float(z.active_per_row().float().mean()),
        }
        arch = self.spec.dictionary.architecture
        if arch == "matryoshka":
            parts = [sq / total_var] + [
                (self._prefix_prediction(x, z, m) - y_s).pow(2).sum() / total_var
                for m in self.spec.dictionary.prefixes[:-1]
            ]
            if len(parts) > 1:  # the smallest prefix's own FVU
                stats["fvu_prefix0"] = float(parts[1].detach())
            sq = sum(parts) / len(parts) * total_var  # the loss below divides it back
        if arch == "relu":
            ramp = min(1.0, (step + 1) / max(1.0, cfg.l1_warmup_fraction * cfg.steps))
            norms = d.W_dec.norm(dim=1)
            p = penalty_exponent(step, cfg, self.spec.p_end)
            before = penalty_exponent(step - 1, cfg, self.spec.p_end) if step else p
            if p != before:  # p steps down here: keep the penalty's size on this batch
                with torch.no_grad():
                    old, new = z.weighted_sum(norms, before), z.weighted_sum(norms, p)
                    if new > 0:
                        self.penalty_coeff *= float(old) / float(new)
            l1 = z.weighted_sum(norms, p) / len(x)
            loss = sq / len(x) + float(self.penalty_coeff) * ramp * l1
            stats["l1"] = float(l1.detach())
            if self.spec.p_end != 1.0:
                stats["p"], stats["penalty_coeff"] = p, float(self.penalty_coeff)
        else:
            loss = sq / total_var
            dead = torch.nonzero(self.rows_since_fired >= cfg.dead_after).flatten()
            if dead.numel() and cfg.aux_coeff > 0:
                aux = self._aux_loss(x, (y_s - y_hat).detach(), dead)
                loss = loss + cfg.aux_coeff * aux
                stats["aux"] = float(aux.detach())
        fired = z.fire_counts() > 0
        self.rows_since_fired += len(x)
        self.rows_since_fired[fired] = 0
        if arch in ("batchtopk", "matryoshka"):
            ema = cfg.threshold_ema if self.step > 0 else 0.0
            d.threshold.mul_(ema).add_((1 - ema) * z.min_active())
        stats["loss"] = float(loss.detach())
        return loss, stats

    def _prefix_prediction(self, x, z, m: int) -> torch.Tensor:
        """The reconstruction from the active latents among the first m (scaled space)."""
        d = self.dict
        acts = z.acts * (z.codes.idx < m)
        y = sparse_decode(z.codes, acts, d.W_dec) + d.b_dec
        skip = d.skip_scaled(x)
        return y if skip is None else y + skip

    def _aux_loss(self, x, residual, dead) -> torch.Tensor:
        """AuxK (Gao et al.): the top aux_k dead latents reconstruct the main residual."""
        d = self.dict
        k = min(dead.numel(), self.cfg.aux_k or d.cfg.d_out // 2)
        xs, bias = d._scaled_input(x)
        sub = select_topk(xs, d.W_enc[dead], bias[dead], k)
        codes = SparseCodes(sub.indptr, dead[sub.idx], sub.pre, d.cfg.n_latents)
        acts = torch.relu(sampled_linear(xs, d.W_enc, bias, codes))
        e_hat = sparse_decode(codes, acts, d.W_dec)
        return (e_hat - residual).pow(2).sum() / (residual - residual.mean(0)).pow(2).sum()

    def train_step(self, x, y) -> dict:
        x, y = x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)
        lr = self.spec.learning_rate * lr_factor(self.step, self.cfg)
        for group in self.opt.param_groups:
            group["lr"] = lr
        loss, stats = self.loss(x, y, self.step)
        if not torch.isfinite(loss):
            raise TrainingDiverged(
                f"run {self.spec.name}: loss is {float(loss.detach())} at step {self.step} "
                f"(lr {lr:.3g}). "
                f"Lower the learning rate or check the data for NaN/inf; the last good "
                f"checkpoint, if any, is in {self.dir}"
            )
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        if self.unit_decoder:
            self.dict.remove_parallel_grad()
        torch.nn.utils.clip_grad_norm_(self.dict.parameters(), self.cfg.grad_clip)
        self.opt.step()
        if self.unit_decoder:
            self.dict.normalize_decoder()
        self.step += 1
        stats["lr"] = lr
        stats["dead"] = float((self.rows_since_fired >= self.cfg.dead_after).float().mean())
        return stats

    # -- checkpoints -----------------------------------------------------------------------
    def _identity(self) -> dict:
        train = {k: v for k, v in asdict(self.cfg).items() if k not in _VOLATILE}
        spec = asdict(self.spec)
        return {"train_config": train, "run": spec}

    def _volatile(self) -> dict:
        return {k: getattr(self.cfg, k) for k in _VOLATILE}

    def save(self, data_info: dict) -> None:
        """Commit the training state (weights, Adam moments, dead-latent counters; the JSON
        naming them, with the step, settings, data and log, is the commit point), then
        rewrite the exports from it."""
        tensors = {f"model.{k}": v.detach().cpu() for k, v in self.dict.state_dict().items()}
        names = dict(self.dict.named_parameters())
        for name, p in names.items():
            for key, value in self.opt.state.get(p, {}).items():
                tensors[f"adam.{name}.{key}"] = value.reshape(-1).float().cpu()
        tensors["rows_since_fired"] = self.rows_since_fired.cpu()
        tensors["penalty_coeff"] = self.penalty_coeff.reshape(1)
        config = {"kind": STATE_KIND, "step": self.step, **self._identity()}
        config.update(data=data_info, history=self.history, volatile=self._volatile())
        save_state(self.dir / "train_state", tensors, config, generation=self.step)
        self._export(data_info)

    def _export(self, data_info: dict) -> None:
        """The usable dictionary and log.json, derived from the state (idempotent)."""
        save_dictionary(
            self.dict,
            self.dir / "dictionary",
            step=self.step,
            l1_coeff=self.spec.l1_coeff,
            lr=self.spec.learning_rate,
            data=data_info,
            **self._identity(),
            **self.spec.extra,
        )
        atomic_write_json(self.dir / "log.json", self.history)

    def try_resume(self) -> bool:
        """Load the committed state, if any, after removing what a killed save left behind,
        and rewrite the exports from it (a kill may have fallen between commit and export)."""
        stem = self.dir / "train_state"
        for p in remove_stale_temp(self.dir):
            print(f"removed stale temporary {p}")
        remove_stale_generations(stem)
        loaded = load_state(stem, STATE_KIND)
        if loaded is None:
            return False
        tensors, config = loaded
        changed = settings_diff(
            {k: config.get(k) for k in self._identity()}, _without_added(config, self._identity())
        )
        if changed:
            raise CheckpointError(
                f"{stem}.json was written with other settings ({'; '.join(changed)}); use "
                f"the same settings, another output folder, or delete it to start over"
            )
        self.dict.load_state_dict(
            {k[len("model.") :]: v for k, v in tensors.items() if k.startswith("model.")}
        )
        for name, p in self.dict.named_parameters():
            state = {}
            for key in ("step", "exp_avg", "exp_avg_sq"):
                t = tensors.get(f"adam.{name}.{key}")
                if t is not None:
                    t = t.reshape(()) if key == "step" else t.reshape(p.shape).clone()
                    # fused Adam keeps its step count on the parameter's device
                    state[key] = t.to(p.device)
            if state:
                self.opt.state[p] = state
        self.rows_since_fired = tensors["rows_since_fired"].clone().to(self.device)
        if "penalty_coeff" in tensors:  # states from before p-annealing: the L1 coefficient
            self.penalty_coeff = tensors["penalty_coeff"].reshape(()).clone()
        self.step = int(config["step"])
        if "history" in config:
            self.history = config["history"]
            self._export(config["data"])
        else:  # a state from before the log was part of it: the log beside it
            log = self.dir / "log.json"
            self.history = json.loads(log.read_text()) if log.exists() else []
        changed = settings_diff(config.get("volatile", {}), self._volatile())
        print(
            f"resuming {self.spec.name} at step {self.step} of {self.cfg.steps} from {stem}.json"
            + (f" (changed: {'; '.join(changed)})" if "volatile" in config and changed else "")
        )
        return True


def _without_added(saved: dict, now: dict) -> dict:
    """`now` less the settings added after `saved` was written (absent there), so a state
    from before a setting existed resumes under it."""
    now = json.loads(json.dumps(now))
    for section, keys in _ADDED.items():
        for key in keys:
            if key not in (saved.get(section) or {}):
                now[section].pop(key, None)
    saved_dict = (saved.get("run") or {}).get("dictionary") or {}
    for key in _ADDED_DICT:
        if key not in saved_dict and now["run"]["dictionary"].get(key) is None:
            now["run"]["dictionary"].pop(key, None)
    return now


def _initialise(runs: list[Run], data: Columns, cfg: TrainConfig) -> None:
    """Scales from the whole training split; b_dec from a sample of scaled targets."""
    sample = data.sample(cfg.init_rows, cfg.seed)
    for run in runs:
        run.dict.set_scales(*data.pair_norms(run.spec.dictionary))
        _, y = data.pick(sample, run.spec.dictionary)
        y_s = y * float(run.dict.out_scale)
        centre = geometric_median(y_s) if cfg.b_dec_init == "geometric_median" else y_s.mean(0)
        with torch.no_grad():
            run.dict.b_dec.copy_(centre.to(run.device))


def train(
    specs: list[RunSpec], data: Columns, cfg: TrainConfig | None = None, out_dir="runs/sae"
) -> dict[str, Dictionary]:
    """Train (or resume, or just load when finished) every run in `specs` on `data`: a
    `Pairs` feeds its (x, y) to every run, a `Columns` each run its in_site / out_site."""
    cfg = (cfg or TrainConfig()).validate()
    names = [s.name for s in specs]
    if len(set(names)) != len(names) or not names:
        raise ValueError(f"run names must be unique and non-empty: {names}")
    for s in specs:
        d_in, d_out = data.pair_dims(s.dictionary)
        if (s.dictionary.d_in, s.dictionary.d_out) != (d_in, d_out):
            raise ValueError(
                f"run {s.name}: dictionary is {s.dictionary.d_in}->"
                f"{s.dictionary.d_out} but the data is {d_in}->{d_out}"
            )
    out_dir = Path(out_dir)
    runs = [Run(s, cfg, out_dir) for s in specs]
    resumed = [r.try_resume() for r in runs]
    if not all(resumed):
        fresh = [r for r, done in zip(runs, resumed, strict=True) if not done]
        _initialise(fresh, data, cfg)
    # A kill between the runs' saves leaves some a checkpoint ahead: until the others catch
    # up, only those at the current step train, each on exactly the batches it missed.
    start = min(r.step for r in runs)
    logger = _wandb(cfg, specs) if cfg.wandb and start < cfg.steps else None
    batches = data.batches(cfg.batch_size, cfg.seed, start) if start < cfg.steps else iter(())
    bar = tqdm(
        range(start, cfg.steps),
        initial=start,
        total=cfg.steps,
        desc="train",
        disable=not cfg.progress,
        unit="step",
    )
    for step in bar:
        batch = next(batches)
        live = [r for r in runs if r.step == step]
        stats = {r.spec.name: r.train_step(*data.pick(batch, r.spec.dictionary)) for r in live}
        if step % cfg.log_every == 0 or step + 1 == cfg.steps:
            for r in live:
                r.history.append({"step": step, **stats[r.spec.name]})
            first = stats[live[0].spec.name]
            bar.set_postfix(
                loss=f"{first['loss']:.4g}", fvu=f"{first['fvu']:.3f}", l0=f"{first['l0']:.1f}"
            )
            if logger:
                logger.log(
                    {f"{n}/{k}": v for n, s in stats.items() for k, v in s.items()}, step=step
                )
        if (step + 1) % cfg.checkpoint_every == 0 or step + 1 == cfg.steps:
            for r in live:
                r.save(data.info)
    if logger:
        logger.finish()
    return {r.spec.name: r.dict.eval() for r in runs}


def _wandb(cfg: TrainConfig, specs: list[RunSpec]):
    try:
        import wandb
    except ImportError as e:
        raise RuntimeError("--wandb needs the wandb package: pip install wandb") from e
    return wandb.init(
        project=cfg.wandb_project, config={"train": asdict(cfg), "runs": [asdict(s) for s in specs]}
    )
