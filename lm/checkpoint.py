"""Orbax checkpoints of the train state in WORKDIR/checkpoints.

Orbax writes each step to a temporary directory and renames it when complete, so a crash mid-save
leaves the previous checkpoint as the latest. Saves are asynchronous: `close()` waits for them.
"""

import os

import jax
import numpy as np
import orbax.checkpoint as ocp
from flax import serialization


class Checkpointer:
    def __init__(self, workdir: str, keep: int = 3, create: bool = True):
        self.directory = os.path.join(os.path.abspath(workdir), "checkpoints")
        options = ocp.CheckpointManagerOptions(max_to_keep=keep, create=create)
        self._manager = ocp.CheckpointManager(
            self.directory, options=options, item_handlers=ocp.StandardCheckpointHandler()
        )

    def latest_step(self) -> int | None:
        return self._manager.latest_step()

    def save(self, state) -> None:
        """Saves the (unreplicated) state at its step; returns before the write completes."""
        step = int(jax.device_get(state.step))
        if step in self._manager.all_steps():
            return
        self._manager.save(step, args=ocp.args.StandardSave(serialization.to_state_dict(state)))

    def restore(self, state, step: int | None = None):
        """`state` with params, opt_state and step from the checkpoint (latest by default).

        Raises:
          ValueError: no checkpoint, or one whose arrays do not fit `state` (another model).
        """
        step = self.latest_step() if step is None else step
        if step is None:
            raise ValueError(f"No checkpoint in {self.directory}. Train first (--mode=train) with this --workdir.")
        target = jax.tree.map(ocp.utils.to_shape_dtype_struct, serialization.to_state_dict(state))
        saved = self._manager.item_metadata(step)
        problems = _mismatches(target, saved)
        if problems:
            raise ValueError(
                f"The checkpoint at step {step} in {self.directory} does not match the configured model: "
                f"{'; '.join(problems[:5])}. Use the model config that trained it (see config.json in the workdir), "
                "or a fresh --workdir."
            )
        restored = self._manager.restore(step, args=ocp.args.StandardRestore(target))
        return serialization.from_state_dict(state, restored)

    def restore_params(self, step: int | None = None) -> dict:
        """The parameters of a checkpoint as saved (numpy arrays), whatever model or optimizer made them."""
        step = self.latest_step() if step is None else step
        if step is None:
            raise ValueError(
                f"No checkpoint in {self.directory}: --config.init_from must name a workdir that has "
                "trained (pretraining writes checkpoints there)."
            )
        return self._manager.restore(step, args=ocp.args.StandardRestore())["params"]

    def close(self) -> None:
        self._manager.wait_until_finished()
        self._manager.close()


def _mismatches(target, saved) -> list[str]:
    """Paths whose presence or shape differs between the state we build and the checkpoint."""
    want = {jax.tree_util.keystr(p): tuple(np.shape(v)) for p, v in jax.tree_util.tree_leaves_with_path(target)}
    have = {jax.tree_util.keystr(p): tuple(np.shape(v)) for p, v in jax.tree_util.tree_leaves_with_path(saved)}
    problems = [f"{k} missing from the checkpoint" for k in want if k not in have]
    problems += [f"{k} is in the checkpoint but not the model" for k in have if k not in want]
    problems += [
        f"{k} has shape {have[k]} in the checkpoint, {want[k]} in the model"
        for k in want
        if k in have and have[k] != want[k]
    ]
    return problems
