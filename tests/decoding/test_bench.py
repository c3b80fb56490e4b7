"""The generation benchmark's measurement: one compiling run, then the median of timed runs."""

import jax

from lm.decoding import bench
from lm.models.config import ModelConfig
from lm.models.transformer import TransformerLM, init_params


def test_measure_reports_compile_time_and_the_median_run_as_rates(monkeypatch):
    model = TransformerLM(ModelConfig(vocab_size=11, num_layers=1, num_heads=2, d_model=8, d_ff=16, max_len=16))
    params = init_params(model, jax.random.PRNGKey(0))
    for cache in (True, False):
        # the first (compiling) run takes 3 s, the timed ones 0.5, 0.4 and 0.9 s
        clock = iter([0.0, 3.0, 10.0, 10.5, 20.0, 20.4, 30.0, 30.9])
        monkeypatch.setattr(bench.time, "perf_counter", lambda clock=clock: next(clock))
        r = bench.measure(model, params, batch_size=2, prompt_len=3, new_tokens=5, cache=cache, repeats=3)
        assert r == {
            "batch_size": 2,
            "cache": cache,
            "compile_s": 2.5,
            "seconds": 0.5,
            "tokens_per_s": 20.0,
            "ms_per_token_step": 100.0,
        }
