"""FLOPs from the architecture equal the matrix products of each family's traced program, forward and train step."""

import math

import jax
import jax.numpy as jnp
import pytest

from lm.models import families
from lm.models.config import ModelConfig
from lm.run import prepare


def matmul_flops(jaxpr) -> float:
    """2 x (output size) x (contracted size) for every dot_general of a traced program, a scan's body counted
    once per iteration, a conditional's costliest branch (a naive counter, independent of lm/models/flops.py)."""
    total = 0.0
    for eqn in jaxpr.eqns:
        if eqn.primitive.name == "dot_general":
            (contracting, _), _ = eqn.params["dimension_numbers"]
            lhs = eqn.invars[0].aval.shape
            total += 2 * math.prod(eqn.outvars[0].aval.shape) * math.prod(lhs[d] for d in contracting)
        inner = [v for v in eqn.params.values() if hasattr(v, "eqns") or hasattr(v, "jaxpr")]
        inner += [b for v in eqn.params.values() if isinstance(v, tuple) for b in v if hasattr(b, "jaxpr")]
        counts = [matmul_flops(getattr(v, "jaxpr", v)) for v in inner]
        if eqn.primitive.name == "cond":
            counts = [max(counts)]
        total += sum(counts) * eqn.params.get("length", 1)
    return total


SHAPE = dict(vocab_size=40, num_layers=2, num_heads=4, d_model=32, d_ff=48, max_len=16)
FAMILIES = {
    "gpt": {},
    "gqa": dict(num_kv_heads=2, head_dim=12),
    "swiglu, partial rotary": dict(mlp="swiglu", position="rotary", rotary_fraction=0.25, norm="rmsnorm"),
    "sliding window, untied": dict(sliding_window=4, tie_embeddings=False),
    "bert": dict(causal=False, mlm_transform=True, type_vocab_size=2, norm_position="post"),
    "scanned": dict(scan_layers=True),
    "encoder-decoder": dict(family="encoder_decoder", num_encoder_layers=3, num_kv_heads=2),
    "t5": dict(family="encoder_decoder", position="relative", mlp="geglu", use_bias=False, scan_layers=True),
    "gru": dict(family="gru", num_encoder_layers=1),
    "gru without attention": dict(family="gru", rnn_attention=False, tie_embeddings=False),
}


# every family's token logits, and the Transformer family's classification and tagging heads
CASES = [(name, method) for name in FAMILIES for method in (None, "classify", "classify_packed", "tag")]
CASES = [(name, method) for name, method in CASES if method is None or "family" not in FAMILIES[name]]


@pytest.mark.parametrize("name, method", CASES)
def test_the_forward_count_is_the_traced_programs_matrix_products(name, method):
    c = ModelConfig(**SHAPE, **FAMILIES[name], num_classes=3)
    encoder_decoder = c.family != "transformer"
    model = families.build(c)
    T, S, B = 10, 7, 2
    tokens = jax.ShapeDtypeStruct((B, T), jnp.int32)
    kwargs = dict(source=jax.ShapeDtypeStruct((B, S), jnp.int32)) if encoder_decoder else {}
    params = jax.eval_shape(lambda: families.init_params(model, jax.random.PRNGKey(0), T, method))

    def apply(params, tokens, **kwargs):
        return model.apply({"params": params}, tokens, **kwargs, method=method)

    traced = jax.make_jaxpr(apply)(params, tokens, **kwargs)
    counted = families.get(c.family).forward_flops(c, method, T, S if encoder_decoder else 0)
    assert counted.total * B == matmul_flops(traced.jaxpr)


@pytest.mark.parametrize(
    "objective, options",
    [("causal", {}), ("masked", {}), ("seq2seq", dict(family="gru")), ("span_corruption", {})],
)
def test_a_train_step_costs_three_forward_passes(tiny_config, objective, options):
    from lm import step
    from lm.optim import schedule

    tiny_config.objective = objective
    if objective == "seq2seq":
        tiny_config.data.task, tiny_config.data.task_examples, tiny_config.data.source_len = "reverse", 200, 12
    for k, v in options.items():
        tiny_config.model[k] = v
    run = prepare(tiny_config, None, restore="never", abstract=True)
    c = run.config
    batch = run.data.train_batch(0, c.seed, c.data.batch_size, c.data.seq_len)
    inputs, _, _ = jax.eval_shape(run.objective.prepare, batch, jax.random.PRNGKey(0))
    target_len, source_len = inputs["tokens"].shape[1], inputs["source"].shape[1] if "source" in inputs else 0

    def train_step(state, batch):
        return step.train_step(state, batch, seed=0, learning_rate=schedule(c.optim), objective=run.objective)

    traced = jax.make_jaxpr(train_step)(run.state, batch)
    model = ModelConfig.from_config(c.model)
    counted = families.get(model.family).training_flops(model, run.objective.method, target_len, source_len)
    expected = counted.total * c.data.batch_size
    assert matmul_flops(traced.jaxpr) == pytest.approx(expected, rel=1e-9)
