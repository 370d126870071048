// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/polsrc.h"
#include "util.h"

static int load_one(struct sl_policy *p, const char *path, struct sl_diags *d)
{
	size_t len;
	char *buf = sl_read_file(path, &len);
	int rc;

	if (!buf) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -1;
	}
	rc = sl_policy_load(p, path, buf, len, d);
	free(buf);
	return rc;
}

static int yaml_name(const struct dirent *de)
{
	size_t l = strlen(de->d_name);

	return de->d_name[0] != '.' &&
	       ((l > 5 && !strcmp(de->d_name + l - 5, ".yaml")) ||
		(l > 4 && !strcmp(de->d_name + l - 4, ".yml")));
}

struct sl_policy *sl_policy_from_path(const char *path, struct sl_diags *d)
{
	struct sl_policy *p = sl_policy_new();
	struct dirent **names = NULL;
	char buf[4096];
	int n = scandir(path, &names, yaml_name, alphasort), rc = 0;

	if (!p)
		return NULL;
	if (n < 0)
		rc = load_one(p, path, d);
	for (int i = 0; i < n; i++) {
		snprintf(buf, sizeof(buf), "%s/%s", path, names[i]->d_name);
		if (!rc)
			rc = load_one(p, buf, d);
		free(names[i]);
	}
	free(names);
	if (rc) {
		sl_policy_free(p);
		return NULL;
	}
	return p;
}

long sl_parse_secs(const char *s)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (end == s || v < 0)
		return -1;
	switch (*end) {
	case 0:
	case 's':
		break;
	case 'm':
		v *= 60;
		break;
	case 'h':
		v *= 3600;
		break;
	case 'd':
		v *= 86400;
		break;
	default:
		return -1;
	}
	return *end && end[1] ? -1 : v;
}
