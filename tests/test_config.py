"""Config precedence: defaults → TOML → environment → overrides."""

import pytest

from nuonuo.config import default_home, load_config
from nuonuo.errors import ConfigError


def test_precedence(tmp_path):
    (tmp_path / "config.toml").write_text("[recall]\nk = 7\nbeta = 3.5\n[store]\nmax_text_chars = 50\n")
    env = {"NUONUO_RECALL_BETA": "9", "NUONUO_HOME": str(tmp_path)}
    cfg = load_config(tmp_path, overrides={"store": {"max_text_chars": 60}}, env=env)
    assert cfg.recall.k == 7 and cfg.recall.beta == 9.0 and cfg.store.max_text_chars == 60
    assert cfg.store_uri == str(tmp_path / "store")


def test_home_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("NUONUO_HOME", str(tmp_path / "h"))
    assert default_home() == tmp_path / "h"
    monkeypatch.delenv("NUONUO_HOME")
    assert default_home().name == "nuonuo"


@pytest.mark.parametrize("text, needle", [
    ("[nope]\nx = 1\n", "unknown section [nope]"),
    ("[recall]\nfoo = 1\n", "unknown setting 'foo'"),
    ("[recall]\nk = 'ten'\n", "expected int"),
    ("not toml at all [", "not valid TOML"),
    ("[recall]\ntime_prior = 1.5\n", "time_prior must be between 0 and 1"),
])
def test_bad_config_files(tmp_path, text, needle):
    (tmp_path / "config.toml").write_text(text)
    with pytest.raises(ConfigError, match=needle.replace("[", r"\[").replace("]", r"\]")):
        load_config(tmp_path, env={})


def test_bad_environment_value(tmp_path):
    with pytest.raises(ConfigError, match="NUONUO_RECALL_K"):
        load_config(tmp_path, env={"NUONUO_RECALL_K": "lots"})
