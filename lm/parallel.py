"""How the steps run: jit on one device, or pmap data parallel across the local devices.

The step functions (lm/step.py) are the same in both; this wrapper only compiles them, places the
state and shards each batch. Under pmap the state is replicated and every device takes an equal
slice of the global batch.
"""

import collections
import functools
from typing import Iterable, Iterator

import jax
import numpy as np
from flax import jax_utils

AXIS = "batch"


class Runner:
    """Compiles the steps for `num_devices` local devices (1: plain jit)."""

    def __init__(self, num_devices: int = 1):
        self.num_devices = num_devices
        self.pmap = num_devices > 1
        self.devices = jax.local_devices()[:num_devices]
        # Under pmap, batch [devices, B / devices, ...]: slice i on device i.
        self._batch_sharding = jax.sharding.NamedSharding(jax.sharding.Mesh(self.devices, (AXIS,)), jax.P(AXIS))

    @classmethod
    def for_config(cls, data_parallel: bool) -> "Runner":
        return cls(jax.local_device_count() if data_parallel else 1)

    def compile(self, step_fn, donate_state: bool = True, **static):
        """step_fn(state, batch, **static, axis_name=...) compiled for this runner."""
        donate = (0,) if donate_state else ()
        if self.pmap:
            fn = functools.partial(step_fn, axis_name=AXIS, **static)
            return jax.pmap(fn, axis_name=AXIS, donate_argnums=donate, devices=self.devices)
        return jax.jit(functools.partial(step_fn, **static), donate_argnums=donate)

    def check_batch_size(self, batch_size: int, name: str) -> None:
        if batch_size % self.num_devices:
            raise ValueError(
                f"{name}={batch_size} does not split evenly over {self.num_devices} devices. Use a multiple "
                f"of {self.num_devices}, or --config.train.data_parallel=False to run on one device."
            )

    def put_state(self, state):
        if self.pmap:
            return jax_utils.replicate(state, devices=self.devices, axis_name=AXIS)
        return jax.device_put(state)

    def get_state(self, state):
        """The state on one device (the first replica under pmap)."""
        if self.pmap:
            return jax_utils.unreplicate(state)
        return state

    def put_batch(self, batch: dict[str, np.ndarray]):
        """The batch on the devices (an asynchronous copy): [B, ...], or under pmap [devices, B / devices, ...]
        with each device's slice on that device."""
        if self.pmap:
            split = jax.tree.map(lambda x: x.reshape(self.num_devices, -1, *x.shape[1:]), batch)
            return jax.device_put(split, self._batch_sharding)
        return jax.device_put(batch, self.devices[0])

    def prefetch(self, batches: Iterable[dict[str, np.ndarray]], size: int = 2) -> Iterator:
        """`batches` put on the devices `size` ahead, so the copies overlap the steps before them."""
        queue = collections.deque()
        for batch in batches:
            queue.append(self.put_batch(batch))
            if len(queue) > size:
                yield queue.popleft()
        yield from queue

    def get_metrics(self, metrics):
        """Metrics on the host (identical on every device after the step's psum)."""
        metrics = jax.device_get(metrics)
        if self.pmap:
            return jax.tree.map(lambda x: x[0], metrics)
        return metrics
