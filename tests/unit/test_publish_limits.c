// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Limits of an apply (docs/APPLY.md, "Limits"):
 *  - hostile YAML is rejected in linear time, as libyaml reads, and before
 *    the pin-root lock is taken;
 *  - a full map or an oversize policy store is an error that names the
 *    map, the sizes and the objects, never a bare E2BIG; --dry-run finds
 *    the same errors; nothing live changes;
 *  - a publication that fails half-way (a map filled up under it) leaves
 *    the live policy alone and the next apply repairs the other slot.
 *
 * Needs root and bpffs for the cases that touch maps.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <bpf/bpf.h>

#include "apply.h"
#include "loader.h"
#include "pins.h"
#include "publish.h"
#include "slotdump.h"
#include "unit.h"
#include "util.h"

static char root[128];

static double cpu_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int apply_src(const char *text, size_t len, bool dry, struct sl_diags *d)
{
	struct sl_source src = { "case.yaml", text, len };
	struct sl_apply_result r;

	return sl_apply(root, &src, 1, SL_APPLY_REPLACE, dry, d, &r);
}

static bool has_error(const struct sl_diags *d, const char *needle)
{
	char *t = diag_text(d, SL_SEV_NOTE);
	bool ok = t && strstr(t, needle);

	free(t);
	return ok;
}

/* ---- parsing ------------------------------------------------------------ */

/* Each is 200 KB of something that once made libyaml work quadratically
 * (or our duplicate-key check): CPU time, so a busy machine cannot flake
 * it. The bound is 100 ms; the old code took about a minute. */
static void hostile_yaml_linear(void)
{
	static const struct {
		const char *unit, *want;
	} cases[] = {
		{ "[", "case.yaml:1:66: error: nesting too deep" },
		{ "{", "mapping keys must be scalars" },
		{ "- ", "nesting too deep" },
		{ "[a, ", "nesting too deep" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t ul = strlen(cases[i].unit), n = 200 * 1024 / ul;
		char *buf = malloc(n * ul + 2);
		struct sl_diags d = { 0 };
		double t0;
		int err;

		for (size_t k = 0; k < n; k++)
			memcpy(buf + k * ul, cases[i].unit, ul);
		buf[n * ul] = '\n';
		t0 = cpu_ms();
		err = apply_src(buf, n * ul + 1, true, &d);
		t0 = cpu_ms() - t0;
		if (err != -EINVAL || !has_error(&d, cases[i].want))
			fail_msg(__LINE__, "200 KB of \"%s\": %d, want rejection with \"%s\"",
				 cases[i].unit, err, cases[i].want);
		else if (t0 > 100)
			fail_msg(__LINE__, "200 KB of \"%s\" took %.0f ms of CPU, the limit is 100",
				 cases[i].unit, t0);
		sl_diags_free(&d);
		free(buf);
	}
}

/* 40,000 keys with 20,000 repeats: one duplicate reported, the first one
 * in document order, without comparing every pair. */
static void many_keys(void)
{
	size_t cap = 1 << 20, len = 0;
	char *b = malloc(cap);
	struct sl_diags d = { 0 };
	double t0;

	len += (size_t)snprintf(b, cap, "apiVersion: v1\nkind: Service\nmetadata:\n  name: x\n"
				"  labels:\n");
	for (int i = 0; i < 40000; i++)
		len += (size_t)snprintf(b + len, cap - len, "    k%d: v\n", i % 20000);
	t0 = cpu_ms();
	if (apply_src(b, len, true, &d) != -EINVAL ||
	    !has_error(&d, "case.yaml:20006:5: error: duplicate key \"k0\""))
		fail_msg(__LINE__, "duplicate key not reported where it first repeats");
	else if (cpu_ms() - t0 > 2000)
		fail_msg(__LINE__, "40,000 keys took %.0f ms of CPU", cpu_ms() - t0);
	sl_diags_free(&d);
	free(b);
}

/* A bad file is rejected while another CLI holds the pin-root lock: the
 * input is read and parsed before the lock. */
static void rejected_without_lock(void)
{
	int fd = open(root, O_RDONLY | O_DIRECTORY), status = 0;
	pid_t pid;

	if (fd < 0 || flock(fd, LOCK_EX)) {
		fail_msg(__LINE__, "cannot take the lock: %s", strerror(errno));
		return;
	}
	pid = fork();
	if (pid == 0) {
		struct sl_diags d = { 0 };
		const char *bad = "apiVersion: v1\nkind: Service\nmetadata: {name: [}\n";

		alarm(10); /* the old code waited for the lock: fail, do not hang */
		_exit(apply_src(bad, strlen(bad), false, &d) == -EINVAL && d.n_errors ? 0 : 1);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status))
		fail_msg(__LINE__, "a bad file waited for the lock or was not rejected (status %#x)",
			 status);
	flock(fd, LOCK_UN);
	close(fd);
}

/* ---- the store ---------------------------------------------------------- */

/* Three Services whose annotations hold 16 MB of base64 noise each: 48 MB
 * of YAML that compresses to about 36 MB, over the 32 MiB store slot. */
static char *noisy_policy(size_t *len)
{
	static const char b64[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t cap = 50u << 20, n = 0;
	char *b = malloc(cap);
	unsigned long long x = 88172645463325252ull;

	for (int s = 0; s < 3 && b; s++) {
		n += (size_t)snprintf(b + n, cap - n,
			"apiVersion: v1\nkind: Service\nmetadata:\n  name: big-%d\n  namespace: t\n"
			"  annotations:\n    blob: \"", s);
		for (size_t i = 0; i < (16u << 20) - (size_t)s * 1024; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			b[n++] = b64[x & 63];
		}
		n += (size_t)snprintf(b + n, cap - n, "\"\nspec: {clusterIP: 10.96.9.%d, ports: "
				      "[{port: 80}]}\n---\n", s + 1);
	}
	*len = n;
	return b;
}

static void store_limit_named(void)
{
	struct sl_config before, after;
	struct sl_maps m;
	size_t len;
	char *text = noisy_policy(&len);

	if (!text || sl_maps_open(root, &m) || sl_read_config(&m, &before)) {
		fail_msg(__LINE__, "setup");
		free(text);
		return;
	}
	for (int dry = 1; dry >= 0; dry--) {
		struct sl_diags d = { 0 };
		int err = apply_src(text, len, dry, &d);

		if (err != -EINVAL)
			fail_msg(__LINE__, "%s: %s, want a rejection", dry ? "dry run" : "apply",
				 err ? strerror(-err) : "accepted");
		else if (!has_error(&d, "<policy>: error: sl_store: the policy is ") ||
			 !has_error(&d, "one slot of the policy store holds 33554432 bytes") ||
			 !has_error(&d, "case.yaml:1:1: note: Service t/big-0 is"))
			fail_msg(__LINE__, "%s: the error does not name the store, its size and the "
				 "largest object", dry ? "dry run" : "apply");
		sl_diags_free(&d);
	}
	if (sl_read_config(&m, &after) || memcmp(&before, &after, sizeof(before)))
		fail_msg(__LINE__, "the rejected apply changed the config record");
	sl_maps_close(&m);
	free(text);
}

/* ---- full maps ---------------------------------------------------------- */

/* Service s-I with N endpoints 127.4.I.j. */
static size_t gen_svc(char *b, size_t cap, int i, int n)
{
	size_t len = (size_t)snprintf(b, cap,
		"apiVersion: v1\nkind: Service\nmetadata: {name: s-%d, namespace: t}\n"
		"spec: {clusterIP: 10.96.4.%d, ports: [{port: 80, targetPort: 8080}]}\n---\n"
		"apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
		"metadata: {name: s-%d, namespace: t, labels: {kubernetes.io/service-name: s-%d}}\n"
		"addressType: IPv4\nports: [{port: 8080}]\nendpoints:\n", i, i + 1, i, i);

	for (int j = 0; j < n; j++)
		len += (size_t)snprintf(b + len, cap - len, "- addresses: [127.4.%d.%d]\n", i, j + 1);
	return len + (size_t)snprintf(b + len, cap - len, "---\n");
}

static char *gen(int svcs, int eps, int bumped, size_t *len)
{
	size_t cap = 1 << 20;
	char *b = malloc(cap);

	*len = 0;
	for (int i = 0; i < svcs; i++)
		*len += gen_svc(b + *len, cap - *len, i, eps + (i == bumped ? 8 : 0));
	return b;
}

/* The state id the junk below holds: a free one, marked in use with one
 * connection so that no sweep frees it. */
static __u32 junk_id;

/* Fill the directory sl_ep_ids with pairs that left the policy but still
 * count a connection (so no sweep may free them), leaving FREE. */
static int fill_ep_ids(struct sl_maps *m, size_t free_left)
{
	int fd = m->fd[SL_MAP_EP_IDS];
	size_t want = sl_map_capacity(fd) - free_left - (size_t)sl_map_count(fd, sizeof(struct sl_ep_key));
	struct sl_ep_key *k = calloc(4096, sizeof(*k));
	struct sl_state_ref *v = calloc(4096, sizeof(*v));
	struct sl_ep_state st;
	int err = k && v ? 0 : -ENOMEM;

	for (junk_id = SL_MAX_EP_STATE - 1; !err && junk_id > 0; junk_id--)
		if (!bpf_map_lookup_elem(m->fd[SL_MAP_EP_STATE], &junk_id, &st) && !st.in_use)
			break;
	memset(&st, 0, sizeof(st));
	st.active = 1;
	st.in_use = 1;
	if (!err && bpf_map_update_elem(m->fd[SL_MAP_EP_STATE], &junk_id, &st, BPF_ANY))
		err = -errno;
	for (size_t done = 0; !err && done < want;) {
		__u32 n = want - done < 4096 ? (__u32)(want - done) : 4096;

		for (__u32 i = 0; i < n; i++) {
			__u32 id = (__u32)(done + i);

			k[i].fe.family = k[i].ep.family = SL_AF_INET;
			k[i].fe.addr[0] = htonl(0x0a630000 | (id >> 16));
			k[i].ep.addr[0] = htonl(0x7f630000 | (id & 0xffff));
			v[i].id = junk_id;
			v[i].status = SL_STATE_RETIRING;
			v[i].since_ns = sl_now_mono_ns();
		}
		err = bpf_map_update_batch(fd, k, v, &n, NULL) ? -errno : 0;
		done += n;
	}
	free(k);
	free(v);
	return err;
}

static void clear_junk(struct sl_maps *m)
{
	struct sl_ep_state zero = { 0 };
	size_t n;
	struct sl_ep_key *k = sl_map_keys(m->fd[SL_MAP_EP_IDS], sizeof(*k), &n);

	for (size_t i = 0; k && i < n; i++)
		if ((ntohl(k[i].fe.addr[0]) >> 16) == 0x0a63)
			bpf_map_delete_elem(m->fd[SL_MAP_EP_IDS], &k[i]);
	free(k);
	if (junk_id)
		bpf_map_update_elem(m->fd[SL_MAP_EP_STATE], &junk_id, &zero, BPF_ANY);
}

/* The live policy: 20 services of 3 endpoints. Then the map is filled to
 * 5 free records and a change needs 8 more: the dry run's check from
 * counts rejects it, and so does the apply, which is incremental (no
 * check from counts) and fails half-way, before the switch. */
static void map_full_named(void)
{
	struct sl_config before, after;
	struct sl_maps m;
	size_t len;
	char *base = gen(20, 3, -1, &len), *more;
	struct sl_diags d = { 0 };
	static const char want[] = "<policy>: error: sl_ep_ids: map full: the policy needs 8 "
				   "new (service, endpoint) state ids, 5 of 262144 are free";

	if (apply_src(base, len, false, &d) || sl_maps_open(root, &m)) {
		fail_msg(__LINE__, "cannot apply the base policy");
		free(base);
		return;
	}
	more = gen(20, 3, 7, &len);
	if (fill_ep_ids(&m, 5) || sl_read_config(&m, &before)) {
		fail_msg(__LINE__, "cannot fill sl_ep_ids");
		goto out;
	}
	for (int dry = 1; dry >= 0; dry--) {
		int err = apply_src(more, len, dry, &d);

		if (err != -EINVAL || !has_error(&d, want)) {
			char *t = diag_text(&d, SL_SEV_NOTE);

			fail_msg(__LINE__, "%s: %s (%s), want the error \"%s...\"",
				 dry ? "dry run" : "incremental apply",
				 err ? strerror(-err) : "accepted", t ? t : "", want);
			free(t);
		}
		sl_diags_free(&d);
	}
	if (sl_read_config(&m, &after) || after.generation != before.generation ||
	    after.active_slot != before.active_slot)
		fail_msg(__LINE__, "the rejected apply switched slots");
	else if (sl_slot_verify(&m, after.active_slot, NULL) != 1)
		fail_msg(__LINE__, "the live slot no longer equals the store");
	clear_junk(&m);
	/* The half-written slot is repaired by the next apply. */
	if (apply_src(more, len, false, &d) || sl_read_config(&m, &after) ||
	    !sl_slots_synced(&after) || sl_slot_verify(&m, 0, NULL) != 1 ||
	    sl_slot_verify(&m, 1, NULL) != 1)
		fail_msg(__LINE__, "the next apply did not leave both slots equal to the store");
out:
	sl_diags_free(&d);
	clear_junk(&m);
	sl_maps_close(&m);
	free(base);
	free(more);
}

int main(void)
{
	struct sl_load_opts o = { .no_attach = true };
	int err;

	snprintf(root, sizeof(root), "/sys/fs/bpf/sluice-limits-%d", getpid());
	o.pin_root = root;
	if (geteuid() != 0 || sl_check_bpffs(root)) {
		printf("skip limits/all: missing root privileges or bpffs at /sys/fs/bpf\n");
		return 0;
	}
	err = sl_load(&o);
	if (err) {
		result("limits/load-maps", "sl_load: %s", strerror(-err));
		sl_unload(root);
		return 1;
	}
	run("limits/hostile-yaml-linear", hostile_yaml_linear);
	run("limits/many-keys", many_keys);
	run("limits/rejected-without-lock", rejected_without_lock);
	run("limits/store-size-named", store_limit_named);
	run("limits/map-full-named", map_full_named);
	sl_unload(root);
	return failures ? 1 : 0;
}
