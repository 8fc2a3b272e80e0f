"""The deployment files hold what docs/deploy.md promises, and the image's command runs
the installed package.

What can be checked without systemd running or a Docker engine is checked: the unit's
keys (and systemd-analyze's own reading of it, where installed), the compose file's
structure and the settings its environment gives, the Dockerfile's stages, user,
healthcheck and entry command. Then, marked e2e: the wheel built and installed into a
fresh virtual environment, and the Dockerfile's ENTRYPOINT, CMD and HEALTHCHECK run from
it, outside the checkout, as the image runs them.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
import tomllib
from pathlib import Path

import pytest
import yaml

from monitor.config import CrawlSettings, bundled_settings_path, load_settings, parse_duration
from monitor.errors import ConfigError
from monitor.web.server import check_listen

ROOT = Path(__file__).resolve().parent.parent
UNIT = ROOT / "deploy" / "systemd" / "rasid.service"
ENV_FILE = ROOT / "deploy" / "systemd" / "rasid.env"
COMPOSE = ROOT / "compose.yaml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
# Where the image keeps rasid and its data; the e2e tests map these into a temporary tree.
IMAGE_PREFIX = "/opt/rasid"
IMAGE_DATA = "/var/lib/rasid"


# -- the systemd unit ----------------------------------------------------------------


def parse_unit(text: str) -> dict[str, dict[str, list[str]]]:
    """A unit file as systemd reads it: sections of keys, each key's values in order
    (systemd allows a key many times), continuation lines joined, comments dropped."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    logical: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not logical and (not line or line.startswith(("#", ";"))):
            continue
        if line.endswith("\\"):
            logical.append(line[:-1].rstrip())
            continue
        line = " ".join([*logical, line]).strip()
        logical = []
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        assert current is not None, f"a key before any section: {line}"
        key, equals, value = line.partition("=")
        assert equals, f"not a key=value line: {line}"
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


@pytest.fixture(scope="module")
def unit() -> dict[str, list[str]]:
    return parse_unit(UNIT.read_text(encoding="utf-8"))["Service"]


def _one(service: dict[str, list[str]], key: str) -> str:
    values = service.get(key)
    assert values is not None, f"{key}= is missing"
    return values[-1]


def test_the_unit_parser_reads_repeated_keys_and_continuations():
    parsed = parse_unit("# c\n[Service]\nA=1\nA=2\nB=x \\\n  y\n[Install]\nC=\n")

    assert parsed == {"Service": {"A": ["1", "2"], "B": ["x y"]}, "Install": {"C": [""]}}


def test_the_service_tells_systemd_it_is_ready_and_alive(unit):
    assert _one(unit, "Type") == "notify"
    assert _one(unit, "NotifyAccess") == "main"
    watchdog = parse_duration(_one(unit, "WatchdogSec"))
    # Pinged at every poll tick: several ticks may be slow before systemd steps in.
    assert watchdog >= 6 * CrawlSettings().poll_tick


def test_the_service_restarts_on_failure_but_not_on_a_settings_error(unit):
    assert _one(unit, "Restart") == "on-failure"
    # `rasid` exits 2 on a settings or usage problem (monitor/cli.py), 1 on a runtime one.
    assert "2" in _one(unit, "RestartPreventExitStatus").split()
    assert "1" not in _one(unit, "RestartPreventExitStatus").split()


def test_reload_sends_sighup_to_the_main_process(unit):
    command = shlex.split(_one(unit, "ExecReload"))

    assert Path(command[0]).name == "kill"
    assert "-HUP" in command or command[1:3] == ["-s", "HUP"]
    assert command[-1] == "$MAINPID"


def test_the_stop_timeout_is_a_little_above_rasids_five_second_stop(unit):
    timeout = parse_duration(_one(unit, "TimeoutStopSec")).total_seconds()

    assert 5 < timeout <= 30


def test_the_service_runs_as_an_unprivileged_user(unit):
    if unit.get("DynamicUser", ["no"])[-1] != "yes":
        assert _one(unit, "User") not in ("root", "0")
    assert _one(unit, "CapabilityBoundingSet") == ""
    assert _one(unit, "NoNewPrivileges") == "yes"


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("PrivateDevices", "yes"),
        ("ProtectKernelTunables", "yes"),
        ("ProtectKernelModules", "yes"),
        ("ProtectKernelLogs", "yes"),
        ("ProtectControlGroups", "yes"),
        ("RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX"),
        ("StateDirectory", "rasid"),
        ("SystemCallArchitectures", "native"),
    ],
)
def test_a_hardening_option_is_set(unit, key, value):
    assert _one(unit, key) == value


def test_system_calls_are_limited_to_a_services_own(unit):
    assert unit["SystemCallFilter"][0] == "@system-service"


def test_the_service_writes_only_where_systemd_made_room_for_it(unit):
    # ProtectSystem=strict: the whole tree is read-only but the state directory, where
    # the working directory, the SQLite database and its lock file are.
    state = f"/var/lib/{_one(unit, 'StateDirectory')}"
    assert _one(unit, "WorkingDirectory") == state
    environment = dict(value.split("=", 1) for value in unit["Environment"])
    assert environment["RASID_DATABASE_URL"] == f"sqlite:///{state}/rasid.db"
    assert environment["RASID_CONFIG"] == "/etc/rasid/settings.toml"
    assert all(path.startswith(state) for path in unit.get("ReadWritePaths", []))


def test_the_service_runs_the_installed_command(unit):
    assert shlex.split(_one(unit, "ExecStart")) == [f"{IMAGE_PREFIX}/bin/rasid", "run"]
    assert _one(unit, "EnvironmentFile") == "-/etc/rasid/rasid.env"


def test_the_example_environment_file_reads_the_same_in_systemd_and_sh():
    # Single-quoted NAME='value' lines: systemd strips the quotes as sh does, so the
    # shell helper of docs/deploy.md sees what the service sees.
    for line in ENV_FILE.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            assert re.fullmatch(r"RASID_[A-Z_]+='[^']*'", line), line


def _unit_for_systemd_analyze(tmp_path: Path) -> Path:
    """The unit with its command pointing at this test run's `rasid` (verify checks that
    the executable exists)."""
    rasid = Path(sys.executable).with_name("rasid")
    assert rasid.is_file()
    text = UNIT.read_text(encoding="utf-8").replace(f"{IMAGE_PREFIX}/bin/rasid", str(rasid))
    path = tmp_path / "rasid.service"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def systemd_analyze() -> str:
    """systemd's own reading of the unit: required (`.ci/run` installs it where absent)."""
    path = shutil.which("systemd-analyze")
    assert path is not None, "systemd-analyze is not installed (Debian: apt-get install systemd)"
    return path


def test_systemd_reads_every_line_of_the_unit(systemd_analyze, tmp_path):
    result = subprocess.run(
        [systemd_analyze, "verify", str(_unit_for_systemd_analyze(tmp_path))],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )

    # verify exits 0 even for a value it ignores; what it ignores is on stderr.
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == ""


def test_systemd_rates_the_unit_well_hardened(systemd_analyze, tmp_path):
    result = subprocess.run(
        [
            systemd_analyze,
            "security",
            "--offline=yes",
            "--threshold=20",  # exposure 2.0 of 10: "OK"
            str(_unit_for_systemd_analyze(tmp_path)),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )

    assert result.returncode == 0, result.stdout[-2000:]


# -- compose.yaml --------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


_COMPOSE_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")


def interpolate_compose(value: str, env: dict[str, str]) -> str:
    """Compose's ${NAME}, ${NAME:-default} and ${NAME:?error}, as `docker compose` reads
    them from the shell and .env."""

    def substitute(match: re.Match[str]) -> str:
        name, operator, argument = match.groups()
        found = env.get(name)
        if operator in (":-", "-"):
            return found if found else argument
        if operator in (":?", "?"):
            if not found:
                raise ValueError(f"{name}: {argument}")
            return found
        return found or ""

    return _COMPOSE_VAR.sub(substitute, value)


def test_compose_runs_rasid_and_postgres(compose):
    assert set(compose["services"]) == {"rasid", "postgres"}
    assert re.fullmatch(r"postgres:\d+", compose["services"]["postgres"]["image"])
    rasid = compose["services"]["rasid"]
    assert rasid["build"] == "."
    assert (ROOT / rasid["build"] / "Dockerfile").is_file()


def test_postgres_keeps_its_data_in_a_named_volume(compose):
    postgres = compose["services"]["postgres"]
    volume, target = postgres["volumes"][0].split(":")[:2]

    assert target == "/var/lib/postgresql/data"
    assert volume in compose["volumes"]


def test_postgres_is_healthy_when_pg_isready_says_so(compose):
    check = compose["services"]["postgres"]["healthcheck"]
    test = check["test"]
    command = test[1:] if test[0] in ("CMD", "CMD-SHELL") else test

    assert "pg_isready" in " ".join(command)
    # Over TCP: the image's initialisation server listens on its Unix socket only.
    assert "-h" in command


def test_rasid_starts_once_postgres_is_healthy(compose):
    rasid = compose["services"]["rasid"]

    assert rasid["depends_on"] == {"postgres": {"condition": "service_healthy"}}


def test_every_service_restarts_and_rasid_stops_gracefully(compose):
    for name, service in compose["services"].items():
        assert service["restart"] in ("unless-stopped", "always", "on-failure"), name
    rasid = compose["services"]["rasid"]
    assert rasid["init"] is True  # tini as PID 1 forwards SIGTERM
    assert parse_duration(rasid["stop_grace_period"]).total_seconds() > 5


def test_rasid_can_be_scaled_to_two_instances(compose):
    rasid = compose["services"]["rasid"]
    # A fixed name or a single host port would stop `--scale rasid=2`.
    assert "container_name" not in rasid
    host_ports = rasid["ports"][0].rsplit(":", 1)[0].rsplit(":", 1)[-1]
    first, _, last = host_ports.partition("-")
    assert last and int(last) - int(first) + 1 >= 2


def _compose_environment(compose: dict, env: dict[str, str]) -> dict[str, str]:
    environment = compose["services"]["rasid"]["environment"]
    return {name: interpolate_compose(str(value), env) for name, value in environment.items()}


def test_the_database_url_names_the_compose_postgres(compose):
    environment = _compose_environment(compose, {"POSTGRES_PASSWORD": "s3cret"})
    postgres = compose["services"]["postgres"]["environment"]

    user, database = postgres["POSTGRES_USER"], postgres["POSTGRES_DB"]
    assert environment["RASID_DATABASE_URL"] == (
        f"postgresql+psycopg://{user}:s3cret@postgres:5432/{database}"
    )


def test_postgres_refuses_to_start_without_a_password(compose):
    password = compose["services"]["postgres"]["environment"]["POSTGRES_PASSWORD"]

    with pytest.raises(ValueError, match="POSTGRES_PASSWORD"):
        interpolate_compose(password, {})


def test_the_bundled_settings_read_the_compose_environment(compose):
    environment = _compose_environment(compose, {"POSTGRES_PASSWORD": "s3cret"})

    settings = load_settings(bundled_settings_path(), env=environment)

    assert settings.database_url == environment["RASID_DATABASE_URL"]
    assert settings.web.listen == "0.0.0.0:8080"
    assert settings.web.allowed_hosts == ("localhost",)
    # Reachable from the host's browser once a user exists, refused before.
    check_listen(settings, users=1)
    with pytest.raises(ConfigError, match="rasid users add"):
        check_listen(settings, users=0)


# -- Dockerfile ----------------------------------------------------------------------


def parse_dockerfile(text: str) -> list[list[tuple[str, str]]]:
    """Stages (from each FROM) of (INSTRUCTION, arguments), continuations joined,
    comments and the parser directive dropped; ARGs before the first FROM are stage 0."""
    stages: list[list[tuple[str, str]]] = [[]]
    logical = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            logical += line[:-1] + " "
            continue
        line, logical = logical + line, ""
        instruction, _, arguments = line.partition(" ")
        if instruction.upper() == "FROM":
            stages.append([])
        stages[-1].append((instruction.upper(), arguments.strip()))
    return stages


@pytest.fixture(scope="module")
def dockerfile() -> list[list[tuple[str, str]]]:
    return parse_dockerfile(DOCKERFILE.read_text(encoding="utf-8"))


def _instructions(stage: list[tuple[str, str]], name: str) -> list[str]:
    return [arguments for instruction, arguments in stage if instruction == name]


def _exec_form(arguments: str) -> list[str]:
    value = json.loads(arguments)
    assert isinstance(value, list), f"not the exec (JSON) form: {arguments}"
    return value


def test_the_image_builds_in_two_stages_on_python_3_11_slim(dockerfile):
    preamble, *stages = dockerfile
    assert len(stages) == 2
    base = dict(arg.split("=", 1) for arg in _instructions(preamble, "ARG"))["PYTHON_IMAGE"]
    assert base.startswith("python:3.11-slim")
    # The same base in both: the virtual environment is copied from one to the other.
    assert [stage[0][1].split()[0] for stage in stages] == ["${PYTHON_IMAGE}"] * 2


def test_the_final_stage_installs_nothing_and_copies_the_environment(dockerfile):
    final = dockerfile[-1]
    runs = " ".join(_instructions(final, "RUN"))

    for tool in ("pip", "apt-get", "gcc", "build-essential"):
        assert tool not in runs
    assert f"--from=build {IMAGE_PREFIX} {IMAGE_PREFIX}" in _instructions(final, "COPY")


def test_the_image_runs_as_a_user_without_privileges(dockerfile):
    users = _instructions(dockerfile[-1], "USER")

    assert users, "the final stage sets no USER"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")


def test_the_image_keeps_its_data_in_a_volume_it_runs_in(dockerfile):
    final = dockerfile[-1]

    assert _instructions(final, "VOLUME") == [IMAGE_DATA]
    assert _instructions(final, "WORKDIR") == [IMAGE_DATA]


def test_the_image_asks_the_service_whether_it_is_healthy(dockerfile):
    (healthcheck,) = _instructions(dockerfile[-1], "HEALTHCHECK")
    options, _, command = healthcheck.partition(" CMD ")

    assert "--interval=" in options
    assert _exec_form(command) == [f"{IMAGE_PREFIX}/bin/python", "-m", "monitor.healthcheck"]


def test_the_image_runs_the_rasid_command(dockerfile):
    final = dockerfile[-1]

    assert _exec_form(_instructions(final, "ENTRYPOINT")[-1]) == [f"{IMAGE_PREFIX}/bin/rasid"]
    assert _exec_form(_instructions(final, "CMD")[-1]) == ["run"]


def test_the_build_context_holds_what_the_wheel_is_built_from(dockerfile):
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    wheel = project["tool"]["hatch"]["build"]["targets"]["wheel"]
    needed = {
        "pyproject.toml",
        project["project"]["readme"],
        *wheel["packages"],
        *wheel["force-include"],
    }
    allowed = {
        line[1:].rstrip("/")
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.startswith("!")
    }
    copied = {
        part.rstrip("/").removeprefix("./")
        for arguments in _instructions(dockerfile[1], "COPY")
        for part in arguments.split()[:-1]
    }

    assert "*" in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
    assert needed == allowed == copied


# -- the installed package, run as the image runs it (e2e) --------------------------


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A fresh virtual environment holding the wheel built from this checkout.

    As the Dockerfile's build stage does: `pip wheel --no-deps`, then the wheel
    installed into a venv. Offline: the build backend is the test environment's own
    (--no-build-isolation), and the dependencies are this environment's, reached
    through a .pth line written after the install so that pip never sees them.
    """
    root = tmp_path_factory.mktemp("image")
    wheels, venv = root / "wheels", root / "venv"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    offline = ["--no-deps", "--no-index", "--no-build-isolation"]
    subprocess.run([*pip, "wheel", *offline, "-w", str(wheels), str(ROOT)], check=True)
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    (wheel,) = wheels.glob("rasid-*.whl")
    target = ["--python", str(venv / "bin" / "python")]
    subprocess.run([*pip, *target, "install", "--no-deps", "--no-index", str(wheel)], check=True)
    ours = {sysconfig.get_paths()[key] for key in ("purelib", "platlib")}
    (site_packages,) = venv.glob("lib/python3*/site-packages")
    (site_packages / "rasid-test-dependencies.pth").write_text(
        "".join(f"{path}\n" for path in sorted(ours)), encoding="utf-8"
    )
    return venv


def _image_command(arguments: str, venv: Path) -> list[str]:
    return [part.replace(IMAGE_PREFIX, str(venv)) for part in _exec_form(arguments)]


def _image_environment(dockerfile, venv: Path, data: Path, **extra: str) -> dict[str, str]:
    """The process environment without this test run's rasid, plus the image's ENV."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("RASID_", "PYTHON", "VIRTUAL_ENV"))
    }
    for arguments in _instructions(dockerfile[-1], "ENV"):
        for assignment in shlex.split(arguments):
            key, _, value = assignment.partition("=")
            value = value.replace("$PATH", env.get("PATH", ""))
            env[key] = value.replace(IMAGE_PREFIX, str(venv)).replace(IMAGE_DATA, str(data))
    return {**env, **extra}


@pytest.fixture
def data(tmp_path) -> Path:
    """The image's WORKDIR and volume: anywhere but the checkout."""
    directory = tmp_path / "data"
    directory.mkdir()
    assert not directory.is_relative_to(ROOT)
    return directory


def _run(command: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        command, env=env, cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


@pytest.mark.e2e
def test_the_entry_command_is_the_installed_package_not_the_checkout(installed, dockerfile, data):
    python = [str(installed / "bin" / "python"), "-c"]
    env = _image_environment(dockerfile, installed, data)

    where = _run([*python, "import monitor; print(monitor.__file__)"], env, data)
    entry = _image_command(_instructions(dockerfile[-1], "ENTRYPOINT")[-1], installed)
    help_text = _run([*entry, "--help"], env, data)

    assert Path(where.stdout.strip()).is_relative_to(installed), where.stderr
    assert help_text.returncode == 0, help_text.stderr
    assert "rasid" in help_text.stdout
    assert " run " in help_text.stdout


@pytest.mark.e2e
def test_the_image_on_its_bundled_defaults_keeps_its_database_in_the_volume(
    installed, dockerfile, data
):
    entry = _image_command(_instructions(dockerfile[-1], "ENTRYPOINT")[-1], installed)
    env = _image_environment(dockerfile, installed, data)

    listed = _run([*entry, "sources", "list", "--json"], env, data)

    assert listed.returncode == 0, listed.stderr
    bundled = tomllib.loads(bundled_settings_path().read_text(encoding="utf-8"))
    names = {source["name"] for source in json.loads(listed.stdout)}
    assert names == {source["name"] for source in bundled["sources"]}
    assert (data / "rasid.db").is_file()


def _settings_without_sources(path: Path, listen: str) -> Path:
    """A settings file that reaches nothing outside this machine."""
    path.write_text(
        '[database]\nurl = "${RASID_DATABASE_URL}"\n'
        f'[web]\nlisten = "{listen}"\n'
        '[[channels]]\nname = "console"\nkind = "console"\n',
        encoding="utf-8",
    )
    return path


@pytest.mark.e2e
def test_the_image_command_runs_once_with_settings_from_rasid_config(
    installed, dockerfile, data, tmp_path
):
    final = dockerfile[-1]
    command = _image_command(_instructions(final, "ENTRYPOINT")[-1], installed)
    command += _exec_form(_instructions(final, "CMD")[-1])
    config = _settings_without_sources(tmp_path / "settings.toml", "127.0.0.1:0")
    env = _image_environment(dockerfile, installed, data, RASID_CONFIG=str(config))

    result = _run([*command, "--once"], env, data)

    assert result.returncode == 0, result.stderr
    assert "polled 0 source(s)" in result.stdout
    assert (data / "rasid.db").is_file()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.e2e
def test_the_healthcheck_asks_the_running_service(installed, dockerfile, data, tmp_path):
    final = dockerfile[-1]
    command = _image_command(_instructions(final, "ENTRYPOINT")[-1], installed)
    command += _exec_form(_instructions(final, "CMD")[-1])
    probe_command = _instructions(final, "HEALTHCHECK")[-1].partition(" CMD ")[2]
    healthcheck = _image_command(probe_command, installed)
    config = _settings_without_sources(tmp_path / "settings.toml", f"127.0.0.1:{_free_port()}")
    env = _image_environment(dockerfile, installed, data, RASID_CONFIG=str(config))

    assert _run(healthcheck, env, data).returncode == 1  # nothing runs yet
    service = subprocess.Popen(
        command, env=env, cwd=data, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 60
        probe = _run(healthcheck, env, data)
        while probe.returncode != 0 and time.monotonic() < deadline:
            assert service.poll() is None, service.communicate()[1]
            time.sleep(0.2)
            probe = _run(healthcheck, env, data)
        ready = _run([*healthcheck, "--ready"], env, data)
    finally:
        service.send_signal(signal.SIGTERM)
        _out, err = service.communicate(timeout=30)

    assert probe.returncode == 0, probe.stdout + probe.stderr
    assert probe.stdout.startswith("healthy: ")
    assert ready.returncode == 0, ready.stdout
    assert '"scheduler":"ok"' in ready.stdout
    assert service.returncode == 0, err
    stopped = _run(healthcheck, env, data)
    assert stopped.returncode == 1
    assert stopped.stdout.startswith("unhealthy: ")
