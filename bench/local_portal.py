"""A portal server for benchmarks: `python run.py` in a subprocess on 127.0.0.1, with its
data in a temporary folder, and what the benchmarks need to read from it."""

from __future__ import annotations

import os
import resource
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent


@dataclass
class LocalPortal:
    process: subprocess.Popen[bytes]
    base_url: str
    data_dir: Path
    log_path: Path

    @property
    def ws_url(self) -> str:
        return self.base_url.replace("http://", "ws://") + "/ws"

    @property
    def database_url(self) -> str:
        return f"sqlite+aiosqlite:///{self.data_dir / 'miportal.sqlite3'}"

    def rss_mib(self) -> float:
        return _status_kib(self.process.pid, "VmRSS") / 1024

    def peak_rss_mib(self) -> float:
        return _status_kib(self.process.pid, "VmHWM") / 1024

    def cpu_seconds(self) -> float:
        """Return the user plus system CPU time the server has used so far."""
        stat = Path(f"/proc/{self.process.pid}/stat").read_text()
        # The fields after the parenthesised command name. utime and stime are the
        # 14th and 15th fields of the whole line (proc(5)).
        fields = stat[stat.rindex(")") + 2:].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/{pid}/status has no {field} line; is this Linux?")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def raise_open_file_limit(needed: int) -> int:
    """Raise this process's soft limit on open files to at least `needed`, which
    children inherit, and return the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= needed:
        return soft
    if hard != resource.RLIM_INFINITY and hard < needed:
        raise SystemExit(f"The hard limit on open files is {hard}, below the {needed} this "
                         "benchmark needs; raise it (ulimit -Hn) or connect fewer desktops.")
    resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
    return needed


def start_portal(data_dir: Path, *, log_level: str = "WARNING",
                 env: dict[str, str] | None = None, timeout: float = 60.0) -> LocalPortal:
    """Start `run.py` without demo data and wait until /healthz returns ok."""
    port = free_port()
    log_path = data_dir / "server.log"
    environment = {key: value for key, value in os.environ.items()
                   if key != "MIPORTAL_DEMO_PASSWORD"}
    environment.update(env or {})
    with log_path.open("ab") as log_file:
        process = subprocess.Popen(
            [sys.executable, str(REPOSITORY_ROOT / "run.py"), "--host", "127.0.0.1",
             "--port", str(port), "--data-dir", str(data_dir), "--log-level", log_level],
            stdout=log_file, stderr=subprocess.STDOUT, env=environment, cwd=REPOSITORY_ROOT)
    portal = LocalPortal(process, f"http://127.0.0.1:{port}", data_dir, log_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"The portal exited with code {process.returncode}; see "
                             f"{log_path}:\n{log_path.read_text(errors='replace')[-2000:]}")
        try:
            if httpx.get(portal.base_url + "/healthz", timeout=1).status_code == 200:
                return portal
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    stop_portal(portal)
    raise SystemExit(f"The portal did not become healthy within {timeout} s; see {log_path}.")


def stop_portal(portal: LocalPortal) -> None:
    portal.process.terminate()
    try:
        portal.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        portal.process.kill()
        portal.process.wait()
