"""`minqing train` and `minqing classify`: the learned classifier (分类模型) from the command line.

Only argument parsing and printing live here; training, the class check, persistence and
prediction are minqing/classifier.py. Wired into the main CLI by `register(app)` in cli/main.py.
"""

from __future__ import annotations

import csv
import os
import stat
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from minqing.i18n import N_, _, ngettext

console = Console()
err = Console(stderr=True)

SHOWN_THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.99)


def register(app: typer.Typer) -> None:
    app.command("train", help=N_("训练分类模型，做交叉验证，并连同评估指标一起保存。"))(train)
    app.command(
        "classify",
        help=N_(
            "预测每行的分类、置信度和前三个候选分类，以及夜间流程会自动分派还是留待人工审核"
            "（needs_review，按其分类的 review_threshold）；输入的列保留。"
        ),
    )(classify)


def _categories(option: str | None) -> list[str]:
    """The categories given, else the office's first-level categories from config."""
    if option:
        return [c.strip() for c in option.split(",") if c.strip()]
    from minqing.reference import load_reference
    from minqing.settings import get_settings

    return load_reference(get_settings().resolved_config_dir).top_categories


def _models_dir(option: Path | None) -> Path:
    from minqing.settings import get_settings

    return option or get_settings().models_dir


def _config(option: Path | None) -> Path:
    from minqing.settings import get_settings

    return option or get_settings().resolved_config_dir / "classifier.yaml"


def train(
    source: Annotated[
        Path, typer.Option("--from", help=N_("已标注分类的 CSV 文件（UTF-8 或 GB18030）。"))
    ],
    text_column: Annotated[str, typer.Option(help=N_("留言内容所在的列。"))] = "text",
    label_column: Annotated[str, typer.Option(help=N_("分类所在的列。"))] = "label",
    title_column: Annotated[
        str | None, typer.Option(help=N_("标题所在的列（可选，读在内容之前）。"))
    ] = None,
    out_dir: Annotated[
        Path | None, typer.Option(help=N_("存放模型的文件夹（默认：var/models）。"))
    ] = None,
    categories: Annotated[
        str | None,
        typer.Option(help=N_("分类，以逗号分隔（默认：config 中的一级分类）。")),
    ] = None,
    cv_folds: Annotated[int, typer.Option(help=N_("交叉验证的折数（0：不做）。"))] = 5,
    config: Annotated[
        Path | None,
        typer.Option(help=N_("模型参数和审核阈值（默认：config/classifier.yaml）。")),
    ] = None,
) -> None:
    from minqing.classifier import (
        ModelMismatch,
        check_classes,
        csv_source,
        read_classifier_config,
        read_labelled_csv,
        save_model,
        train_model,
    )

    configured = _categories(categories)
    try:
        config = _config(config)
        cfg = read_classifier_config(config)
        texts, labels = read_labelled_csv(source, text_column, label_column, title_column)
        # The labels are the classes the model will have: refuse before minutes of training.
        check_classes(sorted(set(labels)), configured)
    except (OSError, ValueError) as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    where = str(config) if config.exists() else _("默认参数（找不到 %(file)s）") % {"file": config}
    console.print(
        ngettext(
            "用 %(source)s 中的 %(n)d 条文本训练；参数：%(settings)s ……",
            "用 %(source)s 中的 %(n)d 条文本训练；参数：%(settings)s ……",
            len(texts),
        )
        % {"source": source, "n": len(texts), "settings": where}
    )
    if cv_folds:
        console.print(
            _("正在训练：%(folds)d 折交叉验证后再训练最终模型，需要几分钟，其间没有输出。")
            % {"folds": cv_folds}
        )
    model = train_model(
        texts,
        labels,
        cv_folds=cv_folds,
        settings=cfg.settings,
        thresholds=cfg.thresholds,
        source=csv_source(source, text_column, label_column, title_column),
    )
    try:
        check_classes(model, configured)
    except ModelMismatch as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    path = save_model(model, _models_dir(out_dir))
    _print_metrics(model.metadata, cfg.review_threshold)
    _print_routing(model.metadata, [dict(e) for e in cfg.expected])
    console.print(
        _("模型已保存：[bold]%(path)s[/bold]（评估指标见 %(metrics)s）")
        % {"path": path, "metrics": path.with_suffix(".json")}
    )
    console.print(
        _(
            "每周的重新训练（retrain）以 %(source)s 为基础，加入工作人员确认过的分类："
            "请不要移动或删除这个文件。"
        )
        % {"source": source.resolve()}
    )


def _print_metrics(metadata: dict, review_threshold: float) -> None:
    cv = metadata.get("cv")
    if not cv:
        console.print(_("未做交叉验证（--cv-folds 0）"))
        return
    table = Table(_("分类"), "F1", _("样本数"), title=_("%(n)d 折交叉验证") % {"n": cv["folds"]})
    for name, f1 in cv["per_class_f1"].items():
        table.add_row(name, f"{f1:.3f}", str(metadata["class_counts"].get(name, "")))
    folds = ", ".join(f"{f:.3f}" for f in cv["macro_f1_per_fold"])
    table.add_row(
        "macro-F1",
        f"{cv['macro_f1_mean']:.3f}",
        _("各折 %(folds)s") % {"folds": folds},
        style="bold",
    )
    console.print(table)
    curve = Table(_("阈值"), _("准确率"), _("自动分派率"), title=_("自动分派（置信度 ≥ 阈值）"))
    for point in cv["precision_coverage"]:
        if point["threshold"] in SHOWN_THRESHOLDS or point["threshold"] == review_threshold:
            precision = "-" if point["precision"] is None else f"{point['precision']:.3f}"
            mark = (
                _("（配置的 review_threshold）") if point["threshold"] == review_threshold else ""
            )
            curve.add_row(f"{point['threshold']:.2f}{mark}", precision, f"{point['coverage']:.3f}")
    console.print(curve)
    weights = metadata.get("settings", {}).get("category_weights") or []
    if weights:
        console.print(
            _("类别权重（用于决定类别；置信度仍是校准后的概率）：%(weights)s")
            % {"weights": ", ".join(f"{name} {weight:g}" for name, weight in weights)}
        )
    suggested = cv.get("threshold_for_precision_0.98")
    console.print(
        _(
            "交叉验证中准确率达到 0.98 的最低阈值：%(threshold)s。这只适用于与训练数据相似的留言，"
            "不宜据此降低审核阈值：新留言上的准确率见下表。"
        )
        % {"threshold": f"{suggested:.2f}" if suggested is not None else _("未达到")}
    )


def _span(point: dict, key: str) -> str:
    value, interval = point.get(key), point.get(f"{key}_95")
    if value is None:
        return "-"
    if not interval:
        return f"{value:.3f}"
    low, high = (interval["low"], interval["high"]) if isinstance(interval, dict) else interval
    return f"{value:.3f} ({low:.3f}-{high:.3f})"


def _print_routing(metadata: dict, expected: Sequence[dict]) -> None:
    """Automatic routing at the configured review thresholds: what this training's
    cross-validation says (messages like the training data), next to what was measured on
    messages the model had never seen (config/classifier.yaml expected_on_new_messages) — a
    table on a wide terminal, one block per measurement below WIDE columns."""
    from cli.blocks import fitted_table, labelled, print_blocks

    headers = [_("测量数据"), _("准确率（95%区间）"), _("自动分派率（95%区间）"), "macro-F1"]
    rows = []
    at = (metadata.get("cv") or {}).get("at_review_thresholds")
    if at:
        rows.append([
            _("本次数据的交叉验证（同分布：只适用于与训练数据相似的留言）"),
            _span(at, "precision"), _span(at, "coverage"), f"{metadata['cv']['macro_f1_mean']:.3f}",
        ])  # fmt: skip
    for measured in expected:
        f1 = measured.get("macro_f1")
        rows.append([
            _("新留言：%(data)s") % {"data": measured.get("hold_out", "")},
            _span(measured, "precision"), _span(measured, "coverage"),
            "-" if f1 is None else f"{f1:.3f}",
        ])  # fmt: skip
    if not rows:
        return
    title = _("按配置的审核阈值自动分派")
    if console.width < WIDE:
        console.print(title)
        blocks = [(row[0], [labelled(h, v) for h, v in zip(headers[1:], row[1:], strict=True)])
                  for row in rows]  # fmt: skip
        print_blocks(console, blocks)
    else:
        console.print(fitted_table(headers, rows, whole={1, 2, 3}, title=title))
    if expected:
        console.print(
            _(
                "实际运行中应以新留言的数字为准；交叉验证的数字只适用于与训练数据相似的留言。"
                "新留言各行是用这些参数在本项目自带的已分类留言上测得的"
                "（bench/results/classifier.md）：换用其他数据训练后，请重新测量。"
                "夜间运行摘要按办理结果跟踪实际的自动分派准确率。"
            )
        )


# Below this many columns the routing table's long row names are cut: one block per row.
WIDE = 110


def classify(
    source: Annotated[Path, typer.Argument(help=N_("留言的 CSV 文件（UTF-8 或 GB18030）。"))],
    text_column: Annotated[str, typer.Option(help=N_("留言内容所在的列。"))],
    title_column: Annotated[str | None, typer.Option(help=N_("标题所在的列（可选）。"))] = None,
    model: Annotated[
        Path | None, typer.Option(help=N_("模型文件（默认：var/models 中最新的一个）。"))
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help=N_("把 CSV 写到这个文件，而不是标准输出。"))
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(help=N_("审核阈值（默认：config/classifier.yaml）。")),
    ] = None,
) -> None:
    from minqing.classifier import (
        column_index,
        combine_title,
        latest_model_path,
        load_model,
        read_classifier_config,
        read_csv_table,
    )
    from minqing.classify import classify_by_keywords
    from minqing.precision import ReviewThresholds, needs_review
    from minqing.reference import load_reference
    from minqing.settings import get_settings
    from minqing.triage import RULE_THRESHOLD

    path = model or latest_model_path(_models_dir(None))
    try:
        header, rows = read_csv_table(source)
        ti = column_index(header, text_column, source)
        hi = column_index(header, title_column, source) if title_column else None
        if path is not None:
            trained = load_model(path)
            thresholds = read_classifier_config(_config(config)).thresholds
        else:  # as the night does until a model is trained: config's keyword rules
            categories = load_reference(get_settings().resolved_config_dir).flat_categories
            thresholds = ReviewThresholds(RULE_THRESHOLD)  # the night's bar for the rules
    except (OSError, ValueError) as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    rows = [row + [""] * (len(header) - len(row)) for row in rows]
    texts = [combine_title(row[hi] if hi is not None else None, row[ti]) for row in rows]
    if path is not None:
        predictions = [(p.category, p.confidence, p.top3) for p in trained.predict(texts)]
        used_by = str(path)
    else:
        err.print(
            _(
                "%(folder)s 中还没有模型：按 config/categories.yaml 的关键词规则分类，与夜间运行"
                "相同（规则意见不一的留言待人工审核）；训练模型用 `minqing train`。"
            )
            % {"folder": _models_dir(None)}
        )
        rules = [classify_by_keywords(text, categories) for text in texts]
        predictions = [(c.top, c.confidence, c.top3) for c in rules]
        used_by = _("关键词规则")
    extra = ["category", "confidence", "needs_review", "review_threshold"]
    for k in (1, 2, 3):
        extra += [f"top{k}_category", f"top{k}_confidence"]
    table = [header + extra]
    for row, (category, confidence, top3) in zip(rows, predictions, strict=True):
        top = [cell for name, prob in top3 for cell in (name, f"{prob:.4f}")]
        top += [""] * (6 - len(top))
        review = needs_review(category, confidence, thresholds)
        used = thresholds.for_category(category)
        decision = [category or "", f"{confidence:.4f}", "1" if review else "0", f"{used:g}"]
        table.append(row + decision + top)
    _write_table(table, out)
    if out:
        err.print(
            ngettext(
                "已用 %(model)s 分类 %(n)d 行 → %(out)s",
                "已用 %(model)s 分类 %(n)d 行 → %(out)s",
                len(rows),
            )
            % {"model": used_by, "n": len(rows), "out": out}
        )


def _write_table(table: list[list[str]], out: Path | None) -> None:
    """The classified rows: an Excel workbook for `--out *.xlsx`, else CSV — with a BOM for a
    file (`--out`, or standard output redirected into a file: `> 结果.csv`), so Excel reads the
    Chinese, and without one into a pipe, where another program reads it."""
    if out is not None and out.suffix.lower() == ".xlsx":
        import pandas as pd

        pd.DataFrame(table[1:], columns=table[0]).to_excel(out, index=False)
        return
    if out is not None:
        with out.open("w", encoding="utf-8-sig", newline="") as handle:
            csv.writer(handle).writerows(table)
        return
    if _is_file(sys.stdout):
        sys.stdout.write("\ufeff")
    csv.writer(sys.stdout).writerows(table)


def _is_file(stream: Any) -> bool:
    try:
        return stat.S_ISREG(os.fstat(stream.fileno()).st_mode)
    except (AttributeError, OSError, ValueError):  # not a real file (a test's buffer)
        return False
