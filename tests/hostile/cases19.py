"""The hostile rows of issue 19 (safe as root): a local user who can write where root runs or keeps state,
and a peer node whose report or host name is hostile. One `Case` line each, as in cases.py.

The attacker's files are made here and handed to `nobody` (uid 65534) as that user would own them; rows
marked `root=True` act as root against that other user and run only where the tests run as root. What a
row must leave behind (or must not: a PWNED file, a created lock target, a world-readable manifest) is
its `check`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from tests.hostile.cases import CHECK, EXAMPLE, FLEET, JOB, _example_report, healthy, nothing, smi
from tests.hostile.harness import Case, Inputs, Result

NOBODY = 65534
ESC = "\x1b[2J\x1b]0;owned\x07\x1b[1A\x1b[2K"  # clear screen, set the title, cursor up + erase the line
PLANT = 'open({out!r}, "a").write("x")\n'
BENCH = ("bench", "--backend", "gloo", "--world-size", "2", "--sizes", "1K", "--iters", "1", "--warmup", "1",
         "--json")


def _nobody(*paths: Path) -> None:
    for p in paths:
        os.lchown(p, NOBODY, NOBODY)


def shared_dir_with_planted_modules(tmp: Path) -> Inputs:
    """A world-writable sticky folder (like /tmp or a shared submit folder) where `nobody` left torch.py,
    argparse.py and an executable nvidia-smi that each append to PWNED when run or imported."""
    shared = tmp / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    out = str(shared / "PWNED")
    for name in ("torch.py", "argparse.py", "numpy.py"):
        (shared / name).write_text(PLANT.format(out=out))
    smi_script = shared / "nvidia-smi"
    smi_script.write_text(f"#!/bin/sh\necho x >> {out}\n")
    smi_script.chmod(0o755)
    _nobody(*shared.iterdir())
    return {**nothing(tmp), "shared": str(shared)}


def nothing_ran(tmp: Path, result: Result) -> str:
    pwned = tmp / "shared" / "PWNED"
    assert not pwned.exists(), f"{pwned} written by root: planted code ran {pwned.stat().st_size} times"
    return f"no {pwned} (nothing planted ran)"


def two_gpus_planted(tmp: Path) -> Inputs:
    """The planted folder, and a healthy two-GPU snapshot of this machine (`health --bench` measures it)."""
    from tests.topologies import scenario
    from tpdoctor.model.contract import render
    from tpdoctor.model.findings import Report

    topo = scenario("h100-nvl-healthy")
    two = replace(topo, host="gpu01", gpus=topo.gpus[:2],
                  links=tuple(lk for lk in topo.links if (lk.a, lk.b) == ("GPU0", "GPU1")))
    (tmp / "two.json").write_text(render(Report(topology=two)))
    return {**shared_dir_with_planted_modules(tmp), "two": str(tmp / "two.json"), "$TPDOCTOR_HOST": "gpu01"}


def state_dir(lock: str | None = None, baseline: str | None = None) -> Callable[[Path], Inputs]:
    """{state}: a baseline's folder, with a lock file and/or a baseline as another user left them:
    lock "symlink" (to {tmp}/victim, a file root would create), "legacy" (0644, ours, held by nobody through
    a read-only descriptor), "theirs" (0600, nobody's, held by nobody); baseline "theirs" (a baseline
    owned by nobody that expects GPU0-GPU1 to have no NVLink) or "link" (a symlink to such a file)."""
    def build(tmp: Path) -> Inputs:
        state = tmp / "state"
        state.mkdir()
        lock_path = state / "baseline.json.lock"
        if lock == "symlink":
            lock_path.symlink_to(tmp / "victim")
            _nobody(lock_path)
        elif lock in ("legacy", "theirs"):
            lock_path.write_text("")
            lock_path.chmod(0o644 if lock == "legacy" else 0o600)
            if lock == "theirs":
                _nobody(lock_path)
            _hold(tmp, lock_path)
        if baseline is not None:
            planted = tmp / "their-baseline.json" if baseline == "link" else state / "baseline.json"
            planted.write_text(_hiding_baseline())
            _nobody(planted)
            if baseline == "link":
                (state / "baseline.json").symlink_to(planted)
        return {**nothing(tmp), "state": str(state)}
    return build


HOLDER = """import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDONLY)  # what any user may do with a 0644 file (the folder is reachable)
os.setgid(65534); os.setuid(65534)
fcntl.flock(fd, fcntl.LOCK_EX)
print("held", flush=True)
time.sleep(600)
"""


def _hold(tmp: Path, lock: Path) -> None:
    """A process of `nobody` holding the lock (killed after the run: its pid joins the harness's list)."""
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(lock)], stdout=subprocess.PIPE, text=True,
                            start_new_session=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    with open(tmp / "fakesmi.pids", "a") as fh:
        fh.write(f"{proc.pid}\n")


def _hiding_baseline() -> str:
    """A baseline whose GPU0-GPU1 had no NVLink: with it the down pair would expect nothing and pass."""
    data = json.loads(_example_report())
    for link in data["links"]:
        if (link["a"], link["b"]) == ("GPU0", "GPU1"):
            link.update(nvlinks_expected=0, health="ok")
    data["findings"], data["status"] = [], "ok"
    return json.dumps(data)


def victim_untouched(tmp: Path, result: Result) -> str:
    assert not (tmp / "victim").exists(), f"{tmp}/victim created by root through the planted symlink"
    return f"{tmp}/victim not created"


def lock_is_private(tmp: Path, result: Result) -> str:
    st = os.lstat(tmp / "state" / "baseline.json.lock")
    mode = f"mode {st.st_mode & 0o777:04o} uid {st.st_uid}"
    assert (st.st_mode & 0o777, st.st_uid) == (0o600, os.geteuid()), f"the lock file stays {mode}"
    return f"the lock file replaced: {mode}"


def private_manifest(tmp: Path) -> Inputs:
    """A user's manifest with a token, 0600 and owned by them, that root fixes in place."""
    path = tmp / "job.yaml"
    path.write_text(JOB.read_text() + "# hf_token: hf_s3cr3t\n")
    path.chmod(0o600)
    _nobody(path)
    return {**nothing(tmp), "input": str(path)}


def still_private(tmp: Path, result: Result) -> str:
    st = os.stat(tmp / "job.yaml")
    mode = f"job.yaml (with its token) is mode {st.st_mode & 0o777:04o} uid {st.st_uid}"
    assert (st.st_mode & 0o777, st.st_uid) == (0o600, NOBODY), f"{mode}, was 0600 uid {NOBODY}"
    assert "gpus: [2, 3]" in (tmp / "job.yaml").read_text()
    return f"{mode}, as before, and fixed"


def symlinked_manifest(tmp: Path) -> Inputs:
    (tmp / "real").mkdir()
    (tmp / "real" / "job.yaml").write_text(JOB.read_text())
    (tmp / "job.yaml").symlink_to(tmp / "real" / "job.yaml")
    return {**nothing(tmp), "input": str(tmp / "job.yaml")}


def fixed_at_target(tmp: Path, result: Result) -> str:
    assert (tmp / "job.yaml").is_symlink(), "job.yaml (a symlink) replaced by a regular file; real/job.yaml unfixed"
    assert "gpus: [2, 3]" in (tmp / "real" / "job.yaml").read_text(), "the real manifest was not fixed"
    return "real/job.yaml fixed, job.yaml still a symlink to it"


def two_manifests_one_name(tmp: Path) -> Inputs:
    for sub in ("a", "b"):
        (tmp / sub).mkdir()
        (tmp / sub / "job.yaml").write_text(JOB.read_text())
    return {**nothing(tmp), "a": str(tmp / "a" / "job.yaml"), "b": str(tmp / "b" / "job.yaml")}


def nothing_in_out(tmp: Path, result: Result) -> str:
    written = sorted(p.name for p in (tmp / "out").iterdir()) if (tmp / "out").exists() else []
    assert not written, f"out/ holds {written}: one of the two job.yaml overwrote the other, both said written"
    return "nothing written"


def report_with(change: Callable[[dict[str, Any]], None], name: str = "input.json") -> Callable[[Path], Inputs]:
    def build(tmp: Path) -> Inputs:
        data = json.loads(_example_report())
        change(data)
        (tmp / name).write_text(json.dumps(data))
        return {**nothing(tmp), "input": str(tmp / name)}
    return build


def _hostile_names(data: dict[str, Any]) -> None:
    data["host"] = f"gpu01{ESC}\u202e"
    data["gpus"][0]["name"] = f"NVIDIA H100 NVL{ESC}"
    data["gpus"][2].update(status="lost", status_reason=f"fell off the bus\nTPDOCTOR OK - 4 GPUs healthy{ESC}")


def no_escape(tmp: Path, result: Result) -> str:
    text = result.stdout + result.stderr
    count = text.count("\x1b")
    assert not count and "\u202e" not in text, f"{count} ESC (and bidi) characters from the input reached the terminal"
    assert "\nTPDOCTOR OK" not in text, "a newline in the input added a line `TPDOCTOR OK - ...`"
    return "no ESC, bidi control or added line in the output"


def _newline_host(data: dict[str, Any]) -> None:
    data["host"] = "gpu01\ntpdoctor.io/status=ok\n# +expiry-time=2099-01-01T00:00:00Z"


def one_expiry(tmp: Path, result: Result) -> str:
    lines = (tmp / "nfd").read_text().splitlines()
    expiries = sum(ln.startswith("# +expiry-time") for ln in lines)
    assert expiries == 1 and "tpdoctor.io/status=ok" not in lines, \
        f"the NFD file has {expiries} expiry directives and a label line tpdoctor.io/status=ok from the host name"
    return "the NFD file has one expiry directive and no label from the host name"


def fleet_dir(*reports: tuple[str, Callable[[dict[str, Any]], None], float | None]) -> Callable[[Path], Inputs]:
    """A reports folder: (file name, change to the example report, file age in seconds or None)."""
    def build(tmp: Path) -> Inputs:
        folder = tmp / "reports"
        folder.mkdir()
        now = datetime.now(timezone.utc).timestamp()
        for name, change, age in reports:
            data = json.loads(_example_report())
            change(data)
            (folder / name).write_text(json.dumps(data))
            if age is not None:
                os.utime(folder / name, (now - age, now - age))
        return {**nothing(tmp), "input": str(folder)}
    return build


def _dated(days: float, status: str | None = None) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        stamp = datetime.now(timezone.utc) + timedelta(days=days)
        data["captured_at"] = stamp.replace(microsecond=0).isoformat().replace("+00:00", "Z")
        if status == "ok":
            data["findings"], data["status"] = [], "ok"
            for link in data["links"]:
                link.update(nvlinks_expected=link["nvlinks"], health="ok")
    return change


def _lies_ok(data: dict[str, Any]) -> None:
    _dated(0)(data)
    data["findings"], data["status"] = [], "ok"


def _markup_host(data: dict[str, Any]) -> None:
    _dated(0)(data)
    data["host"] = f"gpu[/]01[bold red]{ESC}"


def _big_report(n: int) -> Callable[[Path], Inputs]:
    """A well-formed node report with `n` GPUs (every pair linked), the rest as a real node has it."""
    def build(tmp: Path) -> Inputs:
        from tests.fleet.factory import node
        from tpdoctor.model.contract import render

        (tmp / "input.json").write_text(render(node("gpu01", n=n)))
        return {**nothing(tmp), "input": str(tmp / "input.json")}
    return build


def no_nan(tmp: Path, result: Result) -> str:
    assert "nan ms/token" not in result.stdout, "a prediction of nan ms/token printed as a result"
    return "no prediction printed"


def hook_env(tmp: Path) -> Inputs:
    """The former test hook's variable, set as anyone able to set root's environment for one run could."""
    spec = {"rank": 0, "group": [0, 1], "after": 0, "file": str(tmp / "HOOKED")}
    return {**nothing(tmp), "$TPDOCTOR_BENCH_TEST_HANG": json.dumps(spec)}


def no_hook(tmp: Path, result: Result) -> str:
    assert not (tmp / "HOOKED").exists(), "{tmp}/HOOKED created (the package's test hook, named by the environment)"
    return "no file created, no rank held"


def private_capture(tmp: Path, result: Result) -> str:
    folder = tmp / "capture"
    modes = {f"{p.stat().st_mode & 0o777:04o}" for p in folder.iterdir()}
    said = f"capture/ {os.stat(folder).st_mode & 0o777:04o}, its files {', '.join(sorted(modes))}"
    assert os.stat(folder).st_mode & 0o777 == 0o700 and modes == {"0600"}, said
    return said


def rules_dir(mode: int = 0o755, owner: int | None = None) -> Callable[[Path], Inputs]:
    """{rules}: a site rule folder with one rule that marks every NVLink pair critical, as its writer likes."""
    from tests.hostile.cases import RULE

    def build(tmp: Path) -> Inputs:
        folder = tmp / "rules"
        folder.mkdir()
        rule = RULE.format(when="link.nvlinks > 0", message="{link.id} flagged").replace("warning", "critical")
        (folder / "SITE900.yaml").write_text(rule)
        folder.chmod(mode)
        if owner is not None:
            _nobody(folder, folder / "SITE900.yaml")
        return {**nothing(tmp), "rules": str(folder)}
    return build


def example_dir(tmp: Path) -> Inputs:
    (tmp / "reports").mkdir()
    (tmp / "reports" / "gpu01.json").write_text(_example_report())
    return {**nothing(tmp), "reports": str(tmp / "reports")}


def nfd_written(tmp: Path, result: Result) -> str:
    assert (tmp / "nfd").exists(), "no NFD file written"
    text = (tmp / "nfd").read_text()
    assert "health of gpu\\udcff01" in text, text
    return "NFD file written, host shown as gpu\\udcff01"


def capture_host(tmp: Path, result: Result) -> str:
    assert (tmp / "capture").exists(), "no capture written"
    host = (tmp / "capture" / "host.txt").read_text().splitlines()[0]  # then `captured_at: ...`
    assert host == "gpu\\udcff01", host
    return f"capture written, host.txt: {host}"


C = {"$LC_ALL": "C", "$LANG": "C", "$PYTHONUTF8": "0", "$PYTHONIOENCODING": ""}
ASHOST = ("{python}", "{hostile}/ashost.py", "gpu\\xff01", "--")
HEALTH_BASELINE = ("health", "--from", "{example}", "--baseline", "{state}/baseline.json")
FUTURE = ("gpu01-skewed.json", _dated(365, "ok"), 3600.0)
NOW_CRITICAL = ("gpu01-now.json", _dated(0), 60.0)


def with_env(build: Callable[[Path], Inputs], env: dict[str, str]) -> Callable[[Path], Inputs]:
    return lambda tmp: {**build(tmp), **env}


CASES19: tuple[Case, ...] = (
    # 1. code run as root from the working directory
    Case("bench-from-a-folder-with-a-planted-torch-py", shared_dir_with_planted_modules, BENCH, 0, r'"busbw_gbps": \d',
         90, stream="stdout", cwd="{shared}", check=nothing_ran, issue="19.1", root=True),
    Case("health-bench-from-a-folder-with-a-planted-torch-py", two_gpus_planted,
         ("health", "--from", "{two}", "--bench"), 0, r"^TPDOCTOR OK - 2 GPUs", 90, stream="stdout", cwd="{shared}",
         check=nothing_ran, issue="19.1", root=True),
    Case("scan-with-dot-on-PATH-and-a-planted-nvidia-smi",
         with_env(shared_dir_with_planted_modules, {"$PATH": ".:/usr/bin:/bin"}), ("scan", "--probe", "smi"), 3,
         r"nvidia-smi not found", cwd="{shared}", check=nothing_ran, issue="19.6", root=True),
    # 2. the baseline's lock file and the baseline itself
    Case("health-baseline-lock-is-a-planted-symlink", state_dir(lock="symlink"), HEALTH_BASELINE, 3,
         r"baseline\.json\.lock: the lock file is a symbolic link", check=victim_untouched, issue="19.2",
         root=True),
    Case("health-baseline-legacy-0644-lock-held-by-another-user", state_dir(lock="legacy"), HEALTH_BASELINE, 2,
         r"^TPDOCTOR CRITICAL - GPU0-GPU1 NVLink down", 70, stream="stdout", check=lock_is_private,
         issue="19.2", root=True),
    Case("health-baseline-lock-owned-and-held-by-another-user", state_dir(lock="theirs"), HEALTH_BASELINE, 3,
         r"lock: the lock file belongs to uid 65534 \(nobody\)", 70, issue="19.2", root=True),
    Case("health-baseline-planted-by-another-user-hides-the-down-link", state_dir(baseline="theirs"),
         HEALTH_BASELINE, 3, r"baseline\.json: the baseline belongs to uid 65534 \(nobody\)", issue="19.2",
         root=True),
    Case("health-baseline-symlink-to-another-users-file", state_dir(baseline="link"), HEALTH_BASELINE, 3,
         r"baseline\.json: the baseline is a symbolic link", issue="19.2", root=True),
    # 3. --fix
    Case("fix-in-place-keeps-a-0600-manifest-private", private_manifest, (*CHECK, "--fix", "{input}"), 2,
         r"fix: .*job\.yaml: qwen35-27b: GPUs GPU0\+GPU1 -> GPU2\+GPU3", check=still_private, issue="19.3",
         root=True),
    Case("fix-a-symlinked-manifest-fixes-its-target", symlinked_manifest, (*CHECK, "--fix", "{input}"), 2,
         r"fix: .*real/job\.yaml: qwen35-27b: GPUs", check=fixed_at_target, issue="19.3"),
    Case("fix-two-manifests-with-one-name-into-one-folder", two_manifests_one_name,
         ("check-deployment", "{a}", "{b}", "--topology", "{example}", "--fix", "{tmp}/out"), 3,
         r"a/job\.yaml and .*b/job\.yaml would both be written as .*out/job\.yaml; nothing was written",
         check=nothing_in_out, issue="19.3"),
    # 4. terminal, Nagios and NFD injection through names from inputs
    Case("scan-text-with-escape-sequences-in-names", report_with(_hostile_names), ("scan", "--from", "{input}"), 2,
         r"status CRITICAL", stream="stdout", check=no_escape, issue="19.4"),
    Case("health-nagios-with-a-newline-and-escapes-in-a-reason", report_with(_hostile_names),
         ("health", "--from", "{input}"), 2, r"^TPDOCTOR CRITICAL", stream="stdout", check=no_escape,
         issue="19.4"),
    Case("health-nfd-with-a-newline-in-the-host", report_with(_newline_host),
         ("health", "--from", "{input}", "--nfd", "{tmp}/nfd"), 2, r"^TPDOCTOR CRITICAL", stream="stdout",
         check=one_expiry, issue="19.4"),
    Case("check-deployment-with-escapes-in-the-model-name",
         lambda tmp: {**nothing(tmp), "input": _write(tmp, "job.yaml", 'model: "qwen\\e[2J\\e]0;x\\a"\ntp: 2\n')},
         CHECK, 3, r"check-deployment", stream="stdout", check=no_escape, issue="19.4"),  # 3: model unknown (22)
    Case("scan-error-line-with-escapes-in-the-path", nothing, ("scan", "--from", "{tmp}/x" + ESC + ".json"), 3,
         r"^tpdoctor: error: .*x\\x1b\[2J.*no such file", check=no_escape, issue="19.4"),
    # 5. fleet inputs from peers
    Case("fleet-host-with-rich-markup-and-escapes", fleet_dir(("gpu01.json", _markup_host, None)),
         ("fleet", "{input}"), 2, r"gpu\[/\]01", stream="stdout", check=no_escape, issue="19.5"),
    Case("fleet-report-dated-a-year-ahead-hides-a-critical-one", fleet_dir(FUTURE, NOW_CRITICAL),
         ("fleet", "--max-age", "30m", "--json", "{input}"), 2, r'"rule": "TPD306"', stream="stdout",
         issue="19.5"),
    Case("fleet-report-says-ok-with-a-down-link-and-no-finding", fleet_dir(("gpu01.json", _lies_ok, None)), FLEET,
         2, r'"rule": "TPD307"', stream="stdout", issue="19.5"),
    Case("health-nfd-on-a-host-named-in-non-utf8", smi("ok"), ("health", "--nfd", "{tmp}/nfd"), 2,
         r"^TPDOCTOR CRITICAL", stream="stdout", prefix=ASHOST, check=nfd_written, issue="19.5", root=True),
    Case("collect-on-a-host-named-in-non-utf8", smi("ok"), ("collect", "{tmp}/capture"), 0,
         r"^tpdoctor: wrote 1\d files", prefix=ASHOST, check=capture_host, issue="19.5", root=True),
    # 6. settings, encodings, output errors, sizes, hooks, modes
    Case("scan-timeout-inf-on-a-hung-nvidia-smi", smi("hang"), ("scan", "--probe", "smi", "--timeout", "inf"), 3,
         r"--timeout 'inf': not a finite number of seconds", issue="19.6"),
    Case("scan-timeout-nan", smi("ok"), ("scan", "--timeout", "nan"), 3,
         r"--timeout 'nan': not a finite number of seconds", issue="19.6"),
    Case("health-probe-timeout-inf-from-the-environment-on-a-hung-nvidia-smi",
         lambda tmp: {**smi("hang")(tmp), "$TPDOCTOR_PROBE_TIMEOUT": "inf"}, ("health", "--probe", "smi"), 3,
         r"\$TPDOCTOR_PROBE_TIMEOUT 'inf': not a finite number", issue="19.6"),
    Case("scan-nvml-deadline-nan-from-the-environment",
         lambda tmp: {**smi("ok")(tmp), "$TPDOCTOR_NVML_DEADLINE": "nan"}, ("scan",), 3,
         r"\$TPDOCTOR_NVML_DEADLINE 'nan': not a finite number", issue="19.6"),
    Case("scan-on-an-ascii-locale", with_env(nothing, C), ("scan", "--from", "{example}"), 2, r"xNV12->NODE",
         stream="stdout", issue="19.6"),
    Case("check-deployment-on-an-ascii-locale", with_env(nothing, C), ("check-deployment", "{job}", "--topology",
                                                                       "{example}"), 2, r"CRITICAL",
         stream="stdout", issue="19.6"),
    Case("fleet-on-an-ascii-locale", with_env(example_dir, C), ("fleet", "{reports}"), 2, r"Fleet", stream="stdout",
         issue="19.6"),
    Case("predict-on-an-ascii-locale", with_env(nothing, C), ("predict", "qwen35-27b", "--topology", "{example}"), 0,
         r"valid TP sizes",
         stream="stdout", issue="19.6"),
    Case("demo-on-an-ascii-locale", with_env(nothing, C), ("demo",), 0, r"DEMO", stream="stdout", issue="19.6"),
    Case("demo-stdout-on-dev-full", nothing, ("demo",), 3, r"^tpdoctor: error: cannot write to stdout: No space",
         stdout="/dev/full", issue="19.6"),
    Case("scan-json-stdout-reader-gone", nothing, ("scan", "--from", "{example}", "--json"), 3,
         r"^tpdoctor: error: the reader of stdout went away", stdout="closed", issue="19.6"),
    Case("scan-from-a-65-gpu-report", _big_report(65), ("scan", "--from", "{input}"), 3,
         r"\$\.gpus: 65 GPUs in one node report .*at most 64", issue="19.6"),
    Case("collect-under-umask-000", smi("ok"), ("collect", "{tmp}/capture"), 0, r"^tpdoctor: wrote", umask=0,
         check=private_capture, issue="19.6"),
    Case("fleet-max-age-beyond-a-timedelta", nothing, ("fleet", "--max-age", "99999999999d", "{example}"), 3,
         r"^tpdoctor: error: --max-age '99999999999d': more than 3,650 days", issue="19.6"),
    Case("predict-busbw-nan", nothing, ("predict", "qwen35-27b", "--tp", "2", "--gpu", "h100-sxm", "--busbw", "nan"), 3,
         r"--busbw 'nan': not a finite number of GB/s", check=no_nan, issue="19.6"),
    Case("rules-folder-writable-by-everyone", rules_dir(0o777), ("health", "--from", "{example}", "--rules",
                                                                   "{rules}"), 3,
         r"rules: the rule folder is writable by others \(mode 0777\)", issue="19.6"),
    Case("rules-folder-of-another-user", rules_dir(owner=NOBODY), ("health", "--from", "{example}", "--rules",
                                                                     "{rules}"), 3,
         r"rules: the rule folder belongs to uid 65534 \(nobody\)", issue="19.6", root=True),
)


# Rows for the before/after table only (table.py): the promise is held by a faster test named beside it.
TABLE_ONLY: tuple[Case, ...] = (
    # tests/bench/test_bench_safety.py: no test hook is left in the package
    Case("bench-with-the-old-test-hook-in-the-environment", hook_env, (*BENCH, "--timeout", "5"), 0,
         r'"busbw_gbps": \d', 90, stream="stdout", check=no_hook, issue="19.6"),
)


def _write(tmp: Path, name: str, text: str) -> str:
    (tmp / name).write_text(text)
    return str(tmp / name)


__all__ = ["CASES19", "EXAMPLE", "healthy"]
