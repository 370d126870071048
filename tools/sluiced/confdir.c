// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "confdir.h"

static bool yaml_name(const char *n)
{
	size_t l = strlen(n);

	return n[0] != '.' && ((l > 5 && !strcmp(n + l - 5, ".yaml")) ||
			       (l > 4 && !strcmp(n + l - 4, ".yml")));
}

static int cmp_src(const void *a, const void *b)
{
	return strcmp(((const struct sl_source *)a)->name, ((const struct sl_source *)b)->name);
}

static const char *kind_of(mode_t m)
{
	return S_ISDIR(m) ? "a directory" : S_ISFIFO(m) ? "a FIFO" : S_ISSOCK(m) ? "a socket"
	       : S_ISCHR(m) || S_ISBLK(m) ? "a device" : "not a regular file";
}

/* The whole of an open regular file. Returns 0 or -errno. */
static int read_fd(int fd, size_t size_hint, char **text, size_t *len)
{
	size_t cap = size_hint + 1, n = 0;
	char *buf = malloc(cap + 1), *nb;
	ssize_t r;

	while (buf && (r = read(fd, buf + n, cap - n)) != 0) {
		if (r < 0) {
			if (errno == EINTR)
				continue;
			int err = -errno;

			free(buf);
			return err;
		}
		n += (size_t)r;
		if (n == cap) { /* the file grew while we read it */
			cap *= 2;
			nb = realloc(buf, cap + 1);
			if (!nb)
				free(buf);
			buf = nb;
		}
	}
	if (!buf)
		return -ENOMEM;
	buf[n] = 0;
	*text = buf;
	*len = n;
	return 0;
}

/* One entry of the directory: -errno and WHY when it cannot be read. */
static int read_entry(int dfd, const char *name, char **text, size_t *len, char *why,
		      size_t why_len)
{
	struct stat st;
	int err, fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);

	if (fd < 0) {
		err = -errno;
		snprintf(why, why_len, "%s", strerror(-err));
		return err;
	}
	if (fstat(fd, &st)) {
		err = -errno;
		snprintf(why, why_len, "%s", strerror(-err));
	} else if (!S_ISREG(st.st_mode)) {
		err = S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
		snprintf(why, why_len, "%s, not a regular file", kind_of(st.st_mode));
	} else {
		err = read_fd(fd, (size_t)st.st_size, text, len);
		if (err)
			snprintf(why, why_len, "%s", strerror(-err));
	}
	close(fd);
	return err;
}

static int add_source(struct confdir *c, size_t *cap, const char *dir, const char *name,
		      char *text, size_t len)
{
	struct sl_source *nv;
	char *path;

	if (c->n == *cap) {
		*cap = *cap ? *cap * 2 : 16;
		nv = realloc(c->src, *cap * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		c->src = nv;
	}
	if (asprintf(&path, "%s/%s", dir, name) < 0)
		return -ENOMEM;
	c->src[c->n++] = (struct sl_source){ .name = path, .text = text, .len = len };
	return 0;
}

static int read_entries(DIR *d, const char *dir, struct confdir *c, char *why, size_t why_len)
{
	char reason[256];
	size_t cap = 0;
	struct dirent *de;
	char *text = NULL;
	size_t len = 0;
	int err;

	for (errno = 0; (de = readdir(d)); errno = 0) {
		if (!yaml_name(de->d_name))
			continue;
		err = read_entry(dirfd(d), de->d_name, &text, &len, reason, sizeof(reason));
		if (err) {
			snprintf(why, why_len, "%s/%s: %s", dir, de->d_name, reason);
			return err;
		}
		err = add_source(c, &cap, dir, de->d_name, text, len);
		if (err) {
			free(text);
			snprintf(why, why_len, "%s: %s", dir, strerror(-err));
			return err;
		}
	}
	if (errno) {
		err = -errno;
		snprintf(why, why_len, "%s: listing: %s", dir, strerror(-err));
		return err;
	}
	return 0;
}

int confdir_read(const char *dir, struct confdir *c, char *why, size_t why_len)
{
	DIR *d = opendir(dir);
	int err;

	c->src = NULL;
	c->n = 0;
	if (!d) {
		err = -errno;
		snprintf(why, why_len, "%s: %s", dir, strerror(-err));
		return err;
	}
	err = read_entries(d, dir, c, why, why_len);
	closedir(d);
	if (err) {
		confdir_free(c);
		return err;
	}
	qsort(c->src, c->n, sizeof(*c->src), cmp_src);
	return 0;
}

int confdir_read_file(const char *dir, const char *name, char **text, size_t *len, char *why,
		      size_t why_len)
{
	int err, dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct stat st;

	if (dfd < 0) {
		err = -errno;
		snprintf(why, why_len, "%s", strerror(-err));
		return err;
	}
	err = read_entry(dfd, name, text, len, why, why_len);
	/* Not there at all is -ENOENT; a dangling symlink is there. */
	if (err == -ENOENT && !fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW)) {
		err = -ENOLINK;
		snprintf(why, why_len, "a dangling symlink");
	}
	close(dfd);
	return err;
}

void confdir_free(struct confdir *c)
{
	for (size_t i = 0; i < c->n; i++) {
		free((char *)c->src[i].name);
		free((char *)c->src[i].text);
	}
	free(c->src);
	c->src = NULL;
	c->n = 0;
}
