"""Helpers of the kit tests: the kits installed as packages into temporary places, offline, and the
TypeScript example compiled with the TypeScript that .ci/run installs into .local/ts."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from required import NODE_SKIP  # a skip carrying it fails CI (AGENTOS_REQUIRE_ALL)

ROOT = Path(__file__).resolve().parent.parent
TS_HOME = ROOT / ".local" / "ts" / "node_modules"  # .ci/run: npm install --prefix .local/ts typescript @types/node


def node_missing() -> str | None:
    """Why node 20+ and npm cannot run here, or None."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        return f"{NODE_SKIP}: no node/npm on PATH"
    major = subprocess.run([node, "--version"], capture_output=True, text=True).stdout.strip().lstrip("v").split(".")[0]
    return None if major.isdigit() and int(major) >= 20 else f"{NODE_SKIP}: node {major} is older than 20"


def tsc_missing() -> str | None:
    """Why the TypeScript compiler (and Node's types) cannot be used here, or None."""
    if (why := node_missing()) is not None:
        return why
    if not (TS_HOME / ".bin" / "tsc").exists() or not (TS_HOME / "@types" / "node").is_dir():
        return f"{NODE_SKIP}: no TypeScript in .local/ts (.ci/run installs typescript@5 and @types/node@20 there)"
    return None


def run(command: list[str], cwd: Path, timeout_s: float = 300) -> str:
    """Run a command; its output, or AssertionError with it on failure."""
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout_s)
    assert done.returncode == 0, f"{' '.join(command)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def npm_install_kit(directory: Path) -> Path:
    """``npm install <sdk/typescript>`` into a fresh package in ``directory`` (a local folder: no network);
    the installed package's folder."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "package.json").write_text(json.dumps({"name": "kit-user", "private": True, "type": "module"}))
    run(["npm", "install", "--offline", "--no-audit", "--no-fund", "--install-links", str(ROOT / "sdk" / "typescript")],
        directory)
    return directory / "node_modules" / "agentos-agent"


def build_ts_example(directory: Path) -> Path:
    """examples/typescript type-checked and compiled against the installed kit; its dist/main.js."""
    shutil.copytree(ROOT / "examples" / "typescript" / "src", directory / "src")
    shutil.copy(ROOT / "examples" / "typescript" / "tsconfig.json", directory / "tsconfig.json")
    npm_install_kit(directory)
    (directory / "tsconfig.test.json").write_text(json.dumps(
        {"extends": "./tsconfig.json", "compilerOptions": {"typeRoots": [str(TS_HOME / "@types")]}}))
    run([str(TS_HOME / ".bin" / "tsc"), "-p", "tsconfig.test.json"], directory)
    return directory / "dist" / "main.js"


def pip_install_kit(directory: Path) -> Path:
    """``pip install ./sdk/python`` into a fresh venv in ``directory``, offline (built with this venv's
    setuptools, installed with --no-index: it has no dependencies); the venv's python."""
    source = directory / "src"
    skip = shutil.ignore_patterns("__pycache__", "build", "*.egg-info")
    shutil.copytree(ROOT / "sdk" / "python", source, ignore=skip)
    wheels = directory / "wheels"
    run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "--no-index",
         "-w", str(wheels), str(source)], directory)
    run([sys.executable, "-m", "venv", str(directory / "venv")], directory)
    python = directory / "venv" / "bin" / "python"
    run([str(python), "-m", "pip", "install", "--quiet", "--no-index", "--find-links", str(wheels), "agentos-agent"],
        directory)
    return python
