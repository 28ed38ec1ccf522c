"""The skip guard itself, run on small test files through pytester: under CI an unlisted skip
fails the run and is named; an allowed one (no GPU) does not; outside CI nothing changes."""

from __future__ import annotations

import pytest

from tests.skip_guard import ALLOWED_SKIPS, is_allowed

FILES = {
    "test_gpu_only": 'import pytest\ndef test_a():\n    pytest.skip("no CUDA GPU")\n',
    "test_hidden": 'import pytest\ndef test_b():\n    pytest.skip("the data is not here")\n',
    "test_module_gone": 'import pytest\npytest.importorskip("no_such_package_xyz")\n'
    "def test_c():\n    pass\n",
    "test_passes": "def test_d():\n    assert True\n",
    "test_expected": 'import pytest\n@pytest.mark.xfail(reason="known")\ndef test_e():\n'
    "    assert False\n",
}


def run(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, ci: str | None, *names: str):
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    pytester.makepyfile(**{n: FILES[n] for n in names})
    return pytester.runpytest("-p", "tests.skip_guard", "-q")


def test_an_unlisted_skip_fails_ci_and_is_named(pytester, monkeypatch):
    result = run(pytester, monkeypatch, "true", "test_hidden", "test_passes", "test_gpu_only")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*skips CI does not allow*", "*test_b: the data is not here"])
    assert "no CUDA GPU" not in result.stdout.str().split("skips CI does not allow")[1]


def test_a_module_skipped_at_collection_counts(pytester, monkeypatch):
    result = run(pytester, monkeypatch, "1", "test_module_gone", "test_passes")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*test_module_gone.py: could not import 'no_such_package_xyz'*"])


def test_allowed_skips_and_xfails_keep_ci_green(pytester, monkeypatch):
    result = run(pytester, monkeypatch, "1", "test_gpu_only", "test_passes", "test_expected")
    assert result.ret == pytest.ExitCode.OK
    result.assert_outcomes(passed=1, skipped=1, xfailed=1)


@pytest.mark.parametrize("ci", [None, "false"])
def test_outside_ci_a_skip_stays_a_skip(pytester, monkeypatch, ci):
    result = run(pytester, monkeypatch, ci, "test_hidden", "test_passes")
    assert result.ret == pytest.ExitCode.OK
    assert "skips CI does not allow" not in result.stdout.str()


def test_a_failing_run_keeps_its_own_status(pytester, monkeypatch):
    monkeypatch.setenv("CI", "1")
    pytester.makepyfile(
        test_x='import pytest\ndef test_f():\n    pytest.skip("gone")\n'
        "def test_g():\n    assert False\n"
    )
    assert pytester.runpytest("-p", "tests.skip_guard").ret == 1


def test_the_allow_list_is_short_and_every_entry_says_why():
    assert len(ALLOWED_SKIPS) <= 5
    assert all(len(why) > 20 for _, why in ALLOWED_SKIPS)
    assert is_allowed("no CUDA GPU") and is_allowed("no NVIDIA GPU")
    assert not is_allowed("no Chromium binary (apt-get install chromium)")
