/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Small shared helpers: logging, addresses, files, time. */
#ifndef SLUICE_UTIL_H
#define SLUICE_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/types.h>

#include "sluice_abi.h"

enum sl_log_level { SL_LOG_WARN = 0, SL_LOG_INFO = 1, SL_LOG_DEBUG = 2 };

extern int sl_verbosity;

void sl_log(enum sl_log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
#define pr_warn(...) sl_log(SL_LOG_WARN, __VA_ARGS__)
#define pr_info(...) sl_log(SL_LOG_INFO, __VA_ARGS__)
#define pr_debug(...) sl_log(SL_LOG_DEBUG, __VA_ARGS__)

/* Where sl_log (and libbpf through sl_libbpf_logging) writes: stderr as is
 * unless a long-lived process installs its own sink (the agent stamps each
 * line with the time and the level). Called only for messages that pass
 * sl_verbosity. */
typedef void sl_log_sink_fn(enum sl_log_level lvl, const char *fmt, va_list ap);
void sl_log_set_sink(sl_log_sink_fn *sink);

/* Route libbpf's printer into sl_log. Verifier logs always go through at
 * warning level, whole, because a rejected program is unusable without it. */
void sl_libbpf_logging(void);

/* "10.96.0.1:3000/tcp", "[fd00::1]:53/udp"; PORT and PROTO optional for
 * addresses only (port 0, proto TCP). Returns 0 or -EINVAL. */
int sl_parse_l4(const char *s, struct sl_l4addr *a);
/* Writes "IP:PORT" (IPv6 in brackets); with_proto adds "/tcp" or "/udp". */
char *sl_fmt_l4(const struct sl_l4addr *a, bool with_proto, char *buf, size_t len);
char *sl_fmt_ip(const struct sl_l4addr *a, char *buf, size_t len);

struct sockaddr_storage;
/* A as a socket address; returns its length and sets ss_family. */
unsigned int sl_sockaddr(const struct sl_l4addr *a, struct sockaddr_storage *ss);
/* A TCP listener on "IP:PORT" (SO_REUSEADDR, SOCK_CLOEXEC plus FLAGS, e.g.
 * SOCK_NONBLOCK; BACKLOG). Returns the fd or -errno (-EINVAL: not IP:PORT). */
int sl_listen_tcp(const char *spec, int flags, int backlog);

/* Whole file (or stdin for "-") into a malloc'd NUL-terminated buffer. */
char *sl_read_file(const char *path, size_t *len);

/* Mount point of the cgroup v2 hierarchy, from /proc/mounts. */
int sl_cgroup2_root(char *buf, size_t len);

/* Is S one of the N strings of V? */
bool sl_str_in(const char *s, const char *const *v, size_t n);

uint64_t sl_now_mono_ns(void);
uint64_t sl_now_real_ns(void);
/* Modification time of DIR/FILE in ns, -1 if it cannot be read: how the
 * CA and the proxy notice a file replaced under them. */
long long sl_mtime_ns(const char *dir, const char *file);
double sl_ms_since(uint64_t start_mono_ns);

#endif
