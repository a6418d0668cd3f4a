# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False, cdivision=True
"""The columnar decoder's executor: runs a compiled plan (msb.avro.plan) over Avro datums.

This file is Cython in pure-Python mode: ``pip install`` compiles it to a C extension (setup.py),
which is what makes the broker's hot path fast; without a compiler the same file runs as plain
Python (slowly) and gives the same values, which the tests check both ways.

Every value of a datum is read into a typed column buffer or skipped by the program; every read
is bounds-checked, union and enum indices are range-checked, array counts are bounded by the bytes
left, projected strings are checked to be UTF-8. A datum that fails leaves no trace: the rows and
items it began are rolled back, so one bad packet is one error and nothing else.
"""

from __future__ import annotations

try:
    import cython
except ImportError:  # Cython not installed: the plain-Python run of this module
    from msb.avro import _nocython as cython

import numpy as np

if cython.compiled:
    from cython.cimports.libc.string import memcpy
else:
    import struct

# Instruction layout: one int64 row per instruction.
A_OP = cython.declare(cython.int, 0)
A_READER = cython.declare(cython.int, 1)  # the writer's type (R_*)
A_STORAGE = cython.declare(cython.int, 2)  # where a read goes (S_*)
A_INDEX = cython.declare(cython.int, 3)  # column index in that storage; a branch's body start
A_VALID = cython.declare(cython.int, 4)  # the column's validity row
A_SIZE = cython.declare(cython.int, 5)  # fixed size; enum symbols; union branches; array item min bytes
A_NULL = cython.declare(cython.int, 6)  # the null branch of an optional value
A_END = cython.declare(cython.int, 7)  # end of a body (union, branch, array, map)
A_LEVEL = cython.declare(cython.int, 8)  # the table an array's items go to (0: skipped)
WIDTH = cython.declare(cython.int, 9)

OP_SKIP = cython.declare(cython.int, 1)
OP_READ = cython.declare(cython.int, 2)
OP_OPT_SKIP = cython.declare(cython.int, 3)  # [null, T] union around a skip
OP_OPT_READ = cython.declare(cython.int, 4)  # [null, T] union around a read
OP_UNION = cython.declare(cython.int, 5)  # followed by one OP_BRANCH per branch
OP_BRANCH = cython.declare(cython.int, 6)
OP_ARRAY = cython.declare(cython.int, 7)
OP_MAP = cython.declare(cython.int, 8)
OP_MARK = cython.declare(cython.int, 9)  # sets a validity slot (a list item that is not null)

R_NULL = cython.declare(cython.int, 0)
R_BOOL = cython.declare(cython.int, 1)
R_INT = cython.declare(cython.int, 2)
R_LONG = cython.declare(cython.int, 3)
R_FLOAT = cython.declare(cython.int, 4)
R_DOUBLE = cython.declare(cython.int, 5)
R_STRING = cython.declare(cython.int, 6)
R_BYTES = cython.declare(cython.int, 7)
R_FIXED = cython.declare(cython.int, 8)
R_ENUM = cython.declare(cython.int, 9)

S_F64 = cython.declare(cython.int, 0)
S_F32 = cython.declare(cython.int, 1)
S_I64 = cython.declare(cython.int, 2)
S_I32 = cython.declare(cython.int, 3)
S_B8 = cython.declare(cython.int, 4)
S_VAR = cython.declare(cython.int, 5)
N_STORAGE = cython.declare(cython.int, 6)

# Zero-size array items (e.g. an array of nulls) take no bytes, so their counts cannot be checked
# against the bytes left: at most this many per datum.
MAX_EMPTY_ITEMS = cython.declare(cython.Py_ssize_t, 1 << 20)
INT32_MIN = cython.declare(cython.longlong, -(1 << 31))
INT32_MAX = cython.declare(cython.longlong, (1 << 31) - 1)

_DTYPES = (np.float64, np.float32, np.int64, np.int32, np.uint8)


class DatumError(ValueError):
    """A datum that does not match its writer schema; the text says where and why."""


@cython.cclass
class Table:
    """Typed buffers, one row per record (or list item) holding its columns side by side (a datum's
    values are written close together), for one level of a projection.

    Validity starts at 0 (null) for every row, so a column the datum never reaches (a null branch,
    a field the writer schema lacks) is null with no instruction spent on it."""

    f64: cython.double[:, ::1]
    f32: cython.float[:, ::1]
    i64: cython.longlong[:, ::1]
    i32: cython.int[:, ::1]
    b8: cython.uchar[:, ::1]
    valid: cython.uchar[:, ::1]
    vstart: cython.longlong[:, ::1]
    vlen: cython.longlong[:, ::1]
    n: cython.Py_ssize_t
    cap: cython.Py_ssize_t
    counts: list
    arrays: list

    def __init__(self, counts: list, cap: int) -> None:
        self.counts = list(counts)
        self.n = 0
        self.cap = 0
        self.arrays = []
        self._allocate(max(int(cap), 1))

    def _allocate(self, cap: int) -> None:
        c = self.counts
        nvalid = sum(c)
        old = self.arrays
        new = [np.zeros((cap, c[s]), dtype=_DTYPES[s]) for s in range(5)]
        new += [np.zeros((cap, nvalid), dtype=np.uint8), np.zeros((cap, c[S_VAR]), dtype=np.int64),
                np.zeros((cap, c[S_VAR]), dtype=np.int64)]
        if old:
            for a, b in zip(old, new, strict=True):
                b[: self.cap] = a[: self.cap]
        self.arrays = new
        self.f64, self.f32, self.i64, self.i32, self.b8 = new[0], new[1], new[2], new[3], new[4]
        self.valid, self.vstart, self.vlen = new[5], new[6], new[7]
        self.cap = cap

    @cython.ccall
    def grow(self) -> cython.void:
        self._allocate(self.cap * 2)

    @cython.cfunc
    def clear(self, first: cython.Py_ssize_t, stop: cython.Py_ssize_t) -> cython.void:
        """Rows [first, stop) back to null (a failed datum's partial writes)."""
        r: cython.Py_ssize_t
        k: cython.Py_ssize_t
        for r in range(first, stop):
            for k in range(self.valid.shape[1]):
                self.valid[r, k] = 0
            for k in range(self.vlen.shape[1]):
                self.vlen[r, k] = 0

    def rows(self) -> int:
        return self.n

    def export(self) -> list:
        """[f64, f32, i64, i32, b8, valid, vstart, vlen] numpy arrays, column-major views (``[k]`` is
        column k) trimmed to the rows used."""
        return [a[: self.n].T for a in self.arrays]


@cython.cclass
class Executor:
    """Runs plans over datums into one set of tables (one per projection level) for a batch."""

    buf: cython.const[cython.uchar][::1]
    pos: cython.Py_ssize_t
    end: cython.Py_ssize_t
    prog: cython.longlong[:, ::1]
    program: object
    tables: list
    top: Table
    vdata: cython.uchar[::1]
    vused: cython.Py_ssize_t
    empty_budget: cython.Py_ssize_t
    vbuffer: object

    def __init__(self, level_counts: list, rows: int) -> None:
        self.tables = [Table(level_counts[0], rows)]
        self.tables += [Table(c, 16 * max(rows, 1)) for c in level_counts[1:]]
        self.top = self.tables[0]
        self.vbuffer = np.zeros(1 << 16, dtype=np.uint8)
        self.vdata = self.vbuffer
        self.vused = 0
        self.program = None

    def table(self, level: int) -> Table:
        return self.tables[level]

    def var_data(self) -> np.ndarray:
        return self.vbuffer[: self.vused]

    # ------------------------------------------------------------------ one datum

    def record(self, program: object, data: object, start: cython.Py_ssize_t, end: cython.Py_ssize_t) -> None:
        """Decodes the datum ``data[start:end]`` into the next row; raises DatumError and leaves
        every table as it was if the datum is corrupt or does not end where it should."""
        if program is not self.program:
            self.prog = program
            self.program = program
        if cython.compiled:
            self.buf = data
        else:
            self.buf = memoryview(data).cast("B")  # indexing gives Python ints, as the C code reads bytes
        if start < 0 or end > self.buf.shape[0] or start > end:
            raise DatumError("datum bounds outside the message")
        self.pos = start
        self.end = end
        self.empty_budget = MAX_EMPTY_ITEMS
        top: Table = self.top
        t: Table
        i: cython.Py_ssize_t
        row: cython.Py_ssize_t = top.n
        if row >= top.cap:
            top.grow()
        saved_vused: cython.Py_ssize_t = self.vused
        saved = []
        for i in range(len(self.tables)):
            t = self.tables[i]
            saved.append(t.n)
        try:
            self._run(0, self.prog.shape[0], top, row)
            if self.pos != self.end:
                raise DatumError(f"{self.end - self.pos} bytes left over after the record (corrupt or wrong schema)")
        except Exception:
            top.clear(row, row + 1)
            for i in range(1, len(self.tables)):
                t = self.tables[i]
                t.clear(saved[i], t.n)
                t.n = saved[i]
            self.vused = saved_vused
            raise
        top.n = row + 1

    # ------------------------------------------------------------------ the program

    @cython.cfunc
    def _run(self, pc: cython.Py_ssize_t, stop: cython.Py_ssize_t, t: Table, row: cython.Py_ssize_t) -> cython.int:
        op: cython.longlong
        branch: cython.longlong
        n: cython.longlong
        b: cython.Py_ssize_t
        while pc < stop:
            op = self.prog[pc, A_OP]
            if op == OP_OPT_READ or op == OP_OPT_SKIP:
                branch = self._varint()
                if branch != self.prog[pc, A_NULL]:
                    if branch != 1 - self.prog[pc, A_NULL]:
                        raise DatumError(f"union branch {branch} out of range (2 branches)")
                    if op == OP_OPT_READ:
                        self._read(pc, t, row)
                    else:
                        self._skip(self.prog[pc, A_READER], self.prog[pc, A_SIZE])
                pc += 1
            elif op == OP_READ:
                self._read(pc, t, row)
                pc += 1
            elif op == OP_SKIP:
                self._skip(self.prog[pc, A_READER], self.prog[pc, A_SIZE])
                pc += 1
            elif op == OP_UNION:
                n = self.prog[pc, A_SIZE]
                branch = self._varint()
                if branch < 0 or branch >= n:
                    raise DatumError(f"union branch {branch} out of range ({n} branches)")
                b = pc + 1 + branch
                self._run(self.prog[b, A_INDEX], self.prog[b, A_END], t, row)
                pc = self.prog[pc, A_END]
            elif op == OP_ARRAY:
                self._array(pc, row)
                pc = self.prog[pc, A_END]
            elif op == OP_MAP:
                self._map(pc)
                pc = self.prog[pc, A_END]
            elif op == OP_MARK:
                t.valid[row, self.prog[pc, A_VALID]] = 1
                pc += 1
            else:
                raise DatumError(f"bad plan instruction {op} at {pc}")
        return 0

    @cython.cfunc
    def _array(self, pc: cython.Py_ssize_t, row: cython.Py_ssize_t) -> cython.int:
        level: cython.Py_ssize_t = self.prog[pc, A_LEVEL]
        body: cython.Py_ssize_t = pc + 1
        stop: cython.Py_ssize_t = self.prog[pc, A_END]
        total: cython.longlong = 0
        count: cython.longlong
        size: cython.longlong
        block_end: cython.Py_ssize_t
        _i: cython.longlong
        item: cython.Py_ssize_t
        items: Table = None
        if level > 0:
            items = self.tables[level]
        while True:
            count = self._varint()
            if count == 0:
                break
            block_end = -1
            if count < 0:
                if count == -count:  # -2**63
                    raise DatumError("array block count out of range")
                count = -count
                size = self._varint()
                if size < 0 or size > self.end - self.pos:
                    raise DatumError(f"array block of {size} bytes overruns the datum")
                if level == 0:
                    self.pos += size  # the writer gave the block's size: skipped in one step
                    continue
                block_end = self.pos + size
            self._check_count(count, self.prog[pc, A_SIZE])
            for _i in range(count):
                if level > 0:
                    item = items.n
                    if item >= items.cap:
                        items.grow()
                    items.n = item + 1
                    self._run(body, stop, items, item)
                else:
                    self._run(body, stop, self.top, row)
            if block_end >= 0 and self.pos != block_end:
                raise DatumError("array block size does not match its items")
            total += count
        if level > 0:
            if total > INT32_MAX:
                raise DatumError("array too long")
            self.top.i32[row, self.prog[pc, A_INDEX]] = total
            self.top.valid[row, self.prog[pc, A_VALID]] = 1
        return 0

    @cython.cfunc
    def _map(self, pc: cython.Py_ssize_t) -> cython.int:
        count: cython.longlong
        size: cython.longlong
        _i: cython.longlong
        while True:
            count = self._varint()
            if count == 0:
                break
            if count < 0:
                if count == -count:
                    raise DatumError("map block count out of range")
                count = -count
                size = self._varint()
                if size < 0 or size > self.end - self.pos:
                    raise DatumError(f"map block of {size} bytes overruns the datum")
                self.pos += size
                continue
            self._check_count(count, self.prog[pc, A_SIZE])
            for _i in range(count):
                self._skip(R_STRING, 0)
                self._run(pc + 1, self.prog[pc, A_END], self.top, 0)
        return 0

    @cython.cfunc
    def _check_count(self, count: cython.longlong, min_size: cython.longlong) -> cython.int:
        """A block of ``count`` items must fit in the bytes left (corrupt counts fail here, not in
        a loop over billions of items or an allocation to match)."""
        if min_size > 0:
            if count > (self.end - self.pos) // min_size:
                raise DatumError(f"array/map of {count} items cannot fit in {self.end - self.pos} bytes")
        else:
            self.empty_budget -= count
            if count > MAX_EMPTY_ITEMS or self.empty_budget < 0:
                raise DatumError(f"more than {MAX_EMPTY_ITEMS} zero-size items")
        return 0

    # ------------------------------------------------------------------ values

    @cython.cfunc
    @cython.inline
    def _need(self, n: cython.Py_ssize_t) -> cython.int:
        if n < 0 or n > self.end - self.pos:
            raise DatumError(f"truncated datum: {n} bytes needed at byte {self.pos}, {self.end - self.pos} left")
        return 0

    @cython.cfunc
    def _varint(self) -> cython.longlong:
        """Avro's zig-zag varint (int and long), at most 10 bytes."""
        acc: cython.ulonglong = 0
        shift: cython.int = 0
        b: cython.uchar
        while True:
            if self.pos >= self.end:
                raise DatumError(f"truncated datum: varint runs past the end (byte {self.pos})")
            b = self.buf[self.pos]
            self.pos += 1
            acc |= cython.cast(cython.ulonglong, b & 0x7F) << shift
            if not (b & 0x80):
                break
            shift += 7
            if shift > 63:
                raise DatumError(f"corrupt varint at byte {self.pos}")
        if not cython.compiled:
            acc &= 0xFFFFFFFFFFFFFFFF
            v = (acc >> 1) ^ -(acc & 1)
            return v
        return cython.cast(cython.longlong, (acc >> 1) ^ (0 - (acc & 1)))

    @cython.cfunc
    def _skip(self, reader: cython.longlong, size: cython.longlong) -> cython.int:
        n: cython.longlong
        if reader == R_INT or reader == R_LONG:
            self._varint()
        elif reader == R_FLOAT or reader == R_DOUBLE or reader == R_FIXED:
            self._need(size)
            self.pos += size
        elif reader == R_STRING or reader == R_BYTES:
            n = self._varint()
            self._need(n)
            self.pos += n
        elif reader == R_BOOL:
            self._need(1)
            if self.buf[self.pos] > 1:
                raise DatumError(f"boolean byte {self.buf[self.pos]} at byte {self.pos}")
            self.pos += 1
        elif reader == R_ENUM:
            n = self._varint()
            if n < 0 or n >= size:
                raise DatumError(f"enum index {n} out of range ({size} symbols)")
        return 0

    @cython.cfunc
    def _read(self, pc: cython.Py_ssize_t, t: Table, row: cython.Py_ssize_t) -> cython.int:
        reader: cython.longlong = self.prog[pc, A_READER]
        storage: cython.longlong = self.prog[pc, A_STORAGE]
        k: cython.Py_ssize_t = self.prog[pc, A_INDEX]
        x: cython.longlong
        d: cython.double = 0.0
        f: cython.float = 0.0
        n: cython.longlong
        if reader == R_INT or reader == R_LONG:
            x = self._varint()
            if reader == R_INT and (x < INT32_MIN or x > INT32_MAX):
                raise DatumError(f"int value {x} out of the 32-bit range")
            if storage == S_I64:
                t.i64[row, k] = x
            elif storage == S_I32:
                if x < INT32_MIN or x > INT32_MAX:
                    raise DatumError(f"long value {x} does not fit a 32-bit column")
                t.i32[row, k] = cython.cast(cython.int, x)
            elif storage == S_F64:
                t.f64[row, k] = cython.cast(cython.double, x)
            else:
                t.f32[row, k] = cython.cast(cython.float, x)
        elif reader == R_DOUBLE:
            self._need(8)
            if cython.compiled:
                memcpy(cython.address(d), cython.address(self.buf[self.pos]), 8)
            else:
                d = struct.unpack_from("<d", self.buf, self.pos)[0]
            self.pos += 8
            if storage == S_F64:
                t.f64[row, k] = d
            else:
                t.f32[row, k] = cython.cast(cython.float, d)
        elif reader == R_FLOAT:
            self._need(4)
            if cython.compiled:
                memcpy(cython.address(f), cython.address(self.buf[self.pos]), 4)
            else:
                f = struct.unpack_from("<f", self.buf, self.pos)[0]
            self.pos += 4
            if storage == S_F32:
                t.f32[row, k] = f
            else:
                t.f64[row, k] = f
        elif reader == R_STRING or reader == R_BYTES or reader == R_FIXED:
            if reader == R_FIXED:
                n = self.prog[pc, A_SIZE]
            else:
                n = self._varint()
            self._need(n)
            if reader == R_STRING and not self._utf8(self.pos, n):
                raise DatumError(f"string at byte {self.pos} is not UTF-8")
            self._copy(n, t, k, row)
            self.pos += n
        elif reader == R_BOOL:
            self._need(1)
            if self.buf[self.pos] > 1:
                raise DatumError(f"boolean byte {self.buf[self.pos]} at byte {self.pos}")
            t.b8[row, k] = self.buf[self.pos]
            self.pos += 1
        else:
            raise DatumError(f"bad reader {reader} in plan")
        t.valid[row, self.prog[pc, A_VALID]] = 1
        return 0

    @cython.cfunc
    def _copy(self, n: cython.Py_ssize_t, t: Table, k: cython.Py_ssize_t, row: cython.Py_ssize_t) -> cython.int:
        """The next n bytes into the shared variable-length buffer, as column k's value at row."""
        if self.vused + n > self.vdata.shape[0]:
            grown = np.zeros(max(2 * self.vdata.shape[0], self.vused + n), dtype=np.uint8)
            grown[: self.vused] = self.vbuffer[: self.vused]
            self.vbuffer = grown
            self.vdata = grown
        if n > 0:
            if cython.compiled:
                memcpy(cython.address(self.vdata[self.vused]), cython.address(self.buf[self.pos]), n)
            else:
                self.vbuffer[self.vused : self.vused + n] = self.buf[self.pos : self.pos + n]
        t.vstart[row, k] = self.vused
        t.vlen[row, k] = n
        self.vused += n
        return 0

    @cython.cfunc
    def _utf8(self, start: cython.Py_ssize_t, n: cython.Py_ssize_t) -> cython.bint:
        """Whether buf[start:start+n] is well-formed UTF-8 (no overlongs, surrogates or > U+10FFFF)."""
        i: cython.Py_ssize_t = start
        stop: cython.Py_ssize_t = start + n
        c: cython.uchar
        c1: cython.uchar
        need: cython.int
        j: cython.int
        while i < stop:
            c = self.buf[i]
            if c < 0x80:
                i += 1
                continue
            if 0xC2 <= c <= 0xDF:
                need = 1
            elif 0xE0 <= c <= 0xEF:
                need = 2
            elif 0xF0 <= c <= 0xF4:
                need = 3
            else:
                return False
            if i + need >= stop:
                return False
            c1 = self.buf[i + 1]
            if (c == 0xE0 and c1 < 0xA0) or (c == 0xED and c1 > 0x9F) or (c == 0xF0 and c1 < 0x90) or \
                    (c == 0xF4 and c1 > 0x8F):
                return False
            for j in range(1, need + 1):
                if (self.buf[i + j] & 0xC0) != 0x80:
                    return False
            i += need + 1
        return True


def gather(vdata: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(int32 offsets, bytes) of one variable-length column from the shared buffer."""
    n: cython.Py_ssize_t = starts.shape[0]
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    total = int(offsets[n]) if n else 0
    out = np.empty(total, dtype=np.uint8)
    if cython.compiled:
        _gather(vdata, starts, lengths, out)
    else:
        for i in range(n):
            s, ln, o = int(starts[i]), int(lengths[i]), int(offsets[i])
            out[o : o + ln] = vdata[s : s + ln]
    return offsets, out


@cython.cfunc
def _gather(src: cython.uchar[::1], starts: cython.longlong[::1], lengths: cython.longlong[::1],
            out: cython.uchar[::1]) -> cython.int:
    i: cython.Py_ssize_t
    o: cython.Py_ssize_t = 0
    ln: cython.Py_ssize_t
    for i in range(starts.shape[0]):
        ln = lengths[i]
        if ln > 0:
            memcpy(cython.address(out[o]), cython.address(src[starts[i]]), ln)
            o += ln
    return 0


# ----------------------------------------------------------------------------- encoding

E_DOUBLE = cython.declare(cython.int, 1)
E_FLOAT = cython.declare(cython.int, 2)
E_LONG = cython.declare(cython.int, 3)  # int and long fields (zig-zag varint either way)
E_BOOL = cython.declare(cython.int, 4)
E_VAR = cython.declare(cython.int, 5)  # string and bytes: length, then the bytes
E_RAW = cython.declare(cython.int, 6)  # already encoded (an array of strings): copied as it is


@cython.cclass
class Writer:
    """A growing output buffer with Avro's primitive encodings."""

    out: cython.uchar[::1]
    buffer: object
    o: cython.Py_ssize_t

    def __init__(self, size: int) -> None:
        self.buffer = np.zeros(max(size, 64), dtype=np.uint8)
        self.out = self.buffer
        self.o = 0

    @cython.cfunc
    def reserve(self, n: cython.Py_ssize_t) -> cython.int:
        if self.o + n > self.out.shape[0]:
            grown = np.zeros(max(2 * self.out.shape[0], self.o + n), dtype=np.uint8)
            grown[: self.o] = self.buffer[: self.o]
            self.buffer = grown
            self.out = grown
        return 0

    @cython.cfunc
    def varint(self, v: cython.longlong) -> cython.int:
        z: cython.ulonglong
        if cython.compiled:
            z = cython.cast(cython.ulonglong, (v << 1) ^ (v >> 63))
        else:
            v = int(v)  # a numpy integer would overflow where C wraps
            z = ((v << 1) ^ (v >> 63)) & 0xFFFFFFFFFFFFFFFF
        self.reserve(10)
        while z > 0x7F:
            self.out[self.o] = cython.cast(cython.uchar, (z & 0x7F) | 0x80)
            self.o += 1
            z >>= 7
        self.out[self.o] = cython.cast(cython.uchar, z)
        self.o += 1
        return 0

    @cython.cfunc
    def raw(self, src: cython.const[cython.uchar][::1], start: cython.Py_ssize_t,
            n: cython.Py_ssize_t) -> cython.int:
        self.reserve(n)
        if n > 0:
            if cython.compiled:
                memcpy(cython.address(self.out[self.o]), cython.address(src[start]), n)
            else:
                self.buffer[self.o : self.o + n] = src[start : start + n]
        self.o += n
        return 0

    @cython.cfunc
    def double(self, d: cython.double) -> cython.int:
        self.reserve(8)
        if cython.compiled:
            memcpy(cython.address(self.out[self.o]), cython.address(d), 8)
        else:
            self.buffer[self.o : self.o + 8] = np.frombuffer(struct.pack("<d", d), dtype=np.uint8)
        self.o += 8
        return 0

    @cython.cfunc
    def single(self, f: cython.float) -> cython.int:
        self.reserve(4)
        if cython.compiled:
            memcpy(cython.address(self.out[self.o]), cython.address(f), 4)
        else:
            self.buffer[self.o : self.o + 4] = np.frombuffer(struct.pack("<f", f), dtype=np.uint8)
        self.o += 4
        return 0


def encode_rows(spec: np.ndarray, f64: np.ndarray, f32: np.ndarray, i64: np.ndarray, b8: np.ndarray,
                valid: np.ndarray, vstart: np.ndarray, vlen: np.ndarray, vdata: np.ndarray, rows: np.ndarray,
                head: bytes, sync: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Avro datums of the given rows, each as ``head`` + datum, or with ``sync`` (16 bytes) as a
    one-record container block: ``head`` + count 1 + size + datum + ``sync``. Returns the messages
    back to back and their offsets. ``spec`` rows: (kind E_*, index in its buffer, validity row,
    null branch or -1 for a field that is not a union with null)."""
    sp: cython.longlong[:, ::1] = spec
    F64: cython.double[:, ::1] = f64
    F32: cython.float[:, ::1] = f32
    I64: cython.longlong[:, ::1] = i64
    B8: cython.uchar[:, ::1] = b8
    V: cython.uchar[:, ::1] = valid
    VS: cython.longlong[:, ::1] = vstart
    VL: cython.longlong[:, ::1] = vlen
    VD: cython.const[cython.uchar][::1] = vdata
    R: cython.longlong[::1] = rows
    H: cython.const[cython.uchar][::1] = np.frombuffer(head, dtype=np.uint8) if len(head) else np.zeros(1, np.uint8)
    S: cython.const[cython.uchar][::1] = np.frombuffer(sync, dtype=np.uint8) if len(sync) else np.zeros(1, np.uint8)
    container: cython.bint = len(sync) == 16
    nhead: cython.Py_ssize_t = len(head)
    n: cython.Py_ssize_t = R.shape[0]
    offsets = np.zeros(n + 1, dtype=np.int64)
    OFF: cython.longlong[::1] = offsets
    out: Writer = Writer(n * 256 + 64)
    datum: Writer = Writer(1024)
    i: cython.Py_ssize_t
    j: cython.Py_ssize_t
    r: cython.Py_ssize_t
    kind: cython.longlong
    k: cython.Py_ssize_t
    null: cython.longlong
    for i in range(n):
        r = R[i]
        datum.o = 0
        for j in range(sp.shape[0]):
            kind = sp[j, 0]
            k = sp[j, 1]
            null = sp[j, 3]
            if null >= 0:
                if not V[sp[j, 2], r]:
                    datum.varint(null)
                    continue
                datum.varint(1 - null)
            elif not V[sp[j, 2], r]:
                raise ValueError(f"field {j} is null but not nullable (row {r})")
            if kind == E_DOUBLE:
                datum.double(F64[k, r])
            elif kind == E_FLOAT:
                datum.single(F32[k, r])
            elif kind == E_LONG:
                datum.varint(I64[k, r])
            elif kind == E_BOOL:
                datum.reserve(1)
                datum.out[datum.o] = 1 if B8[k, r] else 0
                datum.o += 1
            elif kind == E_VAR:
                datum.varint(VL[k, r])
                datum.raw(VD, VS[k, r], VL[k, r])
            else:
                datum.raw(VD, VS[k, r], VL[k, r])
        out.raw(H, 0, nhead)
        if container:
            out.varint(1)
            out.varint(datum.o)
        out.raw(datum.out, 0, datum.o)
        if container:
            out.raw(S, 0, 16)
        OFF[i + 1] = out.o
    return out.buffer[: out.o], offsets


def is_compiled() -> bool:
    return bool(cython.compiled)


CODES = {
    "A_OP": A_OP, "A_READER": A_READER, "A_STORAGE": A_STORAGE, "A_INDEX": A_INDEX, "A_VALID": A_VALID,
    "A_SIZE": A_SIZE, "A_NULL": A_NULL, "A_END": A_END, "A_LEVEL": A_LEVEL, "WIDTH": WIDTH,
    "OP_SKIP": OP_SKIP, "OP_READ": OP_READ, "OP_OPT_SKIP": OP_OPT_SKIP, "OP_OPT_READ": OP_OPT_READ,
    "OP_UNION": OP_UNION, "OP_BRANCH": OP_BRANCH, "OP_ARRAY": OP_ARRAY, "OP_MAP": OP_MAP, "OP_MARK": OP_MARK,
    "R_NULL": R_NULL, "R_BOOL": R_BOOL, "R_INT": R_INT, "R_LONG": R_LONG, "R_FLOAT": R_FLOAT,
    "R_DOUBLE": R_DOUBLE, "R_STRING": R_STRING, "R_BYTES": R_BYTES, "R_FIXED": R_FIXED, "R_ENUM": R_ENUM,
    "S_F64": S_F64, "S_F32": S_F32, "S_I64": S_I64, "S_I32": S_I32, "S_B8": S_B8, "S_VAR": S_VAR,
    "N_STORAGE": N_STORAGE, "E_DOUBLE": E_DOUBLE, "E_FLOAT": E_FLOAT, "E_LONG": E_LONG, "E_BOOL": E_BOOL,
    "E_VAR": E_VAR, "E_RAW": E_RAW,
}
