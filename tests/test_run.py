"""Run set-up: what is checked before anything is written, and a run that depends on its config alone."""

import os

import pytest

from lm import train
from lm.run import describe, prepare


def test_eval_and_sample_need_a_checkpoint(tiny_config, tmp_path):
    with pytest.raises(ValueError, match="No checkpoint"):
        prepare(tiny_config, str(tmp_path / "empty"), restore="required")
    assert not os.path.exists(tmp_path / "empty")


def test_an_unknown_evaluator_fails_before_anything_is_read(tiny_config, tmp_path):
    tiny_config.evals = "perplexity,blue"
    tiny_config.data.path = str(tmp_path / "not read.txt")
    with pytest.raises(ValueError, match="unknown evaluator 'blue'"):
        prepare(tiny_config, str(tmp_path / "run"))
    tiny_config.evals = "classification"
    with pytest.raises(ValueError, match="classification needs labelled data"):
        prepare(tiny_config, str(tmp_path / "run"))


def test_without_a_workdir_the_run_depends_on_the_config_alone(tiny_config, tmp_path):
    workdir = str(tmp_path / "run")
    other = tiny_config.copy_and_resolve_references()
    other.model.d_model = 64  # the workdir now holds another model, another tokenizer
    other.data.tokenizer = "byte"
    train.train(other, workdir)
    with pytest.raises(ValueError, match="trained with data.tokenizer='byte'"):
        prepare(tiny_config, workdir, restore="never")
    run = prepare(tiny_config, None, restore="never")  # bench's run: no workdir read
    assert run.checkpointer is None and run.tokenizer.kind == "char" and run.config.model.d_model == 32
    assert int(run.state.step) == 0


def test_describe_names_the_data_model_devices_and_the_optimal_loss(tiny_config, tmp_path):
    text = describe(prepare(tiny_config, str(tmp_path / "run")))
    assert "built-in corpus | char tokenizer" in text and "26,880 parameters" in text
    assert "devices: 8 x cpu (pmap data parallel) | batch 8 x 16 tokens" in text
    assert "the generator's own loss on the eval split is" in text


def test_cudnn_attention_is_refused_off_a_gpu(tiny_config, tmp_path):
    tiny_config.model.attention = "cudnn"
    with pytest.raises(ValueError, match="cuDNN's fused attention, for NVIDIA GPUs.*model.attention=xla"):
        prepare(tiny_config, str(tmp_path / "run"))
    assert not os.path.exists(tmp_path / "run")


def test_label_smoothing_reaches_the_training_loss_the_launcher_computes(tiny_config):
    import jax
    import numpy as np

    from lm.run import compile_train_step

    losses = {}
    for smoothing in (0.0, 0.3):
        tiny_config.optim.label_smoothing = smoothing
        run = prepare(tiny_config.copy_and_resolve_references(), None, restore="never")
        c = run.config
        batch = run.runner.put_batch(run.data.train_batch(0, c.seed, c.data.batch_size, c.data.seq_len))
        _, metrics = compile_train_step(run)(run.runner.put_state(run.state), batch)
        losses[smoothing] = float(np.mean(jax.device_get(metrics["loss"])))
    # at initialisation the logits are near uniform: smoothing moves the loss towards log V, but it moves it
    assert losses[0.3] != losses[0.0]


def test_the_translation_experiment_trains_with_its_label_smoothing():
    from lm.experiment import load as load_experiment

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    config = load_experiment(os.path.join(root, "experiments", "translation.py")).get_config("smoke")
    run = prepare(config, None, restore="never", abstract=True)
    assert config.optim.label_smoothing == 0.1 and run.objective.loss.keywords == {"label_smoothing": 0.1}
