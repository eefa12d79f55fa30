"""Build the deployable template of a stage, offline: ``python -m infra.package STAGE``.

Writes ``build/<stage>/sam.json`` and ``build/<stage>/deployment.zip`` with
``chalice package --merge-template``. Chalice would ``pip download`` the Lambda
dependencies from PyPI; when this machine's virtualenv already holds wheels that
run on Lambda (Linux x86_64, the same CPython, manylinux tags Lambda's glibc
accepts), they are vendored from it instead, so packaging needs no network.
Otherwise requirements.txt is handed to Chalice as usual (then PyPI is needed).
Packaging never talks to AWS: the chalice process gets fake credentials.
"""
from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement
from packaging.tags import Tag, parse_tag
from packaging.utils import canonicalize_name

from chalicelib.config import LAMBDA_PATH, deployed_defaults, parse_config
from chalicelib.errors import ConfigError

from .iam import agent_secrets_prefix
from .merge_template import CHALICE_FUNCTIONS, SQS_EVENT_ID, merge_template

ROOT = Path(__file__).resolve().parent.parent
STAGE_CONFIG_DIR = "deploy"  # deploy/agentos.<stage>.json: what the stage's functions load
# Lambda's python3.10/3.11 run on Amazon Linux 2 (glibc 2.26); 3.12+ on AL2023 (glibc 2.34).
_GLIBC = {(3, 10): 26, (3, 11): 26}
_MANYLINUX_ALIASES = {"manylinux1": 5, "manylinux2010": 12, "manylinux2014": 17}
# Lambda's Python runtime provides the AWS SDK: it is not shipped (docs/operations.md, "Package
# and cold start": three quarters of the zip). The app never imports boto3; PynamoDB's botocore
# is the runtime's.
RUNTIME_PROVIDED = frozenset({"boto3", "botocore", "s3transfer", "jmespath"})


def requirement_closure(requirements: Path) -> list[metadata.Distribution]:
    """The installed distributions ``requirements`` needs, with their dependencies."""
    pending = [Requirement(line.split("#")[0].strip()) for line in requirements.read_text().splitlines()
               if line.split("#")[0].strip() and not line.startswith("-")]
    found: dict[str, metadata.Distribution] = {}
    while pending:
        req = pending.pop()
        key = canonicalize_name(req.name)
        if key in found or (req.marker and not req.marker.evaluate({"extra": ""})):
            continue
        found[key] = metadata.distribution(req.name)  # PackageNotFoundError: not installed
        pending.extend(Requirement(spec) for spec in found[key].requires or [])
    return sorted(found.values(), key=lambda d: canonicalize_name(d.metadata["Name"]))


def _tag_runs_on_lambda(tag: str) -> bool:
    """Whether a wheel tag (``py3-none-any``, ``cp311-cp311-manylinux_2_17_x86_64``…) fits Lambda."""
    return any(_one_tag_fits(t) for t in parse_tag(tag))  # expands py2.py3-style compressed tags


def _one_tag_fits(tag: Tag) -> bool:
    cp = f"cp{sys.version_info[0]}{sys.version_info[1]}"
    if tag.platform == "any":
        return tag.interpreter in ("py3", f"py{sys.version_info[0]}{sys.version_info[1]}", cp)
    if tag.interpreter != cp or tag.abi not in (cp, "abi3") or not tag.platform.endswith("_x86_64"):
        return False
    legacy = _MANYLINUX_ALIASES.get(tag.platform.removesuffix("_x86_64"))
    match = re.fullmatch(r"manylinux_2_(\d+)_x86_64", tag.platform)
    minor = legacy if legacy is not None else int(match.group(1)) if match else None
    return minor is not None and minor <= _GLIBC.get(sys.version_info[:2], 34)


def runs_on_lambda(dist: metadata.Distribution) -> bool:
    """Whether an installed distribution came from a wheel Lambda can load."""
    wheel = dist.read_text("WHEEL") or ""
    tags = [line.split(":", 1)[1].strip() for line in wheel.splitlines() if line.startswith("Tag:")]
    return any(_tag_runs_on_lambda(tag) for tag in tags)


def can_vendor_from_venv(dists: list[metadata.Distribution]) -> bool:
    """Whether this interpreter's installed wheels can be shipped to Lambda as they are."""
    same_machine = sys.platform == "linux" and platform.machine() == "x86_64"
    return same_machine and all(runs_on_lambda(d) for d in dists)


def _link_or_copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)  # same filesystem: instant, no extra space
    except OSError:
        shutil.copy2(source, target)


def vendor_distributions(dists: list[metadata.Distribution], vendor: Path) -> int:
    """Place every file of ``dists`` under ``vendor/`` as pip laid it out; return the count."""
    count = 0
    for dist in dists:
        for file in dist.files or []:
            relative = Path(str(file))
            # Skip scripts installed outside site-packages and bytecode Lambda recompiles.
            if relative.parts[0] == ".." or "__pycache__" in relative.parts or relative.suffix == ".pyc":
                continue
            _link_or_copy(Path(str(dist.locate_file(file))), vendor / relative)
            count += 1
    return count


def stage_project(stage_dir: Path, source: Path = ROOT) -> str:
    """Copy the app into ``stage_dir`` for Chalice; return how its dependencies get in."""
    if stage_dir.exists():
        shutil.rmtree(stage_dir)
    # A developer's chalicelib/agentos.config.json is not the stage's: write_stage_config writes that.
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "deployments", "venv", "agentos.config.json")
    shutil.copytree(source / "chalicelib", stage_dir / "chalicelib", ignore=ignore)
    shutil.copytree(source / ".chalice", stage_dir / ".chalice", ignore=ignore)
    shutil.copy2(source / "app.py", stage_dir / "app.py")
    dists = [d for d in requirement_closure(source / "requirements.txt")
             if canonicalize_name(d.metadata["Name"]) not in RUNTIME_PROVIDED]
    if can_vendor_from_venv(dists):
        count = vendor_distributions(dists, stage_dir / "vendor")
        return f"vendored {len(dists)} distributions ({count} files) from {sys.prefix}"
    shutil.copy2(source / "requirements.txt", stage_dir / "requirements.txt")
    return "requirements.txt handed to chalice (pip downloads Lambda wheels from PyPI)"


def compile_bytecode(project: Path) -> None:
    """Byte-compile the staged project, so that the zip ships .pyc files: Lambda's code directory
    is read-only, and without them every cold start compiles every module it imports. Unchecked
    hashes: the files' times after unzipping do not matter (the zip is rebuilt on every change)."""
    import compileall
    import py_compile

    compileall.compile_dir(project, quiet=1, workers=0,
                           invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)


def stage_config_path(stage: str, source: Path = ROOT) -> Path:
    """Where ``stage``'s agentos.config.json lives in the repository."""
    return source / STAGE_CONFIG_DIR / f"agentos.{stage}.json"


def stage_config(stage: str, source: Path = ROOT) -> dict[str, Any]:
    """The stage's config as it will be packaged: validated, ``security.enabled`` explicit
    (true unless the file says false). A missing file means every default, secure."""
    path = stage_config_path(stage, source)
    try:
        data = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    except ValueError as exc:
        raise ValueError(f"{path}: not readable JSON: {exc}") from exc
    data = deployed_defaults(data)
    try:
        config = parse_config(data)
    except ConfigError as exc:
        raise ValueError(f"{path}: {exc.message}") from exc
    prefix = agent_secrets_prefix(stage)
    for agent_id, agent in config.agents.items():
        if agent.secretParam and not agent.secretParam.startswith(prefix):  # IAM lets the executor read only these
            raise ValueError(f"{path}: agents.{agent_id}.secretParam must start with {prefix}")
    return data  # type: ignore[return-value]


def write_stage_config(stage: str, project: Path, source: Path = ROOT) -> bool:
    """Write the stage's config into the staged project; return whether the API is secured."""
    data = stage_config(stage, source)
    (project / LAMBDA_PATH).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    secured = bool(data["security"]["enabled"])
    if not secured:  # an opt-out must be seen by whoever deploys it
        print(f"WARNING: {stage_config_path(stage, source)} sets security.enabled false: the {stage} API "
              "will serve every route WITHOUT authentication", file=sys.stderr)
    return secured


def _offline_env() -> dict[str, str]:
    """The chalice process's environment: a region, fake credentials, no AWS endpoint or profile."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN"))}
    env.update(AWS_ACCESS_KEY_ID="packaging-only", AWS_SECRET_ACCESS_KEY="packaging-only",
               AWS_DEFAULT_REGION=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"))
    return env


def run_chalice(project: Path, stage: str, merge: Path, out: Path) -> None:
    """``chalice package`` of ``project``; raise with chalice's output when it fails."""
    chalice = Path(sys.executable).with_name("chalice")
    command = [str(chalice), "--project-dir", str(project), "package", "--stage", stage,
               "--merge-template", str(merge), str(out)]
    done = subprocess.run(command, env=_offline_env(), capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"chalice package failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")


def template_problems(template: dict[str, Any]) -> list[str]:
    """What the merge got wrong: an override whose Chalice resource was renamed or missing.

    Chalice deep-merges, so overriding a logical id Chalice no longer emits would
    silently create a resource with no Type, or an SQS event with no queue.
    """
    resources = template.get("Resources", {})
    problems = [f"{rid}: no Type (merge override of a resource Chalice did not generate?)"
                for rid, res in resources.items() if "Type" not in res]
    for function, logical in CHALICE_FUNCTIONS.items():
        if resources.get(logical, {}).get("Type") != "AWS::Serverless::Function":
            problems.append(f"{logical}: Chalice's function {function} is missing")
    event = resources.get("Execute", {}).get("Properties", {}).get("Events", {}).get(SQS_EVENT_ID, {})
    if event.get("Type") != "SQS" or "Queue" not in event.get("Properties", {}):
        problems.append(f"Execute.Events.{SQS_EVENT_ID}: not Chalice's SQS event source")
    return problems


def package(stage: str, build_dir: Path = ROOT / "build", source: Path = ROOT) -> Path:
    """Build ``<build_dir>/<stage>/sam.json`` (+ deployment.zip) and return the template's path."""
    out = build_dir / stage
    work = build_dir / f".{stage}-src"
    how = stage_project(work, source)
    secured = write_stage_config(stage, work, source)
    compile_bytecode(work)
    merge = build_dir / f"{stage}-merge-template.json"
    merge.write_text(json.dumps(merge_template(stage), indent=2))
    if out.exists():
        shutil.rmtree(out)
    run_chalice(work, stage, merge, out)
    template_path = out / "sam.json"
    problems = template_problems(json.loads(template_path.read_text()))
    if problems:
        raise RuntimeError("packaged template is wrong:\n  " + "\n  ".join(problems))
    print(f"{template_path}: {how}; API authentication {'ON' if secured else 'OFF'}")
    return template_path


def main(argv: list[str]) -> int:
    """``python -m infra.package [stage] [build_dir]``."""
    stage = argv[0] if argv else "dev"
    build_dir = Path(argv[1]) if len(argv) > 1 else ROOT / "build"
    try:
        package(stage, build_dir.resolve())
    except (RuntimeError, ValueError, metadata.PackageNotFoundError) as exc:
        print(f"package: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
