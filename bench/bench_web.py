"""Benchmark of the web app (web/): the public QR form under load, and the console's case list
over 1,000,000 cases in PostgreSQL.

1. Form throughput: the app runs in its own uvicorn process (as `minqing web` runs it); a load
   generator in this process (asyncio keep-alive connections, bounded concurrency, a fixed
   request count) plays many phones: each simulated client opens the form once with httpx
   (its CSRF cookie and token), then posts submissions with fresh form ids. Every post is
   checked (200 and its receipt in the page); at the end the spool must hold exactly the
   accepted submissions. Reports submissions/s, p50/p99 latency and the server's CPU time per
   submission (which does not depend on what else the shared machine is doing), with fsync
   per group commit on and off. Target: >= 300 submissions/s.
2. Console list: a separate PostgreSQL database gets the schema (Alembic), the reference
   data and N cases generated in SQL (INSERT … SELECT generate_series), then ANALYZE. A
   logged-in client times the case list (first page, filters, a deep keyset page, searches)
   through HTTP. Target: < 200 ms for the list and its filters. The database is dropped at
   the end unless --keep-db.

    .venv/bin/python bench/bench_web.py                      # full: 1M cases (~3-5 min)
    .venv/bin/python bench/bench_web.py --quick              # 2,000 posts, 100,000 cases
    .venv/bin/python bench/bench_web.py --skip-console       # the form only

Writes bench/results/web.json and bench/results/web.md (medians of the repeats).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.benchlib import cpu_model  # noqa: E402
from web.testing import free_port, hidden_fields  # noqa: E402

PG_ADMIN_URL = os.environ.get(
    "MINQING_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
SECRET = "bench-secret-" + secrets.token_hex(24)
TEXTS = [
    "惠民小区3栋门口路灯坏了一个星期，晚上很黑，老人出门不安全，请尽快维修。",
    "南苑社区工地夜间施工噪音扰民，严重影响休息，希望有关部门管一管。",
    "西城路口公交站台的顶棚被风吹坏了，下雨没处躲，请尽快修复。",
    "小区垃圾桶满了三天没人清运，气味很大，夏天容易滋生蚊虫。",
]


def machine() -> dict[str, Any]:
    mem = ""
    try:
        kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
        mem = f"{kb / 1024 / 1024:.1f} GiB"
    except (OSError, AttributeError):
        pass
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "memory": mem,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def start_server(env: dict[str, str], port: int, workers: int) -> subprocess.Popen[bytes]:
    cmd = [
        sys.executable, "-m", "uvicorn", "web.app:create_app", "--factory",
        "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
        "--no-access-log", "--log-level", "warning",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, **env})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            raise RuntimeError("the web server exited at start")
        time.sleep(0.2)
    proc.terminate()
    raise RuntimeError("the web server did not start")


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


# --- 1. the public form -----------------------------------------------------------------------


async def _load(base: str, total: int, concurrency: int) -> dict[str, Any]:
    """`concurrency` clients on keep-alive connections post until `total` posts are made.

    Each client opens the form once with httpx (cookie, CSRF token), then posts over a raw
    HTTP/1.1 connection: a few lines of asyncio instead of httpx per request, so the load
    generator, which shares the two cores with the server, stays light."""
    latencies: list[float] = []
    failures: list[str] = []
    counter = iter(range(total))
    host, port = base.removeprefix("http://").split(":")

    async def client_loop() -> None:
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            form = await client.get("/s/donghu-jia")
            fields = hidden_fields(form.text)
            cookie = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            for i in counter:
                form_id = f"QR20261128-{uuid.uuid4().hex[:12]}"
                body = urlencode({
                    "csrf": fields["csrf"],
                    "form_id": form_id,
                    "content": f"{TEXTS[i % len(TEXTS)]}（第{i}条）",
                    "area": "东湖社区",
                    "name": "压测",
                    "phone": f"139{i:08d}",
                    "consent": "yes",
                }).encode()  # fmt: skip
                head = (
                    f"POST /s/donghu-jia HTTP/1.1\r\nHost: {host}:{port}\r\nCookie: {cookie}\r\n"
                    "Content-Type: application/x-www-form-urlencoded\r\n"
                    f"Content-Length: {len(body)}\r\n\r\n"
                ).encode()
                t0 = time.perf_counter()
                writer.write(head + body)
                status, text = await _response(reader)
                latencies.append(time.perf_counter() - t0)
                if status != 200 or form_id not in text:
                    failures.append(str(status))
        finally:
            writer.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(client_loop() for _ in range(concurrency)))
    elapsed = time.perf_counter() - t0
    return {"elapsed": elapsed, "latencies": latencies, "failures": failures}


async def _response(reader: asyncio.StreamReader) -> tuple[int, str]:
    header = await reader.readuntil(b"\r\n\r\n")
    lines = header.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    length = next(int(x.split(":", 1)[1]) for x in lines if x.lower().startswith("content-length:"))
    body = await reader.readexactly(length)
    return status, body.decode("utf-8", "replace")


def bench_form(
    requests: int, concurrency: int, workers: int, repeats: int, sync: bool
) -> dict[str, Any]:
    runs = []
    for _ in range(repeats):
        home = Path(tempfile.mkdtemp(prefix="minqing-bench-web-"))
        port = free_port()
        env = {
            "MINQING_HOME": str(home),
            "MINQING_CONFIG_DIR": str(ROOT / "config"),
            "MINQING_SECRET_KEY": SECRET,
            "MINQING_WEB_RATE_PER_MINUTE": str(requests * 10),
            "MINQING_SPOOL_FSYNC": "1" if sync else "0",
        }
        proc = start_server(env, port, workers)
        try:
            asyncio.run(
                _load(f"http://127.0.0.1:{port}", min(200, requests), concurrency)
            )  # warm-up
            spooled_before = _spooled(home)
            server = psutil.Process(proc.pid)
            cpu0, load = _cpu(server), os.getloadavg()[0]
            result = asyncio.run(_load(f"http://127.0.0.1:{port}", requests, concurrency))
            server_cpu = _cpu(server) - cpu0
        finally:
            stop_server(proc)
        stored = _spooled(home) - spooled_before
        shutil.rmtree(home, ignore_errors=True)
        lat = result["latencies"]
        runs.append({
            "submissions": len(lat),
            "failures": len(result["failures"]),
            "stored": stored,
            "seconds": round(result["elapsed"], 3),
            "per_second": round(len(lat) / result["elapsed"], 1),
            "p50_ms": round(percentile(lat, 50) * 1000, 2),
            "p99_ms": round(percentile(lat, 99) * 1000, 2),
            "server_cpu_ms_per_submission": round(server_cpu / len(lat) * 1000, 3),
            "load_average_before": round(load, 2),
        })  # fmt: skip
        print(f"  form: {runs[-1]}")
    return {
        "requests": requests,
        "concurrency": concurrency,
        "workers": workers,
        "fsync_per_submission": sync,
        "runs": runs,
        "median_per_second": statistics.median(r["per_second"] for r in runs),
        "median_p50_ms": statistics.median(r["p50_ms"] for r in runs),
        "median_p99_ms": statistics.median(r["p99_ms"] for r in runs),
        "median_server_cpu_ms": statistics.median(r["server_cpu_ms_per_submission"] for r in runs),
        "all_stored": all(r["stored"] == r["submissions"] and r["failures"] == 0 for r in runs),
    }


def _cpu(proc: psutil.Process) -> float:
    """CPU seconds of the server and its children (the workers when --workers > 1)."""
    total = 0.0
    for p in [proc, *proc.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            t = p.cpu_times()
            total += t.user + t.system
    return total


def _spooled(home: Path) -> int:
    folder = home / "var" / "spool" / "qrform"
    return (
        sum(len(p.read_bytes().splitlines()) for p in folder.glob("*.jsonl"))
        if folder.exists()
        else 0
    )


# --- 2. the console's case list over many cases -------------------------------------------------

GENERATE = """
INSERT INTO cases (title, text, text_key, area_code, category, category_confidence, category_source,
                   category_top3, lead_department, co_departments, status, priority, review_reason,
                   assigned_at, due_at, replied_at, closed_at, outcome, reopen_count,
                   escalation_level, supporters, created_at, updated_at)
SELECT
  (ARRAY['路灯不亮','夜间施工噪音','公交站台损坏','垃圾清运不及时','物业不作为','学校门口拥堵'])[1 + g % 6]
      || ' 第' || g || '号',
  '群众反映的问题内容，编号 ' || g,
  md5(g::text),
  (ARRAY['donghu','xicheng','nanyuan','beitang','binjiang','xinhua'])[1 + (g / 7) % 6],
  (ARRAY['市政设施','噪声污染','交通运输','环境保护','物业管理','教育文体'])[1 + g % 6],
  0.9, 'rule', '[]',
  (ARRAY['chengguan','chengguan','jiaotong','shengtai','zhujian','jiaoyu'])[1 + g % 6],
  '[]',
  CASE WHEN g % 100 < 60 THEN 'closed' WHEN g % 100 < 70 THEN 'rated' WHEN g % 100 < 78 THEN 'replied'
       WHEN g % 100 < 80 THEN 'verified' WHEN g % 100 < 95 THEN 'assigned' WHEN g % 100 < 98 THEN 'needs_review'
       WHEN g % 100 < 99 THEN 'reopened' ELSE 'merged' END,
  CASE WHEN g % 50 = 0 THEN 'urgent' ELSE 'normal' END,
  NULL,
  ts, ts + interval '14 days', ts + interval '7 days', NULL, NULL, 0, 0, 1 + g % 3, ts, ts
FROM (SELECT g, timestamptz '2024-12-01 00:00+00' + (g * interval '60 seconds') AS ts
      FROM generate_series(1, :n) AS g) AS rows
"""

VIEWS = {
    "first page": "",
    "status = 已交办": "status=assigned",
    "status = 待审核 (review)": "review=1",
    "department": "dept=jiaotong",
    "department + status": "dept=chengguan&status=replied",
    "area": "area=beitang",
    "overdue": "overdue=1",
    "deep page (keyset)": "after={deep}",
    "search: case number": "q={number}",
    "search: ticket number (no match)": "q=GD20261128000123",
    "search: phone (no match)": "q=13900001111",
    "search: title, common words": "q=路灯不亮",
    "search: title, one case": "q=第123457号",
    "search: title, no match": "q=不存在的问题标题",
}


def bench_console(cases: int, repeats: int, keep: bool) -> dict[str, Any]:
    from sqlalchemy import create_engine, text

    name = f"minqing_bench_web_{secrets.token_hex(4)}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
        pg_version = c.execute(text("SHOW server_version")).scalar()
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    home = Path(tempfile.mkdtemp(prefix="minqing-bench-console-"))
    env = {
        "MINQING_HOME": str(home),
        "MINQING_CONFIG_DIR": str(ROOT / "config"),
        "MINQING_DATABASE_URL": url,
        "MINQING_SECRET_KEY": SECRET,
    }
    proc = None
    try:
        setup = (
            "from db.migrate import upgrade; from tasks.reference import sync_reference_now; "
            "upgrade(); sync_reference_now()"
        )
        subprocess.run(
            [sys.executable, "-c", setup], cwd=ROOT, env={**os.environ, **env}, check=True
        )
        engine = create_engine(url)
        t0 = time.perf_counter()
        with engine.begin() as c:
            c.execute(text(GENERATE), {"n": cases})
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.execute(text("VACUUM ANALYZE cases"))
        generated = time.perf_counter() - t0
        print(f"  generated {cases:,} cases in {generated:.1f} s")
        password = secrets.token_urlsafe(16)
        add = (
            "from db.engine import Session; from db.models import Operator; "
            "from web.security import hash_password; import sys\n"
            "with Session() as s, s.begin(): s.add(Operator(name='bench', password_hash=hash_password(sys.argv[1])))"
        )
        subprocess.run(
            [sys.executable, "-c", add, password], cwd=ROOT, env={**os.environ, **env}, check=True
        )
        with engine.connect() as c:
            deep = c.execute(
                text("SELECT id FROM cases ORDER BY id DESC OFFSET :o LIMIT 1"), {"o": cases // 2}
            ).scalar()
            row = c.execute(
                text("SELECT id, created_at FROM cases WHERE id = :i"), {"i": cases // 3}
            ).one()
        number = f"MQ{row.created_at:%Y}-{row.id:06d}"
        engine.dispose()
        port = free_port()
        proc = start_server(env, port, 1)
        base = f"http://127.0.0.1:{port}"
        results = {}
        with httpx.Client(base_url=base, timeout=60) as client:
            page = client.get("/console/login")
            r = client.post(
                "/console/login",
                data={**hidden_fields(page.text), "name": "bench", "password": password},
            )
            assert r.status_code in (200, 303), r.status_code
            for label, query in VIEWS.items():
                path = "/console?" + query.format(deep=deep, number=number)
                client.get(path)  # warm the plan and the cache
                times = []
                for _ in range(repeats):
                    t = time.perf_counter()
                    resp = client.get(path)
                    times.append((time.perf_counter() - t) * 1000)
                    assert resp.status_code == 200
                rows = len(re.findall(r'href="/console/cases/\d+"', resp.text))
                results[label] = {
                    "query": query.format(deep=deep, number=number),
                    "rows": rows,
                    "median_ms": round(statistics.median(times), 1),
                    "p95_ms": round(percentile(times, 95), 1),
                }
                print(f"  {label}: {results[label]}")
        return {
            "cases": cases,
            "postgresql": pg_version,
            "generate_seconds": round(generated, 1),
            "repeats": repeats,
            "views": results,
        }
    finally:
        if proc is not None:
            stop_server(proc)
        shutil.rmtree(home, ignore_errors=True)
        if not keep:
            with admin.connect() as c:
                c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def write_results(result: dict[str, Any]) -> None:
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "web.json").write_text(
        json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    m = result["machine"]
    lines = [
        "# Web app benchmark (bench/bench_web.py)",
        "",
        f"Run {result['when']} on {m['cpu']} ({m['cores']} cores, {m['memory']}), Python {m['python']}.",
        "",
    ]
    if "form" in result:
        for f in result["form"]:
            ok = "meets" if f["median_per_second"] >= 300 else "MISSES"
            lines += [
                f"## Public QR form — {f['workers']} uvicorn worker(s), "
                f"{'fsync before each thank-you (group commit)' if f['fsync_per_submission'] else 'no fsync'}",
                "",
                f"Run {f.get('when', result['when'])}. {f['requests']} posts per run, "
                f"{f['concurrency']} concurrent clients on loopback, "
                f"{len(f['runs'])} runs; every post checked and counted in the spool: {f['all_stored']}.",
                "",
                "| | median of runs |",
                "|---|---|",
                f"| submissions/s | **{f['median_per_second']}** ({ok} the 300/s target) |",
                f"| p50 latency | {f['median_p50_ms']} ms |",
                f"| p99 latency | {f['median_p99_ms']} ms |",
                f"| server CPU per submission | {f['median_server_cpu_ms']} ms |",
                "",
                "Load average before the runs: "
                + ", ".join(str(r["load_average_before"]) for r in f["runs"])
                + " (on 2 cores: the machine was shared with other jobs, which the latencies show;"
                " the server's CPU time per submission does not depend on them).",
                "",
            ]
    if "console" in result:
        c = result["console"]
        lines += [
            f"## Console case list — {c['cases']:,} cases in PostgreSQL {c['postgresql']}",
            "",
            f"Run {c.get('when', result['when'])}. Rows generated in SQL in {c['generate_seconds']} s; "
            f"each view requested {c['repeats']} times "
            "over HTTP (whole page: session check, query, render), after one warm-up request. "
            "Only `cases` is filled: the ticket and phone searches go through the (indexed) "
            "`submissions.source_ref` and `persons.phone`, here empty.",
            "",
            "| view | rows | median | p95 | < 200 ms |",
            "|---|---|---|---|---|",
        ]
        for label, v in c["views"].items():
            lines.append(
                f"| {label} | {v['rows']} | {v['median_ms']} ms | {v['p95_ms']} ms | "
                f"{'yes' if v['median_ms'] < 200 else 'no'} |"
            )
        lines.append("")
    (out / "web.md").write_text("\n".join(lines), encoding="utf-8")
    print(f"wrote {out / 'web.json'} and {out / 'web.md'}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--requests", type=int, default=6000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-form", action="store_true")
    parser.add_argument("--skip-console", action="store_true")
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.requests, args.cases, args.repeats = 2000, 100_000, 1
    result: dict[str, Any] = {"machine": machine(), "when": time.strftime("%Y-%m-%d %H:%M")}
    previous = ROOT / "bench" / "results" / "web.json"
    if previous.exists() and (args.skip_form or args.skip_console):  # keep the part not re-run
        old = json.loads(previous.read_text(encoding="utf-8"))
        result.update({k: old[k] for k in ("form", "console") if k in old})
    if not args.skip_form:
        result["form"] = []
        for sync in (True, False):
            print(f"form, fsync per submission: {sync}")
            form = bench_form(args.requests, args.concurrency, args.workers, args.repeats, sync)
            result["form"].append({**form, "when": result["when"]})
    if not args.skip_console:
        print(f"console list over {args.cases:,} cases")
        result["console"] = bench_console(args.cases, max(10, args.repeats * 7), args.keep_db)
        result["console"]["when"] = result["when"]
    write_results(result)


if __name__ == "__main__":
    main()
