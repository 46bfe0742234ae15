/*
 * inject_errors.c - an LD_PRELOAD shim that makes write(2) fail, so the
 * tools' error paths run for real (a full disk, a closed pipe).
 *
 *   FA_FAIL_WRITE_FD=1 FA_FAIL_WRITE_AFTER=N FA_FAIL_ERRNO=ENOSPC|EPIPE
 *
 * The first N writes to that descriptor succeed; every later one fails
 * with that errno.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

ssize_t write(int fd, const void *buf, size_t n);

ssize_t
write(int fd, const void *buf, size_t n)
{
	static ssize_t (*real)(int, const void *, size_t);
	static long calls;
	const char *f = getenv("FA_FAIL_WRITE_FD");
	const char *after = getenv("FA_FAIL_WRITE_AFTER");
	const char *e = getenv("FA_FAIL_ERRNO");

	if (real == NULL)
		real = (ssize_t (*)(int, const void *, size_t))dlsym(RTLD_NEXT,
		    "write");
	if (f != NULL && atoi(f) == fd &&
	    __atomic_add_fetch(&calls, 1, __ATOMIC_RELAXED) >
	    (after ? atol(after) : 0)) {
		errno = e != NULL && strcmp(e, "EPIPE") == 0 ? EPIPE : ENOSPC;
		return -1;
	}
	return real(fd, buf, n);
}
