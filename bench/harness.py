"""What the benchmarks share: the bot as a real ``avd-bot serve`` process, the doubles in a process of their own,
process CPU and memory from /proc, percentiles, the machine line, and one way of printing a figure with its goal.

Every script prints its figures as ``Figure.line()`` (name, value, goal, PASS/MISS/info) and, with
``--json FILE``, writes them for ``bench/run_all.py``. ``python bench/harness.py doubles [...]`` is the doubles
process: it prints one JSON line with the URLs, then answers JSON-line requests on stdin until stdin closes.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

BOT_TOKEN = "xoxb-sandbox-token"
SECRET = "bench-signing-secret-0123456789"
CLK_TCK = os.sysconf("SC_CLK_TCK")
_BOT_ENV_PREFIXES = ("SLACK_", "AVD_", "AZURE_ARM_ENDPOINT", "AZURE_CA_BUNDLE")


# ---- figures -----------------------------------------------------------------------------------------


@dataclass
class Figure:
    """One measured figure; ``ok`` is None for a figure without a goal (information only)."""

    name: str
    value: float
    unit: str = ""
    goal: str = ""
    ok: bool | None = None
    note: str = ""

    @property
    def verdict(self) -> str:
        return "info" if self.ok is None else ("PASS" if self.ok else "MISS")

    def line(self) -> str:
        value = f"{self.value:.3f}" if abs(self.value) < 1000 else f"{self.value:.0f}"
        goal = f"goal {self.goal}" if self.goal else ""
        note = f"  ({self.note})" if self.note else ""
        return f"  {self.name:<46} {value:>10} {self.unit:<3} {goal:<14} {self.verdict}{note}"


def figure(
    name: str,
    value: float,
    unit: str = "",
    *,
    at_most: float | None = None,
    at_least: float | None = None,
    note: str = "",
) -> Figure:
    """A figure checked against ``<= at_most`` or ``>= at_least`` (neither: information)."""
    if at_most is not None:
        return Figure(name, value, unit, f"<= {at_most:g}", value <= at_most, note)
    if at_least is not None:
        return Figure(name, value, unit, f">= {at_least:g}", value >= at_least, note)
    return Figure(name, value, unit, "", None, note)


@dataclass
class Report:
    """The figures of one script, printed together and optionally saved as JSON."""

    title: str
    figures: list[Figure] = field(default_factory=list)

    def add(self, fig: Figure) -> Figure:
        self.figures.append(fig)
        return fig

    def emit(self, json_path: str | None) -> int:
        print(f"{self.title}: figures")
        for fig in self.figures:
            print(fig.line())
        if json_path:
            Path(json_path).write_text(
                json.dumps({"title": self.title, "figures": [asdict(f) for f in self.figures]}),
                encoding="utf-8",
            )
        return 0


def add_json_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", metavar="FILE", help="also write the figures to FILE (used by run_all.py)")


def pct(values: list[float], q: float) -> float:
    """The q-quantile (nearest rank) of ``values``, in the same unit."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"nproc {len(os.sched_getaffinity(0))}, {model}, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}, load {os.getloadavg()[0]:.2f}"
    )


# ---- processes ---------------------------------------------------------------------------------------


def proc_status_kb(pid: int, key: str) -> int:
    """A ``VmRSS``/``VmHWM`` style line of /proc/PID/status, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text(encoding="utf-8").splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads) from /proc/PID/stat."""
    raw = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8")
    fields = raw[raw.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def wait_quiet(pids: list[int], *, window: float = 0.3, busy: float = 0.02, timeout: float = 90.0) -> float:
    """Wait until these processes together use under ``busy`` CPU-seconds per ``window``; returns seconds waited."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        before = sum(cpu_seconds(p) for p in pids)
        time.sleep(window)
        if sum(cpu_seconds(p) for p in pids) - before < busy:
            break
    return time.monotonic() - start


def bot_env(
    workdir: Path, slack_url: str, *, arm: str, ca: str = "", config_text: str | None = None, **extra: str
) -> dict[str, str]:
    """The environment of an ``avd-bot serve`` process: this one's, minus SLACK_*/AVD_*, plus the bench's."""
    from bot.sandbox import example_config

    config = workdir / "avd.toml"
    if config_text is None:
        shutil.copyfile(example_config(), config)
    else:
        config.write_text(config_text, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(_BOT_ENV_PREFIXES)}
    env.update(
        {
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": SECRET,
            "SLACK_API_URL": slack_url,
            "AVD_CONFIG": str(config),
            "AVD_DB": str(workdir / "avd.db"),
            "AZURE_ARM_ENDPOINT": arm,
            "AZURE_CA_BUNDLE": ca,
            "PYTHONPATH": str(REPO),
            # the benchmarks' requests stand for many operators but carry one user id: no per-user rate limit
            "AVD_COMMAND_BURST": "100000",
            **extra,
        }
    )
    return env


def avd_bot_command() -> list[str]:
    script = Path(sys.executable).parent / "avd-bot"
    return [str(script)] if script.exists() else [sys.executable, "-m", "bot.cli"]


class BotProcess:
    """``avd-bot serve --port 0 [--role ROLE]`` as a child process; ``url`` once it printed its serving line
    (a ``worker`` prints its name instead and serves no URL)."""

    def __init__(
        self,
        env: dict[str, str],
        workdir: Path,
        log_level: str = "WARNING",
        capabilities: str = "",
        role: str = "all",
        nice: int = 0,
        cpus: str = "",
    ) -> None:
        self.env, self.workdir, self.log_level = env, workdir, log_level
        self.capabilities = capabilities  # modules overlaid on the product's table (tests.kit.serve)
        self.role = role
        self.nice = nice  # a lower CPU priority (``nice -n``): a worker sharing a host with the web process
        self.cpus = cpus  # ``taskset -c CPUS``: the process kept to these CPUs (a host of its own, in small)
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""
        self.started_at = 0.0

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> BotProcess:
        self.started_at = time.perf_counter()
        command = (
            [sys.executable, "-m", "tests.kit.serve", self.capabilities]
            if self.capabilities
            else avd_bot_command()
        )
        role = [] if self.role == "all" else ["--role", self.role]
        niced = ["nice", "-n", str(self.nice)] if self.nice else []
        niced = (["taskset", "-c", self.cpus] if self.cpus else []) + niced
        log = self.workdir / ("bot.log" if self.role == "all" else f"bot-{self.role}.log")
        self.proc = subprocess.Popen(
            [*niced, *command, "--log-level", self.log_level, "serve", "--port", "0", *role],
            env=self.env,
            cwd=self.workdir,
            stdout=subprocess.PIPE,
            text=True,
            stderr=log.open("w"),
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        ready = " running" if self.role == "worker" else "serving on"
        if ready not in line:
            raise RuntimeError(
                f"avd-bot serve did not start: {line!r}; see {log}:\n" + log.read_text()[-2000:]
            )
        self.url = "" if self.role == "worker" else line.rsplit(" ", 1)[1].strip()
        return self

    def healthz(self, timeout: float = 2.0) -> int:
        with urllib.request.urlopen(self.url + "/healthz", timeout=timeout) as resp:
            return int(resp.status)

    def rss_kb(self) -> int:
        return proc_status_kb(self.pid, "VmRSS")

    def hwm_kb(self) -> int:
        return proc_status_kb(self.pid, "VmHWM")

    def stop(self) -> int:
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        return int(self.proc.returncode or 0)


class DoublesProcess:
    """The Slack double (and the ARM simulator with ``arm=True``) in a child process, driven over stdin/stdout."""

    def __init__(
        self,
        *,
        arm: bool = False,
        slack_limits: bool = False,
        arm_throttle_off: bool = False,
        time_scale: float = 120.0,
        nice: int = 0,
    ) -> None:
        niced = ["nice", "-n", str(nice)] if nice else []
        args = [
            *niced,
            sys.executable,
            str(Path(__file__).resolve()),
            "doubles",
            "--time-scale",
            str(time_scale),
        ]
        args += (
            ["--arm"] * arm + ["--slack-limits"] * slack_limits + ["--arm-throttle-off"] * arm_throttle_off
        )
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        self.info: dict[str, Any] = json.loads(self.proc.stdout.readline())

    @property
    def pid(self) -> int:
        return self.proc.pid

    def call(self, op: str, **kwargs: Any) -> Any:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps({"op": op, **kwargs}) + "\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def stop(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def serve_doubles(argv: list[str]) -> int:
    """The doubles process (see ``DoublesProcess``)."""
    from sim.slack import SlackSim

    parser = argparse.ArgumentParser()
    parser.add_argument("--arm", action="store_true")
    parser.add_argument("--slack-limits", action="store_true")
    parser.add_argument("--arm-throttle-off", action="store_true")
    parser.add_argument("--time-scale", type=float, default=120.0)
    args = parser.parse_args(argv)
    slack = SlackSim(team_id="T0AVDOPS", bot_token=BOT_TOKEN, rate_limits=args.slack_limits)
    info: dict[str, Any] = {"slack": slack.start(), "arm": "https://127.0.0.1:9", "ca": ""}
    azure: Any = None
    if args.arm:
        from sim.azure import AzureSim

        throttle = (
            {k: (10**9, 10.0**6) for k in ("reads", "writes", "deletes")} if args.arm_throttle_off else None
        )
        azure = AzureSim(scenario="seed", time_scale=args.time_scale, throttle=throttle)
        info.update(arm=azure.start(), ca=azure.ca_path)
    print(json.dumps(info), flush=True)
    try:
        for line in sys.stdin:
            req = json.loads(line)
            if req["op"] == "response_urls":
                answer: Any = [slack.new_response_url(req["channel"], req["user"]) for _ in range(req["n"])]
            elif req["op"] == "stats":
                journal = azure.journal if azure is not None else []
                answer = {
                    "slack_429": slack.rate_limited_count,
                    "slack_calls": len(slack.calls),
                    "arm_429": sum(1 for e in journal if e.status == 429),
                    "arm_requests": len(journal),
                }
            else:
                answer = {"error": f"unknown op {req['op']!r}"}
            print(json.dumps(answer), flush=True)
    finally:
        slack.stop()
        if azure is not None:
            azure.stop()
    return 0


def workdir(prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=prefix))


def exit_on_sigterm() -> None:
    """SIGTERM (``timeout``, ``kill``) raises ``SystemExit``, so a benchmark's ``finally`` still stops the
    processes and servers it started (PostgreSQL's included) instead of leaving them behind."""
    signal.signal(signal.SIGTERM, lambda _sig, _frame: sys.exit(143))


if __name__ == "__main__":
    if sys.argv[1:2] == ["doubles"]:
        raise SystemExit(serve_doubles(sys.argv[2:]))
    print(machine())
