"""What an offline W&B run wrote into a workdir, read back from its .wandb files without W&B's servers.

A .wandb file is W&B's transaction log: the header ":W&B" + 2 magic bytes + a version byte, then protobuf
`Record`s in LevelDB's log format (blocks of 32 KiB; each chunk a 7-byte header of CRC-32C, length and type:
1 full, 2 first, 3 middle, 4 last; a block's last < 7 bytes are padding). wandb 0.31 writes it from its Go
core and ships no Python reader; its protobuf classes are in wandb.proto.
"""

import glob
import json
import os
import struct

from lm import metrics

BLOCK = 32 * 1024
HEADER = 7  # the file's, and each chunk's


def records(path: str) -> list:
    """The `Record`s of one .wandb file, in order."""
    from wandb.proto import wandb_internal_pb2

    with open(path, "rb") as f:
        data = f.read()
    assert data[:4] == b":W&B", f"{path} is not a .wandb file"
    found, pending, position = [], b"", HEADER
    while position + HEADER <= len(data):
        if BLOCK - position % BLOCK < HEADER:  # a block's tail too short for a chunk header: padding
            position += BLOCK - position % BLOCK
            continue
        _, length, kind = struct.unpack("<IHB", data[position : position + HEADER])
        if kind == 0:  # zeros: the end of what was written
            break
        pending += data[position + HEADER : position + HEADER + length]
        position += HEADER + length
        if kind in (1, 4):  # a full record, or the last chunk of one
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            found.append(record)
            pending = b""
    return found


def runs(workdir: str) -> list[dict]:
    """Each offline W&B session of `workdir` (oldest first): its run id, entity, project and name, its config
    (dotted keys) and its history, a {"step", key: value} dict per logged step."""
    sessions = []
    paths = glob.glob(os.path.join(workdir, "wandb", "offline-run-*", "run-*.wandb"))
    for path in sorted(paths, key=os.path.getmtime):
        session = {"config": {}, "history": []}
        for record in records(path):
            kind = record.WhichOneof("record_type")
            if kind == "run":
                run = record.run
                session |= {"id": run.run_id, "entity": run.entity, "project": run.project, "name": run.display_name}
                session["config"] |= _config(run.config.update)
            elif kind == "config":
                session["config"] |= _config(record.config.update)
            elif kind == "history":
                items = {item.key or "/".join(item.nested_key): item.value_json for item in record.history.item}
                items = {key: json.loads(value) for key, value in items.items()}
                point = {"step": items.pop("_step")} | {k: v for k, v in items.items() if not k.startswith("_")}
                session["history"].append(point)
        sessions.append(session)
    return sessions


def _config(items) -> dict:
    """W&B's config items as dotted keys ("optim.learning_rate"), as TensorBoard's hyperparameters name them."""
    flat = {}
    for item in items:
        key = item.key or "/".join(item.nested_key)
        if key.startswith("_"):  # W&B's own (_wandb)
            continue
        value = json.loads(item.value_json)
        value = value.get("value", value) if isinstance(value, dict) and set(value) <= {"value", "desc"} else value
        flat |= metrics.hyperparameters({key: value})
    return flat
