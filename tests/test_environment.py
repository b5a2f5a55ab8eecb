"""One source of pins: requirements.txt. pyproject.toml's ranges, environment.yml and the Makefile agree with it."""

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent


def _pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, sep, version = line.partition("==")
            assert sep and re.fullmatch(r"[\w.]+", version), f"not an exact pin: {line!r}"
            pins[name.lower().replace("_", "-")] = version
    return pins


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _makefile_var(name: str) -> str:
    return re.search(rf"^{name} := (\S+)$", (ROOT / "Makefile").read_text(), re.M).group(1)


def test_requirements_pin_the_whole_stack():
    pins = _pins()
    for name in (
        "torch",
        "matplotlib",
        "jupyterlab",
        "tqdm",
        "nbval",
        "pytest",
        "ipywidgets",
        "ipykernel",
        "nbconvert",
        "numpy",
        "setuptools",
    ):
        assert name in pins, f"{name} is not pinned in requirements.txt"
    assert pins["torch"] == "2.13.0"


def test_pyproject_declares_ranges_that_the_lock_satisfies():
    pins = _pins()
    for dep in map(Requirement, _project()["dependencies"]):
        name = dep.name.lower()
        assert name in pins, f"pyproject depends on {name}, which requirements.txt does not pin"
        assert dep.specifier, f"{name}: a range, so a learner's own environment can keep its version"
        assert "==" not in str(dep.specifier), f"{name}: an exact pin belongs in requirements.txt, not here"
        assert Version(pins[name]) in dep.specifier, f"the lock's {name}=={pins[name]} is outside {dep.specifier}"


def test_python_range_covers_what_make_setup_accepts():
    allowed = SpecifierSet(_project()["requires-python"])
    lo, hi = _makefile_var("PY_MIN"), _makefile_var("PY_MAX")
    assert (lo, hi) == ("3.11", "3.14")
    for minor in range(int(lo.split(".")[1]), int(hi.split(".")[1]) + 1):
        assert Version(f"3.{minor}.0") in allowed, f"pyproject refuses Python 3.{minor}"
    assert Version("3.10.12") not in allowed


def test_environment_yml_uses_the_same_pins_and_a_supported_python():
    text = (ROOT / "environment.yml").read_text()
    python = re.search(r"^\s*- python=(3\.\d+)\b", text, re.M)
    assert python and Version(python.group(1) + ".0") in SpecifierSet(_project()["requires-python"])
    assert re.search(r"^\s*- -r requirements\.txt\s*$", text, re.M)
    assert re.search(r"^\s*- -e \.\s*$", text, re.M)
    # no second set of versions that could drift from requirements.txt
    assert not re.search(r"==", text)
