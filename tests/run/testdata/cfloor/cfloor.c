// cfloor: the floor for a seccomp user-notification supervisor. A child
// confines openat with SECCOMP_RET_USER_NOTIF and loops open+close on a
// file; the parent answers each notification the minimal way (RECV,
// process_vm_readv of the path, openat in the parent, ADDFD with
// SECCOMP_ADDFD_FLAG_SEND, close). No policy, no checks: it only measures
// the mechanism. Prints the child's mean ns per open+close.
//
// usage: cfloor FILE N [sync]
// With "sync" the listener gets SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (Linux
// 6.6+), as capfd's supervisor uses.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int send_fd(int sock, int fd) {
	char byte = 'L';
	struct iovec iov = {.iov_base = &byte, .iov_len = 1};
	char buf[CMSG_SPACE(sizeof(int))] = {0};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = buf, .msg_controllen = sizeof(buf)};
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	return sendmsg(sock, &msg, 0) == 1 ? 0 : -1;
}

static int recv_fd(int sock) {
	char byte;
	struct iovec iov = {.iov_base = &byte, .iov_len = 1};
	char buf[CMSG_SPACE(sizeof(int))];
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = buf, .msg_controllen = sizeof(buf)};
	if (recvmsg(sock, &msg, 0) != 1) return -1;
	int fd;
	memcpy(&fd, CMSG_DATA(CMSG_FIRSTHDR(&msg)), sizeof(int));
	return fd;
}

static void child(int sock, const char *path, long n) {
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_openat, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {.len = sizeof(f) / sizeof(f[0]), .filter = f};
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) _exit(3);
	int listener = syscall(__NR_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
	if (listener < 0 || send_fd(sock, listener)) _exit(3);
	close(listener);
	char go;
	if (read(sock, &go, 1) != 1) _exit(3);
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (long i = 0; i < n; i++) {
		int fd = openat(AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) _exit(4);
		close(fd);
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	printf("%lld\n", ((b.tv_sec - a.tv_sec) * 1000000000LL + (b.tv_nsec - a.tv_nsec)) / n);
	fflush(stdout);
	_exit(0);
}

int main(int argc, char **argv) {
	if (argc != 3 && argc != 4) {
		fprintf(stderr, "usage: cfloor FILE N [sync]\n");
		return 2;
	}
	long n = atol(argv[2]);
	int sp[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sp)) return 1;
	pid_t pid = fork();
	if (pid == 0) {
		close(sp[0]);
		child(sp[1], argv[1], n);
	}
	close(sp[1]);
	int listener = recv_fd(sp[0]);
	if (listener < 0) return 1;
#ifndef SECCOMP_IOCTL_NOTIF_SET_FLAGS
#define SECCOMP_IOCTL_NOTIF_SET_FLAGS _IOW('!', 4, __u64)
#define SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP 1
#endif
	if (argc == 4 && ioctl(listener, SECCOMP_IOCTL_NOTIF_SET_FLAGS, SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP)) {
		perror("cfloor: SET_FLAGS");
		return 1;
	}
	if (write(sp[0], "G", 1) != 1) return 1;
	struct seccomp_notif req;
	struct seccomp_notif_resp resp;
	char path[4096];
	// The child makes exactly n openat calls after the go-ahead.
	for (long handled = 0; handled < n;) {
		memset(&req, 0, sizeof(req));
		if (ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, &req)) {
			if (errno == EINTR || errno == ENOENT) continue;
			break;
		}
		struct iovec local = {.iov_base = path, .iov_len = sizeof(path)};
		struct iovec remote = {.iov_base = (void *)req.data.args[1], .iov_len = sizeof(path)};
		memset(&resp, 0, sizeof(resp));
		resp.id = req.id;
		if (process_vm_readv(req.pid, &local, 1, &remote, 1, 0) <= 0) {
			resp.error = -EFAULT;
			ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &resp);
			handled++;
			continue;
		}
		path[sizeof(path) - 1] = 0;
		int fd = openat(AT_FDCWD, path, (int)req.data.args[2] | O_CLOEXEC);
		if (fd < 0) {
			resp.error = -errno;
			ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &resp);
			handled++;
			continue;
		}
		struct seccomp_notif_addfd addfd = {.id = req.id, .flags = SECCOMP_ADDFD_FLAG_SEND, .srcfd = fd,
			.newfd_flags = ((int)req.data.args[2] & O_CLOEXEC) ? O_CLOEXEC : 0};
		ioctl(listener, SECCOMP_IOCTL_NOTIF_ADDFD, &addfd);
		close(fd);
		handled++;
	}
	int status;
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
