"""The examples in deploy/ are well-formed and their tpdoctor command lines use real options."""

from __future__ import annotations

import configparser
import shlex
from pathlib import Path

import click
import pytest
import yaml

from tpdoctor.cli import cli

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
TEXTFILE = "/var/lib/node_exporter/textfile_collector"


def check_health_args(argv: list[str]) -> dict[str, object]:
    """Parse a `tpdoctor health ...` command line with the real click command (unknown options fail)."""
    i = next(k for k, a in enumerate(argv[:-1]) if Path(a).name == "tpdoctor" and argv[k + 1] == "health")
    cmd = cli.get_command(click.Context(cli), "health")
    assert cmd is not None
    ctx = cmd.make_context("health", argv[i + 2:])
    return dict(ctx.params)


def test_crontab_line() -> None:
    lines = [ln for ln in (DEPLOY / "cron" / "tpdoctor-health").read_text().splitlines()
             if ln.strip() and not ln.startswith("#") and "=" not in ln.split()[0]]
    assert len(lines) == 1
    fields = lines[0].split(None, 6)
    assert len(fields[:5]) == 5 and fields[5] == "root"
    argv = shlex.split(fields[6].split(">")[0])
    params = check_health_args(argv)
    assert str(params["prometheus"]).startswith(TEXTFILE) and params["baseline"]


def test_systemd_units() -> None:
    service = configparser.ConfigParser(strict=False, interpolation=None)
    service.optionxform = str  # type: ignore[assignment,method-assign]
    service.read(DEPLOY / "systemd" / "tpdoctor-health.service")
    assert service["Unit"]["Description"]
    assert service["Service"]["Type"] == "oneshot"
    params = check_health_args(shlex.split(service["Service"]["ExecStart"]))
    assert str(params["prometheus"]).startswith(TEXTFILE)
    timer = configparser.ConfigParser(strict=False, interpolation=None)
    timer.optionxform = str  # type: ignore[assignment,method-assign]
    timer.read(DEPLOY / "systemd" / "tpdoctor-health.timer")
    assert timer["Timer"]["Unit"] == "tpdoctor-health.service"
    assert "OnUnitActiveSec" in timer["Timer"] or "OnCalendar" in timer["Timer"]
    assert timer["Install"]["WantedBy"] == "timers.target"


@pytest.mark.parametrize("name", ["daemonset.yaml", "cronjob.yaml"])
def test_kubernetes_manifests(name: str) -> None:
    doc = yaml.safe_load((DEPLOY / "kubernetes" / name).read_text())
    pod = doc["spec"]["template"]["spec"] if doc["kind"] == "DaemonSet" else \
        doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    argv = container["command"] + container.get("args", [])
    if argv[:2] == ["/bin/sh", "-c"]:
        script = argv[2]
        argv = shlex.split(script[script.index("tpdoctor health"):].split(";")[0])
    params = check_health_args(argv)
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    prom_dir = str(Path(str(params["prometheus"])).parent)
    assert prom_dir in mounts and str(Path(str(params["baseline"])).parent) in mounts
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes[mounts[prom_dir]]["hostPath"]["path"] == prom_dir
    assert "resources" not in container or "nvidia.com/gpu" not in str(container["resources"])


def test_nfd_daemonset_writes_into_the_features_d_hostpath() -> None:
    """The DaemonSet's `--nfd` file lies in NFD's features.d directory, mounted from the same hostPath NFD's
    worker reads (node-feature-discovery's Helm chart mounts /etc/kubernetes/node-feature-discovery/features.d/)."""
    doc = yaml.safe_load((DEPLOY / "kubernetes" / "daemonset-nfd.yaml").read_text())
    assert doc["kind"] == "DaemonSet"
    pod = doc["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    script = container["args"][0]
    params = check_health_args(shlex.split(script[script.index("tpdoctor health"):].split(";")[0]))
    target = Path(str(params["nfd"]))
    features_d = "/etc/kubernetes/node-feature-discovery/features.d"
    assert str(target.parent) == features_d and not target.name.startswith(".")
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes[mounts[features_d]]["hostPath"]["path"] == features_d
    assert not any(m.get("readOnly") for m in container["volumeMounts"] if m["mountPath"] == features_d)
    assert "nvidia.com/gpu" not in str(container.get("resources", {}))


def test_tp2_pod_selects_on_labels_tpdoctor_writes() -> None:
    """The Pod's nodeAffinity names only labels `tpdoctor health --nfd` writes, with values it can write, in
    a form the API accepts (Gt/Lt: one integer; In: strings)."""
    from tests.topologies import h100_nvl_4gpu
    from tpdoctor.model.findings import Report, Status
    from tpdoctor.report.nfd import PREFIX, labels

    doc = yaml.safe_load((DEPLOY / "kubernetes" / "pod-tp2-nvlink.yaml").read_text())
    assert doc["kind"] == "Pod"
    terms = doc["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
        "nodeSelectorTerms"]
    exprs = [e for t in terms for e in t["matchExpressions"]]
    ok = {PREFIX + k: v for k, v in labels(Report(topology=h100_nvl_4gpu()), Status.OK, now=0).items()}
    no_pair = {PREFIX + k: v for k, v in labels(Report(topology=h100_nvl_4gpu(down=[(0, 1), (2, 3)])),
                                                Status.CRITICAL, now=0).items()}

    def matches(node: dict[str, str]) -> bool:
        for e in exprs:
            assert e["key"] in ok, e["key"]
            value = node.get(e["key"])
            assert all(isinstance(v, str) for v in e["values"])
            if e["operator"] == "Gt":
                (bound,) = e["values"]
                if value is None or not int(value) > int(bound):
                    return False
            elif e["operator"] == "In":
                if value not in e["values"]:
                    return False
            else:
                raise AssertionError(e["operator"])
        return True

    assert matches(ok) and not matches(no_pair)
    assert no_pair[PREFIX + "nvlink.healthy-group"] == "1"
    assert not matches({**ok, PREFIX + "nvlink.healthy-group": "1"})  # no healthy pair alone keeps it off
    assert "2" in str(doc["spec"]["containers"][0]["args"])  # a TP=2 server


# Only 0 is success (issue 15): a warning, a critical node and a check that could not run must not pass.

def test_systemd_counts_only_exit_0_as_success() -> None:
    text = (DEPLOY / "systemd" / "tpdoctor-health.service").read_text()
    settings = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    assert not [ln for ln in settings if ln.startswith(("SuccessExitStatus", "RestartPreventExitStatus"))]
    assert not any(ln.startswith("ExecStart=-") for ln in settings)  # "-" would ignore every failure


def test_cron_line_reports_every_non_zero_exit_and_creates_the_state_directory() -> None:
    line = next(ln for ln in (DEPLOY / "cron" / "tpdoctor-health").read_text().splitlines()
                if ln.startswith("*/"))
    command = line.split(None, 6)[6]
    # tpdoctor creates no directories; this one is root's alone, whatever the umask (docs/health.md)
    assert command.startswith("install -d -m 0755 -o root /var/lib/tpdoctor && ")
    assert "|| logger -t tpdoctor-health" in command and "exited $?" in command
    assert "|| true" not in command


def test_kubernetes_cronjob_fails_the_job_on_any_non_zero_exit() -> None:
    doc = yaml.safe_load((DEPLOY / "kubernetes" / "cronjob.yaml").read_text())
    job = doc["spec"]["jobTemplate"]["spec"]
    assert job["backoffLimit"] == 0 and "podFailurePolicy" not in job  # no rule turns an exit code into success
    (container,) = job["template"]["spec"]["containers"]
    assert container["command"][0] == "tpdoctor"  # no shell wrapper that could swallow the exit code


@pytest.mark.parametrize("name", ["daemonset.yaml", "daemonset-nfd.yaml"])
def test_kubernetes_daemonset_loop_logs_every_non_zero_exit(name: str) -> None:
    doc = yaml.safe_load((DEPLOY / "kubernetes" / name).read_text())
    (container,) = doc["spec"]["template"]["spec"]["containers"]
    script = container["args"][0]
    assert 'rc=$?; [ "$rc" -eq 0 ] || echo "tpdoctor health exited $rc' in script
