"""Settings read at the doors, and the environment the HTTP server is started with."""

import pytest

from matcher.config import HUGEPAGE_MALLOC, Settings, serving_environment


def test_settings_from_env_reads_only_what_it_is_given(tmp_path):
    settings = Settings.from_env({"PM_DATA_DIR": str(tmp_path), "PM_BACKEND": "onnx", "PM_API_KEYS": " a, ,b "})
    assert settings.data_dir == tmp_path and settings.backend == "onnx" and settings.api_keys == {"key-1": "a", "key-2": "b"}



def test_settings_read_the_http_services_operations_variables():
    default = Settings.from_env({})
    assert (default.rate_limit, default.cors_origins, default.log_json, default.log_level) == (
        "300 per minute", [], False, "INFO")
    env = {"PM_RATE_LIMIT": "5 per second", "PM_CORS_ORIGINS": " https://a.example, ,https://b.example ",
           "PM_LOG_JSON": "1", "PM_LOG_LEVEL": "debug"}
    settings = Settings.from_env(env)
    assert settings.rate_limit == "5 per second" and settings.cors_origins == ["https://a.example", "https://b.example"]
    assert settings.log_json and settings.log_level == "debug"
    # Set but empty turns the rate limit off; only "1" turns JSON logs on.
    assert Settings.from_env({"PM_RATE_LIMIT": ""}).rate_limit == ""
    assert not Settings.from_env({"PM_LOG_JSON": "true"}).log_json

def test_server_gets_glibc_huge_page_malloc_unless_told_otherwise():
    assert serving_environment({"PATH": "/bin"}) == {"PATH": "/bin", "GLIBC_TUNABLES": HUGEPAGE_MALLOC}
    # Appended to the caller's own tunables; theirs win when they set it; PM_HUGEPAGES=0 turns it off.
    mine = serving_environment({"GLIBC_TUNABLES": "glibc.malloc.arena_max=2"})["GLIBC_TUNABLES"]
    assert mine == f"glibc.malloc.arena_max=2:{HUGEPAGE_MALLOC}"
    assert serving_environment({"GLIBC_TUNABLES": "glibc.malloc.hugetlb=0"})["GLIBC_TUNABLES"] == "glibc.malloc.hugetlb=0"
    assert "GLIBC_TUNABLES" not in serving_environment({"PM_HUGEPAGES": "0"})
    source = {"A": "1"}
    serving_environment(source)
    assert source == {"A": "1"}  # a copy: the caller's environment is not changed


def test_api_keys_are_named_and_plain_keys_still_work():
    named = Settings.from_env({"PM_API_KEYS": "ann:k1, portal backend:k2,k3"}).api_keys
    assert named == {"ann": "k1", "portal backend": "k2", "key-3": "k3"}
    assert "k1" not in repr(Settings.from_env({"PM_API_KEYS": "ann:k1"}))  # never printed
    for bad, says in (("ann:k1,ann:k2", "given twice"), ("ann:", "is empty"), ("<b>:k", "must be 1-64")):
        with pytest.raises(ValueError, match=says):
            Settings.from_env({"PM_API_KEYS": bad})
