"""The generated model card: a Markdown skeleton filled from a bundle's metadata."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

__all__ = ["metric_table", "render_card"]

_INTENDED_USE = {
    "segmentation": (
        "Probability maps of {names} on standardised face photos, computed by skinscan beside its "
        "classical filters so that the two can be compared region by region. Decision support "
        "for skin-care assessment and research; not a diagnostic device."
    ),
    "severity": (
        "Severity 0-100 of {names} on standardised face photos, reported by skinscan beside the "
        "classical severity and used instead of it only where this bundle's evaluation says it "
        "agrees better with the reference. Decision support and research; not a diagnostic device."
    ),
}

_LIMITS = (
    "Trained and evaluated only on the data listed above; accuracy on other cameras, lighting, "
    "ages, skin conditions and skin tones is unknown until measured.",
    "Skin-tone groups with few or no evaluation samples have no reliable metric; read the table "
    "with the sample counts.",
    "Input must be prepared by `{function}` at {size} (RGB{texture}); other preparations are "
    "out of contract.",
    "Not validated as a medical device; scores support, and never replace, a clinician's "
    "judgement.",
)


def _format_value(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "—" if value != value else f"{value:.4g}"
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def metric_table(metrics: Mapping[str, Any]) -> str:
    """Markdown table of ``metrics``: rows ``overall`` and each skin-tone group, metric columns.

    ``metrics`` is free-form; the table reads ``overall`` (``{metric: value}``) and
    ``by_skin_tone`` (``{group: {metric: value}}``); any other key is listed below the table.
    """
    if not metrics:
        return "No evaluation recorded yet."
    rows: list[tuple[str, Mapping[str, Any]]] = []
    if isinstance(metrics.get("overall"), Mapping):
        rows.append(("overall", metrics["overall"]))
    by_tone = metrics.get("by_skin_tone")
    if isinstance(by_tone, Mapping):
        rows.extend((str(g), v) for g, v in by_tone.items() if isinstance(v, Mapping))
    lines: list[str] = []
    if rows:
        columns: list[str] = []
        for _, values in rows:
            columns.extend(str(k) for k in values if str(k) not in columns)
        lines.append("| group | " + " | ".join(columns) + " |")
        lines.append("|---|" + "---|" * len(columns))
        for group, values in rows:
            cells = [_format_value(values.get(c)) for c in columns]
            lines.append(f"| {group} | " + " | ".join(cells) + " |")
    others = {k: v for k, v in metrics.items() if k not in ("overall", "by_skin_tone")}
    if others:
        if lines:
            lines.append("")
        lines.extend(f"- **{k}**: {_format_value(v)}" for k, v in others.items())
    return "\n".join(lines)


def _training_section(training: Mapping[str, Any] | None) -> str:
    if not training:
        return (
            "Not recorded. A bundle without a statement of its training data must not be shipped."
        )
    return "\n".join(f"- **{k}**: {_format_value(v)}" for k, v in training.items())


def render_card(metadata: Mapping[str, Any]) -> str:
    """The Markdown model card of a bundle, entirely from its ``metadata.json`` content."""
    task = str(metadata.get("task", ""))
    output = metadata.get("output") or {}
    preprocessing = metadata.get("preprocessing") or {}
    names = ", ".join(output.get("names") or []) or "the model's outputs"
    size = "×".join(str(v) for v in preprocessing.get("input_size") or []) or "its input size"
    onnx = metadata.get("onnx") or {}
    intended = _INTENDED_USE.get(task, "See the bundle's metadata.").format(names=names)
    limits = "\n".join(
        "- "
        + limit.format(
            function=preprocessing.get("function", "to_input"),
            size=size,
            texture=" + texture channel" if preprocessing.get("texture") else "",
        )
        for limit in _LIMITS
    )
    check = (
        f"ONNX export (opset {onnx.get('opset')}) matches PyTorch to a max abs difference of "
        f"{_format_value(onnx.get('max_abs_diff'))} ({onnx.get('checked_with')})."
        if onnx
        else "No ONNX export."
    )
    files = "\n".join(f"| `{f}` | `{h}` |" for f, h in (metadata.get("sha256") or {}).items())
    parts = [
        f"# {metadata.get('name')} {metadata.get('version')}",
        "",
        f"Task: **{task}** ({output.get('kind')}, {output.get('activation')} → "
        f"{output.get('range')}); architecture `{metadata.get('arch')}` on "
        f"`{metadata.get('backbone')}`, {metadata.get('parameters', 0):,} parameters; input "
        f"{metadata.get('input', {}).get('channels')} channels at {size}.",
        "",
        "## Intended use",
        "",
        intended,
        "",
        "## Training data",
        "",
        _training_section(metadata.get("training")),
        "",
        "## Metrics (overall and by skin-tone group)",
        "",
        metric_table(metadata.get("metrics") or {}),
        "",
        "## Limits",
        "",
        limits,
        "",
        "## Licence",
        "",
        f"{metadata.get('licence')}. {check}",
        "",
        "## Files",
        "",
        "| file | sha256 |",
        "|---|---|",
        files,
        "",
        "This card is generated from `metadata.json`; `skinscan.models.update_bundle_metadata` "
        "re-renders it.",
        "",
    ]
    return "\n".join(parts)
