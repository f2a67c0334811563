"""Documents per second of the MongoDB exporter into FerretDB (the server of
the e2e tests): strata-bench publishes CLIENTS x COUNT JSON messages of 256 B
at QoS 1 to one route; the time until the last document is in the collection,
the exporter's peak rows_per_second, and the CPU seconds of strata and of the
server. Run after `make test-env` (the venv, FerretDB in build/go/bin):

    build/venv/bin/python bench/exporter_mongodb.py [COUNT_PER_CLIENT] [CLIENTS]
"""
import os
import pathlib
import subprocess
import sys
import tempfile
import time

repo = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(repo / "tests" / "e2e"))
os.environ.setdefault("STRATA_BIN", str(repo / "build" / "bin" / "strata"))

from conftest import Broker  # noqa: E402
from exporter_util import exporters  # noqa: E402
from servers import DATABASE, PASSWORD  # noqa: E402
from servers_mongodb import FerretDB  # noqa: E402


def cpu_seconds(pid):
    fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main():
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    clients = int(sys.argv[2]) if len(sys.argv) > 2 else 4
    n = count * clients
    work = pathlib.Path(tempfile.mkdtemp(prefix="strata-bench-mongodb-"))
    server = FerretDB(work / "ferretdb")
    pw = work / "pw"
    pw.write_text(PASSWORD + "\n")
    b = Broker(work / "broker", verbose=False, conf_lines=[
        "storage rocksdb", f"storage_path {work / 'store'}", "http_listener 0 127.0.0.1",
        "exporter bench mongodb", f"exporter_url {server.url()}", f"exporter_password_file {pw}",
        "exporter_route bench/# readings"])
    mongo = server.client()
    readings = mongo[DATABASE]["readings"]
    try:
        start = time.monotonic()
        out = subprocess.run([str(repo / "build" / "bin" / "strata-bench"), "-broker", f"tcp://127.0.0.1:{b.port}",
                              "-action", "pub", "-clients", str(clients), "-count", str(count), "-size", "256",
                              "-qos", "1", "-payload", "json", "-topic", "bench/t"],
                             capture_output=True, text=True, check=True).stdout
        published = time.monotonic() - start
        peak = 0.0
        while (stored := readings.estimated_document_count()) < n and time.monotonic() - start < 600:
            peak = max(peak, exporters(b)["bench"]["rows_per_second"])
            time.sleep(0.1)
        done = time.monotonic() - start
        state = exporters(b)["bench"]
        print(next(line for line in out.splitlines() if line.startswith("Result")))
        print(f"{n} messages published in {published:.2f} s; {stored} documents stored {done:.2f} s after the "
              f"first publish: {n / done:.0f} docs/s end to end, exporter peak {peak:.0f} rows/s; "
              f"state {state['state']}, failed writes {state['errors']}")
        print(f"CPU seconds: strata {cpu_seconds(b.proc.pid):.1f}, FerretDB {cpu_seconds(server.proc.pid):.1f}")
    finally:
        mongo.close()
        b.stop()
        server.stop()


if __name__ == "__main__":
    main()
