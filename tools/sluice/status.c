// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * `sluice status [-o table|json]`: the node as it is — whether the data
 * plane is whole, what the last load recorded, which kernel features are
 * available (and why not), every link and program, map fill. It reads pins
 * one by one, so it also describes a half-loaded node (exit status 1, with
 * the reasons). The JSON shape is documented in docs/CLI.md.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "apply.h"
#include "cli.h"
#include "json.h"
#include "mapio.h"
#include "metrics.h"
#include "nodestate.h"
#include "probe.h"
#include "sockops_link.h"
#include "util.h"

static const char *link_status_name(enum sl_link_status s)
{
	static const char *const n[] = { "attached", "missing", "detached", "elsewhere",
					 "unreadable" };

	return (unsigned)s < sizeof(n) / sizeof(n[0]) ? n[s] : "?";
}

static const char *feat_status_name(__u32 s)
{
	static const char *const n[] = { "unknown", "available", "unavailable", "not requested" };

	return s < sizeof(n) / sizeof(n[0]) ? n[s] : "?";
}

static const char *attach_name(__u32 t)
{
	const char *n = libbpf_bpf_attach_type_str((enum bpf_attach_type)t);

	return n ? n : "?";
}

/* What the node's links say was asked for: interfaces with hooks. */
static struct sl_feature_want node_want(const struct sl_node_state *s)
{
	struct sl_feature_want w = { .live_flows = true };

	for (size_t i = 0; i < s->n_links; i++) {
		w.node_ingress |= !strncmp(s->links[i].name, "xdp@", 4);
		w.pod_hooks |= !strncmp(s->links[i].name, "tc_pod_", 7);
	}
	return w;
}

static void when(__u64 ns, char *buf, size_t len)
{
	time_t t = (time_t)(ns / 1000000000ull);
	struct tm tm;

	if (!ns)
		snprintf(buf, len, "never");
	else
		strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
}

static bool read_cfg(const char *root, struct sl_config *c)
{
	char path[4096];
	__u32 zero = 0;
	int fd;
	bool ok;

	memset(c, 0, sizeof(*c));
	if (sl_pin_path(path, sizeof(path), root, "maps", "sl_config"))
		return false;
	fd = bpf_obj_get(path);
	ok = fd >= 0 && !bpf_map_lookup_elem(fd, &zero, c);
	if (fd >= 0)
		close(fd);
	return ok;
}

/* The policy slots: in sync, or left half written by an interrupted apply,
 * which status repairs (docs/APPLY.md) unless an apply is running. */
static const char *check_slots(const char *root, const struct sl_config *c)
{
	int r;

	if (c->magic != SL_ABI_MAGIC || sl_slots_synced(c))
		return "synced";
	r = sl_repair(root, false, true);
	if (r > 0)
		return "repaired";
	if (r == -EWOULDBLOCK)
		return "apply in progress";
	return r ? "unsynced (repair failed)" : "synced";
}

/* --- text ------------------------------------------------------------------ */

static void text_features(const struct sl_node_state *s)
{
	struct sl_feature_want w = node_want(s);
	char why[256];

	printf("features:\n");
	for (unsigned id = 0; id < SL_FEAT__COUNT; id++) {
		const struct sl_feature_state *f = &s->rec.feat[id];

		printf("  %-16s %-12s %-9s", sl_feature_name(id), feat_status_name(f->status),
		       sl_feature_required(id, &w) ? "required" : "optional");
		if (f->source)
			printf(" source %s", sl_feature_source_name(f->source));
		if (f->status == SL_FS_UNAVAILABLE)
			printf(" - %s", sl_feature_state_reason(id, f, why, sizeof(why)));
		printf("\n");
	}
}

static void text_links(const struct sl_node_state *s)
{
	printf("links:\n");
	for (size_t i = 0; i < s->n_links; i++) {
		const struct sl_link_state *l = &s->links[i];

		printf("  %-22s %-10s", l->name, link_status_name(l->status));
		if (l->status != SL_LINK_MISSING)
			printf(" %-16s id %-6u %-26s", l->prog[0] ? l->prog : "?", l->prog_id,
			       attach_name(l->attach_type));
		if (l->run_cnt)
			printf(" runs %llu avg %.0f ns", (unsigned long long)l->run_cnt,
			       (double)l->run_time_ns / (double)l->run_cnt);
		printf("\n");
	}
	printf("programs pinned: %zu\n", s->n_progs);
}

static void text_maps(const char *root)
{
	struct sl_maps m;

	if (sl_maps_open(root, &m))
		return;
	printf("maps (entries / capacity):\n");
	for (int i = 0; i < SL_MAP__COUNT; i++) {
		struct bpf_map_info info;
		__u32 len = sizeof(info);

		memset(&info, 0, sizeof(info));
		if (bpf_map_get_info_by_fd(m.fd[i], &info, &len))
			continue;
		if (info.type == BPF_MAP_TYPE_HASH || info.type == BPF_MAP_TYPE_LRU_HASH)
			printf("  %-16s %ld / %u\n", sl_map_names[i],
			       sl_map_count(m.fd[i], info.key_size), info.max_entries);
		else
			printf("  %-16s - / %u\n", sl_map_names[i], info.max_entries);
	}
	sl_maps_close(&m);
}

/* The sockops line: the mode, and whether it is attached and why. */
static const char *sockops_text(const struct sl_node_state *s)
{
	switch (s->sockops_mode) {
	case SL_SOCKOPS_OFF:
		return "off (establishment and RTOs read at close())";
	case SL_SOCKOPS_ON:
		return "on (always attached)";
	default:
		if (s->sockops_linked && s->sockops_needed < 0)
			return "auto: attached (the live policy could not be read)";
		if (s->sockops_linked)
			return s->sockops_needed > 0
				       ? "auto: attached (the live policy hands off to the proxy)"
				       : "auto: attached (not needed: the next sweep, whole apply or "
					 "load detaches it)";
		return "auto: not attached (nothing hands off; establishment and RTOs read at "
		       "close())";
	}
}

static void text_status(const char *root, const struct sl_node_state *s, const struct sl_config *c,
			const char *slots)
{
	char t0[64], t1[64];

	printf("pin root:   %s (ABI %u)\n", root, c->abi_version);
	printf("state:      %s\n", s->complete ? "complete" : "INCOMPLETE");
	if (!s->complete) {
		for (const char *p = s->problems; *p;) {
			const char *nl = strchr(p, '\n');

			printf("  - %.*s\n", (int)(nl ? nl - p : (long)strlen(p)), p);
			p = nl ? nl + 1 : p + strlen(p);
		}
		printf("  repair with `sluice load` (same options) or remove with `sluice unload`\n");
	}
	if (s->have_rec) {
		when(s->rec.started_ns, t0, sizeof(t0));
		when(s->rec.finished_ns, t1, sizeof(t1));
		printf("load:       cgroup %s (id %llu), by pid %u, started %s, finished %s\n",
		       s->rec.cgroup[0] ? s->rec.cgroup : "-", (unsigned long long)s->rec.cgroup_id,
		       s->rec.pid, t0, t1);
		printf("sockops:    %s\n", sockops_text(s));
	}
	when(c->applied_ns, t0, sizeof(t0));
	printf("generation: %u (slot %u), applied %s, policy store %u bytes (%u raw)\n",
	       c->generation, c->active_slot, t0, c->store_bytes, c->store_raw_bytes);
	printf("slots:      %s\n", slots);
	if (s->have_rec)
		text_features(s);
	text_links(s);
	text_maps(root);
}

/* --- JSON ------------------------------------------------------------------ */

static void json_problems(FILE *f, const char *p)
{
	bool first = true;

	fputc('[', f);
	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		char buf[512];

		snprintf(buf, sizeof(buf), "%.*s", (int)n, p);
		fputs(first ? "" : ",", f);
		sl_json_str(f, buf);
		first = false;
		p += n + (nl ? 1 : 0);
	}
	fputc(']', f);
}

static void json_features(FILE *f, const struct sl_node_state *s)
{
	struct sl_feature_want w = node_want(s);
	char why[256];

	fputc('[', f);
	for (unsigned id = 0; s->have_rec && id < SL_FEAT__COUNT; id++) {
		const struct sl_feature_state *st = &s->rec.feat[id];
		const char *en = st->err ? strerrorname_np(st->err) : NULL;

		fprintf(f, "%s{\"name\":\"%s\",\"status\":\"%s\",\"required\":%s,\"source\":\"%s\","
			   "\"errno\":",
			id ? "," : "", sl_feature_name(id), feat_status_name(st->status),
			sl_feature_required(id, &w) ? "true" : "false", sl_feature_source_name(st->source));
		if (en)
			fprintf(f, "\"%s\"", en);
		else
			fputs("null", f);
		fputs(",\"reason\":", f);
		if (st->status == SL_FS_UNAVAILABLE)
			sl_json_str(f, sl_feature_state_reason(id, st, why, sizeof(why)));
		else
			fputs("null", f);
		fputs(",\"what\":", f);
		sl_json_str(f, sl_feature_what(id));
		fputc('}', f);
	}
	fputc(']', f);
}

static void json_links(FILE *f, const struct sl_node_state *s)
{
	fputc('[', f);
	for (size_t i = 0; i < s->n_links; i++) {
		const struct sl_link_state *l = &s->links[i];

		fprintf(f, "%s{\"name\":", i ? "," : "");
		sl_json_str(f, l->name);
		fprintf(f, ",\"status\":\"%s\",\"required\":%s,\"program\":", link_status_name(l->status),
			l->required ? "true" : "false");
		sl_json_str(f, l->prog);
		fprintf(f, ",\"program_id\":%u,\"attach_type\":\"%s\",\"cgroup_id\":%llu,\"ifindex\":%u,"
			   "\"runs\":%llu,\"run_ns\":%llu}",
			l->prog_id, l->status == SL_LINK_MISSING ? "" : attach_name(l->attach_type),
			(unsigned long long)l->cgroup_id, l->ifindex, (unsigned long long)l->run_cnt,
			(unsigned long long)l->run_time_ns);
	}
	fputc(']', f);
}

static void json_status(const char *root, const struct sl_node_state *s, const struct sl_config *c,
			const char *slots)
{
	FILE *f = stdout;

	fputs("{\"pin_root\":", f);
	sl_json_str(f, root);
	fprintf(f, ",\"abi\":%u,\"complete\":%s,\"problems\":", c->abi_version,
		s->complete ? "true" : "false");
	json_problems(f, s->problems);
	fprintf(f, ",\"load\":{\"phase\":\"%s\",\"pid\":%u,\"loader_running\":%s,\"started_ns\":%llu,"
		   "\"finished_ns\":%llu,\"cgroup\":",
		!s->have_rec ? "none" : s->rec.phase == SL_LOAD_COMPLETE ? "complete" : "loading",
		s->rec.pid, s->loader_running ? "true" : "false",
		(unsigned long long)s->rec.started_ns, (unsigned long long)s->rec.finished_ns);
	sl_json_str(f, s->rec.cgroup);
	fprintf(f, ",\"cgroup_id\":%llu,\"sockops\":%s,\"sockops_mode\":\"%s\"},\"generation\":%u,"
		   "\"slots\":\"%s\",\"features\":",
		(unsigned long long)s->rec.cgroup_id, s->sockops_linked ? "true" : "false",
		sl_sockops_mode_name(s->sockops_mode), c->generation, slots);
	json_features(f, s);
	fputs(",\"links\":", f);
	json_links(f, s);
	fputs(",\"programs\":[", f);
	for (size_t i = 0; i < s->n_progs; i++) {
		fputs(i ? "," : "", f);
		sl_json_str(f, s->progs[i]);
	}
	fprintf(f, "],\"maps_complete\":%s,\"missing_maps\":", s->maps_ok ? "true" : "false");
	sl_json_str(f, s->missing_maps);
	fputs("}\n", f);
}

int cmd_status(struct sl_cli *c)
{
	static const struct option opts[] = { { "output", required_argument, NULL, 'o' }, { 0 } };
	struct sl_node_state s;
	struct sl_config cfg;
	const char *slots;
	bool json = false;
	int opt;

	while ((opt = getopt_long(c->argc, c->argv, "o:", opts, NULL)) != -1) {
		if (opt == 'o' && (!strcmp(optarg, "json") || !strcmp(optarg, "table"))) {
			json = !strcmp(optarg, "json");
			continue;
		}
		fprintf(stderr, "usage: sluice status [-o table|json]\n");
		return SL_EXIT_USAGE;
	}
	if (sl_node_inspect(c->pin_root, &s)) {
		fprintf(stderr, "sluice status: %s: not loaded\n", c->pin_root);
		return SL_EXIT_FAIL;
	}
	/* sockops left attached under auto with nothing to hand off (an
	 * apply stopped before its detach): mend it, as the agent's sweep
	 * does, and show the node as it is then. */
	if (s.sockops_mode == SL_SOCKOPS_AUTO && s.sockops_linked && !s.sockops_needed &&
	    sl_repair(c->pin_root, false, true) >= 0) {
		sl_node_state_free(&s);
		if (sl_node_inspect(c->pin_root, &s)) {
			fprintf(stderr, "sluice status: %s: not loaded\n", c->pin_root);
			return SL_EXIT_FAIL;
		}
	}
	read_cfg(c->pin_root, &cfg);
	slots = check_slots(c->pin_root, &cfg);
	if (json)
		json_status(c->pin_root, &s, &cfg, slots);
	else
		text_status(c->pin_root, &s, &cfg, slots);
	opt = s.complete ? SL_EXIT_OK : SL_EXIT_FAIL;
	sl_node_state_free(&s);
	return opt;
}

/* `sluice features [-o json] [--iface] [--pod-iface]`: what this kernel
 * allows, probed now, with the kernel's errno; nothing is loaded. Tests
 * use it to decide skips; operators to see what a load would degrade. */
int cmd_features(struct sl_cli *c)
{
	static const struct option opts[] = { { "output", required_argument, NULL, 'o' },
					      { "iface", no_argument, NULL, 'i' },
					      { "pod-iface", no_argument, NULL, 'p' },
					      { 0 } };
	struct sl_feature_want w = { .live_flows = true };
	struct sl_features f;
	bool json = false;
	char why[256];
	int opt;

	while ((opt = getopt_long(c->argc, c->argv, "o:", opts, NULL)) != -1) {
		if (opt == 'o' && (!strcmp(optarg, "json") || !strcmp(optarg, "table")))
			json = !strcmp(optarg, "json");
		else if (opt == 'i')
			w.node_ingress = true;
		else if (opt == 'p')
			w.pod_hooks = true;
		else {
			fprintf(stderr, "usage: sluice features [-o table|json] [--iface] [--pod-iface]\n");
			return SL_EXIT_USAGE;
		}
	}
	opt = sl_features_probe(&w, &f) ? SL_EXIT_FAIL : SL_EXIT_OK;
	printf(json ? "{\"features\":[" : "%-16s %-12s %-9s %s\n", "FEATURE", "STATUS", "NEED",
	       "REASON");
	for (unsigned id = 0; id < SL_FEAT__COUNT; id++) {
		const struct sl_feature_state *st = &f.st[id];
		const char *en = st->err ? strerrorname_np(st->err) : NULL;
		const char *reason = st->status == SL_FS_UNAVAILABLE
					     ? sl_feature_reason(id, st->err, why, sizeof(why))
					     : "";

		if (!json) {
			printf("%-16s %-12s %-9s %s\n", sl_feature_name(id), feat_status_name(st->status),
			       sl_feature_required(id, &w) ? "required" : "optional", reason);
			continue;
		}
		printf("%s{\"name\":\"%s\",\"status\":\"%s\",\"required\":%s,\"errno\":", id ? "," : "",
		       sl_feature_name(id), feat_status_name(st->status),
		       sl_feature_required(id, &w) ? "true" : "false");
		if (en)
			printf("\"%s\"", en);
		else
			fputs("null", stdout);
		fputs(",\"reason\":", stdout);
		sl_json_str(stdout, reason);
		fputs(",\"what\":", stdout);
		sl_json_str(stdout, sl_feature_what(id));
		fputc('}', stdout);
	}
	if (json)
		puts("]}");
	return opt;
}
