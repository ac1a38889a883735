"""The core never imports the HTTP layer, importing the service does no work, and the service keeps to its layers."""

import ast
import subprocess
import sys
from pathlib import Path


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


SERVICE = Path(__file__).resolve().parent.parent / "service"


def _imports(path: Path) -> list[ast.ImportFrom]:
    return [node for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.ImportFrom)]


PACKAGES = ("corpus", "embeddings", "matcher", "service")


def test_no_module_imports_another_modules_private_names():
    for package in PACKAGES:
        for path in (SERVICE.parent / package).rglob("*.py"):
            for node in _imports(path):
                if (node.module or "").split(".")[0] in PACKAGES:
                    private = [a.name for a in node.names if a.name.startswith("_") and not a.name.startswith("__")]
                    assert not private, f"{path} imports {private} from {node.module}"


def test_each_class_is_defined_in_one_module():
    where: dict[str, Path] = {}
    for package in PACKAGES:
        for path in (SERVICE.parent / package).rglob("*.py"):
            for node in ast.parse(path.read_text()).body:
                if isinstance(node, ast.ClassDef):
                    assert node.name not in where, f"class {node.name} in {where[node.name]} and {path}"
                    where[node.name] = path


def test_the_service_uses_only_the_public_matcher_api():
    import matcher

    for path in SERVICE.glob("*.py"):
        for node in _imports(path):
            module = node.module or ""
            assert module == "matcher" or not module.startswith("matcher"), f"{path.name} imports {module}"
            if module == "matcher":
                assert {a.name for a in node.names} <= set(matcher.__all__), path.name


def test_only_the_settings_read_the_environment():
    # gunicorn.conf.py is gunicorn's, read by its master process before the app exists.
    for path in SERVICE.glob("*.py"):
        if path.name != "gunicorn.conf.py":
            assert "os.environ" not in path.read_text() and "getenv" not in path.read_text(), path.name


def test_the_matcher_is_looked_up_in_one_place():
    for path in SERVICE.glob("*.py"):
        if path.name != "deps.py":
            assert 'extensions["partner_matcher"]' not in path.read_text(), path.name
