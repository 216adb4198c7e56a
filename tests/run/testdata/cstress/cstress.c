// cstress: THREADS threads each open DIR/f<k> ITERS times and check that
// the descriptor they get is the file they asked for: not 0, 1 or 2 (which
// a supervisor's lost reply would return), and the same inode and size that
// stat(2) reported before the threads started. Prints the number of
// mismatches and exits 1 if there was any.
//
// usage: cstress DIR NFILES THREADS ITERS
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *dir;
static int nfiles, iters;
static struct stat *want;
static atomic_long mismatches, failures;

static void *worker(void *arg) {
	long id = (long)arg;
	char path[4096];
	for (int i = 0; i < iters; i++) {
		int k = (int)((id * 7919 + i) % nfiles);
		snprintf(path, sizeof path, "%s/f%d", dir, k);
		int fd = openat(AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			atomic_fetch_add(&failures, 1);
			fprintf(stderr, "cstress: open %s: %s\n", path, strerror(errno));
			continue;
		}
		struct stat st;
		if (fd < 3 || fstat(fd, &st) != 0 || st.st_ino != want[k].st_ino || st.st_size != want[k].st_size) {
			atomic_fetch_add(&mismatches, 1);
			fprintf(stderr, "cstress: open %s returned fd %d, not that file\n", path, fd);
		}
		if (fd >= 3)
			close(fd);
	}
	return NULL;
}

int main(int argc, char **argv) {
	if (argc != 5) {
		fprintf(stderr, "usage: cstress DIR NFILES THREADS ITERS\n");
		return 2;
	}
	dir = argv[1];
	nfiles = atoi(argv[2]);
	int threads = atoi(argv[3]);
	iters = atoi(argv[4]);
	if (nfiles <= 0 || threads <= 0 || iters <= 0)
		return 2;
	want = calloc(nfiles, sizeof *want);
	char path[4096];
	for (int k = 0; k < nfiles; k++) {
		snprintf(path, sizeof path, "%s/f%d", dir, k);
		if (stat(path, &want[k]) != 0) {
			fprintf(stderr, "cstress: stat %s: %s\n", path, strerror(errno));
			return 2;
		}
	}
	pthread_t *tids = calloc(threads, sizeof *tids);
	for (long t = 0; t < threads; t++) {
		if (pthread_create(&tids[t], NULL, worker, (void *)t) != 0) {
			fprintf(stderr, "cstress: pthread_create failed\n");
			return 2;
		}
	}
	for (int t = 0; t < threads; t++)
		pthread_join(tids[t], NULL);
	printf("opens %ld mismatches %ld failures %ld\n", (long)threads * iters, (long)mismatches, (long)failures);
	return mismatches || failures ? 1 : 0;
}
