"""``streams.forked``: a fork while another thread runs BLAS must not stop the process.

OpenBLAS shuts its thread pool down before every fork; with a multi-threaded BLAS call in flight on
another thread, the fork waited forever with the GIL held (a scoring worker that stopped answering
``/metrics``, 2026-12-07). In a fresh interpreter that starts as a worker does: matrix products on
one thread, forks from another, then every BLAS library, one loaded later too, must be on one
thread. (Without ``blas_on_one_thread`` the forks hung, anywhere from the first to the thousands.)"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson

REPO = Path(__file__).resolve().parents[2]

SCRIPT = """
import os, threading
os.environ["OPENBLAS_NUM_THREADS"] = "2"  # as on a 2-core machine, whatever this one has
import numpy as np
import orjson
from threadpoolctl import threadpool_info
from streams import forked

forked.blas_on_one_thread()  # as a worker does at its start, before any BLAS call
from scipy.linalg import blas  # a copy of OpenBLAS loaded later

a = np.ones((64, 384), dtype=np.float32)
b = np.ones((384, 400), dtype=np.float32)
stop = threading.Event()

def products() -> None:
    while not stop.is_set():
        a @ b  # numpy's OpenBLAS
        blas.sgemm(1.0, a, b)  # scipy's

thread = threading.Thread(target=products, daemon=True)
thread.start()
for _ in range(FORKS):
    child = forked.start(lambda: None)
    os.waitpid(child.pid, 0)
stop.set()
thread.join()
after = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
print(orjson.dumps({"after": after}).decode())
"""


def test_forks_during_matrix_products_on_another_thread_finish_and_leave_blas_on_one_thread() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT.replace("FORKS", "400")],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        timeout=120,  # without the fix the process hung (it took anywhere from the first fork to thousands)
        check=True,
    )
    seen = orjson.loads(done.stdout.splitlines()[-1])
    assert len(seen["after"]) >= 2  # numpy's and scipy's OpenBLAS
    assert seen["after"] == [1] * len(seen["after"]), seen  # scipy's too, loaded after the call
