"""The tables of bench/run: medians and spreads of the repetitions, oxwsgi's ratio to each
server, and the heading (date, machine, command, versions) that --record keeps in
bench/RESULTS.md."""

from __future__ import annotations

import datetime
import os
import platform
import re
import shutil
import statistics
import subprocess
from dataclasses import dataclass
from pathlib import Path

from catalog import ROOT, VENV, Nginx, Plan

def fmt_rps(value: float) -> str:
    if value >= 100_000:
        return f"{value / 1000:.0f}k"
    if value >= 10_000:
        return f"{value / 1000:.1f}k"
    if value >= 1000:
        return f"{value / 1000:.2f}k"
    return f"{value:.0f}" if value >= 10 else f"{value:.1f}"


def fmt_ms(value: float) -> str:
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def fmt_mib(value: int) -> str:
    return f"{value / 2**20:.0f}"


@dataclass
class Summary:
    rps: float
    spread: float
    p50: float
    p99: float
    errors: dict[str, int]
    requests: int
    rss: int
    runs: int
    failed: int


def summarise(records: list[dict]) -> dict[tuple[str, str, str], Summary | str]:
    """(config, scenario, server) -> the summary of its repetitions, or why none succeeded."""
    grouped: dict[tuple[str, str, str], list[dict]] = {}
    for record in records:
        grouped.setdefault((record["config"], record["scenario"], record["server"]), []).append(record)
    out: dict[tuple[str, str, str], Summary | str] = {}
    for key, recs in grouped.items():
        ok = [r for r in recs if r["ok"]]
        if not ok:
            out[key] = recs[-1]["reason"]
            continue
        rps = [r["rps"] for r in ok]
        median = statistics.median(rps)
        errors: dict[str, int] = {}
        for r in ok:
            for name, count in r["errors"].items():
                errors[name] = errors.get(name, 0) + count
        out[key] = Summary(
            rps=median, spread=(max(rps) - min(rps)) / median if median else 0.0,
            p50=statistics.median(r["p50_ms"] for r in ok),
            p99=statistics.median(r["p99_ms"] for r in ok),
            errors=errors, requests=sum(r["requests"] for r in ok),
            rss=max(r["rss"] for r in ok), runs=len(ok), failed=len(recs) - len(ok))
    return out


def fmt_errors(summary: Summary) -> str:
    total = sum(summary.errors.values())
    if not total:
        return "0"
    parts = ", ".join(f"{name} {count}" for name, count in summary.errors.items() if count)
    return f"{total} ({parts}; of {summary.requests})"


def ratio(ox: Summary | str | None, other: Summary | str | None) -> str:
    if isinstance(ox, Summary) and isinstance(other, Summary) and other.rps > 0:
        return f"{ox.rps / other.rps:.2f}×"
    return "–"


def matrix(plan: Plan, summaries: dict, config, cell) -> list[str]:
    """A table with a row per scenario and a column per server; cell(item, oxwsgi's item)."""
    header = ["scenario"] + [s.name for s in plan.servers]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for scenario in plan.scenarios:
        ox = summaries.get((config.name, scenario.name, "oxwsgi"))
        row = [scenario.title]
        for server in plan.servers:
            item = summaries.get((config.name, scenario.name, server.name))
            if item is None:
                row.append("–")
            elif isinstance(item, str):
                row.append("failed")
            elif server.name == "oxwsgi":
                row.append(f"**{cell(item, None)}**")
            else:
                row.append(cell(item, ox if isinstance(ox, Summary) else None))
        lines.append("| " + " | ".join(row) + " |")
    return lines + [""]


def tables(plan: Plan, records: list[dict]) -> str:
    summaries = summarise(records)
    lines: list[str] = []
    failures = []
    for config in plan.configs:
        lines += [f"#### {config.title}", "", "Requests/s, median (oxwsgi ÷ server):", ""]
        lines += matrix(plan, summaries, config, lambda item, ox: fmt_rps(item.rps) + (
            f" ({ratio(ox, item)})" if ox else ""))
        lines += ["Latency p99, ms, median:", ""]
        lines += matrix(plan, summaries, config, lambda item, ox: fmt_ms(item.p99))
        # Everything, one row per scenario and server.
        lines += ["| scenario | server | as run | req/s | spread | p50 ms | p99 ms | errors | "
                  "peak RSS MiB | oxwsgi ÷ |", "|---|---|---|---|---|---|---|---|---|---|"]
        for scenario in plan.scenarios:
            ox = summaries.get((config.name, scenario.name, "oxwsgi"))
            for server in plan.servers:
                item = summaries.get((config.name, scenario.name, server.name))
                if item is None:
                    continue
                if isinstance(item, str):
                    lines.append(f"| {scenario.title} | {server.name} | {server.layout(config)} | "
                                 "failed (below) | | | | | | |")
                    failures.append(f"{config.name}, {scenario.name}, {server.name}: {item}")
                    continue
                runs = f"{item.runs} runs" if item.runs > 1 else "1 run"
                spread = f"{item.spread * 100:.0f}% ({runs})" if item.runs > 1 else f"– ({runs})"
                if item.failed:
                    spread += f", {item.failed} failed"
                lines.append(
                    f"| {scenario.title} | {server.name} | {server.layout(config)} | "
                    f"{fmt_rps(item.rps)} | {spread} | {fmt_ms(item.p50)} | {fmt_ms(item.p99)} | "
                    f"{fmt_errors(item)} | {fmt_mib(item.rss)} | "
                    f"{'' if server.name == 'oxwsgi' else ratio(ox, item)} |")
        lines.append("")
    if failures:
        lines += ["Failed (every repetition):", ""] + [f"- {f}" for f in failures] + [""]
    lines += ["Servers:", ""]
    for server in plan.servers:
        lines.append(f"- **{server.name}** ({server.title}): {server.notes() or 'defaults'}")
    if plan.unavailable:
        lines += ["", "Not run:", ""]
        for name, reason in plan.unavailable.items():
            lines.append(f"- **{name}**: {reason}")
    return "\n".join(lines)


def versions() -> str:
    parts = []
    try:
        git = ["git", "-C", str(ROOT)]
        rev = subprocess.run(git + ["rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True).stdout.strip()
        # Changes to the server's own sources, not to bench/.
        changed = subprocess.run(git + ["status", "--porcelain", "--", "src", "crates",
                                        "Cargo.toml", "Cargo.lock"],
                                 capture_output=True, text=True).stdout.strip()
        parts.append(f"oxwsgi {rev or 'unknown'}{' with uncommitted changes' if changed else ''}")
    except OSError:
        pass
    if (VENV / "bin" / "python").exists():
        script = ("import importlib.metadata as m\n"
                  "for p in ('granian','gunicorn','mod_wsgi','uwsgi','waitress','pyruvate','flask'):\n"
                  "    try: print(p, m.version(p))\n"
                  "    except Exception: pass\n")
        out = subprocess.run([str(VENV / "bin" / "python"), "-c", script], capture_output=True,
                             text=True).stdout
        parts += [line for line in out.splitlines() if line]
    nginx = Nginx().binary()
    if nginx:
        out = subprocess.run([nginx, "-v"], capture_output=True, text=True).stderr.strip()
        parts.append(out.replace("nginx version: ", "").replace("/", " "))
    apache = shutil.which("apache2") or ("/usr/sbin/apache2" if os.path.exists("/usr/sbin/apache2") else None)
    if apache:
        out = subprocess.run([apache, "-v"], capture_output=True, text=True,
                             env={**os.environ, "APACHE_RUN_DIR": "/tmp"}).stdout
        match = re.search(r"Apache/(\S+)", out)
        if match:
            parts.append(f"Apache {match.group(1)}")
    wrk = subprocess.run(["wrk", "-v"], capture_output=True, text=True)
    match = re.search(r"wrk (\S+)", wrk.stdout + wrk.stderr)
    if match:
        parts.append(f"wrk {match.group(1)}")
    parts.append(f"Python {platform.python_version()}")
    return ", ".join(parts)


def report(plan: Plan, records: list[dict], command: str) -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    head = [
        f"### {now} — {len(os.sched_getaffinity(0))} cores (nproc), {cpu}",
        "",
        f"Command: `{command}`",
        "",
        f"wrk {plan.wrk_threads} thread(s) on 127.0.0.1, `--timeout 10s`, {plan.duration} s per "
        f"measurement after a {plan.warmup} s warm-up; {plan.repetitions} repetition(s), "
        "interleaved (every server once, then again); medians, spread = (max − min) / median; "
        "errors summed over the repetitions; peak RSS summed over each server's processes. "
        "A dash: not applicable (the references answer the hello scenarios only, nginx serves "
        "only the static file, gunicorn, waitress and pyruvate serve no static files).",
        "",
        f"Versions: {versions()}.",
        "",
        "",
    ]
    return "\n".join(head) + tables(plan, records) + "\n"
