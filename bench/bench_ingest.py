"""Benchmark of intake (tasks.ingest.ingest_file) on one large 12345 hotline export.

The export is built from the real TIPDM 2020-C messages (留言主题, 留言详情, 留言时间 of
messages_with_likes.csv + messages_with_replies.csv, cycled), with a unique ticket number and
phone number per row, a caller's name and an area from config/areas.yaml (names, aliases and a
few unknown places), written as ONE GB18030 CSV in a temporary folder outside the repository.

Each run ingests it into a fresh database (a new SQLite file, or a new PostgreSQL database that
is dropped afterwards) in a fresh interpreter, which reports the ingest's wall time and its peak
RSS (`ru_maxrss`); the parent also reads `RUSAGE_CHILDREN`. Migrating the schema and importing
the modules happen before the clock starts. After the timed ingest the child reads the same rows
again under another name (an overlapping export: every row already known) and checks the
database holds exactly one Submission and one Person per row.

    .venv/bin/python bench/bench_ingest.py                          # 100,000 rows, 3 runs, both
    .venv/bin/python bench/bench_ingest.py --rows 20000 --runs 1 --backend sqlite
    .venv/bin/python bench/bench_ingest.py --profile --rows 20000   # cProfile one SQLite run

Writes bench/results/ingest.json and bench/results/ingest.md, and appends one line per backend
to bench/results/ingest_history.jsonl (not with --profile).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.benchlib import cpu_model  # noqa: E402

DATA = ROOT / ".." / "shared" / "data" / "tipdm2020c"
RESULTS = ROOT / "bench" / "results"
SOURCES = ("messages_with_likes.csv", "messages_with_replies.csv")
HEADER = ["工单编号", "来电人", "联系电话", "标题", "受理时间", "诉求内容", "所属区域"]
PG_ADMIN_URL = os.environ.get(
    "MINQING_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
TARGET_SECONDS = 20.0  # 100,000 rows on SQLite
TARGET_ROWS_PER_S = 5_000
TARGET_PEAK_MB = 500

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华建国建华志强海燕红梅玉兰"

# --------------------------------------------------------------------------------------------
# The export


def real_messages() -> list[tuple[str, str, str]]:
    """(主题, 详情, 时间) of every real message, in file order."""
    messages = []
    for name in SOURCES:
        with (DATA / name).open(encoding="utf-8-sig", newline="") as fh:
            for row in csv.DictReader(fh):
                detail = (row["留言详情"] or "").strip()
                if detail:
                    messages.append(
                        ((row["留言主题"] or "").strip(), detail, row["留言时间"].strip())
                    )
    return messages


def area_names() -> list[str]:
    import yaml

    config = yaml.safe_load((ROOT / "config" / "areas.yaml").read_text(encoding="utf-8"))
    names = []
    for area in config["areas"]:
        names.append(area["name"])
        names.extend(area.get("aliases", []))
    return names + ["", "未知社区"]  # a row without an area, and a place not in config


def build_export(path: Path, rows: int) -> dict[str, Any]:
    """Write `rows` hotline rows as one GB18030 CSV; returns what went into it."""
    messages = real_messages()
    areas = area_names()
    started = time.perf_counter()
    with path.open("w", encoding="gb18030", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(HEADER)
        for i in range(rows):
            title, detail, received = messages[i % len(messages)]
            name = SURNAMES[i % len(SURNAMES)] + GIVEN[(i * 7) % len(GIVEN)]
            writer.writerow(
                [
                    f"GD{2019_0000_0000 + i}",
                    name if i % 10 else "",  # some callers give no name
                    f"1{3 + i % 7}{i:09d}",  # unique mobile numbers
                    title,
                    received,
                    detail,
                    areas[i % len(areas)],
                ]
            )
    return {
        "rows": rows,
        "distinct_messages": len(messages),
        "bytes": path.stat().st_size,
        "build_seconds": round(time.perf_counter() - started, 2),
    }


# --------------------------------------------------------------------------------------------
# One run, in a fresh interpreter


def child(export: Path, url: str, home: Path, profile: Path | None) -> dict[str, Any]:
    os.environ.update(
        {
            "MINQING_HOME": str(home),
            "MINQING_DATABASE_URL": url,
            "MINQING_CONFIG_DIR": str(ROOT / "config"),
            "MINQING_MAIL_MODE": "sink",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        }
    )
    sys.path.insert(0, str(ROOT))
    from sqlalchemy import func, select

    from db.engine import Session
    from db.migrate import upgrade
    from db.models import Person, Submission
    from tasks.context import context
    from tasks.ingest import ingest_file
    from tasks.reference import sync_reference_now

    upgrade()
    sync_reference_now()
    ref = context().ref
    inbox = home / "var" / "inbox" / "hotline"
    inbox.mkdir(parents=True, exist_ok=True)
    target = inbox / "12345_20261127.csv"
    shutil.copyfile(export, target)
    import psutil

    rss_before = psutil.Process().memory_info().rss / 1024  # now, not the peak so far
    load_before = os.getloadavg()[0]

    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    started, cpu_started = time.perf_counter(), time.process_time()
    report = ingest_file("hotline", target, ref)
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    if profiler:
        profiler.disable()
        profiler.dump_stats(profile)
    rss_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    load_after = os.getloadavg()[0]

    # The same rows again in an overlapping export (another checksum): nothing is added.
    again = inbox / "12345_20261128.csv"
    shutil.copyfile(export, again)
    with again.open("a", encoding="gb18030") as fh:
        fh.write("\n")
    started = time.perf_counter()
    reread = ingest_file("hotline", again, ref)
    reread_seconds = time.perf_counter() - started
    with Session() as s:
        submissions = s.scalar(select(func.count()).select_from(Submission))
        persons = s.scalar(select(func.count()).select_from(Person))
    return {
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "taken": report.taken,
        "known": report.known,
        "rejected": report.rejected,
        "status": report.status,
        "rss_before_mb": rss_before / 1024,
        "rss_peak_mb": max(rss_peak, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) / 1024,
        "load_before": load_before,
        "load_after": load_after,
        "reread_seconds": reread_seconds,
        "reread_taken": reread.taken,
        "reread_known": reread.known,
        "submissions": submissions,
        "persons": persons,
    }


def run_once(export: Path, backend: str, rows: int, profile: Path | None = None) -> dict[str, Any]:
    home = Path(tempfile.mkdtemp(prefix="minqing-bench-"))
    pg_name = None
    try:
        if backend == "sqlite":
            url = f"sqlite:///{home / 'var' / 'minqing.db'}"
            (home / "var").mkdir(parents=True)
        else:
            pg_name = f"minqing_bench_{uuid.uuid4().hex[:8]}"
            _pg_admin(f'CREATE DATABASE "{pg_name}"')
            url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{pg_name}"
        args = [sys.executable, __file__, "--child", str(export), url, str(home)]
        if profile:
            args += ["--profile-out", str(profile)]
        started, busy_before, ours_before = time.perf_counter(), busy_cpu_seconds(), children_cpu()
        out, err = home / "stdout.txt", home / "stderr.txt"
        with out.open("w") as stdout, err.open("w") as stderr:
            proc = subprocess.Popen(args, cwd=ROOT, stdout=stdout, stderr=stderr)
            memory = sample_memory(proc)
        wall = time.perf_counter() - started
        ours = children_cpu() - ours_before
        others = max(0.0, busy_cpu_seconds() - busy_before - ours)
        if proc.returncode != 0:
            raise SystemExit(f"{backend} run failed:\n{out.read_text()}\n{err.read_text()}")
        result = json.loads(out.read_text().strip().splitlines()[-1])
        result.update(memory)
        result["process_seconds"] = wall
        result["process_cpu_seconds"] = ours  # the run's processes: importer and reader
        result["other_cores"] = others / wall  # what everything else kept busy meanwhile
        result["rows_per_s"] = rows / result["seconds"]
        expected = {"taken": rows, "submissions": rows, "persons": rows, "reread_taken": 0}
        wrong = {k: result[k] for k, v in expected.items() if result[k] != v}
        if wrong:
            raise SystemExit(f"{backend}: wrong counts {wrong} (expected {expected})")
        return result
    finally:
        if pg_name:
            _pg_admin(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')
        shutil.rmtree(home, ignore_errors=True)


def busy_cpu_seconds() -> float:
    """CPU seconds all cores spent busy since boot (/proc/stat: all but idle and iowait)."""
    with open("/proc/stat", encoding="ascii") as fh:
        ticks = [int(x) for x in fh.readline().split()[1:9]]
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def sample_memory(proc: subprocess.Popen[bytes], every: float = 0.05) -> dict[str, float]:
    """Wait for `proc`, sampling the RSS of it and of its children (the background reader):
    the peak of their sum at any one moment, and each one's peak."""
    import psutil

    top = psutil.Process(proc.pid)
    peak_sum = peak_main = peak_children = 0
    while proc.poll() is None:
        try:
            main = top.memory_info().rss
            # Only a reader that has started: between fork and exec a child shares (and is
            # counted with) its parent's memory.
            children = sum(
                c.memory_info().rss
                for c in top.children(recursive=True)
                if "serve_reader" in " ".join(c.cmdline())
            )
        except psutil.Error:  # a process ended between the calls
            children = 0
            continue
        finally:
            time.sleep(every)
        peak_main, peak_children = max(peak_main, main), max(peak_children, children)
        peak_sum = max(peak_sum, main + children)
    mb = 1024 * 1024
    return {
        "sampled_peak_mb": peak_sum / mb,
        "sampled_importer_peak_mb": peak_main / mb,
        "sampled_reader_peak_mb": peak_children / mb,
    }


def _pg_admin(sql: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with engine.connect() as c:
        c.execute(text(sql))
    engine.dispose()


# --------------------------------------------------------------------------------------------
# Report


def machine() -> dict[str, Any]:
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu_model(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def summarise(backend: str, runs: list[dict[str, Any]], rows: int) -> dict[str, Any]:
    seconds = statistics.median(r["seconds"] for r in runs)
    peak = max(r["sampled_peak_mb"] for r in runs)
    summary = {
        "runs": len(runs),
        "median_seconds": round(seconds, 2),
        "median_rows_per_s": round(rows / seconds),
        "min_seconds": round(min(r["seconds"] for r in runs), 2),
        "max_seconds": round(max(r["seconds"] for r in runs), 2),
        "median_reread_seconds": round(statistics.median(r["reread_seconds"] for r in runs), 2),
        "median_cpu_seconds": round(statistics.median(r["cpu_seconds"] for r in runs), 2),
        "median_other_cores": round(statistics.median(r["other_cores"] for r in runs), 2),
        "peak_mb": round(peak, 1),
        "importer_peak_mb": round(max(r["sampled_importer_peak_mb"] for r in runs), 1),
        "reader_peak_mb": round(max(r["sampled_reader_peak_mb"] for r in runs), 1),
        "importer_ru_maxrss_mb": round(max(r["rss_peak_mb"] for r in runs), 1),
        "rss_before_ingest_mb": round(statistics.median(r["rss_before_mb"] for r in runs), 1),
        "rows_per_s_ok": rows / seconds >= TARGET_ROWS_PER_S,
        "peak_ok": peak <= TARGET_PEAK_MB,
    }
    if backend == "sqlite" and rows == 100_000:
        summary["within_20s"] = seconds <= TARGET_SECONDS
    return summary


HISTORY_KEYS = (
    "runs",
    "median_seconds",
    "median_rows_per_s",
    "median_cpu_seconds",
    "median_other_cores",
    "peak_mb",
)


def write_results(result: dict[str, Any]) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "ingest.json").write_text(
        json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    # One line per session: on a shared machine one session's medians are not the whole story.
    history = RESULTS / "ingest_history.jsonl"
    with history.open("a", encoding="utf-8") as fh:
        for backend, s in result["backends"].items():
            entry = {"date": result["machine"]["date"], "rows": result["export"]["rows"]}
            entry |= {"backend": backend, **{k: s[k] for k in HISTORY_KEYS}}
            fh.write(json.dumps(entry) + "\n")
    m, e = result["machine"], result["export"]
    lines = [
        "# Intake benchmark (bench/bench_ingest.py)",
        "",
        f"One GB18030 hotline CSV of **{e['rows']:,} rows** ({e['bytes'] / 1e6:.1f} MB, built "
        f"from {e['distinct_messages']:,} real TIPDM messages with unique ticket and phone "
        "numbers) ingested by `tasks.ingest.ingest_file` into a fresh database, in a fresh "
        "interpreter. Time: the ingest call only (checksum, parse, normalise, redact, store, "
        "archive). Re-read: the same rows again as another file (every row already known). "
        "Peak memory: the RSS of the importing process and of the reader process it starts for "
        "large files, sampled together every 50 ms (largest sum; each one's own peak in "
        "brackets).",
        "",
        f"Machine: {m['nproc']} cores, {m['cpu']}, Python {m['python']}, {m['platform']}, "
        f"{m['date']}. {result['load_note']}",
        "",
        "| backend | runs | median s | rows/s (median) | min–max s | importer CPU s (median) "
        "| other work, cores (median) | re-read s (median) | peak RSS MB (importer + reader) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for backend, s in result["backends"].items():
        lines.append(
            f"| {backend} | {s['runs']} | {s['median_seconds']} | {s['median_rows_per_s']:,} "
            f"| {s['min_seconds']}–{s['max_seconds']} | {s['median_cpu_seconds']} "
            f"| {s['median_other_cores']} | {s['median_reread_seconds']} "
            f"| {s['peak_mb']} ({s['importer_peak_mb']} + {s['reader_peak_mb']}) |"
        )
    lines += [
        "",
        f"Targets: SQLite ≤ {TARGET_SECONDS:.0f} s for 100,000 rows (≥ {TARGET_ROWS_PER_S:,} "
        f"rows/s), peak ≤ {TARGET_PEAK_MB} MB.",
    ]
    for backend, s in result["backends"].items():
        speed = "met" if s["rows_per_s_ok"] else "NOT met"
        if backend != "sqlite":
            speed = "no target, reported"
        memory = "met" if s["peak_ok"] else "NOT met"
        lines.append(f"- {backend}: speed {speed} (median), memory {memory}")
    lines += ["", "Each run:", "", "| backend | s | rows/s | importer CPU s | other work, cores |"]
    lines += ["| --- | --- | --- | --- | --- |"]
    for backend, runs in result["runs"].items():
        lines += [
            f"| {backend} | {r['seconds']:.2f} | {r['rows_per_s']:,.0f} | {r['cpu_seconds']:.2f} "
            f"| {r['other_cores']:.2f} |"
            for r in runs
        ]
    sessions = [
        json.loads(line)
        for line in history.read_text(encoding="utf-8").splitlines()
        if line.strip() and json.loads(line)["rows"] == e["rows"]
    ]
    lines += [
        "",
        f"All sessions of {e['rows']:,} rows so far (bench/results/ingest_history.jsonl):",
        "",
        "| date (UTC) | backend | runs | median s | rows/s | importer CPU s | other work, cores "
        "| peak MB |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    lines += [
        f"| {x['date'][:16]} | {x['backend']} | {x['runs']} | {x['median_seconds']} "
        f"| {x['median_rows_per_s']:,} | {x['median_cpu_seconds']} | {x['median_other_cores']} "
        f"| {x['peak_mb']} |"
        for x in sessions
    ]
    (RESULTS / "ingest.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


def load_note(loads: list[float]) -> str:
    return (
        f"Load: 1-min load average {min(loads):.1f}–{max(loads):.1f} during the runs; the 2 "
        "cores are shared with other people's work, which kept on average the number of cores "
        "in the column *other work* busy while a run went on (PostgreSQL's own work counts "
        "there too). Wall times swing with it: read the medians, the CPU seconds and that "
        "column together."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--profile", action="store_true", help="cProfile one SQLite run")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--profile-out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        export, url, home = args.child
        print(json.dumps(child(Path(export), url, Path(home), args.profile_out)))
        return

    tmp = Path(tempfile.mkdtemp(prefix="minqing-bench-export-"))
    try:
        export = tmp / "12345_export.csv"
        info = build_export(export, args.rows)
        print(f"export: {info}", flush=True)
        if args.profile:
            stats = tmp / "ingest.prof"
            r = run_once(export, "sqlite", args.rows, profile=stats)
            print(f"profiled run: {r['seconds']:.2f} s, peak {r['rss_peak_mb']:.0f} MB")
            import pstats

            pstats.Stats(str(stats)).sort_stats("cumulative").print_stats(40)
            pstats.Stats(str(stats)).sort_stats("tottime").print_stats(30)
            return
        backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
        result: dict[str, Any] = {"machine": machine(), "export": info, "backends": {}, "runs": {}}
        loads: list[float] = []
        for backend in backends:
            runs = []
            for k in range(args.runs):
                r = run_once(export, backend, args.rows)
                runs.append(r)
                loads += [r["load_before"], r["load_after"]]
                print(
                    f"{backend} run {k + 1}: {r['seconds']:.2f} s ({r['rows_per_s']:,.0f} rows/s, "
                    f"other work {r['other_cores']:.2f} cores, "
                    f"CPU {r['cpu_seconds']:.2f} s), "
                    f"re-read {r['reread_seconds']:.2f} s, peak {r['sampled_peak_mb']:.0f} MB "
                    f"({r['sampled_importer_peak_mb']:.0f} + {r['sampled_reader_peak_mb']:.0f}), "
                    f"load {r['load_before']:.1f}→{r['load_after']:.1f}",
                    flush=True,
                )
            result["runs"][backend] = runs
            result["backends"][backend] = summarise(backend, runs, args.rows)
        result["load_note"] = load_note(loads)
        print(json.dumps(result["backends"], indent=2))
        write_results(result)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
