"""TFDS offline first: a dataset not on disk fails fast, without a download attempt, naming the alternative;
without TensorFlow (the main install) a TFDS run stops at once, naming the install that brings it."""

import os

import pytest

from lm.data import tfds_source
from tests import launcher


@pytest.mark.parametrize("experiment", ["shakespeare_char.py:cpu", "translation.py", "finetune.py:sst2"])
def test_without_tensorflow_a_tfds_run_stops_naming_the_install_that_brings_it(experiment, tmp_path):
    """Text, sequence pairs and labels: each TFDS reader, in the main install (launcher.py: no TensorFlow)."""
    result = launcher.launch(f"--config={launcher.ROOT}/experiments/{experiment}", "--workdir=run", cwd=tmp_path)
    assert result.returncode == 1
    assert "pip install -r requirements-tfds.txt" in result.stderr and "Traceback" not in result.stderr
    assert "No module named" in result.stderr or "halted" in result.stderr  # says what is missing
    assert not os.path.exists(tmp_path / "run")  # nothing written


def test_offline_fails_without_trying_to_download_naming_the_local_file_alternative(tmp_path, monkeypatch):
    tfds = pytest.importorskip("tensorflow_datasets")  # requirements-tfds.txt

    calls = []
    real_load = tfds.load

    def spy(name, download=True, **kwargs):
        calls.append(download)
        return real_load(name, download=download, **kwargs)

    monkeypatch.setattr(tfds, "load", spy)
    monkeypatch.setattr(tfds_source, "network_available", lambda *a, **k: False)
    with pytest.raises(ValueError, match="--config.data.path=FILE") as info:
        tfds_source.load_split("tiny_shakespeare", "train", str(tmp_path))
    assert "not on disk" in str(info.value)
    assert calls == [False]  # looked on disk once; never downloaded


def test_unknown_tfds_name_is_a_clear_error():
    pytest.importorskip("tensorflow_datasets")
    with pytest.raises(ValueError, match="is not a TFDS dataset"):
        tfds_source.load_split("no_such_dataset_xyz", "train", "")


def test_a_missing_feature_names_the_setting_to_fix():
    tf = pytest.importorskip("tensorflow")
    tfds = pytest.importorskip("tensorflow_datasets")  # requirements-tfds.txt

    fake = lambda self, split, **kw: tf.data.Dataset.from_tensor_slices({"text": ["a", "b"]})  # noqa: E731
    with tfds.testing.mock_data(as_dataset_fn=fake):
        assert list(tfds_source.examples("tiny_shakespeare", "train", "", {"tfds_text_key": "text"})) == [
            ("a",),
            ("b",),
        ]
        with pytest.raises(ValueError, match="no feature 'content'.*--config.data.tfds_text_key"):
            list(tfds_source.examples("tiny_shakespeare", "train", "", {"tfds_text_key": "content"}))
