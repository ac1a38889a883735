"""Settings read at the doors, and the environment the HTTP server is started with."""

from matcher.config import HUGEPAGE_MALLOC, Settings, serving_environment


def test_settings_from_env_reads_only_what_it_is_given(tmp_path):
    settings = Settings.from_env({"PM_DATA_DIR": str(tmp_path), "PM_BACKEND": "onnx", "PM_API_KEYS": " a, ,b "})
    assert settings.data_dir == tmp_path and settings.backend == "onnx" and settings.api_keys == ["a", "b"]


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
