/*
 * awsprocess.c - credentials from a profile's credential_process: the
 * command run without a shell, its stderr passed through, its answer a
 * JSON document (Version 1) read within a time limit.  See aws_int.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <yajl/yajl_tree.h>

#include "aws_int.h"
#include "backoff.h"
#include "obuf.h"

#define PROCESS_MAX_ARGS 32

extern char **environ;

/* Splits command into words at blanks; "double quotes" keep blanks in a
 * word.  Returns the number of words, or -1 (too many, or an open quote). */
static int
split(char *command, char *argv[], int max)
{
	int argc = 0;
	char *r = command, *w;

	for (;;) {
		int quoted = 0;

		while (*r == ' ' || *r == '\t')
			r++;
		if (*r == '\0')
			break;
		if (argc == max - 1)
			return -1;
		argv[argc++] = w = r;
		for (; *r != '\0' && (quoted || (*r != ' ' && *r != '\t')); r++)
			if (*r == '"')
				quoted = !quoted;
			else
				*w++ = *r;
		if (quoted)
			return -1;
		if (*r != '\0')
			r++;
		*w = '\0';
	}
	argv[argc] = NULL;
	return argc;
}

/* Reads the child's stdout until it closes or the deadline passes. */
static int
read_answer(int fd, struct obuf *out, long long deadline)
{
	char buf[4096];

	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		long long left = deadline - backoff_now_ms();
		ssize_t n;

		if (left <= 0)
			return -1;
		if (poll(&p, 1, (int)left) <= 0)
			continue;
		if ((n = read(fd, buf, sizeof(buf))) < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0)
			return 0;
		if (out->len + (size_t)n > AWS_MAX_ANSWER)
			return -1;
		obuf_put(out, buf, (size_t)n);
	}
}

/* Takes the answer's credentials; 0, or -1 with the reason in err. */
static int
take_answer(struct aws_config *c, const char *json, char *err, size_t errlen)
{
	const char *vp[] = { "Version", NULL }, *ap[] = { "AccessKeyId", NULL },
	    *sp[] = { "SecretAccessKey", NULL }, *tp[] = { "SessionToken",
	    NULL }, *ep[] = { "Expiration", NULL };
	yajl_val tree = yajl_tree_parse(json, NULL, 0), v, a, s, t, e;
	int ok = -1;

	if (tree == NULL) {
		snprintf(err, errlen, "credential_process: the answer is not "
		    "JSON");
		return -1;
	}
	v = yajl_tree_get(tree, vp, yajl_t_number);
	a = yajl_tree_get(tree, ap, yajl_t_string);
	s = yajl_tree_get(tree, sp, yajl_t_string);
	t = yajl_tree_get(tree, tp, yajl_t_string);
	e = yajl_tree_get(tree, ep, yajl_t_string);
	if (v == NULL || !YAJL_IS_INTEGER(v) || YAJL_GET_INTEGER(v) != 1)
		snprintf(err, errlen, "credential_process: the answer is not "
		    "Version 1");
	else if (a == NULL || s == NULL)
		snprintf(err, errlen, "credential_process: the answer has no "
		    "AccessKeyId and SecretAccessKey");
	else if (e != NULL && aws_parse_time(e->u.string) == 0)
		snprintf(err, errlen, "credential_process: Expiration is not "
		    "an ISO 8601 time");
	else if ((ok = aws_set_credentials(c, a->u.string, s->u.string,
	    t != NULL ? t->u.string : NULL, e != NULL ? e->u.string : NULL)) < 0)
		snprintf(err, errlen, "out of memory");
	yajl_tree_free(tree);
	return ok;
}

int
aws_process_credentials(struct aws_config *c, const char *command,
    char *err, size_t errlen)
{
	char *words = strdup(command), *argv[PROCESS_MAX_ARGS];
	posix_spawn_file_actions_t fa;
	struct obuf out = { .len = 0 };
	int fds[2] = { -1, -1 }, status = 0, got, ret = -1;
	long long deadline;
	pid_t pid = -1;

	if (words == NULL || split(words, argv, PROCESS_MAX_ARGS) <= 0) {
		snprintf(err, errlen, "credential_process: %s", words == NULL ?
		    "out of memory" : "not a command (empty, an open quote, or "
		    "more than 31 words)");
		free(words);
		return -1;
	}
	if (pipe2(fds, O_CLOEXEC) < 0 ||
	    posix_spawn_file_actions_init(&fa) != 0) {
		snprintf(err, errlen, "credential_process: %s", strerror(errno));
		goto out;
	}
	posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
	posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null",
	    O_RDONLY, 0);
	if ((errno = posix_spawnp(&pid, argv[0], &fa, NULL, argv,
	    environ)) != 0) {
		snprintf(err, errlen, "credential_process: %.100s: %s", argv[0],
		    strerror(errno));
		pid = -1;
	}
	posix_spawn_file_actions_destroy(&fa);
	close(fds[1]);
	fds[1] = -1;
	if (pid < 0)
		goto out;
	deadline = backoff_now_ms() + AWS_PROCESS_TIMEOUT_MS;
	got = read_answer(fds[0], &out, deadline);
	/* A command that closed its output may still run on: it has the
	 * rest of the time to exit. */
	while (got == 0 && waitpid(pid, &status, WNOHANG) == 0) {
		struct timespec tick = { 0, 10000000 };

		if (backoff_now_ms() >= deadline)
			got = -1;
		else
			nanosleep(&tick, NULL);
	}
	if (got < 0) {
		kill(pid, SIGKILL);
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
	}
	obuf_putc(&out, '\0');
	if (got < 0)
		snprintf(err, errlen, "credential_process: %.100s: no whole "
		    "answer within %d s", argv[0], AWS_PROCESS_TIMEOUT_MS / 1000);
	else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		snprintf(err, errlen, "credential_process: %.100s failed "
		    "(status %d)", argv[0], WIFEXITED(status) ?
		    WEXITSTATUS(status) : 128 + WTERMSIG(status));
	else if (out.oom)
		snprintf(err, errlen, "out of memory");
	else
		ret = take_answer(c, out.p, err, errlen);
out:
	if (fds[0] >= 0)
		close(fds[0]);
	if (fds[1] >= 0)
		close(fds[1]);
	if (out.p != NULL)
		OPENSSL_cleanse(out.p, out.cap);
	obuf_free(&out);
	free(words);
	return ret;
}
