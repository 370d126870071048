// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Defaults and parsers of the load options, shared by `sluice load` and
 * the agent so that both read a flag the same way. */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "load_opts.h"
#include "util.h"

void sl_load_opts_default(struct sl_load_opts *o, const char *pin_root)
{
	memset(o, 0, sizeof(*o));
	o->pin_root = pin_root;
	o->proxy_mark = SL_DEFAULT_PROXY_MARK;
	o->proxy_port = htons(SL_DEFAULT_PROXY_PORT);
	inet_pton(AF_INET, "127.0.0.1", &o->proxy_addr4);
	inet_pton(AF_INET6, "::1", o->proxy_addr6);
}

int sl_load_opts_proxy(struct sl_load_opts *o, const char *s)
{
	struct sl_l4addr a;

	if (!strcmp(s, "none")) {
		o->proxy_port = 0;
		return 0;
	}
	if (sl_parse_l4(s, &a) || !a.port)
		return -EINVAL;
	if (a.family == SL_AF_INET)
		o->proxy_addr4 = a.addr[0];
	else
		memcpy(o->proxy_addr6, a.addr, sizeof(o->proxy_addr6));
	o->proxy_port = a.port;
	return 0;
}

const char *const sl_sockops_modes[3] = {
	[SL_SOCKOPS_AUTO] = "auto",
	[SL_SOCKOPS_ON] = "on",
	[SL_SOCKOPS_OFF] = "off",
};

static const char *const xdp_modes[3] = {
	[SL_XDP_AUTO] = "auto",
	[SL_XDP_NATIVE] = "native",
	[SL_XDP_GENERIC] = "generic",
};

/* The index of S in NAMES[0..N), or -EINVAL. */
static int choice(const char *s, const char *const *names, int n)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(s, names[i]))
			return i;
	return -EINVAL;
}

int sl_load_opts_sockops(struct sl_load_opts *o, const char *s)
{
	int i = choice(s, sl_sockops_modes, 3);

	if (i < 0)
		return i;
	o->sockops = (enum sl_sockops_mode)i;
	return 0;
}

int sl_load_opts_xdp_mode(struct sl_load_opts *o, const char *s)
{
	int i = choice(s, xdp_modes, 3);

	if (i < 0)
		return i;
	o->xdp_mode = (enum sl_xdp_mode)i;
	return 0;
}
