"""The journal of a destructive run: what was approved and each batch, on disk before it is acted on.

One JSON Lines file per run in the data dir (`journals/`), each line flushed and fsync'ed before the
request it announces is sent. After a crash or a kill the next start finds the run unfinished and
resumes exactly where it stopped: batches with a result are done; a batch announced without one is
reconciled by looking at the users (its answer may have been lost after Descope acted). A journal
belongs to one project and one plan: a foreign, edited or damaged journal is refused, never acted on.

Two kinds of plan are journaled the same way: a cull's (`cull-*.jsonl`, `core.cull.CullPlan`) and an
action on users a person chose (`users-*.jsonl`, `core.chosen.ChosenPlan`).

The approved plan itself is written beside the journal (`<journal>.plan.json`, fsync'ed) before the
journal's first line names it with its hash: a 500,000-user plan is ~95 MB, and keeping it out of
the journal lets the start-up scan for unfinished runs read a few lines per journal, not the plans.
(Journals written before that carry the plan in their first line, and are still read.)

Lines:
    {"type": "plan", "kind", "projectId", "profile", "startedAt", "planHash", "count",
     "planFile"}                                                                (first, once)
    {"type": "batch", "index", "action", "userIds": [...]}                      (before the request)
    {"type": "result", "index", "done": [...], "skipped": [{"userId", "reason"}],
     "failed": [{"userId", "error"}], "time"}                                   (after it)
    {"type": "end", "cancelled": bool, "time"}                                  (last, once)
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, Generic, Protocol, TypeVar, overload

from anonconsole.core.chosen import ChosenPlan
from anonconsole.core.cull import CullPlan
from anonconsole.core.plan_file import PlanError
from anonconsole.runtime import messages
from anonconsole.settings import paths
from anonconsole.settings.files import AtomicFile

DIRECTORY = "journals"


class JournaledPlan(Protocol):
    """What the journal needs of a plan: its kind, identity, users, and its JSON both ways."""

    KIND: ClassVar[str]

    @property
    def plan_hash(self) -> str: ...

    @property
    def user_ids(self) -> tuple[str, ...]: ...

    def to_json(self) -> dict[str, Any]: ...

    def json_pieces(self) -> Iterator[bytes]: ...


P = TypeVar("P", CullPlan, ChosenPlan)


class JournalError(Exception):
    """A journal that must not be acted on (foreign, edited, damaged), in words that say what to do."""


@dataclass
class BatchRecord:
    """One batch as the journal knows it: announced, and its result if it came."""

    index: int
    action: str
    user_ids: tuple[str, ...]
    done: tuple[str, ...] | None = None  # None: announced, no result written (the run stopped there)
    time: int = 0  # when the result was written (epoch s)
    skipped: tuple[tuple[str, str], ...] = ()
    failed: tuple[tuple[str, str], ...] = ()

    @property
    def finished(self) -> bool:
        return self.done is not None


@dataclass
class JournalState(Generic[P]):
    """What a journal file says: the approved plan, the batches so far, and whether the run ended."""

    path: Path
    project_id: str
    profile: str
    started_at: str
    plan: P
    batches: list[BatchRecord] = field(default_factory=list)
    ended: bool = False
    cancelled: bool = False

    def handled(self) -> set[str]:
        """Users a batch's result names (done, skipped or failed): a resume leaves them alone."""
        seen: set[str] = set()
        for record in self.batches:
            seen.update(record.done or ())
            seen.update(user_id for user_id, _ in record.skipped)
            seen.update(user_id for user_id, _ in record.failed)
        return seen

    def unfinished_batch(self) -> BatchRecord | None:
        """The batch announced last without a result: its answer was lost (reconcile by looking)."""
        last = self.batches[-1] if self.batches else None
        return last if last is not None and not last.finished else None


def journal_dir() -> Path:
    return paths.data_dir() / DIRECTORY


def plan_path(path: Path) -> Path:
    """Where the plan of the journal at `path` is kept."""
    return path.with_name(path.stem + ".plan.json")


class Journal:
    """Appends to one run's journal; every line is on disk (fsync) before `write` returns."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    @classmethod
    def create(cls, plan: JournaledPlan, *, project_id: str, profile: str) -> Journal:
        """A new journal for `plan`, its first line written."""
        folder = journal_dir()
        folder.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        journal = cls(folder / f"{plan.KIND}-{stamp}-{plan.plan_hash.removeprefix('sha256:')[:12]}.jsonl")
        plan_file = plan_path(journal.path)
        with AtomicFile(plan_file) as file:  # the plan's hashed JSON (its hash is in the first line)
            for piece in plan.json_pieces():
                file.write(piece.decode("utf-8"))
        journal.write(
            {
                "type": "plan",
                "kind": plan.KIND,
                "projectId": project_id,
                "profile": profile,
                "startedAt": datetime.now(UTC).isoformat(timespec="seconds"),
                "planHash": plan.plan_hash,
                "count": len(plan.user_ids),
                "planFile": plan_file.name,
            }
        )
        return journal

    def write(self, line: Mapping[str, Any]) -> None:
        text = messages.scrub(json.dumps(line, ensure_ascii=False, sort_keys=True))
        with self._lock, open(self.path, "a", encoding="utf-8") as file:
            file.write(text + "\n")
            file.flush()
            os.fsync(file.fileno())

    def announce(self, index: int, action: str, user_ids: Sequence[str]) -> None:
        self.write({"type": "batch", "index": index, "action": action, "userIds": list(user_ids)})

    def result(
        self,
        index: int,
        done: Sequence[str],
        skipped: Sequence[tuple[str, str]],
        failed: Sequence[tuple[str, str]],
    ) -> None:
        self.write(
            {
                "type": "result",
                "index": index,
                "done": list(done),
                "skipped": [{"userId": u, "reason": r} for u, r in skipped],
                "failed": [{"userId": u, "error": e} for u, e in failed],
                "time": int(time.time()),
            }
        )

    def end(self, *, cancelled: bool) -> None:
        self.write({"type": "end", "cancelled": cancelled, "time": datetime.now(UTC).isoformat()})


@overload
def read(path: Path) -> JournalState[CullPlan]: ...
@overload
def read(path: Path, plan_type: type[P]) -> JournalState[P]: ...
def read(path: Path, plan_type: type[Any] = CullPlan) -> JournalState[Any]:
    """The journal at `path` (a cull's unless `plan_type` says), checked: raises JournalError on
    anything that is not exactly what the console wrote (a damaged line, an edited plan, batches
    out of order, users outside the plan, another kind of plan)."""
    try:
        lines = path.read_bytes().decode("utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise JournalError(
            f"The journal {path} cannot be read ({exc}). Nothing was deleted from it."
        ) from exc
    records = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            if number == len(lines):  # a line torn by a crash mid-write: that request was never sent
                break
            raise JournalError(_damaged(path, f"line {number} is not JSON")) from None
        if not isinstance(record, dict):
            raise JournalError(_damaged(path, f"line {number} is not an object"))
        records.append(record)
    return _state(path, records, plan_type)


def _damaged(path: Path, what: str) -> str:
    return (
        f"The journal {path} is damaged ({what}): it is not resumed and nothing is deleted from it. "
        "Move it aside and plan the cull again."
    )


def _state(path: Path, records: list[dict[str, Any]], plan_type: type[P]) -> JournalState[P]:
    if not records or records[0].get("type") != "plan":
        raise JournalError(_damaged(path, "it does not start with the approved plan"))
    head = records[0]
    kind = head.get("kind", CullPlan.KIND)  # journals from before chosen-user actions: culls
    if kind != plan_type.KIND:
        raise JournalError(
            f"The journal {path} is of a {kind!r} run, not a {plan_type.KIND!r} one; it was not used."
        )
    try:
        plan = plan_type.from_json(head["plan"] if "plan" in head else _plan_file(path, head))
        if "planHash" in head and head["planHash"] != plan.plan_hash:
            raise PlanError(f"its plan file {plan_path(path).name} holds another plan")
        state = JournalState(
            path=path,
            project_id=str(head["projectId"]),
            profile=str(head["profile"]),
            started_at=str(head["startedAt"]),
            plan=plan,
        )
    except (PlanError, KeyError, TypeError) as exc:
        raise JournalError(_damaged(path, f"its plan is not the one approved: {exc}")) from exc
    planned = set(plan.user_ids)
    for record in records[1:]:
        try:
            problem = _apply(state, record, planned)
        except (KeyError, TypeError, ValueError) as exc:
            problem = f"a {record.get('type')} line is incomplete ({exc})"
        if problem:
            raise JournalError(_damaged(path, problem))
    return state


def _plan_file(path: Path, head: dict[str, Any]) -> Any:
    """The plan JSON the journal's first line names (beside the journal)."""
    plan_file = path.with_name(str(head["planFile"]))
    if plan_file != plan_path(path):
        raise PlanError(f"its first line names another plan file ({plan_file.name})")
    try:
        data = json.loads(plan_file.read_bytes())
        return {**data, "planHash": head["planHash"]} if isinstance(data, dict) else data
    except OSError as exc:
        raise PlanError(f"its plan file {plan_file.name} cannot be read ({exc.strerror or exc})") from exc
    except ValueError as exc:
        raise PlanError(f"its plan file {plan_file.name} is not JSON") from exc


def _first_record(path: Path, kind: str) -> dict[str, Any] | None:
    """The first line of type `kind` (the journal's head for "plan"), without reading the rest."""
    with open(path, "rb") as file:
        for line in file:
            try:
                record = json.loads(line)
            except ValueError:
                raise JournalError(_damaged(path, "a line is not JSON")) from None
            if isinstance(record, dict) and record.get("type") == kind:
                return record
    return None


def _ended(path: Path) -> bool:
    """The journal's last line is its "end" (read from the end of the file only)."""
    with open(path, "rb") as file:
        file.seek(0, os.SEEK_END)
        file.seek(max(0, file.tell() - 4096))
        lines = [line for line in file.read().splitlines() if line.strip()]
    try:
        last = json.loads(lines[-1]) if lines else None
    except ValueError:
        return False
    return isinstance(last, dict) and last.get("type") == "end"


def _apply(state: JournalState[Any], record: dict[str, Any], planned: set[str]) -> str:
    """Add one line to `state`; returns what is wrong with it ("" when nothing)."""
    kind = record.get("type")
    if kind == "batch":
        ids = tuple(str(u) for u in record["userIds"])
        if not set(ids) <= planned:
            return f"batch {record['index']} names users outside the plan"
        if state.unfinished_batch() is not None:
            return "a batch was announced before the previous one ended"
        state.batches.append(BatchRecord(int(record["index"]), str(record["action"]), ids))
    elif kind == "result":
        batch = state.unfinished_batch()
        if batch is None or batch.index != int(record["index"]):
            return f"a result for batch {record.get('index')}, which was not announced"
        batch.done = tuple(str(u) for u in record["done"])
        batch.skipped = tuple((str(s["userId"]), str(s["reason"])) for s in record["skipped"])
        batch.failed = tuple((str(f["userId"]), str(f["error"])) for f in record["failed"])
        named = {*batch.done, *(u for u, _ in batch.skipped), *(u for u, _ in batch.failed)}
        if not named <= planned:
            return f"the result of batch {batch.index} names users outside the plan"
        batch.time = int(record.get("time", 0))
    elif kind == "end":
        state.ended, state.cancelled = True, bool(record.get("cancelled"))
    else:
        return f"an unknown line type {kind!r}"
    return ""


@overload
def unfinished(project_id: str) -> Iterator[JournalState[CullPlan] | JournalError]: ...
@overload
def unfinished(project_id: str, plan_type: type[P]) -> Iterator[JournalState[P] | JournalError]: ...
def unfinished(
    project_id: str, plan_type: type[Any] = CullPlan
) -> Iterator[JournalState[Any] | JournalError]:
    """Journals of this project (of culls unless `plan_type` says) whose run did not end (newest
    first); a damaged one as its error."""
    folder = journal_dir()
    if not folder.is_dir():
        return
    for path in sorted(folder.glob(f"{plan_type.KIND}-*.jsonl"), reverse=True):
        try:
            head = _first_record(path, "plan")
            if head is not None and (head.get("projectId") != project_id or _ended(path)):
                continue  # another project's, or a run that ended: its plan is not read
            state = read(path, plan_type)
        except JournalError as exc:
            yield exc
            continue
        if not state.ended and state.project_id == project_id:
            yield state


def disabled_by_console(project_id: str) -> dict[str, int]:
    """User ID -> when the console disabled it (first stage of a two-stage cull), from the journals."""
    disabled: dict[str, int] = {}
    folder = journal_dir()
    if not folder.is_dir():
        return disabled
    for path in sorted(folder.glob("cull-*.jsonl")):
        try:
            head = _first_record(path, "plan")
            if head is None or head.get("projectId") != project_id:
                continue
            first = _first_record(path, "batch")
            if first is None or first.get("action") != "disable":
                continue  # a run that disabled nobody: its plan is not read
            state = read(path)
        except JournalError:
            continue  # a damaged journal proves nothing: its users are not treated as disabled by us
        if state.project_id != project_id:
            continue
        for batch in state.batches:
            if batch.action == "disable" and batch.done:
                disabled.update(dict.fromkeys(batch.done, batch.time))
    return disabled
