"""Every user of a project in a `UserTable`, without Qt: what the headless commands plan from.

The GUI's users loader (models/users_loader.py) does the same with progress signals and CPU turns;
a command line has no window to keep responsive, so this one is a plain loop. Both read through the
gateway's sweep (issue 21): users deleted or created during the load leave no living user out and
none twice, and users found deleted after their page came are hidden (`UserTable.hide_users`), so a
plan (the cull's candidates, an export) never counts them.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from anonconsole.core.classify import AnonymousPolicy
from anonconsole.core.records import UserFilter
from anonconsole.core.user_table import UserTable
from anonconsole.gateway import Gateway

EVERYONE = UserFilter(test_users="include")
HISTORY_BATCH = 1000  # user IDs per history request, as the GUI's loader asks


async def load_users(
    gateway: Gateway, policy: AnonymousPolicy, *, say: Callable[[int, int], None] | None = None
) -> UserTable:
    """All users and their last sign-ins, classified by `policy`; `say(loaded, total)` after each page."""
    table = UserTable(policy, now=time.time)
    gone: set[str] = set()
    async for page in gateway.iter_user_pages(EVERYONE, on_progress=say):
        if page.index == 0:
            table.reserve(page.total)
        table.upsert(page.users)
        gone.difference_update(u.user_id for u in page.users)  # found again after all
        gone.update(page.gone)
    table.hide_users(gone)
    living = np.flatnonzero(~table.gone_mask())
    table.set_last_sign_ins(await gateway.last_sign_ins(table.user_ids(living), batch_size=HISTORY_BATCH))
    return table
