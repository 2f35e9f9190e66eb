"""`make package`: the deployable SCF layer and function zips, for Python3.10 on x86_64, with their sizes.

Builds
  build/layer/          the layer tree: the `shared` package and the pinned requirements.txt (what
                        layer/serverless.yml deploys)
  dist/layer.zip        the same tree zipped (for the console or a COS upload)
  dist/<function>.zip   each function's index.py alone

Where the packages sit in the layer: SCF unpacks a layer into /opt and starts Python with
PYTHONPATH=/var/user:/opt (Tencent's layer docs: a file at the zip root is /opt/file). So the packages go
at the ROOT of the zip (/opt/shared, /opt/qcloud_cos, ...). A `python/` folder, as AWS Lambda expects,
would land in /opt/python, which is not on SCF's path.

Dependencies come from PyPI as wheels for the target, never for this machine's interpreter:
  pip install --target build/layer --no-deps --only-binary=:all: --implementation cp
              --python-version 3.10 --platform manylinux2014_x86_64 -r <requirements minus crcmod>
requirements.txt pins every transitive dependency, so --no-deps loses nothing (checked after the
install). crcmod 1.7 publishes no wheel: it is installed from its sdist without platform flags and any
compiled extension is removed, leaving crcmod's pure-Python implementation (it falls back to it by
itself; the COS SDK uses it for CRC64 checks only).

Limits (DESIGN §11): the unzipped layer <= 25 MB, each function zip <= 100 KB; over a limit, exit 1.
If a Python 3.10 interpreter is found, the built layer is imported with it as a smoke test.
"""

from __future__ import annotations

import argparse
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS = ("replicas", "webhook", "audit")
LAYER_LIMIT = 25 * 1000 * 1000  # bytes, unzipped
FUNCTION_ZIP_LIMIT = 100 * 1000  # bytes, zipped
PLATFORM = "manylinux2014_x86_64"
PYTHON_VERSION = "3.10"
NO_WHEEL = {"crcmod"}  # sdist only on PyPI; pure-Python fallback
ZIP_DATE = (2020, 1, 1, 0, 0, 0)  # fixed timestamps: the same input gives the same bytes
SKIP_DIRS = {"__pycache__", "bin"}
SKIP_SUFFIXES = {".pyc", ".pyo"}
SMOKE_IMPORTS = (
    "shared.config",
    "shared.http",
    "shared.schemas",
    "jsonschema",
    "rpds",
    "shared.tcr",
    "shared.logstore",
    "qcloud_cos",
    "crcmod",
    "tencentcloud.tcr.v20190924.tcr_client",
)


class PackageError(Exception):
    """A build step failed or a limit was exceeded."""


@dataclass(frozen=True)
class Artifact:
    name: str
    path: Path
    size: int  # bytes (zip size, or unzipped size for a tree)
    limit: int | None

    @property
    def ok(self) -> bool:
        return self.limit is None or self.size <= self.limit


def _name_of(requirement: str) -> str:
    return re.split(r"[<>=!~\[; ]", requirement.strip(), maxsplit=1)[0].strip().lower().replace("_", "-")


def read_requirements(path: Path) -> list[str]:
    """The requirement lines of a pip requirements file (no comments, blanks or options)."""
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        text = line.split("#", 1)[0].strip()
        if text and not text.startswith("-"):
            out.append(text)
    return out


def split_requirements(requirements: list[str]) -> tuple[list[str], list[str]]:
    """(installable as target wheels, sdist-only) by package name."""
    wheels = [r for r in requirements if _name_of(r) not in NO_WHEEL]
    sdists = [r for r in requirements if _name_of(r) in NO_WHEEL]
    return wheels, sdists


def _skipped(path: Path) -> bool:
    if path.parent.name == "__pycache__" and path.name.endswith(f".cpython-{PYTHON_VERSION.replace('.', '')}.pyc"):
        return False  # bytecode for the runtime: shipped (see precompile)
    return any(part in SKIP_DIRS for part in path.parts) or path.suffix in SKIP_SUFFIXES


def precompile(layer_dir: Path, python: str) -> None:
    """Ship CPython 3.10 bytecode: SCF sets PYTHONDONTWRITEBYTECODE, so without it every cold start compiles
    every module it imports (the TCR models alone are 645 KB of source). Hash-checked pyc files do not depend
    on the file times the zip keeps."""
    subprocess.run(
        [python, "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash", str(layer_dir)],
        check=True,
        timeout=600,
    )


def tree_size(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file() and not _skipped(p.relative_to(root)))


def zip_files(files: dict[str, Path], out: Path) -> int:
    """Write a deterministic zip of {archive name: file}; returns its size in bytes."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for arcname in sorted(files):
            info = zipfile.ZipInfo(arcname, date_time=ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, files[arcname].read_bytes())
    tmp.replace(out)
    return out.stat().st_size


def zip_tree(root: Path, out: Path) -> int:
    files = {
        p.relative_to(root).as_posix(): p for p in root.rglob("*") if p.is_file() and not _skipped(p.relative_to(root))
    }
    return zip_files(files, out)


def build_function_zip(function_dir: Path, out: Path) -> Artifact:
    """dist/<function>.zip: the handler module alone (everything else comes from the layer)."""
    index = function_dir / "index.py"
    if not index.is_file():
        raise PackageError(f"{index} is missing")
    size = zip_files({"index.py": index}, out)
    return Artifact(f"{function_dir.name}.zip", out, size, FUNCTION_ZIP_LIMIT)


def copy_shared(source: Path, layer_dir: Path) -> None:
    """The `shared` package with its data files (regions.json ...), without caches."""
    target = layer_dir / "shared"
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo"))


def _tag_ok(tag: str) -> bool:
    """A wheel tag Python 3.10 on x86_64 Linux can use: pure, cp310, or abi3 from cp3<=10, manylinux x86_64."""
    interpreter, abi, platform = tag.split("-")
    if platform == "any":
        return abi == "none" and interpreter.startswith(("py3", "py2.py3", "cp310"))
    if not (platform.endswith("_x86_64") and ("linux" in platform)):
        return False
    if abi == "abi3":
        version = interpreter.removeprefix("cp")
        return version.isdigit() and version.startswith("3") and int(version[1:] or 0) <= 10
    return interpreter == "cp310" and abi in ("cp310", "none")


def native_tag_problems(layer_dir: Path) -> list[str]:
    """Wheels and compiled modules that Python 3.10 on x86_64 Linux cannot load."""
    problems = []
    for wheel in sorted(layer_dir.glob("*.dist-info/WHEEL")):
        project = wheel.parent.name.split("-")[0].lower().replace("_", "-")
        tags = [
            line.split(":", 1)[1].strip()
            for line in wheel.read_text(encoding="utf-8", errors="replace").splitlines()
            if line.startswith("Tag:")
        ]
        if project in NO_WHEEL:
            continue  # built here from its sdist; its compiled extension is removed (pure-Python fallback)
        if tags and not any(_tag_ok(t) for t in tags):
            problems.append(f"{wheel.parent.name}: wheel tags {', '.join(tags)} do not fit cp310 x86_64")
    for path in sorted(layer_dir.rglob("*.so")):
        rel = path.relative_to(layer_dir).as_posix()
        match = re.search(r"\.cpython-(\d+)-([a-z0-9_]+)-linux-gnu\.so$", path.name)
        if match and (match.group(1) != "310" or match.group(2) != "x86_64"):
            problems.append(f"{rel}: built for cpython-{match.group(1)} {match.group(2)}, not cpython-310 x86_64")
        elif not match and not path.name.endswith(".abi3.so"):
            problems.append(f"{rel}: no interpreter tag (cannot tell it loads on cpython-310)")
    return problems


def installed_versions(layer_dir: Path) -> dict[str, str]:
    out = {}
    for info in layer_dir.glob("*.dist-info"):
        meta = info / "METADATA"
        if not meta.is_file():
            continue
        name = version = ""
        for line in meta.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("Name:"):
                name = line.split(":", 1)[1].strip()
            elif line.startswith("Version:"):
                version = line.split(":", 1)[1].strip()
            if not line.strip():
                break
        if name:
            out[name.lower().replace("_", "-")] = version
    return out


def missing_dependencies(layer_dir: Path) -> list[str]:
    """Requires-Dist entries (for Python 3.10 on Linux, no extras) that nothing in the layer satisfies."""
    try:
        from packaging.requirements import Requirement
    except ImportError:  # packaging comes with the dev tools; without it the check is skipped
        return []
    env = {"python_version": "3.10", "python_full_version": "3.10.0", "sys_platform": "linux",
           "platform_system": "Linux", "platform_machine": "x86_64", "os_name": "posix",
           "implementation_name": "cpython", "platform_python_implementation": "CPython", "extra": ""}  # fmt: skip
    have = installed_versions(layer_dir)
    missing = []
    for info in sorted(layer_dir.glob("*.dist-info")):
        meta = info / "METADATA"
        if not meta.is_file():
            continue
        for line in meta.read_text(encoding="utf-8", errors="replace").splitlines():
            if not line.startswith("Requires-Dist:"):
                continue
            req = Requirement(line.split(":", 1)[1].strip())
            if req.marker is not None and not req.marker.evaluate(env):
                continue
            key = req.name.lower().replace("_", "-")
            if key not in have or (req.specifier and not req.specifier.contains(have[key], prereleases=True)):
                missing.append(f"{info.name} requires {req} (layer has {have.get(key, 'nothing')})")
    return missing


def find_python310() -> str | None:
    candidates = [os.environ.get("PYTHON310", ""), shutil.which("python3.10") or ""]
    candidates += sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.10*/bin/python3.10")))
    for exe in candidates:
        if not exe:
            continue
        try:
            out = subprocess.run(
                [exe, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                capture_output=True, text=True, timeout=30, check=False,
            )  # fmt: skip
        except OSError:
            continue
        if out.returncode == 0 and out.stdout.strip() == "3.10":
            return exe
    return None


def smoke_test(layer_dir: Path, python: str) -> None:
    """Import the layer with Python 3.10 alone on its path, as SCF does with /opt, and validate one input."""
    code = (
        f"import importlib\nfor m in {SMOKE_IMPORTS!r}:\n    importlib.import_module(m)\n"
        "from shared import schemas\nschemas.validate('replica.create', {'region': 'ap-shanghai'})\nprint('ok')"
    )
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(layer_dir), "PYTHONNOUSERSITE": "1",
           "PYTHONDONTWRITEBYTECODE": "1"}  # fmt: skip
    result = subprocess.run(
        [python, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        cwd=tempfile.gettempdir(),
        timeout=120,
        check=False,
    )
    if result.returncode != 0 or result.stdout.strip() != "ok":
        raise PackageError(f"the layer does not import under {python}:\n{result.stderr.strip()[-2000:]}")


def _pip(args: list[str]) -> None:
    cmd = [sys.executable, "-m", "pip", "--disable-pip-version-check", "install", "--quiet", *args]
    print("+", " ".join(cmd), flush=True)
    result = subprocess.run(cmd, check=False)
    if result.returncode != 0:
        raise PackageError(f"pip failed ({result.returncode}): {' '.join(cmd)}")


def install_dependencies(requirements: Path, layer_dir: Path) -> None:
    wheels, sdists = split_requirements(read_requirements(requirements))
    with tempfile.TemporaryDirectory() as tmp:
        wheel_file = Path(tmp) / "requirements-wheels.txt"
        wheel_file.write_text("\n".join(wheels) + "\n", encoding="utf-8")
        _pip([
            "--target", str(layer_dir), "--no-deps", "--only-binary=:all:", "--implementation", "cp",
            "--python-version", PYTHON_VERSION, "--platform", PLATFORM, "--upgrade", "-r", str(wheel_file),
        ])  # fmt: skip
    if sdists:
        # Pure-Python packages (or ones with a pure fallback): no platform flags, then drop any extension
        # compiled for this machine's interpreter.
        _pip(["--target", str(layer_dir), "--no-deps", "--no-binary", ",".join(sorted(NO_WHEEL)), "--upgrade", *sdists])
        for name in NO_WHEEL:
            for so in (layer_dir / name).rglob("*.so") if (layer_dir / name).is_dir() else []:
                so.unlink()
    for folder in SKIP_DIRS:
        shutil.rmtree(layer_dir / folder, ignore_errors=True)
    for cache in list(layer_dir.rglob("__pycache__")):
        shutil.rmtree(cache, ignore_errors=True)


def check_pins(requirements: Path, layer_dir: Path) -> list[str]:
    have = installed_versions(layer_dir)
    problems = []
    for req in read_requirements(requirements):
        name = _name_of(req)
        pinned = req.split("==", 1)[1].strip() if "==" in req else None
        if name not in have:
            problems.append(f"{req}: not in the layer")
        elif pinned and have[name] != pinned:
            problems.append(f"{req}: the layer has {have[name]}")
    return problems


def report(artifacts: list[Artifact]) -> str:
    lines = [f"{'artifact':<28} {'size':>12} {'limit':>12}  status"]
    for a in artifacts:
        limit = f"{a.limit:,}" if a.limit else "-"
        lines.append(f"{a.name:<28} {a.size:>12,} {limit:>12}  {'ok' if a.ok else 'OVER LIMIT'}")
    return "\n".join(lines)


def build(root: Path, *, build_dir: Path, dist_dir: Path, with_deps: bool = True, smoke: bool = True) -> list[Artifact]:
    layer_dir = build_dir / "layer"
    if with_deps and layer_dir.exists():
        shutil.rmtree(layer_dir)
    layer_dir.mkdir(parents=True, exist_ok=True)
    dist_dir.mkdir(parents=True, exist_ok=True)
    requirements = root / "requirements.txt"
    if with_deps:
        install_dependencies(requirements, layer_dir)
        problems = (
            check_pins(requirements, layer_dir) + native_tag_problems(layer_dir) + missing_dependencies(layer_dir)
        )
        if problems:
            raise PackageError("the layer is not right for Python3.10 x86_64:\n  " + "\n  ".join(problems))
    copy_shared(root / "shared", layer_dir)
    artifacts = [Artifact("layer (unzipped)", layer_dir, tree_size(layer_dir), LAYER_LIMIT)]
    layer_zip = dist_dir / "layer.zip"
    artifacts.append(Artifact("layer.zip", layer_zip, zip_tree(layer_dir, layer_zip), None))
    for name in FUNCTIONS:
        artifacts.append(build_function_zip(root / "functions" / name, dist_dir / f"{name}.zip"))
    python = find_python310() if with_deps else None
    if python:
        precompile(layer_dir, python)
        artifacts[0] = Artifact("layer (unzipped)", layer_dir, tree_size(layer_dir), LAYER_LIMIT)
        artifacts[1] = Artifact("layer.zip", layer_zip, zip_tree(layer_dir, layer_zip), None)
        print(f"layer precompiled for Python 3.10 with {python} (SCF sets PYTHONDONTWRITEBYTECODE)")
    else:
        print("layer not precompiled: no Python 3.10 interpreter found; cold starts will compile the sources")
    if with_deps and smoke:
        if python:
            smoke_test(layer_dir, python)
            print(f"import check with {python}: ok ({', '.join(SMOKE_IMPORTS)}; one input validated)")
        else:
            print("import check skipped: no Python 3.10 interpreter found (set PYTHON310=/path/to/python3.10)")
    return artifacts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.package", description=__doc__.split("\n\n")[0])
    parser.add_argument("--build-dir", type=Path, default=ROOT / "build")
    parser.add_argument("--dist-dir", type=Path, default=ROOT / "dist")
    parser.add_argument(
        "--no-deps", action="store_true", help="refresh shared/ and the function zips only, keep installed packages"
    )
    parser.add_argument("--no-smoke", action="store_true", help="skip the Python 3.10 import check")
    args = parser.parse_args(argv)
    try:
        artifacts = build(
            ROOT, build_dir=args.build_dir, dist_dir=args.dist_dir, with_deps=not args.no_deps, smoke=not args.no_smoke
        )
    except PackageError as exc:
        print(f"package: {exc}", file=sys.stderr)
        return 1
    print(report(artifacts))
    over = [a for a in artifacts if not a.ok]
    if over:
        print("package: over the limit: " + ", ".join(a.name for a in over), file=sys.stderr)
        return 1
    print(f"layer tree: {args.build_dir / 'layer'} (layer/serverless.yml deploys it); zips: {args.dist_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
