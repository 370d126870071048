// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Small helpers of the policy compiler: memory, durations, addresses,
 * labels, hashing. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <sys/mman.h>

#include "internal.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

/* Allocation failure is not a policy error we could report usefully; the
 * compiler's callers are short-lived CLIs, so abort like xmalloc does. */
void *slp_xcalloc(size_t n, size_t sz)
{
	void *p = calloc(n ? n : 1, sz ? sz : 1);

	if (!p)
		abort();
	return p;
}

void *slp_xrealloc(void *p, size_t n, size_t sz)
{
	void *q;

	if (sz && n > SIZE_MAX / sz)
		abort();
	q = realloc(p, (n * sz) != 0 ? n * sz : 1);
	if (!q)
		abort();
	return q;
}

void slp_prefault(void *p, size_t len)
{
	uintptr_t a = ((uintptr_t)p + 4095) & ~(uintptr_t)4095, e = ((uintptr_t)p + len) & ~(uintptr_t)4095;

	/* Errors (a kernel before 5.14: EINVAL) only leave the faults to
	 * happen one by one, as without this call. */
	if (e > a)
		madvise((void *)a, e - a, MADV_POPULATE_WRITE);
}

char *slp_xstrdup(const char *s)
{
	char *r = strdup(s ? s : "");

	if (!r)
		abort();
	return r;
}

const char *slp_udec(char buf[SLP_UDEC_LEN], size_t i)
{
	size_t n = SLP_UDEC_LEN - 1;

	buf[n] = 0;
	do
		buf[--n] = (char)('0' + i % 10);
	while ((i /= 10) && n > 0);
	return buf + n;
}

void slp_scopy(char *dst, size_t len, const char *src)
{
	size_t n = strlen(src ? src : "");

	if (!len)
		return;
	if (n >= len)
		n = len - 1;
	memcpy(dst, src ? src : "", n);
	dst[n] = 0;
}

uint32_t slp_fnv1a32(const void *p, size_t n, uint32_t h)
{
	const unsigned char *c = p;
	size_t i;

	for (i = 0; i < n; i++) {
		h ^= c[i];
		h *= 16777619u;
	}
	return h;
}

uint32_t sl_subset_tag(const char *subset)
{
	uint32_t h;

	if (!subset || !*subset)
		return 0;
	h = slp_fnv1a32(subset, strlen(subset), FNV1A32_INIT);
	return h ? h : 1;
}

static int unit_ns(const char **s, double *mult)
{
	static const struct {
		const char *u;
		double m;
	} units[] = {
		{ "ns", 1 }, { "us", 1e3 }, { "\xc2\xb5s", 1e3 }, { "ms", 1e6 },
		{ "s", 1e9 }, { "m", 60e9 }, { "h", 3600e9 },
	};
	size_t i, best = 0, blen = 0, l;

	/* Longest match, so "ms" is not read as "m" followed by "s". */
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		l = strlen(units[i].u);
		if (!strncmp(*s, units[i].u, l) && l > blen) {
			best = i;
			blen = l;
		}
	}
	if (!blen)
		return -1;
	*mult = units[best].m;
	*s += blen;
	return 0;
}

/* Go/protobuf durations: one or more NUMBER UNIT pairs, "30s", "1.5s",
 * "100ms", "1h30m". Negative durations are meaningless here. */
int slp_parse_duration_ns(const char *s, uint64_t *ns)
{
	double total = 0, v, mult;
	char *end;

	if (!s || !*s)
		return -1;
	while (*s) {
		if (!isdigit((unsigned char)*s) && *s != '.')
			return -1;
		errno = 0;
		v = strtod(s, &end);
		if (errno || end == s)
			return -1;
		s = end;
		if (unit_ns(&s, &mult))
			return -1;
		total += v * mult;
		if (total > 1e18)
			return -1;
	}
	*ns = (uint64_t)(total + 0.5);
	return 0;
}

int slp_parse_ip(const char *s, struct sl_l4addr *a)
{
	memset(a, 0, sizeof(*a));
	if (!s || strchr(s, '%'))
		return -1;
	if (inet_pton(AF_INET, s, &a->addr[0]) == 1) {
		a->family = SL_AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, s, a->addr) == 1) {
		a->family = SL_AF_INET6;
		return 0;
	}
	return -1;
}

int slp_parse_cidr(const char *s, struct sl_l4addr *a, int *plen)
{
	char buf[64], *slash, *end;
	long v;

	if (!s || strlen(s) >= sizeof(buf))
		return -1;
	strcpy(buf, s);
	slash = strchr(buf, '/');
	if (slash)
		*slash++ = 0;
	if (slp_parse_ip(buf, a))
		return -1;
	*plen = a->family == SL_AF_INET ? 32 : 128;
	if (!slash)
		return 0;
	if (!isdigit((unsigned char)*slash))
		return -1;
	v = strtol(slash, &end, 10);
	if (*end || v < 0 || v > *plen)
		return -1;
	*plen = (int)v;
	return 0;
}

bool slp_mask_prefix(struct sl_l4addr *a, int plen)
{
	int words = a->family == SL_AF_INET ? 1 : 4, i, bits;
	bool host = false;
	uint32_t m, w;

	for (i = 0; i < words; i++) {
		bits = plen - 32 * i;
		m = bits >= 32 ? 0xffffffffu : bits <= 0 ? 0 : ~(0xffffffffu >> bits);
		w = ntohl(a->addr[i]);
		if (w & ~m)
			host = true;
		a->addr[i] = htonl(w & m);
	}
	return host;
}

/* One label of [a-z0-9-] starting and ending alphanumeric (RFC 1035: a
 * letter first), N > 0 bytes. Locale-free, unlike islower(). */
static bool dns_label_chars(const char *s, size_t n, bool rfc1035)
{
	size_t i;

	if (!n || s[0] == '-' || s[n - 1] == '-' || (rfc1035 && (s[0] < 'a' || s[0] > 'z')))
		return false;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return false;
	return true;
}

/* k8s.io/apimachinery IsDNS1123Subdomain: at most 253 bytes of labels
 * joined by '.'; the labels themselves have no length limit there. */
bool slp_dns_subdomain_ok(const char *s, size_t n)
{
	const char *dot;

	if (!n || n > 253)
		return false;
	while ((dot = memchr(s, '.', n))) {
		if (!dns_label_chars(s, (size_t)(dot - s), false))
			return false;
		n -= (size_t)(dot - s) + 1;
		s = dot + 1;
	}
	return dns_label_chars(s, n, false);
}

const char *slp_name_check(const char *s, int rule)
{
	size_t n = strlen(s);

	switch (rule) {
	case NAME_LABEL:
		if (n <= 63 && dns_label_chars(s, n, false))
			return NULL;
		return "must be an RFC 1123 label: at most 63 characters of lower-case "
		       "letters, digits and '-', starting and ending with a letter or digit";
	case NAME_LABEL_1035:
		if (n <= 63 && dns_label_chars(s, n, true))
			return NULL;
		return "must be an RFC 1035 label: at most 63 characters of lower-case "
		       "letters, digits and '-', starting with a letter and ending with "
		       "a letter or digit";
	default:
		if (slp_dns_subdomain_ok(s, n))
			return NULL;
		return "must be an RFC 1123 subdomain: at most 253 characters of "
		       "lower-case letters, digits, '-' and '.', each dot-separated part "
		       "starting and ending with a letter or digit";
	}
}
