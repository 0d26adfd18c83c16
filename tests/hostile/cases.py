"""The hostile inputs, one row each: a new class of bad input is one more `Case(...)` line.

Columns: name, how to build the input (a builder below), the command line (`{placeholders}` come from the
builder; `{example}` is the bundled example node, critical: GPU0-GPU1 NVLink down), the exit code, a
regex the one-line error must match, a deadline in seconds. `issue` is the item of issue 15 the row
comes from ("+" for rows added here). Every row also asserts: no traceback, finished within the deadline.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

from tests.hostile.harness import ROOT, Case, Inputs, Result

EXAMPLE = ROOT / "tpdoctor" / "examples" / "h100nvl-gpu01-nvlink-down"
JOB = ROOT / "fixtures" / "deployments" / "canonical-job.yaml"
HANG = 12.0  # deadline of a probe run with --timeout 2: the timeout, interpreter start, a busy machine


# --- builders: each takes a fresh folder and returns the placeholders (and "$ENV" variables) ---

def nothing(tmp: Path) -> Inputs:
    return {"example": str(EXAMPLE), "job": str(JOB), "tmp": str(tmp)}


def fifo(tmp: Path) -> Inputs:
    os.mkfifo(tmp / "input.json")
    return {**nothing(tmp), "input": str(tmp / "input.json")}


def dev_zero(tmp: Path) -> Inputs:
    (tmp / "input.json").symlink_to("/dev/zero")
    return {**nothing(tmp), "input": str(tmp / "input.json")}


def collect_dir_with_fifo(tmp: Path) -> Inputs:
    """The example's collect directory with its topo-m.txt replaced by a FIFO."""
    folder = tmp / "capture"
    folder.mkdir()
    for f in EXAMPLE.iterdir():
        if f.name != "topo-m.txt":
            (folder / f.name).write_bytes(f.read_bytes())
    os.mkfifo(folder / "topo-m.txt")
    return {**nothing(tmp), "input": str(folder)}


def report_dir_with_fifo(tmp: Path) -> Inputs:
    """A fleet folder: the example node's report and a FIFO named like a report."""
    folder = tmp / "reports"
    folder.mkdir()
    (folder / "gpu01.json").write_text(_example_report())
    os.mkfifo(folder / "gpu02.json")
    return {**nothing(tmp), "input": str(folder)}


def smi(mode: str) -> Callable[[Path], Inputs]:
    """The fake nvidia-smi on PATH, replaying the example node, misbehaving as `mode` says."""
    return lambda tmp: {**nothing(tmp), "$FAKESMI_DIR": str(EXAMPLE), "$FAKESMI_MODE": mode}


def text(content: str | bytes, name: str = "input.json") -> Callable[[Path], Inputs]:
    def build(tmp: Path) -> Inputs:
        path = tmp / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
        return {**nothing(tmp), "input": str(path)}
    return build


@cache
def _example_report() -> str:
    """The example node as a tpdoctor/v1 report (critical: GPU0-GPU1 NVLink down)."""
    out = subprocess.run([sys.executable, "-m", "tpdoctor", "scan", "--from", str(EXAMPLE), "--json"], cwd=ROOT,
                         env=dict(os.environ, PYTHONPATH=str(ROOT)), capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and out.stdout.startswith("{"), out.stderr
    return out.stdout


def report(change: Callable[[dict[str, Any]], None]) -> Callable[[Path], Inputs]:
    """The example report with one change: a report that contradicts itself or breaks a range."""
    data = json.loads(_example_report())
    change(data)
    return text(json.dumps(data, indent=1))


def report_text(edit: Callable[[str], str]) -> Callable[[Path], Inputs]:
    """The example report's text, edited (what JSON itself cannot say: NaN, 5,000 digits)."""
    return lambda tmp: text(edit(_example_report()))(tmp)


def healthy(tmp: Path) -> Inputs:
    """A healthy node's snapshot: the verdict is OK, so only a failure of the run itself can make it non-zero."""
    from tests.topologies import scenario
    from tpdoctor.model.contract import render
    from tpdoctor.model.findings import Report

    path = tmp / "healthy.json"
    path.write_text(render(Report(topology=scenario("h100-nvl-healthy"))))
    return {**nothing(tmp), "healthy": str(path)}


def read_only(build: Callable[[Path], Inputs]) -> Callable[[Path], Inputs]:
    """Adds {ro}: a directory this user cannot write to (root writes anywhere else, but not in sysfs)."""
    def wrapped(tmp: Path) -> Inputs:
        if os.geteuid() == 0:
            ro = Path("/sys/kernel")
        else:
            ro = tmp / "ro"
            ro.mkdir()
            ro.chmod(0o555)
        return {**build(tmp), "ro": str(ro)}
    return wrapped


RULE = """\
id: SITE900
name: site-check
scope: node
each: link
severity: warning
summary: A site rule.
when: "{when}"
message: "{message}"
recommendation: Check it.
docs: {{why: w, verify: v, remediation: Fix it., references: []}}
"""


def rules(when: str = "link.nvlinks == 0", message: str = "{link.id} checked", *, raw: str | None = None,
          special: str | None = None) -> Callable[[Path], Inputs]:
    """A site rule folder {rules} with SITE900.yaml: a rule, raw YAML, or a dangling symlink / a FIFO."""
    def build(tmp: Path) -> Inputs:
        folder = tmp / "rules"
        folder.mkdir()
        path = folder / "SITE900.yaml"
        if special == "dangling":
            path.symlink_to(tmp / "deleted.yaml")
        elif special == "fifo":
            os.mkfifo(path)
        else:
            path.write_text(raw if raw is not None else RULE.format(when=when, message=message))
        return {**nothing(tmp), "rules": str(folder)}
    return build


def literal(n: int) -> str:
    return "[" + ",".join(str(i) for i in range(n)) + "]"


BOMB = "".join(f"{k}: &{k} [{', '.join([f'*{p}'] * 9)}]\n" if p else f"{k}: &{k} [x, x, x, x, x, x, x, x, x]\n"
               for p, k in zip(["", "a", "b", "c", "d", "e", "f", "g"], "abcdefgh"))
NESTED = f"{literal(40)}.all(a, {literal(40)}.all(b, {literal(40)}.all(c, {literal(40)}.all(d, a + b + c + d >= 0))))"


def manifest(name: str, content: str) -> Callable[[Path], Inputs]:
    return text(content, name)


K8S = ("apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: d}}\nspec:\n  replicas: {replicas}\n  template:\n"
       "    spec:\n      containers:\n      - image: vllm/vllm-openai\n        args: [--model, m, -tp, '2']\n"
       "        resources: {{limits: {{nvidia.com/gpu: {gpus}}}}}\n")
COMPOSE = ("services:\n  llm:\n    image: vllm/vllm-openai\n    command: --model m -tp 2\n    deploy:\n"
           "      resources:\n        reservations:\n          devices:\n            - {count: \"two\"}\n")
TWO_UNNAMED = ("CUDA_VISIBLE_DEVICES=0,1 vllm serve qwen35-27b --max-model-len 8192 -tp 2\n"
               "CUDA_VISIBLE_DEVICES=2,3 vllm serve qwen35-27b --max-model-len 8192 -tp 2\n")
CHECK = ("check-deployment", "{input}", "--topology", "{example}")


# --- checks of what a case leaves behind ---

def prom_failed(tmp: Path, result: Result) -> None:
    """The metrics exist and say the run failed (docs/health.md)."""
    prom = (tmp / "m.prom").read_text()
    assert "tpdoctor_probe_success 0" in prom and "tpdoctor_health_status 3" in prom, prom


def nagios_unknown(tmp: Path, result: Result) -> None:
    """The Nagios line agrees with the exit code and says why."""
    assert result.stdout.startswith("TPDOCTOR UNKNOWN - metrics not written ("), result.stdout


def sarif_on_the_broken_line(tmp: Path, result: Result) -> None:
    """The CRITICAL lands on line 1 (GPU0+GPU1, the broken pair), not on the healthy line 2."""
    results = json.loads(result.stdout)["runs"][0]["results"]
    lines = {(r["ruleId"], r["locations"][0]["physicalLocation"]["region"]["startLine"]) for r in results}
    assert ("TPD200", 1) in lines and ("TPD200", 2) not in lines, lines


def nothing_written(tmp: Path, result: Result) -> None:
    assert not list(tmp.glob("**/*.prom")) and not (tmp / "no").exists()


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """`_set("links.0.b", "GPU99")`: one value of the report replaced."""
    *parents, last = path.split(".")

    def change(data: dict[str, Any]) -> None:
        obj: Any = data
        for p in parents:
            obj = obj[int(p)] if isinstance(obj, list) else obj[p]
        if isinstance(obj, list):
            obj[int(last)] = value
        else:
            obj[last] = value
    return change


FLEET = ("fleet", "--json", "{input}")
FIFO_MSG = r"is a FIFO \(named pipe\), not a regular file"
ZERO_MSG = r"is a character device, not a regular file"
DEEP = '{"schema": "tpdoctor/v1", "host": ' + "[" * 50_000 + "]" * 50_000 + "}"

CASES: tuple[Case, ...] = (
    # 1. hangs past the deadline: a daemonised grandchild of nvidia-smi holding stdout; FIFOs; /dev/zero
    Case("scan-smi-daemon-holds-stdout", smi("daemon"), ("scan", "--timeout", "2"), 3,
         r"^tpdoctor: error: nvidia-smi topo -m timed out after 2 s$", HANG, issue="1"),
    Case("health-smi-daemon-holds-stdout", smi("daemon"), ("health", "--timeout", "2"), 3,
         r"^tpdoctor: error: nvidia-smi topo -m timed out after 2 s$", HANG, issue="1"),
    Case("collect-smi-daemon-holds-stdout", smi("daemon"), ("collect", "{tmp}/capture", "--timeout", "2"), 3,
         r"^tpdoctor: error: nvidia-smi topo -m timed out after 2 s$", HANG, issue="1"),
    Case("scan-smi-exits-but-daemon-holds-stdout", smi("daemon-exit"), ("scan", "--timeout", "2", "--json"), 2,
         r'"status": "critical"', HANG, stream="stdout", issue="1"),
    Case("scan-from-fifo", fifo, ("scan", "--from", "{input}"), 3, FIFO_MSG, issue="1"),
    Case("health-from-fifo", fifo, ("health", "--from", "{input}"), 3, FIFO_MSG, issue="1"),
    Case("check-deployment-topology-fifo", fifo, ("check-deployment", "{job}", "--topology", "{input}"), 3,
         FIFO_MSG, issue="1"),
    Case("predict-topology-fifo", fifo, ("predict", "qwen35-27b", "--tp", "2", "--topology", "{input}"), 3,
         FIFO_MSG, issue="1"),
    Case("check-deployment-bench-fifo", fifo,
         ("check-deployment", "{job}", "--topology", "{example}", "--bench", "{input}"), 3, FIFO_MSG, issue="1"),
    Case("fleet-fifo", fifo, FLEET, 3, FIFO_MSG, stream="stdout", issue="1"),
    Case("scan-from-collect-dir-with-fifo", collect_dir_with_fifo, ("scan", "--from", "{input}"), 3,
         r"capture/topo-m\.txt: " + FIFO_MSG, issue="1"),
    Case("fleet-folder-with-fifo", report_dir_with_fifo, FLEET, 2, r"reports/gpu02\.json: " + FIFO_MSG,
         stream="stdout", issue="1"),
    Case("health-baseline-fifo", fifo, ("health", "--from", "{example}", "--baseline", "{input}"), 3,
         r"^tpdoctor: error: baseline .*input\.json: " + FIFO_MSG, issue="1"),
    Case("scan-from-dev-zero-symlink", dev_zero, ("scan", "--from", "{input}"), 3, ZERO_MSG, issue="1"),
    Case("fleet-dev-zero-symlink", dev_zero, FLEET, 3, ZERO_MSG, stream="stdout", issue="1"),
    Case("health-baseline-dev-zero-symlink", dev_zero, ("health", "--from", "{example}", "--baseline", "{input}"),
         3, r"input\.json: the baseline is a symbolic link", issue="1"),  # a baseline is never followed (issue 19)
    Case("check-deployment-bench-dev-zero-symlink", dev_zero,
         ("check-deployment", "{job}", "--topology", "{example}", "--bench", "{input}"), 3, ZERO_MSG, issue="1"),
    # 2. YAML bombs (in rule files; the manifest rows come with the manifests work)
    Case("rules-yaml-alias-bomb", rules(raw=BOMB), ("rules", "--rules", "{rules}"), 3,
         r"SITE900\.yaml:\d+: YAML expands to more than 200,000 nodes", issue="2"),
    Case("rules-yaml-recursive-alias", rules(raw="a: &a [1, *a]\n"), ("rules", "--rules", "{rules}"), 3,
         r"SITE900\.yaml:1: recursive YAML alias", issue="2"),
    Case("check-deployment-manifest-yaml-alias-bomb", manifest("job.yaml", BOMB), CHECK, 3,
         r"job\.yaml:\d+: YAML expands to more than 200,000 nodes", issue="2"),
    Case("check-deployment-manifest-recursive-alias", manifest("job.yaml", "a: &a\n  b: *a\n"), CHECK, 3,
         r"job\.yaml:\d+: recursive YAML alias", issue="2"),
    # 3. tracebacks from ordinary typos
    Case("scan-from-json-50000-deep", text(DEEP), ("scan", "--from", "{input}"), 3,
         r"input\.json: JSON nested too deep to be a report$", issue="3"),
    Case("scan-from-json-5000-digit-number",
         report_text(lambda t: t.replace('"memory_mib": 95830', '"memory_mib": ' + "9" * 5000, 1)),
         ("scan", "--from", "{input}"), 3, r"input\.json: JSON with a number too long", issue="3"),
    Case("scan-from-unknown-is-a-list", report(_set("unknown", ["driver_version"])),
         ("scan", "--from", "{input}"), 3, r"input\.json: \$\.unknown: expected an object of reasons, got list$",
         issue="3"),
    Case("fleet-json-50000-deep", text(DEEP), FLEET, 3, r"JSON nested too deep to be a report", stream="stdout",
         issue="3"),
    Case("fleet-json-5000-digit-number",
         report_text(lambda t: t.replace('"memory_mib": 95830', '"memory_mib": ' + "9" * 5000, 1)), FLEET, 3,
         r"JSON with a number too long", stream="stdout", issue="3"),
    Case("fleet-unknown-is-a-list", report(_set("unknown", ["driver_version"])), FLEET, 3,
         r"\$\.unknown: expected an object of reasons, got list", stream="stdout", issue="3"),
    Case("job-tp-0", manifest("job.yaml", "model: llama-3.1-8b\ntp: 0\n"), CHECK, 3,
         r"job\.yaml:2: .*tp must be a positive integer", issue="3"),
    Case("vllm-tensor-parallel-size-0", manifest("run.sh", "vllm serve m --tensor-parallel-size 0\n"), CHECK, 3,
         r"run\.sh:1: .*not a positive integer", issue="3"),
    Case("job-gpus-0-0", manifest("job.yaml", "model: llama-3.1-8b\ntp: 2\ngpus: [0, 0]\n"), CHECK, 3,
         r"job\.yaml:3: .*names GPU 0 twice", issue="3"),
    Case("compose-count-two", manifest("compose.yaml", COMPOSE), CHECK, 3,
         r"compose\.yaml:9: .*'two' is not a GPU count", issue="3"),
    Case("job-replicas-many", manifest("job.yaml", "model: llama-3.1-8b\nreplicas: many\n"), CHECK, 3,
         r"job\.yaml:2: .*replicas must be a positive integer", issue="3"),
    Case("k8s-replicas-many", manifest("k8s.yaml", K8S.format(replicas="many", gpus=2)), CHECK, 3,
         r"k8s\.yaml:5: .*replicas 'many' is not a count", issue="3"),
    Case("k8s-nvidia-gpu-two", manifest("k8s.yaml", K8S.format(replicas=1, gpus='"two"')), CHECK, 3,
         r"k8s\.yaml:11: .*'two' is not a GPU count", issue="3"),
    Case("health-baseline-binary", text(bytes(range(256)) * 8, "baseline.json"),
         ("health", "--from", "{example}", "--baseline", "{input}", "--prometheus", "{tmp}/m.prom"), 3,
         r"^tpdoctor: error: baseline .*baseline\.json: binary file, not a tpdoctor/v1 baseline$",
         check=prom_failed, issue="3"),
    Case("health-baseline-in-read-only-directory", read_only(nothing),
         ("health", "--from", "{example}", "--baseline", "{ro}/tpdoctor-baseline.json", "--prometheus",
          "{tmp}/m.prom"), 3, r"^tpdoctor: error: .*tpdoctor-baseline\.json\.lock: cannot open the lock file: "
                              r"Permission denied$", check=prom_failed, issue="3"),
    Case("rule-message-format-width-999999999", rules(message="{link.id:999999999}"),
         ("health", "--from", "{example}", "--rules", "{rules}"), 3,
         r"SITE900\.yaml:8: message: format width 999999999 in \{link\.id:999999999\} is too wide", issue="3"),
    # 4. reports that contradict themselves must be refused, not judged OK
    Case("scan-from-link-to-GPU99", report(_set("links.0.b", "GPU99")), ("scan", "--from", "{input}"), 3,
         r"\$\.links\[0\]\.b: GPU99 is not a GPU of this report$", issue="4"),
    Case("scan-from-duplicate-gpu-index", report(_set("gpus.1.index", 0)), ("scan", "--from", "{input}"), 3,
         r"\$\.gpus\[1\]\.index: GPU0 twice \(also \$\.gpus\[0\]\)$", issue="4"),
    Case("scan-from-huge-gpu-index", report(_set("gpus.1.index", 10**12)), ("scan", "--from", "{input}"), 3,
         r"\$\.gpus\[1\]\.index: 1000000000000 is out of range \(0 to 1,023\)$", issue="4"),
    Case("scan-from-nvlinks-minus-5", report(_set("links.0.nvlinks", -5)), ("scan", "--from", "{input}"), 3,
         r"\$\.links\[0\]\.nvlinks: -5 is out of range \(0 to 72\)$", issue="4"),
    Case("scan-from-nvlinks-1e30", report(_set("links.0.nvlinks", 1e30)), ("scan", "--from", "{input}"), 3,
         r"\$\.links\[0\]\.nvlinks: expected int, got 1e\+30$", issue="4"),
    Case("health-from-nvlinks-expected-1e30", report(_set("links.0.nvlinks_expected", 1e30)),
         ("health", "--from", "{input}"), 3, r"\$\.links\[0\]\.nvlinks_expected: 1e\+30 does not match int or null",
         issue="4"),
    Case("scan-from-down-link-left-out", report(lambda d: d["links"].pop(0)), ("scan", "--from", "{input}"), 3,
         r"\$\.links: no link between GPU0 and GPU1", issue="4"),
    Case("vllm-tp-minus-2", manifest("run.sh", "vllm serve m \\\n  -tp -2\n"), CHECK, 3,
         r"run\.sh:2: .*'-2': not a positive integer", issue="4"),
    Case("vllm-tensor-parallel-size-abc", manifest("run.sh", "vllm serve m --tensor-parallel-size abc\n"), CHECK, 3,
         r"run\.sh:1: .*'abc': not a positive integer", issue="4"),
    Case("vllm-tp-5000-digits", manifest("run.sh", "vllm serve m -tp " + "9" * 5000 + "\n"), CHECK, 3,
         r"run\.sh:1: .*not a positive integer", issue="4"),
    Case("job-tp-5000-digits", manifest("job.yaml", "model: m\ntp: " + "9" * 5000 + "\n"), CHECK, 3,
         r"job\.yaml:2: .*far too large", issue="4"),
    Case("tgi-num-shard-abc", manifest("run.sh", "text-generation-launcher --model-id m --num-shard abc\n"),
         CHECK, 3, r"run\.sh:1: .*--num-shard 'abc'", issue="4"),
    Case("sarif-two-unnamed-command-lines-one-model", manifest("run.sh", TWO_UNNAMED), (*CHECK, "--format", "sarif"),
         2, r'"ruleId": "TPD200"', stream="stdout", check=sarif_on_the_broken_line, issue="5"),
    Case("fleet-link-to-GPU99", report(_set("links.0.b", "GPU99")), FLEET, 3,
         r"\$\.links\[0\]\.b: GPU99 is not a GPU of this report", stream="stdout", issue="4"),
    Case("fleet-nvlinks-minus-5", report(_set("links.0.nvlinks", -5)), FLEET, 3,
         r"\$\.links\[0\]\.nvlinks: -5 is out of range", stream="stdout", issue="4"),
    # 6. quiet failures
    Case("health-healthy-snapshot-control", healthy, ("health", "--from", "{healthy}", "--prometheus", "{tmp}/m.prom"),
         0, r"^TPDOCTOR OK - ", issue="+"),  # the node the next rows use is OK: only the run's own failure is not
    Case("health-prometheus-read-only-directory", read_only(healthy),
         ("health", "--from", "{healthy}", "--prometheus", "{ro}/tpdoctor.prom"), 3,
         r"^tpdoctor: error: .*tpdoctor\.prom: cannot write the metrics: Permission denied$", check=nagios_unknown,
         issue="6"),
    Case("health-prometheus-read-only-directory-critical-node", read_only(nothing),
         ("health", "--from", "{example}", "--prometheus", "{ro}/tpdoctor.prom"), 2,
         r"^tpdoctor: error: .*tpdoctor\.prom: cannot write the metrics: Permission denied$", issue="6"),
    Case("health-nfd-read-only-directory", read_only(healthy),
         ("health", "--from", "{healthy}", "--nfd", "{ro}/tpdoctor"), 3,
         r"^tpdoctor: error: .*tpdoctor: cannot write the NFD labels: Permission denied$", issue="6"),
    Case("health-prometheus-directory-missing", healthy,
         ("health", "--from", "{healthy}", "--prometheus", "{tmp}/no/such/dir/tpdoctor.prom"), 3,
         r"cannot write the metrics: directory .*/no/such/dir does not exist", check=nothing_written, issue="6"),
    Case("health-baseline-directory-missing", healthy,
         ("health", "--from", "{healthy}", "--baseline", "{tmp}/no/such/dir/baseline.json", "--prometheus",
          "{tmp}/m.prom"), 3, r"cannot write the lock file: directory .*/no/such/dir does not exist$",
         check=prom_failed, issue="6"),
    Case("collect-directory-above-missing", smi("ok"), ("collect", "{tmp}/no/such/capture"), 3,
         r"cannot write the capture: directory .*/no/such does not exist$", issue="6"),
    Case("rules-dangling-symlink", rules(special="dangling"), ("rules", "--rules", "{rules}"), 3,
         r"SITE900\.yaml: a dangling symbolic link \(its target .*deleted\.yaml does not exist\)$", issue="6"),
    Case("rules-fifo", rules(special="fifo"), ("health", "--from", "{example}", "--rules", "{rules}"), 3,
         r"SITE900\.yaml: " + FIFO_MSG, issue="6"),
    # 8. CEL without a cost limit
    Case("rule-nested-all-four-deep", rules(when=NESTED), ("health", "--from", "{example}", "--rules", "{rules}"), 3,
         r"SITE900\.yaml:7: when: fails on well-typed facts: exceeded CEL's iteration budget", issue="8"),
    Case("rule-condition-5000-characters", rules(when=" || ".join(["link.nvlinks == 0"] * 250)),
         ("health", "--from", "{example}", "--rules", "{rules}"), 3,
         r"when: is 5,\d{3} characters long \(at most 4,000\)", issue="8"),
    # + added here
    Case("scan-from-NaN", report_text(lambda t: t.replace('"nominal_gbps": 63.0', '"nominal_gbps": NaN', 1)),
         ("scan", "--from", "{input}"), 3, r"\$\.links\[0\]\.nominal_gbps: nan is not a plausible measurement$",
         issue="+"),
    Case("scan-from-link-path-NV999", report(_set("links.0.path", "NV999")), ("scan", "--from", "{input}"), 3,
         r"\$\.links\[0\]\.path: 'NV999' is not a topology path", issue="+"),
    Case("scan-from-link-endpoint-not-a-label", report(_set("links.0.a", "GPU-zero")),
         ("scan", "--from", "{input}"), 3, r"\$\.links\[0\]\.a: 'GPU-zero' is not a GPU or NIC label$", issue="+"),
    Case("scan-from-port-peer-GPU99", report(_set("gpus.0.nvlinks.0.peer", 99)), ("scan", "--from", "{input}"), 3,
         r"\$\.gpus\[0\]\.nvlinks\[0\]\.peer: (GPU99 is not a GPU of this report|99 is out of range)", issue="+"),
    Case("scan-from-binary-file", text(bytes(range(256)) * 4), ("scan", "--from", "{input}"), 3,
         r"input\.json: binary file", issue="+"),
    Case("check-deployment-bench-50000-deep", text(DEEP),
         ("check-deployment", "{job}", "--topology", "{example}", "--bench", "{input}"), 3,
         r"input\.json: JSON nested too deep", issue="+"),
    Case("predict-gpus-not-numbers", nothing,
         ("predict", "qwen35-27b", "--tp", "2", "--topology", "{example}", "--gpus", "0,abc"), 3,
         r"^Usage: tpdoctor predict", issue="+"),
)
