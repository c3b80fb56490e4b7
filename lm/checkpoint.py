"""Orbax checkpoints of the train state in WORKDIR/checkpoints, and what is done when one cannot be read.

Orbax writes each step to a temporary directory and renames it when complete, so a process killed
mid-save leaves the previous checkpoint as the latest (the next training run removes the temporary
directory). Saves are asynchronous: training continues while a step is written, and `close()` waits
for them. A save that fails (a full disk, a read-only workdir) is raised as an error naming the last
complete checkpoint, never skipped in silence.

Besides the latest `keep` checkpoints, the one with the lowest eval loss is kept (train.keep_best): a run
that diverges without a non-finite number (a learning rate far too high) rotates out its good checkpoints,
never that one. `step_for("best")` finds it by metrics.jsonl; a run restored from an earlier step than the
latest (train.restore) moves the later checkpoints aside, to WORKDIR/rolled_back_checkpoints/.

A checkpoint that cannot be read (truncated, corrupted) is passed over for the one before it with a
warning that names it; once a training run holds the workdir (lm/workdir_files.py's lock) it moves such
checkpoints aside, to WORKDIR/unreadable_checkpoints/, so that their steps can be written again. A
checkpoint of another model is an error, not passed over. Only a training run, holding the lock, opens
the checkpoints for writing: the others read them and change nothing.
"""

import dataclasses
import json
import os
import re
import shutil
import time

import jax
import numpy as np
import orbax.checkpoint as ocp
from flax import serialization
from orbax.checkpoint.checkpoint_managers import preservation_policy as preservation

from lm import console
from lm import metrics as metrics_lib

UNREADABLE = "unreadable_checkpoints"  # under the workdir
ROLLED_BACK = "rolled_back_checkpoints"  # under the workdir
BEST_METRIC = "eval/loss"  # what train.keep_best keeps the lowest of


class CheckpointMismatch(ValueError):
    """The checkpoint holds another model's arrays (`paths`: those that differ)."""

    def __init__(self, message: str, paths: list[str] = ()):
        super().__init__(message)
        self.paths = list(paths)


class Checkpointer:
    """The checkpoints of one workdir, for reading (read_only) or for a training run that holds the workdir
    (which also removes the temporary directory of a save that a killed process left)."""

    def __init__(self, workdir: str, keep: int = 3, read_only: bool = False, keep_best: bool = True):
        self.workdir = os.path.abspath(workdir)
        self.directory = os.path.join(self.workdir, "checkpoints")
        self.unreadable: list[int] = []  # steps `restore` passed over
        self._closed = False
        # A reader writes nothing: no directory created, no temporary directory removed (orbax's own
        # read_only mode logs warnings on every start, so it is not used).
        policies = [preservation.LatestN(keep)]
        if keep_best:
            policies.append(LowestEvalLoss(workdir=self.workdir))
        options = ocp.CheckpointManagerOptions(
            preservation_policy=preservation.AnyPreservationPolicy(policies),
            create=not read_only,
            cleanup_tmp_directories=not read_only,
        )
        self._manager = ocp.CheckpointManager(
            self.directory, options=options, item_handlers=ocp.StandardCheckpointHandler()
        )

    def latest_step(self) -> int | None:
        return self._manager.latest_step()

    def save(self, state, log_window: list | None = None) -> None:
        """Saves the (unreplicated) state at its step; returns before the write completes. `log_window`: the
        per-step metrics read since the last logged record, [(step, {name: value})], kept with the checkpoint
        so that a run resumed from it logs the records an uninterrupted run logs.

        Raises:
          ValueError: this or an earlier asynchronous save failed (full disk, read-only workdir).
        """
        step = int(jax.device_get(state.step))
        if step in self._manager.all_steps():
            return  # the end of a run that was already at its last step
        window = [[int(s), {k: float(v) for k, v in m.items()}] for s, m in log_window or []]
        try:
            self._manager.save(
                step,
                args=ocp.args.StandardSave(serialization.to_state_dict(state)),
                custom_metadata={"log_window": window},
            )
        except Exception as e:  # orbax raises what the file system or tensorstore raised
            raise self._failed(step, e) from e

    def step_for(self, which: str) -> int | None:
        """The step of the checkpoint train.restore names: "latest", "best" (the lowest eval loss that
        metrics.jsonl logged at a step still saved; the latest when none was evaluated), or a step number.
        None when there is no checkpoint.

        Raises:
          ValueError: a step number that is not saved (the saved steps are named).
        """
        steps = sorted(self._manager.all_steps())
        if not steps or which == "latest":
            return steps[-1] if steps else None
        if which == "best":
            best = lowest_eval_loss(self.workdir, steps)
            return best if best is not None else steps[-1]
        if int(which) not in steps:
            raise ValueError(
                f"--config.train.restore={which}: no checkpoint of step {which} in {self.directory}; it holds steps "
                f"{', '.join(map(str, steps))}. Choose one of them, best or latest."
            )
        return int(which)

    def log_window(self, step: int) -> list[tuple[int, dict]]:
        """The per-step metrics saved with the checkpoint of `step` (none for a checkpoint without them)."""
        try:
            window = self._manager.metadata(step).custom_metadata.get("log_window", [])
        except Exception:  # an older checkpoint, or unreadable metadata: the next record covers fewer steps
            return []
        return [(int(s), m) for s, m in window]

    def roll_back(self, step: int) -> None:
        """Moves the checkpoints after `step` to WORKDIR/rolled_back_checkpoints/ (a run restored from `step`)."""
        later = [s for s in self._manager.all_steps() if s > step]
        for s in sorted(later):
            aside = os.path.join(self.workdir, ROLLED_BACK, f"{s}-{time.strftime('%Y%m%d-%H%M%S')}")
            os.makedirs(os.path.dirname(aside), exist_ok=True)
            shutil.move(os.path.join(self.directory, str(s)), aside)
        if later:
            console.log(
                f"restored step {step}: the later checkpoints ({', '.join(map(str, sorted(later)))}) moved to "
                f"{os.path.join(self.workdir, ROLLED_BACK)}"
            )
            self._manager.reload()

    def restore(self, state, step: int | None = None):
        """`state` with params, opt_state and step from the latest readable checkpoint (or `step`).

        A checkpoint that cannot be read is passed over, with a warning, for the one before it.

        Raises:
          ValueError: no checkpoint, none readable, or one whose arrays do not fit `state` (another model).
        """
        steps = [step] if step is not None else sorted(self._manager.all_steps(), reverse=True)
        if not steps:
            raise ValueError(f"No checkpoint in {self.directory}. Train first (--mode=train) with this --workdir.")
        target = jax.tree.map(ocp.utils.to_shape_dtype_struct, serialization.to_state_dict(state))
        for candidate in steps:
            try:
                problems, paths = _mismatches(target, self._manager.item_metadata(candidate))
                if problems:
                    raise CheckpointMismatch(
                        f"The checkpoint at step {candidate} in {self.directory} does not match the configured "
                        f"model: {'; '.join(problems[:5])}. Use the model config that trained it (see config.json "
                        "in the workdir), or a fresh --workdir.",
                        paths,
                    )
                restored = self._manager.restore(candidate, args=ocp.args.StandardRestore(target))
            except CheckpointMismatch:
                raise
            except Exception as e:  # truncated or corrupted files: orbax, tensorstore and json raise their own
                where = os.path.join(self.directory, str(candidate))
                console.log(
                    f"warning: the checkpoint at step {candidate} ({where}) cannot be read: {_cause(e, where)}. "
                    "Using the checkpoint before it."
                )
                self.unreadable.append(candidate)
                continue
            return serialization.from_state_dict(state, restored)
        raise ValueError(
            f"No checkpoint in {self.directory} can be read (the warnings above name each). Start a fresh "
            "--workdir, or copy intact checkpoints back from a backup."
        )

    def restore_params(self, step: int | None = None) -> dict:
        """The parameters of a checkpoint as saved (numpy arrays), whatever model or optimizer made them."""
        step = self.latest_step() if step is None else step
        if step is None:
            raise ValueError(
                f"No checkpoint in {self.directory}: --config.init_from must name a workdir that has "
                "trained (pretraining writes checkpoints there)."
            )
        try:
            return self._manager.restore(step, args=ocp.args.StandardRestore())["params"]
        except Exception as e:
            raise ValueError(
                f"The checkpoint at step {step} in {self.directory} cannot be read ({_short(e)}). Point "
                "--config.init_from at a workdir with an intact checkpoint."
            ) from e

    def close(self) -> None:
        """Waits for the asynchronous saves.

        Raises:
          ValueError: one of them failed.
        """
        if self._closed:
            return
        self._closed = True
        try:
            self._manager.wait_until_finished()
        except Exception as e:
            raise self._failed(None, e) from e
        finally:
            self._manager.close()

    def set_aside(self, steps: list[int]) -> None:
        """Moves unreadable checkpoints to WORKDIR/unreadable_checkpoints/, out of the way of later saves."""
        for step in steps:
            aside = os.path.join(self.workdir, UNREADABLE, f"{step}-{time.strftime('%Y%m%d-%H%M%S')}")
            os.makedirs(os.path.dirname(aside), exist_ok=True)
            shutil.move(os.path.join(self.directory, str(step)), aside)
            console.log(f"moved the unreadable checkpoint at step {step} to {aside}")
        if steps:
            self._manager.reload()

    def _failed(self, step: int | None, error: Exception) -> ValueError:
        latest = [s for s in self._manager.all_steps() if s != step]
        last = f"step {max(latest)}" if latest else "none"
        what = f"the checkpoint of step {step}" if step is not None else "a checkpoint"
        return ValueError(
            f"Saving {what} to {self.directory} failed: {_short(error)}. The last complete checkpoint is "
            f"{last}. Make room on the disk or make the workdir writable, then run the same command again: it "
            "resumes from there."
        )


def lowest_eval_loss(workdir: str, steps) -> int | None:
    """Of `steps`, the one whose logged eval loss (metrics.jsonl's last record of it) is the lowest finite one."""
    losses = {r["step"]: r[BEST_METRIC] for r in metrics_lib.read(workdir) if BEST_METRIC in r}
    scored = [(losses[s], s) for s in steps if s in losses and np.isfinite(losses[s])]
    return min(scored)[1] if scored else None


@dataclasses.dataclass(kw_only=True)
class LowestEvalLoss(preservation.PreservationPolicy):
    """Keeps the checkpoint with the lowest eval loss that metrics.jsonl records (written before the step's
    save), across restarts: orbax's BestN forgets the metrics it was given when its process ends."""

    workdir: str

    def should_preserve(self, checkpoints, *, context) -> list[bool]:
        best = lowest_eval_loss(self.workdir, [c.step for c in checkpoints])
        return [c.step == best for c in checkpoints]


def _cause(error: Exception, directory: str) -> str:
    """What is wrong with the checkpoint in `directory`: `_short(error)`, or, for orbax's JSON error that names
    no file, the metadata file that is not JSON."""
    if isinstance(error, json.JSONDecodeError):
        for root, _, files in sorted(os.walk(directory)):
            for name in sorted(f for f in files if f.startswith("_") or f.endswith(("METADATA", ".zarray"))):
                try:
                    with open(os.path.join(root, name)) as f:
                        json.load(f)
                except (ValueError, OSError):
                    return f"{os.path.join(root, name)} is not JSON ({error})"
    return _short(error)


def _short(error: Exception) -> str:
    """An error in one line of at most 300 characters. TensorStore's run to pages (the whole spec of the
    array it was reading): of those, the innermost cause and the file it names."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    text = re.sub(r"\s*\[tensorstore_spec=.*", "", text)
    files = re.findall(r'(?:local file|Failed writing:) "([^"]+)"', text)
    if files:
        cause = re.sub(r"\s*\[os_error_code='?(\d+)'?\]", r" (errno \1)", text.rsplit(": ", 1)[-1])
        text = f"{cause}, in {files[-1]}"
    return text[:300]


def _mismatches(target, saved) -> tuple[list[str], list[str]]:
    """What differs between the state we build and the checkpoint (presence or shape), and at which paths."""
    want = {jax.tree_util.keystr(p): tuple(np.shape(v)) for p, v in jax.tree_util.tree_leaves_with_path(target)}
    have = {jax.tree_util.keystr(p): tuple(np.shape(v)) for p, v in jax.tree_util.tree_leaves_with_path(saved)}
    problems = [f"{k} missing from the checkpoint" for k in want if k not in have]
    problems += [f"{k} is in the checkpoint but not the model" for k in have if k not in want]
    problems += [
        f"{k} has shape {have[k]} in the checkpoint, {want[k]} in the model"
        for k in want
        if k in have and have[k] != want[k]
    ]
    paths = [k for k in want if have.get(k) != want[k]] + [k for k in have if k not in want]
    return problems, paths
