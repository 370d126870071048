// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * `sluice flows --pods`: the flow records the pod-interface TC programs
 * keep (sl_pflows). A record's key is canonical (both directions share
 * it); shown here oriented from the side that sent the first packet.
 */
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <bpf/bpf.h>

#include "cli.h"
#include "util.h"

static const char *proto_name(__u8 p, char *buf, size_t len)
{
	switch (p) {
	case IPPROTO_TCP:
		return "tcp";
	case IPPROTO_UDP:
		return "udp";
	case IPPROTO_SCTP:
		return "sctp";
	case IPPROTO_ICMP:
		return "icmp";
	case IPPROTO_ICMPV6:
		return "icmpv6";
	}
	snprintf(buf, len, "%u", p);
	return buf;
}

/* TCP flags as letters, in header bit order from FIN up. */
static const char *flag_str(__u8 f, char *buf)
{
	static const char l[] = "FSRPAUEC";
	int n = 0;

	for (int i = 0; i < 8; i++)
		if (f & (1u << i))
			buf[n++] = l[i];
	buf[n] = 0;
	return buf;
}

static void end_str(const struct sl_tuple *t, bool dst, char *buf, size_t len)
{
	struct sl_l4addr a = {
		.port = dst ? t->dport : t->sport,
		.proto = t->proto,
		.family = t->family,
	};

	memcpy(a.addr, dst ? t->daddr : t->saddr, sizeof(a.addr));
	sl_fmt_l4(&a, false, buf, len);
}

static void print_pflow(bool json, bool first, const struct sl_pflow_key *k,
			const struct sl_pflow_val *v)
{
	/* f: index of the initiator's direction in the value arrays. */
	int f = v->flags & SL_PF_INIT_REV ? 1 : 0, r = !f;
	char src[64], dst[64], ifn[IF_NAMESIZE] = "?", pb[8], ff[9], rf[9];
	const char *proto;

	end_str(&k->t, f, src, sizeof(src));
	end_str(&k->t, !f, dst, sizeof(dst));
	if (!if_indextoname(k->ifindex, ifn))
		snprintf(ifn, sizeof(ifn), "if%u", k->ifindex);
	proto = proto_name(k->t.proto, pb, sizeof(pb));
	if (!json) {
		printf("%-12s %-6s %-24s %-24s %8llu %8llu %10llu %10llu %-6s %s\n", ifn, proto, src,
		       dst, (unsigned long long)v->packets[f], (unsigned long long)v->packets[r],
		       (unsigned long long)v->payload[f], (unsigned long long)v->payload[r],
		       flag_str(v->tcp_flags[f], ff), flag_str(v->tcp_flags[r], rf));
		return;
	}
	printf("%s{\"iface\":\"%s\",\"ifindex\":%u,\"proto\":\"%s\",\"src\":\"%s\",\"dst\":\"%s\","
	       "\"packets_fwd\":%llu,\"packets_rev\":%llu,\"bytes_fwd\":%llu,\"bytes_rev\":%llu,"
	       "\"payload_fwd\":%llu,\"payload_rev\":%llu,\"tcp_flags_fwd\":\"%s\","
	       "\"tcp_flags_rev\":\"%s\",\"first_ns\":%llu,\"last_ns\":%llu,"
	       "\"allowed_ingress\":%s,\"allowed_egress\":%s}",
	       first ? "" : ",", ifn, k->ifindex, proto, src, dst,
	       (unsigned long long)v->packets[f], (unsigned long long)v->packets[r],
	       (unsigned long long)v->bytes[f], (unsigned long long)v->bytes[r],
	       (unsigned long long)v->payload[f], (unsigned long long)v->payload[r],
	       flag_str(v->tcp_flags[f], ff), flag_str(v->tcp_flags[r], rf),
	       (unsigned long long)v->first_ns, (unsigned long long)v->last_ns,
	       v->flags & SL_PF_ALLOW_INGRESS ? "true" : "false",
	       v->flags & SL_PF_ALLOW_EGRESS ? "true" : "false");
}

int sl_dump_pod_flows(struct sl_maps *m, bool json)
{
	int fd = m->fd[SL_MAP_PFLOWS];
	struct sl_pflow_key key, next, *prev = NULL;
	struct sl_pflow_val v;
	bool first = true;

	if (json)
		fputs("{\"pod_flows\":[", stdout);
	else
		printf("%-12s %-6s %-24s %-24s %8s %8s %10s %10s %-6s %s\n", "IFACE", "PROTO",
		       "SRC", "DST", "PKTS>", "PKTS<", "DATA>", "DATA<", "FLAGS>", "FLAGS<");
	while (!bpf_map_get_next_key(fd, prev, &next)) {
		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(fd, &key, &v))
			continue;
		print_pflow(json, first, &key, &v);
		first = false;
	}
	if (json)
		fputs("]}\n", stdout);
	fflush(stdout);
	return 0;
}
