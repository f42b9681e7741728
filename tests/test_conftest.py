"""The suite's own helpers (tests/conftest.py): a missing component skips its tests locally, with the command that
installs it, and fails them in CI, so that no oracle goes green unchecked; a subprocess runs the checkout's code; the
session leaves the checkout as it found it."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import ROOT, checkout_env, checkout_status, in_ci, require


@pytest.mark.parametrize("ci", ["1", "true"])
def test_a_missing_package_fails_under_ci(monkeypatch, ci):
    monkeypatch.setenv("CI", ci)
    assert in_ci()
    with pytest.raises(pytest.fail.Exception, match=r"no_such_package_mrl is not installed \(pip install 'mrl-eval\["):
        require("no_such_package_mrl", extra="faiss")


@pytest.mark.parametrize("ci", [None, "", "0", "false"])
def test_a_missing_package_skips_with_the_install_command_outside_ci(monkeypatch, ci):
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    assert not in_ci()
    with pytest.raises(
        pytest.skip.Exception, match=r"no_such_package_mrl is not installed \(pip install 'mrl-eval\[ray\]'\)"
    ):
        require("no_such_package_mrl", extra="ray")
    with pytest.raises(
        pytest.skip.Exception, match=r"no_such_package_mrl\.sub is not installed \(pip install -e '\.\[dev\]'\)"
    ):
        require("no_such_package_mrl.sub")


def test_an_installed_package_is_returned(monkeypatch):
    monkeypatch.setenv("CI", "1")
    assert require("json") is sys.modules["json"]


def test_a_package_broken_inside_raises_its_own_error(tmp_path, monkeypatch):
    """Installed, but one of its own imports is missing: that is a broken installation, not a missing component."""
    (tmp_path / "broken_package_mrl.py").write_text("import no_such_dependency_mrl\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(ModuleNotFoundError, match="no_such_dependency_mrl"):
        require("broken_package_mrl")


def test_a_module_level_require_skips_the_module_locally_and_fails_the_run_in_ci(tmp_path):
    """As the test modules use it, at their top: pytest run on a test file that requires a missing package."""
    (tmp_path / "test_needs_it.py").write_text(
        textwrap.dedent(
            """
            from tests.conftest import require

            require("no_such_package_mrl", extra="faiss")


            def test_it():
                pass
            """
        )
    )
    (tmp_path / "test_other.py").write_text("def test_it():\n    pass\n")
    local_env = checkout_env()
    local_env.pop("CI", None)
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_needs_it.py", "test_other.py"]
    local = subprocess.run(command, cwd=tmp_path, env=local_env, capture_output=True, text=True, timeout=300)
    assert local.returncode == 0 and "1 passed, 1 skipped" in local.stdout, local.stdout + local.stderr
    ci = subprocess.run(command, cwd=tmp_path, env=checkout_env(CI="1"), capture_output=True, text=True, timeout=300)
    assert ci.returncode != 0 and "1 error" in ci.stdout, ci.stdout + ci.stderr
    assert "no_such_package_mrl is not installed" in ci.stdout


def test_a_subprocess_with_checkout_env_imports_the_checkout_not_another_copy(tmp_path, monkeypatch):
    """From a folder outside the checkout and with another `mrl_eval` on PYTHONPATH (standing in for an installed
    copy), the child imports this checkout's; without checkout_env it imports the other one (the control)."""
    other = tmp_path / "site-packages" / "mrl_eval"
    other.mkdir(parents=True)
    (other / "__init__.py").write_text("")
    monkeypatch.setenv("PYTHONPATH", str(other.parent))
    code = "import mrl_eval; print(mrl_eval.__file__)"

    def imported(env: dict[str, str]) -> Path:
        done = subprocess.run(
            [sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        return Path(done.stdout.strip()).resolve()

    assert imported(checkout_env()) == (ROOT / "mrl_eval" / "__init__.py").resolve()
    assert imported(checkout_env(PYTHONPATH=str(other.parent))) == (ROOT / "mrl_eval" / "__init__.py").resolve()
    assert imported(dict(os.environ)) == (other / "__init__.py").resolve()  # the control: without checkout_env


def test_the_checkout_status_sees_a_report_written_into_the_checkout():
    """What the session-end check compares: a file under the (git-ignored) reports/ folder is seen, Python's caches
    are not."""
    before = checkout_status()
    if before is None:
        pytest.skip("not a git checkout: the session-end check does nothing here")
    probe = ROOT / "reports" / "_probe_of_the_checkout_check.json"
    cache = ROOT / "tests" / "__pycache__" / "_probe_of_the_checkout_check.pyc"
    try:
        probe.parent.mkdir(exist_ok=True)
        probe.write_text("{}")
        cache.parent.mkdir(exist_ok=True)
        cache.write_bytes(b"")
        seen = (checkout_status() or set()) - before
    finally:
        probe.unlink(missing_ok=True)
        cache.unlink(missing_ok=True)
    assert seen == {"!! reports/_probe_of_the_checkout_check.json"}
    assert checkout_status() == before
