"""The README's "Quick start in your own Meltano project", run line by line as a new user types
it, in an empty folder: its `bash` blocks are read from README.md and executed, so a command that
is wrong for Meltano 4.4 fails here. Offline: Meltano Hub is a stand-in on loopback
(`MELTANO_HUB_URL`, target-jsonl only), GitHub's raw URLs are this clone, S3 and Secrets Manager
are moto in server mode, the API is the simulator (`TAP_CHATGPT_COMPLIANCE_API_URL`), and
`pip_url` is a wheel built from the clone. Then the README's key in AWS Secrets Manager (by ARN,
and by name without a region), through Meltano.

It covers: the wheel and sdist (`twine check --strict`), `meltano add … --no-install` before
the package is on PyPI, `meltano add target-jsonl` from the Hub (`meltano add loader …` is a
utility named `loader` in Meltano 4), the job schedule sharing `meltano run`'s state, verify
through the plugin command (and a removed message caught by it), target-s3 from
`loaders/target-s3.yml` with `:verify --s3`, the key from Secrets Manager, the first error a user
meets (workspace_id not set) and bad settings under the real Meltano CLI (one error line per
setting, naming it, never a traceback, never the key)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import subprocess
import threading
import typing as t
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from chatgpt_compliance_simulator import Simulator, SimulatorConfig
from tests.e2e.freshproject import BIN, MELTANO, REPO_ROOT, TAP, TARGET_JSONL, clean_env
from tests.support.servers import free_port, moto_server

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

boto3 = pytest.importorskip("boto3")

README = (REPO_ROOT / "README.md").read_text()
RAW = "https://raw.githubusercontent.com/tap-chatgpt-compliance/tap-chatgpt-compliance/v0.1.0/"
README_BUCKET = "my-archive"
# The walk's own bucket (the README's name and a suffix): on a shared moto (TEST_S3_ENDPOINT, kept
# across pytest runs by `services_start`) "my-archive" still holds an earlier walk's archive, with
# the same log file ids as this one (the simulator's seed) but other bytes (its start time), and
# verify rightly fails on that prefix: "two manifest records disagree on chain_hash".
BUCKET = f"{README_BUCKET}-{uuid.uuid4().hex[:12]}"
REGION = "eu-west-1"


def quick_start_blocks() -> list[list[str]]:
    """The command lines of each `bash` block of the README's quick start, comments removed."""
    section = README.split("## Quick start in your own Meltano project", 1)[1]
    section = section.split("\n## ", 1)[0]
    blocks = re.findall(r"```bash\n(.*?)```", section, flags=re.S)
    return [
        [line.split("   #", 1)[0].strip() for line in block.splitlines() if line.strip()]
        for block in blocks
    ]


@contextlib.contextmanager
def fake_hub() -> Iterator[str]:
    """Meltano Hub's API on loopback, knowing one plugin: Hub's target-jsonl (andyh1203)."""
    port = free_port()
    api = f"http://127.0.0.1:{port}/meltano/api/v1/plugins"
    answers = {
        "/meltano/api/v1/plugins/loaders/index": {
            "target-jsonl": {
                "logo_url": "/assets/logos/loaders/jsonl.png",
                "default_variant": "andyh1203",
                "variants": {"andyh1203": {"ref": f"{api}/loaders/target-jsonl--andyh1203"}},
            }
        },
        "/meltano/api/v1/plugins/loaders/target-jsonl--andyh1203": TARGET_JSONL,
    }

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path in answers:
                body = json.dumps(answers[path]).encode()
            elif path.endswith("/index"):
                body = b"{}"  # no utility, extractor, ... of any name
            else:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    with moto_server() as url:
        yield url


class User:
    """A user's shell: a folder, an environment, and `meltano` run from the project."""

    def __init__(self, home: Path, env: dict[str, str]) -> None:
        self.cwd = home
        self.env = env
        self.outputs: list[str] = []
        self.diagnose: Callable[[str], str] = lambda line: ""
        """What else a failed line's report shows (the S3 listing for `--s3`)."""

    def sh(self, line: str, *, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run one README line (`a && b` runs a, then b; `cd` changes the folder)."""
        proc: subprocess.CompletedProcess[str] | None = None
        for part in line.split("&&"):
            argv = shlex.split(part)
            if argv[0] == "cd":
                self.cwd = self.cwd / argv[1]
                continue
            if argv[0] == "meltano":
                argv[0] = MELTANO
            proc = subprocess.run(
                argv,
                cwd=self.cwd,
                env=self.env,
                capture_output=True,
                text=True,
                timeout=900,
                check=False,
            )
            self.outputs.append(proc.stdout + proc.stderr)
            if check and proc.returncode != 0:
                pytest.fail(failure_report(part.strip(), proc, self.diagnose(part)))
        assert proc is not None
        return proc


def clip(text: str, limit: int) -> str:
    """Return ``text``, or its head and tail when longer than ``limit`` characters."""
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]}\n[… {len(text) - limit} characters …]\n{text[-half:]}"


def failure_report(line: str, proc: subprocess.CompletedProcess[str], extra: str) -> str:
    """A failed README line: its exit code, stdout (verify's findings and VERDICT), stderr."""
    return (
        f"`{line}` exited {proc.returncode}\n--- stdout:\n{clip(proc.stdout, 12000)}\n"
        f"--- stderr:\n{clip(proc.stderr, 6000)}" + (f"\n--- {extra}" if extra else "")
    )


def s3_listing(s3: t.Any, bucket: str) -> str:
    """Every object of ``bucket``: key, size, last modified (what verify --s3 listed)."""
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    rows = [
        f"{o['Key']} {o['Size']} {o['LastModified'].isoformat()}"
        for page in pages
        for o in page.get("Contents", [])
    ]
    return f"s3://{bucket} ({len(rows)} objects):\n" + clip("\n".join(rows), 12000)


@pytest.fixture(scope="module")
def walk(tmp_path_factory, moto_endpoint) -> Iterator[dict]:
    """Run the README's quick start from an empty folder; yield what the tests look at."""
    root = tmp_path_factory.mktemp("own-project")
    dist = root / "dist"
    subprocess.run(  # the distribution as the release workflow builds it (PyPI's stand-in)
        [str(BIN / "uv"), "build", "--out-dir", str(dist), str(REPO_ROOT)],
        capture_output=True,
        check=True,
        timeout=600,
    )
    (wheel,) = dist.glob("*.whl")
    twine = subprocess.run(
        [str(BIN / "twine"), "check", "--strict", *map(str, sorted(dist.glob("tap_chatgpt*")))],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    sim = Simulator(
        SimulatorConfig(seed=23, users=3, conversations=5, messages_per_conversation=(2, 4))
    ).start()
    s3 = boto3.client(
        "s3",
        region_name=REGION,
        endpoint_url=moto_endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    home = root / "home"
    home.mkdir()
    with fake_hub() as hub:
        env = clean_env()
        for name in list(env):
            if name.startswith("AWS_"):
                del env[name]
        env.update(
            {
                "MELTANO_HUB_URL": hub,
                "XDG_CACHE_HOME": str(root / "cache"),  # Meltano's Hub index cache
                "TAP_CHATGPT_COMPLIANCE_API_URL": sim.base_url,  # the simulator, not OpenAI
                # AWS: moto, never AWS itself
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_EC2_METADATA_DISABLED": "true",
                "AWS_CONFIG_FILE": str(root / "no-aws-config"),
                "AWS_SHARED_CREDENTIALS_FILE": str(root / "no-aws-credentials"),
                "TARGET_S3_CLOUD_PROVIDER_AWS_AWS_ENDPOINT_OVERRIDE": moto_endpoint,
            }
        )
        user = User(home, env)
        user.diagnose = lambda text: s3_listing(s3, BUCKET) if " --s3 " in text else ""
        first, then, to_s3 = quick_start_blocks()

        def line(text: str) -> str:
            text = text.replace(RAW, f"{REPO_ROOT}/")
            text = text.replace("<workspace UUID>", sim.workspace_id)
            text = text.replace("<Compliance API key>", sim.api_key)
            text = text.replace(f"aws_bucket {README_BUCKET}", f"aws_bucket {BUCKET}")
            text = text.replace(f"s3://{README_BUCKET}/", f"s3://{BUCKET}/")
            if " --s3 " in text:  # an S3-compatible store: verify's --endpoint-url
                text += f" --endpoint-url {moto_endpoint}"
            return text

        for text in first:
            user.sh(line(text))
        project = user.cwd
        # "Until the release is on PyPI, set the plugin's pip_url: … with the extras in brackets"
        data = yaml.safe_load((project / "meltano.yml").read_text())
        (tap,) = data["plugins"]["extractors"]
        tap["pip_url"] = f"{wheel}[s3,aws]"
        (project / "meltano.yml").write_text(yaml.safe_dump(data, sort_keys=False))

        results: dict = {
            "user": user,
            "sim": sim,
            "project": project,
            "s3": s3,
            "twine": twine,
            "wheel": wheel,
        }
        user.sh(line(then[0]))  # meltano install
        # A new user's first mistake: --test before any setting.
        results["unset"] = user.sh(f"meltano invoke {TAP} --test", check=False)
        for text in then[1:]:
            results[text.split("#")[0].strip()] = user.sh(line(text))
        user.sh(f"meltano schedule run {then[-1].split()[3]}")
        results["jsonl_states"] = user.sh("meltano state list").stdout.split()
        for text in to_s3:
            results[text] = user.sh(line(text))
        results["blocks"] = (first, then, to_s3)
        try:
            yield results
        finally:
            sim.stop()


def test_the_readme_names_the_release_it_installs():
    for needed in ("pip_url", "git+https://", "@v0.1.0", ".whl"):
        assert needed in README, needed


def test_the_quick_start_is_three_blocks_of_meltano_commands():
    first, then, to_s3 = quick_start_blocks()
    assert first[0].startswith("meltano init")
    assert "--no-install" in first[1], "`meltano add` installs a pip_url not yet on PyPI"
    assert then[0] == "meltano install"
    for text in (*first, *then, *to_s3):
        assert text.startswith("meltano "), text
        for plugin_type in ("extractor", "loader", "utility"):
            assert not text.startswith(f"meltano add {plugin_type} "), text
    assert any(t.startswith("meltano add target-s3 --from-ref") for t in to_s3)


def test_a_missing_setting_is_one_line_with_the_fix(walk):
    proc = walk["unset"]
    assert proc.returncode == 1
    errors = [line for line in proc.stderr.splitlines() if "[error" in line]
    assert len(errors) == 1, proc.stderr[-3000:]
    assert "workspace_id is not set" in errors[0]
    assert f"meltano config set {TAP} workspace_id" in errors[0]
    assert "Traceback" not in proc.stderr


def test_the_schedule_resumes_from_the_state_of_meltano_run(walk):
    """A schedule of `--extractor/--loader` keeps its own state (named after the schedule) and
    archives everything again; a `--job` schedule shares `meltano run`'s."""
    assert walk["jsonl_states"] == [f"dev:{TAP}-to-target-jsonl"]


def test_verify_through_the_plugin_command(walk):
    for key, proc in walk.items():
        if isinstance(key, str) and ":verify" in key:
            verdict = [line for line in proc.stdout.splitlines() if line.startswith("VERDICT:")]
            assert len(verdict) == 1, proc.stdout[-2000:]
            assert "FAILED" not in verdict[0]


def test_target_s3_from_its_definition_without_touching_the_tap(walk):
    keys = [
        o["Key"]
        for o in walk["s3"].list_objects_v2(Bucket=BUCKET, Prefix="chatgpt-compliance/acme/")[
            "Contents"
        ]
    ]
    streams = {k.split("/")[2] for k in keys}
    assert {"messages", "log_files", "conversations"} <= streams, streams
    assert all(k.endswith(".jsonl.gz") for k in keys), keys[:3]
    # the tap's settings are those of the target-jsonl runs: only its load_schema was added
    data = yaml.safe_load((walk["project"] / "meltano.yml").read_text())
    (tap,) = data["plugins"]["extractors"]
    assert set(tap.get("config") or {}) == {"workspace_id"}
    assert tap["load_schema"] == "acme"


def test_the_key_is_never_shown(walk):
    user, key = walk["user"], walk["sim"].api_key
    listed = user.sh(f"meltano config list {TAP}").stdout
    assert "api_key" in listed
    assert "(redacted)" in listed
    for args in ("--about", "--about --format=json", "--discover"):
        user.sh(f"meltano invoke {TAP} {args}")
    printed = user.sh(f"meltano config print {TAP}").stdout
    assert key not in printed
    leaked = [i for i, out in enumerate(user.outputs) if key in out]
    assert not leaked, [user.outputs[i][-500:] for i in leaked]


def test_wheel_and_sdist_pass_twine_check(walk):
    twine = walk["twine"]
    assert twine.returncode == 0, twine.stdout[-3000:] + twine.stderr[-3000:]
    assert twine.stdout.count("PASSED") == 2, twine.stdout


def test_the_project_has_the_plugin_and_its_commands(walk):
    data = yaml.safe_load((walk["project"] / "meltano.yml").read_text())
    (tap,) = data["plugins"]["extractors"]
    assert {"verify", "export", "verify-jsonl"} <= set(tap["commands"])
    assert tap["commands"]["verify"]["executable"] == "chatgpt-compliance"
    venv_bin = walk["project"] / ".meltano" / "extractors" / TAP / "venv" / "bin"
    for exe in ("tap-chatgpt-compliance", "chatgpt-compliance"):
        assert (venv_bin / exe).exists(), exe
    assert walk["wheel"].name.startswith("tap_chatgpt_compliance-")


def test_test_mode_prints_no_error_line(walk):
    proc = walk[f"meltano invoke {TAP} --test"]
    errors = [
        line
        for line in proc.stderr.splitlines()
        if re.search(r"\[(error|critical)\s*\]|Traceback|\bERROR\b", line)
    ]
    assert not errors, "\n".join(errors)
    assert '"type":"RECORD"' in proc.stdout.replace(" ", "")


def test_a_message_removed_from_the_archive_fails_the_plugin_verify(walk):
    user, out = walk["user"], walk["project"] / "output"
    streams = {p.name.split("-")[0] for p in out.glob("*.jsonl")}
    assert {"log_files", "messages", "conversations", "users"} <= streams, streams
    victim = next(out.glob("messages-*.jsonl"))
    text = victim.read_text()
    lines = text.splitlines()
    assert lines
    victim.write_text("\n".join(lines[1:]) + "\n")
    try:
        broken = user.sh(f"meltano invoke {TAP}:verify --jsonl output", check=False)
    finally:
        victim.write_text(text)
    assert broken.returncode == 1
    assert "VERDICT: FAILED" in broken.stdout
    assert "missing" in broken.stdout


# Settings the tap checks itself (all reported together, before any request)...
CHECKED = {
    "workspace_id": "workspace_123",
    "organization_id": "acme",
    "api_url": "http://compliance.example.invalid/v1",
    "event_types": '["conversation message"]',
    "aws_endpoint_url": "http://secrets.example.invalid",
}
# ...and those the schema refuses first (one of each kind, all in one invocation: the schema's
# errors are reported together, one line each).
SCHEMA = {
    "file_content": "everything",
    "max_retries": "many",
    "event_types": "notjson",
    "file_storage_options": "{",
}


def _bad_settings(walk: dict, settings: dict[str, str], command: str) -> None:
    """Under the real Meltano CLI: one error line per bad setting, naming it, never a
    traceback, never the key, nothing requested."""
    user = walk["user"]
    env = {**user.env, **{f"TAP_CHATGPT_COMPLIANCE_{k.upper()}": v for k, v in settings.items()}}
    proc = subprocess.run(
        [MELTANO, *shlex.split(command)],
        cwd=walk["project"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    text = proc.stdout + proc.stderr
    assert proc.returncode != 0, text[-3000:]
    assert "Traceback" not in text, text[-5000:]
    assert walk["sim"].api_key not in text
    errors = [line for line in proc.stderr.splitlines() if "[error" in line]
    for name in settings:
        naming = [line for line in errors if name in line]
        assert naming, f"no error line names {name}:\n" + "\n".join(errors)
    assert "Beginning sync" not in text  # nothing was requested: no sync began


@pytest.mark.parametrize("mode", ["test", "run"])
def test_checked_settings_each_get_one_line(walk, mode):
    command = f"invoke {TAP} --test" if mode == "test" else f"run {TAP} target-jsonl"
    _bad_settings(walk, CHECKED, command)


def test_schema_refusals_name_the_setting(walk):
    _bad_settings(walk, SCHEMA, f"invoke {TAP} --test")


def test_the_key_from_secrets_manager_through_meltano(walk, moto_endpoint):
    """README: set api_key_secret_id (its ARN names the region, or its name with aws_region)."""
    user, sim = walk["user"], walk["sim"]
    sm = boto3.client(
        "secretsmanager",
        region_name=REGION,
        endpoint_url=moto_endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    name = f"chatgpt-compliance/acme-{os.getpid()}"
    arn = sm.create_secret(Name=name, SecretString=sim.api_key)["ARN"]
    try:
        user.sh(f"meltano config unset {TAP} api_key")
        user.sh(f"meltano config set {TAP} aws_endpoint_url {moto_endpoint}")
        # by name, no region anywhere: one line naming aws_region, before any request to AWS
        user.sh(f"meltano config set {TAP} api_key_secret_id {name}")
        noregion = user.sh(f"meltano invoke {TAP} --test", check=False)
        assert noregion.returncode == 1
        errors = [line for line in noregion.stderr.splitlines() if "[error" in line]
        assert len(errors) == 1, noregion.stderr[-3000:]
        assert f"'{name}' (api_key_secret_id)" in errors[0]
        assert "aws_region" in errors[0]
        assert "ARN" in errors[0]  # which names its region
        assert ".." not in errors[0]
        # by ARN: its region is used
        user.sh(f"meltano config set {TAP} api_key_secret_id {arn}")
        ok = user.sh(f"meltano invoke {TAP} --test")
        assert '"type":"RECORD"' in ok.stdout.replace(" ", "")
        user.sh(f"meltano run {TAP} target-s3")
        listed = user.sh(f"meltano config list {TAP}").stdout
        assert "api_key_secret_id" in listed
        assert sim.api_key not in listed
        leaked = [out[-500:] for out in user.outputs if sim.api_key in out]
        assert not leaked, leaked
    finally:
        sm.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)


def test_a_failed_line_reports_the_verdict_the_findings_and_the_s3_listing(moto_endpoint):
    """What a flaky `:verify --s3` leaves to read: stdout's findings and VERDICT (even past the
    clip), stderr, and the bucket's objects; the walk's bucket is its own, new."""
    assert BUCKET.startswith(f"{README_BUCKET}-")
    assert f"aws_bucket {README_BUCKET}" in README
    assert f"s3://{README_BUCKET}/" in README
    s3 = boto3.client(
        "s3",
        region_name=REGION,
        endpoint_url=moto_endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    bucket = f"listing-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_object(Bucket=bucket, Key="chatgpt-compliance/acme/log_files/a.jsonl.gz", Body=b"x")
    findings = "".join(f"  FINDING raw: log_file_parts 0 of eclf_{n:04d}: …\n" for n in range(400))
    proc = subprocess.CompletedProcess(
        ["verify"], 1, f"{findings}VERDICT: FAILED — 400 findings (400 raw)\n", "stderr line\n"
    )
    report = failure_report("meltano invoke x:verify --s3 s3://b/p", proc, s3_listing(s3, bucket))
    assert "exited 1" in report
    assert "eclf_0000" in report
    assert "VERDICT: FAILED — 400 findings" in report
    assert "stderr line" in report
    assert f"s3://{bucket} (1 objects)" in report
    assert "chatgpt-compliance/acme/log_files/a.jsonl.gz 1 " in report
