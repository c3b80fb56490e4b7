"""Test setup: 8 fake CPU devices (set before JAX starts) and a persistent compilation cache."""

import os

os.environ["XLA_FLAGS"] = os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8"
os.environ.setdefault("LM_COMPILATION_CACHE", os.path.expanduser("~/.cache/lm/jax-tests"))

import jax  # noqa: E402
import ml_collections  # noqa: E402
import pytest  # noqa: E402

jax.config.update("jax_compilation_cache_dir", os.environ["LM_COMPILATION_CACHE"])
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)

from lm.config import default_config, shrink_to_smoke  # noqa: E402


@pytest.fixture
def tiny_config() -> ml_collections.ConfigDict:
    """A config that trains in well under a second per step on the built-in corpus."""
    c = shrink_to_smoke(default_config())
    c.data.synthetic_chars = 5_000
    c.optim.warmup_steps = 1
    c.sample.max_new_tokens = 4
    c.sample.prompt = "cat"
    return c
