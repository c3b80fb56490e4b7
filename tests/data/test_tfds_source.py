"""TFDS offline first: a dataset not on disk fails fast, without a download attempt, naming the alternative."""

import pytest

from lm.data import tfds_source


def test_offline_fails_without_trying_to_download_naming_the_local_file_alternative(tmp_path, monkeypatch):
    import tensorflow_datasets as tfds

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
    with pytest.raises(ValueError, match="is not a TFDS dataset"):
        tfds_source.load_split("no_such_dataset_xyz", "train", "")


def test_a_missing_feature_names_the_setting_to_fix():
    import tensorflow as tf
    import tensorflow_datasets as tfds

    fake = lambda self, split, **kw: tf.data.Dataset.from_tensor_slices({"text": ["a", "b"]})  # noqa: E731
    with tfds.testing.mock_data(as_dataset_fn=fake):
        assert list(tfds_source.examples("tiny_shakespeare", "train", "", {"tfds_text_key": "text"})) == [
            ("a",),
            ("b",),
        ]
        with pytest.raises(ValueError, match="no feature 'content'.*--config.data.tfds_text_key"):
            list(tfds_source.examples("tiny_shakespeare", "train", "", {"tfds_text_key": "content"}))
