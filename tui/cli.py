"""The `mnist-tui` command: the dashboard by default, and headless subcommands over the same engine.

Nothing heavy is imported at module level: the dashboard must draw its first frame before torch loads.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from engine.config import (
    DATASETS,
    OPTIMIZERS,
    SCHEDULES,
    RunConfig,
    default_data_dir,
    default_runs_dir,
    field_errors,
    recipe_config,
)
from engine.recipes import MODEL_NAMES
from tui.run_columns import sortable_columns

EXIT_FAILED = 1
RUN_OPTION_NAMES = (
    "dataset",
    "model",
    "device",
    "epochs",
    "batch_size",
    "lr",
    "optimizer",
    "schedule",
    "weight_decay",
    "seed",
    "val_size",
    "limit",
    "augment",
    "amp",
    "compile",
)


def _parsed(kind: Callable[[str], Any], what: str) -> Callable[[str], Any]:
    """An argparse type that only reads the text; the allowed ranges are engine.config.field_errors' to check."""

    def parse(text: str) -> Any:
        try:
            return kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None

    return parse


_whole_number = _parsed(int, "a whole number")
_number = _parsed(float, "a number")


def _add_location_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=argparse.SUPPRESS,
        help="folder holding MNIST/raw/... (default: $MNIST_TUI_DATA, else ~/.cache/mnist-tui/data)",
    )
    parser.add_argument(
        "--runs-dir",
        type=Path,
        default=argparse.SUPPRESS,
        help="where runs are written (default: $MNIST_TUI_RUNS, else ./runs)",
    )


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    """The run settings; unset ones come from the model's default recipe."""
    add = parser.add_argument
    add("--dataset", choices=DATASETS, default=argparse.SUPPRESS, help="default: mnist")
    add("--model", choices=MODEL_NAMES, default=argparse.SUPPRESS, help="default: cnn")
    add("--device", default=argparse.SUPPRESS, help="auto, cpu, cuda, cuda:N or mps (default: auto)")
    add("--epochs", type=_whole_number, default=argparse.SUPPRESS)
    add("--batch-size", type=_whole_number, default=argparse.SUPPRESS)
    add("--lr", type=_number, default=argparse.SUPPRESS, help="learning rate (peak rate with onecycle)")
    add("--optimizer", choices=OPTIMIZERS, default=argparse.SUPPRESS)
    add("--schedule", choices=SCHEDULES, default=argparse.SUPPRESS)
    add("--weight-decay", type=_number, default=argparse.SUPPRESS)
    add("--seed", type=_whole_number, default=argparse.SUPPRESS)
    add(
        "--val-size",
        type=_whole_number,
        default=argparse.SUPPRESS,
        help="validation images held out of the training file (default: one sixth)",
    )
    add(
        "--limit",
        type=_whole_number,
        default=argparse.SUPPRESS,
        help="use only the first N training images",
    )
    add(
        "--augment",
        action=argparse.BooleanOptionalAction,
        default=argparse.SUPPRESS,
        help="random shifts, rotations and zooms on the device",
    )
    add(
        "--amp",
        action=argparse.BooleanOptionalAction,
        default=argparse.SUPPRESS,
        help="bf16 mixed precision (CUDA, CPU)",
    )
    add("--compile", action=argparse.BooleanOptionalAction, default=argparse.SUPPRESS, help="torch.compile the model")


# Each subcommand's help ends with these (`#` comments, so every line can be pasted into a shell as it is).
EXAMPLES = {
    "mnist-tui": """
  mnist-tui                                   # open the dashboard
  mnist-tui --model cnn --epochs 3 --start    # open it and start training at once
  mnist-tui train --model mlp --limit 6000    # train headless: mnist-tui train --help""",
    "train": """
  mnist-tui train                             # cnn with its default recipe
  mnist-tui train --model mlp --lr 0.001 --epochs 3 --export --detach   # in the background
  mnist-tui train --resume 20261125-061121-mnist-cnn   # continue a stopped run""",
    "stop": """
  mnist-tui stop 20261125-061121-mnist-cnn    # after its current batch; train --resume continues it
  mnist-tui stop 20261125-061121-mnist-cnn --timeout 300   # wait longer for a slow batch""",
    "runs": """
  mnist-tui runs                              # newest first
  mnist-tui runs --sort test-acc --reverse    # best test accuracy first
  mnist-tui runs --watch --runs-dir /shared/runs   # live, from another runs folder; Ctrl+C leaves""",
    "export": """
  mnist-tui export 20261125-061121-mnist-cnn
  mnist-tui export 20261125-061121-mnist-cnn --data-dir ../shared/datasets   # with mistakes.png""",
    "serve": """
  mnist-tui serve                             # http://localhost:8000/?token=... (reach it with ssh -L)
  mnist-tui serve --port 8080 --runs-dir /shared/runs
  mnist-tui serve --host 0.0.0.0 --token "$MY_TOKEN"   # every address of this machine: the token guards it""",
    "sweep": """
  mnist-tui sweep --name lr --model cnn --lr 0.001,0.003,0.01,0.03 --batch-size 128,256 --epochs 1
  mnist-tui sweep --name wide --lr 1e-4:1e-1 --epochs 1:3 --trials 30 --sampler tpe --jobs 2
  mnist-tui sweep --resume lr                 # continue a stopped sweep; the budget counts what is done""",
    "lr-find": """
  mnist-tui lr-find --model cnn               # the suggested rate, and lr_find.png here
  mnist-tui lr-find --model mlp --batch-size 128 --output /tmp/mlp_lr.png""",
    "predict": """
  mnist-tui predict 20261125-061121-mnist-cnn digit.png
  mnist-tui predict 20261125-061121-mnist-cnn a.png b.png scans/
  mnist-tui predict 20261125-061121-mnist-cnn scans/ --csv > predictions.csv""",
}


def _with_examples(command: str) -> dict[str, Any]:
    """The parser keywords that end its help with example commands, laid out as written."""
    return {"epilog": f"examples:{EXAMPLES[command]}", "formatter_class": argparse.RawDescriptionHelpFormatter}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mnist-tui",
        description="Train, watch and inspect handwritten-digit classifiers in the terminal."
        " With no subcommand, opens the dashboard.",
        **_with_examples("mnist-tui"),
    )
    _add_location_options(parser)
    _add_run_options(parser)
    parser.add_argument("--start", action="store_true", help="start training as soon as the dashboard opens")
    parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    train = commands.add_parser("train", help="train headless with a progress bar", **_with_examples("train"))
    _add_location_options(train)
    _add_run_options(train)
    train.set_defaults(command_parser=train)  # its usage line is the one shown for a bad train option
    train.add_argument("--export", action="store_true", help="write PNGs and CSV into the run folder at the end")
    train.add_argument("--no-download", action="store_true", help="never try to download the dataset")
    train.add_argument(
        "--resume",
        metavar="RUN",
        help="continue an interrupted or stopped run (folder name or path in the runs folder) from its last.pt,"
        " with its own settings",
    )
    train.add_argument(
        "--detach",
        action="store_true",
        help="train in the background, in a process that outlives the terminal (output in the run folder's"
        " train.log); prints the run folder and exits",
    )
    # How a detached run's process hands its run folder back to `train --detach` (tui/background.py): not for users.
    train.add_argument("--log-file", type=Path, help=argparse.SUPPRESS)
    train.add_argument("--handover-fd", type=int, help=argparse.SUPPRESS)
    train.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks")

    stop = commands.add_parser(
        "stop",
        help="stop a running run after its current batch, from any terminal (a dashboard training it stays open)",
        **_with_examples("stop"),
    )
    _add_location_options(stop)
    stop.add_argument("run", help="run folder name (see `mnist-tui runs`) or path")
    stop.add_argument(
        "--timeout",
        type=_number,
        default=60.0,
        metavar="SECONDS",
        help="how long to wait for the run to end (default: %(default)g)",
    )

    runs = commands.add_parser("runs", help="list the runs in the runs folder", **_with_examples("runs"))
    _add_location_options(runs)
    runs.add_argument(
        "--sort",
        choices=[column.name for column in sortable_columns()],
        metavar="COLUMN",
        help="sort by this column, one of: %(choices)s (default: newest first)",
    )
    runs.add_argument("--reverse", action="store_true", help="reverse the order")
    runs.add_argument(
        "--watch",
        action="store_true",
        help="a live table of every run's status, epoch, step, images/s and accuracy, checked once a second",
    )

    export = commands.add_parser(
        "export",
        help="write confusion_matrix.png, curves.png and metrics.csv for a run",
        **_with_examples("export"),
    )
    _add_location_options(export)
    export.add_argument("run", help="run folder name (see `mnist-tui runs`) or path")
    export.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks")

    sweep = commands.add_parser(
        "sweep",
        help="train many runs over lists (a,b,c) or ranges (lo:hi) of settings, searched by Optuna",
        **_with_examples("sweep"),
    )
    _add_location_options(sweep)
    _add_sweep_options(sweep)
    sweep.set_defaults(command_parser=sweep)

    sweeps = commands.add_parser("sweeps", help="list the sweeps in the runs folder")
    _add_location_options(sweeps)

    lr_find = commands.add_parser(
        "lr-find",
        help="learning-rate range test: the loss over a rising learning rate, and the rate to use",
        **_with_examples("lr-find"),
    )
    _add_location_options(lr_find)
    _add_run_options(lr_find)
    lr_find.set_defaults(command_parser=lr_find)
    lr_find.add_argument("--batches", type=_whole_number, default=300, help="batches of the ramp (default: 300)")
    lr_find.add_argument("--output", type=Path, default=Path("lr_find.png"), help="the plot (default: lr_find.png)")
    lr_find.add_argument("--no-download", action="store_true", help="never try to download the dataset")

    predict = commands.add_parser(
        "predict",
        help="class probabilities of a run's best model for image files, one row per image",
        **_with_examples("predict"),
    )
    _add_location_options(predict)
    predict.add_argument("run", help="run folder name (see `mnist-tui runs`) or path")
    predict.add_argument(
        "images",
        nargs="+",
        type=Path,
        metavar="IMAGE",
        help="image files (PNG, JPEG, ...: any size, ink dark or light) or folders of them",
    )
    output = predict.add_mutually_exclusive_group()
    output.add_argument("--json", dest="output", action="store_const", const="json", help="print JSON, for scripts")
    output.add_argument("--csv", dest="output", action="store_const", const="csv", help="print CSV, for scripts")
    predict.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks")

    serve = commands.add_parser(
        "serve", help="the dashboard in a web browser, one dashboard per browser tab", **_with_examples("serve")
    )
    _add_location_options(serve)
    _add_run_options(serve)  # each browser tab's Setup starts from them
    serve.set_defaults(command_parser=serve)
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1, this machine only)"
    )
    serve.add_argument(
        "--port", type=_port, default=8000, help="port to listen on, 0 for any free one (default: %(default)s)"
    )
    serve.add_argument(
        "--token", type=_token, help="the secret a browser must give (default: a new random one, printed in the URL)"
    )
    serve.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks")
    return parser


def _add_sweep_options(parser: argparse.ArgumentParser) -> None:
    """Every sweepable run setting as text: a value, a list a,b,c or a range lo:hi (engine/sweeps.py reads it)."""
    from engine.sweeps import SAMPLERS, SWEEPABLE

    add = parser.add_argument
    add("--name", help="the sweep's name: its folder is <runs>/sweeps/NAME; the same name again continues it")
    add("--resume", metavar="NAME", help="continue the sweep NAME with its own settings")
    for name, kind in SWEEPABLE.items():
        flag = f"--{name.replace('_', '-')}"
        if kind == "bool":
            add(flag, nargs="?", const="true", default=argparse.SUPPRESS, metavar="true,false")
        else:
            add(flag, default=argparse.SUPPRESS, metavar="SPEC")
    add("--trials", type=_whole_number, help="trials to finish in all (default: the whole grid, else 20)")
    add("--timeout", type=_number, metavar="SECONDS", help="stop starting trials after this long")
    add("--sampler", choices=SAMPLERS, help="default: grid with lists only, else tpe")
    add("--prune", action=argparse.BooleanOptionalAction, default=True, help="median pruning (default: on)")
    add("--jobs", type=_whole_number, help="trials at once (default: one per device)")
    add("--devices", help="devices for the trials, e.g. cuda:0,cuda:1 (default: every CUDA GPU, else cpu)")
    add(
        "--storage",
        metavar="URL",
        help="a database for the study, e.g. postgresql://user:pw@host/db (default:"
        " a journal file in the sweep's folder)",
    )
    add("--no-download", action="store_true", help="never try to download the dataset")
    add("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks")


def _port(text: str) -> int:
    port = _whole_number(text)
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port: use 1 to 65535, or 0 for any free one")
    return port


def _token(text: str) -> str:
    if len(text.strip()) < 8:
        raise argparse.ArgumentTypeError("the token must have at least 8 characters (or leave --token out)")
    return text.strip()


def run_options(args: argparse.Namespace) -> dict[str, Any]:
    """The run settings the user gave explicitly."""
    return {name: getattr(args, name) for name in RUN_OPTION_NAMES if hasattr(args, name)}


def locations(args: argparse.Namespace) -> tuple[Path, Path]:
    """(data folder, runs folder) from the options, else the environment, else the defaults."""
    return getattr(args, "data_dir", None) or default_data_dir(), getattr(args, "runs_dir", None) or default_runs_dir()


def _fail(message: str, error: BaseException | None, debug: bool) -> int:
    if debug and error is not None:
        traceback.print_exception(type(error), error, error.__traceback__)
    print(f"mnist-tui: error: {message}", file=sys.stderr)
    return EXIT_FAILED


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    debug = getattr(args, "debug", False)
    command = args.command or "dashboard"
    handlers = {
        "dashboard": _dashboard,
        "train": _train,
        "stop": _stop,
        "runs": _runs,
        "export": _export,
        "predict": _predict,
        "sweep": _sweep,
        "sweeps": _sweeps,
        "lr-find": _lr_find,
        "serve": _serve,
    }
    try:
        return handlers[command](getattr(args, "command_parser", parser), args)
    except KeyboardInterrupt:
        return 130
    except Exception as error:  # a message, not a traceback (unless --debug)
        return _fail(str(error) or type(error).__name__, error, debug)


def _checked_config(parser: argparse.ArgumentParser, args: argparse.Namespace) -> RunConfig:
    """The model's recipe with the user's options on top; invalid values exit 2 like argparse's own errors."""
    options = run_options(args)
    config = recipe_config(options.pop("model", RunConfig.model), **options)
    errors = field_errors(config)
    if errors:
        parser.error("; ".join(f"--{name.replace('_', '-')}: {message}" for name, message in errors.items()))
    return config


def _dashboard(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    from tui.app import run_dashboard

    data_dir, runs_dir = locations(args)
    _checked_config(parser, args)  # a bad value exits here, as for train, not in the Setup tab
    return run_dashboard(data_dir=data_dir, runs_dir=runs_dir, preset=run_options(args), start=args.start)


def _resolved_config(parser: argparse.ArgumentParser, args: argparse.Namespace) -> RunConfig:
    """The checked config, its device found on this machine (which loads torch)."""
    from engine.devices import DeviceError, resolve_device

    config = _checked_config(parser, args)
    try:
        resolve_device(config.device)
    except DeviceError as error:
        parser.error(f"--device: {error}")
    return config


def _train(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    from tui.headless import train_with_progress

    data_dir, runs_dir = locations(args)
    if args.resume is not None:
        given = run_options(args)
        if given:
            options = ", ".join(f"--{name.replace('_', '-')}" for name in given)
            parser.error(f"--resume continues a run with the settings in its config.json: drop {options}")
        from engine.runs import find_run

        resume_dir, config = find_run(runs_dir, args.resume), None
    else:
        resume_dir, config = None, _resolved_config(parser, args)
    if args.detach:
        from tui.background import start_detached

        return start_detached(_detached_arguments(args, resume_dir), runs_dir, _runs_dir_hint(args))
    on_run_folder = None
    if args.handover_fd is not None:
        from tui.background import hand_over

        on_run_folder = lambda run_dir: hand_over(args.log_file, args.handover_fd, run_dir)
    return train_with_progress(
        config,
        data_dir=data_dir,
        runs_dir=runs_dir,
        export=args.export,
        download=not args.no_download,
        debug=getattr(args, "debug", False),
        resume_dir=resume_dir,
        on_run_folder=on_run_folder,
    )


def _detached_arguments(args: argparse.Namespace, resume_dir: Path | None) -> list[str]:
    """The `train` arguments that run what `args` asks for, without --detach; folders absolute."""
    data_dir, runs_dir = locations(args)
    words = ["train", "--data-dir", str(Path(data_dir).resolve()), "--runs-dir", str(Path(runs_dir).resolve())]
    for name, value in run_options(args).items():
        flag = name.replace("_", "-")
        if isinstance(value, bool):
            words.append(f"--{flag}" if value else f"--no-{flag}")
        else:
            words += [f"--{flag}", str(value)]
    if resume_dir is not None:
        words += ["--resume", str(resume_dir)]
    words += [flag for flag, given in (("--export", args.export), ("--no-download", args.no_download)) if given]
    if getattr(args, "debug", False):
        words.append("--debug")
    return words


def _runs_dir_hint(args: argparse.Namespace) -> str:
    """The --runs-dir option the follow-up commands need, when the runs folder was given as one."""
    runs_dir = getattr(args, "runs_dir", None)
    return f" --runs-dir {Path(runs_dir).resolve()}" if runs_dir is not None else ""


def _stop(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    from tui.background import stop_and_print

    if args.timeout <= 0:
        parser.error("--timeout must be a number of seconds above 0")
    return stop_and_print(locations(args)[1], args.run, args.timeout)


def _runs(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    if args.watch:
        if args.sort is not None or args.reverse:
            parser.error("--watch lists the newest runs first: drop --sort and --reverse")
        from tui.background import watch_runs

        return watch_runs(locations(args)[1])
    from tui.headless import print_runs

    return print_runs(locations(args)[1], args.sort, args.reverse)


def _export(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    from tui.headless import export_and_print

    data_dir, runs_dir = locations(args)
    return export_and_print(runs_dir, args.run, data_dir)


def _predict(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    from tui.headless import predict_and_print

    return predict_and_print(locations(args)[1], args.run, args.images, args.output or "table")


def _sweep(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    from engine.sweeps import SPEC_FILE, SWEEPABLE, SpecError, SweepSpec, parse_spec, sweep_folder
    from tui.headless_sweep import sweep_with_table

    data_dir, runs_dir = locations(args)
    settings = {name: getattr(args, name) for name in SWEEPABLE if hasattr(args, name)}
    try:
        if args.resume is not None:
            if settings or args.name or args.sampler or not args.prune:
                parser.error("--resume continues a sweep with the settings in its sweep.json: drop the others")
            path = sweep_folder(runs_dir, args.resume) / SPEC_FILE
            if not path.is_file():
                parser.error(f"--resume: no sweep {args.resume!r} in {runs_dir} (see `mnist-tui sweeps`)")
            stored = SweepSpec.from_dict(json.loads(path.read_text()))
            spec = dataclasses.replace(stored, trials=args.trials, timeout=args.timeout)
        elif not args.name:
            parser.error("--name is required: the sweep's folder, and what a rerun continues")
        else:
            spec = parse_spec(
                args.name, settings, sampler=args.sampler, trials=args.trials, timeout=args.timeout, prune=args.prune
            )
    except SpecError as error:
        parser.error(str(error))
    if args.jobs is not None and args.jobs < 1:
        parser.error("--jobs: must be at least 1")
    devices = _sweep_devices(parser, args.devices)
    jobs = args.jobs or len(devices)
    try:
        return sweep_with_table(
            spec,
            runs_dir=runs_dir,
            data_dir=data_dir,
            devices=devices,
            jobs=jobs,
            storage=args.storage,
            download=not args.no_download,
        )
    except SpecError as error:
        parser.error(str(error))


def _sweep_devices(parser: argparse.ArgumentParser, text: str | None) -> list[str]:
    """--devices as a list, each checked on this machine; by default every CUDA GPU, else the CPU."""
    from engine.devices import DeviceError, resolve_device

    if text is None:
        import torch

        return [f"cuda:{index}" for index in range(torch.cuda.device_count())] or ["cpu"]
    devices = [name.strip() for name in text.split(",") if name.strip()]
    if not devices:
        parser.error("--devices: name at least one device, e.g. cpu or cuda:0,cuda:1")
    for device in devices:
        try:
            resolve_device(device)
        except DeviceError as error:
            parser.error(f"--devices: {error}")
    return devices


def _sweeps(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    from tui.headless_sweep import print_sweeps

    return print_sweeps(locations(args)[1])


def _lr_find(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    from engine.lr_find import plot_range_test, range_test
    from tui.headless_sweep import print_range_test

    config = _resolved_config(parser, args)
    if args.batches < 10:
        parser.error("--batches: must be at least 10")
    result = range_test(config, locations(args)[0], download=not args.no_download, batches=args.batches)
    if len(result.rates) < 3:
        raise RuntimeError("the loss diverged within the first batches: no rate to suggest")
    plot_range_test(result, args.output)
    return print_range_test(result, args.output)


def _serve(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    from tui.serve import serve

    data_dir, runs_dir = locations(args)
    return serve(data_dir, runs_dir, args.host, args.port, args.token, run_options(args))


def entry_point() -> None:
    sys.exit(main())
