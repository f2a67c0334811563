"""A real MongoDB-wire server for the MongoDB exporter's tests: FerretDB (built
from the Go module proxy by tools/fetch-ferretdb into BUILD/go/bin) with its
SQLite backend, started on 127.0.0.1 on a free port with a temporary data
directory, and stopped after. It can be stopped and started again mid-test
(fault tests), keeping its data.

FerretDB runs with its SCRAM authentication on: the user `strata` with
password `strata-pw` owns the database `iot`, so a wrong password is refused
as a real MongoDB would refuse it. Tests read documents back with pymongo."""
import os
import pathlib
import subprocess

import pymongo
import pytest

from servers import DATABASE, PASSWORD, USER, free_port, read_output, stop_process, wait_port


def ferretdb_binary():
    """BUILD/go/bin/ferretdb, BUILD being the directory of the strata binary's bin/."""
    strata = pathlib.Path(os.environ.get("STRATA_BIN", "build/bin/strata")).resolve()
    return strata.parent.parent / "go" / "bin" / "ferretdb"


class FerretDB:
    def __init__(self, workdir):
        self.binary = ferretdb_binary()
        if not self.binary.exists():
            # tools/test-env (make test) builds it; failing beats a silent skip.
            raise RuntimeError(f"{self.binary} is missing: run tools/fetch-ferretdb BUILD_DIR (needs Go)")
        self.dir = pathlib.Path(workdir)
        self.data = self.dir / "data"
        self.data.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.log = self.dir / "ferretdb.log"
        self.proc = None
        self.start()

    def start(self):
        # --setup-*: creates the database and its user on the first start only.
        # --debug-addr=-: no metrics listener (it would need a port of its own).
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [str(self.binary), "--handler=sqlite", f"--sqlite-url=file:{self.data}/",
                 f"--listen-addr=127.0.0.1:{self.port}", "--debug-addr=-", f"--state-dir={self.dir}",
                 "--telemetry=disable", "--log-level=warn", "--test-enable-new-auth",
                 f"--setup-database={DATABASE}", f"--setup-username={USER}", f"--setup-password={PASSWORD}"],
                stdout=log, stderr=subprocess.STDOUT)
        wait_port(self.port, proc=self.proc, what="FerretDB", output=self.output)
        # The listener opens before the setup user exists: wait until it logs in.
        probe = self.client(serverSelectionTimeoutMS=20000)
        try:
            probe[DATABASE].command("ping")
        except pymongo.errors.PyMongoError as e:
            raise RuntimeError(f"FerretDB does not answer as {USER}: {e}\n{self.output()}") from e
        finally:
            probe.close()

    def output(self):
        return read_output(self.log)

    def stop(self):
        stop_process(self.proc, 30)

    def client(self, **options):
        return pymongo.MongoClient("127.0.0.1", self.port, username=USER, password=PASSWORD, authSource=DATABASE,
                                   directConnection=True, **options)

    def url(self):
        return f"mongodb://{USER}@127.0.0.1:{self.port}/{DATABASE}"


@pytest.fixture(scope="session")
def ferretdb(tmp_path_factory):
    server = FerretDB(tmp_path_factory.mktemp("ferretdb"))
    yield server
    server.stop()
