"""What every page shares: the server's config, the roots it may touch, and safe text rendering.

The session (config and loaded models) is made once per server process (`wb ui --config FILE --set
KEY=VALUE` passes them through the environment, so every page and every browser session shares it).
Pages call that `Workbench` and `workbench.jobs` like the CLI does; nothing here turns settings into
options by hand.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Any

import streamlit as st

from workbench.config import CONFIG_ENV, OVERRIDES_ENV, Config, load_config, setting_value
from workbench.errors import Failure, WorkbenchError
from workbench.ondisk import human_size as size_text
from workbench.ondisk import write_atomic
from workbench.session import Workbench

SHIPPED_RESULTS = Path(__file__).resolve().parents[1] / "bench" / "results" / "experiments"  # in a checkout
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class PathRefused(WorkbenchError):
    pass


@st.cache_resource(show_spinner=False)
def _session(path: str | None, overrides: tuple[str, ...]) -> Workbench:
    return Workbench(load_config(path, list(overrides)))


def session() -> Workbench:
    """The server's session: its config (defaults, the file `wb ui --config` named, its `--set`
    overrides) and the models every page and browser tab shares."""
    overrides = tuple(line for line in os.environ.get(OVERRIDES_ENV, "").splitlines() if line.strip())
    return _session(os.environ.get(CONFIG_ENV) or None, overrides)


def config() -> Config:
    """The server's config (`session().config`)."""
    return session().config


def setting_input(container, dotted: str, label: str, bench: Workbench | None = None, **options) -> Any:
    """A form field for config key `dotted`, derived from the setting as the CLI's flags are: the widget
    from its type (a choice, a flag, a number), the bounds from its constraints, the help from its
    comment in configs/default.yaml, the value from `bench`'s config (default: the server's). An
    optional number shows None as 0 and gives None back for 0. `options` go to the widget."""
    bench = bench or session()
    value, spec = setting_value(bench.config, dotted), bench.setting_spec(dotted)
    options.setdefault("help", spec.description or None)
    if spec.choices:
        return container.selectbox(label, spec.choices, index=spec.choices.index(value), **options)
    if spec.kind is bool:
        return container.checkbox(label, value=value, **options)
    if spec.kind not in (int, float):
        return container.text_input(label, value="" if value is None else str(value), **options) or None
    low, high = spec.bounds.get("ge", spec.bounds.get("gt")), spec.bounds.get("le")
    if low is not None and "gt" in spec.bounds and not spec.optional:  # strictly above: the next value that counts
        low = low + 1 if spec.kind is int else max(low, 1e-9)
    chosen = container.number_input(label, value=spec.kind(value or 0), min_value=None if low is None else spec.kind(low),
                                    max_value=None if high is None else spec.kind(high), **options)
    return None if spec.optional and not chosen else chosen


def data_roots(cfg: Config) -> list[Path]:
    """Where the app may read data from: uploads and the configured data folders."""
    return [Path(cfg.ui.uploads_root).resolve(), *(Path(root).resolve() for root in cfg.ui.data_roots)]


def allowed_path(text: str, cfg: Config) -> Path:
    """`text` as a path inside one of the data roots; anything outside is refused with a message."""
    if not text.strip():
        raise PathRefused("give a file or folder path")
    path = Path(text.strip()).expanduser().resolve()
    roots = data_roots(cfg)
    if not any(path == root or root in path.parents for root in roots):
        allowed = ", ".join(str(r) for r in roots)
        raise PathRefused(f"{path} is outside the folders this server may read ({allowed}); "
                          "add its folder to ui.data_roots in the config, or upload the files")
    if not path.exists():
        raise PathRefused(f"{path} does not exist")
    return path


def check_name(name: str, what: str) -> str:
    if not NAME.match(name or ""):
        raise WorkbenchError(f"{what} name {name!r}: use 1-64 letters, digits, '.', '_' or '-', starting with a "
                             "letter or digit")
    return name


def save_uploads(files, cfg: Config, folder: str) -> list[Path]:
    """Write uploaded files under `ui.uploads_root/folder` after checking their type and size."""
    target = Path(cfg.ui.uploads_root) / check_name(folder, "upload folder")
    for upload in files:  # all checked before any is written
        name = Path(upload.name).name
        suffix = Path(name).suffix.lower().lstrip(".")
        if suffix not in cfg.ui.upload_types:
            raise WorkbenchError(f"{name}: files of type .{suffix or '?'} are not accepted "
                                 f"(accepted: {', '.join(cfg.ui.upload_types)}; ui.upload_types)")
        if upload.size > cfg.ui.max_upload_mb * 1024 * 1024:
            raise WorkbenchError(f"{name}: {upload.size / 2**20:.1f} MB is over the {cfg.ui.max_upload_mb} MB "
                                 "limit (ui.max_upload_mb)")
    saved = [target / Path(upload.name).name for upload in files]
    for upload, path in zip(files, saved):
        write_atomic(path, upload.getvalue())
    return saved


def unique_folder(prefix: str) -> str:
    """An upload folder name of its own (uploads for a run must not overwrite another run's data)."""
    return f"{prefix}-{time.strftime('%Y%m%d-%H%M%S')}-{os.urandom(2).hex()}"


_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~:$=&])")


def as_markdown_text(text: str) -> str:
    """Document or model text made inert for st.markdown (and st.error, st.caption...): shown as typed,
    never as markup or HTML; leading spaces are dropped so that no line turns into a code block."""
    lines = (_MARKDOWN_SPECIAL.sub(r"\\\1", line.lstrip()) for line in text.split("\n"))
    return "  \n".join(lines)


def highlighted(text: str, spans: dict[str, str]) -> str:
    """`text` as inert markdown with each phrase of `spans` (phrase → colour) on a coloured background,
    where it occurs (case-insensitive)."""
    marks: list[tuple[int, int, str]] = []
    for phrase, colour in spans.items():
        if phrase.strip():
            found = text.lower().find(phrase.strip().lower())
            if found >= 0 and not any(s < found + len(phrase.strip()) and found < e for s, e, _ in marks):
                marks.append((found, found + len(phrase.strip()), colour))
    out, last = [], 0
    for start, end, colour in sorted(marks):
        out.append(as_markdown_text(text[last:start]))
        out.append(f":{colour}-background[{as_markdown_text(text[start:end])}]")
        last = end
    out.append(as_markdown_text(text[last:]))
    return "".join(out)


def show_error(problem: Exception | Failure | str) -> None:
    """A failure as one inert line: our errors explain themselves; others also say what kind they were."""
    if isinstance(problem, Exception):
        problem = Failure.of(problem)
    st.error(as_markdown_text(str(problem)))


def human_size(n_bytes: float | None) -> str:
    return "-" if n_bytes is None else size_text(int(n_bytes))
