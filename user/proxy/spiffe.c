// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <stdio.h>
#include <string.h>

#include "proxy/spiffe.h"

/* RFC 1123 label: lower-case alphanumerics and '-', not at either end. */
bool sl_dns_label_ok(const char *s, size_t n)
{
	if (n == 0 || n > 63 || s[0] == '-' || s[n - 1] == '-')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
			return false;
	}
	return true;
}

bool sl_dns_name_ok(const char *s, size_t n)
{
	size_t start = 0;

	if (n == 0 || n >= SL_ID_PART)
		return false;
	for (size_t i = 0; i <= n; i++) {
		if (i == n || s[i] == '.') {
			if (!sl_dns_label_ok(s + start, i - start))
				return false;
			start = i + 1;
		}
	}
	return true;
}

/* Split P (LEN bytes) at '/' into at most MAX parts. */
static int split(const char *p, size_t len, const char *part[], size_t plen[], int max)
{
	int n = 0;
	size_t start = 0;

	for (size_t i = 0; i <= len; i++) {
		if (i < len && p[i] != '/')
			continue;
		if (n == max)
			return -1;
		part[n] = p + start;
		plen[n++] = i - start;
		start = i + 1;
	}
	return n;
}

static void put(char *dst, const char *s, size_t n)
{
	memcpy(dst, s, n);
	dst[n] = 0;
}

int sl_spiffe_parse(const char *uri, size_t len, struct sl_spiffe_id *id)
{
	static const char scheme[] = "spiffe://";
	const char *part[5];
	size_t plen[5];
	int n;

	memset(id, 0, sizeof(*id));
	if (len <= sizeof(scheme) - 1 || memcmp(uri, scheme, sizeof(scheme) - 1))
		return -1;
	uri += sizeof(scheme) - 1;
	len -= sizeof(scheme) - 1;
	n = split(uri, len, part, plen, 5);
	if (n < 1 || !sl_dns_name_ok(part[0], plen[0]))
		return -1;
	put(id->td, part[0], plen[0]);
	if (n == 5 && plen[1] == 2 && !memcmp(part[1], "ns", 2) && plen[3] == 2 &&
	    !memcmp(part[3], "sa", 2) && sl_dns_label_ok(part[2], plen[2]) &&
	    sl_dns_label_ok(part[4], plen[4])) {
		id->kind = SL_ID_WORKLOAD;
		put(id->ns, part[2], plen[2]);
		put(id->sa, part[4], plen[4]);
		return 0;
	}
	if (n == 4 && plen[1] == 6 && !memcmp(part[1], "sluice", 6) && plen[2] == 4 &&
	    !memcmp(part[2], "node", 4) && sl_dns_name_ok(part[3], plen[3])) {
		id->kind = SL_ID_NODE;
		put(id->node, part[3], plen[3]);
		return 0;
	}
	return -1;
}

void sl_spiffe_principal(const struct sl_spiffe_id *id, char *buf, size_t len)
{
	if (id->kind == SL_ID_WORKLOAD)
		snprintf(buf, len, "%s/ns/%s/sa/%s", id->td, id->ns, id->sa);
	else
		snprintf(buf, len, "%s/sluice/node/%s", id->td, id->node);
}

void sl_spiffe_fmt(const struct sl_spiffe_id *id, char *buf, size_t len)
{
	char p[SL_ID_LEN];

	sl_spiffe_principal(id, p, sizeof(p));
	snprintf(buf, len, "spiffe://%s", p);
}

void sl_spiffe_workload(struct sl_spiffe_id *id, const char *td, const char *ns,
			const char *sa)
{
	memset(id, 0, sizeof(*id));
	id->kind = SL_ID_WORKLOAD;
	snprintf(id->td, sizeof(id->td), "%s", td);
	snprintf(id->ns, sizeof(id->ns), "%s", ns);
	snprintf(id->sa, sizeof(id->sa), "%s", sa);
}
