"""The trainer: one run, reported through events, steered by pause/resume/stop from any thread.

`Trainer.run()` blocks the calling thread (a Textual thread worker, or the CLI's own thread);
`Trainer.start()` runs it on a new thread. Events go to the `emit` callback on the training thread,
so `emit` must be quick and non-blocking (Textual's post_message is).
"""

from __future__ import annotations

import copy
import math
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal, NoReturn, cast

import torch
import torch.nn.functional as F
from torch import nn

from engine import data as datamod
from engine.checkpoints import load_checkpoint, random_state, restore_random_state, save_checkpoint
from engine.config import RunConfig, validate
from engine.devices import cpu_has_fast_bf16, describe, resolve_device
from engine.events import (
    BatchProgress,
    CheckpointSaved,
    EpochEnded,
    Evaluated,
    Event,
    Notice,
    PauseChanged,
    RunFinished,
    RunStarted,
    RunStatus,
    Split,
)
from engine.metrics import evaluate_predictions
from engine.models import CONVOLUTIONAL, build_model, count_parameters
from engine.predict import predict_split
from engine.progress import ProgressRecorder
from engine.runs import (
    BEST_CHECKPOINT,
    LAST_CHECKPOINT,
    RunDirectory,
    RunsError,
    check_writable,
    epoch_record,
    evaluation_record,
    load_run,
    read_metrics,
    running_pid,
)
from engine.system import peak_process_memory_mib

PROGRESS_INTERVAL_SECONDS = 0.05  # at most ~20 progress events a second, whatever the batch rate
LOSS_SMOOTHING = 0.05  # weight of the newest batch in the smoothed loss
# Devices with fused optimizer kernels (one kernel updates every parameter) for Adam, AdamW and SGD alike;
# elsewhere (mps, xpu) torch's default stays. What they gain: the README's Speed section.
FUSED_OPTIMIZER_DEVICES = frozenset({"cpu", "cuda"})


class RunEnded(Exception):
    """Raised inside the loop to end the run with a status other than completed."""

    def __init__(self, status: RunStatus, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class Best:
    """The best epoch by validation accuracy so far, and a copy of its weights (what best.pt holds)."""

    val_accuracy: float = -1.0
    epoch: int = 0
    weights: dict[str, torch.Tensor] | None = None


@dataclass
class RunState:
    """What a prepared run holds: built once by `Trainer._prepare`, then changed only by the training loop."""

    run_dir: RunDirectory
    device: torch.device
    class_names: tuple[str, ...]
    train: datamod.DeviceSplit
    val: datamod.DeviceSplit
    test: datamod.DeviceSplit
    normalize: datamod.Normalizer
    model: nn.Module
    forward: nn.Module  # the model, or its torch.compile wrapper
    autocast: Callable[[], AbstractContextManager[Any]]
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler | None
    steps_per_epoch: int
    parameters: int
    start_epoch: int = 0  # epochs finished before this process started (a resumed run)
    best: Best = field(default_factory=Best)
    test_result: Evaluated | None = None


@dataclass
class EpochTotals:
    """Sums over an epoch's batches, kept on the device: reading one back would wait for a GPU every step."""

    loss_sum: torch.Tensor
    correct: torch.Tensor


class ProgressClock:
    """When to report progress (at most every PROGRESS_INTERVAL_SECONDS, and at each epoch's last step) and the
    figures a BatchProgress carries: the smoothed loss, images/s since the last report, elapsed time and ETA."""

    def __init__(self, trainer: Trainer, steps_per_epoch: int) -> None:
        self.trainer = trainer
        self.steps_per_epoch = steps_per_epoch
        self.train_start = time.perf_counter()
        self.steps_done = 0
        self.smoothed_loss: torch.Tensor | None = None
        self.last_tick = time.perf_counter()
        self.images_since_tick = 0

    def new_epoch(self) -> None:
        self.last_tick, self.images_since_tick = time.perf_counter(), 0

    def after_step(self, batch_loss: torch.Tensor, images: int, epoch: int, step: int) -> BatchProgress | None:
        if self.smoothed_loss is None:
            self.smoothed_loss = batch_loss.clone()
        else:
            self.smoothed_loss.lerp_(batch_loss, LOSS_SMOOTHING)
        self.steps_done += 1
        self.images_since_tick += images
        now = time.perf_counter()
        steps = self.steps_per_epoch
        if now - self.last_tick < PROGRESS_INTERVAL_SECONDS and step != steps:
            return None
        loss_value = self.smoothed_loss.item()  # the one sync per tick
        now = time.perf_counter()
        if not math.isfinite(loss_value):
            self.trainer.diverged(epoch, step, loss_value)
        paused = self.trainer.paused_seconds
        epochs = self.trainer.config.epochs
        remaining = (epochs - epoch) * steps + (steps - step)
        progress = BatchProgress(
            epoch=epoch,
            epochs=epochs,
            step=step,
            steps_per_epoch=steps,
            global_step=(epoch - 1) * steps + step,
            loss=loss_value,
            images_per_second=self.images_since_tick / max(now - self.last_tick, 1e-9),
            elapsed_seconds=time.perf_counter() - self.trainer.wall_start - paused,
            eta_seconds=(now - self.train_start - paused) / self.steps_done * remaining,
        )
        self.last_tick, self.images_since_tick = now, 0
        return progress


class Trainer:
    def __init__(
        self,
        config: RunConfig,
        *,
        runs_dir: Path,
        data_dir: Path,
        emit: Callable[[Event], None] = lambda event: None,
        download: bool = True,
        resume_dir: Path | None = None,
    ):
        """`resume_dir`: continue that run in its own folder instead of creating one (see `from_run`)."""
        self.config = validate(config)
        self.runs_dir = Path(runs_dir)
        self.data_dir = Path(data_dir)
        self.emit = ProgressRecorder(emit)  # and into the run folder, for a follower in another process
        self.download = download
        self.resume_dir = Path(resume_dir).resolve() if resume_dir is not None else None
        self.error: BaseException | None = None  # the exception behind a failed run, for --debug
        self.state: RunState | None = None  # once prepared
        self.started_at = datetime.now(timezone.utc)
        self.wall_start = time.perf_counter()
        self.paused_seconds = 0.0
        self._stop_requested = threading.Event()
        self._stop_reason = "stopped by the user"
        self._unpaused = threading.Event()
        self._unpaused.set()

    @classmethod
    def from_run(
        cls,
        run_dir: Path,
        *,
        data_dir: Path,
        emit: Callable[[Event], None] = lambda event: None,
        download: bool = True,
    ) -> Trainer:
        """A trainer that continues an unfinished run in its own folder, from its last.pt.

        Raises RunsError (with what to do) for a folder that is not a run, a completed run, or a run that a live
        process is still training; ConfigError if its config.json is no longer valid.
        """
        run = load_run(Path(run_dir))
        if run.status == "running":
            raise RunsError(f"{run.name} is still being trained by process {running_pid(run.path)}: stop that first")
        if run.status == "completed":
            raise RunsError(f"{run.name} has already completed all its epochs: start a new run instead of resuming it")
        config = RunConfig.from_dict(run.config)
        return cls(
            config, runs_dir=run.path.parent, data_dir=data_dir, emit=emit, download=download, resume_dir=run.path
        )

    # Control: safe from any thread; each takes effect before the next batch.
    def pause(self) -> None:
        if not self._stop_requested.is_set():
            self._unpaused.clear()

    def resume(self) -> None:
        self._unpaused.set()

    def stop(self, reason: str = "stopped by the user") -> None:
        """End as `stopped` before the next batch; `reason` begins the run's message (a sweep prunes this way)."""
        self._stop_reason = reason
        self._stop_requested.set()
        self._unpaused.set()

    @property
    def paused(self) -> bool:
        return not self._unpaused.is_set()

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self.run, name="mnist-tui-trainer", daemon=True)
        thread.start()
        return thread

    def run(self) -> RunFinished:
        """Train to the end, a stop, a divergence or a failure; always ends with one RunFinished event."""
        self.started_at = datetime.now(timezone.utc)
        self.wall_start = time.perf_counter()
        self.paused_seconds = 0.0
        try:
            state = self._prepare()
            self._train(state)
            self._evaluate_test(state)
            status: RunStatus = "completed"
            message = "training completed"
        except RunEnded as ended:
            status, message = ended.status, ended.message
        except torch.OutOfMemoryError as error:
            self.error = error
            if torch.cuda.is_available():  # hand the cached blocks back so the next run starts clean
                torch.cuda.empty_cache()
            status = "failed"
            message = (
                f"out of memory on {self.config.device}: lower the batch size (now {self.config.batch_size}),"
                " or close what else uses the device, then start again"
            )
        except Exception as error:  # any failure ends this run, never the app that runs it
            self.error = error
            status, message = "failed", f"{error}" or type(error).__name__
        return self._finish(status, message)

    # --- preparation --------------------------------------------------------------------------------

    def _prepare(self) -> RunState:
        """Device, data, model, optimizer and run folder, then (resuming) last.pt's state; emits RunStarted."""
        config = self.config
        check_writable(self.runs_dir)
        torch.manual_seed(config.seed)
        device = resolve_device(config.device)
        if device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # fixed batch shapes: pick the fastest kernels once
            torch.set_float32_matmul_precision("high")  # TF32 tensor cores for float32 matmuls (convs use them already)
        class_names = datamod.CLASS_NAMES[config.dataset]
        train, val, test = self._load_splits(device)
        if device.type == "cuda":  # after the first allocation: before it the process has no CUDA context
            torch.cuda.reset_peak_memory_stats(device)  # summary.json's peak is this run's, not the process's

        channels_last = config.model in CONVOLUTIONAL and device.type != "mps"
        normalize = datamod.Normalizer(config.dataset, channels_last=channels_last)
        model = build_model(config.model, len(class_names)).to(device)
        if channels_last:
            model = model.to(memory_format=torch.channels_last)
        autocast = self._autocast(device)
        forward = self._compiled(model, train, normalize, autocast) if config.compile else model
        optimizer = build_optimizer(config, model, device)
        steps_per_epoch = math.ceil(len(train) / config.batch_size)
        scheduler = (
            torch.optim.lr_scheduler.OneCycleLR(
                optimizer, max_lr=config.lr, epochs=config.epochs, steps_per_epoch=steps_per_epoch
            )
            if config.schedule == "onecycle"
            else None
        )
        if self.resume_dir is None:
            run_dir = RunDirectory.create(self.runs_dir, config.dataset, config.model, config.to_dict())
        else:
            run_dir = RunDirectory(self.resume_dir)
        state = self.state = RunState(
            run_dir=run_dir,
            device=device,
            class_names=class_names,
            train=train,
            val=val,
            test=test,
            normalize=normalize,
            model=model,
            forward=forward,
            autocast=autocast,
            optimizer=optimizer,
            scheduler=scheduler,
            steps_per_epoch=steps_per_epoch,
            parameters=count_parameters(model),
        )
        run_dir.lock()
        if self.resume_dir is not None:
            self._restore(state)
        self.emit(
            RunStarted(
                run_dir=str(run_dir.path),
                config=config.to_dict(),
                device=str(device),
                device_name=describe(device),
                parameters=state.parameters,
                train_size=len(train),
                val_size=len(val),
                test_size=len(test),
                class_names=class_names,
                start_epoch=state.start_epoch,
            )
        )
        return state

    def _load_splits(
        self, device: torch.device
    ) -> tuple[datamod.DeviceSplit, datamod.DeviceSplit, datamod.DeviceSplit]:
        """Train, validation (the seeded split of the training file) and test, each one tensor on the device."""
        config = self.config
        train_images, train_labels = datamod.load_split(
            config.dataset, self.data_dir, train=True, download=self.download, on_download=self.emit
        )
        test_images, test_labels = datamod.load_split(
            config.dataset, self.data_dir, train=False, download=self.download, on_download=self.emit
        )
        train_index, val_index = datamod.train_val_indices(config, len(train_labels))
        return (
            datamod.DeviceSplit.from_cpu(train_images[train_index], train_labels[train_index], device),
            datamod.DeviceSplit.from_cpu(train_images[val_index], train_labels[val_index], device),
            datamod.DeviceSplit.from_cpu(test_images, test_labels, device),
        )

    def _restore(self, state: RunState) -> None:
        """Continue from last.pt: weights, optimizer, schedule, random state, epochs done, best so far."""
        run_dir = state.run_dir
        last_path = run_dir.path / LAST_CHECKPOINT
        last = load_checkpoint(last_path, map_location=state.device) if last_path.is_file() else None
        run_dir.remove_summary()
        run_dir.remove_temp_files()
        if last is None:  # killed during epoch 1: nothing to continue from
            run_dir.drop_metrics_after(0)
            return
        state.model.load_state_dict(last["model"])
        state.optimizer.load_state_dict(last["optimizer"])
        if state.scheduler is not None and last["scheduler"] is not None:
            state.scheduler.load_state_dict(last["scheduler"])
        state.start_epoch = last["epoch"]
        if "random_state" in last:  # checkpoints written before it was saved continue with the seed's stream
            restore_random_state(last["random_state"], state.device)
        state.best = Best(last["best_val_accuracy"], last["best_epoch"])
        # last.pt is written before best.pt, so best.pt lags only when the last epoch was the best one.
        best_path = run_dir.path / BEST_CHECKPOINT
        best = load_checkpoint(best_path, map_location=state.device) if best_path.is_file() else None
        if best is not None and best["epoch"] == state.best.epoch:
            state.best.weights = best["model"]
        else:
            state.best.weights = copy.deepcopy(state.model.state_dict())
            self._save_checkpoint(state, best_path, state.start_epoch)
        # Lines of an epoch whose checkpoint was never written are redone, so they are dropped, never doubled.
        run_dir.drop_metrics_after(state.start_epoch)
        self.emit(
            Notice("info", f"resuming {run_dir.path.name} after epoch {state.start_epoch} of {self.config.epochs}")
        )

    def _autocast(self, device: torch.device) -> Callable[[], AbstractContextManager[Any]]:
        if not self.config.amp:
            return nullcontext
        if device.type not in ("cuda", "cpu"):
            self.emit(Notice("warning", f"mixed precision is not used on {device.type}; training in float32"))
            return nullcontext
        if device.type == "cpu" and not cpu_has_fast_bf16():
            self.emit(
                Notice(
                    "warning",
                    "this CPU has no native bf16 (AVX512-BF16 or AMX), where it runs ~8x slower; training in float32",
                )
            )
            return nullcontext
        device_type = device.type
        return lambda: torch.autocast(device_type=device_type, dtype=torch.bfloat16)

    def _compiled(
        self,
        model: nn.Module,
        train: datamod.DeviceSplit,
        normalize: datamod.Normalizer,
        autocast: Callable[[], AbstractContextManager[Any]],
    ) -> nn.Module:
        """torch.compile, tried on one training batch now: compiling is lazy, and a failure must not end the run."""
        state = copy.deepcopy(model.state_dict())  # the trial step must leave no trace (batch-norm statistics)
        try:
            compiled = cast(nn.Module, torch.compile(model))
            pixels, labels = next(train.batches(self.config.batch_size))
            with autocast():
                logits = compiled(normalize(pixels))
            F.cross_entropy(logits.float(), labels).backward()
            return compiled
        except Exception as error:  # compile needs a working C++ toolchain (or Triton); training does not
            reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
            self.emit(Notice("warning", f"torch.compile failed ({reason}); training without it"))
            return model
        finally:
            model.load_state_dict(state)
            model.zero_grad(set_to_none=True)

    # --- training -----------------------------------------------------------------------------------

    def _train(self, state: RunState) -> None:
        """Each epoch: its steps (with progress), then its end (validation, metrics.jsonl), then checkpoints."""
        clock = ProgressClock(self, state.steps_per_epoch)
        for epoch in range(state.start_epoch + 1, self.config.epochs + 1):
            started, paused_before = time.perf_counter(), self.paused_seconds
            totals = self._train_epoch(state, epoch, clock)
            seconds = time.perf_counter() - started - (self.paused_seconds - paused_before)
            evaluated = self._end_epoch(state, epoch, totals, seconds)
            self._checkpoint(state, epoch, evaluated.accuracy)

    def _train_epoch(self, state: RunState, epoch: int, clock: ProgressClock) -> EpochTotals:
        config = self.config
        state.model.train()
        order = torch.randperm(len(state.train), generator=torch.Generator().manual_seed(config.seed * 100_003 + epoch))
        totals = EpochTotals(
            torch.zeros((), device=state.device), torch.zeros((), dtype=torch.long, device=state.device)
        )
        clock.new_epoch()
        for step, (pixels, labels) in enumerate(state.train.batches(config.batch_size, order.to(state.device)), 1):
            self._wait_if_paused(epoch, step)
            if self._stop_requested.is_set():
                raise RunEnded("stopped", f"{self._stop_reason} during epoch {epoch}")
            batch_loss = self._step(state, pixels, labels, totals)
            progress = clock.after_step(batch_loss, labels.shape[0], epoch, step)
            if progress is not None:
                self.emit(progress)
        return totals

    def _step(self, state: RunState, pixels: torch.Tensor, labels: torch.Tensor, totals: EpochTotals) -> torch.Tensor:
        """One optimizer step; returns the batch's loss, still on the device."""
        x = state.normalize(pixels)
        if self.config.augment:
            x = datamod.augment(x)
        with state.autocast():
            logits = state.forward(x)
        loss = F.cross_entropy(logits.float(), labels)
        state.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        state.optimizer.step()
        if state.scheduler is not None:
            state.scheduler.step()
        batch_loss = loss.detach()
        totals.loss_sum += batch_loss * labels.shape[0]
        totals.correct += (logits.detach().argmax(1) == labels).sum()
        return batch_loss

    def _end_epoch(self, state: RunState, epoch: int, totals: EpochTotals, seconds: float) -> Evaluated:
        """Validate, write the epoch's lines to metrics.jsonl, and report them."""
        train_loss = totals.loss_sum.item() / len(state.train)
        if not math.isfinite(train_loss):
            self.diverged(epoch, state.steps_per_epoch, train_loss)
        evaluated = self._evaluate(state, "val", state.val, epoch)
        ended = EpochEnded(
            epoch=epoch,
            epochs=self.config.epochs,
            train_loss=train_loss,
            train_accuracy=totals.correct.item() / len(state.train),
            val_loss=evaluated.loss,
            val_accuracy=evaluated.accuracy,
            val_f1=evaluated.f1,
            learning_rate=state.optimizer.param_groups[0]["lr"],
            seconds=seconds,
        )
        state.run_dir.append_metrics(epoch_record(ended))
        state.run_dir.append_metrics(evaluation_record(evaluated))
        self.emit(ended)
        self.emit(evaluated)
        return evaluated

    def _wait_if_paused(self, epoch: int, step: int) -> None:
        if self._unpaused.is_set():
            return
        self.emit(PauseChanged(paused=True, epoch=epoch, step=step))
        paused_at = time.perf_counter()
        self._unpaused.wait()
        self.paused_seconds += time.perf_counter() - paused_at
        self.emit(PauseChanged(paused=False, epoch=epoch, step=step))

    def diverged(self, epoch: int, step: int, value: float) -> NoReturn:
        raise RunEnded(
            "diverged",
            f"the training loss became {value} at epoch {epoch}, step {step}: lower the learning rate"
            f" (now {self.config.lr:g}; try {self.config.lr / 10:g})",
        )

    def _evaluate(self, state: RunState, split: Split, data: datamod.DeviceSplit, epoch: int) -> Evaluated:
        predictions = predict_split(state.forward, data, state.normalize, state.autocast)
        return evaluate_predictions(
            data.labels.cpu().numpy(),
            predictions.predicted,
            state.class_names,
            split=split,
            epoch=epoch,
            loss=predictions.loss,
        )

    # --- checkpoints and the end --------------------------------------------------------------------

    def _checkpoint(self, state: RunState, epoch: int, val_accuracy: float) -> None:
        """last.pt after every epoch; best.pt, and the best weights kept in memory, when validation improved."""
        improved = val_accuracy > state.best.val_accuracy
        if improved:
            state.best = Best(val_accuracy, epoch, copy.deepcopy(state.model.state_dict()))
        files: tuple[tuple[Literal["last", "best"], str], ...] = (("last", LAST_CHECKPOINT), ("best", BEST_CHECKPOINT))
        for kind, name in files:
            if kind == "best" and not improved:
                continue
            path = state.run_dir.path / name
            self._save_checkpoint(state, path, epoch)
            self.emit(CheckpointSaved(path=str(path), epoch=epoch, kind=kind, val_accuracy=val_accuracy))

    def _save_checkpoint(self, state: RunState, path: Path, epoch: int) -> None:
        save_checkpoint(
            path,
            model=state.model,
            optimizer=state.optimizer,
            scheduler=state.scheduler,
            epoch=epoch,
            config=self.config,
            best_val_accuracy=state.best.val_accuracy,
            best_epoch=state.best.epoch,
            random_state=random_state(state.device),
        )

    def _evaluate_test(self, state: RunState) -> None:
        """Score the best-by-validation weights (what best.pt holds) on the test split, once."""
        if state.best.weights is not None:
            state.model.load_state_dict(state.best.weights)
        evaluated = self._evaluate(state, "test", state.test, state.best.epoch)
        state.run_dir.append_metrics(evaluation_record(evaluated))
        self.emit(evaluated)
        state.test_result = evaluated

    def _finish(self, status: RunStatus, message: str) -> RunFinished:
        summary = self._summary(status, message)
        run_dir = self.state.run_dir if self.state is not None else None
        if run_dir is not None:
            try:
                run_dir.write_summary(summary)
            except OSError as error:
                message = f"{message}; summary.json could not be written ({error})"
            run_dir.unlock()
        finished = RunFinished(
            status=status, message=message, run_dir=str(run_dir.path) if run_dir else "", summary=summary
        )
        self.emit(finished)
        return finished

    def _summary(self, status: RunStatus, message: str) -> dict[str, Any]:
        config, state = self.config, self.state
        epochs_done: list[EpochEnded] = []
        best_val = None
        if state is not None:
            epochs_done, _ = read_metrics(state.run_dir.path)
            best_val = next((e for e in epochs_done if e.epoch == state.best.epoch), None)
        test = state.test_result if state is not None else None
        return {
            "run": state.run_dir.path.name if state else None,
            "dataset": config.dataset,
            "model": config.model,
            "device": str(state.device) if state else config.device,
            "parameters": state.parameters if state else None,
            "status": status,
            "message": message,
            "epochs": config.epochs,
            "epochs_completed": len(epochs_done),
            "best_epoch": (state.best.epoch or None) if state else None,
            "val_accuracy": best_val.val_accuracy if best_val else None,
            "val_f1": best_val.val_f1 if best_val else None,
            "test_accuracy": test.accuracy if test else None,
            "test_f1": test.f1 if test else None,
            # The epochs kept, validation included: a resumed run counts those before its restart too, and a
            # stopped run its finished epochs.
            "train_seconds": sum(epoch.seconds for epoch in epochs_done) if epochs_done else None,
            "duration_seconds": time.perf_counter() - self.wall_start,
            "peak_memory_mib": peak_process_memory_mib(),
            "peak_gpu_memory_mib": _peak_gpu_memory_mib(state.device) if state else None,
            "started_at": self.started_at.isoformat(timespec="seconds"),
            "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }


def build_optimizer(config: RunConfig, model: nn.Module, device: torch.device) -> torch.optim.Optimizer:
    """The config's optimizer over the model's parameters, fused where the device has the kernels."""
    params = model.parameters()
    options: dict[str, Any] = dict(lr=config.lr, weight_decay=config.weight_decay)
    if device.type in FUSED_OPTIMIZER_DEVICES:
        options["fused"] = True
    if config.optimizer == "sgd":
        return torch.optim.SGD(params, momentum=0.9, nesterov=True, **options)
    if config.optimizer == "adamw":
        return torch.optim.AdamW(params, **options)
    return torch.optim.Adam(params, **options)


def _peak_gpu_memory_mib(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    return round(torch.cuda.max_memory_allocated(device) / 2**20, 1)
