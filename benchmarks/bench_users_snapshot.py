"""The local users snapshot at N users (default 1,000,000): write, read, size, beside other formats.

Goal (issue "A million users"): the second start shows every user in <= 2 s, so reading the
snapshot back into a table ready to show must take well under that. The table is built as the
loader builds it (`bench_users_table.build`). Figures, each the best of 3:
- the chosen format (`settings.user_snapshot`: numpy's .npz, stored): write, size, read of the
  columns the other formats are read into (below), then the whole read into a table's columns (every
  field, the index by user ID) and the restore into the table;
- the same arrays in other containers: .npz with deflate, SQLite with a blob per array;
- the natural use of the others: SQLite with a row per user, Arrow IPC and Parquet (pyarrow, when
  importable) with a column per field, each read back into the same columns (strings as Python
  objects, numbers, the search texts) — the part every format has to do before a table exists.

Run alone: `python -m benchmarks.bench_users_snapshot --users 1000000`.
"""

from __future__ import annotations

import argparse
import gc
import json
import sqlite3
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from anonconsole.core.user_table import TableColumns, UserTable
from anonconsole.settings import user_snapshot
from benchmarks.bench_users_table import build

PROJECT = "P2Bench00000000000000000000"
GOAL_S = 2.0

TEXT_FIELDS = ("user_id", "login_ids", "name", "email", "phone", "status")
NUMBERS = ("kind", "status", "test", "created", "verified_email", "verified_phone", "has_password")
MORE_NUMBERS = ("last_sign_in", "expires", "gone")


def best(action: Callable[[], Any], runs: int = 3) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = action()
        times.append(time.perf_counter() - started)
    return min(times), result


def size_of(path: Path) -> float:
    return path.stat().st_size / 1e6


def line(name: str, write_s: float, path: Path, read_s: float) -> None:
    print(f"{name:<25} write {write_s:5.2f} s   size {size_of(path):5.0f} MB   read {read_s:5.2f} s")


def header(columns: TableColumns) -> dict[str, Any]:
    return {
        "format": user_snapshot.FORMAT,
        "version": user_snapshot.VERSION,
        "profile": "bench",
        "project_id": PROJECT,
        "taken_at": 0.0,
        "users": columns.size,
        "tenant_id": columns.tenant_id,
    }


def chosen(table: UserTable, directory: Path) -> None:
    path = directory / "users.npz"
    write_s, _ = best(
        lambda: user_snapshot.write_snapshot(table, path, profile="bench", project_id=PROJECT, taken_at=0)
    )
    read_s, (columns, _) = best(lambda: user_snapshot.read_snapshot(path, project_id=PROJECT))

    def columns_only() -> int:  # what the other formats' figures cover: texts, numbers, search texts
        with user_snapshot._members(path) as members:
            texts = [user_snapshot._read_text(members, name) for name in ("user_id", "login_ids", "name")]
            texts += [user_snapshot._read_text(members, name) for name in ("email", "phone")]
            objects = [np.fromiter(values, object, len(values)) for values in texts]
            numbers = [members[f"number.{name}"].copy() for name in (*NUMBERS, *MORE_NUMBERS)]
            grid = members["haystack"].copy()
        return len(objects) + len(numbers) + len(grid)

    columns_s, _ = best(columns_only)
    target = UserTable(table.policy, now=lambda: 0)
    started = time.perf_counter()
    target.restore(columns)
    restore_ms = (time.perf_counter() - started) * 1000
    line("chosen: .npz stored", write_s, path, columns_s)
    print(
        f"  ... read into a table: {read_s:5.2f} s (every column, the index by user ID), restore "
        f"{restore_ms:4.0f} ms (UI thread): {read_s + restore_ms / 1000:5.2f} s (goal: every user "
        f"shown <= {GOAL_S:.0f} s at the second start)"
    )


def same_arrays_elsewhere(table: UserTable, directory: Path) -> None:
    """The chosen encoding in other containers: what the container alone costs."""
    columns = table.columns()
    arrays = user_snapshot._encode(columns)
    arrays["header"] = user_snapshot._json_member(header(columns))

    deflated = directory / "deflated.npz"
    write_s, _ = best(lambda: np.savez_compressed(deflated, **arrays), runs=1)

    def read_deflated() -> TableColumns:
        with np.load(deflated, allow_pickle=False) as members:
            return user_snapshot._decode({name: members[name] for name in members.files}, header(columns))

    read_s, _ = best(read_deflated)
    line("same arrays, .npz deflate", write_s, deflated, read_s)

    blobs = directory / "blobs.sqlite"

    def write_blobs() -> None:
        blobs.unlink(missing_ok=True)
        with sqlite3.connect(blobs) as db:
            db.execute("CREATE TABLE members (name TEXT PRIMARY KEY, dtype TEXT, shape TEXT, data BLOB)")
            db.executemany(
                "INSERT INTO members VALUES (?, ?, ?, ?)",
                [
                    (name, a.dtype.str, json.dumps(a.shape), np.ascontiguousarray(a).tobytes())
                    for name, a in arrays.items()
                ],
            )
        db.close()

    def read_blobs() -> TableColumns:
        db = sqlite3.connect(blobs)
        members = {
            name: np.frombuffer(data, dtype=np.dtype(dtype)).reshape(json.loads(shape))
            for name, dtype, shape, data in db.execute("SELECT name, dtype, shape, data FROM members")
        }
        db.close()
        return user_snapshot._decode(members, header(columns))

    write_s, _ = best(write_blobs, runs=1)
    read_s, _ = best(read_blobs)
    line("same arrays, SQLite blobs", write_s, blobs, read_s)


def as_lists(columns: TableColumns) -> dict[str, Any]:
    """The fields every natural format stores: texts, numbers, the search texts per row."""
    size = columns.size
    texts = {
        name: [v if type(v) is str else json.dumps(list(v)) for v in columns.fields[name][:size].tolist()]
        for name in TEXT_FIELDS
    }
    numbers = {name: columns.numbers[name][:size] for name in (*NUMBERS, *MORE_NUMBERS)}
    return {"texts": texts, "numbers": numbers, "haystack": columns.haystack.matrix()}


def sqlite_rows(table: UserTable, directory: Path) -> None:
    """A row per user, as a database is used: read back into the table's columns."""
    data = as_lists(table.columns())
    path = directory / "rows.sqlite"
    names = [*(f"t_{n}" for n in TEXT_FIELDS), *(f"n_{n}" for n in (*NUMBERS, *MORE_NUMBERS))]
    matrix = data["haystack"]

    def write() -> None:
        path.unlink(missing_ok=True)
        with sqlite3.connect(path) as db:
            db.execute(f"CREATE TABLE users ({', '.join(names)}, haystack BLOB)")
            rows = zip(
                *(data["texts"][n] for n in TEXT_FIELDS),
                *(data["numbers"][n].tolist() for n in (*NUMBERS, *MORE_NUMBERS)),
                (bytes(matrix[:, r]).rstrip(b"\0") for r in range(matrix.shape[1])),
                strict=True,
            )
            db.executemany(f"INSERT INTO users VALUES ({', '.join('?' * (len(names) + 1))})", rows)
        db.close()

    def read() -> int:
        db = sqlite3.connect(path)
        rows = db.execute("SELECT * FROM users ORDER BY rowid").fetchall()
        db.close()
        values = list(zip(*rows, strict=True))
        objects = [np.fromiter(values[i], object, len(rows)) for i in range(len(TEXT_FIELDS))]
        numbers = [np.array(values[i]) for i in range(len(TEXT_FIELDS), len(names))]
        hay = np.array(values[-1], dtype=bytes)  # then transposed into the search matrix
        width = hay.dtype.itemsize
        grid = np.zeros((width, len(rows)), dtype=np.uint8)
        grid[:, :] = hay.view(np.uint8).reshape(len(rows), width).T
        return len(objects) + len(numbers)

    write_s, _ = best(write, runs=1)
    read_s, _ = best(read)
    line("SQLite, a row per user", write_s, path, read_s)


def arrow(table: UserTable, directory: Path) -> None:
    """Arrow IPC and Parquet, a column per field (the search texts a column per character)."""
    try:
        import pyarrow as pa
        import pyarrow.feather as feather
        import pyarrow.parquet as parquet
    except ImportError:
        print("Arrow IPC, Parquet        (pyarrow is not installed: not measured)")
        return
    data = as_lists(table.columns())
    matrix = data["haystack"]
    columns = {
        **{f"t_{n}": pa.array(v, type=pa.string()) for n, v in data["texts"].items()},
        **{f"n_{n}": pa.array(v) for n, v in data["numbers"].items()},
        **{f"h{p}": pa.array(matrix[p]) for p in range(matrix.shape[0])},
    }
    arrow_table = pa.table(columns)

    def back(read_table: Any) -> int:
        texts = [read_table.column(f"t_{n}").to_numpy(zero_copy_only=False) for n in TEXT_FIELDS]
        numbers = [read_table.column(f"n_{n}").to_numpy() for n in (*NUMBERS, *MORE_NUMBERS)]
        grid = np.stack([read_table.column(f"h{p}").to_numpy() for p in range(matrix.shape[0])])
        return len(texts) + len(numbers) + grid.shape[0]

    for name, path, write, read in (
        (
            "Arrow IPC (Feather)",
            directory / "users.arrow",
            lambda p: feather.write_feather(arrow_table, p, compression="uncompressed"),
            lambda p: feather.read_table(p, memory_map=True),
        ),
        (
            "Parquet (snappy)",
            directory / "users.parquet",
            lambda p: parquet.write_table(arrow_table, p),
            lambda p: parquet.read_table(p),
        ),
    ):
        write_s, _ = best(lambda path=path, write=write: write(path), runs=1)
        read_s, _ = best(lambda path=path, read=read: back(read(path)))
        line(name, write_s, path, read_s)


def run(users: int | None = None) -> None:
    n = users or 1_000_000
    table, seconds, _ = build(n)
    gc.collect()
    gc.disable()  # as in the console, where a timer on the UI thread collects (runtime.gc_policy)
    print(f"users                     {n:,} (table built in {seconds:.1f} s)")
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        chosen(table, directory)
        same_arrays_elsewhere(table, directory)
        sqlite_rows(table, directory)
        arrow(table, directory)
    gc.enable()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_users_snapshot", description=__doc__)
    parser.add_argument("--users", type=int, default=None)
    run(parser.parse_args().users)
