/*
 * op: perform raw filesystem system calls named on the command line and
 * print, one line per operation, "OK" or the errno's name. Nothing else is
 * printed, so the differential suite can compare the answers of every
 * enforcement point (capfd run, Landlock+seccomp, the BPF LSM) with the
 * model's. Operations are separated by a ";" argument:
 *
 *   op stat PATH ; chmod PATH 0600 ; fd rdonly PATH fchmod
 *
 * It is built static so that it also runs in the VM guests, which have no
 * libc, and so that no loader or library needs to be granted to it.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif
#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

/* The chown cases give the file another owner when run as root (so they
 * need the chown right; a chown that keeps the owner needs chmod), the
 * caller's own ids otherwise: as cases.go's chownUID and chownGID. */
static uid_t chown_uid(void) { return geteuid() == 0 ? 65534 : getuid(); }
static gid_t chown_gid(void) { return geteuid() == 0 ? 65534 : getgid(); }

static const char *errname(int e) {
	static char buf[32];
	switch (e) {
#define E(x) case x: return #x
	E(EPERM); E(ENOENT); E(EACCES); E(EBADF); E(EEXIST); E(ENOTDIR);
	E(EISDIR); E(EINVAL); E(EXDEV); E(ENOTEMPTY); E(ELOOP); E(ENOSYS);
	E(EROFS); E(ENODATA); E(EOPNOTSUPP); E(EBUSY); E(EFAULT); E(EMLINK);
	E(ETXTBSY); E(EAGAIN); E(ENXIO); E(ENAMETOOLONG); E(ESPIPE); E(EIO);
#undef E
	}
	snprintf(buf, sizeof buf, "E%d", e);
	return buf;
}

/* openflags parses "rdonly|trunc|..." */
static int openflags(const char *s) {
	int f = 0;
	char *copy = strdup(s), *save = NULL;
	for (char *tok = strtok_r(copy, "|", &save); tok; tok = strtok_r(NULL, "|", &save)) {
		if (!strcmp(tok, "rdonly")) f |= O_RDONLY;
		else if (!strcmp(tok, "wronly")) f |= O_WRONLY;
		else if (!strcmp(tok, "rdwr")) f |= O_RDWR;
		else if (!strcmp(tok, "accmode")) f |= O_ACCMODE;
		else if (!strcmp(tok, "append")) f |= O_APPEND;
		else if (!strcmp(tok, "trunc")) f |= O_TRUNC;
		else if (!strcmp(tok, "creat")) f |= O_CREAT;
		else if (!strcmp(tok, "excl")) f |= O_EXCL;
		else if (!strcmp(tok, "path")) f |= O_PATH;
		else if (!strcmp(tok, "directory")) f |= O_DIRECTORY;
		else if (!strcmp(tok, "tmpfile")) f |= O_TMPFILE;
		else { fprintf(stderr, "op: unknown open flag %s\n", tok); exit(2); }
	}
	free(copy);
	return f | O_CLOEXEC;
}

static const struct timespec fixed[2] = {{1000000000, 0}, {1000000000, 0}};

/* fdop performs one operation on an open descriptor. */
static int fdop(int fd, const char *op) {
	char buf[4096];
	if (!strcmp(op, "read")) return read(fd, buf, 1) < 0 ? -1 : 0;
	if (!strcmp(op, "write") || !strcmp(op, "append")) return write(fd, "new\n", 4) < 0 ? -1 : 0;
	if (!strcmp(op, "pread")) return pread(fd, buf, 1, 1) < 0 ? -1 : 0;
	if (!strcmp(op, "pwrite")) return pwrite(fd, "X", 1, 1) < 0 ? -1 : 0;
	if (!strcmp(op, "seek")) return lseek(fd, 1, SEEK_SET) < 0 ? -1 : 0;
	if (!strcmp(op, "fstat")) { struct stat st; return fstat(fd, &st); }
	if (!strcmp(op, "ftruncate")) return ftruncate(fd, 0);
	if (!strcmp(op, "readdir")) return syscall(SYS_getdents64, fd, buf, sizeof buf) < 0 ? -1 : 0;
	if (!strcmp(op, "fchmod")) return fchmod(fd, 0600);
	if (!strcmp(op, "fchown")) return fchown(fd, chown_uid(), chown_gid());
	if (!strcmp(op, "futimes")) return futimens(fd, fixed);
	if (!strcmp(op, "sync")) return fsync(fd);
	if (!strcmp(op, "lock")) return flock(fd, LOCK_EX);
	if (!strcmp(op, "xattr-get")) return fgetxattr(fd, "user.capfd", buf, sizeof buf) < 0 ? -1 : 0;
	if (!strcmp(op, "xattr-list")) return flistxattr(fd, buf, sizeof buf) < 0 ? -1 : 0;
	if (!strcmp(op, "xattr-set")) return fsetxattr(fd, "user.new", "1", 1, 0);
	if (!strcmp(op, "xattr-remove")) return fremovexattr(fd, "user.capfd");
	fprintf(stderr, "op: unknown fd operation %s\n", op);
	exit(2);
}

/* one performs the operation in argv[0..argc) and returns 0 or -1 (errno). */
static int one(int argc, char **argv) {
	const char *op = argv[0];
#define NEED(n) do { if (argc != (n)) { fprintf(stderr, "op: %s takes %d arguments\n", op, (n) - 1); exit(2); } } while (0)
	if (!strcmp(op, "open")) {
		NEED(3);
		int fd = open(argv[2], openflags(argv[1]), 0644);
		if (fd < 0) return -1;
		close(fd);
		return 0;
	}
	if (!strcmp(op, "fd")) {
		NEED(4);
		int fd = open(argv[2], openflags(argv[1]), 0644);
		if (fd < 0) return -1;
		int r = fdop(fd, argv[3]);
		int saved = errno;
		close(fd);
		errno = saved;
		return r;
	}
	if (!strcmp(op, "stat")) { NEED(2); struct stat st; return stat(argv[1], &st); }
	if (!strcmp(op, "lstat")) { NEED(2); struct stat st; return lstat(argv[1], &st); }
	if (!strcmp(op, "chmod")) { NEED(3); return fchmodat(AT_FDCWD, argv[1], strtol(argv[2], NULL, 8), 0); }
	if (!strcmp(op, "chown")) { NEED(2); return fchownat(AT_FDCWD, argv[1], chown_uid(), chown_gid(), 0); }
	if (!strcmp(op, "utimens")) { NEED(2); return utimensat(AT_FDCWD, argv[1], fixed, 0); }
	if (!strcmp(op, "truncate")) { NEED(2); return truncate(argv[1], 0); }
	if (!strcmp(op, "readlink")) { NEED(2); char b[4096]; return readlink(argv[1], b, sizeof b) < 0 ? -1 : 0; }
	if (!strcmp(op, "mkdir")) { NEED(2); return mkdir(argv[1], 0755); }
	if (!strcmp(op, "unlink")) { NEED(2); return unlink(argv[1]); }
	if (!strcmp(op, "rmdir")) { NEED(2); return rmdir(argv[1]); }
	if (!strcmp(op, "symlink")) { NEED(3); return symlink(argv[1], argv[2]); }
	if (!strcmp(op, "link")) { NEED(3); return linkat(AT_FDCWD, argv[1], AT_FDCWD, argv[2], 0); }
	if (!strcmp(op, "rename")) {
		NEED(4);
		unsigned flags = 0;
		if (!strcmp(argv[3], "noreplace")) flags = RENAME_NOREPLACE;
		else if (!strcmp(argv[3], "exchange")) flags = RENAME_EXCHANGE;
		else if (strcmp(argv[3], "none")) { fprintf(stderr, "op: rename flags %s\n", argv[3]); exit(2); }
		return syscall(SYS_renameat2, AT_FDCWD, argv[1], AT_FDCWD, argv[2], flags);
	}
	fprintf(stderr, "op: unknown operation %s\n", op);
	exit(2);
}

int main(int argc, char **argv) {
	int start = 1;
	for (int i = 1; i <= argc; i++) {
		if (i < argc && strcmp(argv[i], ";")) continue;
		if (i > start) {
			errno = 0;
			int r = one(i - start, argv + start);
			printf("%s\n", r == 0 ? "OK" : errname(errno));
		}
		start = i + 1;
	}
	return 0;
}
