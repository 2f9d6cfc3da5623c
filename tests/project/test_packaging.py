"""certadmin builds as a wheel that carries its templates, static files and catalogs, and runs
from it: settings find them inside the installed package."""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ("templates", "static", "locale")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    # Built from a copy: setuptools writes build/ and *.egg-info next to the sources.
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("certadmin", *SHIPPED):
        shutil.copytree(ROOT / name, source / name, ignore=ignore)
    out = tmp_path_factory.mktemp("wheel")
    pip_wheel = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"]
    subprocess.run(
        [*pip_wheel, "-q", "-w", str(out), str(source)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (built,) = out.glob("certadmin-*.whl")
    return built


def test_the_wheel_carries_every_subpackage_and_the_shipped_files(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())

    for init in (ROOT / "certadmin").rglob("__init__.py"):
        if "__pycache__" not in init.parts:
            assert init.relative_to(ROOT).as_posix() in names
    for folder in SHIPPED:
        for file in (ROOT / folder).rglob("*"):
            if file.is_file() and file.suffix in {".html", ".txt", ".css", ".js", ".po", ".mo"}:
                assert f"certadmin/{file.relative_to(ROOT).as_posix()}" in names
    assert not any("__pycache__" in name for name in names)
    entry_points = next(name for name in names if name.endswith("entry_points.txt"))
    scripts = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "certadmin = certadmin.__main__:main" in scripts


def test_installed_certadmin_finds_its_templates_static_files_and_catalogs(wheel, tmp_path):
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    probe = (
        "import django; django.setup();"
        "from django.conf import settings;"
        "from django.template.loader import get_template;"
        "from django.contrib.staticfiles import finders;"
        "from django.utils import translation;"
        "print(settings.BASE_DIR);"
        "print(get_template('base.html').origin.name);"
        "print(finders.find('certadmin/app.css'));"
        "translation.activate('zh-hans'); print(translation.gettext('English'))"
    )
    work = tmp_path / "work"
    work.mkdir()
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=work,
        env={"PYTHONPATH": str(site), "DJANGO_SETTINGS_MODULE": "certadmin.settings"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    base_dir, template, stylesheet, english = result.stdout.strip().splitlines()[-4:]
    package = site / "certadmin"
    assert Path(base_dir) == package
    assert Path(template) == package / "templates" / "base.html"
    assert Path(stylesheet) == package / "static" / "certadmin" / "app.css"
    assert english != "English"
