/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The agent's log: one line per message on stderr, each carrying the time
 * (UTC, milliseconds) and a level, so that a node's journal or a container
 * log can be read and filtered without knowing which thread wrote:
 *
 *   2026-01-05T10:11:12.345Z info  generation 4: 12 objects, ...
 *   2026-01-05T10:11:12.346Z warn  /etc/sluice/policy/x.yaml:3:7: error: ...
 *
 * Messages of the library (pr_warn & co.) and of libbpf go through the same
 * writer. Each message is written with one write(2), so lines of the policy
 * loop and of the HTTP threads never interleave inside a line.
 */
#ifndef SLUICED_LOG_H
#define SLUICED_LOG_H

#include "util.h"

enum agent_log_level {
	LOG_ERROR = -1, /* below SL_LOG_WARN: always shown */
	LOG_WARN = SL_LOG_WARN,
	LOG_INFO = SL_LOG_INFO,
	LOG_DEBUG = SL_LOG_DEBUG,
};

/* Route sl_log and libbpf's printer through agent_log. */
void agent_log_init(void);

/* The agent's own errors, warnings and info lines are always shown (an
 * operator reads them to know what the node runs); debug lines with -v -v,
 * like the library's. */
void agent_log(enum agent_log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void agent_vlog(enum agent_log_level lvl, const char *fmt, va_list ap);

#define log_error(...) agent_log(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) agent_log(LOG_WARN, __VA_ARGS__)
#define log_info(...) agent_log(LOG_INFO, __VA_ARGS__)
#define log_debug(...) agent_log(LOG_DEBUG, __VA_ARGS__)

#endif
