/* An LD_PRELOAD shim for the end-to-end storage fault tests
 * (tests/e2e/test_storage.py, tests/e2e/fault_fs.py): it makes one directory
 * of the real disk behave, for the unchanged strata binary, as a small file
 * system or a read-only one, without mount privileges (CAP_SYS_ADMIN), FUSE
 * or user namespaces, none of which a CI machine is sure to have.
 *
 * Test-only: strata knows nothing of it. The environment of the process it is
 * preloaded into sets it up:
 *   STRATA_TEST_FS_ROOT=DIR      the emulated file system's mount point (absolute)
 *   STRATA_TEST_FS_SIZE=BYTES    statvfs() of a path under DIR reports a file
 *                                system of BYTES, of which as much is used as
 *                                the files under DIR occupy (st_blocks), so
 *                                filling DIR really takes its free space
 *   STRATA_TEST_FS_READONLY=1    everything that would change DIR or a file
 *                                under it fails with EROFS, as on a file
 *                                system mounted read-only, and statvfs()
 *                                reports ST_RDONLY
 * What it wraps are the libc calls the broker and RocksDB reach the disk
 * with (statvfs, open, fopen, mkdir, rename, unlink, ...): the product code
 * above them runs as it does on a real full or read-only disk. Writes into a
 * file already open are not limited (the tests stop filling before the
 * emulated disk is full, as the tmpfs they replace did).
 *
 * Paths are matched by prefix after making them absolute (no ".."
 * resolution): the tests give plain absolute paths. */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

static const char* fs_root(void) {
    const char* root = getenv("STRATA_TEST_FS_ROOT");
    return root && root[0] == '/' ? root : NULL;
}

static int read_only(void) {
    const char* v = getenv("STRATA_TEST_FS_READONLY");
    return v && strcmp(v, "1") == 0;
}

/* The absolute form of `path` as seen from directory fd `dirfd`, in `out`. */
static int absolute(int dirfd, const char* path, char* out, size_t size) {
    if (!path) return -1;
    if (path[0] == '/') {
        if (strlen(path) >= size) return -1;
        strcpy(out, path);
        return 0;
    }
    char base[PATH_MAX];
    if (dirfd == AT_FDCWD) {
        if (!getcwd(base, sizeof base)) return -1;
    } else {
        char link[64];
        snprintf(link, sizeof link, "/proc/self/fd/%d", dirfd);
        const ssize_t n = readlink(link, base, sizeof base - 1);
        if (n < 0) return -1;
        base[n] = '\0';
    }
    return snprintf(out, size, "%s/%s", base, path) < (int)size ? 0 : -1;
}

static int under_root_at(int dirfd, const char* path) {
    const char* root = fs_root();
    char abs[PATH_MAX];
    if (!root || absolute(dirfd, path, abs, sizeof abs) != 0) return 0;
    const size_t n = strlen(root);
    return strncmp(abs, root, n) == 0 && (abs[n] == '\0' || abs[n] == '/');
}

static int under_root(const char* path) { return under_root_at(AT_FDCWD, path); }

static int exists_at(int dirfd, const char* path) {
    struct stat st;
    const int saved = errno;
    const int r = fstatat(dirfd, path, &st, AT_SYMLINK_NOFOLLOW);
    errno = saved;
    return r == 0;
}

/* When the kernel answers EROFS (checked against a read-only tmpfs): creating
 * a name that exists gets EEXIST, changing a file that does not exist ENOENT,
 * and removing or renaming gets EROFS either way. */
enum change { creates, alters, removes };

/* A change under a read-only root: fails with EROFS where the kernel would;
 * otherwise the real call runs and fails as it does on a read-only mount. */
static int refused_at(int dirfd, const char* path, enum change what) {
    if (!read_only() || !under_root_at(dirfd, path)) return 0;
    if (what != removes && (what == creates) == exists_at(dirfd, path)) return 0;
    errno = EROFS;
    return 1;
}

static int refused(const char* path, enum change what) { return refused_at(AT_FDCWD, path, what); }

static int writes(int flags) { return (flags & (O_WRONLY | O_RDWR | O_CREAT | O_TRUNC | O_APPEND)) != 0; }

/* open() for writing: refused unless the kernel would fail it first (ENOENT
 * without O_CREAT, EEXIST with O_CREAT | O_EXCL). */
static int open_refused_at(int dirfd, const char* path, int flags) {
    if (!writes(flags) || !read_only() || !under_root_at(dirfd, path)) return 0;
    const int exists = exists_at(dirfd, path);
    if (!exists && !(flags & O_CREAT)) return 0;
    if (exists && (flags & O_CREAT) && (flags & O_EXCL)) return 0;
    errno = EROFS;
    return 1;
}

#define REAL(name) ((__typeof__(&name))dlsym(RTLD_NEXT, #name))

/* ---- statvfs: the emulated size, what the files under the root use ---- */

/* Per thread: statvfs() may be called from several threads at once. */
static __thread unsigned long long used_bytes;

static int add_file(const char* path, const struct stat* st, int type, struct FTW* ftw) {
    (void)path;
    (void)type;
    if (ftw->level > 0) used_bytes += (unsigned long long)st->st_blocks * 512;
    return 0;
}

static void emulate(struct statvfs* buf) {
    const char* size_text = getenv("STRATA_TEST_FS_SIZE");
    if (size_text) {
        const unsigned long long size = strtoull(size_text, NULL, 10);
        used_bytes = 0;
        nftw(fs_root(), add_file, 16, FTW_PHYS);
        const unsigned long long free = used_bytes < size ? size - used_bytes : 0;
        const unsigned long frsize = buf->f_frsize ? buf->f_frsize : 4096;
        buf->f_blocks = size / frsize;
        buf->f_bfree = buf->f_bavail = free / frsize;
    }
    if (read_only()) buf->f_flag |= ST_RDONLY;
}

int statvfs(const char* path, struct statvfs* buf) {
    const int r = REAL(statvfs)(path, buf);
    if (r == 0 && under_root(path)) emulate(buf);
    return r;
}

/* x86_64 and the other 64-bit ABIs: the *64 structures and calls are the same ones. */
int statvfs64(const char* path, struct statvfs64* buf) { return statvfs(path, (struct statvfs*)buf); }

int fstatvfs(int fd, struct statvfs* buf) {
    const int r = REAL(fstatvfs)(fd, buf);
    if (r == 0 && under_root_at(fd, ".")) emulate(buf);
    return r;
}

int fstatvfs64(int fd, struct statvfs64* buf) { return fstatvfs(fd, (struct statvfs*)buf); }

/* ---- read-only: whatever creates, changes or removes a file ---- */

static mode_t mode_arg(int flags, va_list ap) {
    return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE ? (mode_t)va_arg(ap, int) : 0;
}

int open(const char* path, int flags, ...) {
    va_list ap;
    va_start(ap, flags);
    const mode_t mode = mode_arg(flags, ap);
    va_end(ap);
    if (open_refused_at(AT_FDCWD, path, flags)) return -1;
    return REAL(open)(path, flags, mode);
}

int open64(const char* path, int flags, ...) {
    va_list ap;
    va_start(ap, flags);
    const mode_t mode = mode_arg(flags, ap);
    va_end(ap);
    return open(path, flags, mode);
}

int openat(int dirfd, const char* path, int flags, ...) {
    va_list ap;
    va_start(ap, flags);
    const mode_t mode = mode_arg(flags, ap);
    va_end(ap);
    if (open_refused_at(dirfd, path, flags)) return -1;
    return REAL(openat)(dirfd, path, flags, mode);
}

int openat64(int dirfd, const char* path, int flags, ...) {
    va_list ap;
    va_start(ap, flags);
    const mode_t mode = mode_arg(flags, ap);
    va_end(ap);
    return openat(dirfd, path, flags, mode);
}

int __open_2(const char* path, int flags) {
    if (open_refused_at(AT_FDCWD, path, flags)) return -1;
    return REAL(open)(path, flags, 0);
}

int __open64_2(const char* path, int flags) { return __open_2(path, flags); }

int creat(const char* path, mode_t mode) {
    if (open_refused_at(AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC)) return -1;
    return REAL(creat)(path, mode);
}

int creat64(const char* path, mode_t mode) { return creat(path, mode); }

FILE* fopen(const char* path, const char* mode) {
    if (mode && strpbrk(mode, "wa+") &&
        open_refused_at(AT_FDCWD, path, strpbrk(mode, "wa") ? O_CREAT | O_WRONLY : O_RDWR))
        return NULL;
    return REAL(fopen)(path, mode);
}

FILE* fopen64(const char* path, const char* mode) { return fopen(path, mode); }

int mkdir(const char* path, mode_t mode) {
    if (refused(path, creates)) return -1;
    return REAL(mkdir)(path, mode);
}

int mkdirat(int dirfd, const char* path, mode_t mode) {
    if (refused_at(dirfd, path, creates)) return -1;
    return REAL(mkdirat)(dirfd, path, mode);
}

int rmdir(const char* path) {
    if (refused(path, removes)) return -1;
    return REAL(rmdir)(path);
}

int unlink(const char* path) {
    if (refused(path, removes)) return -1;
    return REAL(unlink)(path);
}

int unlinkat(int dirfd, const char* path, int flags) {
    if (refused_at(dirfd, path, removes)) return -1;
    return REAL(unlinkat)(dirfd, path, flags);
}

int rename(const char* from, const char* to) {
    if (refused(from, removes) || refused(to, removes)) return -1;
    return REAL(rename)(from, to);
}

int renameat(int fromfd, const char* from, int tofd, const char* to) {
    if (refused_at(fromfd, from, removes) || refused_at(tofd, to, removes)) return -1;
    return REAL(renameat)(fromfd, from, tofd, to);
}

int link(const char* from, const char* to) {
    if (refused(to, creates)) return -1;
    return REAL(link)(from, to);
}

int symlink(const char* target, const char* path) {
    if (refused(path, creates)) return -1;
    return REAL(symlink)(target, path);
}

int truncate(const char* path, off_t length) {
    if (refused(path, alters)) return -1;
    return REAL(truncate)(path, length);
}

int truncate64(const char* path, off64_t length) { return truncate(path, (off_t)length); }
