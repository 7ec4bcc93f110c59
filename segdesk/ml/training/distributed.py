"""Distributed training with PyTorch DistributedDataParallel under ``torchrun`` (the trainer side).

``segdesk train DIR --distributed`` (``commands.distributed``) runs one process per rank (``torchrun
--nproc_per_node N``, one node or several with its rendezvous).
gloo on CPUs, NCCL on GPUs (rank ``LOCAL_RANK`` takes ``cuda:LOCAL_RANK``).

- Rank 0 alone plans: it picks the training images (``training_set_from_project``, the same rule as
  one process) and the model to start from, and sends the plan to the others as JSON (no pickle).
- Each rank reads the same images and samples its own share of each global batch: step k's patches
  ``k*B .. k*B+B-1`` of the epoch are split into equal consecutive slices, one per rank, so the ranks
  together see exactly the patches one process would with the same ``B``. DDP averages gradients.
- Every step the ranks agree (one all-reduce) on the clock and on whether any rank was cancelled,
  so the schedule, the time budget and stopping are identical on all of them; the loss is averaged
  over ranks before backward, so a non-finite loss stops every rank at the same step.
- Validation images are shared out; the confusion matrices are summed (metrics reduced over ranks).
- Rank 0 alone compares with the current model and writes the new version (atomically, the same
  checkpoint as one process, via ``commands.train.finish_training``); the others wait for it.
- A rank that fails or is killed: torchrun stops the others (SIGTERM), which say so and exit
  without writing anything; the previous current model stays current.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from segdesk.core.cancel import CancelToken
from segdesk.core.errors import Cancelled, TrainingError
from segdesk.ml.data import TrainingSet
from segdesk.ml.metrics import SegmentationMetrics, fold_and_compute
from segdesk.ml.model import UNet
from segdesk.ml.training.augment import apply, build_augmentation
from segdesk.ml.training.evaluate import confusions
from segdesk.ml.training.train import TrainConfig, _Trainer


@dataclass(frozen=True)
class Rank:
    """Where this process sits in a torchrun job (from the environment torchrun sets)."""

    rank: int
    world_size: int
    local_rank: int

    @classmethod
    def from_env(cls) -> Rank | None:
        """None when not started by torchrun (or another launcher that sets RANK / WORLD_SIZE)."""
        if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
            return None
        try:
            rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
            local = int(os.environ.get("LOCAL_RANK", rank))
        except ValueError as exc:
            raise TrainingError(f"torchrun environment: RANK / WORLD_SIZE / LOCAL_RANK: {exc}") from exc
        if not 0 <= rank < world:
            raise TrainingError(f"torchrun environment: RANK {rank} is not in 0..{world - 1}")
        return cls(rank, world, local)


def backend_and_device(device: str, local_rank: int) -> tuple[str, str]:
    """(``gloo``, ``cpu``) or (``nccl``, ``cuda:LOCAL_RANK``). ``auto`` takes the GPUs when there are."""
    if device == "cpu":
        return "gloo", "cpu"
    if device == "auto" and not torch.cuda.is_available():
        return "gloo", "cpu"
    if device in ("auto", "cuda") or device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise TrainingError(f"--device {device}: no CUDA GPU is available to this rank")
        count = torch.cuda.device_count()
        if local_rank >= count:
            raise TrainingError(
                f"local rank {local_rank} has no GPU (this machine has {count}); "
                f"use --nproc_per_node {count} or fewer"
            )
        return "nccl", f"cuda:{local_rank}"
    raise TrainingError(f"--device {device}: distributed training runs on cpu or cuda")


class RankShare(torch.utils.data.Sampler[int]):
    """This rank's consecutive slice of each global batch of ``global_batch`` patch indices."""

    def __init__(self, length: int, global_batch: int, rank: int, world_size: int) -> None:
        if global_batch % world_size:
            raise TrainingError(
                f"the batch size {global_batch} does not split evenly over {world_size} ranks; "
                f"use a multiple of {world_size}"
            )
        self.steps = length // global_batch
        self.global_batch, self.per_rank, self.rank = global_batch, global_batch // world_size, rank

    def __iter__(self) -> Iterator[int]:
        for k in range(self.steps):
            start = k * self.global_batch + self.rank * self.per_rank
            yield from range(start, start + self.per_rank)

    def __len__(self) -> int:
        return self.steps * self.per_rank


def broadcast_json(obj: Any, device: torch.device | str = "cpu") -> Any:
    """Rank 0's JSON-able ``obj`` on every rank (as UTF-8 bytes in a tensor: no pickle)."""
    if dist.get_rank() == 0:
        data = json.dumps(obj).encode()
        size = torch.tensor([len(data)], dtype=torch.int64, device=device)
    else:
        size = torch.zeros(1, dtype=torch.int64, device=device)
    dist.broadcast(size, 0)
    if dist.get_rank() == 0:
        buf = torch.frombuffer(bytearray(data), dtype=torch.uint8).to(device)
    else:
        buf = torch.empty(int(size.item()), dtype=torch.uint8, device=device)
    dist.broadcast(buf, 0)
    return json.loads(buf.cpu().numpy().tobytes().decode())


class DistributedTrainer(_Trainer):
    """``_Trainer`` with DDP, this rank's share of every batch, and decisions agreed by all ranks."""

    def __init__(
        self,
        dataset: TrainingSet,
        config: TrainConfig,
        cancel: CancelToken | None,
        base: UNet | None,
        model_classes: Sequence[str] | None,
    ) -> None:
        super().__init__(dataset, config, None, base, model_classes)
        self.local_cancel = cancel  # self.cancel stays None: ranks stop together, between steps
        self.rank, self.world = dist.get_rank(), dist.get_world_size()
        if self.rank:  # rank 0 augments as one process would; the others draw their own streams
            pipeline = build_augmentation(
                config.patch_size, config.augment, seed=config.seed + 7919 * self.rank
            )
            self.patches.transform = lambda im, m: apply(pipeline, im, m)
        share = RankShare(len(self.patches), config.batch_size, self.rank, self.world)
        if share.steps == 0:
            raise TrainingError(f"an epoch of {len(self.patches)} patches is less than one batch")
        self.loader = torch.utils.data.DataLoader(
            self.patches,
            batch_size=share.per_rank,
            sampler=share,
            num_workers=config.num_workers,
            drop_last=True,
        )
        self.total_steps = len(self.loader) * config.max_epochs
        ids = [self.device.index] if self.device.type == "cuda" else None
        self.ddp = DistributedDataParallel(self.model, device_ids=ids)
        self.clock = 0.0

    # The clock and cancel are agreed on by all ranks: the largest elapsed time, any rank's cancel.
    def elapsed(self) -> float:
        return self.clock

    def sync(self, val_cost: float | None = None) -> bool:
        cancelled = self.local_cancel is not None and self.local_cancel.is_set()
        own = time.perf_counter() - self.start
        t = torch.tensor([float(cancelled), own, val_cost or 0.0], dtype=torch.float64, device=self.device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        self.clock = float(t[1])
        if val_cost is not None:
            self.val_cost = float(t[2])
        return bool(t[0])

    def check_cancel(self) -> None:
        if self.sync():
            raise Cancelled("training cancelled")

    def train_step(self, x: torch.Tensor, y: torch.Tensor) -> float:
        x = x.to(self.device, non_blocking=True)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        y = y.to(self.device, non_blocking=True)
        self.optimizer.zero_grad(set_to_none=True)
        if self.amp_dtype is not None:
            with torch.autocast(device_type=x.device.type, dtype=self.amp_dtype):
                logits = self.ddp(x)
            loss = self.criterion(logits.float(), y)
        else:
            logits = self.ddp(x)
            loss = self.criterion(logits, y)
        self.observe(logits.detach(), y)
        mean = loss.detach().clone()
        dist.all_reduce(mean)
        value = float(mean) / self.world
        if not math.isfinite(value):
            raise TrainingError(
                f"{self.dataset.source}: the loss became {value} at step {self.step}; "
                "lower the learning rate (lr) or check the images"
            )
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            loss.backward()
            self.optimizer.step()
        return value

    def reduce_hits(self, hits: torch.Tensor) -> torch.Tensor:
        """Every rank's batch share summed: all ranks see the same counts and switch together."""
        total = hits.to(self.device)
        dist.all_reduce(total)
        return total.cpu()

    def score_offsets(
        self, model: UNet, offsets: list[torch.Tensor], on_map: Any = None
    ) -> list[SegmentationMetrics]:
        """Each rank scores its share of the validation images; the confusion matrices are summed."""
        ds = self.dataset
        for buffer in model.buffers():  # BatchNorm statistics: rank 0's, as in the saved model
            dist.broadcast(buffer.data, 0)
        mine = ds.val[self.rank :: self.world]
        n = len(ds.class_names)
        cms = confusions(
            model,
            mine,
            n,
            offsets,
            device=self.device,
            tile=self.config.val_tile,
            scale=self.config.scale,
            on_map=on_map,
        )
        total = torch.from_numpy(np.stack([cm.matrix for cm in cms])).to(self.device)
        dist.all_reduce(total)
        out = []
        for cm, matrix in zip(cms, total.cpu().numpy().astype(np.int64), strict=True):
            cm.matrix = matrix
            out.append(fold_and_compute(cm, ds.class_names))
        return out

    def validate(self, losses: list[float]) -> Any:
        event = super().validate(losses)
        self.sync(val_cost=self.val_cost)  # every rank budgets the slowest rank's validation
        return event
