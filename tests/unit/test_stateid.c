// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Unit tests of the state ids (user/stateid.c) against real maps of the
 * data plane's shape (created here, not pinned): a pair keeps its id and
 * its state, an endpoint of two services has two, a pair that left the
 * policy keeps its id while it comes back or holds connections, and its id
 * is freed (state cleared, generation kept) only after the grace with
 * nothing on it, then handed out again under a new generation.
 *
 * Needs root (BPF maps); fails without it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <bpf/bpf.h>

#include "stateid.h"
#include "unit.h"
#include "util.h"

static struct sl_state_maps sm;

static struct sl_l4addr l4(const char *ip, unsigned port)
{
	struct sl_l4addr a;

	memset(&a, 0, sizeof(a));
	inet_pton(AF_INET, ip, a.addr);
	a.port = htons((unsigned short)port);
	a.proto = 6;
	a.family = SL_AF_INET;
	return a;
}

static int mk(enum bpf_map_type t, __u32 ks, __u32 vs, __u32 n, __u32 flags)
{
	LIBBPF_OPTS(bpf_map_create_opts, o, .map_flags = flags);

	return bpf_map_create(t, NULL, ks, vs, n, &o);
}

static int setup(void)
{
	sm.ep_ids = mk(BPF_MAP_TYPE_HASH, sizeof(struct sl_ep_key), sizeof(struct sl_state_ref),
		       SL_MAX_EP_STATE, BPF_F_NO_PREALLOC);
	sm.ep_state = mk(BPF_MAP_TYPE_ARRAY, 4, sizeof(struct sl_ep_state), SL_MAX_EP_STATE, 0);
	sm.group_ids = mk(BPF_MAP_TYPE_HASH, sizeof(struct sl_group_key),
			  sizeof(struct sl_state_ref), SL_MAX_GROUP_STATE, BPF_F_NO_PREALLOC);
	sm.group_state = mk(BPF_MAP_TYPE_ARRAY, 4, sizeof(struct sl_group_state),
			    SL_MAX_GROUP_STATE, 0);
	return sm.ep_ids < 0 || sm.ep_state < 0 || sm.group_ids < 0 || sm.group_state < 0 ? -1 : 0;
}

static struct sl_ep_state ep_at(__u32 id)
{
	struct sl_ep_state st;

	memset(&st, 0, sizeof(st));
	bpf_map_lookup_elem(sm.ep_state, &id, &st);
	return st;
}

static void ep_put(__u32 id, const struct sl_ep_state *st)
{
	bpf_map_update_elem(sm.ep_state, &id, st, BPF_ANY);
}

/* The directory entry of (FE, EP), or status 0 when there is none. */
static struct sl_state_ref ref_of(const struct sl_l4addr *fe, const struct sl_l4addr *ep)
{
	struct sl_state_ref r;
	struct sl_ep_key k;

	memset(&k, 0, sizeof(k));
	memset(&r, 0, sizeof(r));
	k.fe = *fe;
	k.ep = *ep;
	bpf_map_lookup_elem(sm.ep_ids, &k, &r);
	return r;
}

/* Pretend the pair started retiring AGO_NS ago. */
static void age(const struct sl_l4addr *fe, const struct sl_l4addr *ep, __u64 ago_ns)
{
	struct sl_state_ref r = ref_of(fe, ep);
	struct sl_ep_key k;

	memset(&k, 0, sizeof(k));
	k.fe = *fe;
	k.ep = *ep;
	r.since_ns = sl_now_mono_ns() - ago_ns;
	bpf_map_update_elem(sm.ep_ids, &k, &r, BPF_EXIST);
}

static const struct sl_tables empty_tables;

static void t_same_pair(void)
{
	struct sl_l4addr fe = l4("10.96.0.1", 80), ep = l4("127.1.0.1", 8080);
	__u32 a = 0, b = 0;

	CHECK(!sl_stateid_ep(&sm, &fe, &ep, &a) && a > 0 && a < SL_MAX_EP_STATE, "id %u", a);
	CHECK(!sl_stateid_ep(&sm, &fe, &ep, &b) && a == b, "second id %u, first %u", b, a);
	CHECK(ep_at(a).in_use == 1 && ep_at(a).gen >= 1, "in_use %u gen %u", ep_at(a).in_use,
	      ep_at(a).gen);
}

static void t_shared_endpoint(void)
{
	struct sl_l4addr fa = l4("10.96.0.2", 80), fb = l4("10.96.0.3", 80);
	struct sl_l4addr ep = l4("127.1.0.2", 8080);
	__u32 a = 0, b = 0;

	CHECK(!sl_stateid_ep(&sm, &fa, &ep, &a) && !sl_stateid_ep(&sm, &fb, &ep, &b), "assign");
	CHECK(a != b, "one endpoint behind two services shares id %u", a);
}

static void t_groups(void)
{
	struct sl_l4addr fe = l4("10.96.0.4", 80);
	__u32 a = 0, b = 0, c = 0;

	CHECK(!sl_stateid_group(&sm, &fe, 0, &a) && !sl_stateid_group(&sm, &fe, 7, &b) &&
		      !sl_stateid_group(&sm, &fe, 0, &c),
	      "assign");
	CHECK(a && b && a != b && a == c, "ids %u %u %u", a, b, c);
}

/* Left and back before the sweep frees it: same id, counters kept. */
static void t_comes_back(void)
{
	struct sl_l4addr fe = l4("10.96.0.5", 80), ep = l4("127.1.0.5", 8080);
	struct sl_ep_state st;
	__u32 a = 0, b = 0;

	CHECK(!sl_stateid_ep(&sm, &fe, &ep, &a), "assign");
	st = ep_at(a);
	st.opened = 7;
	ep_put(a, &st);
	sl_stateid_retire_ep(&sm, &fe, &ep);
	CHECK(ref_of(&fe, &ep).status == SL_STATE_RETIRING, "not RETIRING");
	CHECK(!sl_stateid_ep(&sm, &fe, &ep, &b) && a == b, "back with id %u, was %u", b, a);
	CHECK(ref_of(&fe, &ep).status == SL_STATE_ASSIGNED && ep_at(b).opened == 7,
	      "status %u opened %llu", ref_of(&fe, &ep).status,
	      (unsigned long long)ep_at(b).opened);
}

/* RETIRING is freed only past the grace and with no connection on it. */
static void t_freed_when_idle(void)
{
	struct sl_l4addr fe = l4("10.96.0.6", 80), ep = l4("127.1.0.6", 8080);
	struct sl_ep_state st;
	__u32 a = 0, b = 0;
	__u16 gen;

	CHECK(!sl_stateid_ep(&sm, &fe, &ep, &a), "assign");
	st = ep_at(a);
	gen = st.gen;
	st.active = 1;
	st.opened = 3;
	ep_put(a, &st);
	sl_stateid_retire_ep(&sm, &fe, &ep);
	sl_stateid_sweep(&sm, &empty_tables);
	CHECK(ref_of(&fe, &ep).id == a, "freed within the grace");
	age(&fe, &ep, 3 * SL_STATE_GRACE_NS);
	sl_stateid_sweep(&sm, &empty_tables);
	CHECK(ref_of(&fe, &ep).id == a, "freed with a connection on it");
	st.active = 0;
	ep_put(a, &st);
	sl_stateid_sweep(&sm, &empty_tables);
	CHECK(ref_of(&fe, &ep).status == 0, "not freed: idle past the grace");
	st = ep_at(a);
	CHECK(!st.in_use && !st.opened && st.gen == gen, "freed state: in_use %u opened %llu gen %u",
	      st.in_use, (unsigned long long)st.opened, st.gen);
	/* The same pair hashes to the same probe start: it gets the id back,
	 * zeroed, under the next generation. */
	CHECK(!sl_stateid_ep(&sm, &fe, &ep, &b) && b == a, "id %u after the free, was %u", b, a);
	st = ep_at(b);
	CHECK(st.in_use && st.gen == (__u16)(gen + 1) && !st.opened, "gen %u (was %u) opened %llu",
	      st.gen, gen, (unsigned long long)st.opened);
}

/* A sweep with the live tables retires every pair they do not hold. */
static void t_sweep_retires(void)
{
	struct sl_l4addr fe = l4("10.96.0.7", 80), keep = l4("127.1.0.7", 8080);
	struct sl_l4addr gone = l4("127.1.0.8", 8080);
	struct sl_table_svc svc;
	struct sl_table_backend row;
	struct sl_tables live = { .svcs = &svc, .n_svcs = 1, .backends = &row, .n_backends = 1 };
	__u32 a, b;

	memset(&svc, 0, sizeof(svc));
	memset(&row, 0, sizeof(row));
	svc.fe = fe;
	svc.val.n_groups = 1;
	svc.val.groups[0].count = 1;
	row.be.ep = keep;
	CHECK(!sl_stateid_ep(&sm, &fe, &keep, &a) && !sl_stateid_ep(&sm, &fe, &gone, &b), "assign");
	sl_stateid_sweep(&sm, &live);
	CHECK(ref_of(&fe, &keep).status == SL_STATE_ASSIGNED, "live pair retired");
	CHECK(ref_of(&fe, &gone).status == SL_STATE_RETIRING, "gone pair not retired");
}

/* assign_all agrees with one-by-one ids, duplicates included. */
static void t_assign_all(void)
{
	struct sl_l4addr fe = l4("10.96.0.9", 80), fe2 = l4("10.96.0.10", 80);
	struct sl_table_svc svcs[2];
	struct sl_table_backend rows[3];
	struct sl_tables t = { .svcs = svcs, .n_svcs = 2, .backends = rows, .n_backends = 3 };
	struct sl_state_ids ids;
	__u32 id;

	memset(svcs, 0, sizeof(svcs));
	memset(rows, 0, sizeof(rows));
	svcs[0].fe = fe;
	svcs[0].val.n_groups = 2;
	svcs[0].val.groups[1].tag = 9;
	svcs[1].fe = fe2;
	svcs[1].val.n_groups = 1;
	rows[0].be.ep = rows[1].be.ep = rows[2].be.ep = l4("127.1.0.9", 8080);
	rows[2].svc = 1;
	CHECK(!sl_stateid_assign_all(&sm, &t, &ids), "assign_all");
	CHECK(ids.rows[0] && ids.rows[0] == ids.rows[1] && ids.rows[2] && ids.rows[2] != ids.rows[0],
	      "rows %u %u %u", ids.rows[0], ids.rows[1], ids.rows[2]);
	CHECK(!sl_stateid_ep(&sm, &fe2, &rows[2].be.ep, &id) && id == ids.rows[2], "row 2");
	CHECK(ids.groups[0] && ids.groups[1] && ids.groups[0] != ids.groups[1] &&
		      ids.groups[SL_MAX_GROUPS] && !ids.groups[2],
	      "groups %u %u %u", ids.groups[0], ids.groups[1], ids.groups[SL_MAX_GROUPS]);
	sl_state_ids_free(&ids);
}

static void t_readers(void)
{
	struct sl_l4addr fe = l4("10.96.0.11", 80), ep = l4("127.1.0.11", 8080);
	struct sl_ep_state st;
	struct sl_state_ref ref;
	__u32 a;

	CHECK(sl_state_ep_read(&sm, &fe, &ep, &st, &ref) == -ENOENT, "read before assign");
	CHECK(!sl_stateid_ep(&sm, &fe, &ep, &a), "assign");
	st = ep_at(a);
	st.active = 2;
	ep_put(a, &st);
	memset(&st, 0, sizeof(st));
	CHECK(!sl_state_ep_read(&sm, &fe, &ep, &st, &ref) && st.active == 2 && ref.id == a, "read");
	sl_stateid_retire_ep(&sm, &fe, &ep);
	CHECK(!sl_state_ep_read(&sm, &fe, &ep, &st, &ref) && !sl_state_gone(&ref, st.active),
	      "a RETIRING pair with connections is still there for readers");
	CHECK(sl_state_gone(&ref, 0), "a RETIRING pair without connections is gone");
}

/* One group's endpoints at once: a pair already there keeps its id, a
 * RETIRING one takes its id back, new ones (a duplicate among them) get
 * distinct new ids with a fresh state, all as one pair at a time would. */
static void t_eps_batch(void)
{
	struct sl_l4addr fe = l4("10.96.0.14", 80), eps[5];
	__u32 ids[5], kept, back, id;
	struct sl_ep_state st;

	eps[0] = l4("127.4.0.1", 8080);
	eps[1] = l4("127.4.0.2", 8080);
	eps[2] = l4("127.4.0.3", 8080);
	eps[3] = l4("127.4.0.4", 8080);
	eps[4] = eps[2];
	CHECK(!sl_stateid_ep(&sm, &fe, &eps[0], &kept), "assign kept");
	CHECK(!sl_stateid_ep(&sm, &fe, &eps[1], &back), "assign back");
	st = ep_at(back);
	st.opened = 5;
	ep_put(back, &st);
	sl_stateid_retire_ep(&sm, &fe, &eps[1]);
	CHECK(!sl_stateid_eps(&sm, &fe, eps, 5, ids), "sl_stateid_eps");
	CHECK(ids[0] == kept && ids[1] == back && ep_at(back).opened == 5, "kept %u/%u, back %u/%u",
	      ids[0], kept, ids[1], back);
	CHECK(ref_of(&fe, &eps[1]).status == SL_STATE_ASSIGNED, "the RETIRING pair is assigned again");
	CHECK(ids[2] && ids[3] && ids[2] != ids[3] && ids[4] == ids[2] && ids[2] != kept &&
		      ids[3] != kept && ids[2] != back && ids[3] != back,
	      "new ids %u %u (duplicate %u)", ids[2], ids[3], ids[4]);
	CHECK(ep_at(ids[2]).in_use && ep_at(ids[3]).in_use && !ep_at(ids[3]).active, "new states");
	CHECK(!sl_stateid_ep(&sm, &fe, &eps[3], &id) && id == ids[3], "one at a time agrees");
}

/* Sets in_use of ep_state ids [LO, HI) to USE, as taken or free ids. */
static void fill(__u32 lo, __u32 hi, bool use)
{
	static struct sl_ep_state v[4096];
	static __u32 k[4096];

	for (__u32 at = lo; at < hi;) {
		__u32 n = hi - at < 4096 ? hi - at : 4096;

		for (__u32 i = 0; i < n; i++) {
			memset(&v[i], 0, sizeof(v[i]));
			v[i].in_use = use;
			k[i] = at + i;
		}
		CHECK(!bpf_map_update_batch(sm.ep_state, k, v, &n, NULL), "fill [%u, %u): %s", lo, hi,
		      strerror(errno));
		at += n;
	}
}

/* Empties the endpoint directory: what earlier cases retired would
 * otherwise be freed by the sweep a full id space runs, once its grace is
 * over (on a slow VM, before these cases run). */
static void clear_dir(void)
{
	struct sl_ep_key k;

	while (!bpf_map_get_next_key(sm.ep_ids, NULL, &k))
		bpf_map_delete_elem(sm.ep_ids, &k);
}

/* Wherever the one free id is (after the hash's start or before it, at
 * either end of the space), a new pair gets it. */
static void t_last_free_id(void)
{
	static const __u32 spots[] = { 1, 2, 123457, SL_MAX_EP_STATE - 1 };
	struct sl_l4addr fe = l4("10.96.0.12", 80);
	char ip[32];
	__u32 id = 0;

	for (size_t i = 0; i < sizeof(spots) / sizeof(spots[0]); i++) {
		struct sl_l4addr ep;

		clear_dir();
		fill(1, SL_MAX_EP_STATE, true);
		fill(spots[i], spots[i] + 1, false);
		snprintf(ip, sizeof(ip), "127.2.0.%zu", i + 1);
		ep = l4(ip, 8080);
		CHECK(!sl_stateid_ep(&sm, &fe, &ep, &id) && id == spots[i], "free id %u: got %u",
		      spots[i], id);
		CHECK(sl_stateid_ep(&sm, &fe, &(struct sl_l4addr){ .family = SL_AF_INET, .port = 1 },
				    &id) == -ENOSPC, "none free: -ENOSPC");
	}
	fill(1, SL_MAX_EP_STATE, false);
}

/* One service (frontend 10.96.0.SVC:80) of three endpoints 127.EPS.0.1-3,
 * all of whose ids are free except FREE[0..NFREE) (the directory empty,
 * so that no sweep can free another). */
struct three {
	struct sl_table_svc svc;
	struct sl_table_backend rows[3];
	struct sl_tables t;
};

static void three_new_pairs(struct three *x, unsigned svc, unsigned eps, const __u32 *free_ids,
			    size_t nfree)
{
	char ip[32];

	memset(x, 0, sizeof(*x));
	snprintf(ip, sizeof(ip), "10.96.0.%u", svc);
	x->svc.fe = l4(ip, 80);
	x->svc.val.n_groups = 1;
	for (int i = 0; i < 3; i++) {
		snprintf(ip, sizeof(ip), "127.%u.0.%d", eps, i + 1);
		x->rows[i].be.ep = l4(ip, 8080);
	}
	x->t = (struct sl_tables){ .svcs = &x->svc, .n_svcs = 1, .backends = x->rows,
				   .n_backends = 3 };
	clear_dir();
	fill(1, SL_MAX_EP_STATE, true);
	for (size_t i = 0; i < nfree; i++)
		fill(free_ids[i], free_ids[i] + 1, false);
}

/* A whole assignment collects its free ids from a hashed start and wraps:
 * the free ids below and above that start are all found, each once. */
static void t_assign_all_wraps(void)
{
	__u32 want[3] = { 2, SL_MAX_EP_STATE / 2, SL_MAX_EP_STATE - 2 };
	struct sl_state_ids ids;
	struct three x;

	three_new_pairs(&x, 13, 3, want, 3);
	CHECK(!sl_stateid_assign_all(&sm, &x.t, &ids), "assign_all with 3 ids free");
	for (int i = 0; i < 3; i++) {
		bool seen = false;

		for (int j = 0; j < 3; j++)
			seen |= ids.rows[j] == want[i];
		CHECK(seen, "free id %u given out (rows %u %u %u)", want[i], ids.rows[0],
		      ids.rows[1], ids.rows[2]);
	}
	sl_state_ids_free(&ids);
	fill(1, SL_MAX_EP_STATE, false);
}

/* Fewer ids free than new pairs, one on each side of any start: -ENOSPC,
 * and the two free ids neither given out nor named in the directory. */
static void t_assign_all_short(void)
{
	__u32 lo = 2, hi = SL_MAX_EP_STATE - 2, free_ids[2] = { lo, hi };
	struct sl_state_ids ids;
	struct three x;
	int r;

	three_new_pairs(&x, 15, 5, free_ids, 2);
	r = sl_stateid_assign_all(&sm, &x.t, &ids);
	CHECK(r == -ENOSPC, "3 new pairs, 2 ids free: -ENOSPC, got %d", r);
	if (!r)
		sl_state_ids_free(&ids);
	CHECK(!ep_at(lo).in_use && !ep_at(hi).in_use, "the free ids stay free");
	CHECK(!ref_of(&x.svc.fe, &x.rows[0].be.ep).status &&
		      !ref_of(&x.svc.fe, &x.rows[2].be.ep).status,
	      "no directory entry");
	fill(1, SL_MAX_EP_STATE, false);
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (setup()) {
		printf("FAIL stateid/setup: cannot create maps: %s\n", strerror(errno));
		return 1;
	}
	run("stateid/same-pair-same-id", t_same_pair);
	run("stateid/shared-endpoint-two-ids", t_shared_endpoint);
	run("stateid/groups", t_groups);
	run("stateid/comes-back-with-state", t_comes_back);
	run("stateid/freed-only-idle-past-grace", t_freed_when_idle);
	run("stateid/sweep-retires-gone", t_sweep_retires);
	run("stateid/assign-all", t_assign_all);
	run("stateid/readers", t_readers);
	run("stateid/eps-batch", t_eps_batch);
	run("stateid/last-free-id", t_last_free_id);
	run("stateid/assign-all-wraps", t_assign_all_wraps);
	run("stateid/assign-all-short", t_assign_all_short);
	return failures ? 1 : 0;
}
