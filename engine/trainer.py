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
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
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
)
from engine.metrics import evaluate_predictions
from engine.models import MODEL_NAMES, MODELS, build_model, count_parameters
from engine.progress import ProgressRecorder
from engine.runs import (
    BEST_CHECKPOINT,
    LAST_CHECKPOINT,
    RunDirectory,
    RunsError,
    check_writable,
    evaluation_record,
    load_run,
    read_metrics,
    running_pid,
)
from engine.system import peak_process_memory_mib

PROGRESS_INTERVAL_SECONDS = 0.05  # at most ~20 progress events a second, whatever the batch rate
LOSS_SMOOTHING = 0.05  # weight of the newest batch in the smoothed loss
# Large enough for a GPU with these small models; small enough that a batch's activations stay below
# glibc's mmap threshold (engine/__init__.py): at 4096 a cnn evaluation spent most of its time faulting in
# fresh pages, 0.8 s on the 10,000 test images against 0.33 s at 512.
EVAL_BATCH_SIZE = 512
# Devices whose fused optimizer kernels (one kernel updates every parameter) are registered for Adam, AdamW
# and SGD alike in the torch builds tested; elsewhere (mps, xpu) torch's default stays. On this 2-core CPU a
# training step of linear is 22% faster with them, mlp 12% (1 s blocks in turn); cnn, mostly convolution, the same.
FUSED_OPTIMIZER_DEVICES = frozenset({"cpu", "cuda"})


class RunEnded(Exception):
    """Raised inside the loop to end the run with a status other than completed."""

    def __init__(self, status: RunStatus, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class SplitPredictions:
    loss: float
    predicted: np.ndarray  # class index per image
    confidence: np.ndarray  # softmax probability of the predicted class


@torch.inference_mode()
def predict_split(
    model: nn.Module,
    split: datamod.DeviceSplit,
    normalize: datamod.Normalizer,
    autocast: Callable[[], Any] = nullcontext,
) -> SplitPredictions:
    """Evaluate in large batches, results kept on the device: one wait for a GPU per split, not one per batch."""
    model.eval()
    loss_sum = torch.zeros((), device=split.labels.device)
    predicted, confidence = [], []
    for pixels, labels in split.batches(EVAL_BATCH_SIZE):
        with autocast():
            logits = model(normalize(pixels))
        logits = logits.float()
        loss_sum += F.cross_entropy(logits, labels, reduction="sum")
        probabilities, classes = logits.softmax(1).max(1)
        predicted.append(classes)
        confidence.append(probabilities)
    return SplitPredictions(
        loss=loss_sum.item() / max(1, len(split)),
        predicted=torch.cat(predicted).cpu().numpy(),
        confidence=torch.cat(confidence).cpu().numpy(),
    )


class Trainer:
    def __init__(
        self,
        config: RunConfig,
        *,
        runs_dir: Path,
        data_dir: Path,
        emit: Callable[[Event], None] = lambda event: None,
        download: bool = True,
    ):
        self.config = validate(config, MODEL_NAMES)
        self.runs_dir = Path(runs_dir)
        self.data_dir = Path(data_dir)
        self.emit = ProgressRecorder(emit)  # and into the run folder, for a follower in another process
        self.download = download
        self.error: BaseException | None = None  # the exception behind a failed run, for --debug
        self.resume_dir: Path | None = None  # set by from_run: continue that run instead of creating one
        self._stop_requested = threading.Event()
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
        trainer = cls(
            RunConfig.from_dict(run.config), runs_dir=run.path.parent, data_dir=data_dir, emit=emit, download=download
        )
        trainer.resume_dir = run.path.resolve()
        return trainer

    # Control: safe from any thread; each takes effect before the next batch.
    def pause(self) -> None:
        if not self._stop_requested.is_set():
            self._unpaused.clear()

    def resume(self) -> None:
        self._unpaused.set()

    def stop(self) -> None:
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
        self._started_at = datetime.now(timezone.utc)
        self._wall_start = time.perf_counter()
        self.run_dir: RunDirectory | None = None
        self.summary: dict[str, Any] = {}
        try:
            self._prepare()
            self._train()
            status: RunStatus = "completed"
            message = "training completed"
            self._evaluate_test()
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

    # --- stages -------------------------------------------------------------------------------------

    def _prepare(self) -> None:
        config = self.config
        check_writable(self.runs_dir)
        torch.manual_seed(config.seed)
        self.device = resolve_device(config.device)
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # fixed batch shapes: pick the fastest kernels once
            torch.set_float32_matmul_precision("high")  # TF32 tensor cores for float32 matmuls (convs use them already)
        self.class_names = datamod.CLASS_NAMES[config.dataset]
        train_images, train_labels = datamod.load_split(
            config.dataset, self.data_dir, train=True, download=self.download, on_download=self.emit
        )
        test_images, test_labels = datamod.load_split(
            config.dataset, self.data_dir, train=False, download=self.download, on_download=self.emit
        )
        train_index, val_index = datamod.train_val_indices(config, len(train_labels))
        self.train = datamod.DeviceSplit.from_cpu(train_images[train_index], train_labels[train_index], self.device)
        self.val = datamod.DeviceSplit.from_cpu(train_images[val_index], train_labels[val_index], self.device)
        self.test = datamod.DeviceSplit.from_cpu(test_images, test_labels, self.device)
        if self.device.type == "cuda":  # after the first allocation: before it the process has no CUDA context
            torch.cuda.reset_peak_memory_stats(self.device)  # summary.json's peak is this run's, not the process's

        spec = MODELS[config.model]
        channels_last = spec.convolutional and self.device.type != "mps"
        self.normalize = datamod.Normalizer(config.dataset, channels_last=channels_last)
        self.model = build_model(config.model, len(self.class_names)).to(self.device)
        if channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.parameters = count_parameters(self.model)
        self.autocast = self._autocast()
        self.forward = self._compiled(self.model) if config.compile else self.model
        self.optimizer = self._optimizer()
        self.steps_per_epoch = math.ceil(len(self.train) / config.batch_size)
        self.scheduler = (
            torch.optim.lr_scheduler.OneCycleLR(
                self.optimizer, max_lr=config.lr, epochs=config.epochs, steps_per_epoch=self.steps_per_epoch
            )
            if config.schedule == "onecycle"
            else None
        )
        self.start_epoch = 0
        self.best_val_accuracy = -1.0
        self.best_epoch = 0
        self.best_state: dict[str, torch.Tensor] | None = None

        if self.resume_dir is None:
            self.run_dir = RunDirectory.create(self.runs_dir, config.dataset, config.model, config.to_dict())
        else:
            self.run_dir = RunDirectory(self.resume_dir)
        self.run_dir.lock()
        if self.resume_dir is not None:
            self._restore()
        self.emit(
            RunStarted(
                run_dir=str(self.run_dir.path),
                config=config.to_dict(),
                device=str(self.device),
                device_name=describe(self.device),
                parameters=self.parameters,
                train_size=len(self.train),
                val_size=len(self.val),
                test_size=len(self.test),
                class_names=self.class_names,
                start_epoch=self.start_epoch,
            )
        )

    def _restore(self) -> None:
        """Continue from last.pt: weights, optimizer, schedule, random state, epochs done, best so far."""
        run_dir = self.run_dir
        last_path = run_dir.path / LAST_CHECKPOINT
        last = load_checkpoint(last_path, map_location=self.device) if last_path.is_file() else None
        run_dir.remove_summary()
        run_dir.remove_temp_files()
        if last is None:  # killed during epoch 1: nothing to continue from
            run_dir.drop_metrics_after(0)
            return
        self.model.load_state_dict(last["model"])
        self.optimizer.load_state_dict(last["optimizer"])
        if self.scheduler is not None and last["scheduler"] is not None:
            self.scheduler.load_state_dict(last["scheduler"])
        self.start_epoch = last["epoch"]
        if "random_state" in last:  # checkpoints written before it was saved continue with the seed's stream
            restore_random_state(last["random_state"], self.device)
        self.best_val_accuracy, self.best_epoch = last["best_val_accuracy"], last["best_epoch"]
        # last.pt is written before best.pt, so best.pt lags only when the last epoch was the best one.
        best_path = run_dir.path / BEST_CHECKPOINT
        best = load_checkpoint(best_path, map_location=self.device) if best_path.is_file() else None
        if best is not None and best["epoch"] == self.best_epoch:
            self.best_state = best["model"]
        else:
            self.best_state = copy.deepcopy(self.model.state_dict())
            save_checkpoint(
                best_path,
                model=self.model,
                optimizer=self.optimizer,
                scheduler=self.scheduler,
                epoch=self.start_epoch,
                config=self.config,
                best_val_accuracy=self.best_val_accuracy,
                best_epoch=self.best_epoch,
                random_state=random_state(self.device),
            )
        # Lines of an epoch whose checkpoint was never written are redone, so they are dropped, never doubled.
        run_dir.drop_metrics_after(self.start_epoch)
        self.emit(
            Notice("info", f"resuming {run_dir.path.name} after epoch {self.start_epoch} of {self.config.epochs}")
        )

    def _optimizer(self) -> torch.optim.Optimizer:
        config = self.config
        params = self.model.parameters()
        options = dict(lr=config.lr, weight_decay=config.weight_decay)
        if self.device.type in FUSED_OPTIMIZER_DEVICES:
            options["fused"] = True
        if config.optimizer == "sgd":
            return torch.optim.SGD(params, momentum=0.9, nesterov=True, **options)
        if config.optimizer == "adamw":
            return torch.optim.AdamW(params, **options)
        return torch.optim.Adam(params, **options)

    def _autocast(self) -> Callable[[], Any]:
        if not self.config.amp:
            return nullcontext
        if self.device.type not in ("cuda", "cpu"):
            self.emit(Notice("warning", f"mixed precision is not used on {self.device.type}; training in float32"))
            return nullcontext
        if self.device.type == "cpu" and not cpu_has_fast_bf16():
            self.emit(
                Notice(
                    "warning",
                    "this CPU has no native bf16 (AVX512-BF16 or AMX), where it runs ~8x slower; training in float32",
                )
            )
            return nullcontext
        device_type = self.device.type
        return lambda: torch.autocast(device_type=device_type, dtype=torch.bfloat16)

    def _compiled(self, model: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
        """torch.compile, tried on one training batch now: compiling is lazy, and a failure must not end the run."""
        state = copy.deepcopy(model.state_dict())  # the trial step must leave no trace (batch-norm statistics)
        try:
            compiled = torch.compile(model)
            pixels, labels = next(self.train.batches(self.config.batch_size))
            with self.autocast():
                logits = compiled(self.normalize(pixels))
            F.cross_entropy(logits.float(), labels).backward()
            return compiled
        except Exception as error:  # compile needs a working C++ toolchain (or Triton); training does not
            reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
            self.emit(Notice("warning", f"torch.compile failed ({reason}); training without it"))
            return model
        finally:
            model.load_state_dict(state)
            model.zero_grad(set_to_none=True)

    def _wait_if_paused(self, epoch: int, step: int) -> None:
        if self._unpaused.is_set():
            return
        self.emit(PauseChanged(paused=True, epoch=epoch, step=step))
        paused_at = time.perf_counter()
        self._unpaused.wait()
        self._paused_seconds += time.perf_counter() - paused_at
        self.emit(PauseChanged(paused=False, epoch=epoch, step=step))

    def _train(self) -> None:
        config = self.config
        epochs, steps = config.epochs, self.steps_per_epoch
        self._paused_seconds = 0.0
        train_start = time.perf_counter()
        steps_done = 0
        smoothed_loss: torch.Tensor | None = None
        for epoch in range(self.start_epoch + 1, epochs + 1):
            epoch_start = time.perf_counter()
            paused_before_epoch = self._paused_seconds
            self.model.train()
            order = torch.randperm(
                len(self.train), generator=torch.Generator().manual_seed(config.seed * 100_003 + epoch)
            )
            order = order.to(self.device)
            loss_sum = torch.zeros((), device=self.device)
            correct = torch.zeros((), dtype=torch.long, device=self.device)
            last_tick, images_since_tick = time.perf_counter(), 0
            for step, (pixels, labels) in enumerate(self.train.batches(config.batch_size, order), start=1):
                self._wait_if_paused(epoch, step)
                if self._stop_requested.is_set():
                    raise RunEnded("stopped", f"stopped by the user during epoch {epoch}")
                x = self.normalize(pixels)
                if config.augment:
                    x = datamod.augment(x)
                with self.autocast():
                    logits = self.forward(x)
                loss = F.cross_entropy(logits.float(), labels)
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                self.optimizer.step()
                if self.scheduler is not None:
                    self.scheduler.step()

                # Accumulate on the device: reading a value back would wait for the GPU every step.
                batch_loss = loss.detach()
                loss_sum += batch_loss * labels.shape[0]
                correct += (logits.detach().argmax(1) == labels).sum()
                if smoothed_loss is None:
                    smoothed_loss = batch_loss.clone()
                else:
                    smoothed_loss.lerp_(batch_loss, LOSS_SMOOTHING)
                steps_done += 1
                images_since_tick += labels.shape[0]

                now = time.perf_counter()
                if now - last_tick >= PROGRESS_INTERVAL_SECONDS or step == steps:
                    loss_value = smoothed_loss.item()  # the one sync per tick
                    now = time.perf_counter()
                    if not math.isfinite(loss_value):
                        self._diverged(epoch, step, loss_value)
                    train_seconds = now - train_start - self._paused_seconds
                    remaining = (epochs - epoch) * steps + (steps - step)
                    self.emit(
                        BatchProgress(
                            epoch=epoch,
                            epochs=epochs,
                            step=step,
                            steps_per_epoch=steps,
                            global_step=(epoch - 1) * steps + step,
                            loss=loss_value,
                            images_per_second=images_since_tick / max(now - last_tick, 1e-9),
                            elapsed_seconds=time.perf_counter() - self._wall_start - self._paused_seconds,
                            eta_seconds=train_seconds / steps_done * remaining,
                        )
                    )
                    last_tick, images_since_tick = now, 0

            train_loss = loss_sum.item() / len(self.train)
            if not math.isfinite(train_loss):
                self._diverged(epoch, steps, train_loss)
            train_accuracy = correct.item() / len(self.train)
            evaluated = self._evaluate("val", self.val, epoch)
            ended = EpochEnded(
                epoch=epoch,
                epochs=epochs,
                train_loss=train_loss,
                train_accuracy=train_accuracy,
                val_loss=evaluated.loss,
                val_accuracy=evaluated.accuracy,
                val_f1=evaluated.f1,
                learning_rate=self.optimizer.param_groups[0]["lr"],
                seconds=time.perf_counter() - epoch_start - (self._paused_seconds - paused_before_epoch),
            )
            self.run_dir.append_metrics({"kind": "epoch", **asdict(ended)})
            self.run_dir.append_metrics(evaluation_record(evaluated))
            self.emit(ended)
            self.emit(evaluated)
            self._save_checkpoints(epoch, evaluated.accuracy)

    def _diverged(self, epoch: int, step: int, value: float) -> None:
        raise RunEnded(
            "diverged",
            f"the training loss became {value} at epoch {epoch}, step {step}: lower the learning rate"
            f" (now {self.config.lr:g}; try {self.config.lr / 10:g})",
        )

    def _evaluate(self, split: str, data: datamod.DeviceSplit, epoch: int) -> Evaluated:
        predictions = predict_split(self.forward, data, self.normalize, self.autocast)
        return evaluate_predictions(
            data.labels.cpu().numpy(),
            predictions.predicted,
            self.class_names,
            split=split,
            epoch=epoch,
            loss=predictions.loss,
        )

    def _save_checkpoints(self, epoch: int, val_accuracy: float) -> None:
        improved = val_accuracy > self.best_val_accuracy
        if improved:
            self.best_val_accuracy, self.best_epoch = val_accuracy, epoch
            self.best_state = copy.deepcopy(self.model.state_dict())
        for kind, name in (("last", LAST_CHECKPOINT), ("best", BEST_CHECKPOINT)):
            if kind == "best" and not improved:
                continue
            path = self.run_dir.path / name
            save_checkpoint(
                path,
                model=self.model,
                optimizer=self.optimizer,
                scheduler=self.scheduler,
                epoch=epoch,
                config=self.config,
                best_val_accuracy=self.best_val_accuracy,
                best_epoch=self.best_epoch,
                random_state=random_state(self.device),
            )
            self.emit(CheckpointSaved(path=str(path), epoch=epoch, kind=kind, val_accuracy=val_accuracy))

    def _evaluate_test(self) -> None:
        """Score the best-by-validation weights (what best.pt holds) on the test split, once."""
        if self.best_state is not None:
            self.model.load_state_dict(self.best_state)
        evaluated = self._evaluate("test", self.test, self.best_epoch)
        self.run_dir.append_metrics(evaluation_record(evaluated))
        self.emit(evaluated)
        self.test_result = evaluated

    def _finish(self, status: RunStatus, message: str) -> RunFinished:
        summary = self._summary(status, message)
        if self.run_dir is not None:
            try:
                self.run_dir.write_summary(summary)
            except OSError as error:
                message = f"{message}; summary.json could not be written ({error})"
            self.run_dir.unlock()
        finished = RunFinished(
            status=status, message=message, run_dir=str(self.run_dir.path) if self.run_dir else "", summary=summary
        )
        self.emit(finished)
        return finished

    def _peak_gpu_memory_mib(self) -> float | None:
        device = getattr(self, "device", None)
        if device is None or device.type != "cuda":
            return None
        return round(torch.cuda.max_memory_allocated(device) / 2**20, 1)

    def _summary(self, status: RunStatus, message: str) -> dict[str, Any]:
        config = self.config
        best_epoch = getattr(self, "best_epoch", 0)
        epochs_done, best_val = [], None
        if self.run_dir is not None:
            epochs_done, _ = read_metrics(self.run_dir.path)
            best_val = next((e for e in epochs_done if e["epoch"] == best_epoch), None)
        test = getattr(self, "test_result", None)
        return {
            "run": self.run_dir.path.name if self.run_dir else None,
            "dataset": config.dataset,
            "model": config.model,
            "device": str(getattr(self, "device", config.device)),
            "parameters": getattr(self, "parameters", None),
            "status": status,
            "message": message,
            "epochs": config.epochs,
            "epochs_completed": len(epochs_done),
            "best_epoch": best_epoch or None,
            "val_accuracy": best_val["val_accuracy"] if best_val else None,
            "val_f1": best_val["val_f1"] if best_val else None,
            "test_accuracy": test.accuracy if test else None,
            "test_f1": test.f1 if test else None,
            # The epochs kept, validation included: a resumed run counts those before its restart too, and a
            # stopped run its finished epochs.
            "train_seconds": sum(epoch["seconds"] for epoch in epochs_done) if epochs_done else None,
            "duration_seconds": time.perf_counter() - self._wall_start,
            "peak_memory_mib": peak_process_memory_mib(),
            "peak_gpu_memory_mib": self._peak_gpu_memory_mib(),
            "started_at": self._started_at.isoformat(timespec="seconds"),
            "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
