"""Training: ``fine_tune(dataset, config, cancel)`` is a generator of progress records.

It yields ``TrainProgress`` (a few times a second), ``EpochEnd`` (validation metrics after each
epoch) and, last, ``TrainResult`` (the trained model, on the CPU, in eval mode). Cancelling (the
token's ``is_set()`` becomes true) raises ``segdesk.core.errors.Cancelled`` from the generator
within one batch (well under a second at the default sizes); nothing is returned then.

Schedule (``schedule.py``): AdamW, linear warmup over ``warmup_steps`` then cosine decay driven by the
fraction of the wall-clock budget used (or of the steps of ``max_epochs``, whichever is further along).
Under a time budget an epoch's validation is skipped while it would cost more than ``val_max_share`` of
the training time since the last one (the last epoch always validates); ``EpochEnd`` comes only after
a validation.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch

from segdesk.core.cancel import CancelToken
from segdesk.core.errors import Cancelled, TrainingError
from segdesk.ml.data import TrainingSet
from segdesk.ml.metrics import SegmentationMetrics, fold_and_compute
from segdesk.ml.model import UNet, Upsample
from segdesk.ml.training import prior
from segdesk.ml.training.augment import AugmentConfig
from segdesk.ml.training.class_watch import ClassRescue, class_hits
from segdesk.ml.training.evaluate import confusions
from segdesk.ml.training.events import Checking, EpochEnd, TrainEvent, TrainProgress, TrainResult
from segdesk.ml.training.losses import LossConfig, SegmentationLoss
from segdesk.ml.training.schedule import WeightAverage, lr_at, run_fraction, steps_eta
from segdesk.ml.training.setup import (
    _make_loader,
    _prepare_model,
    _seed_everything,
    check_dataset,
    resolve_device,
)
from segdesk.ml.training.step import amp_setup, cancel_hooks, channels_last_on, train_step

Device = str  # "auto", "cpu", "cuda", "cuda:N" or "mps"


@dataclass
class TrainConfig:
    """Everything that decides a training run.

    ``minutes`` is a wall-clock budget (the schedule follows elapsed time); ``None`` trains exactly
    ``max_epochs`` epochs with the schedule following epochs, which makes a seeded run repeatable.
    """

    minutes: float | None = 2.0  # with min_steps: a cap that applies only once min_steps are done
    max_epochs: int = 1000
    patience: int = 20  # epochs without a better validation mIoU before stopping; 0 = never
    patch_size: int = 256
    batch_size: int = 4
    patches_per_epoch: int = 0  # 0 = about 4 coverages of the training pixels, 32..512
    lr: float = 3e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 20
    min_lr_ratio: float = 0.02
    ema_decay: float = 0.0  # > 0: validate and keep an exponential moving average of the weights
    class_watch: bool = True  # a class the network stops predicting gets weight (class_watch.py)
    prior_correction: bool = True  # undo the rare classes' taught odds as the held-out images ask (prior.py)
    seed: int = 0
    device: Device = "auto"
    amp: bool = True  # CUDA only: bf16 where supported, else fp16 with a GradScaler
    channels_last: bool | None = None  # None = on (CPU and CUDA); see channels_last_on
    threads: int | None = None  # torch CPU threads while training; None = leave as is
    num_workers: int = 0
    class_crop_p: float = 0.5
    image_sampling: str = "equal"  # "equal": every image as often; "area": in proportion to its area
    loss: LossConfig = field(default_factory=LossConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    # Architecture of a NEW model (a given model keeps its own).
    base_width: int = 8
    depth: int = 4
    upsample: Upsample = "bilinear"
    val_tile: int = 512
    val_max_share: float = 0.05  # time budget: skip an epoch's validation that would cost more
    progress_interval_s: float = 0.25
    # The plan (``plan.py``): the working scale, and steps that do not depend on the machine's load.
    scale: float = 1.0  # images and class maps are resampled by this before training
    min_steps: int = 0  # trained whatever the clock says; early stopping waits for them too
    target_steps: int = 0  # > 0: the schedule runs over this many steps and training stops there
    plan: dict[str, Any] | None = None  # the plan as saved in the checkpoint (meta["plan"])

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["augment"] = self.augment.to_dict()
        d["loss"] = {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self.loss).items()}
        return d


def fine_tune(
    dataset: TrainingSet,
    config: TrainConfig | None = None,
    cancel: CancelToken | None = None,
    *,
    model: UNet | None = None,
    model_classes: Sequence[str] | None = None,
) -> Iterator[TrainEvent]:
    """Train (or fine-tune ``model``, whose head is adapted when classes changed) on ``dataset``.

    Yields TrainProgress / EpochEnd records and finally a TrainResult holding the weights of the best
    validation epoch; when fine-tuning, epoch 0 (the starting model) competes too. ``model`` itself
    is not modified. Seeds Python's, NumPy's and torch's global RNGs with ``config.seed``.
    Raises TrainingError (no images, a single class, NaN loss) and Cancelled (token set).
    """
    config = config or TrainConfig()
    old_threads = torch.get_num_threads()
    if config.threads:
        torch.set_num_threads(config.threads)
    try:
        yield from _Trainer(dataset, config, cancel, model, model_classes).run()
    finally:
        if config.threads:
            torch.set_num_threads(old_threads)


class _Trainer:
    """The state of one run; ``run`` is the generator behind ``fine_tune``."""

    def __init__(
        self,
        dataset: TrainingSet,
        config: TrainConfig,
        cancel: CancelToken | None,
        base: UNet | None,
        model_classes: Sequence[str] | None,
    ) -> None:
        self.dataset, self.config, self.cancel = dataset, config, cancel
        self.budget = math.inf if config.minutes is None else config.minutes * 60.0
        counts = check_dataset(dataset)
        self.device = resolve_device(config.device)
        generator = _seed_everything(config.seed)
        model = _prepare_model(dataset, config, base, model_classes).to(self.device)
        self.channels_last = channels_last_on(self.device, config.channels_last)
        if self.channels_last:
            model = model.to(memory_format=torch.channels_last)
        self.model = model
        self.average = WeightAverage(model, config.ema_decay) if config.ema_decay > 0 else None
        self.fine_tuning = base is not None
        self.same_classes = model_classes is None or list(model_classes) == list(dataset.class_names)
        # A fine-tune's starting model competes (a retrain never returns worse than the model it
        # started from); a warm start's does not: the generalist with a fresh head for the project's
        # classes is no model of the project, and on two easy held-out images it once outscored
        # every trained epoch (DSB dev, 120 s: the untrained head kept, test mIoU 0.75 against 0.88).
        # Nor does it when images it never saw train now: it knows less than the run will, and a
        # few held-out images cannot tell which is better; the promotion check compares the two
        # with that in mind (promotion.py). In the app's loop on DSB dev the model of the first 2
        # reviewed images won every later retrain on the held-out images (test mIoU 0.70 for
        # good, where the 10-image model reaches 0.86).
        self.start_competes = (
            self.fine_tuning and not (config.plan or {}).get("warm_start") and not dataset.new_images
        )
        n = len(dataset.class_names)
        self.criterion = SegmentationLoss(config.loss, num_classes=n, pixel_counts=counts).to(self.device)
        self.rescue = ClassRescue(self.criterion, counts, dataset.class_names) if config.class_watch else None
        self.hits: torch.Tensor | None = None
        self.patch_counts = np.zeros(n, dtype=np.int64)  # each class's pixels in the training patches
        self.image_counts = counts
        self.optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        self.amp_dtype, self.scaler = amp_setup(config, self.device)
        self.loader, self.patches = _make_loader(dataset, config, generator)
        self.total_steps = len(self.loader) * config.max_epochs
        self.step = self.epoch = self.seen = 0
        self.val_cost = 0.0
        self.last_val_epoch, self.last_val_end = 0, 0.0
        self.history: list[dict[str, Any]] = []
        self.best_miou, self.bad_epochs = -1.0, 0
        self.best_competed = False  # the kept state is provisional (before min_steps) until True
        self.best_state: dict[str, torch.Tensor] | None = None
        self.best_epoch = -1
        self.best_metrics: SegmentationMetrics | None = None
        # The budget counts training and validation, not the one-time setup above (the first AdamW
        # imports torch._dynamo: seconds on a busy CPU).
        self.start = time.perf_counter()

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def out_of_time(self) -> bool:
        if self.step < self.config.min_steps:
            return False  # the minimum does not depend on how busy the machine is
        return self.elapsed() >= self.budget - self.val_cost

    def steps_done(self) -> bool:
        return 0 < self.config.target_steps <= self.step

    def patience_spent(self) -> bool:
        patience = self.config.patience
        return bool(patience) and self.bad_epochs >= patience and self.step >= self.config.min_steps

    def check_cancel(self) -> None:
        if self.cancel is not None and self.cancel.is_set():
            raise Cancelled("training cancelled")

    def run(self) -> Iterator[TrainEvent]:
        hooks = cancel_hooks(self.model, self.cancel)
        try:
            if self.fine_tuning:
                # Epoch 0 scores the starting model: a fine-tune never returns weights that do
                # worse on the validation images than the model it started from.
                yield self.validate([])
            stop_reason = "max_epochs"
            losses: list[float] = []
            while self.epoch < self.config.max_epochs:
                yield from self.train_epoch(losses)
                self.epoch += 1
                last = self.out_of_time() or self.steps_done() or self.epoch >= self.config.max_epochs
                if last or self.validation_due():
                    yield self.validate(losses)
                    losses = []
                if self.steps_done():
                    stop_reason = "target_steps"
                    break
                if self.out_of_time():
                    stop_reason = "time_budget"
                    break
                if self.patience_spent():
                    stop_reason = "early_stopping"
                    break
        finally:
            for handle in hooks:
                handle.remove()
        if self.prior_due():  # a few seconds of held-out predictions: say so before they start
            yield Checking("prior", len(self.dataset.val))
        yield self.result(stop_reason)

    def validation_due(self) -> bool:
        """Validate after this epoch? Under a time budget, only when validation costs at most
        ``val_max_share`` of the training time since the last one: with small data an epoch is a
        few seconds, and validating every one of them ate up to a tenth of the budget. Fixed-epoch
        runs validate every epoch (repeatable model selection)."""
        if math.isinf(self.budget) or self.config.val_max_share <= 0:
            return True
        return self.val_cost <= self.config.val_max_share * (self.elapsed() - self.last_val_end)

    def train_epoch(self, losses: list[float]) -> Iterator[TrainProgress]:
        self.patches.set_epoch(self.epoch)
        self.model.train()
        last_report = 0.0
        for x, y in self.loader:
            self.check_cancel()
            fraction = run_fraction(self.config, self.step, self.elapsed(), self.budget - self.val_cost)
            fraction = max(fraction, self.step / self.total_steps)
            lr = lr_at(self.config, self.step, fraction)
            for group in self.optimizer.param_groups:
                group["lr"] = lr
            loss = self.train_step(x, y)
            losses.append(loss)
            if self.average is not None:
                self.average.update(self.model, self.step)
            self.step += 1
            self.watch_classes()
            self.seen += x.shape[0]
            elapsed = self.elapsed()
            if elapsed - last_report >= self.config.progress_interval_s or self.step == 1:
                last_report = elapsed
                yield TrainProgress(
                    step=self.step,
                    epoch=self.epoch,
                    loss=loss,
                    lr=lr,
                    patches_per_s=self.seen / max(elapsed, 1e-6),
                    eta_s=steps_eta(self.config, self.budget, elapsed, self.step, self.total_steps),
                    elapsed_s=elapsed,
                )
            if self.out_of_time() or self.steps_done():
                break

    def train_step(self, x: torch.Tensor, y: torch.Tensor) -> float:
        x = x.to(self.device, non_blocking=True)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        y = y.to(self.device, non_blocking=True)
        loss = train_step(
            self.model, self.criterion, self.optimizer, x, y, self.amp_dtype, self.scaler, self.observe
        )
        self.check_cancel()
        if not math.isfinite(loss):
            raise TrainingError(
                f"{self.dataset.source}: the loss became {loss} at step {self.step}; "
                "lower the learning rate (lr) or check the images"
            )
        return loss

    def observe(self, logits: torch.Tensor, target: torch.Tensor) -> None:
        if self.rescue is not None:
            self.hits = class_hits(logits, target)
            self.patch_counts += self.hits[0].numpy()
        else:
            n = len(self.patch_counts)
            self.patch_counts += torch.bincount(target.reshape(-1), minlength=n)[:n].cpu().numpy()

    def watch_classes(self) -> None:
        """After a step: a class the network has stopped predicting gets weight (``class_watch``)."""
        if self.rescue is not None and self.hits is not None:
            self.rescue.after_step(self.reduce_hits(self.hits), self.step)

    def reduce_hits(self, hits: torch.Tensor) -> torch.Tensor:
        return hits  # one process: its own batch is the whole batch

    def validate(self, losses: list[float]) -> EpochEnd:
        t_val = time.perf_counter()
        scored = self.model if self.average is None else self.average.model
        metrics = self.score(scored)
        self.val_cost = time.perf_counter() - t_val
        # Only epochs from the plan's min_steps on compete (and a fine-tune's starting model, not a
        # warm start's):
        # earlier ones, at a high learning rate, are kept only until one does, so two held-out
        # images cannot crown a half-trained model by chance (DSB dev: step 88 of 300 was kept).
        # (Epoch 0, the untrained start, competes only by start_competes, even when min_steps is 0.)
        if self.epoch == 0:
            competes = self.start_competes
        else:
            competes = self.step >= self.config.min_steps
        improved = not self.best_competed or (competes and metrics.miou > self.best_miou + 1e-4)
        if improved:
            self.best_competed = competes
            self.best_miou, self.best_metrics, self.bad_epochs = metrics.miou, metrics, 0
            self.best_state = {k: v.detach().clone() for k, v in scored.state_dict().items()}
            self.best_epoch = self.epoch
        else:
            self.bad_epochs += self.epoch - self.last_val_epoch  # patience counts epochs
        self.last_val_epoch = self.epoch
        self.last_val_end = self.elapsed()
        elapsed = self.elapsed()
        train_loss = float(np.mean(losses)) if losses else float("nan")
        self.history.append(
            {
                "epoch": self.epoch,
                "step": self.step,
                "elapsed_s": round(elapsed, 2),
                "train_loss": round(train_loss, 5) if losses else None,
                "val_miou": round(metrics.miou, 5),
                "val_iou": [None if v is None else round(v, 5) for v in metrics.iou],
            }
        )
        return EpochEnd(self.epoch, self.step, elapsed, train_loss, metrics, self.best_miou, improved)

    def score(self, model: UNet) -> SegmentationMetrics:
        """Validation metrics of ``model``."""
        return self.score_offsets(model, [torch.zeros(len(self.dataset.class_names))])[0]

    def score_offsets(
        self, model: UNet, offsets: list[torch.Tensor], on_map: Any = None
    ) -> list[SegmentationMetrics]:
        """Validation metrics of ``model`` with each vector of logit offsets added (the distributed
        trainer reduces them across ranks); ``on_map`` as ``evaluate.confusions``'s."""
        ds = self.dataset
        cms = confusions(
            model,
            ds.val,
            len(ds.class_names),
            offsets,
            device=self.device,
            tile=self.config.val_tile,
            cancel=self.cancel,
            scale=self.config.scale,
            on_map=on_map,
        )
        return [fold_and_compute(cm, ds.class_names) for cm in cms]

    def prior_due(self) -> bool:
        """Will the result look for the rare classes' taught odds (``prior.py``)? Not when the kept
        model is a fine-tune's starting model (epoch 0): this run taught it nothing, and its odds
        were judged when it was made. Lowered again, a DSB model that had won on its 2 held-out
        images (0.848 -> 0.866) lost test nucleus IoU (0.804 -> 0.782), and it became current."""
        return self.config.prior_correction and self.dataset.split == "held-out" and self.best_epoch != 0

    def correct_prior(self) -> prior.PriorChoice | None:
        """Undo the rare classes' taught odds as far as the held-out images ask (``prior.py``)."""
        if not self.prior_due():
            return None
        patch_counts = self.reduce_hits(torch.from_numpy(self.patch_counts)).numpy()
        if not patch_counts.any():
            return None
        weights = self.criterion.weights
        names = self.dataset.class_names
        majority = int(np.argmax(self.image_counts))
        shift = prior.prior_shift(names, self.image_counts, patch_counts, weights)
        judged = prior.held_out_classes(names, [s.mask for s in self.dataset.val])
        shift = prior.judged_shift(shift, judged, majority)
        self.model.eval()

        def score(offsets: list[torch.Tensor]) -> tuple[list[SegmentationMetrics], np.ndarray]:
            found = prior.FoundObjects(names, len(offsets), majority=majority)
            metrics = self.score_offsets(self.model, offsets, found)
            return metrics, self.reduce_hits(torch.from_numpy(found.found)).numpy()

        choice = prior.choose(shift, score)
        if choice is not None:
            prior.bake(self.model, choice.offsets)
            self.best_metrics = choice.metrics
        return choice

    def result(self, stop_reason: str) -> TrainResult:
        if self.best_state is not None:
            self.model.load_state_dict(self.best_state)
        choice = self.correct_prior()
        model = self.model.to("cpu").to(memory_format=torch.contiguous_format).eval()
        notes = [self.rescue.note()] if self.rescue is not None and self.rescue.events else []
        if choice is not None:
            notes.append(choice.note())
        if stop_reason == "time_budget" and self.config.target_steps > self.step:
            notes.append(
                f"the {self.budget / 60:g}-minute cap stopped training after {self.step} of "
                f"{self.config.target_steps} planned steps"
            )
        assert self.best_metrics is not None  # at least one epoch always runs
        ds = self.dataset
        return TrainResult(
            model=model,
            class_names=list(ds.class_names),
            metrics=self.best_metrics,
            history=self.history,
            split=ds.split,
            images=[s.name for s in ds.train],
            val_images=[s.name for s in ds.val],
            steps=self.step,
            epochs=self.epoch,
            elapsed_s=self.elapsed(),
            stop_reason=stop_reason,
            config=self.config.to_dict(),
            device=str(self.device),
            note="; ".join(notes),
            prior=choice.to_dict() if choice is not None else None,
            kept_start=self.fine_tuning and self.best_epoch == 0 and self.same_classes,
        )
