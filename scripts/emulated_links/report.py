"""Turns the figures of scripts/emulate_links.sh into a table, and optionally into docs/performance.md.

    report.py RESULTS_TSV --load START END [--docs docs/performance.md]

RESULTS_TSV has one line per run: profile label, model, compression, samples/s (or `failed`). Prints a
Markdown table with one column per profile; when the run had the `unshaped` baseline profile, each shaped
figure also shows its ratio to the baseline of the same model and compression. With --docs the section
"Emulated internet links" of that file is replaced (or appended) with the table and how it was measured.
"""

import argparse
import datetime
import re
from pathlib import Path

BASELINE = "unshaped"
SECTION_TITLE = "## Emulated internet links"
SECTION_TEXT = """{title}

```sh
flock /tmp/ravnest-build.lock scripts/emulate_links.sh     # about 5 minutes; --tiny: one short CNN run
```

Three providers, each in its own network namespace with an address of its own (10.77.0.2, 10.77.1.2,
10.77.2.2), reach each other only through a router namespace. Each provider's link is limited to the
profile's rate in both directions by a `tc tbf` token bucket (64 KiB bucket, 100 ms queue, MTU 9000). This
kernel has no netem qdisc (`CONFIG_NET_SCH_NETEM` is off and there are no modules), so the latency is added in
user space: the router sends every packet through a TUN device to `scripts/emulated_links/delay_router.py`,
which holds it for the profile's delay. The delay is one way, per packet (a round trip takes twice as long),
and the delay router's CPU time counts against the providers. The baseline is the same namespaces unshaped.

The CNN is `examples/cnn` (one epoch of 23 batches of 64, the example's own figure, which includes filling and
draining the pipeline); ResNet-18 is the 32x32 model and provider of
`tests/benchmarks/resnet18_pipeline_benchmark.py` (batch 32, SGD, 1F1B, a warm-up epoch then {batches} timed
batches). One torch thread per provider. `fp16` is `Node(compression=True)`: activations and gradients travel as
half precision. int8-blockwise is not measured: it is only a codec of the all-reduce between clusters
(`ring_compression`), and one cluster of three providers never runs that all-reduce.

Measured {date} on the 2-core development VM (load average {load_start} at the start, {load_end} at the end),
samples/s (ratio to the unshaped baseline):

{table}
"""


def read_results(path):
    rows = [line.split("\t") for line in Path(path).read_text().splitlines() if line.strip()]
    return {(profile, model, compression): value for profile, model, compression, value in rows}


def cell(results, profile, model, compression):
    value = results.get((profile, model, compression))
    if value is None:
        return "–"
    if value == "failed":
        return "failed"
    baseline = results.get((BASELINE, model, compression), "failed")
    if profile == BASELINE or baseline == "failed":
        return f"{float(value):.1f}"
    return f"{float(value):.1f} ({float(value) / float(baseline):.2f}×)"


def table(results):
    profiles = list(dict.fromkeys(profile for profile, _, _ in results))
    runs = list(dict.fromkeys((model, compression) for _, model, compression in results))
    lines = ["| model | compression | " + " | ".join(profiles) + " |",
             "|---|---|" + "---|" * len(profiles)]
    for model, compression in runs:
        cells = [cell(results, profile, model, compression) for profile in profiles]
        lines.append(f"| {model} | {compression} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def update_docs(path, section):
    """Replaces the section (up to the next level-2 heading) or appends it."""
    text = Path(path).read_text()
    pattern = re.compile(rf"^{re.escape(SECTION_TITLE)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _: section + "\n", text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    Path(path).write_text(text.rstrip("\n") + "\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results")
    parser.add_argument("--load", nargs=2, metavar=("START", "END"), required=True)
    parser.add_argument("--batches", type=int, required=True, help="ResNet-18's timed batches, for the docs")
    parser.add_argument("--docs")
    args = parser.parse_args()
    results = read_results(args.results)
    rendered = table(results)
    print(rendered)
    print(f"load average: {args.load[0]} at the start, {args.load[1]} at the end")
    if args.docs:
        section = SECTION_TEXT.format(title=SECTION_TITLE, batches=args.batches, date=datetime.date.today(),
                                      load_start=args.load[0], load_end=args.load[1], table=rendered)
        update_docs(args.docs, section)


if __name__ == "__main__":
    main()
