// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <stdio.h>
#include <string.h>

#include "proxy/hbone.h"
#include "util.h"

int px_connect_check(const struct px_req *r, struct sl_l4addr *dst, char *why, size_t wl)
{
	if (r->bad) {
		snprintf(why, wl, "not a plain CONNECT (extra pseudo-header, duplicate or END_STREAM)");
		return 400;
	}
	if (strcmp(r->method, "CONNECT")) {
		snprintf(why, wl, "method is not CONNECT");
		return 405;
	}
	/* sl_parse_l4 also takes "/tcp" and a missing port: neither is an
	 * HBONE authority */
	if (!r->authority[0] || strchr(r->authority, '/') || sl_parse_l4(r->authority, dst) ||
	    !dst->port) {
		snprintf(why, wl, "authority is not IP:PORT");
		return 400;
	}
	return 0;
}
