"""Measure one whole process from the outside: wall time, CPU time and peak RSS of its process tree.

- wall: from spawn until the command exits (what a scheduler or a user waits for).
- CPU: user + sys of every process of the tree, from `getrusage(RUSAGE_CHILDREN)` deltas. The
  harness makes itself a child subreaper (Linux `PR_SET_CHILD_SUBREAPER`), so a JVM that outlives
  its Python parent is re-parented to us and reaped, and its CPU is counted too.
- peak RSS: the tree (every descendant: Python, the JVM, pyspark daemons) sampled with psutil
  every `interval` seconds, RSS summed per sample, maximum kept. Also the peak of the anonymous
  part (RSS minus file-backed and shared pages): memory-mapped files (Spark maps shuffle blocks
  larger than 2 MB when it reads them) count in RSS but are page cache the kernel can drop.
- interference: CPU time used by everything else on the machine during the run, in cores
  (system busy time minus our tree's CPU, divided by wall time), and the load average before.
"""

from __future__ import annotations

import ctypes
import os
import resource
import subprocess
import threading
import time
from dataclasses import dataclass

import psutil

PR_SET_CHILD_SUBREAPER = 36


def become_subreaper() -> bool:
    """Adopt orphaned descendants (Linux only); False where not supported."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def busy_seconds() -> float:
    """System-wide CPU seconds spent not idle, over all cores, since boot."""
    times = psutil.cpu_times()
    return sum(times) - times.idle - getattr(times, "iowait", 0.0)


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def foreign_busy_cores(seconds: float = 2.0) -> float:
    """Cores kept busy by other processes over `seconds`, measured while we run nothing."""
    before = busy_seconds()
    time.sleep(seconds)
    return max(0.0, (busy_seconds() - before) / seconds)


@dataclass
class Measurement:
    """What one run of a command cost."""

    returncode: int
    wall_s: float
    cpu_s: float
    peak_rss_mb: float
    peak_anon_rss_mb: float
    foreign_cores: float
    load_before: float
    samples: int
    stdout: str
    stderr: str


# A child this young that runs its parent's executable is taken for a fork that has not exec'd yet.
FORK_AGE_S = 1.0


def _exe(proc: psutil.Process) -> str | None:
    try:
        return proc.exe()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return None


def _tree_rss(me: psutil.Process) -> tuple[int, int]:
    """RSS and anonymous RSS (RSS minus file-backed/shared pages) summed over our descendants.

    A fork that has not exec'd yet shows its parent's pages as its own: the JVM starts `chmod`
    (Hadoop's local file system, for every file it writes) and other helpers through fork/vfork, and
    for that instant a 4.5 GB JVM would count twice. So a child is skipped while it still runs its
    parent's executable (`/proc/<pid>/exe`) and is younger than `FORK_AGE_S`; the executable is read
    before the memory, so a child that exec'd in between is counted with its new, small RSS. (A
    longer-lived fork of the same program, such as a pyspark worker, is counted, and so is the
    measured command itself: it runs the harness's Python, but the harness is not counted.)
    """
    total = anon = 0
    now = time.time()
    exes: dict[int, str | None] = {}
    for proc in me.children(recursive=True):
        try:
            exe = exes[proc.pid] = _exe(proc)
            parent = proc.ppid()
            if parent not in exes:
                exes[parent] = _exe(psutil.Process(parent))
            if (parent != me.pid and exe is not None and exe == exes[parent]
                    and now - proc.create_time() < FORK_AGE_S):
                continue
            info = proc.memory_info()
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
        total += info.rss
        anon += info.rss - getattr(info, "shared", 0)
    return total, anon


def _reap_orphans(timeout: float) -> None:
    """Wait (bounded) for adopted descendants to exit and reap them, so their CPU is accounted."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            time.sleep(0.05)


def run_measured(cmd: list[str], env: dict[str, str] | None = None, cwd: str | None = None,
                 interval: float = 0.05, timeout: float | None = None) -> Measurement:
    """Run `cmd` to completion and measure it (see the module docstring)."""
    me = psutil.Process()
    load_before = os.getloadavg()[0]
    peak = peak_anon = 0
    samples = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak, peak_anon, samples
        while not done.is_set():
            rss, anon = _tree_rss(me)
            peak, peak_anon = max(peak, rss), max(peak_anon, anon)
            samples += 1
            done.wait(interval)

    cpu_before = children_cpu()
    busy_before = busy_seconds()
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        stdout, stderr = proc.communicate()
    wall = time.perf_counter() - start
    # The tree's stragglers (a JVM finishing its shutdown hooks) still count towards CPU and RSS.
    _reap_orphans(timeout=30.0)
    done.set()
    sampler.join()
    elapsed = time.perf_counter() - start
    busy = busy_seconds() - busy_before
    cpu = children_cpu() - cpu_before
    return Measurement(
        returncode=proc.returncode, wall_s=wall, cpu_s=cpu, peak_rss_mb=peak / 2**20,
        peak_anon_rss_mb=peak_anon / 2**20,
        foreign_cores=max(0.0, (busy - cpu) / elapsed) if elapsed > 0 else 0.0, load_before=load_before,
        samples=samples, stdout=stdout.decode("utf-8", "replace"), stderr=stderr.decode("utf-8", "replace"),
    )
