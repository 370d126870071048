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

int sl_load_opts_sockops(struct sl_load_opts *o, const char *s)
{
	if (!strcmp(s, "auto"))
		o->sockops = SL_SOCKOPS_AUTO;
	else if (!strcmp(s, "on"))
		o->sockops = SL_SOCKOPS_ON;
	else if (!strcmp(s, "off"))
		o->sockops = SL_SOCKOPS_OFF;
	else
		return -EINVAL;
	return 0;
}

int sl_load_opts_xdp_mode(struct sl_load_opts *o, const char *s)
{
	if (!strcmp(s, "auto"))
		o->xdp_mode = SL_XDP_AUTO;
	else if (!strcmp(s, "native"))
		o->xdp_mode = SL_XDP_NATIVE;
	else if (!strcmp(s, "generic"))
		o->xdp_mode = SL_XDP_GENERIC;
	else
		return -EINVAL;
	return 0;
}
