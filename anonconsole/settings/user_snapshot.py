"""The local snapshot of a profile's users: the users table's columns in one file, for an instant start.

After a load the users are written, as the table holds them, to the profile's file in the cache dir;
at the next start they are read back (in a worker thread) and shown at once, "as of" the time they
were taken, while a refresh brings them up to date. This module is the file alone: no loading, no Qt.

Format: numpy's own .npz, stored (not compressed): a zip of .npy arrays with a JSON header member.
Measured at 1,000,000 users (`python -m benchmarks.bench_users_snapshot --users 1000000`, 2 shared
cores under load ~2), reading what every format must give before a table exists (texts as Python
strings, the numbers, the search texts): .npz 0.52 s, 189 MB; Arrow IPC 0.41 s, 204 MB, and Parquet
0.90 s, 115 MB (both through pyarrow, a dependency of ~100 MB more); SQLite with a row per user
4.5 s, 173 MB (7.3 s to write); the same arrays as SQLite blobs 0.73 s whole (no checksum of its
own), or as .npz with deflate 1.9 s whole, 75 MB. So .npz: as fast as Arrow to within 0.1 s,
smaller, nothing new to install (numpy is the table's already), no Python object ever unpickled
(object arrays are refused), and a CRC-32 per member from the zip itself. Read whole into a table ready
to show (every field, the index by user ID): 0.8-1.0 s in a worker thread, then `restore` 22 ms on
the UI thread, against the goal of every user shown <= 2 s at the second start. Writing: 1.3 s.

Its content is the table's own: text as UTF-8 joined by NUL (split back by one C call), the search
texts as the table's byte matrix, repeated values (statuses, tenants, roles, custom attributes)
once with an index per row, an email equal to the login ID as a flag (read back as the same string
object, as the loader shares them). The members are read in place from a memory map (np.load would
copy each twice through zipfile's reader: 0.3-0.7 s for 190 MB), each CRC-checked as a whole.

The file is private (0600, in a 0700 directory), holds no key (the table holds none), is written
to a temporary sibling then renamed over (a crash leaves the old file or the new one), and records
its format version, profile, project and when it was taken. A damaged file, one of another format
version, or one of another project is refused with `SnapshotError` and a sentence.
"""

from __future__ import annotations

import codecs
import contextlib
import hashlib
import io
import json
import mmap
import os
import re
import struct
import sys
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from anonconsole.core.haystack import Haystack
from anonconsole.core.records import EMPTY_MAPPING, UserTenant
from anonconsole.core.slices import SLICE
from anonconsole.core.user_table import (
    FIELD_NAMES,
    NUMBER_TYPES,
    PLAIN_REST,
    TableColumns,
    UserTable,
    distinct_objects,
)
from anonconsole.settings import paths

FORMAT = "anonconsole-users"
VERSION = 1
SUFFIX = ".npz"
DIRECTORY = "users"
_HEADER = "header"
_SEPARATOR = "\x00"  # between the values of a text member (one that holds it is stored with lengths)
WRITE_CHUNK = 1 << 20  # bytes handed to the zip at once (its CRC-32 holds the GIL ~1 ms a megabyte)
ROOM = 50  # rows read back get 1/ROOM more room, so the first new users do not regrow every column


class SnapshotError(Exception):
    """The snapshot cannot be used; `sentence` says why, for the status bar or a log."""

    def __init__(self, sentence: str) -> None:
        super().__init__(sentence)
        self.sentence = sentence


@dataclass(frozen=True)
class SnapshotInfo:
    """What a snapshot's header says.

    Attributes:
        profile: the profile it was taken for.
        project_id: the project its users belong to.
        taken_at: when the users were read (epoch seconds).
        users: how many rows it holds.
    """

    profile: str
    project_id: str
    taken_at: float
    users: int


def snapshot_path(profile: str) -> Path:
    """Where the snapshot of `profile` is kept: the cache dir, one file per profile name."""
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", profile).strip("-")[:40] or "profile"
    digest = hashlib.sha256(profile.encode("utf-8")).hexdigest()[:12]
    return paths.cache_dir() / DIRECTORY / f"{slug}-{digest}{SUFFIX}"


def remove_snapshot(profile: str) -> bool:
    """Remove the snapshot of `profile` (and any half-written sibling); whether there was one."""
    path = snapshot_path(profile)
    for leftover in path.parent.glob(f".{path.name}.*.tmp"):
        leftover.unlink(missing_ok=True)
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True


def write_snapshot(
    table: UserTable,
    path: Path,
    *,
    profile: str,
    project_id: str,
    taken_at: float,
    wanted: Callable[[], bool] = lambda: True,
) -> bool:
    """Write the table's rows to `path` at once (0600, atomic). Blocking: run it in a worker thread.

    Returns False, leaving `path` as it was, when the table changed while it was read (then a later
    attempt writes it), or when `wanted()` no longer says so once it is written (the profile's
    snapshot was turned off or removed meanwhile: nothing is put back).
    """
    version = table.version
    columns = table.columns()  # views: what they hold is read while the file is written
    arrays = _encode(columns)
    arrays[_HEADER] = _json_member(
        {
            "format": FORMAT,
            "version": VERSION,
            "profile": profile,
            "project_id": project_id,
            "taken_at": float(taken_at),
            "users": columns.size,
            "tenant_id": columns.tenant_id,
        }
    )
    return _write_atomically(path, arrays, keep=lambda: table.version == version and wanted())


def read_snapshot(path: Path, *, project_id: str) -> tuple[TableColumns, float]:
    """The rows of the snapshot at `path`, ready for `UserTable.restore`, and when they were taken.

    Blocking (~0.6 s at 1,000,000 users): run it in a worker thread. Raises SnapshotError when
    there is none, it is damaged or of another format version, or of another project than
    `project_id`.
    """
    with _opened(path) as (header, members):
        if header["project_id"] != project_id:
            raise SnapshotError(
                f"The users snapshot {path} is of project {header['project_id']}, not "
                f"{project_id}: it is not used, and the users are loaded again."
            )
        columns = _decode(members, header)
    return columns, float(header["taken_at"])


def snapshot_info(path: Path) -> SnapshotInfo:
    """The header of the snapshot at `path` alone (cheap: its arrays are not read)."""
    with _opened(path, only=(_HEADER,)) as (header, _members_read):
        pass
    return SnapshotInfo(header["profile"], header["project_id"], float(header["taken_at"]), header["users"])


@contextlib.contextmanager
def _opened(path: Path, only: Sequence[str] = ()) -> Iterator[tuple[dict[str, Any], dict[str, np.ndarray]]]:
    """The checked header and the members (`_members`) of the snapshot at `path`; whatever goes
    wrong reading them, in the block too, is a SnapshotError saying so."""
    try:
        with _members(path, only) as members:
            yield _header(path, members), members
    except SnapshotError:
        raise
    except FileNotFoundError:
        raise SnapshotError(f"There is no users snapshot at {path}.") from None
    except _DAMAGE as exc:
        raise _damaged(path, exc) from exc


# ---- writing --------------------------------------------------------------------------------------


def _encode(columns: TableColumns) -> dict[str, np.ndarray]:
    """The arrays of the file: each field as text or indexes into its distinct values."""
    size = columns.size
    fields = {name: columns.fields[name][:size] for name in FIELD_NAMES}
    arrays: dict[str, np.ndarray] = {}
    arrays.update(_text("user_id", _listed(fields["user_id"])))
    logins = _listed(fields["login_ids"])
    multi = np.fromiter((type(ids) is not str for ids in logins), np.bool_, size)
    arrays["login_multi"] = multi
    arrays.update(_text("login_ids", [ids if type(ids) is str else json.dumps(list(ids)) for ids in logins]))
    emails = _listed(fields["email"])
    same = np.fromiter((e == ids for e, ids in zip(emails, logins, strict=True)), np.bool_, size)
    arrays["email_is_login"] = same
    arrays.update(_text("email", [e for e, s in zip(emails, same.tolist(), strict=True) if not s]))
    arrays.update(_text("name", _listed(fields["name"])))
    arrays.update(_text("phone", _listed(fields["phone"])))
    statuses, arrays["status_index"] = _indexes(_listed(fields["status"]))
    arrays["statuses"] = _json_member(statuses)
    tenants, arrays["tenants_index"] = distinct_objects(fields["tenants"])
    arrays["tenants"] = _json_member(
        [[[t.tenant_id, t.tenant_name, list(t.role_names)] for t in members] for members in tenants]
    )
    rests, arrays["rest_index"] = distinct_objects(fields["rest"])
    arrays["rest_plain"] = np.fromiter((r is PLAIN_REST for r in rests), np.bool_, len(rests))
    arrays.update(_text("given_name", [r[0] for r in rests]))
    arrays.update(_text("middle_name", [r[1] for r in rests]))
    arrays.update(_text("family_name", [r[2] for r in rests]))
    arrays.update(_text("picture", [r[4] for r in rests]))
    roles, arrays["roles_index"] = _indexes([json.dumps(list(r[3])) if r[3] else "[]" for r in rests])
    arrays["roles"] = _json_member(roles)
    custom, arrays["custom_index"] = _indexes(
        [json.dumps(dict(r[5]), sort_keys=True) if r[5] else "{}" for r in rests]
    )
    arrays["custom"] = _json_member(custom)
    for name in NUMBER_TYPES:
        arrays[f"number.{name}"] = columns.numbers[name][:size]
    arrays["haystack"] = columns.haystack.matrix()
    return arrays


def _listed(column: np.ndarray) -> list[Any]:
    """`column.tolist()` a slice at a time: one C call over 1,000,000 rows holds the GIL ~20 ms."""
    values: list[Any] = []
    for start in range(0, len(column), SLICE):
        values += column[start : start + SLICE].tolist()
    return values


def _text(name: str, values: Sequence[str]) -> dict[str, np.ndarray]:
    """A text member: the values as UTF-8 joined by NUL; with their lengths when one holds a NUL.

    Joined and encoded a slice at a time: the worker thread never holds the GIL for long (one join
    of 1,000,000 IDs is ~60 ms in which the window could not paint)."""
    pieces: list[bytes] = []
    separators = 0
    for start in range(0, len(values), SLICE):
        joined = _SEPARATOR.join(values[start : start + SLICE])
        separators += joined.count(_SEPARATOR)
        pieces.append(joined.encode("utf-8"))
    members = {f"{name}.text": np.frombuffer(_SEPARATOR.encode().join(pieces), dtype=np.uint8)}
    if separators != max(0, len(values) - len(pieces)):
        members[f"{name}.lengths"] = np.fromiter((len(v) for v in values), np.int64, len(values))
    members[f"{name}.count"] = np.array([len(values)], dtype=np.int64)
    return members


def _indexes(values: Sequence[str]) -> tuple[list[str], np.ndarray]:
    """The distinct values (first seen first) and each value's position among them."""
    positions: dict[str, int] = {}
    index = np.fromiter((positions.setdefault(v, len(positions)) for v in values), np.int32, len(values))
    return list(positions), index


def _json_member(value: Any) -> np.ndarray:
    return np.frombuffer(json.dumps(value).encode("utf-8"), dtype=np.uint8)


def _write_atomically(path: Path, arrays: Mapping[str, np.ndarray], *, keep: Callable[[], bool]) -> bool:
    """`arrays` as `path` at once: a 0600 sibling written, fsync'ed and renamed over, if `keep()`
    still says so once it is written (else removed: False)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            # What np.savez writes (a stored zip of .npy members), without pickles.
            with zipfile.ZipFile(handle, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
                for name, array in arrays.items():
                    with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
                        _write_npy(member, array)
            handle.flush()
            os.fsync(handle.fileno())
        if not keep():
            Path(temporary).unlink()
            return False
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return True


def _write_npy(member: IO[bytes], array: np.ndarray) -> None:
    """`array` as a .npy file, its data a megabyte at a time: numpy's `write_array` hands the zip
    16 MB at once, whose CRC-32 then holds the GIL ~40 ms (the window could not paint)."""
    data = np.ascontiguousarray(array)
    if data.dtype.hasobject:
        raise ValueError("a snapshot holds no Python objects")
    np.lib.format.write_array_header_1_0(member, np.lib.format.header_data_from_array_1_0(data))
    raw = data.data.cast("B") if data.size else memoryview(b"")
    for start in range(0, len(raw), WRITE_CHUNK):
        member.write(raw[start : start + WRITE_CHUNK])


# ---- reading --------------------------------------------------------------------------------------


@contextlib.contextmanager
def _members(path: Path, only: Sequence[str] = ()) -> Iterator[dict[str, np.ndarray]]:
    """The file's arrays (all, or those named `only`), read in place from a memory map.

    np.load would copy each member twice through zipfile's reader (~0.7 s for 190 MB); here each
    stored member is a view of the map, its CRC-32 (the zip's own) checked in one call. The arrays
    are views: use them inside the block only (what outlives it is decoded or copied).
    """
    with open(path, "rb") as handle:
        with zipfile.ZipFile(handle) as archive:
            infos = [i for i in archive.infolist() if not only or i.filename[:-4] in only]
        size = os.fstat(handle.fileno()).st_size
        data = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) if size else None
    try:
        members = {info.filename.removesuffix(".npy"): _member(data, info) for info in infos}
        yield members
    finally:
        members = {}
        if data is not None:
            with contextlib.suppress(BufferError):  # a view still held: the map goes with it
                data.close()


def _member(data: mmap.mmap | None, info: zipfile.ZipInfo) -> np.ndarray:
    """One stored .npy member of the zip, as a view of the map, after its CRC-32 is checked."""
    if data is None or info.compress_type != zipfile.ZIP_STORED:
        raise ValueError(f"{info.filename} is not a stored member")
    local = data[info.header_offset : info.header_offset + 30]
    if len(local) != 30 or local[:4] != b"PK\x03\x04":
        raise ValueError(f"{info.filename} has no local header")
    name_length, extra_length = struct.unpack("<HH", local[26:30])
    start = info.header_offset + 30 + name_length + extra_length
    raw = memoryview(data)[start : start + info.file_size]
    if len(raw) != info.file_size or zlib.crc32(raw) != info.CRC:
        raise ValueError(f"{info.filename}: bad CRC-32")
    head = io.BytesIO(raw[: min(len(raw), 65536)])
    version = np.lib.format.read_magic(head)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(head)
    elif version == (2, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(head)
    else:
        raise ValueError(f"{info.filename} is of .npy version {version}")
    if dtype.hasobject:
        raise ValueError(f"{info.filename} holds Python objects")
    count = int(np.prod(shape))
    array = np.frombuffer(raw, dtype=dtype, count=count, offset=head.tell())
    return array.reshape(shape, order="F" if fortran else "C")


def _header(path: Path, members: Any) -> dict[str, Any]:
    """The checked header, or SnapshotError for another format or version."""
    header = json.loads(members[_HEADER].tobytes().decode("utf-8"))
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise SnapshotError(f"{path} is not a users snapshot of AnonConsole: it is not used.")
    header = dict(header)
    if header.get("version") != VERSION:
        raise SnapshotError(
            f"The users snapshot {path} was written by another version of AnonConsole (format "
            f"{header.get('version')}, this one reads {VERSION}): it is not used, and the users are "
            "loaded again."
        )
    for key, kind in (("profile", str), ("project_id", str), ("users", int), ("tenant_id", str)):
        if not isinstance(header.get(key), kind):
            raise ValueError(f"header without {key}")
    if not isinstance(header.get("taken_at"), int | float) or header["users"] < 0:
        raise ValueError("header without a time or a count")
    return header


def _decode(members: Any, header: Mapping[str, Any]) -> TableColumns:
    """The table's columns from the file's arrays, each checked against the number of rows."""
    size: int = header["users"]
    capacity = size + size // ROOM

    def column(values: Sequence[Any] | np.ndarray) -> np.ndarray:
        if len(values) != size:
            raise ValueError(f"a column of {len(values)} rows, not {size}")
        out = np.empty(capacity, dtype=object)
        for start in range(0, size, SLICE):  # a slice at a time: the GIL is let go between two
            part = values[start : start + SLICE]
            out[start : start + len(part)] = part if isinstance(part, np.ndarray) else _objects(part)
        return out

    def index(name: str, distinct: int) -> np.ndarray:
        positions: np.ndarray = members[name]
        if positions.shape != (size,) or (size and not 0 <= positions.min() <= positions.max() < distinct):
            raise ValueError(f"{name} does not fit")
        return positions

    user_ids = _read_text(members, "user_id")
    logins: list[Any] = _read_text(members, "login_ids")
    multi = members["login_multi"]
    for row in np.flatnonzero(multi).tolist():
        logins[row] = tuple(json.loads(logins[row]))
    same = members["email_is_login"]
    emails = _read_text(members, "email")
    if len(logins) != size or same.shape != (size,) or multi.shape != (size,):
        raise ValueError("login IDs do not fit")
    email_column = column(logins)  # the same objects as the login IDs, as the loader shares them
    if len(emails) != size - int(np.count_nonzero(same)):
        raise ValueError("emails do not fit")
    email_column[:size][~same] = np.fromiter(emails, object, len(emails))

    statuses = [str(s) for s in json.loads(members["statuses"].tobytes())]
    status_objects = np.fromiter((_intern(s) for s in statuses), object, len(statuses))
    tenants = [
        tuple(UserTenant(_intern(t), _intern(n), tuple(_intern(r) for r in roles)) for t, n, roles in group)
        for group in json.loads(members["tenants"].tobytes())
    ]
    fields = {
        "user_id": column(user_ids),
        "login_ids": column(logins),
        "name": column(_read_text(members, "name")),
        "email": email_column,
        "phone": column(_read_text(members, "phone")),
        "status": column(status_objects[index("status_index", len(statuses))]),
        "tenants": column(_objects(tenants)[index("tenants_index", len(tenants))]),
        "rest": column(_rests(members)[index("rest_index", int(members["given_name.count"][0]))]),
    }
    numbers = {}
    for name, kind in NUMBER_TYPES.items():
        values = members[f"number.{name}"]
        if values.shape != (size,) or values.dtype != np.dtype(kind):
            raise ValueError(f"{name} does not fit")
        numbers[name] = np.concatenate([values, np.zeros(capacity - size, dtype=values.dtype)])
    matrix = members["haystack"]
    if matrix.ndim != 2 or matrix.shape[1] != size or matrix.dtype != np.uint8:
        raise ValueError("the search texts do not fit")
    return TableColumns(
        size=size,
        tenant_id=header["tenant_id"],
        fields=fields,
        numbers=numbers,
        haystack=Haystack.of_matrix(matrix, capacity),
    )


def _read_text(members: Any, name: str) -> list[str]:
    """The values of a text member (see `_text`)."""
    count = int(members[f"{name}.count"][0])
    raw: np.ndarray = members[f"{name}.text"]
    if len(raw) == max(0, count - 1):  # separators alone: every value is empty (phones, say)
        values = [""] * count
    elif f"{name}.lengths" in members:  # a value holds a NUL: cut by lengths (slower, and rare)
        text = raw.tobytes().decode("utf-8")
        ends = np.cumsum(members[f"{name}.lengths"]) + np.arange(count)
        starts = np.concatenate([[0], ends[:-1] + 1])
        values = [text[a:b] for a, b in zip(starts.tolist(), ends.tolist(), strict=True)]
    else:
        values = _split(raw) if count else []
    if len(values) != count:
        raise ValueError(f"{name} holds {len(values)} values, not {count}")
    return values


def _split(raw: np.ndarray) -> list[str]:
    """The NUL-separated UTF-8 values of `raw`, decoded and split a slice at a time (cut at a NUL,
    which UTF-8 uses for U+0000 alone): one split of 1,000,000 values holds the GIL ~80 ms."""
    ends = np.flatnonzero(raw == 0)[SLICE - 1 :: SLICE]  # a NUL after every SLICE values
    data = raw.data  # a memoryview of the map: decoded in place, never copied whole
    values: list[str] = []
    start = 0
    for end in [*ends.tolist(), len(raw)]:
        values += codecs.utf_8_decode(data[start:end], "strict", True)[0].split(_SEPARATOR)
        start = end + 1
    return values


def _rests(members: Any) -> np.ndarray:
    """The distinct `rest` tuples (the one most rows share is the table's own `PLAIN_REST`)."""
    given, middle, family, picture = (
        _read_text(members, name) for name in ("given_name", "middle_name", "family_name", "picture")
    )
    roles = [tuple(_intern(r) for r in json.loads(text)) for text in json.loads(members["roles"].tobytes())]
    custom = [json.loads(text) or EMPTY_MAPPING for text in json.loads(members["custom"].tobytes())]
    count = len(given)
    role_index = members["roles_index"]
    custom_index = members["custom_index"]
    if not len(middle) == len(family) == len(picture) == len(role_index) == len(custom_index) == count:
        raise ValueError("the other fields do not fit")
    if count and not (role_index.max() < len(roles) and custom_index.max() < len(custom)):
        raise ValueError("the roles or custom attributes do not fit")
    role_objects, custom_objects = _objects(roles), _objects(custom)
    rests = np.empty(count, dtype=object)
    for start in range(0, count, SLICE):  # a slice at a time: one zip of 1,000,000 holds the GIL ~200 ms
        cut = slice(start, start + SLICE)
        rests[cut] = _objects(
            list(
                zip(
                    given[cut],
                    middle[cut],
                    family[cut],
                    role_objects[role_index[cut]].tolist(),
                    picture[cut],
                    custom_objects[custom_index[cut]].tolist(),
                    strict=True,
                )
            )
        )
    plain = members["rest_plain"]
    if plain.shape != (count,):
        raise ValueError("the other fields do not fit")
    rests[plain] = _objects([PLAIN_REST] * int(np.count_nonzero(plain)))
    return rests


def _objects(values: Sequence[Any]) -> np.ndarray:
    """An object array of `values`, tuples kept whole (one element each)."""
    return np.fromiter(values, object, len(values))


def _intern(text: str) -> str:
    """Repeated strings (statuses, tenant IDs and names, roles) shared, as `records` shares them."""
    return sys.intern(str(text))


# What numpy, zipfile and json raise on a file that is not (or no longer) a whole snapshot.
_DAMAGE = (
    OSError,
    ValueError,
    KeyError,
    TypeError,
    IndexError,
    AttributeError,
    EOFError,
    zipfile.BadZipFile,
)


def _damaged(path: Path, exc: BaseException) -> SnapshotError:
    return SnapshotError(
        f"The users snapshot {path} is damaged ({type(exc).__name__}: {exc}): it is not used, and the "
        "users are loaded again."
    )
