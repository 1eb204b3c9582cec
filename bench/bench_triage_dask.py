"""Benchmark of triage on Dask: M new submissions triaged against a history of N in the
database, once by the single-process `tasks.triage.triage_now()` and once by the triage-dask
flow (flows/triage_dask.py) on a LocalCluster of W single-threaded worker processes with W
slices per chunk — and a check that both leave exactly the same cases, links, similarities,
categories and audit trail.

The database (history and unlinked night) is bench/bench_triage.py's, built by its own
functions (imported, not copied); each timed run starts from a fresh copy in a new process.
The Dask run includes what an operator waits for: starting the LocalCluster's worker
processes, Prefect's bookkeeping of each task run and the flow's end; a trivial flow runs
first in that process so that Prefect's local server is already up (PREFECT_HOME is a folder
of the benchmark, never the user's). Where the time goes comes from Prefect's own task-run
records: the CPU-heavy half (shingles, signatures, classification: `triage-prepare`, in
parallel) and the serial half (linking against the index and writing: `triage-link`).

    .venv/bin/python bench/bench_triage_dask.py                        # 200,000 + 20,000, SQLite
    .venv/bin/python bench/bench_triage_dask.py --backend postgresql   # or both
    .venv/bin/python bench/bench_triage_dask.py --history 50000 --new 5000 --repeats 1

Writes bench/results/triage_dask.json and .md (triage_dask_postgresql.* or triage_dask_both.*
with --backend). Databases go to bench/results/tmp/ (ignored
by git) or `minqing_bench_*` PostgreSQL databases, removed at the end unless --keep.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import bench_triage as bt  # beside this script: its database builder, copies and machine facts

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.benchlib import save_results  # noqa: E402

RESULTS = ROOT / "bench" / "results"
MODES = ("single", "dask", "dask-running")
DASK_LABELS = {
    "dask": "triage-dask, LocalCluster started by the flow (the default)",
    "dask-running": "triage-dask on a running cluster (code preloaded), by address",
}


# --------------------------------------------------------------------------------------------
# One timed run, in a fresh process


def outcome_digest() -> dict[str, Any]:
    """A fingerprint of everything triage decides: every submission's case, link method and
    similarity; every case's category, confidence, status, supporters and review reason; the
    audit events and the index rows."""
    from sqlalchemy import func, select

    from db.engine import Session
    from db.models import AuditEvent, Case, DedupBand, DedupEntry, Submission

    h = hashlib.sha256()
    with Session() as s:
        for row in s.execute(
            select(Submission.id, Submission.case_id, Submission.link_method,
                   Submission.similarity).order_by(Submission.id)
        ):  # fmt: skip
            h.update(repr(tuple(row)).encode())
        for row in s.execute(
            select(Case.id, Case.category, Case.category_confidence, Case.status,
                   Case.supporters, Case.review_reason_code, Case.review_reason_params)
            .order_by(Case.id)
        ):  # fmt: skip
            h.update(repr(tuple(row)).encode())
        for row in s.execute(
            select(AuditEvent.case_id, AuditEvent.action, AuditEvent.detail).order_by(AuditEvent.id)
        ):
            h.update(repr(tuple(row)).encode())
        counts = {
            "entries": s.scalar(select(func.count()).select_from(DedupEntry)),
            "band_rows": s.scalar(select(func.count()).select_from(DedupBand)),
            "unlinked": s.scalar(
                select(func.count()).select_from(Submission).where(Submission.case_id.is_(None))
            ),
        }
    return {"sha256": h.hexdigest(), **counts}


def _phases(flow_run_id: Any, started: float) -> dict[str, Any]:
    """Where the flow's time went, from Prefect's task-run records."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    with get_client(sync_client=True) as client:
        # The engine reports task runs' states in the background: wait until the last
        # task's record has arrived.
        for _ in range(60):
            runs = client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
            )
            if any(r.name.startswith("triage-totals") and r.end_time for r in runs):
                break
            time.sleep(0.5)
    by_name: dict[str, list[Any]] = {}
    for r in runs:
        by_name.setdefault(r.name.rsplit("-", 1)[0], []).append(r)  # "triage-link-a1b"

    def span(name: str) -> dict[str, float]:
        rs = [r for r in by_name.get(name, []) if r.start_time and r.end_time]
        if not rs:
            return {"n": 0, "sum_s": 0.0, "span_s": 0.0}
        return {
            "n": len(rs),
            "sum_s": sum(r.total_run_time.total_seconds() for r in rs),
            "span_s": (max(r.end_time for r in rs) - min(r.start_time for r in rs)).total_seconds(),
            "first_start_s": min(r.start_time for r in rs).timestamp() - started,
        }

    return {name: span(name) for name in ("dask-threads", "triage-plan", "triage-prepare",
                                          "triage-link", "triage-totals")}  # fmt: skip


def _child(mode: str, home: str, url: str, workers: int, partitions: int) -> None:
    bt.use_project(Path(home), url)
    from sqlalchemy import func, select

    import tasks.triage
    from db.engine import Session
    from db.models import Case

    with Session() as s:  # connect and warm the imports outside the timed part
        s.scalar(select(func.count()).select_from(Case).where(Case.id < 0))
    now = bt.NIGHT + dt.timedelta(hours=1)
    out: dict[str, Any] = {"mode": mode, "loadavg_before": os.getloadavg()}
    if mode == "single":
        # Time the CPU-heavy half inside triage_now too, to compare with the Dask slices.
        heavy = {"prepare_s": 0.0, "classify_s": 0.0}
        real_prepare, real_classifier_for = tasks.triage.prepare_batch, tasks.triage.classifier_for

        def timed_prepare(*args: Any, **kwargs: Any) -> Any:
            t = time.perf_counter()
            try:
                return real_prepare(*args, **kwargs)
            finally:
                heavy["prepare_s"] += time.perf_counter() - t

        def timed_classifier_for(ctx: Any) -> Any:
            classify, threshold, warnings = real_classifier_for(ctx)

            def timed_classify(texts: list[str]) -> Any:
                t = time.perf_counter()
                try:
                    return classify(texts)
                finally:
                    heavy["classify_s"] += time.perf_counter() - t

            return timed_classify, threshold, warnings

        tasks.triage.prepare_batch = timed_prepare
        tasks.triage.classifier_for = timed_classifier_for
        c0, t0 = time.process_time(), time.perf_counter()
        totals = tasks.triage.triage_now(now)
        out |= {"wall_s": time.perf_counter() - t0, "cpu_s": time.process_time() - c0, **heavy}
    else:
        import contextlib

        from distributed import LocalCluster
        from prefect import flow
        from prefect_dask import DaskTaskRunner

        from flows.triage_dask import dask_task_runner, triage_dask

        @flow(name="bench-warm-up")
        def warm_up() -> int:
            return 1

        w0 = time.perf_counter()
        warm_up()
        out["prefect_warm_up_s"] = time.perf_counter() - w0
        children0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        with contextlib.ExitStack() as stack:
            if mode == "dask-running":
                # An office's cluster is up before the night, its workers started with
                # `dask worker --preload tasks.triage_dask`: start it outside the timed part
                # and reach it by address, as MINQING_DASK_SCHEDULER does.
                w0 = time.perf_counter()
                cluster = stack.enter_context(
                    LocalCluster(
                        n_workers=workers,
                        threads_per_worker=1,
                        dashboard_address=None,
                        preload=["tasks.triage_dask"],
                    )
                )
                out["cluster_start_s"] = time.perf_counter() - w0
                runner = dask_task_runner(cluster.scheduler_address)
            else:
                runner = DaskTaskRunner(
                    cluster_kwargs={"n_workers": workers, "threads_per_worker": 1}
                )
            c0, t0, started = time.process_time(), time.perf_counter(), time.time()
            state = triage_dask.with_options(task_runner=runner)(
                partitions=partitions, now=now, return_state=True
            )
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        totals = state.result()
        out |= {
            "wall_s": wall,
            "cpu_s": cpu,
            "worker_cpu_s": (children.ru_utime + children.ru_stime)
            - (children0.ru_utime + children0.ru_stime),
            "phases": _phases(state.state_details.flow_run_id, started),
        }
    out |= {"peak_rss_mb": bt.vm_hwm_mb(), "totals": totals, "outcome": outcome_digest()}
    print(json.dumps(out, default=str))


def run_child(
    mode: str, b: Any, url: str, prefect_home: Path, api_url: str | None, args: Any
) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--_child", mode, "--_home", str(b.home), "--_url", url,
           "--workers", str(args.workers), "--partitions", str(args.partitions)]  # fmt: skip
    env = {**bt.project_env(b.home, url), "PREFECT_HOME": str(prefect_home)}
    if api_url:
        env["PREFECT_API_URL"] = api_url
    res = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if res.returncode != 0:
        raise RuntimeError(f"{mode} run failed:\n{res.stdout[-3000:]}\n{res.stderr[-6000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------------------------
# Report


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    def med(key: str, of: list[dict[str, Any]]) -> float:
        return statistics.median(r[key] for r in of)

    out: dict[str, Any] = {}
    for mode in MODES:
        rs = [r for r in runs if r["mode"] == mode]
        out[mode] = {"median_wall_s": med("wall_s", rs), "median_cpu_s": med("cpu_s", rs)}
        if mode == "single":
            out[mode] |= {"median_prepare_s": med("prepare_s", rs),
                          "median_classify_s": med("classify_s", rs)}  # fmt: skip
        else:
            phases = [r["phases"] for r in rs]
            out[mode] |= {
                "median_worker_cpu_s": med("worker_cpu_s", rs),
                "median_prepare_sum_s": statistics.median(p["triage-prepare"]["sum_s"] for p in phases),
                "median_prepare_span_s": statistics.median(p["triage-prepare"]["span_s"] for p in phases),
                "median_link_sum_s": statistics.median(p["triage-link"]["sum_s"] for p in phases),
                "median_until_first_prepare_s": statistics.median(
                    p["triage-prepare"]["first_start_s"] for p in phases
                ),
                # after the last task: closing the cluster, the heartbeat, the flow's end
                "median_tail_s": statistics.median(
                    r["wall_s"] - r["phases"]["triage-totals"]["first_start_s"]
                    - r["phases"]["triage-totals"]["sum_s"] for r in rs
                ),
            }  # fmt: skip
    digests = {json.dumps(r["outcome"], sort_keys=True) for r in runs}
    out["identical"] = len(digests) == 1 and len({json.dumps(r["totals"]) for r in runs}) == 1
    for mode in MODES[1:]:
        out[f"{mode}_over_single"] = out[mode]["median_wall_s"] / out["single"]["median_wall_s"]
    return out


def write_markdown(res: dict[str, Any], path: Path) -> None:
    m = res["machine"]
    lines = [
        "# Triage on Dask: triage-dask flow vs single-process triage_now",
        "",
        f"Machine: {m['nproc']} cores ({m['cpu']}), Python {m['python']}, SQLAlchemy "
        f"{m['sqlalchemy']}, SQLite {m['sqlite']}, dask/distributed {res['dask']}, prefect "
        f"{res['prefect']}, prefect-dask {res['prefect_dask']}, {m['date']}. Load average at "
        f"start {', '.join(f'{x:.1f}' for x in m.get('loadavg_at_start', []))}; shared with "
        "other engineers' benchmarks and tests, so every run's load average is listed.",
        f"Command: `{res['command']}`"
        + (
            f" at commit {res['code']['commit'][:12]}"
            + (
                f" with uncommitted changes to {', '.join(res['code']['changed'])}"
                if res["code"]["changed"]
                else ""
            )
            if res["code"]["commit"]
            else ""
        ),
        "",
        f"History {res['history']:,} submissions in the database, night {res['new']:,} new "
        f"(bench/bench_triage.py's builder); classifier: {res['classifier']}. Dask: a "
        f"LocalCluster of {res['workers']} single-threaded worker processes, {res['partitions']} "
        f"slices per chunk (tasks.triage.CHUNK = {res['chunk']:,}). Prefect API: "
        f"{res['prefect_api']}. The whole invocation took {res['seconds_total'] / 60:.1f} min.",
        "",
    ]
    for name, b in res["backends"].items():
        s = b["summary"]
        lines += [
            f"## {name}",
            "",
            f"Results identical in every run (cases, links, similarities, categories, audit "
            f"events, index rows): **{'yes' if s['identical'] else 'NO'}**. "
            f"Totals: {b['runs'][0]['totals']}.",
            "",
            "| run | mode | load avg before | wall s | CPU s (main process) | CPU s (Dask workers) "
            "| peak RSS MB (main) |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in b["runs"]:
            lines.append(
                f"| {r['repeat']} | {r['mode']} | {r['loadavg_before'][0]:.1f} | {r['wall_s']:.1f} "
                f"| {r['cpu_s']:.1f} | {r.get('worker_cpu_s', 0):.1f} | {r['peak_rss_mb']:.0f} |"
            )
        sg = s["single"]
        lines += [
            "",
            "| median | wall s | / single | where the time goes |",
            "|---|---|---|---|",
            f"| single process (triage_now) | **{sg['median_wall_s']:.1f}** | 1 | prepare_batch "
            f"{sg['median_prepare_s']:.1f} s + classify (new cases only) "
            f"{sg['median_classify_s']:.1f} s; the rest is loading the model, reading, linking "
            "and writing |",
        ]
        for mode, label in DASK_LABELS.items():
            dk = s[mode]
            lines.append(
                f"| {label} | **{dk['median_wall_s']:.1f}** | {s[f'{mode}_over_single']:.2f} | "
                f"first slice starts after {dk['median_until_first_prepare_s']:.1f} s; slices "
                f"{dk['median_prepare_sum_s']:.1f} s of task time in "
                f"{dk['median_prepare_span_s']:.1f} s wall; linking and writing "
                f"{dk['median_link_sum_s']:.1f} s (one task per chunk, serial); "
                f"{dk['median_tail_s']:.1f} s after the last task |"
            )
        lines.append("")
    if res.get("notes"):
        lines += ["## Notes", "", *[f"- {n}" for n in res["notes"]]]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def code_state() -> dict[str, Any]:
    """The commit measured and the project files that differed from it (a shared checkout)."""

    def git(*cmd: str) -> str:
        out = subprocess.run(["git", "-C", str(ROOT), *cmd], capture_output=True, text=True)
        return out.stdout.strip() if out.returncode == 0 else ""

    if Path(git("rev-parse", "--show-toplevel") or "/nonexistent").resolve() != ROOT.resolve():
        return {"commit": None, "changed": None}  # e.g. an exported tree (git archive)
    changed = git("status", "--porcelain", "--", "tasks", "db", "minqing", "flows", "config")
    return {
        "commit": git("rev-parse", "HEAD"),
        "changed": [x.strip() for x in changed.splitlines()],
    }


def notes(res: dict[str, Any]) -> list[str]:
    return [
        "All modes compute the same thing; the Dask path moves shingling, MinHash signatures, "
        "band hashes and classification (`triage-prepare`) to the workers, slice by slice, and "
        "keeps linking against the database index and writing cases, links, audit events and "
        "index rows in one `triage-link` task per chunk, chunk after chunk (a night's "
        "duplicates link to its earliest item, so the order is fixed). Only the first half "
        "can go faster with more workers; the second half is the same serial work as in "
        "triage_now, plus unpickling the slices' arrays.",
        "On the Dask path every submission is classified on a worker (a worker cannot know "
        "which items will open a case); triage_now classifies only the new cases — more CPU in "
        "total, spread over the workers. Each worker process also loads the model once.",
        "`dask`: the flow starts a LocalCluster and closes it at the end — the worker processes "
        "start, import prefect, scikit-learn and the project, and load the model during the "
        "timed run. `dask-running`: the cluster was started before (outside the timed part) "
        "with the project preloaded in its workers (`dask worker --preload tasks.triage_dask`) "
        "and is reached by its address, as with MINQING_DASK_SCHEDULER; the model is still "
        "loaded during the run.",
        "Prefect: a local Prefect server (PREFECT_API_URL) for all runs, as in a deployment. "
        "Without one (ephemeral mode, --ephemeral) every Dask worker process starts its own "
        "temporary Prefect server for its task runs: in a trial at 20,000 + 3,000 it put the "
        "first slice 29 s after the flow's start instead of 11-15 s.",
        f"This box has {res['machine']['nproc']} cores, and the flow process, the workers and "
        "Prefect's server share them with each other and with other engineers' work (see the "
        "load averages): 2 workers on 2 busy cores cannot show a speed-up. What scales with "
        "machines is the prepare half (in the single-process column: prepare_batch + "
        "classify, plus the model load); the link half does not, so on any cluster a night "
        "takes at least the link task's time plus the fixed costs in the table.",
        "Worker CPU is what the worker processes used, their start included (getrusage of the "
        "flow process's finished children); Prefect's server is not counted.",
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--history", type=int, default=200_000, help="history size (200,000)")
    ap.add_argument("--new", type=int, default=20_000, help="new submissions (20,000)")
    ap.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="sqlite")
    ap.add_argument("--repeats", type=int, default=3, help="runs of each mode (median; 3)")
    ap.add_argument("--workers", type=int, default=2, help="LocalCluster workers (2)")
    ap.add_argument("--partitions", type=int, default=2, help="slices per chunk (2)")
    ap.add_argument("--classifier", choices=["model", "rules"], default="model",
                    help="a model trained on the labelled messages (default), or keyword rules")  # fmt: skip
    ap.add_argument("--ephemeral", action="store_true",
                    help="no Prefect server: each process (each Dask worker too) starts its own")  # fmt: skip
    ap.add_argument("--note", action="append", default=[], help="a line for the notes")
    ap.add_argument("--keep", type=Path, default=None, help="reuse/keep the databases here")
    ap.add_argument("--_child", choices=MODES, help=argparse.SUPPRESS)
    ap.add_argument("--_home", help=argparse.SUPPRESS)
    ap.add_argument("--_url", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args._child:
        _child(args._child, args._home, args._url, args.workers, args.partitions)
        return

    (RESULTS / "tmp").mkdir(parents=True, exist_ok=True)
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="triage-dask-", dir=RESULTS / "tmp"))
    workdir.mkdir(parents=True, exist_ok=True)
    prefect_home = workdir / "prefect"
    # Before prefect is imported: its settings are read once, at import.
    os.environ["PREFECT_HOME"] = str(prefect_home)
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

    import distributed
    import prefect
    import prefect_dask
    from prefect.server.api.server import SubprocessASGIServer

    import tasks.triage
    from minqing.neardup import load_dedup_params

    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    res: dict[str, Any] = {
        "machine": bt.machine(),
        "command": shlex.join([".venv/bin/python", "bench/bench_triage_dask.py", *sys.argv[1:]]),
        "history": args.history,
        "new": args.new,
        "workers": args.workers,
        "partitions": args.partitions,
        "chunk": tasks.triage.CHUNK,
        "prefect_api": "ephemeral" if args.ephemeral else "server",
        "dask": distributed.__version__,
        "prefect": prefect.__version__,
        "prefect_dask": prefect_dask.__version__,
        "backends": {},
    }
    params = load_dedup_params(ROOT / "config" / "triage.yaml")
    corpus = bt.nd.Corpus(bt.nd.load_messages())
    plan = bt.nd.plan_history(args.history, seed=5)
    api_url = None
    if not args.ephemeral:
        # As deployed: flow runs and Dask workers report to one Prefect server.
        server = SubprocessASGIServer()
        server.start()
        api_url = server.api_url
    model = bt.train_bench_model(workdir) if args.classifier == "model" else None
    done: list[Any] = []
    t_start = time.perf_counter()
    try:
        for name in backends:
            b = bt.Backend(name, workdir)
            done.append(b)
            info = bt.built(b, bool(args.keep), corpus, plan, params, args.new)
            bt.install_model(model, b.home)
            res["classifier"] = bt.classifier_note(b.home)
            runs = []
            for r in range(args.repeats):
                # Rotate the order, so that no mode always runs first or after the same one.
                for mode in MODES[r % len(MODES) :] + MODES[: r % len(MODES)]:
                    url = b.fresh_copy()
                    print(f"{name}: {mode} {r + 1}/{args.repeats} ...", flush=True)
                    out = {"repeat": r + 1, **run_child(mode, b, url, prefect_home, api_url, args)}
                    print(f"    {out['wall_s']:.1f} s wall, {out['cpu_s']:.1f} s CPU, "
                          f"load {out['loadavg_before'][0]:.1f}, {out['outcome']['sha256'][:12]}",
                          flush=True)  # fmt: skip
                    runs.append(out)
            info["runs"] = runs
            info["summary"] = summarise(runs)
            res["backends"][name] = info
            if not info["summary"]["identical"]:
                print(f"{name}: RESULTS DIFFER between runs", flush=True)
    finally:
        if api_url:
            server.stop()
        if not args.keep:
            for b in done:
                b.drop()
            shutil.rmtree(workdir, ignore_errors=True)
    res["seconds_total"] = time.perf_counter() - t_start
    res["code"] = code_state()
    res["notes"] = notes(res) + args.note
    out = "triage_dask" if args.backend == "sqlite" else f"triage_dask_{args.backend}"
    save_results(res, out, write_markdown)
    if not all(b["summary"]["identical"] for b in res["backends"].values()):
        sys.exit(1)


if __name__ == "__main__":
    main()
