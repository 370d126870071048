// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Unit tests of the service table (user/svctab.c) on real maps of the data
 * plane's shape (created here, not pinned): what is put is found, what is
 * deleted is not, in either slot independently; a full slot of random
 * frontends places and lists exactly; a random mix of incremental puts and
 * deletes, compacted by whole rewrites when rows run out (as the publisher
 * does), always matches a model; a way whose tag matches but whose row
 * holds another frontend answers nothing; full buckets refuse a new entry.
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

#include "svctab.h"
#include "unit.h"

static struct sl_svctab tab;

static struct sl_l4addr fe_n(__u32 n, int v6)
{
	struct sl_l4addr a;

	memset(&a, 0, sizeof(a));
	a.addr[0] = htonl(0x0a600000u + n / 7);
	if (v6) {
		a.addr[0] = htonl(0xfd000000u);
		a.addr[3] = htonl(n / 7);
	}
	a.port = htons((unsigned short)(80 + n % 7));
	a.proto = n % 3 ? 6 : 17;
	a.family = v6 ? SL_AF_INET6 : SL_AF_INET;
	return a;
}

static struct sl_svc_val val_n(__u32 n)
{
	struct sl_svc_val v;

	memset(&v, 0, sizeof(v));
	v.id = n;
	v.n_groups = 1;
	v.groups[0].first = n * 3;
	v.groups[0].count = (__u16)(n % 200 + 1);
	return v;
}

static int setup(void)
{
	tab.rows = bpf_map_create(BPF_MAP_TYPE_ARRAY, NULL, 4, sizeof(struct sl_svc_row),
				  2 * SL_MAX_SERVICES, NULL);
	tab.index = bpf_map_create(BPF_MAP_TYPE_ARRAY, NULL, 4, sizeof(struct sl_svc_bucket),
				   2 * SL_SVC_BUCKETS, NULL);
	return tab.rows < 0 || tab.index < 0 ? -1 : 0;
}

static int clear_slot(__u32 slot)
{
	return sl_svc_write_slot(tab, slot, NULL, NULL, 0);
}

static bool found_as(__u32 slot, __u32 n, int v6, __u32 want_id)
{
	struct sl_svc_key k = { .fe = fe_n(n, v6), .slot = slot };
	struct sl_svc_val v;

	return !sl_svc_get(tab, &k, &v) && v.id == want_id && v.groups[0].first == want_id * 3;
}

static bool absent(__u32 slot, __u32 n, int v6)
{
	struct sl_svc_key k = { .fe = fe_n(n, v6), .slot = slot };
	struct sl_svc_val v;

	return sl_svc_get(tab, &k, &v) == -ENOENT;
}

static void t_roundtrip(void)
{
	struct sl_svc_key k = { .fe = fe_n(1, 0), .slot = 0 }, k1 = { .fe = fe_n(1, 0), .slot = 1 };
	struct sl_svc_val v = val_n(1), w = val_n(2);
	__u32 hwm0 = 0, hwm1 = 0;

	CHECK(!clear_slot(0) && !clear_slot(1), "clear");
	CHECK(absent(0, 1, 0) && absent(1, 1, 0), "found in an empty table");
	CHECK(!sl_svc_put(tab, &k, &v, &hwm0) && hwm0 == 1, "put: hwm %u", hwm0);
	CHECK(found_as(0, 1, 0, 1) && absent(1, 1, 0), "slot 0 only");
	CHECK(!sl_svc_put(tab, &k1, &w, &hwm1) && found_as(1, 1, 0, 2) && found_as(0, 1, 0, 1),
	      "slots independent");
	/* A change keeps the row. */
	CHECK(!sl_svc_put(tab, &k, &w, &hwm0) && hwm0 == 1 && found_as(0, 1, 0, 2), "in place");
	CHECK(!sl_svc_del(tab, &k) && absent(0, 1, 0) && found_as(1, 1, 0, 2), "delete");
	CHECK(!sl_svc_del(tab, &k), "deleting an absent service is not an error");
	CHECK(sl_svc_count(tab) == 1, "count %ld", sl_svc_count(tab));
}

/* A whole slot of distinct frontends, IPv4 and IPv6: all placed, all
 * found, listed once each, and nothing else found. */
static void t_full_slot(void)
{
	size_t n = SL_MAX_SERVICES, ln = 0;
	struct sl_l4addr *fes = calloc(n, sizeof(*fes));
	struct sl_svc_val *vals = calloc(n, sizeof(*vals));
	struct sl_svc_key *keys = NULL;
	struct sl_svc_val *lv = NULL;
	char *seen = calloc(n, 1);
	int err;

	CHECK_OUT(fes && vals && seen, "ENOMEM");
	for (size_t i = 0; i < n; i++) {
		fes[i] = fe_n((__u32)i, i % 2);
		vals[i] = val_n((__u32)i);
	}
	err = sl_svc_write_slot(tab, 1, fes, vals, n);
	CHECK_OUT(!err, "write_slot: %d", err);
	for (size_t i = 0; i < n; i++)
		CHECK_OUT(found_as(1, (__u32)i, i % 2, (__u32)i), "frontend %zu not found", i);
	for (__u32 i = (__u32)n; i < n + 1000; i++)
		CHECK_OUT(absent(1, i, 0) && absent(1, i, 1), "frontend %u found, never put", i);
	CHECK_OUT(!sl_svc_list(tab, 1, &keys, &lv, &ln) && ln == n, "listed %zu of %zu", ln, n);
	for (size_t i = 0; i < ln; i++) {
		CHECK_OUT(lv[i].id < n && !seen[lv[i].id] && keys[i].slot == 1 &&
				  !memcmp(&keys[i].fe, &fes[lv[i].id], sizeof(keys[i].fe)),
			  "list entry %zu (id %u) wrong or twice", i, lv[i].id);
		seen[lv[i].id] = 1;
	}
	CHECK_OUT(sl_svc_write_slot(tab, 1, fes, vals, n + 1) == -ENOSPC, "over the limit accepted");
out:
	free(fes);
	free(vals);
	free(seen);
	free(keys);
	free(lv);
}

/* Random puts and deletes against a model; when a put finds no room, the
 * slot is rewritten whole from the model (what the publisher does). */
static void t_random_ops(void)
{
	enum { N = 24000, OPS = 60000 };
	__u32 *live_id = calloc(N, sizeof(*live_id)), hwm = 0, rewrites = 0, id = 1;
	struct sl_l4addr *fes = calloc(N, sizeof(*fes));
	struct sl_svc_val *vals = calloc(N, sizeof(*vals));
	size_t live = 0;

	CHECK_OUT(live_id && fes && vals && !clear_slot(0), "setup");
	srand(7);
	for (int op = 0; op < OPS; op++) {
		__u32 n = (__u32)rand() % N;
		struct sl_svc_key k = { .fe = fe_n(n, n % 5 == 0), .slot = 0 };
		struct sl_svc_val v = val_n(id);
		int err;

		if (live_id[n] && rand() % 2) {
			CHECK_OUT(!sl_svc_del(tab, &k), "del %u", n);
			live_id[n] = 0;
			live--;
			continue;
		}
		if (!live_id[n] && live >= SL_MAX_SERVICES * 9 / 10)
			continue;
		err = sl_svc_put(tab, &k, &v, &hwm);
		if (err == -ENOSPC) {
			size_t m = 0;

			for (__u32 i = 0; i < N; i++)
				if (live_id[i] || i == n) {
					fes[m] = fe_n(i, i % 5 == 0);
					vals[m++] = val_n(i == n ? id : live_id[i]);
				}
			err = sl_svc_write_slot(tab, 0, fes, vals, m);
			hwm = (__u32)m;
			rewrites++;
		}
		CHECK_OUT(!err, "op %d: put %u: %d", op, n, err);
		live += !live_id[n];
		live_id[n] = id++;
	}
	for (__u32 i = 0; i < N; i++) {
		if (live_id[i])
			CHECK_OUT(found_as(0, i, i % 5 == 0, live_id[i]), "live %u not found", i);
		else
			CHECK_OUT(absent(0, i, i % 5 == 0), "deleted %u still found", i);
	}
	CHECK_OUT(rewrites > 0, "the rows never ran out: the compaction path went untested");
out:
	free(live_id);
	free(fes);
	free(vals);
}

/* A way with the frontend's tag whose row holds another frontend: that is
 * a different service, so the lookup answers nothing. */
static void t_tag_not_enough(void)
{
	struct sl_svc_key a = { .fe = fe_n(11, 0), .slot = 0 }, b = { .fe = fe_n(12, 0), .slot = 0 };
	struct sl_svc_val v = val_n(12);
	struct sl_svc_bucket bk;
	__u64 h = sl_svc_hash(&a.fe);
	__u32 hwm = 0, key = sl_svc_bucket_of(h, 0);

	CHECK(!clear_slot(0) && !sl_svc_put(tab, &b, &v, &hwm), "setup");
	memset(&bk, 0, sizeof(bk));
	bk.tag[0] = sl_svc_tag(h);
	bk.row[0] = 0; /* b's row */
	CHECK(!bpf_map_update_elem(tab.index, &key, &bk, BPF_ANY), "write bucket");
	CHECK(absent(0, 11, 0), "a tag match alone found a service");
	/* And a put of A cannot go beside the way that answers for it. */
	CHECK(sl_svc_put(tab, &a, &v, &hwm) == -ENOSPC, "put beside an equal tag");
}

/* Both buckets of a frontend full: no room for it. */
static void t_full_buckets(void)
{
	struct sl_svc_key k = { .fe = fe_n(21, 0), .slot = 1 };
	struct sl_svc_val v = val_n(21);
	struct sl_svc_bucket bk;
	__u64 h = sl_svc_hash(&k.fe);
	__u32 hwm = 0;

	CHECK(!clear_slot(1), "clear");
	for (__u32 i = 0; i < 2; i++) {
		__u32 key = SL_SVC_BUCKETS + sl_svc_bucket_of(h, i);

		for (__u32 w = 0; w < SL_SVC_WAYS; w++) {
			bk.tag[w] = (sl_svc_tag(h) + 2 * (w + 1 + i * SL_SVC_WAYS)) | 1;
			bk.row[w] = SL_MAX_SERVICES - 1;
		}
		CHECK(!bpf_map_update_elem(tab.index, &key, &bk, BPF_ANY), "write bucket");
	}
	CHECK(sl_svc_put(tab, &k, &v, &hwm) == -ENOSPC && hwm == 0, "put into full buckets");
	CHECK(absent(1, 21, 0), "found");
}

int main(void)
{
	if (setup()) {
		printf("FAIL svctab/setup: cannot create maps: %s\n", strerror(errno));
		return 1;
	}
	run("svctab/roundtrip", t_roundtrip);
	run("svctab/full-slot", t_full_slot);
	run("svctab/random-ops", t_random_ops);
	run("svctab/tag-not-enough", t_tag_not_enough);
	run("svctab/full-buckets", t_full_buckets);
	return failures ? 1 : 0;
}
