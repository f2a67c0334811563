"""Real database servers for the exporter tests, started by the test run on
127.0.0.1 with a temporary data directory each, and stopped after: MariaDB
(Debian's mariadb-server) and PostgreSQL (Debian's postgresql). Each can be
stopped and started again mid-test (fault tests), keeping its data.

Every server gets a user `strata` with password `strata-pw` and a database
`iot`; tests connect as that user and read the rows back with the server's
own command line client.

When a server or one of its set-up steps fails, the exception carries the
server's own output (its stdout and stderr, its error log): run_checked() and
wait_port(output=...) are for every server helper (servers_*.py too)."""
import os
import pathlib
import shlex
import shutil
import socket
import subprocess
import tempfile
import time

import pytest

PG_BIN = pathlib.Path("/usr/lib/postgresql/15/bin")
USER, PASSWORD, DATABASE = "strata", "strata-pw", "iot"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tail(text, limit=6000):
    """The end of a server's output: where the reason for a failure is."""
    text = text or ""
    return text if len(text) <= limit else "[...]\n" + text[-limit:]


def read_output(*paths):
    """The named log files' contents, each under its name (for error messages)."""
    parts = []
    for path in paths:
        try:
            parts.append(f"--- {path} ---\n{tail(pathlib.Path(path).read_text(errors='replace'))}")
        except FileNotFoundError:
            parts.append(f"--- {path}: not written ---")
    return "\n".join(parts)


class CommandFailed(subprocess.CalledProcessError):
    """A failed (or timed out: returncode None) set-up or client command. Its
    message shows the command, its stdout and stderr and the server's log;
    .stdout and .stderr are there for callers that look at them."""

    def __init__(self, what, how, cmd, returncode, stdout, stderr, output):
        super().__init__(returncode, cmd, stdout, stderr)
        self.message = (f"{what} {how}: {shlex.join(map(str, cmd))}\n--- stdout ---\n{tail(stdout)}\n"
                        f"--- stderr ---\n{tail(stderr)}" + ("\n" + output() if output else ""))

    def __str__(self):
        return self.message


def run_checked(cmd, what, output=None, **kwargs):
    """Runs a server's set-up or client command; when it fails or times out,
    the exception shows the command, its exit status, its stdout and stderr,
    and `output()` (the server's log files) if given."""
    try:
        result = subprocess.run(cmd, capture_output=True, text=True, errors="replace", **kwargs)
    except subprocess.TimeoutExpired as e:
        decode = (lambda b: b.decode(errors="replace") if isinstance(b, bytes) else b)
        raise CommandFailed(what, f"timed out after {e.timeout}s", cmd, None, decode(e.stdout), decode(e.stderr),
                            output) from None
    if result.returncode != 0:
        raise CommandFailed(what, f"failed (exit {result.returncode})", cmd, result.returncode, result.stdout,
                            result.stderr, output)
    return result


def stop_process(proc, timeout):
    """SIGTERM, then SIGKILL if `proc` has not ended within `timeout`
    seconds; nothing when it has ended already (or never started)."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def wait_port(port, timeout=60, proc=None, what="server", output=None):
    """Waits until 127.0.0.1:port accepts connections; fails with the
    server's own output (`output()`) if it exits or does not listen in time."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}" + ("\n" + output() if output else ""))
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{what} did not listen on {port} within {timeout}s" + ("\n" + output() if output else ""))


class MariaDB:
    def __init__(self, workdir):
        self.dir = pathlib.Path(workdir)
        self.data = self.dir / "data"
        self.socket = self.dir / "mysqld.sock"
        self.port = free_port()
        self.log = self.dir / "mariadb.log"          # the server's error log (--log-error)
        self.out = self.dir / "mariadbd.out"         # its stdout and stderr
        # A temporary directory of its own: a starting MariaDB server (the one
        # mariadb-install-db runs too) deletes every #sql* file in its tmpdir,
        # so with the default /tmp it deletes the temporary tables of every other
        # MariaDB running there, such as another test module's (ctest -j): its
        # mariadb-install-db then fails with "Unknown table 'mysql.tmp_user_sys'".
        self.tmp = self.dir / "tmp"
        self.proc = None
        self.tmp.mkdir(parents=True, exist_ok=True)
        run_checked(["mariadb-install-db", "--no-defaults", f"--datadir={self.data}", f"--tmpdir={self.tmp}",
                     "--user=root", "--auth-root-authentication-method=socket", "--skip-test-db"],
                    "mariadb-install-db", timeout=300)
        self.start()
        self.sql(f"CREATE DATABASE {DATABASE}; CREATE USER '{USER}'@'127.0.0.1' IDENTIFIED BY '{PASSWORD}'; "
                 f"GRANT ALL ON {DATABASE}.* TO '{USER}'@'127.0.0.1';", database=None)

    def start(self):
        out = open(self.out, "ab")
        self.proc = subprocess.Popen(
            ["/usr/sbin/mariadbd", "--no-defaults", f"--datadir={self.data}", f"--tmpdir={self.tmp}",
             f"--socket={self.socket}",
             f"--port={self.port}", "--bind-address=127.0.0.1", "--user=root", "--skip-name-resolve",
             "--innodb-buffer-pool-size=64M", "--innodb-log-file-size=48M", "--max-connections=50",
             f"--log-error={self.log}", f"--pid-file={self.dir / 'mariadb.pid'}"],
            stdout=out, stderr=subprocess.STDOUT)
        out.close()
        wait_port(self.port, proc=self.proc, what="MariaDB", output=self.output)

    def output(self):
        return read_output(self.log, self.out)

    def stop(self):
        stop_process(self.proc, 30)

    def sql(self, statement, database=DATABASE):
        """Runs SQL as root over the socket; returns the rows as lists of strings."""
        cmd = ["mariadb", "--no-defaults", f"--socket={self.socket}", "-u", "root", "--batch", "--skip-column-names",
               "-e", statement]
        if database:
            cmd.insert(-2, database)
        out = run_checked(cmd, "mariadb (SQL as root)", timeout=120).stdout
        return [line.split("\t") for line in out.splitlines()]

    def url(self):
        return f"mysql://{USER}@127.0.0.1:{self.port}/{DATABASE}"


class PostgreSQL:
    """PostgreSQL refuses to run as root: when the tests run as root, the
    server runs as the `postgres` user of the Debian package."""

    def __init__(self, workdir=None):
        # The postgres user must reach the directory: pytest's temporary
        # directories are private to root, so this one is made in /tmp.
        self.dir = pathlib.Path(workdir or tempfile.mkdtemp(prefix="strata-pg-"))
        self.data = self.dir / "data"
        self.port = free_port()
        self.log = self.dir / "postgres.log"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.as_user:
            shutil.chown(self.dir, "postgres", "postgres")
        pw = self.dir / "pw"
        pw.write_text("postgres-pw\n")
        if self.as_user:
            shutil.chown(pw, "postgres", "postgres")
        run_checked(self.as_user + [str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres",
                                    "--auth-local=trust", "--auth-host=scram-sha-256", f"--pwfile={pw}"],
                    "initdb", timeout=300)
        self.start()
        self.sql(f"CREATE USER {USER} PASSWORD '{PASSWORD}'", database="postgres")
        self.sql(f"CREATE DATABASE {DATABASE} OWNER {USER}", database="postgres")

    def start(self):
        run_checked(self.as_user + [str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w",
                                    "-o", f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 "
                                          "-c shared_buffers=32MB -c fsync=off", "start"],
                    "pg_ctl start", output=self.output, timeout=300)
        wait_port(self.port, what="PostgreSQL", output=self.output)

    def output(self):
        return read_output(self.log)

    def stop(self):
        subprocess.run(self.as_user + [str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"],
                       capture_output=True)

    def sql(self, statement, database=DATABASE):
        out = run_checked(self.as_user + ["psql", "-h", str(self.dir), "-p", str(self.port), "-U", "postgres",
                                          "-d", database, "-At", "-F", "\t", "-c", statement],
                          "psql", timeout=120).stdout
        return [line.split("\t") for line in out.splitlines()]

    def url(self):
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{DATABASE}"


@pytest.fixture(scope="session")
def mariadb(tmp_path_factory):
    server = MariaDB(tmp_path_factory.mktemp("mariadb"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def postgresql():
    server = PostgreSQL()
    yield server
    server.stop()
    shutil.rmtree(server.dir, ignore_errors=True)
