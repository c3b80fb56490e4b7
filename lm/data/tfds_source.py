"""TFDS datasets, offline first: on disk without a download attempt, downloaded only when the network answers.

A plain `tfds.load` of a dataset that is not prepared retries its download for minutes on a machine
without internet; here the load looks on disk first (download=False, instant) and downloads only when
the network answers, so an offline run fails within seconds with a message naming the local-file
alternative. Both the text and the labelled datasets read TFDS through `examples`.
"""

import glob
import os
import socket
from typing import Iterator


def load_split(name: str, split: str, data_dir: str):
    """A TFDS split as a tf.data.Dataset (from disk, else downloaded when the network answers).

    Raises:
      ValueError: an unknown dataset name, or a dataset that is not on disk when there is no network.
    """
    tfds = _tensorflow_datasets()
    kwargs = dict(split=split, data_dir=data_dir or None, shuffle_files=False)
    try:
        return tfds.load(name, download=False, **kwargs)
    except tfds.core.registered.DatasetNotFoundError as e:
        raise ValueError(
            f"data.tfds_name={name!r} is not a TFDS dataset ({str(e).splitlines()[0]}). Check the name in the "
            "TFDS catalog, or use a local file with --config.data.path=FILE."
        ) from e
    except (AssertionError, FileNotFoundError) as e:  # not prepared on disk
        if not network_available():
            raise ValueError(
                f"TFDS dataset {name!r} (split {split!r}) is not on disk ({data_dir or '~/tensorflow_datasets'}) "
                "and this machine cannot reach the internet to download it. Either prepare it on a machine "
                "with internet and copy the data_dir here (--config.data.tfds_dir=DIR), or use a local "
                "file instead: --config.data.path=FILE."
            ) from e
        return tfds.load(name, download=True, **kwargs)


def examples(name: str, split: str, data_dir: str, features: dict[str, str]) -> Iterator[tuple]:
    """The given features of every example of a split, in order; text features as str.

    Args:
      features: config key -> feature name (e.g. {"tfds_text_key": "text"}); the key names the setting
        to fix when the dataset has no such feature.
    Yields:
      One tuple per example, the features' values in the order of `features`.
    Raises:
      ValueError: a feature the dataset does not have, with the setting that names it.
    """
    tfds = _tensorflow_datasets()
    for example in tfds.as_numpy(load_split(name, split, data_dir)):
        for key, feature in features.items():
            if feature not in example:
                raise ValueError(
                    f"TFDS dataset {name!r} has no feature {feature!r} (it has {sorted(example)}). Set "
                    f"--config.data.{key} to the feature to read."
                )
        yield tuple(_decoded(example[feature]) for feature in features.values())


def _tensorflow_datasets():
    """tensorflow_datasets, and TensorFlow under it: the optional install (requirements-tfds.txt), which only
    runs that read TFDS need, and only they pay its ~5 s of import."""
    try:
        import tensorflow  # noqa: F401  (tfds.load builds tf.data pipelines)
        import tensorflow_datasets
    except ImportError as e:
        raise ValueError(
            f"TFDS datasets need TensorFlow and tensorflow-datasets, which the main install leaves out ({e}). "
            "Install them with `pip install -r requirements-tfds.txt` (the pinned versions), or read a local "
            "text file instead: --config.data.path=FILE."
        ) from e
    return tensorflow_datasets


def prepared_versions(name: str, data_dir: str) -> list[tuple[str, int]]:
    """The dataset's prepared versions on disk (their dataset_info.json files and times), for cache keys:
    preparing a new version changes them."""
    data_dir = resolved_data_dir(data_dir)
    builder = name.split(":")[0].split("/")[0]
    infos = sorted(glob.glob(os.path.join(data_dir, builder, "**", "dataset_info.json"), recursive=True))
    return [(os.path.relpath(f, data_dir), os.stat(f).st_mtime_ns) for f in infos]


def resolved_data_dir(data_dir: str) -> str:
    """The directory TFDS reads: data.tfds_dir, else $TFDS_DATA_DIR, else ~/tensorflow_datasets."""
    return os.path.expanduser(data_dir or os.environ.get("TFDS_DATA_DIR", "~/tensorflow_datasets"))


def network_available(host: str = "storage.googleapis.com", port: int = 443, timeout: float = 2.0) -> bool:
    try:
        socket.create_connection((host, port), timeout=timeout).close()
        return True
    except OSError:
        return False


def _decoded(value):
    if isinstance(value, bytes):
        return value.decode("utf-8")
    return value
