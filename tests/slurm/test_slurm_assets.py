"""The Slurm examples in deploy/slurm: well-formed (bash -n, known #SBATCH options, only tpdoctor
commands and options that exist), and they do what they say when run with stand-ins for Slurm's own
commands (`srun`, `scontrol`): the node check writes the report `tpdoctor fleet` reads and drains a
critical node; the sbatch script runs the multi-node benchmark on two "nodes" and the fleet shows NET."""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import click
import pytest

from tests.bench.helpers import requires_torch
from tests.conftest import EXAMPLE, FAKESMI_BIN
from tpdoctor.cli import COMMANDS, cli

ROOT = Path(__file__).resolve().parents[2]
SLURM = ROOT / "deploy" / "slurm"
SCRIPTS = sorted(p for p in SLURM.iterdir() if p.suffix in (".sh", ".sbatch"))
# sbatch options we use or document (sbatch(1)); a typo such as --ntask-per-node fails here
SBATCH_OPTIONS = {"job-name", "nodes", "ntasks-per-node", "exclusive", "time", "output", "error",
                  "gpus-per-node", "partition", "account", "cpus-per-task", "mem"}
TPDOCTOR = f"{sys.executable} -m tpdoctor"


def test_there_are_scripts_and_bash_parses_them() -> None:
    assert {p.name for p in SCRIPTS} == {"tpdoctor-node-check.sh", "tpdoctor-bench.sbatch"}
    for path in SCRIPTS:
        proc = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True, timeout=10)
        assert proc.returncode == 0, f"{path.name}: {proc.stderr}"
        assert path.read_text().startswith("#!/bin/bash\n") and os.access(path, os.X_OK), path.name


def test_sbatch_directives_are_known_options() -> None:
    text = (SLURM / "tpdoctor-bench.sbatch").read_text()
    directives = re.findall(r"^#SBATCH\s+(\S+)", text, re.MULTILINE)
    assert directives
    for d in directives:
        m = re.fullmatch(r"--([a-z-]+)(=\S+)?", d)
        assert m and m.group(1) in SBATCH_OPTIONS, d
    # directives only count before the first command
    first_command = next(i for i, ln in enumerate(text.splitlines()) if ln and not ln.startswith("#"))
    assert all(not ln.startswith("#SBATCH") for ln in text.splitlines()[first_command:])


def _invocations(text: str) -> list[tuple[str, list[str]]]:
    """(command, options) of each tpdoctor call: in code (`"${tpdoctor_cmd[@]}" CMD …`) and in the
    documentation comments (`tpdoctor CMD …` at the start of a comment line or in backticks)."""
    joined = re.sub(r"\\\n\s*", " ", text)
    calls = re.findall(r'"\$\{tpdoctor_cmd\[@\]\}" ([a-z-]+)([^\n|>;]*)', joined)
    calls += re.findall(r"^#\s+tpdoctor ([a-z-]+)([^\n#]*)", joined, re.MULTILINE)
    calls += re.findall(r"`tpdoctor ([a-z-]+)([^`]*)`", joined)
    return [(cmd, re.findall(r"(?<!\S)(--[a-z][a-z-]*)", rest)) for cmd, rest in calls]


def test_tpdoctor_commands_and_options_exist() -> None:
    seen = set()
    for path in SCRIPTS:
        for cmd, options in _invocations(path.read_text()):
            assert cmd in COMMANDS, f"{path.name}: tpdoctor {cmd} is not a command"
            command = cli.get_command(click.Context(cli), cmd)
            assert command is not None
            known = {o for p in command.params for o in getattr(p, "opts", [])}
            unknown = [o for o in options if o not in known]
            assert not unknown, f"{path.name}: tpdoctor {cmd} has no option {unknown}"
            seen.add((path.name, cmd))
    assert {("tpdoctor-node-check.sh", "scan"), ("tpdoctor-bench.sbatch", "scan"),
            ("tpdoctor-bench.sbatch", "bench"), ("tpdoctor-bench.sbatch", "fleet")} <= seen


def _stand_ins(folder: Path) -> Path:
    """`scontrol` that records its arguments (and lists one host), `logger` that prints."""
    folder.mkdir()
    (folder / "scontrol").write_text(
        '#!/bin/bash\necho "$*" >> "$SCONTROL_LOG"\n'
        'if [ "$1 $2" = "show hostnames" ]; then echo localhost; fi\n')
    (folder / "logger").write_text('#!/bin/bash\nshift 2\necho "logger: $*" >&2\n')
    for p in folder.iterdir():
        p.chmod(p.stat().st_mode | stat.S_IXUSR)
    return folder


def _check(tmp: Path, *, fakesmi: bool, mode: str = "healthcheck") -> tuple[int, Path, str]:
    bin_dir = _stand_ins(tmp / "bin")
    path = os.pathsep.join([str(bin_dir), *([str(FAKESMI_BIN)] if fakesmi else []), "/usr/bin", "/bin"])
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FAKESMI_", "TPDOCTOR_"))}
    env.update(PATH=path, PYTHONPATH=str(ROOT), TPDOCTOR=TPDOCTOR, TPDOCTOR_REPORT_DIR=str(tmp / "reports"),
               TPDOCTOR_MODE=mode, SLURMD_NODENAME="gpu-node-07", SCONTROL_LOG=str(tmp / "scontrol.log"),
               FAKESMI_DIR=str(EXAMPLE), FAKESMI_MODE="ok")
    proc = subprocess.run([str(SLURM / "tpdoctor-node-check.sh")], env=env, capture_output=True, text=True,
                          timeout=120)
    log = tmp / "scontrol.log"
    return proc.returncode, tmp / "reports", log.read_text() if log.exists() else ""


def test_node_check_writes_the_report_and_drains_a_critical_node(tmp_path: Path) -> None:
    # the bundled example node: GPU0–GPU1 NVLink down, critical
    code, reports, scontrol = _check(tmp_path, fakesmi=True)
    assert code == 0
    assert sorted(p.name for p in reports.iterdir()) == ["gpu-node-07.json"]  # no temp file left
    report = json.loads((reports / "gpu-node-07.json").read_text())
    assert report["schema"] == "tpdoctor/v1" and report["status"] == "critical"
    assert scontrol.startswith("update NodeName=gpu-node-07 State=DRAIN Reason=tpdoctor: critical")
    fleet = subprocess.run([sys.executable, "-m", "tpdoctor", "fleet", str(reports), "--json"], cwd=ROOT,
                           env=dict(os.environ, PYTHONPATH=str(ROOT)), capture_output=True, text=True, timeout=60)
    assert fleet.returncode == 2 and json.loads(fleet.stdout)["nodes"][0]["status"] == "critical"


def test_node_check_as_prolog_fails_a_critical_node_without_scontrol(tmp_path: Path) -> None:
    code, reports, scontrol = _check(tmp_path, fakesmi=True, mode="prolog")
    assert code == 1 and scontrol == "" and (reports / "gpu-node-07.json").exists()


def test_node_check_that_cannot_scan_keeps_the_node_and_writes_nothing(tmp_path: Path) -> None:
    code, reports, scontrol = _check(tmp_path, fakesmi=False)  # no nvidia-smi: scan exits 3
    assert code == 0 and scontrol == "" and list(reports.iterdir()) == []


@requires_torch
def test_sbatch_runs_the_multinode_benchmark_and_fleet_shows_net(tmp_path: Path) -> None:
    """`srun` stand-in: each task in its own UTS namespace named like its node (root only), as two hosts."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare(1) to give each simulated node its own hostname")
    bin_dir = _stand_ins(tmp_path / "bin")
    (bin_dir / "srun").write_text(
        "#!/bin/bash\n"
        "# the stand-in runs the last two arguments (bash -c SCRIPT) once per node, concurrently\n"
        'script="${@: -1}"; pids=()\n'
        "for ((i = 0; i < SLURM_NNODES; i++)); do\n"
        '  SLURM_NODEID=$i SLURMD_NODENAME=sim-node-$i unshare --uts bash -c '
        '"hostname sim-node-$i && exec bash -c \\"\\$0\\"" "$script" &\n'
        '  pids+=($!)\n'
        "done\n"
        "rc=0; for p in \"${pids[@]}\"; do wait \"$p\" || rc=$?; done; exit $rc\n")
    (bin_dir / "srun").chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FAKESMI_", "TPDOCTOR_"))}
    env.update(PATH=os.pathsep.join([str(bin_dir), str(FAKESMI_BIN), "/usr/bin", "/bin"]), PYTHONPATH=str(ROOT),
               TPDOCTOR=TPDOCTOR, SLURM_JOB_ID="4242", SLURM_JOB_NODELIST="sim-node-[0-1]", SLURM_NNODES="2",
               SCONTROL_LOG=str(tmp_path / "scontrol.log"), FAKESMI_DIR=str(EXAMPLE), FAKESMI_MODE="ok",
               TPDOCTOR_RDZV_PORT=str(_free_port()), COLUMNS="140",
               TPDOCTOR_BENCH_ARGS="--backend gloo --nproc-per-node 1 --sizes 1K,64K --iters 2 --warmup 1")
    proc = subprocess.run(["bash", str(SLURM / "tpdoctor-bench.sbatch")], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-2000:]
    reports = tmp_path / "tpdoctor-bench-4242"
    assert sorted(p.name for p in reports.iterdir()) == ["sim-node-0.json", "sim-node-1.json"]
    node0 = json.loads((reports / "sim-node-0.json").read_text())
    assert node0["host"] == "sim-node-0" and len(node0["gpus"]) == 4  # the scan's topology, from --from
    assert {tuple(b["hosts"]) for b in node0["bench"]} == {("sim-node-0", "sim-node-1")}
    # the script's own `tpdoctor fleet` printed the NET path
    row = next(line for line in proc.stdout.splitlines() if "node-pairs" in line)
    assert "sim-node-0 ↔ sim-node-1" in row and "NET" in row


def _free_port() -> int:
    from tpdoctor.bench.runner import free_port

    return free_port()
