// fifostress: N threads block in FIFO opens while the program goes on
// opening other files. Thread i opens DIR/p<i>, a FIFO, for reading (even
// i) or writing (odd i), with no other end yet, so every open waits. The
// program prints "blocked" and waits for a line on stdin (the test sends it
// once it has seen all N threads inside openat from outside), then opens
// DIR/plain, a regular file, and prints "served". Unless told "die", it
// then opens the other end of every FIFO, passes one byte through each,
// joins the threads and prints "done N" (N threads that got their byte).
//
// usage: fifostress DIR N
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *dir;
static atomic_int ok;

static void *worker(void *arg) {
	long i = (long)arg;
	char path[4096], c = 0;
	snprintf(path, sizeof path, "%s/p%ld", dir, i);
	int fd = open(path, i % 2 == 0 ? O_RDONLY : O_WRONLY);
	if (fd < 0) {
		perror(path);
		return NULL;
	}
	if (i % 2 == 0 ? read(fd, &c, 1) == 1 && c == 'x' : write(fd, "x", 1) == 1)
		atomic_fetch_add(&ok, 1);
	close(fd);
	return NULL;
}

int main(int argc, char **argv) {
	if (argc != 3)
		return 2;
	dir = argv[1];
	int n = atoi(argv[2]);
	pthread_t *t = calloc(n, sizeof *t);
	for (long i = 0; i < n; i++)
		if (pthread_create(&t[i], NULL, worker, (void *)i) != 0)
			return 2;
	printf("blocked\n");
	fflush(stdout);
	char line[64];
	if (!fgets(line, sizeof line, stdin))
		return 2;
	char path[4096];
	snprintf(path, sizeof path, "%s/plain", dir);
	int fd = open(path, O_RDONLY);
	if (fd < 0) {
		perror(path);
		return 1;
	}
	close(fd);
	printf("served\n");
	fflush(stdout);
	if (strncmp(line, "die", 3) == 0) {
		pause(); // until killed, the threads still waiting
		return 0;
	}
	for (long i = 0; i < n; i++) {
		snprintf(path, sizeof path, "%s/p%ld", dir, i);
		int other = open(path, i % 2 == 0 ? O_WRONLY : O_RDONLY);
		if (other < 0) {
			perror(path);
			return 1;
		}
		char c;
		if (i % 2 == 0 ? write(other, "x", 1) != 1 : read(other, &c, 1) != 1 || c != 'x') {
			fprintf(stderr, "fifostress: no byte through %s\n", path);
			return 1;
		}
		close(other);
	}
	for (int i = 0; i < n; i++)
		pthread_join(t[i], NULL);
	printf("done %d\n", (int)ok);
	return ok == n ? 0 : 1;
}
