"""Markdown table from a pytest-benchmark JSON file: per group, each entry's median and its ratio
to the facev3 entry of the same group (measured in the same run).

    python -m bench.report bench/results/native.json   (scripts/bench.sh writes docs/benchmarks/NAME.md)
"""

import json
import sys
from pathlib import Path


def table(results: dict) -> str:
    groups: dict[str, list[dict]] = {}
    for bench in results["benchmarks"]:
        groups.setdefault(bench["group"], []).append(bench)
    lines = ["| group | implementation | median | baseline / facev3 |", "|---|---|---|---|"]
    for group, entries in sorted(groups.items()):
        ours = next(e for e in entries if "facev3" in e["name"])
        for entry in sorted(entries, key=lambda e: e["stats"]["median"]):
            median = entry["stats"]["median"]
            name = entry["name"].removeprefix("test_")
            ratio = "1.00 (facev3)" if entry is ours else f"{median / ours['stats']['median']:.2f}"
            lines.append(f"| {group} | {name} | {median * 1e6:,.1f} µs | {ratio} |")
    return "\n".join(lines)


def machine(results: dict) -> str:
    info = results["machine_info"]
    cpu = info.get("cpu", {})
    name, cores = cpu.get("brand_raw", info.get("processor", "?")), cpu.get("count", "?")
    return f"{name}, {cores} cores, Python {info['python_version']}, {results['datetime'][:10]}"


if __name__ == "__main__":
    data = json.loads(Path(sys.argv[1]).read_text())
    print(f"Machine: {machine(data)}\n")
    print(table(data))
