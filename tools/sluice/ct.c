// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * `sluice ct list|gc`: the node-ingress connection-tracking table.
 *   list [-o json]   every tracked flow: client, frontend, endpoint, state
 *   gc [--tcp-idle S] [--udp-idle S] [--closed-idle S]
 *                    close and delete idle entries now (the agent does this
 *                    every 10 s; without an agent, cron this)
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>

#include "cli.h"
#include "ct.h"
#include "util.h"

static void tuple_end(const struct sl_tuple *t, bool dst, char *buf, size_t len)
{
	struct sl_l4addr a = { .port = dst ? t->dport : t->sport, .proto = t->proto,
			       .family = t->family };

	memcpy(a.addr, dst ? t->daddr : t->saddr, sizeof(a.addr));
	sl_fmt_l4(&a, true, buf, len);
}

static const char *ct_state(__u32 f)
{
	if (f & SL_CT_F_CLOSED)
		return "closed";
	if (f & (SL_CT_F_FIN_FWD | SL_CT_F_FIN_REV))
		return "closing";
	return "open";
}

static int ct_list(struct sl_maps *m, bool json)
{
	int fd = m->fd[SL_MAP_CT];
	struct sl_tuple k, next, *prev = NULL;
	struct sl_ct_val v;
	char cl[64], fe[64], ep[64];
	bool first = true;

	if (json)
		fputs("{\"ct\":[", stdout);
	else
		printf("%-28s %-28s %-28s %-8s %10s %10s\n", "CLIENT", "FRONTEND", "ENDPOINT",
		       "STATE", "PKTS>", "PKTS<");
	while (!bpf_map_get_next_key(fd, prev, &next)) {
		k = next;
		prev = &k;
		if (bpf_map_lookup_elem(fd, &k, &v))
			continue;
		tuple_end(&k, false, cl, sizeof(cl));
		tuple_end(&k, true, fe, sizeof(fe));
		sl_fmt_l4(&v.ep, true, ep, sizeof(ep));
		if (!json) {
			printf("%-28s %-28s %-28s %-8s %10llu %10llu\n", cl, fe, ep, ct_state(v.flags),
			       (unsigned long long)v.packets_fwd, (unsigned long long)v.packets_rev);
			continue;
		}
		printf("%s{\"client\":\"%s\",\"frontend\":\"%s\",\"endpoint\":\"%s\",\"state\":\"%s\","
		       "\"counted\":%s,\"packets_fwd\":%llu,\"packets_rev\":%llu,\"created_ns\":%llu,"
		       "\"last_ns\":%llu}",
		       first ? "" : ",", cl, fe, ep, ct_state(v.flags),
		       v.flags & SL_CT_F_COUNTED ? "true" : "false",
		       (unsigned long long)v.packets_fwd, (unsigned long long)v.packets_rev,
		       (unsigned long long)v.created_ns, (unsigned long long)v.last_ns);
		first = false;
	}
	if (json)
		fputs("]}\n", stdout);
	return SL_EXIT_OK;
}

static int ct_gc_cmd(struct sl_cli *c)
{
	static const struct option opts[] = {
		{ "tcp-idle", required_argument, NULL, 't' },
		{ "udp-idle", required_argument, NULL, 'u' },
		{ "closed-idle", required_argument, NULL, 'c' },
		{ 0 },
	};
	struct sl_ct_gc_opts o = { SL_CT_TCP_IDLE_NS, SL_CT_UDP_IDLE_NS, SL_CT_CLOSED_IDLE_NS };
	struct sl_ct_gc_ctx r;
	int opt, err;

	optind = 2; /* after "ct gc" */
	while ((opt = getopt_long(c->argc, c->argv, "", opts, NULL)) != -1) {
		__u64 ns = (__u64)(strtod(optarg, NULL) * 1e9);

		if (opt == 't')
			o.tcp_idle_ns = ns;
		else if (opt == 'u')
			o.udp_idle_ns = ns;
		else if (opt == 'c')
			o.closed_idle_ns = ns;
		else
			return SL_EXIT_USAGE;
	}
	err = sl_ct_gc(c->pin_root, &o, &r);
	if (err) {
		fprintf(stderr, "sluice ct gc: %s\n", strerror(-err));
		return SL_EXIT_FAIL;
	}
	printf("ct gc: %u entries scanned, %u removed, %u connection-limit units released\n",
	       r.scanned, r.removed, r.released);
	return SL_EXIT_OK;
}

int cmd_ct(struct sl_cli *c)
{
	struct sl_maps m;
	bool json = c->argc == 4 && !strcmp(c->argv[2], "-o") && !strcmp(c->argv[3], "json");
	int rc;

	if (c->argc >= 2 && !strcmp(c->argv[1], "gc"))
		return ct_gc_cmd(c);
	if (c->argc < 2 || strcmp(c->argv[1], "list") || (c->argc != 2 && !json)) {
		fprintf(stderr, "usage: sluice ct list [-o json] | sluice ct gc [--tcp-idle S] "
				"[--udp-idle S] [--closed-idle S]\n");
		return SL_EXIT_USAGE;
	}
	if (sl_maps_open(c->pin_root, &m))
		return SL_EXIT_FAIL;
	rc = ct_list(&m, json);
	sl_maps_close(&m);
	return rc;
}
