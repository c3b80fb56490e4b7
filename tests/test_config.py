import os
import subprocess
import sys

import pytest

from lm import config as config_lib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_resolve_fills_the_shape_from_the_size_table_and_keeps_overrides():
    c = config_lib.default_config()
    c.model.size = "small"
    c.model.num_layers = 3
    r = config_lib.resolve(c, vocab_size=100)
    assert (r.model.num_layers, r.model.num_heads, r.model.d_model, r.model.d_ff) == (3, 12, 768, 3072)
    assert r.model.vocab_size == 100 and r.model.max_len == c.data.seq_len
    assert r.optim.decay_steps == c.train.num_steps
    assert c.model.num_heads is None  # the input config is not modified


@pytest.mark.parametrize(
    "key,value,needle",
    [
        ("model.position", "alibi", "choose one of learned, sinusoidal, rotary"),
        ("model.size", "huge", "choose one of nano"),
        ("data.batch_size", 0, "must be > 0"),
        ("model.dropout", 1.0, r"must be in \[0, 1\)"),
        ("optim.grad_accum_steps", 3, "must divide"),
        ("data.tokenizer", "word", "choose one of byte"),
    ],
)
def test_bad_values_name_the_field_and_the_fix(key, value, needle):
    c = config_lib.default_config()
    section, field = key.split(".")
    c[section][field] = value
    with pytest.raises(ValueError, match=needle) as info:
        config_lib.validate(c)
    assert key in str(info.value) and "Fix it with --config." in str(info.value)


def test_resolve_rejects_inconsistent_shapes():
    c = config_lib.default_config()
    c.model.num_heads = 3  # tiny: d_model 64
    with pytest.raises(ValueError, match="must divide by model.num_heads=3"):
        config_lib.resolve(c, 10)
    c = config_lib.default_config()
    c.model.size = "custom"
    with pytest.raises(ValueError, match="must be set when model.size='custom'"):
        config_lib.resolve(c, 10)
    c = config_lib.default_config()
    c.model.max_len = 8
    with pytest.raises(ValueError, match="data.seq_len=64 must be <= model.max_len=8"):
        config_lib.resolve(c, 10)


def launch(*args, cwd=None):
    return subprocess.run(
        [sys.executable, os.path.join(ROOT, "launch.py"), *args], capture_output=True, text=True, cwd=cwd, timeout=300
    )


@pytest.mark.parametrize(
    "flag,needle",
    [
        ("--config.model.dmodel=64", "unknown config key: dmodel Did you mean d_model"),
        ("--config.train.num_steps=1.5", "--config.train.num_steps=1.5"),
        ("--config.model.position=alibi", "model.position='alibi'"),
        ("--config.model.attention=cudnn", "model.attention=cudnn is cuDNN's fused attention, for NVIDIA GPUs"),
    ],
)
def test_bad_overrides_fail_before_anything_runs(flag, needle, tmp_path):
    result = launch(f"--config={ROOT}/experiments/default.py:smoke", f"--workdir={tmp_path}/w", flag)
    assert result.returncode != 0
    assert needle in result.stderr
    assert "Traceback" not in result.stderr
    assert not os.path.exists(tmp_path / "w")


@pytest.mark.parametrize(
    "environ,nproc",
    [
        ({"XLA_FLAGS": "--xla_cpu_enable_fast_math=false --xla_force_host_platform_device_count=4"}, "8"),
        ({"XLA_FLAGS": "--xla_force_host_platform_device_count=4", "NPROC": "3"}, "3"),  # the user's choice
        ({"XLA_FLAGS": "--xla_force_host_platform_device_count=1"}, None),
        ({}, None),
    ],
)
def test_fake_cpu_devices_get_two_pool_threads_each(environ, nproc):
    import launch

    launch.widen_cpu_thread_pool(environ)
    assert environ.get("NPROC") == nproc


def test_attention_dropout_needs_the_einsum_attention():
    c = config_lib.default_config()
    c.model.attention, c.model.attention_dropout = "xla", 0.1
    with pytest.raises(ValueError, match="model.attention_dropout.*use model.attention=einsum"):
        config_lib.validate(c)
    c.model.attention = "einsum"
    config_lib.validate(c)


def test_int_where_a_float_is_expected_is_fine():
    from ml_collections import config_flags  # noqa: F401  (the same parser launch.py uses)

    c = config_lib.default_config()
    c.optim.learning_rate = 1  # an int into a float field
    config_lib.validate(c)
    assert isinstance(c.optim.learning_rate, float)
