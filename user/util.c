// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <bpf/libbpf.h>

#include "util.h"

int sl_verbosity = SL_LOG_WARN;
static sl_log_sink_fn *log_sink;

void sl_log_set_sink(sl_log_sink_fn *sink)
{
	log_sink = sink;
}

static void log_v(enum sl_log_level lvl, const char *fmt, va_list ap)
{
	if (log_sink)
		log_sink(lvl, fmt, ap);
	else
		vfprintf(stderr, fmt, ap);
}

static void log_f(enum sl_log_level lvl, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_v(lvl, fmt, ap);
	va_end(ap);
}

void sl_log(enum sl_log_level lvl, const char *fmt, ...)
{
	va_list ap;

	if ((int)lvl > sl_verbosity)
		return;
	va_start(ap, fmt);
	log_v(lvl, fmt, ap);
	va_end(ap);
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	/* libbpf prints the verifier log at WARN; keep all of it. */
	if (level == LIBBPF_DEBUG && sl_verbosity < SL_LOG_DEBUG)
		return 0;
	if (level == LIBBPF_INFO && sl_verbosity < SL_LOG_INFO)
		return 0;
	/* The kernel's answer to creating a clsact qdisc that exists (the
	 * cls_bpf fallback of user/loader_node.c always tries): expected. */
	if (strstr(fmt, "Kernel error message")) {
		char buf[512];

		vsnprintf(buf, sizeof(buf), fmt, ap);
		if (strstr(buf, "Exclusivity flag on") && sl_verbosity < SL_LOG_INFO)
			return 0;
		log_f(SL_LOG_WARN, "%s", buf);
		return 0;
	}
	log_v(level == LIBBPF_WARN ? SL_LOG_WARN : level == LIBBPF_INFO ? SL_LOG_INFO : SL_LOG_DEBUG,
	      fmt, ap);
	return 0;
}

void sl_libbpf_logging(void)
{
	libbpf_set_print(libbpf_print);
}

static int parse_proto(const char *p, __u8 *proto)
{
	if (!strcasecmp(p, "tcp"))
		*proto = IPPROTO_TCP;
	else if (!strcasecmp(p, "udp"))
		*proto = IPPROTO_UDP;
	else
		return -EINVAL;
	return 0;
}

int sl_parse_l4(const char *s, struct sl_l4addr *a)
{
	char buf[128], *host = buf, *port = NULL, *proto, *end;
	unsigned long v;

	memset(a, 0, sizeof(*a));
	a->proto = IPPROTO_TCP;
	if (strlen(s) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, s);
	proto = strchr(buf, '/');
	if (proto) {
		*proto++ = 0;
		if (parse_proto(proto, &a->proto))
			return -EINVAL;
	}
	if (buf[0] == '[') {
		end = strchr(buf, ']');
		if (!end)
			return -EINVAL;
		*end = 0;
		host = buf + 1;
		if (end[1] == ':')
			port = end + 2;
		else if (end[1])
			return -EINVAL;
	} else if (strchr(buf, ':') == strrchr(buf, ':') && strchr(buf, ':')) {
		port = strchr(buf, ':');
		*port++ = 0;
	}
	if (inet_pton(AF_INET, host, &a->addr[0]) == 1)
		a->family = SL_AF_INET;
	else if (inet_pton(AF_INET6, host, a->addr) == 1)
		a->family = SL_AF_INET6;
	else
		return -EINVAL;
	if (port) {
		errno = 0;
		v = strtoul(port, &end, 10);
		if (errno || *end || !*port || v > 65535)
			return -EINVAL;
		a->port = htons((uint16_t)v);
	}
	return 0;
}

char *sl_fmt_ip(const struct sl_l4addr *a, char *buf, size_t len)
{
	if (!inet_ntop(a->family == SL_AF_INET6 ? AF_INET6 : AF_INET, a->addr,
		       buf, (socklen_t)len))
		snprintf(buf, len, "?");
	return buf;
}

char *sl_fmt_l4(const struct sl_l4addr *a, bool with_proto, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN];
	const char *proto = a->proto == IPPROTO_UDP ? "udp" : "tcp";

	sl_fmt_ip(a, ip, sizeof(ip));
	snprintf(buf, len, a->family == SL_AF_INET6 ? "[%s]:%u%s%s" : "%s:%u%s%s",
		 ip, ntohs(a->port), with_proto ? "/" : "", with_proto ? proto : "");
	return buf;
}

char *sl_read_file(const char *path, size_t *len)
{
	FILE *f = strcmp(path, "-") ? fopen(path, "re") : stdin;
	size_t cap = 65536, n = 0, r;
	char *buf, *nb;

	if (!f)
		return NULL;
	buf = malloc(cap + 1);
	while (buf && (r = fread(buf + n, 1, cap - n, f)) > 0) {
		n += r;
		if (n == cap) {
			cap *= 2;
			nb = realloc(buf, cap + 1);
			if (!nb) {
				free(buf);
				buf = NULL;
			}
			buf = nb;
		}
	}
	if (buf && ferror(f)) {
		free(buf);
		buf = NULL;
		errno = EIO;
	}
	if (f != stdin)
		fclose(f);
	if (!buf)
		return NULL;
	buf[n] = 0;
	*len = n;
	return buf;
}

int sl_cgroup2_root(char *buf, size_t len)
{
	char dev[256], dir[4096], type[64];
	FILE *f = fopen("/proc/mounts", "re");
	int err = -ENOENT;

	if (!f)
		return -errno;
	while (fscanf(f, "%255s %4095s %63s %*[^\n]\n", dev, dir, type) == 3) {
		if (!strcmp(type, "cgroup2")) {
			snprintf(buf, len, "%s", dir);
			err = 0;
			break;
		}
	}
	fclose(f);
	return err;
}

static uint64_t clock_ns(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t sl_now_mono_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}

uint64_t sl_now_real_ns(void)
{
	return clock_ns(CLOCK_REALTIME);
}

double sl_ms_since(uint64_t start)
{
	return (double)(sl_now_mono_ns() - start) / 1e6;
}

bool sl_str_in(const char *s, const char *const *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(s, v[i]))
			return true;
	return false;
}

unsigned int sl_sockaddr(const struct sl_l4addr *a, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (a->family == SL_AF_INET) {
		struct sockaddr_in *s = (struct sockaddr_in *)ss;

		s->sin_family = AF_INET;
		s->sin_addr.s_addr = a->addr[0];
		s->sin_port = a->port;
		return sizeof(*s);
	}
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

	s6->sin6_family = AF_INET6;
	memcpy(&s6->sin6_addr, a->addr, 16);
	s6->sin6_port = a->port;
	return sizeof(*s6);
}

int sl_listen_tcp(const char *spec, int flags, int backlog)
{
	struct sockaddr_storage ss;
	struct sl_l4addr a;
	unsigned int len;
	int fd, one = 1, err;

	if (sl_parse_l4(spec, &a) || !a.port)
		return -EINVAL;
	len = sl_sockaddr(&a, &ss);
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | flags, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) || listen(fd, backlog)) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

long long sl_mtime_ns(const char *dir, const char *file)
{
	char path[4200];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	if (stat(path, &st))
		return -1;
	return (long long)st.st_mtim.tv_sec * 1000000000ll + st.st_mtim.tv_nsec;
}
