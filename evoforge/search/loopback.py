"""A throwaway multi-node Ray cluster on 127.0.0.1, for tests and benchmarks of the cluster paths.

Every node is a ``ray start --block`` process with one CPU, in a session of its own. Isolation from other Ray
instances on the machine (e.g. tests running concurrently): a private, short ``--temp-dir``; every port either
picked free here or left to the OS; no ``ray stop`` (it kills every Ray process of the user). Every process of
the cluster (GCS, raylet, agents, workers, which run in process groups of their own) inherits its node's
session id, so :meth:`LocalCluster.stop` stops exactly the processes whose session is one of ours: SIGTERM to
the ``ray start`` processes first (they shut their node down), then SIGKILL for whatever of our sessions is
left. Nodes can join (:meth:`LocalCluster.add_node`) and leave (:meth:`LocalCluster.stop_node`) at any time,
and the head's GCS can be killed outright (:meth:`LocalCluster.kill_head`).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from evoforge.search.cluster import head_reachable

RAY = Path(sys.executable).with_name("ray")


def dies_with_this_process(command: list[str], sig: signal.Signals) -> list[str]:
    """``command`` with PR_SET_PDEATHSIG = ``sig``: should the test process die without tearing down (SIGKILL,
    a crash), the kernel still signals the command. The setting survives exec; it is made by a tiny Python
    wrapper that execs the command rather than in a preexec_fn, which is unsafe when the test process has threads.
    """
    wrapper = (
        "import ctypes, os, sys; "
        "ctypes.CDLL(None, use_errno=True).prctl(1, int(sys.argv[1]), 0, 0, 0); "  # 1 = PR_SET_PDEATHSIG
        "os.execv(sys.argv[2], sys.argv[2:])"
    )
    return [sys.executable, "-c", wrapper, str(int(sig)), *command]


# Asks the GCS for the alive nodes until `expected` have registered; prints their ids and CPUs as JSON.
_WAIT_FOR_NODES = """
import json, sys, time
import ray
address, expected, deadline = sys.argv[1], int(sys.argv[2]), time.time() + float(sys.argv[3])
ray.init(address=address, logging_level="ERROR", log_to_driver=False)
while True:
    alive = [n for n in ray.nodes() if n["Alive"]]
    if len(alive) >= expected or time.time() > deadline:
        break
    time.sleep(0.25)
print(json.dumps({n["NodeID"]: n["Resources"].get("CPU", 0) for n in alive}))
ray.shutdown()
"""


def _free_ports(count: int) -> list[int]:
    """Ports free on loopback right now, all different (sockets held open until all are picked)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _session_of(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            stat = handle.read()
    except OSError:
        return None
    # Fields after "(comm)": state ppid pgrp session ...; comm may hold spaces and parentheses.
    fields = stat[stat.rindex(")") + 2 :].split()
    return None if fields[0] == "Z" else int(fields[3])  # zombies are dead already: nothing to stop


def _command_line(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _processes_in_sessions(sessions: set[int]) -> list[int]:
    own = os.getpid()
    return [int(name) for name in os.listdir("/proc")
            if name.isdigit() and int(name) != own and _session_of(int(name)) in sessions]


def _signal_all(pids: list[int], sig: signal.Signals) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


def cluster_env() -> dict[str, str]:
    """This process's environment for the cluster's nodes and for drivers that join them."""
    env = dict(os.environ)
    env.setdefault("PYTHONWARNINGS", "ignore")
    for name in ("RAY_ADDRESS", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH"):
        env.pop(name, None)
    env.update(
        RAY_AUTH_MODE="disabled",  # loopback-only test cluster; the driver must use the same mode
        RAY_USAGE_STATS_ENABLED="0",
        RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S="0",  # SIGTERM: shut the node down now, no draining wait
    )
    return env


class LocalCluster:
    """A head node and worker nodes on 127.0.0.1, each a ``ray start --block`` process of its own session."""

    def __init__(self) -> None:
        # Short: Ray puts unix sockets under it, and their paths are limited to ~107 characters.
        self.temp_dir = Path(tempfile.mkdtemp(prefix="/tmp/rt"))
        self.env = cluster_env()
        self.nodes: list[tuple[subprocess.Popen, Path]] = []  # (`ray start` process, its log), head first
        self.address = ""  # the head's GCS, HOST:PORT
        self.node_ids: set[str] = set()
        self.remaining: list[int] = []  # pids of this cluster still alive after stop()

    def _common_args(self) -> list[str]:
        return [
            "--node-ip-address=127.0.0.1",
            "--num-cpus=1",
            f"--temp-dir={self.temp_dir}",
            "--object-store-memory=100000000",
            "--min-worker-port=0",  # 0: workers bind to ports chosen by the OS, not Ray's fixed 10002-19999
            "--max-worker-port=0",
            "--dashboard-agent-listen-port=0",  # not the fixed 52365 that every node would want
            "--disable-usage-stats",
            "--block",
        ]

    def _start_node(self, args: list[str], name: str, timeout: float = 90) -> int:
        log_path = self.temp_dir / f"{name}.log"
        with open(log_path, "w") as log:
            process = subprocess.Popen(
                # SIGTERM: `ray start` then shuts its node down, as in stop().
                dies_with_this_process([str(RAY), "start", *args, *self._common_args()], signal.SIGTERM),
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=self.env,
                cwd=self.temp_dir, start_new_session=True,
            )
        self.nodes.append((process, log_path))
        deadline = time.monotonic() + timeout
        while "Ray runtime started" not in log_path.read_text():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"ray start ({name}) failed or timed out:\n{self.logs()}")
            time.sleep(0.2)
        return len(self.nodes) - 1

    def start(self, workers: int = 1) -> None:
        """Start the head (no dashboard, free ports) and ``workers`` worker nodes; sets :attr:`address`."""
        gcs_port, client_port, dashboard_port = _free_ports(3)
        self.address = f"127.0.0.1:{gcs_port}"
        self._start_node(
            ["--head", f"--port={gcs_port}", f"--ray-client-server-port={client_port}",
             "--include-dashboard=false", "--dashboard-host=127.0.0.1", f"--dashboard-port={dashboard_port}"],
            "head",
        )
        for _ in range(workers):
            self.add_node()

    def add_node(self) -> int:
        """Start one more worker node (one CPU) joining the head; returns its index in :attr:`nodes`."""
        return self._start_node([f"--address={self.address}"], f"node{len(self.nodes)}")

    def stop_node(self, index: int, timeout: float = 30) -> None:
        """Stop node ``index`` (not the head) as ``ray start`` does on SIGTERM: the node leaves the cluster."""
        process, _ = self.nodes[index]
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass
        _signal_all(_processes_in_sessions({process.pid}), signal.SIGKILL)

    def kill_head(self) -> None:
        """SIGKILL the head's GCS (the cluster's control store): what a driver whose own node lives on sees
        when the head machine crashes or is cut off. (A driver on the head machine itself goes down with it;
        on loopback every driver may be attached to the head's raylet, which Ray then ends within moments,
        so the raylet is left alone.) Returns once the GCS port refuses connections: SIGKILL is delivered at
        once, but a busy machine may take a moment to tear the process and its listening socket down, and a
        caller that probed the head in that moment would still find it."""
        head = self.nodes[0][0].pid
        _signal_all([pid for pid in _processes_in_sessions({head}) if "gcs_server" in _command_line(pid)],
                    signal.SIGKILL)
        deadline = time.monotonic() + 30
        while head_reachable(self.address, timeout_s=0.5):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the head's GCS at {self.address} still answers 30 s after SIGKILL")
            time.sleep(0.05)

    def wait_for_nodes(self, count: int, timeout: float = 60) -> dict[str, float]:
        """Node id -> CPUs of the alive nodes, once ``count`` of them have registered with the GCS."""
        done = subprocess.run(
            [sys.executable, "-c", _WAIT_FOR_NODES, self.address, str(count), str(timeout)],
            capture_output=True, text=True, env=self.env, cwd=self.temp_dir, timeout=timeout + 60,
        )
        assert done.returncode == 0, f"cannot query the cluster: {done.stderr}\n{self.logs()}"
        return json.loads(done.stdout.strip().splitlines()[-1])

    def logs(self) -> str:
        """The last 3,000 characters of every node's ``ray start`` log, for failure messages."""
        return "\n".join(f"--- {path.name}\n{path.read_text()[-3000:]}" for _, path in self.nodes if path.exists())

    def stop(self) -> None:
        """Stop exactly this cluster's processes; never ``ray stop``, which would stop every Ray of the user."""
        sessions = {process.pid for process, _ in self.nodes}
        # Worker nodes first, then the head: each `ray start` kills and reaps its node's processes on SIGTERM.
        for process, _ in reversed(self.nodes):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    pass
        # Whatever of our sessions is left (a hung ray start, workers a dead raylet left behind) is killed.
        deadline = time.monotonic() + 5
        while _processes_in_sessions(sessions) and time.monotonic() < deadline:
            time.sleep(0.2)
        for _ in range(3):
            left = _processes_in_sessions(sessions)
            if not left:
                break
            _signal_all(left, signal.SIGKILL)
            time.sleep(0.5)
        for process, _ in self.nodes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        self.remaining = _processes_in_sessions(sessions)
        shutil.rmtree(self.temp_dir, ignore_errors=True)


