"""Validated configuration: `configs/default.yaml`, an optional user file merged over it, then
`--set section.key=value` overrides. An unknown key or a wrong type names the key and the file."""

from __future__ import annotations

import copy
import functools
import os
import re
import sys
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from workbench.config.experiment import ExperimentSpec
from workbench.errors import WorkbenchError

# What `estimate.device` accepts (tests/estimate checks it against the estimator's table). The method settings
# take the names of registry entries (workbench.models.methods and the like): the session checks them.
DEVICE_NAMES = ("cpu", "t4", "a10", "l4", "a100-40gb", "a100-80gb", "h100", "h200")

def shipped_config(name: str) -> Path:
    """A file or folder of configs/: the checkout's (an editable install), else the copy a wheel installs under
    <prefix>/share/workbench/configs, so a plain `pip install` runs too."""
    checkout = Path(__file__).resolve().parents[2] / "configs" / name
    return checkout if checkout.exists() else Path(sys.prefix) / "share" / "workbench" / "configs" / name


DEFAULT_CONFIG_PATH = shipped_config("default.yaml")


class ConfigError(WorkbenchError):
    pass


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)


class ModelsConfig(_Section):
    embedder: str
    generator: str
    device: str = "auto"
    extra_copies_mb: int = Field(ge=0)
    memory_mb: int = Field(gt=0)


class DataConfig(_Section):
    text_field: str
    text_column: str
    label_column: str


class ChunkingConfig(_Section):
    splitter: Literal["recursive", "token", "markdown"]
    chunk_size: int = Field(gt=0)
    chunk_overlap: int = Field(ge=0)


class IndexConfig(_Section):
    root: Path
    type: Literal["flat", "hnsw", "ivf", "ivfpq"]
    hnsw_m: int = Field(gt=0)
    hnsw_ef_search: int = Field(gt=0)
    ivf_nlist: int = Field(ge=0)
    ivf_nprobe: int = Field(gt=0)
    train_sample: int = Field(gt=0)
    train_seed: int = Field(ge=0)
    pq_m: int = Field(ge=0)
    pq_nbits: int = Field(ge=1, le=16)
    shard_size: int = Field(gt=0)
    store: Literal["faiss", "milvus"]
    milvus_uri: str | None
    embed_batch_size: int = Field(gt=0)
    # Defaults, so that jobs saved before these keys existed resume. The executors: workbench.indexing.executors.
    executor: Literal["local", "ray"] = "local"
    ray_address: str | None = None
    ray_actors: int = Field(default=2, gt=0)
    ray_cpus_per_actor: int = Field(default=1, gt=0)


class RetrievalConfig(_Section):
    k: int = Field(gt=0)
    hybrid: bool


class StrategiesConfig(_Section):
    shots: int = Field(gt=0)
    shot_selection: Literal["random", "similar"]
    label_question: str = Field(pattern=r"\{text\}")


class OpenAIBackendConfig(_Section):
    url: str
    model: str | None
    adapters: dict[str, str]
    api_key_env: str
    timeout_s: float = Field(gt=0)


class GenerationConfig(_Section):
    backend: Literal["local", "openai"]
    openai: OpenAIBackendConfig
    max_new_tokens: int = Field(gt=0)
    do_sample: bool
    temperature: float = Field(gt=0)
    top_p: float = Field(gt=0, le=1)
    batch_size: int = Field(gt=0)
    max_batch_rows: int = Field(gt=0)
    context_window: int | None = Field(gt=0)
    stop: list[str]
    system_prompt: str


class ClassifierTrainingConfig(_Section):
    method: str  # a classifier method (workbench.training.classifier_methods)
    backbone: str
    head_learning_rate: float = Field(gt=0)
    last_n: int = Field(gt=0)
    epochs: int = Field(gt=0)
    batch_size: int = Field(gt=0)
    learning_rate: float = Field(gt=0)
    max_length: int = Field(gt=0)


class GeneratorTrainingConfig(_Section):
    method: str  # a generator method (workbench.models.methods)
    epochs: int = Field(gt=0)
    batch_size: int = Field(gt=0)
    learning_rate: float = Field(gt=0)
    max_length: int = Field(gt=0)
    gradient_checkpointing: bool
    virtual_tokens: int = Field(gt=0)
    bottleneck_size: int = Field(gt=0)
    eval_generate: int = Field(ge=0)
    base_run: Path | None = None  # a default: jobs saved before it existed resume


class PreferenceTrainingConfig(_Section):
    """DPO and RLOO (`training.generator.method` dpo | rloo): their own loop, the preferences' window."""

    adapter: Literal["lora", "full"]
    reward_run: Path | None
    beta: float = Field(gt=0)
    epochs: int = Field(gt=0)
    batch_size: int = Field(gt=0)
    learning_rate: float = Field(gt=0)
    max_length: int = Field(gt=0)
    num_generations: int = Field(ge=2)
    max_completion_length: int = Field(gt=0)
    temperature: float = Field(gt=0)


class RewardTrainingConfig(_Section):
    method: Literal["lora", "full"]
    epochs: int = Field(gt=0)
    batch_size: int = Field(gt=0)
    learning_rate: float = Field(gt=0)
    max_length: int = Field(gt=0)


class LoraConfig(_Section):
    r: int = Field(gt=0)
    alpha: int = Field(gt=0)
    dropout: float = Field(ge=0, lt=1)
    target_modules: list[str] | None = None


class QloraConfig(_Section):
    double_quant: bool


class TrainingConfig(_Section):
    seed: int = Field(ge=0, le=2**32 - 1)  # numpy and scikit-learn take seeds in [0, 2**32)
    output_root: Path
    checkpoint_every: int = Field(ge=0)
    max_steps: int | None = Field(gt=0)
    early_stopping: int | None = Field(gt=0)
    group_by_length: bool
    processes: int = Field(default=1, ge=1)  # a default: jobs saved before it existed resume
    sharding: Literal["none", "fsdp"] = "none"  # a default: jobs saved before it existed resume
    forgetting_items: int | None = Field(default=None, ge=0)  # a default: jobs saved before it existed resume
    classifier: ClassifierTrainingConfig
    generator: GeneratorTrainingConfig
    preference: PreferenceTrainingConfig
    reward: RewardTrainingConfig
    lora: LoraConfig
    # a default (default.yaml's): jobs saved before it existed resume
    qlora: QloraConfig = Field(default_factory=lambda: QloraConfig(**default_setting("training.qlora")))


class UiConfig(_Section):
    host: str
    port: int = Field(gt=0, lt=65536)
    jobs_root: Path
    uploads_root: Path
    data_roots: list[Path]
    max_upload_mb: int = Field(gt=0)
    upload_types: list[str]


class ServeConfig(_Section):
    host: str
    port: int = Field(gt=0, lt=65536)
    max_request_kb: int = Field(gt=0)
    max_tokens: int = Field(gt=0)


class AuthConfig(_Section):
    token_file: Path | None
    token_env: str
    oidc: bool


class StudyConfig(_Section):
    questions: int = Field(gt=0)
    designs: list[Literal["knowledge", "reading"]] = Field(min_length=1)
    changed_facts: int = Field(ge=0)
    projection_model: str
    projection_device: Literal[DEVICE_NAMES]


class EstimateConfig(_Section):
    model: str | None
    method: str | None  # a supervised generator method or an estimator profile (workbench.estimate.method_names)
    objective: Literal["sft", "dpo"]
    device: Literal[DEVICE_NAMES]
    dtype: Literal["auto", "float32", "bfloat16", "float16"]
    completion_tokens: int | None = Field(gt=0)
    dataset_tokens: int = Field(gt=0)
    utilisation: float | None = Field(gt=0, le=1)
    price_per_hour: float | None = Field(ge=0)
    question_tokens: int = Field(gt=0)
    queries_per_day: float = Field(ge=0)
    updates_per_month: float = Field(ge=0)
    horizon_days: int = Field(gt=0)


class Config(_Section):
    models: ModelsConfig
    data: DataConfig
    chunking: ChunkingConfig
    index: IndexConfig
    retrieval: RetrievalConfig
    strategies: StrategiesConfig
    generation: GenerationConfig
    training: TrainingConfig
    ui: UiConfig
    serve: ServeConfig
    auth: AuthConfig
    estimate: EstimateConfig
    study: StudyConfig
    experiment: ExperimentSpec | None  # only in experiment files (`wb compare`)

    def updated(self, values: dict[str, Any], origins: dict[str, str] | None = None) -> Config:
        """A validated copy with `values` (dotted keys, e.g. "training.generator.epochs") set; None sets a
        nullable key to null (the CLI leaves out flags that were not given). `origins` names where a
        key's value came from (a flag, a form field) for error messages."""
        data = self.model_dump()
        for dotted, value in values.items():
            *sections, key = dotted.split(".")
            node = data
            for section in sections:
                node = node[section]
            if key not in node:
                raise ConfigError(f"unknown config key '{dotted}'")
            node[key] = value
        try:
            return Config.model_validate(data)
        except ValidationError as exc:
            raise ConfigError(_describe(exc, {k: "the options given" for k in values} | (origins or {}))) from None

    def merged(self, path: str | os.PathLike) -> Config:
        """This config with the YAML file at `path` merged over it, as `--config` merges over the
        defaults (the UI starts an experiment file's run on top of the server's settings)."""
        origins: dict[str, str] = {}
        data = _merge(self.model_dump(mode="json"), _read_yaml(Path(path)), str(path), origins)
        try:
            return Config.model_validate(data)
        except ValidationError as exc:
            raise ConfigError(_describe(exc, origins)) from None

@functools.cache
def _shipped_defaults() -> dict[str, Any]:
    return _read_yaml(DEFAULT_CONFIG_PATH)


def setting_value(config: Config, dotted: str) -> Any:
    """The value of dotted key `dotted` ("retrieval.k") in `config`."""
    value: Any = config
    for key in dotted.split("."):
        value = getattr(value, key)
    return value


def default_setting(dotted: str) -> Any:
    """A setting's default as configs/default.yaml declares it: what the options objects below the
    session default to, so that no dataclass keeps a second set of defaults."""
    node: Any = _shipped_defaults()
    for part in dotted.split("."):
        node = node[part]
    return node


@functools.cache
def setting_descriptions() -> dict[str, str]:
    """What each setting means, by dotted key: the comments of configs/default.yaml, where every default
    is declared once with its explanation (the CLI's `--help` and the UI's field help read them here)."""
    descriptions: dict[str, str] = {}
    path: list[tuple[int, str]] = []  # (indent, key) of the sections around the current line
    last, pending = None, ""
    for line in DEFAULT_CONFIG_PATH.read_text(encoding="utf-8").splitlines():
        body, _, comment = line.partition(" #") if not line.lstrip().startswith("#") else ("", "", line.lstrip()[1:])
        comment = comment.strip()
        key = re.match(r"^( *)([A-Za-z_][A-Za-z0-9_]*):", body)
        if key is None:
            if comment and not body.strip() and line.startswith(" " * 20) and last:  # a comment continued
                descriptions[last] = f"{descriptions[last]} {comment}".strip()
            elif comment and not body.strip():  # a comment line above a key: part of its description
                pending = f"{pending} {comment}".strip()
            continue
        indent = len(key.group(1))
        path = [(i, k) for i, k in path if i < indent] + [(indent, key.group(2))]
        last = ".".join(k for _, k in path)
        descriptions[last] = " ".join(part for part in (pending, comment) if part)
        pending = ""
    return descriptions


def setting_field(dotted: str):
    """The pydantic field behind a dotted config key ("chunking.splitter"): its type and description are
    what the CLI's flags and the UI's form fields show, so no face declares a setting again."""
    model: Any = Config
    *sections, key = dotted.split(".")
    for section in sections:
        model = model.model_fields[section].annotation
    if key not in model.model_fields:
        raise ConfigError(f"unknown config key '{dotted}'")
    return model.model_fields[key]


def setting_choices(dotted: str) -> tuple:
    """The values a config key accepts when it is a choice (a `Literal`), in their declared order."""
    annotation = setting_field(dotted).annotation
    options = [annotation] if get_origin(annotation) is Literal else get_args(annotation)  # Literal, or Literal | None
    choices = tuple(value for option in options if get_origin(option) is Literal for value in get_args(option))
    if not choices:
        raise ConfigError(f"config key '{dotted}' is not a choice")
    return choices



CONFIG_ENV = "WORKBENCH_CONFIG"  # a config file merged over the defaults when no --config is given
OVERRIDES_ENV = "WORKBENCH_SET"  # `wb ui`'s KEY=VALUE overrides for the pages, one a line


def load_config(path: str | os.PathLike | None = None, overrides: list[str] | None = None) -> Config:
    """The defaults, merged with the file at `path` (if any; else the one $WORKBENCH_CONFIG names) and
    `KEY=VALUE` overrides."""
    path = path or os.environ.get(CONFIG_ENV) or None
    data = _read_yaml(DEFAULT_CONFIG_PATH)
    origins: dict[str, str] = {}  # dotted key -> where its value came from, for error messages
    if path is not None:
        data = _merge(data, _read_yaml(Path(path)), str(path), origins)
    for override in overrides or []:
        key, value = _parse_override(override)
        data = _merge(data, _nest(key, value), f"--set {override}", origins)
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, origins)) from None


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file ({exc.strerror})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a config file must be a mapping of sections, got {type(data).__name__}")
    return data


def _merge(base: dict, update: dict, source: str, origins: dict[str, str], prefix: str = "") -> dict:
    """Deep-merge `update` into a copy of `base`; unknown keys are reported with their source."""
    merged = copy.deepcopy(base)
    for key, value in update.items():
        dotted = f"{prefix}{key}"
        if key not in merged:
            known = ", ".join(sorted(merged))
            raise ConfigError(f"{source}: unknown key '{dotted}' (known here: {known})")
        if isinstance(merged[key], dict) and isinstance(value, dict):
            merged[key] = _merge(merged[key], value, source, origins, prefix=f"{dotted}.")
        elif isinstance(merged[key], dict):
            raise ConfigError(f"{source}: '{dotted}' is a section and needs a mapping, got {value!r}")
        else:
            merged[key] = value
            origins[dotted] = source
    return merged


def _parse_override(text: str) -> tuple[str, Any]:
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set {text}: expected section.key=value")
    return key.strip(), yaml.safe_load(raw) if raw.strip() else None


def _nest(dotted: str, value: Any) -> dict:
    nested: Any = value
    for part in reversed(dotted.split(".")):
        nested = {part: nested}
    return nested


def _describe(exc: ValidationError, origins: dict[str, str]) -> str:
    lines = ["invalid configuration:"]
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"])
        source = origins.get(key, str(DEFAULT_CONFIG_PATH))
        lines.append(f"  {source}: {key}: {err['msg']} (got {err.get('input')!r})")
    return "\n".join(lines)


def workbench_home() -> Path:
    """Where converted models and caches live: $WORKBENCH_HOME, default ~/.cache/workbench."""
    return Path(os.environ.get("WORKBENCH_HOME", Path.home() / ".cache" / "workbench")).expanduser()
