"""The core never imports the HTTP layer, and importing the service does no work."""

import subprocess
import sys


def imported_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print(' '.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return set(out.split())


def test_core_packages_do_not_import_flask():
    modules = imported_after("import corpus, embeddings, matcher, matcher.cli")
    assert not {m for m in modules if m == "flask" or m.startswith(("flask.", "werkzeug", "service"))}


def test_importing_the_service_loads_no_model_and_touches_no_disk(tmp_path):
    code = (
        "import os, sys; os.chdir(sys.argv[1]); import service; "
        "assert 'sentence_transformers' not in sys.modules and 'torch' not in sys.modules; "
        "assert not os.path.exists('var'); print('ok')"
    )
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True)
    assert result.stdout.strip() == "ok", result.stderr


def test_public_api_is_declared():
    import matcher

    assert {"PartnerMatcher", "PartnerIndex", "Settings", "MatchRequest", "MatcherError"} <= set(matcher.__all__)
    for name in matcher.__all__:
        assert hasattr(matcher, name)
