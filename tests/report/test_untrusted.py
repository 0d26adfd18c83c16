"""Every output a person or a parser reads, fed names that try to drive it (issue 19): ESC/CSI/OSC
sequences, C1 codes, a newline, a bidi override, a lone surrogate and rich markup, in the host, the GPU and
NIC names, a GPU's status reason, a model name, an error. Each renderer is rendered on a plain console
(no colour, so any ESC in the output came from the data) and must show them as visible escapes, on one
line, and must not crash on `[/]`."""

from __future__ import annotations

import codecs
import json
from dataclasses import replace
from io import StringIO
from pathlib import Path

import pytest
from rich.console import Console

from tpdoctor.model.bench import BenchResult
from tpdoctor.model.busbw import failed
from tpdoctor.model.errors import TpdError
from tpdoctor.model.findings import Finding, Report, Severity, Status
from tpdoctor.model.safetext import ASCII, ascii_fallback, clean, markup
from tpdoctor.node.verdict import report_for
from tpdoctor.probes.replay import example_path, load

EVIL = "x\x1b[2J\x1b]0;owned\x07\x9b1A\u202eevil\udcff\n[/][bold red]TPDOCTOR OK"
SAFE = "x\\x1b[2J\\x1b]0;owned\\x07\\x9b1A\\u202eevil\\udcff\\n[/][bold red]TPDOCTOR OK"


def _console() -> Console:
    return Console(file=StringIO(), width=200, color_system=None, emoji=False)


def _out(console: Console) -> str:
    return console.file.getvalue()  # type: ignore[attr-defined]


def _assert_clean(text: str) -> None:
    assert "\x1b" not in text and "\x9b" not in text and "\u202e" not in text and "\udcff" not in text, text
    assert "\nTPDOCTOR OK" not in text and "x\\x1b[2J" in text, text


def hostile_report() -> Report:
    topo = load(example_path())
    gpus = list(topo.gpus)
    gpus[0] = replace(gpus[0], name=f"NVIDIA H100 NVL{EVIL}")
    gpus[2] = replace(gpus[2], status="lost", status_reason=EVIL)
    nics = (replace(topo.nics[0], name=EVIL), *topo.nics[1:])
    report = report_for(replace(topo, host=f"gpu01{EVIL}", gpus=tuple(gpus), nics=nics,
                                probe_notes=(EVIL,)))
    extra = Finding(rule="TPD999", name="evil", severity=Severity.WARNING, subject=f"GPU0{EVIL}", message=EVIL,
                    recommendation=EVIL)
    return replace(report, findings=(*report.findings, extra))


def test_clean_and_markup() -> None:
    assert clean(EVIL) == SAFE
    assert markup("gpu[/]01[bold]") == "gpu\\[/]01\\[bold]"
    assert clean("é × ✗ 漢") == "é × ✗ 漢"  # printable text is left alone
    assert clean("a" * 10, limit=5) == "aaaa…"


def test_scan_text() -> None:
    from tpdoctor.report.text import render

    console = _console()
    render(hostile_report(), console)
    _assert_clean(_out(console))


def test_nagios() -> None:
    from tpdoctor.report import nagios

    report = hostile_report()
    text = nagios.render(report, Status.CRITICAL, duration_seconds=0.1)
    _assert_clean(text)
    assert all(not line.startswith("TPDOCTOR OK") for line in text.splitlines())
    _assert_clean(nagios.render(None, Status.UNKNOWN, duration_seconds=0.1, error=EVIL))


def test_prometheus_labels() -> None:
    from prometheus_client.parser import text_string_to_metric_families

    from tpdoctor.report import prometheus

    text = prometheus.render(hostile_report(), probe_success=True, probe_duration_seconds=0.1,
                             status=Status.CRITICAL, timestamp_seconds=0.0)
    assert "\x1b" not in text and "\x9b" not in text and "\u202e" not in text and "\udcff" not in text
    assert all(line.startswith(("# ", "tpdoctor_")) for line in text.splitlines() if line)  # no injected line
    labels = [v for fam in text_string_to_metric_families(text) for s in fam.samples for v in s.labels.values()]
    assert any("x\\x1b[2J" in v for v in labels)  # shown as a visible escape, still a valid label value


def test_nfd_labels() -> None:
    from tpdoctor.report import nfd

    text = nfd.render(hostile_report(), Status.CRITICAL, now=1_800_000_000)
    _assert_clean(text)
    assert sum(line.startswith("# +expiry-time") for line in text.splitlines()) == 1


def test_fleet_text(tmp_path: Path) -> None:
    from tpdoctor.fleet.load import load_fleet
    from tpdoctor.fleet.view import build_view
    from tpdoctor.model.contract import render as render_json
    from tpdoctor.report.fleet_text import render_text

    (tmp_path / "a.json").write_text(render_json(hostile_report()))
    console = _console()
    render_text(build_view(load_fleet([tmp_path])), console)
    _assert_clean(_out(console))


def test_deployment_text_and_sarif(tmp_path: Path) -> None:
    from tpdoctor.deploy.check import check, read_manifests
    from tpdoctor.report import sarif
    from tpdoctor.report.catalogue import load_catalogue
    from tpdoctor.report.deployment_text import render

    job = tmp_path / "job.yaml"
    job.write_text(f"model: {json.dumps(EVIL.replace(chr(0xdcff), chr(0x2028)))}\ntp: 2\ngpus: [0, 1]\n")  # UTF-8 text
    rules = load_catalogue()
    result = check(read_manifests([job]), load(example_path()), rules)
    console = _console()
    render(result, console, explain=True)
    _assert_clean(_out(console))
    findings = tuple(replace(f, message=EVIL) for f in result.report.findings)
    data = json.loads(sarif.render(replace(result.report, findings=findings), rules, lambda f: None))
    for r in data["runs"][0]["results"]:
        assert "\x1b" not in r["message"]["text"] and "\u202e" not in r["message"]["text"]


def test_predict_text() -> None:
    from tpdoctor.deploy.predict import PredictRequest, predict
    from tpdoctor.report.predict_text import render_single

    result = predict(PredictRequest(model="qwen35-27b", gpu="h100-sxm", dtype="fp8", tp=2))
    result = replace(result, spec=replace(result.spec, name=EVIL))
    console = _console()
    render_single(result, console, explain=True)
    _assert_clean(_out(console))


def test_bench_text() -> None:
    from tpdoctor.report.bench_text import render_bench

    results: tuple[BenchResult, ...] = (failed((0, 1), "gloo", 1024, EVIL),)
    console = _console()
    console.print(render_bench(results))
    _assert_clean(_out(console))


def test_cli_error_lines(capsys: pytest.CaptureFixture[str]) -> None:
    from tpdoctor.cli import crash, fail

    fail(TpdError(EVIL, hint=EVIL))
    crash(ValueError(EVIL), debug=False)
    _assert_clean(capsys.readouterr().err)


def test_the_terminal_backstop_cleans_what_a_renderer_forgot() -> None:
    from rich.text import Text

    from tpdoctor.report.terminal import terminal

    console = terminal(file=StringIO(), width=100, force_terminal=True)
    console.print(Text(f"forgot {EVIL}", style="bold red"))
    console.print(f"forgot [bold]too[/bold] {markup(EVIL)}")
    out = _out(console)
    assert "\x1b[1;31m" in out and "\x1b[1m" in out  # rich's own styles still drawn
    assert "\x1b[2J" not in out and "\x1b]0;" not in out and "\u202e" not in out and "x\\x1b[2J" in out


def test_ascii_fallback() -> None:
    """An ASCII stream (LC_ALL=C) gets the ASCII spelling of the views' symbols (cli.py installs the handler)."""
    codecs.register_error("tpdoctor-test", ascii_fallback)
    text = "✗NV12→NODE · GPU0↔NIC0 ┏━┓ │ ╇ 漢"
    assert text.encode("ascii", "tpdoctor-test") == b"xNV12->NODE . GPU0<->NIC0 +-+ | + ?"
    assert all(v.isascii() for v in ASCII.values())


def test_running_text_from_a_capture(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`check-deployment --running --topology DIR`: a host name (host.txt) and a model (running.json) from the
    capture reach the header, the groups table and the launch lines cleaned, on the terminal console."""
    import shutil

    from tpdoctor import SCHEMA
    from tpdoctor.cli import main

    capture = tmp_path / "capture"
    shutil.copytree(Path(__file__).resolve().parents[2] / "fixtures" / "collect" / "gb200-tray-healthy", capture)
    evil = "x\x1b[2J\x1b]0;owned\x07\x9b1A\u202eevil"
    (capture / "host.txt").write_text(f"node{evil}\n")
    launch = ["python", "-m", "vllm.entrypoints.openai.api_server", "--model", f"org/m{evil}",
              "--tensor-parallel-size", "1"]
    (capture / "running.json").write_text(json.dumps({"schema": SCHEMA, "host": "node", "running": {
        "source": "nvml", "table": [{"pid": 100, "gpu": 0, "used_memory_mib": 1000}],
        "processes": [{"pid": 100, "ppid": 1, "name": "python", "cmdline": launch}]}}))
    main(["check-deployment", "--running", "--topology", str(capture)])
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x9b" not in out and "\u202e" not in out, out
    assert "nodex\\x1b[2J" in out and "org/mx\\x1b[2J" in out, out
