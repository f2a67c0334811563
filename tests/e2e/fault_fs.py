"""A small or a read-only file system for the storage fault tests, on any
machine: a directory that the broker, started with env(), sees through
tests/fault_fs/fs_shim.c (LD_PRELOAD; built with the tests into
BUILD/lib/strata_test_fs_shim.so) as a file system of `size` bytes, or as one
mounted read-only. No mount, so no CAP_SYS_ADMIN: the tests run on a CI
machine without it as they do here, instead of being skipped.

The strata binary is the one under test, unchanged: its free-space check
(statvfs) and RocksDB's file calls (open, mkdir, ...) get what a real small
or read-only file system would give them. Only the file system is pretend."""
import os
import pathlib

from conftest import STRATA_BIN

SHIM = pathlib.Path(os.environ.get("STRATA_TEST_FS_SHIM", STRATA_BIN.parents[1] / "lib" / "strata_test_fs_shim.so"))


class FaultFs:
    def __init__(self, root, size=None, read_only=False):
        assert SHIM.exists(), f"{SHIM} is missing: it is built with the tests (cmake --build BUILD)"
        self.root = pathlib.Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.size = size
        self.read_only = read_only

    def env(self):
        """The environment of a process that sees the directory as this file system."""
        env = dict(os.environ, LD_PRELOAD=str(SHIM), STRATA_TEST_FS_ROOT=str(self.root))
        if self.size is not None:
            env["STRATA_TEST_FS_SIZE"] = str(self.size)
        if self.read_only:
            env["STRATA_TEST_FS_READONLY"] = "1"
        return env

    def used(self):
        """Bytes that the files under the root occupy, as the shim counts them."""
        total = 0
        for dirpath, dirnames, filenames in os.walk(self.root):
            for name in dirnames + filenames:
                try:
                    total += os.lstat(os.path.join(dirpath, name)).st_blocks * 512
                except FileNotFoundError:
                    pass  # RocksDB removed it meanwhile
        return total

    def free(self):
        """Free bytes, as the broker's statvfs() sees them."""
        return max(0, self.size - self.used())

    def fill(self, path, leave):
        """Fills the file system with one file at `path` until at most `leave`
        bytes are free (the broker's own files go on growing a little)."""
        with open(path, "wb") as f:
            length = 0
            while self.free() > leave:
                length += self.free() - leave
                os.posix_fallocate(f.fileno(), 0, length)  # allocated blocks, as written ones
