// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "proxy_metrics.h"
#include "util.h"

int sl_proxy_metrics_path(const char *pin_root, char *buf, size_t len)
{
	size_t n = (size_t)snprintf(buf, len, "%s/", SL_PROXY_METRICS_DIR), i;

	for (i = 0; pin_root[i] && n + 12 < len; i++)
		buf[n++] = pin_root[i] == '/' ? '_' : pin_root[i];
	if (pin_root[i])
		return -1;
	snprintf(buf + n, len - n, ".proxy.prom");
	return 0;
}

char *sl_proxy_metrics_load(const char *pin_root)
{
	char path[4096];
	struct stat st;
	size_t len;

	if (sl_proxy_metrics_path(pin_root, path, sizeof(path)) || stat(path, &st) ||
	    time(NULL) - st.st_mtime > SL_PROXY_METRICS_FRESH_S)
		return NULL;
	return sl_read_file(path, &len);
}

static const char *next_line(const char *p)
{
	const char *nl = strchr(p, '\n');

	return nl ? nl + 1 : p + strlen(p);
}

void sl_proxy_metrics_family(FILE *f, const char *text, const char *family)
{
	size_t fl = strlen(family);

	for (const char *p = text; p && *p; p = next_line(p))
		if (!strncmp(p, family, fl) && p[fl] == '{')
			fwrite(p, 1, (size_t)(next_line(p) - p), f);
}

static bool skipped(const char *name, size_t n, const char *const *skip)
{
	for (; *skip; skip++)
		if (strlen(*skip) == n && !strncmp(name, *skip, n))
			return true;
	return false;
}

/* Families come as "# HELP NAME ...", "# TYPE NAME ...", samples. */
void sl_proxy_metrics_others(FILE *f, const char *text, const char *const *skip)
{
	bool keep = false;

	for (const char *p = text; p && *p; p = next_line(p)) {
		if (!strncmp(p, "# HELP ", 7)) {
			const char *name = p + 7;

			keep = !skipped(name, strcspn(name, " \n"), skip);
		}
		if (keep)
			fwrite(p, 1, (size_t)(next_line(p) - p), f);
	}
}
