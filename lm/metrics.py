"""Metrics out: WORKDIR/metrics.jsonl (one JSON object per line), TensorBoard event files, Weights & Biases
(config.log.wandb), the progress line."""

import contextlib
import io
import json
import os
import secrets
import time

import jax

from lm import workdir_files

METRICS_FILE = "metrics.jsonl"
WANDB_DIR = "wandb"  # in the workdir: W&B's own files (an offline run, for `wandb sync`) and the run's id
WANDB_ID_FILE = "lm_run_id"  # in WANDB_DIR: the W&B run id a resumed run continues


class MetricsWriter:
    """Appends scalars to metrics.jsonl and to TensorBoard event files under WORKDIR/tensorboard (through
    tensorboardX, which needs no TensorFlow), with the run's config as its hyperparameters (the HParams tab).

    A run resumed from the checkpoint of step `start` first drops what an earlier run logged after that
    step (it is about to be logged again): metrics.jsonl keeps the records up to `start`, and TensorBoard
    is told that the run restarted after it, so it discards its later points too. (TensorBoard drops every
    point at or after a restart marker's step, so the marker goes at `start + 1`: step `start` itself was
    logged before its checkpoint and is not logged again.)
    """

    def __init__(self, workdir: str, start: int = 0, hparams: dict | None = None, log=None, config: dict | None = None):
        """Args: `log`, config.log (W&B when log.wandb), and `config`, the run's config for W&B."""
        self._path = os.path.join(workdir, METRICS_FILE)
        self._writes = jax.process_index() == 0  # several processes: the first one writes, the others only read
        self._tensorboard = self._wandb = None
        if not self._writes:
            return
        records = read(workdir)
        kept = [r for r in records if r["step"] <= start]
        if len(kept) < len(records) or _cut_short(self._path):  # a last line cut short goes too
            with open(self._path + ".tmp", "w") as f:
                f.writelines(json.dumps(r) + "\n" for r in kept)
            os.replace(self._path + ".tmp", self._path)
        self._tensorboard = _Events(os.path.join(workdir, "tensorboard"), purge_step=start + 1 if start else None)
        if hparams:
            # Only the session's start (its hyperparameters): TensorBoard then takes every scalar tag of the
            # run as a metric of the HParams tab, instead of a list fixed before the first eval.
            _, session_start, _ = self._tensorboard.summary.hparams(hparams, {})
            self._tensorboard.write(start, summary=session_start)
        if log is not None and log.wandb:
            try:
                self._wandb = _WandB(log, workdir, config or {})
            except ValueError:
                self._tensorboard.close()
                raise

    def write(self, step: int, scalars: dict) -> None:
        """One record of `step`; a list value (a curve, e.g. eval/loss_by_position) goes to metrics.jsonl only."""
        if not self._writes:
            return
        record = {k: [float(x) for x in v] if isinstance(v, list) else float(v) for k, v in scalars.items()}
        with workdir_files.naming(self._path), open(self._path, "a") as f:  # a line a full disk cut short is
            f.write(json.dumps({"step": int(step), **record}) + "\n")  # dropped on resumption
        for tag, value in record.items():
            if not isinstance(value, list):
                self._tensorboard.write(int(step), summary=self._tensorboard.summary.scalar(tag, value))
        # On disk with metrics.jsonl's line: a run killed without warning (kill -9, a lost node) keeps both
        # up to its last checkpoint, which its resumption continues from.
        self._tensorboard.flush()
        if self._wandb is not None:
            self._wandb.run.log({k: v for k, v in record.items() if not isinstance(v, list)}, step=int(step))

    def has(self, step: int, prefix: str) -> bool:
        """Whether a record of `step` with a key starting with `prefix` ("eval/") is already logged."""
        records = read(os.path.dirname(self._path))
        return any(r["step"] == step and any(k.startswith(prefix) for k in r) for r in records)

    def close(self) -> None:
        if self._tensorboard is not None:
            self._tensorboard.close()
        if self._wandb is not None:
            self._wandb.run.finish()


def check_wandb(log) -> None:
    """What config.log.wandb needs, checked before a run writes anything: the wandb package and, to log online,
    a W&B API key (`wandb login`, WANDB_API_KEY); a one-paragraph ValueError naming the fix otherwise."""
    if not log.wandb:
        return
    try:
        import wandb
    except ImportError as e:
        raise ValueError(
            "config.log.wandb=True needs the wandb package: pip install -r requirements-wandb.txt (or leave "
            "log.wandb False; metrics.jsonl and TensorBoard have the same scalars)."
        ) from e
    if log.wandb_mode == "online":
        try:
            with contextlib.redirect_stderr(io.StringIO()):  # its "API key is configured" notice
                wandb.login(verify=False)
        except wandb.errors.Error as e:  # no key (UsageError), a malformed one (AuthenticationError), ...
            raise ValueError(
                f"config.log.wandb_mode=online needs a W&B API key ({e}). Run `wandb login` or set WANDB_API_KEY, "
                "or log offline with --config.log.wandb_mode=offline (the run is kept in WORKDIR/wandb, for "
                "`wandb sync` later)."
            ) from e


class _WandB:
    """The run on Weights & Biases: its config, then each record's scalars at its step. The W&B run id is kept
    in WORKDIR/wandb, so that a resumed run continues the same W&B run. W&B keeps the points it has: a step
    logged again after a resumption, below its last one (the steps after the checkpoint, an eval of the
    checkpoint's step), is not logged twice, and not replaced."""

    def __init__(self, log, workdir: str, config: dict):
        import wandb

        directory = os.path.join(workdir, WANDB_DIR)
        os.makedirs(directory, exist_ok=True)
        id_path = os.path.join(directory, WANDB_ID_FILE)
        if not os.path.exists(id_path):
            workdir_files.write_atomically(id_path, secrets.token_hex(4))  # W&B's kind of id: 8 letters or digits
        with open(id_path) as f:
            run_id = f.read().strip()
        try:
            self.run = wandb.init(
                project=log.wandb_project,
                entity=log.wandb_entity or None,
                name=log.wandb_name or os.path.basename(os.path.abspath(workdir)),
                id=run_id,
                resume="allow",
                dir=workdir,
                mode=log.wandb_mode,
                config=config,
                settings=wandb.Settings(console="off", silent=True),  # our console stays ours
            )
        except wandb.errors.Error as e:  # a key W&B's server refuses, no network (after its init_timeout), ...
            raise ValueError(
                f"Weights & Biases did not start the run ({e}). Check `wandb login` and the network, or log "
                "offline with --config.log.wandb_mode=offline (for `wandb sync` later); the same command then "
                "resumes from the last checkpoint."
            ) from e


class _Events:
    """A TensorBoard event file written as the events come (tensorboardX's own SummaryWriter queues them for a
    thread, and a process killed after its flush could still lose the last ones: a point in metrics.jsonl
    missing from TensorBoard). `purge_step`: TensorBoard drops the points an earlier run logged from there on."""

    def __init__(self, directory: str, purge_step: int | None):
        # Imported here, by the runs that log: tensorboardX imports torch where it finds it installed
        # (1.5 s here), which the other modes need not pay.
        from tensorboardX import event_file_writer, summary
        from tensorboardX.proto import event_pb2

        self.summary, self._event_pb2 = summary, event_pb2
        os.makedirs(directory, exist_ok=True)
        self._directory = directory
        self._file = event_file_writer.EventsWriter(os.path.join(directory, "events"))
        if purge_step is not None:
            self.write(purge_step, session_log=event_pb2.SessionLog(status=event_pb2.SessionLog.START))

    def write(self, step: int, **fields) -> None:
        with workdir_files.naming(self._directory):
            self._file.write_event(self._event_pb2.Event(wall_time=time.time(), step=step, **fields))

    def flush(self) -> None:
        with workdir_files.naming(self._directory):
            self._file.flush()

    def close(self) -> None:
        self._file.close()


def hyperparameters(config: dict, prefix: str = "") -> dict:
    """A run's config (`config.to_dict()`) as TensorBoard hyperparameters: one per field, named by its dotted
    path ("optim.learning_rate"); a number, string or bool as it is, anything else (a tuple, None) as its text."""
    flat = {}
    for key, value in config.items():
        if isinstance(value, dict):
            flat.update(hyperparameters(value, f"{prefix}{key}."))
        else:
            flat[prefix + key] = value if isinstance(value, (bool, int, float, str)) else str(value)
    return flat


def _cut_short(path: str) -> bool:
    """Whether the file's last line lacks its newline (its writer was killed)."""
    if not os.path.exists(path) or not os.path.getsize(path):
        return False
    with open(path, "rb") as f:
        f.seek(-1, os.SEEK_END)
        return f.read(1) != b"\n"


def append(workdir: str, step: int, scalars: dict[str, float]) -> None:
    """One record added to metrics.jsonl by a mode other than training (--mode=harness's numbers), where
    --mode=verify and --mode=collate read it; TensorBoard is not written."""
    if jax.process_index() == 0 and scalars:
        with open(os.path.join(workdir, METRICS_FILE), "a") as f:
            f.write(json.dumps({"step": int(step), **{k: float(v) for k, v in scalars.items()}}) + "\n")


def read(workdir: str) -> list[dict]:
    """The records of WORKDIR/metrics.jsonl, in order. A last line cut short (a process killed while writing
    it, before its newline) is left out: its step is logged again when the run resumes.

    Raises:
      ValueError: any other line that is not a JSON record with a step (the file and line named).
    """
    path = os.path.join(workdir, METRICS_FILE)
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8", errors="replace") as f:
        lines = f.read().split("\n")
    records = []
    for number, line in enumerate(lines[:-1], 1):  # the piece after the last newline: cut short, or empty
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            if not isinstance(record, dict) or not isinstance(record.get("step"), int):
                raise ValueError("not a record with a step")
        except ValueError as e:
            raise ValueError(
                f"{path}, line {number}, is not a metrics record ({e}): the file is damaged. Restore it from a copy, "
                "or delete that line (what it recorded is lost, the checkpoints are not)."
            ) from e
        records.append(record)
    return records


class Progress:
    """The console line: step, loss, learning rate, steps/s, tokens/s, ETA."""

    def __init__(self, first_step: int, last_step: int, tokens_per_step: int):
        self.last_step, self.tokens_per_step = last_step, tokens_per_step
        self._time, self._step = time.perf_counter(), first_step

    def line(self, step: int, metrics: dict[str, float]) -> str:
        now = time.perf_counter()
        steps_per_s = (step - self._step) / max(now - self._time, 1e-9)
        self._time, self._step = now, step
        eta = (self.last_step - step) / max(steps_per_s, 1e-9)
        return (
            f"step {step:>6}/{self.last_step} | loss {metrics['loss']:.4f} | lr {metrics['learning_rate']:.2e} | "
            f"{steps_per_s:6.2f} steps/s | {steps_per_s * self.tokens_per_step / 1e3:7.1f}k tok/s | "
            f"ETA {_duration(eta)}"
        )


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}h{seconds // 60 % 60:02d}m" if seconds >= 3600 else f"{seconds // 60}m{seconds % 60:02d}s"
