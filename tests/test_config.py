"""The config file checked against one schema: unknown keys warned, wrong types refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import gitrack, record, run_by_id

from gitrack import config
from gitrack.errors import GitrackError


def _write(repo: Path, text: str) -> None:
    (repo / "gitrack.toml").write_text(text)


def test_every_key_of_the_schema_is_a_setting() -> None:
    fields = set(config.Config._fields)
    for key in config.SCHEMA:
        assert config._FIELD_OF.get(key, key) in fields


def test_unknown_key_is_a_warning_naming_the_nearest_key(repo: Path) -> None:
    _write(repo, "restore-data = true\n")
    res = gitrack("ls", cwd=repo)
    assert res.code == 0, res.err
    assert "unknown key 'restore-data' is ignored; did you mean 'restore_data'?" in res.err
    assert config.load(repo).restore_data is False


def test_unknown_key_in_remote_table_is_named_with_its_table(repo: Path) -> None:
    _write(repo, '[remote]\nurl = "/tmp/x"\nendpont = "http://127.0.0.1:9"\n')
    settings = config.load(repo)
    assert settings.remote is not None
    assert settings.remote.endpoint is None
    assert any("'remote.endpont'" in w and "'endpoint'" in w for w in settings.warnings)


def test_run_shows_config_warnings_but_does_not_record_them(repo: Path) -> None:
    _write(repo, 'metrcs = "m.json"\n')
    res = gitrack("run", "--", "true", cwd=repo)
    assert res.code == 0, res.err
    assert "did you mean 'metrics'?" in res.err
    run_id = res.err.split("recorded run ")[1].split()[0]
    assert run_by_id(repo, run_id)["warnings"] == []


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('[remote]\nurl = "/tmp/x"\nanonymous = "false"\n', "remote.anonymous"),
        ('push_runs = "no"\n', "push_runs"),
        ("metrics = 3\n", "metrics"),
        ('data = "" \n', "data"),
        ("data = [1]\n", "data"),
        ('remote = "s3://bucket"\n', "remote"),
        ('max_untracked_size = "ten"\n', "max_untracked_size"),
    ],
)
def test_wrong_type_is_an_error_with_an_example(repo: Path, text: str, key: str) -> None:
    _write(repo, text)
    with pytest.raises(GitrackError, match=key.replace(".", r"\.")):
        config.load(repo)
    res = gitrack("ls", cwd=repo)
    assert res.code == 1
    assert res.err.startswith("Error: config:"), res.err


def test_known_keys_load(repo: Path) -> None:
    _write(
        repo,
        'metrics = "m.json"\ndata = "d.csv"\noutputs = ["o"]\nmax_untracked_size = "1KiB"\n'
        'cache = "c"\npush_runs = false\nrestore_data = true\n'
        '[remote]\nurl = "s3://b/p"\nendpoint = "http://h:1"\nregion = "r"\nanonymous = true\n',
    )
    settings = config.load(repo)
    assert settings.warnings == ()
    assert settings.data == ("d.csv",)
    assert settings.max_untracked_bytes == 1024
    assert settings.remote == config.RemoteSettings("s3://b/p", "http://h:1", "r", True)
    assert (settings.push_runs, settings.restore_data) == (False, True)


def test_config_in_pyproject(repo: Path) -> None:
    (repo / "pyproject.toml").write_text('[tool.gitrack]\nmetrics = "m.json"\n')
    assert config.load(repo).metrics == "m.json"
    record("true", cwd=repo)


def test_a_deeply_nested_config_file_is_an_error_not_a_crash(repo: Path) -> None:
    _write(repo, "x = " + "[" * 5000 + "]" * 5000 + "\n")
    res = gitrack("ls", cwd=repo)
    assert res.code == 1, res.err
    assert "nested too deeply" in res.err
