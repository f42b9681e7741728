"""The numba code of `kernel` (its documentation is there). Imported only when a search runs: importing this
module imports numba, and the first call compiles the kernel or loads it from numba's on-disk cache."""

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def push(hs, hi, n, s, i):  # pragma: no cover - compiled
    """Add (s, i) to the min-heap hs/hi holding n entries; returns the new count (at most the heap's size)."""
    cap = hs.shape[0]
    if n < cap:  # not full: sift the new leaf up
        pos = n
        while pos > 0:
            parent = (pos - 1) >> 1
            if hs[parent] <= s:
                break
            hs[pos] = hs[parent]
            hi[pos] = hi[parent]
            pos = parent
        hs[pos] = s
        hi[pos] = i
        return n + 1
    pos = 0  # full: the new candidate replaces the lowest (the root) and sifts down
    while True:
        child = 2 * pos + 1
        if child >= cap:
            break
        if child + 1 < cap and hs[child + 1] < hs[child]:
            child += 1
        if hs[child] >= s:
            break
        hs[pos] = hs[child]
        hi[pos] = hi[child]
        pos = child
    hs[pos] = s
    hi[pos] = i
    return n


# Rows are scanned in runs of SUB columns: a vectorised pass counts the scores above the heap's threshold, and only a
# run with a hit is scanned again, one column at a time, to push its candidates. Unsigned indices with a fixed run
# length let LLVM vectorise the counting pass (a signed index would be checked for wraparound on every element).
SUB = 64


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _push_run(acc, ci, qi, lo, hi, j, q, skip, offset, heap_s, heap_i, heap_n, thr):  # pragma: no cover - compiled
    cap = heap_s.shape[2]
    for d in range(lo, hi):
        s = (acc[d] * qi) * ci[d]
        if s > thr[j, q] and d != skip:
            n = push(heap_s[j, q], heap_i[j, q], heap_n[j, q], s, offset + d)
            heap_n[j, q] = n
            if n == cap:
                thr[j, q] = heap_s[j, q, 0]


@numba.njit(cache=True, nogil=True, fastmath=True, error_model="numpy")
def inverse_prefix_norms(x, dims, out):  # pragma: no cover - compiled
    """out[j, i] = 1 / |x[i, :dims[j]]| (1 where that prefix is all zeros), float32 sums of float32 squares."""
    for i in range(x.shape[0]):
        total = 0.0
        lo = 0
        for j in range(dims.shape[0]):
            part = np.float32(0.0)
            for d in range(lo, dims[j]):
                part += x[i, d] * x[i, d]
            total += part
            lo = dims[j]
            out[j, i] = 1.0 / np.sqrt(total) if total > 0 else 1.0


@numba.njit(cache=True, nogil=True, error_model="numpy")
def fold_segment(prod, acc, first, j, q_inv, c_inv, q0, c0, offset, exclude, heap_s, heap_i, heap_n, thr):  # noqa
    """Add segment j's products `prod` (rows, cols) into the running dot products `acc` (set them, for the first
    segment) and fold dim j's scores into its heaps."""
    n_rows, m = acc.shape
    runs = m // SUB
    base = offset + c0
    ci = c_inv[j, c0 : c0 + m]
    for r in range(n_rows):
        q = q0 + r
        qi = q_inv[j, q]
        a_row = acc[r]
        p_row = prod[r]
        skip = exclude[q] - base
        for b in range(runs):
            start = numba.uint64(b * SUB)
            t = thr[j, q]
            hits = 0
            for d in range(SUB):
                x = start + numba.uint64(d)
                a = p_row[x] if first else a_row[x] + p_row[x]
                a_row[x] = a
                hits += (a * qi) * ci[x] > t
            if hits:
                _push_run(a_row, ci, qi, b * SUB, (b + 1) * SUB, j, q, skip, base, heap_s, heap_i, heap_n, thr)
        for d in range(runs * SUB, m):
            a_row[d] = p_row[d] if first else a_row[d] + p_row[d]
        _push_run(a_row, ci, qi, runs * SUB, m, j, q, skip, base, heap_s, heap_i, heap_n, thr)
