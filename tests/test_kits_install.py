"""The kits install as packages (contract section 14): ``pip install ./sdk/python`` and
``npm install ./sdk/typescript`` into temporary places, offline, with no dependency; the installed
packages import and work; the TypeScript types (index.d.ts) type-check the example plugin."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from kit_tools import ROOT, build_ts_example, node_missing, npm_install_kit, pip_install_kit, run, tsc_missing

pytestmark = pytest.mark.slow


def test_pip_install_of_the_python_kit_needs_nothing_else(tmp_path: Path) -> None:
    python = pip_install_kit(tmp_path)
    code = ("import agentos_agent as k, importlib.metadata as m, sys; "
            "print(k.__file__); print(m.requires('agentos-agent')); print(m.version('agentos-agent')); "
            "print(k.verify_signature('s', k.sign('s', 100, b'{}'), b'{}', now=100)); "
            "print(sorted(n for n in sys.modules if n.split('.')[0] in ('chalicelib', 'requests', 'urllib3')))")
    where, requires, version, verified, foreign = run([str(python), "-I", "-c", code], tmp_path).split("\n")[:5]
    assert where.startswith(str(tmp_path / "venv")), where  # the installed copy, not the source tree
    assert requires == "None" and verified == "True" and foreign == "[]"
    assert version == "1.1.0"
    checked = subprocess.run([str(python), "-I", "-c", "import agentos_agent, pathlib; "
                              "print((pathlib.Path(agentos_agent.__file__).parent / 'py.typed').exists())"],
                             capture_output=True, text=True, check=True)
    assert checked.stdout.strip() == "True"


@pytest.mark.skipif(node_missing() is not None, reason=str(node_missing()))
def test_npm_install_of_the_typescript_kit_needs_nothing_else(tmp_path: Path) -> None:
    installed = npm_install_kit(tmp_path)
    manifest = json.loads((installed / "package.json").read_text())
    assert manifest["name"] == "agentos-agent" and "dependencies" not in manifest
    assert manifest["exports"]["."] == {"types": "./index.d.ts", "default": "./index.mjs"}
    assert not (installed / "test").exists(), "the kit's tests are not shipped"
    assert sorted(p.name for p in (tmp_path / "node_modules").iterdir() if not p.name.startswith(".")) == [
        "agentos-agent"]
    script = ("import * as kit from 'agentos-agent'; "
              "const client = new kit.AgentOSClient({ baseUrl: 'http://127.0.0.1:9/api' }); "
              "const j = new kit.JobManager({ agentId: 'a', secret: 's', client }); "
              "console.log(Object.keys(kit).sort().join(','), typeof j.listener, j.listener.length)")
    out = run(["node", "--input-type=module", "-e", script], tmp_path).strip()
    names, kind, arity = out.split(" ")
    wanted = {"JobManager", "AgentOSClient", "Delivery", "receive", "verifySignature", "JobFailed"}
    assert wanted <= set(names.split(","))
    assert (kind, arity) == ("function", "2")  # (req, res): usable with http.createServer


@pytest.mark.skipif(tsc_missing() is not None, reason=str(tsc_missing()))
def test_the_typescript_example_type_checks_against_the_kits_types(tmp_path: Path) -> None:
    main = build_ts_example(tmp_path)
    assert main.exists()
    plugin = (ROOT / "examples" / "typescript" / "src" / "custom-task-plugin.ts").read_text()
    for seed_line in ('const jobManager = runtime.getService("job_manager");', "await jobManager.createJob({",
                      'name: "AutonomousReflexion",', "interval: 3600000, // 1 hour", "callback: async () => {",
                      "async initialize(runtime: IAgentRuntime) {"):
        assert seed_line in plugin, seed_line
    # a wrong field is caught by the kit's types: createJob needs a callback, and one of schedule/interval
    bad = tmp_path / "src" / "bad.ts"
    bad.write_text('import { JobManager } from "agentos-agent";\n'
                   'export const f = (m: JobManager) => m.createJob({ name: "x", interval: 1000 });\n')
    from kit_tools import TS_HOME

    failed = subprocess.run([str(TS_HOME / ".bin" / "tsc"), "-p", "tsconfig.test.json", "--noEmit"], cwd=tmp_path,
                            capture_output=True, text=True)
    assert failed.returncode != 0 and "callback" in failed.stdout, failed.stdout


@pytest.mark.skipif(tsc_missing() is not None, reason=str(tsc_missing()))
def test_the_kits_types_cover_its_exports_and_type_check_a_users_code(tmp_path: Path) -> None:
    import re

    from kit_tools import TS_HOME

    npm_install_kit(tmp_path)
    kit_dir = ROOT / "sdk" / "typescript"
    declared = set(re.findall(r"^export declare (?:class|function|const) (\w+)",
                              (kit_dir / "index.d.ts").read_text() + (kit_dir / "agentos-agent.d.ts").read_text(),
                              flags=re.M))
    script = "import('agentos-agent').then((kit) => console.log(Object.keys(kit).join(',')))"
    exported = set(run(["node", "--input-type=module", "-e", script], tmp_path).strip().split(","))
    assert declared == exported, f"declared only: {declared - exported}; exported only: {exported - declared}"
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "uses.ts").write_text((kit_dir / "test-support" / "types-check.ts").read_text())
    (tmp_path / "tsconfig.json").write_text(json.dumps({"compilerOptions": {
        "target": "es2022", "module": "node16", "moduleResolution": "node16", "strict": True, "noEmit": True,
        "types": ["node"], "typeRoots": [str(TS_HOME / "@types")]}, "include": ["src"]}))
    run([str(TS_HOME / ".bin" / "tsc"), "-p", "tsconfig.json"], tmp_path)
