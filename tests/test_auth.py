from service.auth import valid_key


def test_key_check_accepts_only_configured_keys():
    keys = ["alpha-key", "beta-key"]
    assert valid_key("beta-key", keys) and valid_key("alpha-key", keys)
    assert not valid_key("beta-ke", keys) and not valid_key("", keys) and not valid_key("gamma", [])
    assert not valid_key("alpha-key\u00e9", keys)
