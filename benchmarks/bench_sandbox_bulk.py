"""Sandbox at scale: time to ready with N seeded users, then the real SDK pages through all of them.

Goal (issue "Foundation"): `anonconsole sandbox serve --users 200000` ready in under 3 minutes on a
2-core machine, and `total` correct while paging through every user.
"""

from __future__ import annotations

import secrets
import tempfile
import time
from pathlib import Path

from descope import DescopeClient

from anonconsole.launcher.process import SandboxOptions, SandboxProcess

PAGE_SIZE = 1000


def run(users: int | None = None) -> None:
    n = users or 200_000
    key = secrets.token_urlsafe(32)
    with tempfile.TemporaryDirectory() as tmp:
        options = SandboxOptions(db=Path(tmp) / "bench.db", users=n, rate_limits="off")
        started = time.perf_counter()
        with SandboxProcess(options, key) as sandbox:
            sandbox.start(timeout=600)
            ready = time.perf_counter() - started
            print(f"users seeded               {n:>10,}")
            print(f"ready after                {ready:>10.1f} s   (goal < 180 s)")

            client = DescopeClient(project_id=options.project_id, management_key=key, base_url=sandbox.url)
            seen: set[str] = set()
            total = None
            page = 0
            t0 = time.perf_counter()
            while True:
                response = client.mgmt.user.search_all(limit=PAGE_SIZE, page=page, with_test_user=True)
                total = response["total"]
                batch = response["users"]
                seen.update(u["userId"] for u in batch)
                page += 1
                if len(batch) < PAGE_SIZE:
                    break
            elapsed = time.perf_counter() - t0
            print(f"pages of {PAGE_SIZE}              {page:>10,}")
            print(f"paged through all users in {elapsed:>8.1f} s   ({page / elapsed:.1f} pages/s, sync SDK)")
            print(f"total reported             {total:>10,}")
            verdict = "OK" if len(seen) == total else "MISMATCH"
            print(f"distinct users seen        {len(seen):>10,}   ({verdict})")
