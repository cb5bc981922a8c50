"""`anonconsole cull` takes the profile's cull settings as its defaults: keep-rules, stages and days
disabled; flags replace them for one run (--keep adds). Against a real sandbox with the demo's 505
expired anonymous users."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from memory_keyring import installed

from anonconsole import cli
from anonconsole.settings.profiles import Profile, ProfileStore

PROFILE = "Staging"
PROJECT = "P2CullCliTestProject00000000"  # not the console's own sandbox (profiles refuse that one)
EXPIRED = 505  # the demo's expired anonymous users


@pytest.fixture
def demo(start_sandbox: Any, app_dirs: Path) -> Iterator[Any]:
    """A demo sandbox of this test's own, the console's files under tmp, and a keyring in memory
    holding the sandbox's key for the profile."""
    with installed():
        yield start_sandbox(demo=True, project_id=PROJECT)


def save(sandbox: Any, **settings: Any) -> Profile:
    """The profile `Staging` aimed at the sandbox, with these cull settings, stored with its key."""
    profile = Profile(name=PROFILE, project_id=sandbox.project_id, base_url=sandbox.url, **settings)
    store = ProfileStore.load()
    return store.put(profile, key=sandbox.management_key, replacing=PROFILE if PROFILE in store else None)


def cull(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[dict[str, Any]]]:
    """`anonconsole cull --profile Staging ARGS --json`: the exit code and each JSON line printed."""
    code = cli.main(["cull", "--profile", PROFILE, *args, "--json"])
    lines = capsys.readouterr().out.splitlines()
    return code, [json.loads(line) for line in lines if line.startswith("{")]


def candidate_ids(plan: dict[str, Any]) -> set[str]:
    return {c["userId"] for c in plan["candidates"]}


def statuses(sandbox: Any, user_ids: set[str]) -> dict[str, str]:
    users = sandbox.client().mgmt.user.search_all(user_ids=sorted(user_ids), limit=len(user_ids))["users"]
    return {u["userId"]: u["status"] for u in users}


def test_the_profiles_keep_rules_keep_a_matching_user_and_keep_adds_to_them(
    demo: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    save(demo)
    code, [plan] = cull(capsys, "--dry-run")
    assert code == 0
    assert plan["count"] == EXPIRED
    assert plan["keepRules"] == []
    marked, other = plan["candidates"][0], plan["candidates"][1]
    client = demo.client()
    client.mgmt.user.update_custom_attribute(marked["loginId"], "hasData", True)
    client.mgmt.user.update_custom_attribute(other["loginId"], "plan", "paid")
    save(demo, keep_rules=("attribute:hasData",))

    code, [plan] = cull(capsys, "--dry-run")
    assert code == 0
    assert plan["keepRules"] == ["attribute:hasData"]
    assert marked["userId"] not in candidate_ids(plan)
    assert plan["exclusions"]["keep_rule"]["userIds"] == [marked["userId"]]
    assert other["userId"] in candidate_ids(plan)
    assert plan["count"] == EXPIRED - 1

    code, [plan] = cull(capsys, "--dry-run", "--keep", "attribute:plan=paid")
    assert plan["keepRules"] == ["attribute:hasData", "attribute:plan=paid"]  # added, not replaced
    assert sorted(plan["exclusions"]["keep_rule"]["userIds"]) == sorted([marked["userId"], other["userId"]])
    assert plan["count"] == EXPIRED - 2


def test_a_two_stage_profile_deletes_what_it_disabled_long_enough_ago_then_disables_the_new(
    demo: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    save(demo, two_stage_cull=True, disabled_for_days=7)
    code, plans = cull(capsys, "--dry-run")
    assert code == 0
    assert [p["stage"] for p in plans] == ["delete_disabled", "disable"]  # one line per stage
    assert [p["count"] for p in plans] == [0, EXPIRED]
    assert {p["disabledForSeconds"] for p in plans} == {7 * 86400}  # the profile's days
    expired = candidate_ids(plans[1])
    assert cli.main(["cull", "--profile", PROFILE, "--dry-run"]) == 0
    text = capsys.readouterr().out
    first, second = text.index("Stage 1 of 2: delete the users"), text.index("Stage 2 of 2: disable the new")
    assert first < text.index("Users this console disabled at least 7 days ago.") < second

    code, [plan] = cull(capsys, "--dry-run", "--stage", "delete")  # --stage replaces the profile's
    assert (code, plan["stage"], plan["count"]) == (0, "delete", EXPIRED)
    code, plans = cull(capsys, "--dry-run", "--disabled-for-days", "2")
    assert {p["disabledForSeconds"] for p in plans} == {2 * 86400}

    code, _ = cull(capsys, "--yes", "--max-count", str(EXPIRED - 1))
    assert code == 3  # both stages together would act on more: nothing done
    assert set(statuses(demo, expired).values()) == {"enabled"}

    save(demo, two_stage_cull=True, disabled_for_days=0)
    code, reports = cull(capsys, "--yes", "--max-count", str(EXPIRED))
    assert code == 0
    assert [r["total"] for r in reports] == [0, EXPIRED]  # disabled now, so not deleted by this run
    assert set(statuses(demo, expired).values()) == {"disabled"}

    code, reports = cull(capsys, "--yes", "--max-count", str(EXPIRED))
    assert code == 0
    assert [r["total"] for r in reports] == [EXPIRED, 0]  # the next run deletes them; none new
    assert statuses(demo, expired) == {}


def test_plan_out_needs_a_stage_when_the_profile_has_two(
    demo: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    save(demo, two_stage_cull=True)
    code = cli.main(["cull", "--profile", PROFILE, "--dry-run", "--plan-out", str(tmp_path / "plan.json")])
    assert code == 3
    assert "add --stage delete_disabled or --stage disable" in capsys.readouterr().out
    assert not (tmp_path / "plan.json").exists()
    code = cli.main(
        [
            "cull",
            "--profile",
            PROFILE,
            "--dry-run",
            "--stage",
            "disable",
            "--plan-out",
            str(tmp_path / "plan.json"),
        ]
    )
    assert code == 0
    assert json.loads((tmp_path / "plan.json").read_text())["stage"] == "disable"


def test_help_says_the_defaults_are_the_profiles(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["cull", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "at least N days ago (default: the profile's)" in text
    assert "default: the profile's: delete, or for a two-stage profile delete_disabled then disable" in text
    assert "added to the profile's keep-rules, which always apply" in text
