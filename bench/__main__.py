"""``python -m bench [--quick] [--runs N]``: run the suite, write bench/results/latest.*"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import shutil
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from bench import cli, figures, fleet, peers, pool, sessions
from bench.stats import Figure
from dockyard.service import Dockyard

RESULTS = Path(__file__).parent / "results"


def main() -> int:
    parser = argparse.ArgumentParser(prog="bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small N, fewer samples (smoke)")
    parser.add_argument("--runs", type=int, default=None, help="runs per figure (default 5)")
    args = parser.parse_args()
    runs = args.runs or (2 if args.quick else 5)
    small, large = (20, 50) if args.quick else (100, 1000)
    records = 500 if args.quick else 100_000
    precision_n = 20 if args.quick else 500

    data = Path(tempfile.mkdtemp(prefix="dockyard-bench-"))
    log_to(RESULTS / "latest.log")
    dy = open_dockyard(data)
    fleet.clean_up_on_exit(dy.ctx.installation)
    bench = figures.Bench(dy=dy, data=data, runs=runs, quick=args.quick)
    results: list[Figure] = []
    began = time.monotonic()

    def measure(label: str, produce: Callable[[], Figure | list[Figure]]) -> None:
        print(f"[bench] {label}", flush=True)
        made = produce()
        for figure in made if isinstance(made, list) else [made]:
            results.append(figure)
            print(f"        {figure.name}: {figure.median:.3f} {figure.unit}", flush=True)

    try:
        suite(bench, measure, small=small, large=large, records=records, precision=precision_n)
    finally:
        fleet.sweep(dy.ctx.installation)
        dy.close()
        shutil.rmtree(data, ignore_errors=True)
    write(results, runs=runs, quick=args.quick, seconds=time.monotonic() - began)
    return 0


def suite(
    bench: figures.Bench,
    measure: Callable[[str, Callable[[], Figure | list[Figure]]], None],
    *,
    small: int,
    large: int,
    records: int,
    precision: int,
) -> None:
    """Every figure, in an order where each leaves the engine as the next expects."""
    dy = bench.dy
    measure("warm acquire", lambda: figures.warm_acquire(bench))
    measure("cold acquire", lambda: figures.cold_acquire(bench))
    measure("acquire from the pool", lambda: pool.pooled_acquire(bench, network=None))
    measure(
        "acquire from the pool, shared network",
        lambda: pool.pooled_acquire(bench, network="bridge"),
    )
    measure("exec", lambda: figures.exec_trivial(bench))
    measure("peers", lambda: peers.peer_figures(bench))
    measure("CLI processes", lambda: cli.cli_figures(bench))
    measure("park", lambda: figures.park_git(bench))
    with figures.served(bench) as server:
        measure("warm acquire over HTTP", lambda: figures.warm_acquire_http(bench, server.url))
        measure("touches", lambda: figures.touches(bench, server.url))
    measure("command in a live session", lambda: sessions.command_in_session(bench))
    with figures.served(bench, config_lines=sessions.SERVE_CONFIG) as server:
        measure("commands over HTTP", lambda: sessions.commands_over_http(bench, server))
        measure("100 live sessions", lambda: sessions.many_sessions(bench, server))
    print(f"[bench] bringing up {small} containers", flush=True)
    fleet_ws = fleet.bring_up(dy, small, prefix="bench-fleet")
    measure(f"no-op reconcile N={small}", lambda: figures.noop_reconcile(bench, small))
    names = [ws.name for ws in fleet_ws]
    measure(f"status N={small}", lambda: figures.status_usage(bench, small, names))
    print(f"[bench] bringing up {large - small} more containers", flush=True)
    fleet_ws += fleet.bring_up(dy, large - small, prefix="bench-fleet", start_index=small)
    names = [ws.name for ws in fleet_ws]
    measure(f"no-op reconcile N={large}", lambda: figures.noop_reconcile(bench, large))
    measure(f"status N={large}", lambda: figures.status_usage(bench, large, names))
    measure(f"shared pass N={large}", lambda: figures.shared_pass(bench, large))
    print(f"[bench] adding {records - large:,} parked records", flush=True)
    fleet.add_records(dy, records - large, prefix="bench-history")
    measure(
        f"no-op reconcile N={large} with history",
        lambda: figures.noop_reconcile(bench, large, history=records - large),
    )
    measure("manager memory", lambda: figures.manager_memory(bench))
    print("[bench] removing the fleet", flush=True)
    fleet.sweep(dy.ctx.installation)
    # and its records: the next figure measures deadlines, not a thousand vanished
    # containers being marked failed
    fleet.delete_records(dy, fleet.keys(fleet_ws))
    measure("deadline precision", lambda: figures.deadline_precision(bench, precision))
    networked = 20 if bench.quick else 200
    measure("networked parks", lambda: figures.networked_park_sweep(bench, networked))


def open_dockyard(data: Path) -> Dockyard:
    """The manager under test: its own data directory, small fast containers."""
    return fleet.open_manager(data)


def log_to(path: Path) -> None:
    """What the manager did during the run, for a figure that needs explaining."""
    logging.basicConfig(
        filename=path,
        filemode="w",
        level=logging.INFO,
        format="%(asctime)s %(threadName)s %(name)s %(levelname)s %(message)s",
    )


def write(results: list[Figure], *, runs: int, quick: bool, seconds: float) -> None:
    RESULTS.mkdir(exist_ok=True)
    meta = {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "mode": "quick" if quick else "full",
        "runs": runs,
        "duration_s": round(seconds, 1),
        "machine": f"{platform.node()} {platform.machine()} python {platform.python_version()}",
    }
    figures_json = [f.to_json() for f in results]
    (RESULTS / "latest.json").write_text(
        json.dumps({**meta, "figures": figures_json}, indent=2) + "\n"
    )
    lines = [
        f"# dockyard benchmarks ({meta['mode']}, {meta['at']})",
        "",
        f"{runs} runs per figure; median and spread (min..max) over the runs.",
        "",
        "| figure | median | spread | target | met |",
        "|---|---|---|---|---|",
    ]
    for figure in results:
        low, high = figure.spread
        target = ("≥ " if figure.higher_is_better else "≤ ") + f"{figure.target:g} {figure.unit}"
        lines.append(
            f"| {figure.name} | {figure.median:.3f} {figure.unit} | {low:.3f}..{high:.3f} "
            f"| {target} | {'yes' if figure.met else '**no**'} |"
        )
    lines += ["", *[f"- {f.name}: {f.note}" for f in results if f.note]]
    (RESULTS / "latest.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    raise SystemExit(main())
