/* An LD_PRELOAD shim for the end-to-end backpressure tests
 * (tests/e2e/test_store_load.py): a disk that stops answering. While the
 * file STRATA_TEST_STALL_FILE exists, every write and sync to a file under
 * the directory STRATA_TEST_STALL_ROOT waits (RocksDB's write-ahead log and
 * table files), as on a device that hangs or a RocksDB write stall; once the
 * file is removed, they go on. Test-only: strata knows nothing of it.
 *
 * File descriptors are recognised when they are opened (open, openat,
 * creat): the shim remembers which ones lead under the root. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define MAX_FDS 65536
static unsigned char watched[MAX_FDS];

static int under_root(int dirfd, const char* path) {
    const char* root = getenv("STRATA_TEST_STALL_ROOT");
    if (!root || root[0] != '/' || !path) return 0;
    char full[PATH_MAX];
    if (path[0] == '/') {
        if (strlen(path) >= sizeof full) return 0;
        strcpy(full, path);
    } else {
        char base[PATH_MAX];
        if (dirfd == AT_FDCWD) {
            if (!getcwd(base, sizeof base)) return 0;
        } else {
            char link[64];
            snprintf(link, sizeof link, "/proc/self/fd/%d", dirfd);
            ssize_t n = readlink(link, base, sizeof base - 1);
            if (n < 0) return 0;
            base[n] = 0;
        }
        if (snprintf(full, sizeof full, "%s/%s", base, path) >= (int)sizeof full) return 0;
    }
    size_t n = strlen(root);
    while (n > 1 && root[n - 1] == '/') --n;
    return strncmp(full, root, n) == 0 && (full[n] == '/' || full[n] == 0);
}

static void note(int fd, int dirfd, const char* path) {
    if (fd >= 0 && fd < MAX_FDS) watched[fd] = (unsigned char)under_root(dirfd, path);
}

static void wait_while_stalled(int fd) {
    if (fd < 0 || fd >= MAX_FDS || !watched[fd]) return;
    const char* flag = getenv("STRATA_TEST_STALL_FILE");
    if (!flag) return;
    const struct timespec pause = {0, 10 * 1000 * 1000};
    while (access(flag, F_OK) == 0) nanosleep(&pause, NULL);
}

/* The next definition of `name` (libc's), looked up once. */
#define REAL(name)                       \
    static __typeof__(&name) real_##name; \
    if (!real_##name) real_##name = (__typeof__(&name))dlsym(RTLD_NEXT, #name)

int open(const char* path, int flags, ...) {
    REAL(open);
    mode_t mode = 0;
    if (flags & (O_CREAT | O_TMPFILE)) {
        va_list ap;
        va_start(ap, flags);
        mode = va_arg(ap, mode_t);
        va_end(ap);
    }
    int fd = real_open(path, flags, mode);
    note(fd, AT_FDCWD, path);
    return fd;
}

int open64(const char* path, int flags, ...) {
    REAL(open64);
    mode_t mode = 0;
    if (flags & (O_CREAT | O_TMPFILE)) {
        va_list ap;
        va_start(ap, flags);
        mode = va_arg(ap, mode_t);
        va_end(ap);
    }
    int fd = real_open64(path, flags, mode);
    note(fd, AT_FDCWD, path);
    return fd;
}

int openat(int dirfd, const char* path, int flags, ...) {
    REAL(openat);
    mode_t mode = 0;
    if (flags & (O_CREAT | O_TMPFILE)) {
        va_list ap;
        va_start(ap, flags);
        mode = va_arg(ap, mode_t);
        va_end(ap);
    }
    int fd = real_openat(dirfd, path, flags, mode);
    note(fd, dirfd, path);
    return fd;
}

int openat64(int dirfd, const char* path, int flags, ...) {
    REAL(openat64);
    mode_t mode = 0;
    if (flags & (O_CREAT | O_TMPFILE)) {
        va_list ap;
        va_start(ap, flags);
        mode = va_arg(ap, mode_t);
        va_end(ap);
    }
    int fd = real_openat64(dirfd, path, flags, mode);
    note(fd, dirfd, path);
    return fd;
}

int creat(const char* path, mode_t mode) {
    REAL(creat);
    int fd = real_creat(path, mode);
    note(fd, AT_FDCWD, path);
    return fd;
}

int close(int fd) {
    REAL(close);
    if (fd >= 0 && fd < MAX_FDS) watched[fd] = 0;
    return real_close(fd);
}

ssize_t write(int fd, const void* buf, size_t n) {
    REAL(write);
    wait_while_stalled(fd);
    return real_write(fd, buf, n);
}

ssize_t pwrite(int fd, const void* buf, size_t n, off_t off) {
    REAL(pwrite);
    wait_while_stalled(fd);
    return real_pwrite(fd, buf, n, off);
}

ssize_t pwrite64(int fd, const void* buf, size_t n, off_t off) {
    REAL(pwrite64);
    wait_while_stalled(fd);
    return real_pwrite64(fd, buf, n, off);
}

ssize_t writev(int fd, const struct iovec* iov, int count) {
    REAL(writev);
    wait_while_stalled(fd);
    return real_writev(fd, iov, count);
}

ssize_t pwritev(int fd, const struct iovec* iov, int count, off_t off) {
    REAL(pwritev);
    wait_while_stalled(fd);
    return real_pwritev(fd, iov, count, off);
}

int fsync(int fd) {
    REAL(fsync);
    wait_while_stalled(fd);
    return real_fsync(fd);
}

int fdatasync(int fd) {
    REAL(fdatasync);
    wait_while_stalled(fd);
    return real_fdatasync(fd);
}
