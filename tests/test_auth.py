from service.auth import _valid


def test_key_check_accepts_only_configured_keys():
    keys = ["alpha-key", "beta-key"]
    assert _valid("beta-key", keys) and _valid("alpha-key", keys)
    assert not _valid("beta-ke", keys) and not _valid("", keys) and not _valid("gamma", [])
    assert not _valid("alpha-key\u00e9", keys)
