"""The local stack that stands in for AWS: one moto server and a PostgreSQL 15 playing Redshift.

Both run as background processes bound to 127.0.0.1, so they outlive the `ecomflow local up` call
that started them. Their state lives in one folder (default `<repo>/.state/local`, or
`ECOMFLOW_STATE_DIR`): `endpoints.json`, `moto.log` and `pg/` (data directory, socket directory,
server log). boto3 reaches moto only through configuration (`apply_environment` sets
`AWS_ENDPOINT_URL` and friends), never through a code path that differs from AWS.

    endpoints = up()                 # idempotent: reuses what already runs
    apply_environment(endpoints)     # boto3 now talks to moto
    psycopg.connect(endpoints.postgres.dsn)
    down()                           # idempotent; the PostgreSQL data directory is kept
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import pwd
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, MutableMapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ecomflow.errors import EnvironmentMissingError, LocalStackError, PortInUseError
from ecomflow.local.home import state_root

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
DEFAULT_MOTO_PORT = 5055
DEFAULT_PG_PORT = 5439  # Redshift's port
DEFAULT_PG_BIN = Path("/usr/lib/postgresql/15/bin")
DEFAULT_JDBC_JAR = Path("/usr/share/java/postgresql.jar")
DEFAULT_TIMEOUT = 60.0
DEFAULT_REGION = "us-east-1"
PG_USER = "ecomflow"
PG_PASSWORD = "ecomflow"
PG_DATABASE = "ecomflow"
PG_OS_USER = "postgres"  # initdb and postgres refuse to run as root
JDBC_DRIVER = "org.postgresql.Driver"
DUMMY_CREDENTIAL = "testing"
ENDPOINTS_FILE = "endpoints.json"
INSTALL_HINT = "run `make os-deps` (bash scripts/install-os-deps.sh)"

# Environment variables that `apply_environment` owns; `restore_environment` puts them back.
AWS_ENV_KEYS = ("AWS_ENDPOINT_URL", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ACCESS_KEY_ID",
                "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "NO_PROXY", "no_proxy",
                "ECOMFLOW_STATE_DIR")

# Children started by this Python process, kept so that stopping them also reaps them.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


# --- settings and endpoints ------------------------------------------------------------------

def _env_int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise EnvironmentMissingError(f"{name}={raw!r} is not a port number") from None


@dataclass(frozen=True)
class StackSettings:
    """Where the local stack keeps its state and which loopback ports it binds (0 = a free port)."""

    state_dir: Path
    moto_port: int = DEFAULT_MOTO_PORT
    pg_port: int = DEFAULT_PG_PORT
    region: str = DEFAULT_REGION
    pg_bin: Path = DEFAULT_PG_BIN
    jdbc_jar: Path = DEFAULT_JDBC_JAR
    timeout: float = DEFAULT_TIMEOUT

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> StackSettings:
        """Read settings from `ECOMFLOW_*` variables; keyword overrides that are not None win.

        Variables: ECOMFLOW_STATE_DIR, ECOMFLOW_MOTO_PORT, ECOMFLOW_PG_PORT, ECOMFLOW_PG_BIN,
        ECOMFLOW_JDBC_JAR, and AWS_REGION / AWS_DEFAULT_REGION for the region.
        """
        env = os.environ if env is None else env
        values: dict[str, Any] = {
            "state_dir": Path(env.get("ECOMFLOW_STATE_DIR") or state_root() / "local"),
            "moto_port": _env_int(env, "ECOMFLOW_MOTO_PORT", DEFAULT_MOTO_PORT),
            "pg_port": _env_int(env, "ECOMFLOW_PG_PORT", DEFAULT_PG_PORT),
            "region": env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or DEFAULT_REGION,
            "pg_bin": Path(env.get("ECOMFLOW_PG_BIN") or DEFAULT_PG_BIN),
            "jdbc_jar": Path(env.get("ECOMFLOW_JDBC_JAR") or DEFAULT_JDBC_JAR),
        }
        values.update({key: value for key, value in overrides.items() if value is not None})
        values["state_dir"] = Path(values["state_dir"]).expanduser().resolve()
        values["pg_bin"] = Path(values["pg_bin"])
        values["jdbc_jar"] = Path(values["jdbc_jar"])
        return cls(**values)


@dataclass(frozen=True)
class MotoEndpoint:
    """The moto server: one HTTP endpoint for every mocked AWS service."""

    host: str
    port: int
    pid: int | None = None
    log_file: str | None = None

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}:{self.port}"


@dataclass(frozen=True)
class PostgresEndpoint:
    """The local Redshift: connection details for psycopg and for Spark JDBC."""

    host: str
    port: int
    user: str = PG_USER
    password: str = PG_PASSWORD
    database: str = PG_DATABASE
    jdbc_jar: str = str(DEFAULT_JDBC_JAR)
    jdbc_jar_present: bool = False
    pid: int | None = None
    data_dir: str | None = None
    socket_dir: str | None = None
    log_file: str | None = None

    @property
    def dsn(self) -> str:
        """A libpq URL, accepted by psycopg, DuckDB's postgres extension and SQLAlchemy."""
        return f"postgresql://{self.user}:{self.password}@{self.host}:{self.port}/{self.database}"

    @property
    def jdbc_url(self) -> str:
        """The JDBC URL for Spark; pass user and password as options (`jdbc_properties`)."""
        return f"jdbc:postgresql://{self.host}:{self.port}/{self.database}"

    def jdbc_properties(self) -> dict[str, str]:
        """Spark JDBC options `user`, `password` and `driver`."""
        return {"user": self.user, "password": self.password, "driver": JDBC_DRIVER}

    def with_database(self, database: str) -> PostgresEndpoint:
        """The same server, another database."""
        return replace(self, database=database)


@dataclass(frozen=True)
class Endpoints:
    """Everything a client needs to reach the running local stack; serialised as endpoints.json."""

    state_dir: str
    region: str
    moto: MotoEndpoint
    postgres: PostgresEndpoint
    access_key_id: str = DUMMY_CREDENTIAL
    secret_access_key: str = DUMMY_CREDENTIAL
    alive: dict[str, bool] = field(default_factory=dict, compare=False)

    @property
    def endpoint_url(self) -> str:
        """The AWS endpoint URL (moto) that boto3 reads from `AWS_ENDPOINT_URL`."""
        return self.moto.endpoint_url

    def to_dict(self) -> dict[str, Any]:
        """The endpoints.json document: plain fields plus the derived URLs and DSN."""
        pg = self.postgres
        doc: dict[str, Any] = {
            "state_dir": self.state_dir,
            "aws": {
                "endpoint_url": self.endpoint_url,
                "region": self.region,
                "access_key_id": self.access_key_id,
                "secret_access_key": self.secret_access_key,
            },
            "moto": {
                "host": self.moto.host, "port": self.moto.port, "endpoint_url": self.moto.endpoint_url,
                "pid": self.moto.pid, "log_file": self.moto.log_file,
            },
            "postgres": {
                "host": pg.host, "port": pg.port, "user": pg.user, "password": pg.password,
                "database": pg.database, "dsn": pg.dsn, "jdbc_url": pg.jdbc_url,
                "jdbc_driver": JDBC_DRIVER, "jdbc_jar": pg.jdbc_jar,
                "jdbc_jar_present": pg.jdbc_jar_present, "pid": pg.pid, "data_dir": pg.data_dir,
                "socket_dir": pg.socket_dir, "log_file": pg.log_file,
            },
        }
        if self.alive:
            doc["moto"]["alive"] = self.alive.get("moto", False)
            doc["postgres"]["alive"] = self.alive.get("postgres", False)
            doc["running"] = all(self.alive.values())
        return doc

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=False)

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> Endpoints:
        """Rebuild from `to_dict()` output; derived keys (URLs, DSN, alive) are ignored."""
        aws, moto, pg = doc["aws"], doc["moto"], doc["postgres"]
        return cls(
            state_dir=doc["state_dir"],
            region=aws["region"],
            access_key_id=aws["access_key_id"],
            secret_access_key=aws["secret_access_key"],
            moto=MotoEndpoint(host=moto["host"], port=int(moto["port"]), pid=moto.get("pid"),
                              log_file=moto.get("log_file")),
            postgres=PostgresEndpoint(
                host=pg["host"], port=int(pg["port"]), user=pg["user"], password=pg["password"],
                database=pg["database"], jdbc_jar=pg["jdbc_jar"],
                jdbc_jar_present=bool(pg["jdbc_jar_present"]), pid=pg.get("pid"),
                data_dir=pg.get("data_dir"), socket_dir=pg.get("socket_dir"), log_file=pg.get("log_file")),
        )


def read_endpoints(state_dir: Path) -> Endpoints | None:
    """The endpoints.json of `state_dir`, or None when there is none (or it is unreadable)."""
    path = Path(state_dir) / ENDPOINTS_FILE
    try:
        return Endpoints.from_dict(json.loads(path.read_text()))
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError) as exc:
        log.warning("ignoring unreadable %s: %s", path, exc)
        return None


def load_endpoints(state_dir: Path | str | None = None) -> Endpoints:
    """The endpoints of the running local stack (default state folder unless given).

    Raises:
        LocalStackError: nothing has been started there.
    """
    state = Path(state_dir) if state_dir is not None else StackSettings.from_env().state_dir
    endpoints = read_endpoints(state)
    if endpoints is None:
        raise LocalStackError(f"the local stack is not running (no {state / ENDPOINTS_FILE}); "
                              "run `ecomflow local up`")
    return endpoints


def _write_endpoints(endpoints: Endpoints) -> None:
    path = Path(endpoints.state_dir) / ENDPOINTS_FILE
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(replace(endpoints, alive={}).to_json() + "\n")
    tmp.replace(path)


# --- environment for boto3 -------------------------------------------------------------------

def aws_environment(endpoints: Endpoints, current: Mapping[str, str] | None = None) -> dict[str, str | None]:
    """The variables that point boto3 at moto (None = unset), and our code at this stack's state.

    Profiles and session tokens are unset so that no real credential can leak into a request;
    loopback is added to NO_PROXY so that a configured proxy does not swallow local calls.
    ECOMFLOW_STATE_DIR names the stack, so that what looks for its PostgreSQL (the lakes' Iceberg
    catalogs, `ecomflow.local.iceberg`) finds this one, in this process and in its children.
    """
    current = os.environ if current is None else current
    no_proxy = [part for part in (current.get("NO_PROXY") or current.get("no_proxy") or "").split(",") if part]
    for host in (HOST, "localhost"):
        if host not in no_proxy:
            no_proxy.append(host)
    return {
        "AWS_ENDPOINT_URL": endpoints.endpoint_url,
        "AWS_REGION": endpoints.region,
        "AWS_DEFAULT_REGION": endpoints.region,
        "AWS_ACCESS_KEY_ID": endpoints.access_key_id,
        "AWS_SECRET_ACCESS_KEY": endpoints.secret_access_key,
        "AWS_SESSION_TOKEN": None,
        "AWS_PROFILE": None,
        "NO_PROXY": ",".join(no_proxy),
        "no_proxy": ",".join(no_proxy),
        "ECOMFLOW_STATE_DIR": str(endpoints.state_dir),
    }


def apply_environment(endpoints: Endpoints,
                      environ: MutableMapping[str, str] | None = None) -> dict[str, str | None]:
    """Point boto3 (and everything built on `ecomflow.aws`) at the local stack.

    Returns:
        The previous values of the touched variables, for `restore_environment`.
    """
    environ = os.environ if environ is None else environ
    previous = {key: environ.get(key) for key in AWS_ENV_KEYS}
    _set_all(environ, aws_environment(endpoints, environ))
    return previous


def restore_environment(previous: Mapping[str, str | None],
                        environ: MutableMapping[str, str] | None = None) -> None:
    """Undo `apply_environment`."""
    _set_all(os.environ if environ is None else environ, previous)


@contextlib.contextmanager
def stack_environment(endpoints: Endpoints) -> Iterator[Endpoints]:
    """`apply_environment` for the duration of a `with` block."""
    previous = apply_environment(endpoints)
    try:
        yield endpoints
    finally:
        restore_environment(previous)


def _set_all(environ: MutableMapping[str, str], values: Mapping[str, str | None]) -> None:
    for key, value in values.items():
        if value is None:
            environ.pop(key, None)
        else:
            environ[key] = value


# --- processes and ports ---------------------------------------------------------------------

def free_port() -> int:
    """A loopback TCP port that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def ensure_port_free(port: int, what: str, setting: str) -> None:
    """Raise `PortInUseError` if 127.0.0.1:`port` cannot be bound."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # SO_REUSEADDR ignores TIME_WAIT leftovers of our own last run; a live listener still fails.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                raise PortInUseError(f"{what} cannot listen on {HOST}:{port}: the port is taken by another "
                                     f"process; free it or choose another with {setting} (0 picks a free port)"
                                     ) from None
            raise


def _pid_alive(pid: int | None) -> bool:
    if not pid or pid <= 0:
        return False
    child = _CHILDREN.get(pid)
    if child is not None:
        return child.poll() is None
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"  # a zombie has exited


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _terminate(pid: int, sig: int, timeout: float) -> None:
    """Send `sig` to `pid`, wait up to `timeout` seconds, then SIGKILL; reaps our own children."""
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while _pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _pid_alive(pid):
        log.warning("process %s ignored signal %s; killing it", pid, sig)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    child = _CHILDREN.pop(pid, None)
    if child is not None:
        child.wait(timeout=timeout)


def _log_tail(path: Path | str | None, lines: int = 1) -> str:
    if not path:
        return ""
    try:
        text = [line.strip() for line in Path(path).read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    return " | ".join(text[-lines:])


@contextlib.contextmanager
def _state_lock(state_dir: Path) -> Iterator[None]:
    """Serialise `up`/`down` on one state folder, across processes."""
    state_dir.mkdir(parents=True, exist_ok=True)
    with open(state_dir / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# --- moto server -----------------------------------------------------------------------------

def _moto_answers(url: str) -> bool:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never a proxy
    try:
        with opener.open(f"{url}/moto-api/", timeout=2):
            return True
    except urllib.error.HTTPError:
        return True  # any HTTP answer means the server is up
    except (urllib.error.URLError, OSError):
        return False


def wait_for_moto(moto: MotoEndpoint, timeout: float) -> None:
    """Wait until the moto server answers HTTP.

    Raises:
        LocalStackError: it exited or did not answer within `timeout` seconds.
    """
    deadline = time.monotonic() + timeout
    while not _moto_answers(moto.endpoint_url):
        if moto.pid is not None and not _pid_alive(moto.pid):
            raise LocalStackError(f"moto server exited while starting: {_log_tail(moto.log_file) or 'no output'} "
                                  f"(log: {moto.log_file})")
        if time.monotonic() > deadline:
            raise LocalStackError(f"moto server did not answer on {moto.endpoint_url} within {timeout:.0f}s "
                                  f"(log: {moto.log_file})")
        time.sleep(0.1)


def _moto_running(previous: Endpoints | None) -> MotoEndpoint | None:
    if previous is None or not _pid_alive(previous.moto.pid):
        return None
    if "moto" not in _cmdline(previous.moto.pid or 0):  # the pid was reused by something else
        return None
    return previous.moto


def _start_moto(settings: StackSettings, port: int) -> MotoEndpoint:
    log_file = settings.state_dir / "moto.log"
    with open(log_file, "wb") as out:  # one run per log: moto logs every request
        child = subprocess.Popen(
            [sys.executable, "-m", "ecomflow.local.moto_server", "-H", HOST, "-p", str(port)],  # moto, patched
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,  # survives the CLI call and its terminal's Ctrl-C
        )
    _CHILDREN[child.pid] = child
    moto = MotoEndpoint(host=HOST, port=port, pid=child.pid, log_file=str(log_file))
    log.info("started moto server (pid %s) on %s", child.pid, moto.endpoint_url)
    return moto


def _stop_moto(moto: MotoEndpoint) -> bool:
    if not _pid_alive(moto.pid) or "moto" not in _cmdline(moto.pid or 0):
        _CHILDREN.pop(moto.pid or 0, None)
        return False
    _terminate(int(moto.pid or 0), signal.SIGTERM, timeout=10)
    log.info("stopped moto server (pid %s)", moto.pid)
    return True


def reset_moto(endpoints: Endpoints) -> None:
    """Forget every mocked AWS resource (moto's own reset API); for test isolation."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    request = urllib.request.Request(f"{endpoints.endpoint_url}/moto-api/reset", method="POST", data=b"")
    with opener.open(request, timeout=10):
        pass


# --- PostgreSQL ------------------------------------------------------------------------------

@dataclass(frozen=True)
class _PgPaths:
    root: Path
    data: Path
    sockets: Path
    log_file: Path

    @classmethod
    def under(cls, state_dir: Path) -> _PgPaths:
        root = state_dir / "pg"
        return cls(root=root, data=root / "data", sockets=root / "run", log_file=root / "postgres.log")


def _require_tools(settings: StackSettings) -> None:
    """Raise `EnvironmentMissingError` naming the first missing binary, user or jar."""
    for tool in ("initdb", "pg_ctl", "pg_isready", "postgres"):
        if not os.access(settings.pg_bin / tool, os.X_OK):
            raise EnvironmentMissingError(f"PostgreSQL 15 is not installed: {settings.pg_bin / tool} is missing; "
                                          f"{INSTALL_HINT} or set ECOMFLOW_PG_BIN")
    if not settings.jdbc_jar.is_file():
        raise EnvironmentMissingError(f"the PostgreSQL JDBC driver {settings.jdbc_jar} is missing (Debian package "
                                      f"libpostgresql-jdbc-java); {INSTALL_HINT} or set ECOMFLOW_JDBC_JAR")
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(PG_OS_USER)
        except KeyError:
            raise EnvironmentMissingError(f"running as root but there is no `{PG_OS_USER}` OS user to run "
                                          f"PostgreSQL as (initdb refuses root); {INSTALL_HINT}") from None
        if shutil.which("runuser") is None:
            raise EnvironmentMissingError("running as root but `runuser` (util-linux) is missing")


def _as_pg_owner(command: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", PG_OS_USER, "--", *command]
    return command


def _run(command: list[str], what: str, timeout: float) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise LocalStackError(f"{what} did not finish within {timeout:.0f}s") from None


def _postmaster(paths: _PgPaths) -> tuple[int, int] | None:
    """(pid, port) of the PostgreSQL server running on our data directory, if any."""
    try:
        lines = (paths.data / "postmaster.pid").read_text().splitlines()
        pid, port = int(lines[0]), int(lines[3])
    except (OSError, ValueError, IndexError):
        return None
    return (pid, port) if _pid_alive(pid) else None


def _prepare_pg_dirs(paths: _PgPaths) -> None:
    paths.sockets.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        return
    owner = pwd.getpwnam(PG_OS_USER)
    for folder, _dirs, files in os.walk(paths.root):
        os.chown(folder, owner.pw_uid, owner.pw_gid)
        for name in files:
            os.chown(os.path.join(folder, name), owner.pw_uid, owner.pw_gid)
    reachable = _run(_as_pg_owner(["test", "-w", str(paths.root)]), "access check", timeout=10)
    if reachable.returncode != 0:
        raise EnvironmentMissingError(f"the `{PG_OS_USER}` OS user cannot reach {paths.root} (a parent folder is "
                                      "not traversable); choose another ECOMFLOW_STATE_DIR")


def _initdb(settings: StackSettings, paths: _PgPaths) -> None:
    if (paths.data / "PG_VERSION").exists():
        return
    if paths.data.exists():  # a half-made cluster from an interrupted initdb: ours to remove
        shutil.rmtree(paths.data)
    paths.root.mkdir(parents=True, exist_ok=True)
    pwfile = paths.root / ".pwfile"
    pwfile.write_text(PG_PASSWORD + "\n")
    pwfile.chmod(0o600)
    _prepare_pg_dirs(paths)
    try:
        result = _run(_as_pg_owner([
            str(settings.pg_bin / "initdb"), "-D", str(paths.data), "-U", PG_USER, f"--pwfile={pwfile}",
            "--auth-local=trust", "--auth-host=scram-sha-256", "--encoding=UTF8", "--locale=C",
        ]), "initdb", timeout=settings.timeout * 2)
    finally:
        pwfile.unlink(missing_ok=True)
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()
        raise LocalStackError(f"initdb failed: {detail[-1] if detail else 'no output'}")
    log.info("initialised PostgreSQL data directory %s", paths.data)


def _start_postgres(settings: StackSettings, paths: _PgPaths, port: int) -> None:
    _initdb(settings, paths)
    _prepare_pg_dirs(paths)
    options = " ".join([
        "-c", "listen_addresses=" + HOST, "-p", str(port), "-k", shlex.quote(str(paths.sockets)),
    ])
    result = _run(_as_pg_owner([
        str(settings.pg_bin / "pg_ctl"), "-D", str(paths.data), "-l", str(paths.log_file),
        "-o", options, "-w", "-t", str(int(settings.timeout)), "start",
    ]), "pg_ctl start", timeout=settings.timeout + 10)
    if result.returncode != 0:
        raise LocalStackError(f"PostgreSQL did not start: {_log_tail(paths.log_file) or result.stderr.strip()} "
                              f"(log: {paths.log_file})")
    running = _postmaster(paths)
    log.info("started PostgreSQL (pid %s) on %s:%s", running[0] if running else "?", HOST, port)


def wait_for_postgres(settings: StackSettings, endpoint: PostgresEndpoint, timeout: float) -> None:
    """Wait until `pg_isready` succeeds, then make sure the `ecomflow` database exists.

    Raises:
        LocalStackError: the server did not accept connections within `timeout` seconds.
    """
    import psycopg

    deadline = time.monotonic() + timeout
    while True:
        ready = _run([str(settings.pg_bin / "pg_isready"), "-q", "-h", endpoint.host, "-p", str(endpoint.port),
                      "-t", "2"], "pg_isready", timeout=10)
        if ready.returncode == 0:
            break
        if time.monotonic() > deadline:
            raise LocalStackError(f"PostgreSQL did not accept connections on {endpoint.host}:{endpoint.port} "
                                  f"within {timeout:.0f}s (log: {endpoint.log_file})")
        time.sleep(0.2)
    try:
        with psycopg.connect(endpoint.with_database("postgres").dsn, autocommit=True, connect_timeout=10) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (endpoint.database,)).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{endpoint.database}"')
                log.info("created database %s", endpoint.database)
    except psycopg.Error as exc:
        raise LocalStackError(f"PostgreSQL on {endpoint.host}:{endpoint.port} refused the connection: "
                              f"{str(exc).strip().splitlines()[0]}") from None


def _stop_postgres(settings: StackSettings, paths: _PgPaths) -> bool:
    running = _postmaster(paths)
    if running is None:
        return False
    pg_ctl = settings.pg_bin / "pg_ctl"
    if os.access(pg_ctl, os.X_OK):
        result = _run(_as_pg_owner([str(pg_ctl), "-D", str(paths.data), "-m", "fast", "-w", "-t", "30", "stop"]),
                      "pg_ctl stop", timeout=40)
        if result.returncode != 0:
            log.warning("pg_ctl stop failed (%s); signalling the server", result.stderr.strip())
            _terminate(running[0], signal.SIGINT, timeout=30)
    else:
        _terminate(running[0], signal.SIGINT, timeout=30)  # SIGINT = PostgreSQL's fast shutdown
    log.info("stopped PostgreSQL (pid %s)", running[0])
    return True


def _pg_endpoint(settings: StackSettings, paths: _PgPaths, port: int, pid: int | None) -> PostgresEndpoint:
    return PostgresEndpoint(
        host=HOST, port=port, jdbc_jar=str(settings.jdbc_jar), jdbc_jar_present=settings.jdbc_jar.is_file(),
        pid=pid, data_dir=str(paths.data), socket_dir=str(paths.sockets), log_file=str(paths.log_file))


# --- public commands -------------------------------------------------------------------------

def up(settings: StackSettings | None = None) -> Endpoints:
    """Start the moto server and PostgreSQL, or reuse those already running; write endpoints.json.

    Raises:
        EnvironmentMissingError: PostgreSQL 15, the JDBC jar or the `postgres` user is missing.
        PortInUseError: a requested port is taken by another process.
        LocalStackError: a process failed to start or to answer in time.
    """
    settings = settings or StackSettings.from_env()
    _require_tools(settings)
    state = settings.state_dir
    paths = _PgPaths.under(state)
    with _state_lock(state):
        previous = read_endpoints(state)
        started_moto: MotoEndpoint | None = None
        started_pg = False
        moto = _moto_running(previous)
        running = _postmaster(paths)
        # Check both ports before starting anything, so a taken port leaves nothing behind.
        moto_port = settings.moto_port or free_port()
        pg_port = settings.pg_port or free_port()
        if moto is None:
            ensure_port_free(moto_port, "moto server", "ECOMFLOW_MOTO_PORT or --moto-port")
        if running is None:
            ensure_port_free(pg_port, "PostgreSQL", "ECOMFLOW_PG_PORT or --pg-port")
        try:
            if moto is None:
                moto = started_moto = _start_moto(settings, moto_port)
            else:
                log.info("reusing moto server (pid %s) on %s", moto.pid, moto.endpoint_url)
            if running is None:
                _start_postgres(settings, paths, pg_port)
                started_pg = True
                running = _postmaster(paths)
            else:
                log.info("reusing PostgreSQL (pid %s) on %s:%s", running[0], HOST, running[1])
            if running is None:
                raise LocalStackError(f"PostgreSQL exited right after starting: {_log_tail(paths.log_file)}")
            postgres = _pg_endpoint(settings, paths, port=running[1], pid=running[0])
            wait_for_moto(moto, settings.timeout)
            wait_for_postgres(settings, postgres, settings.timeout)
        except BaseException:
            # Leave nothing half-started behind: what this call started, it stops.
            if started_moto is not None:
                _stop_moto(started_moto)
            if started_pg:
                _stop_postgres(settings, paths)
            raise
        endpoints = Endpoints(state_dir=str(state), region=settings.region, moto=moto, postgres=postgres)
        _write_endpoints(endpoints)
    return replace(endpoints, alive={"moto": True, "postgres": True})


def down(settings: StackSettings | None = None) -> bool:
    """Stop the moto server and PostgreSQL if they run; keep the data directory.

    Returns:
        True if anything was stopped.
    """
    settings = settings or StackSettings.from_env()
    state = settings.state_dir
    if not state.exists():
        return False
    with _state_lock(state):
        previous = read_endpoints(state)
        stopped = previous is not None and _stop_moto(previous.moto)
        stopped = _stop_postgres(settings, _PgPaths.under(state)) or stopped
        (state / ENDPOINTS_FILE).unlink(missing_ok=True)
    return stopped


def status(settings: StackSettings | None = None) -> dict[str, Any]:
    """The endpoints document plus whether each process is alive (`running` = both are)."""
    settings = settings or StackSettings.from_env()
    endpoints = read_endpoints(settings.state_dir)
    jar = {"jdbc_jar": str(settings.jdbc_jar), "jdbc_jar_present": settings.jdbc_jar.is_file()}
    if endpoints is None:
        return {"state_dir": str(settings.state_dir), "running": False, "postgres": jar}
    pg = _postmaster(_PgPaths.under(settings.state_dir))
    alive = {"moto": _moto_running(endpoints) is not None,
             "postgres": pg is not None and pg[1] == endpoints.postgres.port}
    doc = replace(endpoints, alive=alive).to_dict()
    doc["postgres"].update(jar)
    return doc


@contextlib.contextmanager
def temporary_stack(timeout: float = DEFAULT_TIMEOUT) -> Iterator[Endpoints]:
    """A fresh stack in a temporary state folder on free ports, stopped and deleted on exit.

    The environment is not touched; combine with `stack_environment` for boto3.
    """
    # mkdtemp makes the folder 0700, which the `postgres` OS user could not enter.
    state = Path(tempfile.mkdtemp(prefix="ecomflow-stack-"))
    state.chmod(0o755)
    settings = StackSettings.from_env(state_dir=state, moto_port=0, pg_port=0, timeout=timeout)
    try:
        yield up(settings)
    finally:
        try:
            down(settings)
        finally:
            shutil.rmtree(state, ignore_errors=True)


def use_local_stack_if_running() -> None:
    """Point boto3 at the local stack's moto server when one runs and no endpoint is set."""
    if os.environ.get("AWS_ENDPOINT_URL"):
        return
    settings = StackSettings.from_env()
    if status(settings).get("running"):
        apply_environment(load_endpoints(settings.state_dir))
        log.info("using the local stack at %s", os.environ.get("AWS_ENDPOINT_URL"))


def create_stream_resources(stream_name: str, invoice_table: str, customer_table: str) -> None:
    """Create the Kinesis stream and the DynamoDB tables of the streaming path where missing."""
    from ecomflow import aws
    from ecomflow.stores import dynamodb, kinesis

    kinesis.ensure_stream(aws.client("kinesis"), stream_name)
    dynamodb.ensure_tables(aws.client("dynamodb"), invoice_table, customer_table)
