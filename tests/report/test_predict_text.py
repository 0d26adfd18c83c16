"""`tpdoctor predict` without --tp: the curve table, the terminal chart and the verdict, rendered at width 130."""

from __future__ import annotations

from io import StringIO

from rich.console import Console

from tpdoctor.cli import main
from tpdoctor.deploy.predict import PredictRequest, predict_curve
from tpdoctor.report.predict_text import BAR_WIDTH, chart, render_curve


def render(model: str, gpu: str, dtype: str, width: int = 130, batch: int = 1) -> str:
    out = StringIO()
    render_curve(predict_curve(PredictRequest(model=model, gpu=gpu, dtype=dtype, batch=batch)),
                 Console(file=out, width=width, color_system=None))
    return out.getvalue()


def test_curve_text_has_a_row_per_tp_a_bar_per_path_and_the_knee() -> None:
    text = render("llama-3.1-70b", "h100-sxm", "fp8")
    assert "valid TP sizes: 1, 2, 4, 8" in text
    lines = text.splitlines()
    rows = [i for i, line in enumerate(lines) if line.strip()[:2] in ("1 ", "2 ", "4 ", "8 ")]
    assert len(rows) == 4 and "NV18" in lines[rows[3]] and "SYS" in lines[rows[3] + 1]  # NVLink row, then PCIe
    assert "110.5 GiB ✗" in lines[rows[0]] and rows[1] == rows[0] + 1  # TP=1: one row (no path), then TP=2
    assert text.count(" TP=8  ") == 1 and text.count("█") > 0 and text.count("▒") > 0  # one chart label
    assert "NVLink: every TP step up to TP=8 still pays" in text
    assert "PCIe: TP stops paying after TP=2 (TP=4 would cut per-token latency by less than 15%)" in text
    assert "the smallest TP that fits is 2" in text


def test_chart_bars_are_proportional_to_latency() -> None:
    c = predict_curve(PredictRequest(model="llama-3.1-8b", gpu="h100-sxm")).curve
    lines = chart(c.points).plain.splitlines()[1:]
    bars_in_order = [p for pt in c.points for p in (pt.nvlink, pt.pcie) if p is not None]
    longest = max(p.per_token_ms for p in bars_in_order)
    for line, p in zip(lines, bars_in_order):
        bars = line.count("█") + line.count("▒")
        assert bars == max(1, round(p.per_token_ms / longest * BAR_WIDTH)), line
        assert line.rstrip().endswith(f"{p.per_token_ms:.2f}")


def test_predict_command_without_tp_prints_the_curve_and_json(capsys) -> None:  # type: ignore[no-untyped-def]
    import json

    assert main(["predict", "qwen3-32b", "--gpu", "l40s", "--dtype", "fp8"]) == 0
    assert "PCIe: " in capsys.readouterr().out
    assert main(["predict", "qwen3-32b", "--gpu", "h100-sxm", "--dtype", "fp8", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["valid_tp"] == [1, 2, 4, 8] and [p["tp"] for p in data["curve"]["points"]] == [1, 2, 4, 8]
    assert data["curve"]["knee_nvlink"] == 8


def test_the_table_fits_a_pipe_of_80_columns_and_never_cuts_a_number() -> None:
    for gpu, batch in (("h100-sxm", 1), ("h100-sxm", 8), ("l40s", 1), ("l40s", 64)):
        text = render("llama-3.1-70b", gpu, "fp8", width=80, batch=batch)
        table = text.split("◀ where TP stops paying")[0]
        assert "…" not in table and max(len(line) for line in table.splitlines()) <= 80, (gpu, batch)
        c = predict_curve(PredictRequest(model="llama-3.1-70b", gpu=gpu, dtype="fp8", batch=batch)).curve
        for pt in c.points:
            for p in (pt.nvlink, pt.pcie):
                if p is not None:
                    assert f"{p.per_token_ms:.2f}" in table, (gpu, batch, pt.tp)
        assert ("tok/s (" in table) == (batch > 1)  # at batch 1 tok/s is 1000 / ms: no column
        assert ("NV18" in table) == (gpu == "h100-sxm")  # an L40S has no NVLink rows
