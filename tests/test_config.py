import pytest

from workbench.config import CONFIG_ENV, ConfigError, load_config


def test_defaults_load_and_validate(monkeypatch):
    monkeypatch.delenv(CONFIG_ENV)  # the suite's own file (tests/smaller-generator.yaml) is no default
    config = load_config()
    assert config.models.embedder == "minilm"
    assert config.models.generator == "gemma-3-270m"
    assert config.index.type == "flat"
    assert config.retrieval.k > 0


def test_a_file_named_by_the_environment_is_merged_unless_one_is_given(tmp_path, monkeypatch):
    mine = tmp_path / "mine.yaml"
    mine.write_text("retrieval:\n  k: 9\n")
    other = tmp_path / "other.yaml"
    other.write_text("retrieval:\n  k: 4\n")
    monkeypatch.setenv(CONFIG_ENV, str(mine))
    assert load_config().retrieval.k == 9 and load_config(overrides=["retrieval.k=2"]).retrieval.k == 2
    assert load_config(other).retrieval.k == 4  # --config wins


def test_user_file_is_merged_over_defaults(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("retrieval:\n  k: 7\ngeneration:\n  max_new_tokens: 12\n")
    config = load_config(path)
    assert config.retrieval.k == 7
    assert config.generation.max_new_tokens == 12
    assert config.chunking.chunk_size == load_config().chunking.chunk_size  # untouched defaults stay


def test_overrides_win_over_the_file(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("retrieval:\n  k: 7\n")
    assert load_config(path, ["retrieval.k=2"]).retrieval.k == 2


def test_unknown_key_names_key_and_file(tmp_path):
    path = tmp_path / "typo.yaml"
    path.write_text("retrieval:\n  top_k: 7\n")
    with pytest.raises(ConfigError, match=r"typo\.yaml.*unknown key 'retrieval\.top_k'"):
        load_config(path)


def test_wrong_type_names_key_and_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("generation:\n  max_new_tokens: lots\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: generation\.max_new_tokens"):
        load_config(path)


def test_out_of_range_and_unknown_choice_are_errors():
    with pytest.raises(ConfigError, match="retrieval.k"):
        load_config(overrides=["retrieval.k=0"])
    with pytest.raises(ConfigError, match=r"--set index\.type=annoy: index\.type"):
        load_config(overrides=["index.type=annoy"])


def test_section_given_a_scalar_and_malformed_files_are_errors(tmp_path):
    with pytest.raises(ConfigError, match="'retrieval' is a section"):
        load_config(overrides=["retrieval=3"])
    broken = tmp_path / "broken.yaml"
    broken.write_text("retrieval: [unclosed\n")
    with pytest.raises(ConfigError, match=r"broken\.yaml: not valid YAML"):
        load_config(broken)
    with pytest.raises(ConfigError, match=r"missing\.yaml: cannot read"):
        load_config(tmp_path / "missing.yaml")
