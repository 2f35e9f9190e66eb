"""The pure parts of `make package` (bench/package.py): no download, temporary folders only."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import pytest

from bench import package

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", package.FUNCTIONS)
def test_function_zip_holds_index_py_alone(tmp_path: Path, name: str) -> None:
    out = tmp_path / f"{name}.zip"
    artifact = package.build_function_zip(ROOT / "functions" / name, out)
    with zipfile.ZipFile(out) as archive:
        assert archive.namelist() == ["index.py"]
        assert archive.read("index.py") == (ROOT / "functions" / name / "index.py").read_bytes()
        assert archive.testzip() is None
    assert artifact.size == out.stat().st_size
    assert artifact.size <= 100_000  # DESIGN §11
    assert artifact.ok


def test_oversized_function_zip_is_flagged(tmp_path: Path) -> None:
    folder = tmp_path / "big"
    folder.mkdir()
    (folder / "index.py").write_bytes(os.urandom(150_000))  # random bytes do not compress
    artifact = package.build_function_zip(folder, tmp_path / "big.zip")
    assert artifact.size > 100_000
    assert not artifact.ok
    assert "OVER LIMIT" in package.report([artifact])


def test_missing_handler_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(package.PackageError):
        package.build_function_zip(tmp_path, tmp_path / "x.zip")


def test_zips_are_reproducible(tmp_path: Path) -> None:
    src = ROOT / "functions" / "replicas"
    package.build_function_zip(src, tmp_path / "a.zip")
    os.utime(src / "index.py")  # a newer mtime must not change the bytes
    package.build_function_zip(src, tmp_path / "b.zip")
    assert (tmp_path / "a.zip").read_bytes() == (tmp_path / "b.zip").read_bytes()


def test_shared_is_copied_with_data_and_without_caches(tmp_path: Path) -> None:
    source = tmp_path / "src" / "shared"
    (source / "__pycache__").mkdir(parents=True)
    (source / "__init__.py").write_text("")
    (source / "regions.json").write_text("{}")
    (source / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"\0")
    (source / "stale.pyc").write_bytes(b"\0")
    layer = tmp_path / "layer"
    package.copy_shared(source, layer)
    found = sorted(p.relative_to(layer).as_posix() for p in layer.rglob("*") if p.is_file())
    assert found == ["shared/__init__.py", "shared/regions.json"]


def test_the_real_shared_package_keeps_its_data_files(tmp_path: Path) -> None:
    package.copy_shared(ROOT / "shared", tmp_path)
    expected = {p.name for p in (ROOT / "shared").iterdir() if p.is_file() and p.suffix in (".py", ".json")}
    copied = {p.name for p in (tmp_path / "shared").iterdir()}
    assert expected <= copied
    assert "regions.json" in copied


def test_layer_zip_puts_packages_at_the_root(tmp_path: Path) -> None:
    """SCF unpacks a layer into /opt and PYTHONPATH has /opt (not /opt/python)."""
    layer = tmp_path / "layer"
    (layer / "shared").mkdir(parents=True)
    (layer / "shared" / "__init__.py").write_text("")
    (layer / "six.py").write_text("")
    (layer / "bin").mkdir()
    (layer / "bin" / "normalizer").write_text("#!/bin/sh\n")
    package.zip_tree(layer, tmp_path / "layer.zip")
    with zipfile.ZipFile(tmp_path / "layer.zip") as archive:
        assert sorted(archive.namelist()) == ["shared/__init__.py", "six.py"]


def test_tree_size_counts_what_ships(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "m.py").write_bytes(b"x" * 1000)
    (tmp_path / "a" / "__pycache__").mkdir()
    (tmp_path / "a" / "__pycache__" / "m.pyc").write_bytes(b"x" * 5000)
    assert package.tree_size(tmp_path) == 1000


def test_requirements_split_crcmod_out() -> None:
    reqs = package.read_requirements(ROOT / "requirements.txt")
    assert all("==" in r for r in reqs), "every runtime dependency is pinned"
    wheels, sdists = package.split_requirements(reqs)
    assert sdists == ["crcmod==1.7"]
    assert len(wheels) == len(reqs) - 1
    names = {r.split("==")[0].lower() for r in wheels}
    assert {"tencentcloud-sdk-python-tcr", "tencentcloud-sdk-python-common", "cos-python-sdk-v5", "jsonschema"} <= names
    assert {"attrs", "jsonschema-specifications", "referencing", "rpds-py", "typing_extensions"} <= names


def _dist_info(layer: Path, name: str, tag: str) -> None:
    info = layer / f"{name}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "WHEEL").write_text(f"Wheel-Version: 1.0\nTag: {tag}\n")
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n\n")


@pytest.mark.parametrize(
    ("tag", "ok"),
    [
        ("py3-none-any", True),
        ("cp310-cp310-manylinux_2_17_x86_64", True),
        ("cp37-abi3-manylinux2014_x86_64", True),
        ("cp311-cp311-manylinux_2_17_x86_64", False),
        ("cp310-cp310-manylinux_2_17_aarch64", False),
        ("cp310-cp310-macosx_11_0_arm64", False),
        ("cp312-abi3-manylinux2014_x86_64", False),
    ],
)
def test_wheel_tags_must_fit_python310_x86_64(tmp_path: Path, tag: str, ok: bool) -> None:
    _dist_info(tmp_path, "somepkg", tag)
    assert (package.native_tag_problems(tmp_path) == []) is ok


@pytest.mark.parametrize(
    ("filename", "ok"),
    [
        ("_rpds.cpython-310-x86_64-linux-gnu.so", True),
        ("_raw_aes.abi3.so", True),
        ("_rpds.cpython-311-x86_64-linux-gnu.so", False),
        ("_rpds.cpython-310-aarch64-linux-gnu.so", False),
        ("_thing.so", False),
    ],
)
def test_compiled_modules_must_load_on_python310(tmp_path: Path, filename: str, ok: bool) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / filename).write_bytes(b"\x7fELF")
    assert (package.native_tag_problems(tmp_path) == []) is ok


def test_pins_are_checked_against_the_layer(tmp_path: Path) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("# comment\nalpha==1.0\nbeta==2.0\ngamma==3.0\n")
    for name, version in (("alpha", "1.0"), ("beta", "2.1")):
        info = tmp_path / "layer" / f"{name}-{version}.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(f"Name: {name}\nVersion: {version}\n\n")
    problems = package.check_pins(requirements, tmp_path / "layer")
    assert problems == ["beta==2.0: the layer has 2.1", "gamma==3.0: not in the layer"]


def test_missing_transitive_dependency_is_found(tmp_path: Path) -> None:
    pytest.importorskip("packaging")
    info = tmp_path / "app-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Name: app\nVersion: 1.0\nRequires-Dist: needed>=2\nRequires-Dist: winonly; sys_platform == 'win32'\n"
        "Requires-Dist: extra-only; extra == 'docs'\n\n"
    )
    problems = package.missing_dependencies(tmp_path)
    assert len(problems) == 1 and "needed>=2" in problems[0]
    other = tmp_path / "needed-2.5.dist-info"
    other.mkdir()
    (other / "METADATA").write_text("Name: needed\nVersion: 2.5\n\n")
    assert package.missing_dependencies(tmp_path) == []
