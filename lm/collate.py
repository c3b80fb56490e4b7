"""A sweep's results: one row per variant over its seeds (mean ± std, n), and its curves.

`--mode=collate --workdir=RUN` on a single run's workdir plots its curves (train and eval loss against step)
into RUN/curves.png. `--mode=collate --workdir=SWEEP` reads every variant's sweep.json and metrics.jsonl and writes
SWEEP/results.md, results.csv and curves.png (train and eval loss against step, a line per variant with its
seeds as a band; `--metric=eval/accuracy` adds that metric's column and panel), and loss_by_position.png
where the runs logged eval/loss_by_position (evals=by_position). The columns are the
overrides that differ between variants, not the whole config. `--mode=compare --workdir=A --compare_to=B`
sets two runs side by side: their config difference beside their metric difference.
"""

import csv
import os

import matplotlib
import numpy as np

from lm import console, metrics, sweep, workdir_files
from lm.models.config import complete

matplotlib.use("Agg")  # headless: files only

import matplotlib.pyplot as plt  # noqa: E402

LOSS = "eval/loss"
BY_POSITION = "eval/loss_by_position"  # a curve per eval (lm/evaluators/by_position.py)


def lower_is_better(metric: str) -> bool:
    return any(word in metric for word in ("loss", "perplexity", "bits"))


def final_and_best(records: list[dict], metric: str) -> tuple[float | None, float | None]:
    """The metric at the last step that logged it, and its best value over the run."""
    values = [r[metric] for r in records if metric in r]
    if not values:
        return None, None
    return values[-1], (min(values) if lower_is_better(metric) else max(values))


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for one value)."""
    a = np.asarray(values, np.float64)
    return float(a.mean()), float(a.std(ddof=1)) if len(a) > 1 else 0.0


def group(statuses: list[dict]) -> tuple[list[str], dict[tuple, list[dict]]]:
    """(the override keys that differ between variants, seed aside; variants grouped by their values).

    A variant that does not override a key has the value its config.json holds (`settings`)."""
    keys = []
    for s in statuses:
        keys += [k for k in s["overrides"] if k != "seed" and k not in keys]
    value = lambda s, k: s["overrides"].get(k, s.get("settings", {}).get(k))  # noqa: E731
    differ = [k for k in keys if len({repr(value(s, k)) for s in statuses}) > 1]
    groups: dict[tuple, list[dict]] = {}
    for s in statuses:
        groups.setdefault(tuple(value(s, k) for k in differ), []).append(s)
    return differ, groups


def collate(workdir: str, metric: str | None = None) -> list[dict]:
    """Writes results.md, results.csv and curves.png into the sweep's workdir; returns the rows. A single run's
    workdir (metrics.jsonl, no variants) gets its curves.png (collate_run)."""
    single = os.path.isfile(os.path.join(workdir, metrics.METRICS_FILE))
    if single and not any(os.path.isfile(os.path.join(workdir, d, sweep.STATUS_FILE)) for d in os.listdir(workdir)):
        return [collate_run(workdir, metric)]
    statuses = sweep.read_statuses(workdir)
    for s in statuses:
        sub = os.path.join(workdir, s["name"])
        s["records"] = metrics.read(sub) if s["status"] == "done" else []
        s["settings"] = _flatten(_completed(workdir_files.read_config(sub) or {}))
    done = [s for s in statuses if s["status"] == "done"]
    if not done:
        raise ValueError(f"No variant of the sweep in {workdir} has finished: run --mode=sweep to the end first.")
    keys, groups = group(done)
    shown = [LOSS] + ([metric] if metric and metric != LOSS else [])
    rows = []
    for values, members in groups.items():
        row = dict(zip(keys, values, strict=True))
        row["n"] = len(members)
        for m in shown:
            finals, bests = zip(*(final_and_best(s["records"], m) for s in members), strict=True)
            if None in finals:
                missing = [s["name"] for s, f in zip(members, finals, strict=True) if f is None]
                raise ValueError(f"{m} is not in the metrics.jsonl of {missing}: --metric must be a logged metric.")
            row[f"final {m}"], row[f"final {m} std"] = mean_std(finals)
            row[f"best {m}"], row[f"best {m} std"] = mean_std(bests)
        for fact in ("parameters", "tokens_seen", "wall_seconds", "steps_per_second"):
            known = [s[fact] for s in members if s.get(fact) is not None]
            row[fact] = float(np.mean(known)) if known else None
        rows.append(row)
    _write_csv(os.path.join(workdir, "results.csv"), rows)
    failed = [s for s in statuses if s["status"] == "failed"]
    with open(os.path.join(workdir, "results.md"), "w") as f:
        f.write(markdown(rows, keys, shown, failed))
    plot(os.path.join(workdir, "curves.png"), keys, groups, shown)
    written = "results.md, results.csv, curves.png"
    if any(BY_POSITION in r for s in done for r in s["records"]):
        plot_by_position(os.path.join(workdir, "loss_by_position.png"), keys, groups)
        written += ", loss_by_position.png"
    console.log(f"collated {len(done)} runs in {len(rows)} rows: {workdir}/{written}")
    return rows


def collate_run(workdir: str, metric: str | None = None) -> dict:
    """One run's curves (train/loss, eval/loss and `metric` against step) in WORKDIR/curves.png, and its final
    and best values printed and returned."""
    records = metrics.read(workdir)
    shown = [LOSS] + ([metric] if metric and metric != LOSS else [])
    row = {}
    for m in ["train/loss", *shown]:
        final, best = final_and_best(records, m)
        if final is None:
            raise ValueError(f"{m} is not in {workdir}/{metrics.METRICS_FILE}: --metric must be a logged metric.")
        row[f"final {m}"], row[f"best {m}"] = final, best
    plot(os.path.join(workdir, "curves.png"), ["run"], {(os.path.basename(workdir),): [{"records": records}]}, shown)
    lines = [f"{m}: final {row[f'final {m}']:.4f}, best {row[f'best {m}']:.4f}" for m in ["train/loss", *shown]]
    console.log("\n".join(lines) + f"\ncurves: {workdir}/curves.png")
    return row


def markdown(rows: list[dict], keys: list[str], shown: list[str], failed: list[dict]) -> str:
    head = [*keys, "n"] + [f"{w} {m}" for m in shown for w in ("final", "best")]
    head += ["parameters", "tokens", "wall time", "steps/s"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [str(r[k]) for k in keys] + [str(r["n"])]
        cells += [f"{r[f'{w} {m}']:.4f} ± {r[f'{w} {m} std']:.4f}" for m in shown for w in ("final", "best")]
        cells += [
            f"{r['parameters']:,.0f}" if r["parameters"] else "-",
            f"{r['tokens_seen']:,.0f}" if r["tokens_seen"] else "-",
            f"{r['wall_seconds']:.0f} s" if r["wall_seconds"] else "-",
            f"{r['steps_per_second']:.1f}" if r["steps_per_second"] else "-",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    text = "\n".join(lines) + "\n\nmean ± sample standard deviation over the n seeds of each row.\n"
    if failed:
        text += "\nFailed variants:\n" + "".join(f"- {s['name']}: {s['error']}\n" for s in failed)
    return text


def plot(path: str, keys: list[str], groups: dict[tuple, list[dict]], shown: list[str]) -> None:
    panels = ["train/loss", *shown]
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4), squeeze=False)
    for ax, m in zip(axes[0], panels, strict=True):
        for values, members in groups.items():
            series = [{r["step"]: r[m] for r in s["records"] if m in r} for s in members]
            steps = sorted(set.intersection(*(set(x) for x in series)))
            if not steps:
                continue
            _mean_and_range(ax, steps, np.array([[x[t] for t in steps] for x in series]), _label(keys, values))
        ax.set_xlabel("step")
        ax.set_title(m)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_by_position(path: str, keys: list[str], groups: dict[tuple, list[dict]]) -> None:
    """The last eval's loss at each position of the context (evals=by_position), a line per variant."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for values, members in groups.items():
        curves = [[r[BY_POSITION] for r in s["records"] if BY_POSITION in r] for s in members]
        if not all(curves):
            continue
        ys = np.array([c[-1] for c in curves])  # [seeds, positions]
        _mean_and_range(ax, np.arange(ys.shape[1]), ys, _label(keys, values))
    ax.set_xlabel("position in the context")
    ax.set_ylabel("eval loss (nats)")
    ax.set_title("loss by position, last eval")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _label(keys: list[str], values: tuple) -> str:
    return ", ".join(f"{k}={v}" for k, v in zip(keys, values, strict=True)) or "all"


def _mean_and_range(ax, xs, ys: np.ndarray, label: str) -> None:
    """One row's curve: the mean over its seeds (ys [seeds, points]), their range as a band."""
    line = ax.plot(xs, ys.mean(0), label=f"{label} (n={len(ys)})")[0]
    if len(ys) > 1:
        ax.fill_between(xs, ys.min(0), ys.max(0), color=line.get_color(), alpha=0.2)


def compare(a: str, b: str, metric_names: tuple[str, ...] = ()) -> str:
    """Two runs side by side: the config fields that differ and their final metrics (b - a)."""
    configs = []
    for workdir in (a, b):
        saved = workdir_files.read_config(workdir)
        if saved is None:
            raise ValueError(f"{workdir} has no config.json: --mode=compare takes two trained workdirs.")
        configs.append(_flatten(saved))
    lines = [f"config: {a} -> {b}"]
    keys = sorted(set(configs[0]) | set(configs[1]))
    x, y = configs
    lines += [f"  {k}: {x.get(k)!r} -> {y.get(k)!r}" for k in keys if x.get(k) != y.get(k)]
    if len(lines) == 1:
        lines.append("  (the same config)")
    records = [metrics.read(a), metrics.read(b)]
    names = sorted({k for r in records[0] + records[1] for k in r if k.startswith("eval/")} | set(metric_names))
    lines.append("final metrics: a | b | b - a")
    for m in names:
        x, y = (final_and_best(r, m)[0] for r in records)
        if isinstance(x, float) and isinstance(y, float):  # curves (lists) are plotted by collate, not compared
            lines.append(f"  {m}: {x:.4f} | {y:.4f} | {y - x:+.4f}")
    return "\n".join(lines)


def _completed(saved: dict) -> dict:
    """A config.json with the model fields added since it was written, at their defaults."""
    return {**saved, "model": complete(saved["model"])} if "model" in saved else saved


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _write_csv(path: str, rows: list[dict]) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
