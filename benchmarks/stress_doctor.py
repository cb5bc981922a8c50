"""Stress the doctor against a faulty sandbox: no probe user may ever stay behind.

Usage: python -m benchmarks.stress_doctor [--runs 20] [--error-rate 0.2] [--drop-rate 0.1] [--latency-ms 300]

Starts an empty sandbox with those faults (Descope-shaped 500s, dropped connections, latency) and
runs the doctor `--runs` times, each through a new gateway as `anonconsole doctor` would. Then, the
faults off, it searches the sandbox with the SDK for users whose login ID starts with the doctor's
probe prefix and prints how many remain: it must be 0 (exit code 1 otherwise). The doctor's own
verdicts are printed too; with these faults most runs fail a check, which is expected: the point is
what they leave behind, and that a run which could not remove its probe says so.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import secrets
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
from descope import DescopeClient

from anonconsole.gateway import Connection, Gateway
from anonconsole.launcher.process import SandboxOptions, SandboxProcess
from anonconsole.operations.doctor import PROBE_PREFIX, DoctorReport, run_doctor

TENANT_NAME = "Anonymous Users"


def set_faults(url: str, project_id: str, key: str, **knobs: Any) -> None:
    """Change the running sandbox's fault knobs (its own endpoint is never faulty)."""
    response = httpx.post(
        f"{url}/_sandbox/faults",
        json={"paths": [], **knobs},
        headers={"Authorization": f"Bearer {project_id}:{key}"},
        timeout=10,
    )
    response.raise_for_status()


def set_up_tenant(client: DescopeClient) -> str:
    """The anonymous tenant as the KB sets it up (30-day refresh tokens); its ID."""
    tenant_id = str(client.mgmt.tenant.create(TENANT_NAME)["id"])
    client.mgmt.tenant.update_settings(
        tenant_id,
        [],
        session_settings_enabled=True,
        refresh_token_expiration=30,
        refresh_token_expiration_unit="days",
        session_token_expiration=10,
        session_token_expiration_unit="minutes",
    )
    return tenant_id


def probes_left(client: DescopeClient) -> list[str]:
    """Login IDs of every doctor probe still in the sandbox, found with the SDK (faults off)."""
    found: list[str] = []
    page = 0
    while True:
        answer = client.mgmt.user.search_all(limit=100, page=page, with_test_user=True)
        users = answer.get("users") or []
        for user in users:
            found.extend(i for i in user.get("loginIds") or [] if i.startswith(PROBE_PREFIX))
        if len(users) < 100:
            return found
        page += 1


def verdict(report: DoctorReport) -> str:
    """One word per run, for the tally."""
    if report.probe_left:
        return "probe left (reported)"
    if report.ok:
        return "all checks passed"
    if report.unusable:
        return "unusable (connection)"
    return "a check failed, probe removed"


async def run_all(url: str, project_id: str, key: str, tenant_id: str, runs: int) -> list[DoctorReport]:
    reports = []
    for number in range(1, runs + 1):
        started = time.perf_counter()
        async with Gateway(Connection(project_id, url, key)) as gateway:
            report = await run_doctor(gateway, tenant_id=tenant_id)
        reports.append(report)
        failed = next((c for c in report.checks if not c.passed), None)
        said = f"{failed.name}: {failed.detail}" if failed else "all checks passed"
        print(f"run {number:>2}  {time.perf_counter() - started:5.1f} s  {said[:110]}", flush=True)
    return reports


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.stress_doctor", description=__doc__)
    parser.add_argument("--runs", type=int, default=20, help="doctor runs (default 20)")
    parser.add_argument("--error-rate", type=float, default=0.2, help="share of 500 answers (default 0.2)")
    parser.add_argument("--drop-rate", type=float, default=0.1, help="share of dropped connections (0.1)")
    parser.add_argument("--latency-ms", type=int, default=300, help="latency of every request (300)")
    args = parser.parse_args(argv)
    logging.getLogger("descope").setLevel(logging.ERROR)  # its handshake warnings: expected here
    key = secrets.token_urlsafe(32)
    faults = {"latencyMs": args.latency_ms, "errorRate": args.error_rate, "dropRate": args.drop_rate}
    with tempfile.TemporaryDirectory(prefix="stress-doctor-") as directory:
        options = SandboxOptions(
            db=Path(directory) / "sandbox.db",
            error_rate=args.error_rate,
            drop_rate=args.drop_rate,
            latency_ms=args.latency_ms,
        )
        with SandboxProcess(options, key) as sandbox:
            url = sandbox.start(timeout=120)
            client = DescopeClient(project_id=options.project_id, management_key=key, base_url=url)
            set_faults(url, options.project_id, key, latencyMs=0, errorRate=0.0, dropRate=0.0)
            tenant_id = set_up_tenant(client)
            set_faults(url, options.project_id, key, **faults)
            print(
                f"Sandbox at {url}: error rate {args.error_rate}, drop rate {args.drop_rate}, "
                f"latency {args.latency_ms} ms; {args.runs} doctor runs",
                flush=True,
            )
            reports = asyncio.run(run_all(url, options.project_id, key, tenant_id, args.runs))
            set_faults(url, options.project_id, key, latencyMs=0, errorRate=0.0, dropRate=0.0)
            left = probes_left(client)
    for outcome, count in sorted(Counter(verdict(r) for r in reports).items()):
        print(f"{count:>3}  {outcome}")
    silent = [login for login in left if login not in {r.probe_left for r in reports}]
    print(f"Probe users left in the sandbox after {args.runs} runs: {len(left)}")
    if silent:
        print(f"  of which the doctor did not report: {len(silent)}: {', '.join(silent)}")
    return 0 if not left else 1


if __name__ == "__main__":
    sys.exit(main())
