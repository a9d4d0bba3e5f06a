"""Plots training from the metrics files: loss and validation accuracy against step for each cluster, and
each node's throughput.

    python -m ravnest.plot [node_data] [--output training.png]

`node_data` is the folder clusterize wrote (its metrics/ subfolder is read) or a folder of <node>.jsonl
files; default node_data. The PNG goes to <metrics folder>/training.png unless --output says otherwise.
"""

import argparse
import sys
from collections import defaultdict
from pathlib import Path

from ravnest.metrics import METRICS_FOLDER, read_metrics

OUTPUT_NAME = "training.png"
# Loss curves longer than this also get a moving average, which shows the trend through the noise.
_SMOOTH_ABOVE = 50


def metrics_folder(path):
    """The folder of .jsonl files: `path` itself or its metrics/ subfolder. Raises SystemExit naming both."""
    path = Path(path)
    for folder in (path / METRICS_FOLDER, path):
        if folder.is_dir() and any(folder.glob("*.jsonl")):
            return folder
    raise SystemExit(f"ravnest.plot: no metrics in {path / METRICS_FOLDER} or {path}: train first (every node "
                     f"writes <node>.jsonl there), or pass the folder set with metrics_dir / RAVNEST_METRICS_DIR")


def load_runs(folder):
    """{node name: records} of every <node>.jsonl in `folder`."""
    return {path.stem: read_metrics(path) for path in sorted(Path(folder).glob("*.jsonl"))}


def series(runs):
    """What the plot draws: per cluster, (label, steps, values) of loss and of validation accuracy; per node,
    (label, steps, samples/s)."""
    losses, accuracies, throughputs = defaultdict(list), defaultdict(list), []
    for node, records in runs.items():
        for record in records:
            if record.get("event") == "train" and record.get("loss") is not None:
                losses[(record.get("cluster", 0), node)].append((record["step"], record["loss"]))
            elif record.get("event") == "validation":
                accuracies[(record.get("cluster", 0), node)].append((record["step"], record["val_accuracy"]))
        ticks = [(r.get("backward_passes", 0), r["samples_per_s"]) for r in records if r.get("event") == "progress"]
        if ticks:
            throughputs.append((node, *zip(*ticks)))

    def by_cluster(points):
        return [(f"cluster {cluster} ({node})", *zip(*values)) for (cluster, node), values in sorted(points.items())]

    return by_cluster(losses), by_cluster(accuracies), throughputs


def moving_average(values, window):
    averaged, total = [], 0.0
    for i, value in enumerate(values):
        total += value
        if i >= window:
            total -= values[i - window]
        averaged.append(total / min(i + 1, window))
    return averaged


def plot(runs, output):
    """Writes the PNG and returns its path. Raises SystemExit when no node recorded a loss or throughput."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    losses, accuracies, throughputs = series(runs)
    if not losses and not throughputs:
        raise SystemExit("ravnest.plot: the metrics hold no training steps yet: nothing to plot")
    figure, (loss_axes, accuracy_axes, speed_axes) = plt.subplots(3, 1, figsize=(9, 11), constrained_layout=True)
    for label, steps, values in losses:
        line, = loss_axes.plot(steps, values, linewidth=0.8, alpha=0.4 if len(values) > _SMOOTH_ABOVE else 1.0)
        if len(values) > _SMOOTH_ABOVE:
            window = max(len(values) // 25, 2)
            loss_axes.plot(steps, moving_average(values, window), color=line.get_color(),
                           label=f"{label}, mean of {window}")
        else:
            line.set_label(label)
    _finish(loss_axes, "training loss", "loss", bool(losses))
    for label, steps, values in accuracies:
        accuracy_axes.plot(steps, values, marker="o", label=label)
    _finish(accuracy_axes, "validation accuracy", "accuracy", bool(accuracies))
    for label, steps, values in throughputs:
        speed_axes.plot(steps, values, label=label)
    _finish(speed_axes, "throughput of each node", "samples/s", bool(throughputs))
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(output, dpi=100)
    plt.close(figure)
    return output


def _finish(axes, title, ylabel, has_data):
    axes.set_title(title)
    axes.set_xlabel("step (backward passes)")
    axes.set_ylabel(ylabel)
    axes.grid(True, alpha=0.3)
    if has_data:
        axes.legend(fontsize="small")
    else:
        axes.text(0.5, 0.5, "not recorded", ha="center", va="center", transform=axes.transAxes, color="grey")


def plot_folder(path, output=None):
    """Plots the metrics found from `path` (see metrics_folder) and returns the PNG's path."""
    folder = metrics_folder(path)
    return plot(load_runs(folder), output or folder / OUTPUT_NAME)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m ravnest.plot", description=__doc__.split("\n\n")[0])
    parser.add_argument("node_data", nargs="?", default="node_data",
                        help="the node_data folder, or a folder of <node>.jsonl metrics files")
    parser.add_argument("--output", "-o", help=f"the PNG to write (default <metrics folder>/{OUTPUT_NAME})")
    args = parser.parse_args(argv)
    print(f"wrote {plot_folder(args.node_data, args.output)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
