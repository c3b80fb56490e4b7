"""How the steps run: jit on one device, pmap data parallel across the local devices, or jit over a device mesh.

The step functions (lm/step.py) are the same in all three; a runner only compiles them, places the state and
shards each batch. Under pmap the state is replicated and every device takes an equal slice of the global
batch. Under a mesh (`MeshRunner`: axes data x fsdp x tensor) the step is one jit program over global
arrays: the batch is split over data and fsdp, parameters and optimizer state are split by `RULES`
(FSDP: the d_model axis over fsdp; tensor parallelism: attention heads, MLP hidden units and the
vocabulary over tensor), and XLA inserts the communication.
"""

import collections
import functools
import queue as queue_lib
import re
import threading
from typing import Iterable, Iterator

import jax
import numpy as np
from flax import jax_utils

from lm import rendezvous

AXIS = "batch"
MESH_AXES = ("data", "fsdp", "tensor")
BATCH = ("data", "fsdp")  # the mesh axes a batch's rows are split over

# Logical axes of each parameter (by the end of its path; its trailing dimensions; a scanned stack's leading
# layer axis is left whole), the one place that says how weights shard. Optimizer state follows its parameter.
RULES = (
    (r"(query|key|value)/kernel$", ("embed", "heads", None)),
    (r"(query|key|value)/bias$", ("heads", None)),
    (r"attention/out/kernel$", ("heads", None, "embed")),
    (r"mlp/(up|gate)/kernel$", ("embed", "mlp")),
    (r"mlp/(up|gate)/bias$", ("mlp",)),
    (r"mlp/down/kernel$", ("mlp", "embed")),
    (r"(embed|shared_embed|source_embed)/embedding$", ("vocab", "embed")),
    (r"head/kernel$", ("embed", "vocab")),
)
LOGICAL_TO_MESH = {"embed": "fsdp", "heads": "tensor", "mlp": "tensor", "vocab": "tensor"}


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

    def describe(self) -> str:
        return "pmap data parallel" if self.pmap else "jit"

    def local_rows(self, batch_size: int) -> np.ndarray | None:
        """The rows of a global batch this process places on its devices: all of them (None), one process."""
        return None

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

    def abstract_state(self, shapes):
        """The state as compile-time shapes placed as put_state places it (preflight: nothing allocated)."""
        if self.pmap:
            return jax.tree.map(lambda x: jax.ShapeDtypeStruct((self.num_devices, *x.shape), x.dtype), shapes)
        return shapes

    def bytes_per_device(self, shapes) -> int:
        """What a tree of arrays placed by put_state takes on each device (under pmap: all of it)."""
        return sum(x.size * x.dtype.itemsize for x in jax.tree.leaves(shapes))

    def get_state(self, state):
        """The state on one device (the first replica under pmap)."""
        if self.pmap:
            return jax_utils.unreplicate(state)
        return state

    def put_batch(self, batch: dict[str, np.ndarray], batch_size: int | None = None):
        """The batch on the devices (an asynchronous copy): [B, ...], or under pmap [devices, B / devices, ...]
        with each device's slice on that device. (batch_size: see MeshRunner.put_batch; one process holds all.)"""
        if self.pmap:
            split = jax.tree.map(lambda x: x.reshape(self.num_devices, -1, *x.shape[1:]), batch)
            return jax.device_put(split, self._batch_sharding)
        return jax.device_put(batch, self.devices[0])

    def prefetch(self, batches: Iterable[dict[str, np.ndarray]], size: int = 2, batch_size: int | None = None):
        """`batches` read by a background thread and put on the devices `size` ahead, so that reading them
        (token shards: from disk) and the copies overlap the steps before them. batch_size: the batches hold
        this process's `local_rows` of global batches of that many rows."""
        queue = collections.deque()
        for batch in in_background(batches, size):
            queue.append(self.put_batch(batch, batch_size))
            if len(queue) > size:
                yield queue.popleft()
        yield from queue

    def get_metrics(self, metrics):
        """Metrics on the host (identical on every device after the step's psum)."""
        metrics = jax.device_get(metrics)
        if self.pmap:
            return jax.tree.map(lambda x: x[0], metrics)
        return metrics


class MeshRunner:
    """Compiles the steps with jit over a `data x fsdp x tensor` mesh of the local devices (see the module)."""

    pmap = False

    def __init__(self, data: int = 0, fsdp: int = 1, tensor: int = 1, devices=None):
        devices = list(devices if devices is not None else jax.devices())
        if data == 0:  # every device the other axes leave
            data = max(len(devices) // (fsdp * tensor), 1)
        if min(data, fsdp, tensor) < 1 or data * fsdp * tensor != len(devices):
            raise ValueError(
                f"parallel.data x fsdp x tensor = {data} x {fsdp} x {tensor} must multiply to the {len(devices)} "
                "devices (parallel.data=0 takes what the other two leave; on CPU, "
                "XLA_FLAGS=--xla_force_host_platform_device_count=N makes N devices)."
            )
        self.shape = {"data": data, "fsdp": fsdp, "tensor": tensor}
        self.num_devices = len(devices)
        self.devices = devices
        self.mesh = jax.sharding.Mesh(np.asarray(devices).reshape(data, fsdp, tensor), MESH_AXES)
        self._batch_sharding = jax.sharding.NamedSharding(self.mesh, jax.P(BATCH))
        self._replicated = jax.sharding.NamedSharding(self.mesh, jax.P())

    def describe(self) -> str:
        return "mesh " + " x ".join(f"{k} {v}" for k, v in self.shape.items())

    def local_rows(self, batch_size: int) -> np.ndarray | None:
        """The rows of a global batch that this process's devices hold, in order; None with one process."""
        if jax.process_count() == 1:
            return None
        index = self._batch_sharding.addressable_devices_indices_map((batch_size,))
        return np.asarray(sorted({row for (rows,) in index.values() for row in range(*rows.indices(batch_size))}))

    def spec(self, path: str, shape: tuple) -> jax.P:
        """The PartitionSpec of a parameter (or its optimizer state) at `path` with `shape`, by RULES; a dimension
        that does not divide by its mesh axis stays whole."""
        for pattern, logical in RULES:
            if re.search(pattern, path) and len(shape) >= len(logical):
                axes = [None] * (len(shape) - len(logical)) + [LOGICAL_TO_MESH.get(a) if a else None for a in logical]
                return jax.P(*(a if a and n % self.shape[a] == 0 else None for a, n in zip(axes, shape, strict=True)))
        return jax.P()

    def state_shardings(self, state):
        def sharding(path, leaf):
            if not hasattr(leaf, "shape"):
                return self._replicated
            name = "/".join(str(getattr(k, "key", getattr(k, "name", getattr(k, "idx", k)))) for k in path)
            return jax.sharding.NamedSharding(self.mesh, self.spec(name, leaf.shape))

        return jax.tree_util.tree_map_with_path(sharding, state)

    def compile(self, step_fn, donate_state: bool = True, **static):
        """step_fn(state, batch, **static) jitted over the mesh; a returned state keeps the input's sharding."""
        fn = functools.partial(step_fn, **static)

        def constrained(state, batch):
            with jax.sharding.use_abstract_mesh(self.mesh.abstract_mesh):  # the axes layers.shard_rows names
                out = fn(state, batch)
            if isinstance(out, tuple) and jax.tree.structure(out[0]) == jax.tree.structure(state):
                out = (jax.lax.with_sharding_constraint(out[0], self.state_shardings(state)), *out[1:])
            return out

        return jax.jit(constrained, donate_argnums=(0,) if donate_state else ())

    def check_batch_size(self, batch_size: int, name: str) -> None:
        rows = self.shape["data"] * self.shape["fsdp"]
        if batch_size % rows:
            raise ValueError(
                f"{name}={batch_size} does not split evenly over the mesh's {rows} batch shards (parallel.data x "
                f"parallel.fsdp). Use a multiple of {rows}."
            )

    def put_state(self, state):
        """The state as global arrays split by RULES; each process places its devices' parts (several hosts)."""
        return jax.tree.map(_global_array, jax.device_get(state), self.state_shardings(state))

    def abstract_state(self, shapes):
        shardings = self.state_shardings(shapes)
        return jax.tree.map(lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s), shapes, shardings)

    def bytes_per_device(self, shapes) -> int:
        """What a tree of arrays placed by put_state takes on the most loaded device (its shards)."""
        shardings = jax.tree.leaves(self.state_shardings(shapes))
        return sum(
            int(np.prod(s.shard_shape(x.shape))) * x.dtype.itemsize
            for x, s in zip(jax.tree.leaves(shapes), shardings, strict=True)
        )

    def get_state(self, state):
        return state  # global arrays: checkpoints and sampling read them as they are

    def put_batch(self, batch: dict[str, np.ndarray], batch_size: int | None = None):
        """The batch as global arrays. Without batch_size, `batch` is the global batch (the same on every process)
        and each process places the rows of its own devices; with it, `batch` holds only this process's
        `local_rows(batch_size)` (what it read), which become its part of a global batch of batch_size rows."""
        if batch_size is None or jax.process_count() == 1:
            return jax.tree.map(lambda x: _global_array(x, self._batch_sharding), batch)
        return jax.tree.map(
            lambda x: jax.make_array_from_process_local_data(self._batch_sharding, x, (batch_size, *x.shape[1:])),
            batch,
        )

    def get_metrics(self, metrics):
        """Metrics on the host: replicated scalars, read from this process's copy."""
        return jax.tree.map(lambda x: np.asarray(x.addressable_data(0)), metrics)

    prefetch = Runner.prefetch


def in_background(items: Iterable, size: int = 2) -> Iterator:
    """The items of `items`, in order, made by a thread of their own up to `size` ahead of the consumer. An
    exception in the thread is raised here; closing the iterator (a run that stops early) stops the thread."""
    ready, stop, done = queue_lib.Queue(maxsize=size), threading.Event(), object()

    def offer(entry) -> bool:
        """Puts `entry` once there is room; False when the consumer has gone."""
        while not stop.is_set():
            try:
                ready.put(entry, timeout=0.1)
                return True
            except queue_lib.Full:
                continue
        return False

    def produce():
        try:
            for item in items:
                if not offer((item, None)):
                    return
            offer((done, None))
        except BaseException as e:  # noqa: BLE001 - handed to the consumer, which raises it
            offer((done, e))

    thread = threading.Thread(target=produce, daemon=True, name="lm-batches")
    thread.start()
    try:
        while True:
            item, error = ready.get()
            if item is done:
                if error is not None:
                    raise error
                return
            yield item
    finally:
        stop.set()


def for_config(config) -> "Runner | MeshRunner":
    """The runner config.parallel asks for: pmap (train.data_parallel: all local devices, else one) or a mesh
    (of every device of every process)."""
    p = config.parallel
    if p.mode == "mesh":
        return MeshRunner(p.data, p.fsdp, p.tensor)
    if jax.process_count() > 1:
        raise ValueError(
            f"parallel.mode=pmap runs on one process; this run has {jax.process_count()} (jax.distributed). Set "
            "--config.parallel.mode=mesh: its data axis spans every process's devices."
        )
    return Runner.for_config(config.train.data_parallel)


def initialize_distributed(
    coordinator: str | None,
    num_processes: int | None,
    process_id: int | None,
    auto: bool,
    timeout: float = rendezvous.DEFAULT_TIMEOUT,
):
    """jax.distributed.initialize, before any other JAX call: from an explicit coordinator address, process count
    and id, once every process is there (lm/rendezvous.py, within `timeout` seconds), or (auto) from the
    cluster's environment (SLURM, TPU pods, ...). CPU processes talk through gloo.

    Raises:
      ValueError: flags missing or out of range, the port taken, a process missing after `timeout`.
    """
    if not timeout > 0:
        raise ValueError(f"--init_timeout={timeout} must be > 0: the seconds the processes wait for each other.")
    if auto:
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
        jax.distributed.initialize(initialization_timeout=int(timeout))
        return
    if coordinator is None and num_processes is None and process_id is None:
        return
    rendezvous.meet(coordinator, num_processes, process_id, timeout)
    if num_processes == 1:
        return
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    bind = "0.0.0.0:" + coordinator.rsplit(":", 1)[1] if process_id == 0 else None
    jax.distributed.initialize(
        coordinator, num_processes, process_id, coordinator_bind_address=bind, initialization_timeout=int(timeout)
    )


def _global_array(x, sharding: jax.sharding.Sharding) -> jax.Array:
    """A host array (identical on every process) as a global array: each process fills its own devices' shards."""
    x = np.asarray(x)
    return jax.make_array_from_callback(x.shape, sharding, lambda index: x[index])
