// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Ids of the live state records (see stateid.h). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>

#include "mapio.h"
#include "stateid.h"
#include "util.h"

#define KEY_MAX 40 /* sizeof(struct sl_ep_key), the larger key */
#define PROBES 64 /* ids in one run of the search for a free id */
#define RUNS 8 /* runs tried from the key's hash before a sweep */

/* Runs never overlap: a batch of new ids takes them from several. */
_Static_assert(SL_MAX_EP_STATE / RUNS > PROBES && SL_MAX_GROUP_STATE / RUNS > PROBES, "RUNS");

_Static_assert(sizeof(struct sl_ep_key) == KEY_MAX, "KEY_MAX");
_Static_assert(sizeof(struct sl_group_key) <= KEY_MAX, "KEY_MAX");

/* What differs between the two kinds of state. Both values start with
 * `__s64 active`. */
struct kind {
	int dir, arr;
	size_t key_size, val_size;
	__u32 max; /* ids are 1 .. max-1 */
	bool ep; /* sl_ep_state (has gen, in_use is __u16), else sl_group_state */
};

union state {
	struct sl_ep_state ep;
	struct sl_group_state grp;
};

static struct kind ep_kind(const struct sl_state_maps *s)
{
	return (struct kind){ s->ep_ids, s->ep_state, sizeof(struct sl_ep_key),
			      sizeof(struct sl_ep_state), SL_MAX_EP_STATE, true };
}

static struct kind group_kind(const struct sl_state_maps *s)
{
	return (struct kind){ s->group_ids, s->group_state, sizeof(struct sl_group_key),
			      sizeof(struct sl_group_state), SL_MAX_GROUP_STATE, false };
}

void sl_state_maps_of(const struct sl_maps *m, struct sl_state_maps *s)
{
	s->ep_ids = m->fd[SL_MAP_EP_IDS];
	s->ep_state = m->fd[SL_MAP_EP_STATE];
	s->group_ids = m->fd[SL_MAP_GROUP_IDS];
	s->group_state = m->fd[SL_MAP_GROUP_STATE];
}

static bool in_use(const struct kind *k, const union state *v)
{
	return k->ep ? v->ep.in_use : v->grp.in_use;
}

static __s64 active_of(const union state *v)
{
	return v->ep.active; /* first field of both */
}

/* FNV-1a of the key: where the search for a free id starts. */
static __u32 key_hash(const struct kind *k, const void *key)
{
	const unsigned char *p = key;
	__u32 h = 2166136261u;

	for (size_t i = 0; i < k->key_size; i++)
		h = (h ^ p[i]) * 16777619u;
	return h;
}

/* Start of run R (0 .. RUNS-1) for hash H: the runs sit a RUNS-th of the
 * id space apart, so that a block of ids taken together (a whole apply
 * takes its ids in one stretch) can hide at most a few of them. */
static __u32 run_start(const struct kind *k, __u32 h, unsigned r)
{
	return 1 + (__u32)(((__u64)h + (__u64)r * ((k->max - 1) / RUNS)) % (k->max - 1));
}

/* Writes a whole state value, which only ever happens to an id no pair and
 * no socket holds: zeroed, IN_USE, and (endpoints) a new generation when it
 * is given out, so that sockets still pointing at its last owner leave it
 * alone. */
static int write_state(const struct kind *k, __u32 id, const union state *old, bool use)
{
	union state v;

	memset(&v, 0, sizeof(v));
	if (k->ep) {
		v.ep.gen = (__u16)(old->ep.gen + (use ? 1 : 0));
		v.ep.in_use = use;
	} else {
		v.grp.in_use = use;
	}
	return bpf_map_update_elem(k->arr, &id, &v, BPF_ANY) ? -errno : 0;
}

static int collect_free(const struct kind *k, __u32 start, size_t m, __u32 *ids,
			union state *old);
static int assign_missing(const struct kind *k, const unsigned char *keys, size_t *miss,
			  size_t nm, __u32 *out);

/* Up to WANT free ids among the PROBES from START (fewer at the end of the
 * id space) into IDS, their records into OLD; how many. One batch lookup,
 * or one lookup per id where the kernel has no batch operations. */
static size_t run_collect(const struct kind *k, __u32 start, size_t want, __u32 *ids,
			  union state *old)
{
	__u32 keys[PROBES], prev = start - 1, count = PROBES;
	union state *vals = malloc(PROBES * sizeof(*vals));
	size_t got = 0;
	int r;

	if (!vals)
		return 0;
	r = bpf_map_lookup_batch(k->arr, &prev, &prev, keys, vals, &count, NULL) ? errno : 0;
	if (r && r != ENOENT)
		count = 0;
	for (__u32 i = 0; i < count && got < want; i++) {
		union state *v = (union state *)((char *)vals + (size_t)i * k->val_size);

		if (keys[i] && !in_use(k, v)) {
			memcpy(&old[got], v, k->val_size);
			ids[got++] = keys[i];
		}
	}
	free(vals);
	for (__u32 id = start; r && r != ENOENT && id < k->max && id - start < PROBES && got < want;
	     id++) /* no batch ops */
		if (!bpf_map_lookup_elem(k->arr, &id, &old[got]) && !in_use(k, &old[got]))
			ids[got++] = id;
	return got;
}

static __u32 run_free(const struct kind *k, __u32 start, union state *old)
{
	__u32 id;

	return run_collect(k, start, 1, &id, old) ? id : 0;
}

/* A free id from the key's hash: RUNS runs of PROBES ids, or 0. A run is
 * full only where PROBES ids in a row are taken, as in the block a whole
 * apply took; the runs' starts are (max - 1) / RUNS apart, so such a
 * block hides at most the runs that start inside it (one or two of eight
 * for 40,000 endpoints among 262,143 ids). */
static __u32 probe_free(const struct kind *k, const void *key, union state *old)
{
	__u32 h = key_hash(k, key), id;

	for (unsigned r = 0; r < RUNS; r++) {
		id = run_free(k, run_start(k, h, r), old);
		if (id)
			return id;
	}
	return 0;
}

/* Any free id (after a sweep found the key's runs full). */
static __u32 scan_free(const struct kind *k, const void *key, union state *old)
{
	__u32 id;

	return collect_free(k, run_start(k, key_hash(k, key), 0), 1, &id, old) ? 0 : id;
}

static size_t sweep_kind(const struct kind *k, const void *live, size_t n_live, bool retire,
			 bool undo);

static int dir_insert(const struct kind *k, const void *key, const struct sl_state_ref *ref)
{
	if (!bpf_map_update_elem(k->dir, key, ref, BPF_NOEXIST))
		return 0;
	if (errno != E2BIG)
		return -errno;
	/* The directory is full: free what is due and try once more. */
	sweep_kind(k, NULL, 0, false, false);
	return bpf_map_update_elem(k->dir, key, ref, BPF_NOEXIST) ? -errno : 0;
}

static int assign(const struct kind *k, const void *key, __u32 *id)
{
	struct sl_state_ref ref;
	union state old;
	__u32 got;
	int err;

	if (!bpf_map_lookup_elem(k->dir, key, &ref)) {
		*id = ref.id;
		if (ref.status == SL_STATE_ASSIGNED)
			return 0;
		/* Back before its id was freed: it keeps its state. */
		ref.status = SL_STATE_ASSIGNED;
		ref.since_ns = 0;
		return bpf_map_update_elem(k->dir, key, &ref, BPF_EXIST) ? -errno : 0;
	}
	got = probe_free(k, key, &old);
	if (!got) {
		sweep_kind(k, NULL, 0, false, false);
		got = probe_free(k, key, &old);
		if (!got)
			got = scan_free(k, key, &old);
	}
	if (!got)
		return -ENOSPC;
	err = write_state(k, got, &old, true);
	if (err)
		return err;
	memset(&ref, 0, sizeof(ref));
	ref.id = got;
	ref.status = SL_STATE_ASSIGNED;
	err = dir_insert(k, key, &ref);
	if (err) {
		/* The id goes back: nothing names it. */
		if (!bpf_map_lookup_elem(k->arr, &got, &old))
			write_state(k, got, &old, false);
		return err;
	}
	*id = got;
	return 0;
}

static void ep_key(struct sl_ep_key *k, const struct sl_l4addr *fe, const struct sl_l4addr *ep)
{
	memset(k, 0, sizeof(*k));
	k->fe = *fe;
	k->ep = *ep;
}

static void group_key(struct sl_group_key *k, const struct sl_l4addr *fe, __u32 tag)
{
	memset(k, 0, sizeof(*k));
	k->fe = *fe;
	k->tag = tag;
}

int sl_stateid_ep(const struct sl_state_maps *s, const struct sl_l4addr *fe,
		  const struct sl_l4addr *ep, __u32 *id)
{
	struct kind k = ep_kind(s);
	struct sl_ep_key key;

	ep_key(&key, fe, ep);
	return assign(&k, &key, id);
}

int sl_stateid_group(const struct sl_state_maps *s, const struct sl_l4addr *fe, __u32 tag,
		     __u32 *id)
{
	struct kind k = group_kind(s);
	struct sl_group_key key;

	group_key(&key, fe, tag);
	return assign(&k, &key, id);
}

int sl_stateid_eps(const struct sl_state_maps *s, const struct sl_l4addr *fe,
		   const struct sl_l4addr *eps, size_t n, __u32 *ids)
{
	struct kind k = ep_kind(s);
	struct sl_ep_key *keys = calloc(n + 1, sizeof(*keys));
	size_t nm = 0, *miss = calloc(n + 1, sizeof(*miss));
	int err = keys && miss ? 0 : -ENOMEM;

	for (size_t i = 0; !err && i < n; i++) {
		struct sl_state_ref ref;

		ep_key(&keys[i], fe, &eps[i]);
		if (bpf_map_lookup_elem(k.dir, &keys[i], &ref)) {
			if (errno != ENOENT)
				err = -errno; /* not "missing": its id must not be replaced */
			miss[nm++] = i;
		} else if (ref.status == SL_STATE_ASSIGNED)
			ids[i] = ref.id;
		else /* RETIRING, back in the policy */
			err = assign(&k, &keys[i], &ids[i]);
	}
	if (!err && nm)
		err = assign_missing(&k, (const unsigned char *)keys, miss, nm, ids);
	free(keys);
	free(miss);
	return err;
}

static void retire(const struct kind *k, const void *key)
{
	struct sl_state_ref ref;

	if (bpf_map_lookup_elem(k->dir, key, &ref) || ref.status == SL_STATE_RETIRING)
		return;
	ref.status = SL_STATE_RETIRING;
	ref.since_ns = sl_now_mono_ns();
	bpf_map_update_elem(k->dir, key, &ref, BPF_EXIST);
}

void sl_stateid_retire_ep(const struct sl_state_maps *s, const struct sl_l4addr *fe,
			  const struct sl_l4addr *ep)
{
	struct kind k = ep_kind(s);
	struct sl_ep_key key;

	ep_key(&key, fe, ep);
	retire(&k, &key);
}

void sl_stateid_retire_group(const struct sl_state_maps *s, const struct sl_l4addr *fe, __u32 tag)
{
	struct kind k = group_kind(s);
	struct sl_group_key key;

	group_key(&key, fe, tag);
	retire(&k, &key);
}

/* ---- directory snapshots ------------------------------------------------ */

struct dir_ent {
	unsigned char key[KEY_MAX]; /* zero beyond key_size */
	struct sl_state_ref ref;
};

static int cmp_key_r(const void *a, const void *b, void *size)
{
	return memcmp(a, b, *(size_t *)size);
}

/* Binary search of KEY among N sorted elements of ELEM bytes whose first
 * KEY_SIZE bytes are the key. */
static const void *find_sorted(const void *base, size_t n, size_t elem, size_t key_size,
			       const void *key)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const char *e = (const char *)base + mid * elem;
		int c = memcmp(key, e, key_size);

		if (!c)
			return e;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

#define BATCH 4096

/* Appends the entries of K's directory to V with batch lookups (one
 * syscall per BATCH entries). -errno when the kernel has no batch ops. */
static int load_batch(const struct kind *k, struct dir_ent **v, size_t *n, size_t *cap)
{
	unsigned char *keys = malloc(BATCH * k->key_size);
	struct sl_state_ref *refs = malloc(BATCH * sizeof(*refs));
	__u64 token = 0;
	bool first = true;
	int err = keys && refs ? 0 : -ENOMEM;

	while (!err) {
		__u32 count = BATCH;
		int r = bpf_map_lookup_batch(k->dir, first ? NULL : &token, &token, keys, refs,
					     &count, NULL);

		err = r ? -errno : 0;
		first = false;
		if (err && err != -ENOENT)
			break;
		if (*n + count > *cap) {
			struct dir_ent *nv = realloc(*v, (*cap = *n + count + 1024) * sizeof(**v));

			if (!nv) {
				err = -ENOMEM;
				break;
			}
			*v = nv;
		}
		for (__u32 i = 0; i < count; i++) {
			memset(&(*v)[*n], 0, sizeof(**v));
			memcpy((*v)[*n].key, keys + (size_t)i * k->key_size, k->key_size);
			(*v)[(*n)++].ref = refs[i];
		}
	}
	free(keys);
	free(refs);
	return err == -ENOENT ? 0 : err;
}

/* The same, one key at a time (kernels without batch lookups). */
static void load_walk(const struct kind *k, struct dir_ent **v, size_t *n, size_t *cap)
{
	unsigned char key[KEY_MAX], next[KEY_MAX];
	void *prev = NULL;

	*n = 0;
	while (!bpf_map_get_next_key(k->dir, prev, next)) {
		memcpy(key, next, k->key_size);
		prev = key;
		if (*n == *cap) {
			struct dir_ent *nv = realloc(*v, (*cap = *cap ? 2 * *cap : 1024) * sizeof(**v));

			if (!nv)
				return;
			*v = nv;
		}
		memset(&(*v)[*n], 0, sizeof(**v));
		memcpy((*v)[*n].key, key, k->key_size);
		if (!bpf_map_lookup_elem(k->dir, key, &(*v)[*n].ref))
			(*n)++;
	}
}

/* Every entry of a directory, sorted by key when SORTED (for lookups; a
 * walk over all of them needs no order, and sorting 40,000 keys was
 * half of a sweep). malloc'd (NULL + *n = 0 when empty or out of memory). */
static struct dir_ent *load_dir_as(const struct kind *k, size_t *n, bool sorted)
{
	struct dir_ent *v = NULL;
	size_t cap = 0, ks = k->key_size;

	*n = 0;
	if (load_batch(k, &v, n, &cap))
		load_walk(k, &v, n, &cap);
	if (*n && sorted)
		qsort_r(v, *n, sizeof(*v), cmp_key_r, &ks);
	return v;
}

static struct dir_ent *load_dir(const struct kind *k, size_t *n)
{
	return load_dir_as(k, n, true);
}

static const struct dir_ent *find_ent(const struct kind *k, const struct dir_ent *v, size_t n,
				      const void *key)
{
	return find_sorted(v, n, sizeof(*v), k->key_size, key);
}

/* N elements in one syscall where the kernel has batch updates (5.6+; the
 * fallback writes them one by one). */
static int write_all(int fd, const void *keys, const void *vals, size_t n, size_t ksz, size_t vsz)
{
	__u32 count = (__u32)n;

	if (!n || !bpf_map_update_batch(fd, keys, vals, &count, NULL))
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (bpf_map_update_elem(fd, (const char *)keys + i * ksz, (const char *)vals + i * vsz,
					BPF_ANY))
			return -errno;
	}
	return 0;
}

/* Free ids for M new pairs from one pass over the state array, read in
 * batches from id START to the end and then from id 1: IDS[i] gets an id
 * whose record has in_use 0, OLD[i] that record. Starting where a hash
 * says, not at id 1, keeps a later search from reading through the block
 * an earlier whole apply took. 0, or -ENOSPC when fewer ids are free. */
/* collect_free() one id at a time, for kernels without batch ops. */
static int walk_free(const struct kind *k, __u32 start, size_t m, __u32 *ids, union state *old)
{
	size_t got = 0;

	for (__u32 i = 0, id = start; i < k->max - 1 && got < m; i++, id = id + 1 < k->max ? id + 1 : 1)
		if (!bpf_map_lookup_elem(k->arr, &id, &old[got]) && !in_use(k, &old[got]))
			ids[got++] = id;
	return got == m ? 0 : -ENOSPC;
}

static int collect_free(const struct kind *k, __u32 start, size_t m, __u32 *ids,
			union state *old)
{
	__u32 *keys = malloc(BATCH * sizeof(*keys)), token = start - 1;
	char *vals = malloc(BATCH * k->val_size);
	bool second = false, from_zero = false, done = false;
	size_t got = 0;
	int err = keys && vals ? 0 : -ENOMEM;

	while (!err && got < m && !done) {
		__u32 count = BATCH;
		int r = bpf_map_lookup_batch(k->arr, from_zero ? NULL : &token, &token, keys, vals,
					     &count, NULL);

		err = r ? -errno : 0;
		from_zero = false;
		if (err && err != -ENOENT)
			break;
		for (__u32 i = 0; i < count && got < m && !done; i++) {
			union state *v = (union state *)(vals + (size_t)i * k->val_size);

			if (second && keys[i] >= start)
				done = true; /* back where the first pass began */
			else if (keys[i] && !in_use(k, v)) {
				ids[got] = keys[i];
				memcpy(&old[got++], v, k->val_size);
			}
		}
		if (err == -ENOENT) {
			if (second || start <= 1)
				break;
			second = from_zero = true;
			err = 0;
		}
	}
	free(keys);
	free(vals);
	if (err == -EINVAL || err == -EOPNOTSUPP || err == -ENOTSUPP)
		return walk_free(k, start, m, ids, old); /* no batch ops (before 5.6) */
	if (err && err != -ENOENT)
		return err;
	return got == m ? 0 : -ENOSPC;
}

/* M free ids for new pairs, the first of which is KEY0: a few (a change
 * to one service) from the runs of KEY0's hash, as for one pair; many, or
 * where the runs are full, from one pass over the array from its hash. */
static int find_free(const struct kind *k, const void *key0, size_t m, __u32 *ids,
		     union state *old)
{
	__u32 h = key_hash(k, key0);
	size_t got = 0;

	for (unsigned r = 0; m <= PROBES && r < RUNS && got < m; r++)
		got += run_collect(k, run_start(k, h, r), m - got, ids + got, old + got);
	return got == m ? 0 : collect_free(k, run_start(k, h, 0), m, ids, old);
}

/* New pairs KEYS[0..M) (sorted, distinct, none in the directory): free
 * ids, their state zeroed under a new generation, directory entries; by
 * batches of map updates (element by element where the kernel has none). */
/* Ids IDS[0..M), just given out with the states OLD (packed at val_size),
 * free again: in_use 0, under the generation they were given with. */
static void give_back(const struct kind *k, const __u32 *ids, size_t m, const void *old)
{
	union state st;

	for (size_t i = 0; i < m; i++) {
		memcpy(&st, (const char *)old + i * k->val_size, k->val_size);
		write_state(k, ids[i], &st, false);
	}
}

static int assign_many(const struct kind *k, const unsigned char *keys, size_t m, __u32 *ids)
{
	union state *old = calloc(m, sizeof(*old));
	struct sl_state_ref *refs = calloc(m, sizeof(*refs));
	int err = old && refs ? 0 : -ENOMEM;

	if (!err) {
		err = find_free(k, keys, m, ids, old);
		if (err == -ENOSPC) {
			sweep_kind(k, NULL, 0, false, false);
			err = find_free(k, keys, m, ids, old);
		}
	}
	for (size_t i = 0; !err && i < m; i++) {
		union state nv;

		memset(&nv, 0, sizeof(nv));
		if (k->ep) {
			nv.ep.gen = (__u16)(old[i].ep.gen + 1);
			nv.ep.in_use = 1;
		} else {
			nv.grp.in_use = 1;
		}
		old[i] = nv; /* now the values to write */
		refs[i].id = ids[i];
		refs[i].status = SL_STATE_ASSIGNED;
	}
	if (!err && k->val_size != sizeof(union state)) {
		/* the batch wants values packed at val_size */
		for (size_t i = 0; i < m; i++)
			memmove((char *)old + i * k->val_size, &old[i], k->val_size);
	}
	if (!err)
		err = write_all(k->arr, ids, old, m, sizeof(*ids), k->val_size);
	if (!err && (err = write_all(k->dir, keys, refs, m, k->key_size, sizeof(*refs))))
		give_back(k, ids, m, old); /* nothing names them: free again */
	free(old);
	free(refs);
	return err;
}

static int cmp_key_idx_r(const void *a, const void *b, void *ctx)
{
	const struct { const unsigned char *keys; size_t size; } *c = ctx;

	return memcmp(c->keys + *(const size_t *)a * c->size, c->keys + *(const size_t *)b * c->size,
		      c->size);
}

/* Ids for the NM keys KEYS[MISS[i]] that the directory lacks (duplicates
 * allowed) into OUT[MISS[i]]: new ids, in bulk, one per distinct key. */
static int assign_missing(const struct kind *k, const unsigned char *keys, size_t *miss,
			  size_t nm, __u32 *out)
{
	struct { const unsigned char *keys; size_t size; } c = { keys, k->key_size };
	unsigned char *ukeys = malloc(nm * k->key_size + 1);
	__u32 *uids = calloc(nm + 1, sizeof(*uids));
	size_t nu = 0;
	int err = ukeys && uids ? 0 : -ENOMEM;

	qsort_r(miss, nm, sizeof(*miss), cmp_key_idx_r, &c);
	for (size_t i = 0; !err && i < nm; i++)
		if (!nu || memcmp(ukeys + (nu - 1) * k->key_size, keys + miss[i] * k->key_size,
				  k->key_size))
			memcpy(ukeys + nu++ * k->key_size, keys + miss[i] * k->key_size, k->key_size);
	if (!err)
		err = assign_many(k, ukeys, nu, uids);
	for (size_t i = 0; !err && i < nm; i++) {
		const unsigned char *u = find_sorted(ukeys, nu, k->key_size, k->key_size,
						     keys + miss[i] * k->key_size);

		out[miss[i]] = uids[(size_t)(u - ukeys) / k->key_size];
	}
	free(ukeys);
	free(uids);
	return err;
}

/* Ids of N keys (KEYS, key_size each, duplicates allowed) into OUT: from
 * one snapshot of the directory; pairs it lacks get new ids in bulk. */
static int resolve(const struct kind *k, const unsigned char *keys, size_t n, __u32 *out)
{
	size_t nd, nm = 0, *miss = calloc(n ? n : 1, sizeof(*miss));
	struct dir_ent *v = load_dir(k, &nd);
	int err = miss ? 0 : -ENOMEM;

	for (size_t i = 0; !err && i < n; i++) {
		const unsigned char *key = keys + i * k->key_size;
		const struct dir_ent *e = find_ent(k, v, nd, key);

		if (e && e->ref.status == SL_STATE_ASSIGNED)
			out[i] = e->ref.id;
		else if (e) /* RETIRING, back in the policy */
			err = assign(k, key, &out[i]);
		else
			miss[nm++] = i;
	}
	if (!err && nm)
		err = assign_missing(k, keys, miss, nm, out);
	free(miss);
	free(v);
	return err;
}

static int assign_groups(const struct kind *k, const struct sl_tables *t, __u32 *out)
{
	size_t n = t->n_svcs * SL_MAX_GROUPS, m = 0;
	struct sl_group_key *keys = calloc(n ? n : 1, sizeof(*keys));
	size_t *slot = calloc(n ? n : 1, sizeof(*slot));
	__u32 *ids = calloc(n ? n : 1, sizeof(*ids));
	int err = keys && slot && ids ? 0 : -ENOMEM;

	for (size_t i = 0; !err && i < t->n_svcs; i++) {
		const struct sl_svc_val *sv = &t->svcs[i].val;

		for (unsigned g = 0; g < sv->n_groups && g < SL_MAX_GROUPS; g++) {
			group_key(&keys[m], &t->svcs[i].fe, sv->groups[g].tag);
			slot[m++] = i * SL_MAX_GROUPS + g;
		}
	}
	if (!err)
		err = resolve(k, (const unsigned char *)keys, m, ids);
	for (size_t i = 0; !err && i < m; i++)
		out[slot[i]] = ids[i];
	free(keys);
	free(slot);
	free(ids);
	return err;
}

static int assign_rows(const struct kind *k, const struct sl_tables *t, __u32 *out)
{
	struct sl_ep_key *keys = calloc(t->n_backends ? t->n_backends : 1, sizeof(*keys));
	int err = keys ? 0 : -ENOMEM;

	for (size_t i = 0; !err && i < t->n_backends; i++)
		ep_key(&keys[i], &t->svcs[t->backends[i].svc].fe, &t->backends[i].be.ep);
	if (!err)
		err = resolve(k, (const unsigned char *)keys, t->n_backends, out);
	free(keys);
	return err;
}

int sl_stateid_assign_all(const struct sl_state_maps *s, const struct sl_tables *t,
			  struct sl_state_ids *out)
{
	struct kind ek = ep_kind(s), gk = group_kind(s);
	int err;

	out->rows = calloc(t->n_backends ? t->n_backends : 1, sizeof(*out->rows));
	out->groups = calloc(t->n_svcs ? t->n_svcs * SL_MAX_GROUPS : 1, sizeof(*out->groups));
	err = out->rows && out->groups ? 0 : -ENOMEM;
	if (!err)
		err = assign_groups(&gk, t, out->groups);
	if (!err)
		err = assign_rows(&ek, t, out->rows);
	if (err)
		sl_state_ids_free(out);
	return err;
}

void sl_state_ids_free(struct sl_state_ids *ids)
{
	free(ids->rows);
	free(ids->groups);
	ids->rows = ids->groups = NULL;
}

/* ---- sweeping ----------------------------------------------------------- */

/* Frees E's id if it has been RETIRING long enough (NOW 0: any RETIRING
 * one) with nothing on it. */
static bool try_free(const struct kind *k, const struct dir_ent *e, __u64 now)
{
	union state st;

	if (e->ref.status != SL_STATE_RETIRING || (now && e->ref.since_ns + SL_STATE_GRACE_NS > now))
		return false;
	if (bpf_map_lookup_elem(k->arr, &e->ref.id, &st) || active_of(&st) > 0)
		return false;
	if (bpf_map_delete_elem(k->dir, e->key))
		return false;
	write_state(k, e->ref.id, &st, false);
	return true;
}

/* LIVE: sorted keys (key_size each) the policy holds, or NULL with
 * retire=false to only free what is due. UNDO: pairs LIVE does not hold
 * were assigned by a write that never went live, so they are freed at once
 * when idle (they keep their id, RETIRING, when they hold connections from
 * before they left the policy). */
static size_t sweep_kind(const struct kind *k, const void *live, size_t n_live, bool retire_gone,
			 bool undo)
{
	__u64 now = sl_now_mono_ns();
	size_t n, freed = 0;
	struct dir_ent *v = load_dir_as(k, &n, false);

	for (size_t i = 0; i < n; i++) {
		struct dir_ent *e = &v[i];

		if (retire_gone && e->ref.status == SL_STATE_ASSIGNED &&
		    !find_sorted(live, n_live, k->key_size, k->key_size, e->key)) {
			retire(k, e->key);
			if (!undo)
				continue; /* from now: freed by a later sweep */
			e->ref.status = SL_STATE_RETIRING;
			freed += try_free(k, e, 0);
			continue;
		}
		freed += try_free(k, e, now);
	}
	free(v);
	return freed;
}

static int cmp_ep_key(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct sl_ep_key));
}

static int cmp_group_key(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct sl_group_key));
}

static size_t sweep(const struct sl_state_maps *s, const struct sl_tables *live, bool undo)
{
	struct kind ek = ep_kind(s), gk = group_kind(s);
	struct sl_ep_key *eps = calloc(live->n_backends ? live->n_backends : 1, sizeof(*eps));
	struct sl_group_key *grps = calloc(live->n_svcs ? live->n_svcs * SL_MAX_GROUPS : 1,
					   sizeof(*grps));
	size_t ng = 0, freed = 0;

	if (!eps || !grps)
		goto out;
	for (size_t i = 0; i < live->n_backends; i++)
		ep_key(&eps[i], &live->svcs[live->backends[i].svc].fe, &live->backends[i].be.ep);
	for (size_t i = 0; i < live->n_svcs; i++)
		for (unsigned g = 0; g < live->svcs[i].val.n_groups && g < SL_MAX_GROUPS; g++)
			group_key(&grps[ng++], &live->svcs[i].fe, live->svcs[i].val.groups[g].tag);
	qsort(eps, live->n_backends, sizeof(*eps), cmp_ep_key);
	qsort(grps, ng, sizeof(*grps), cmp_group_key);
	freed = sweep_kind(&ek, eps, live->n_backends, true, undo);
	sweep_kind(&gk, grps, ng, true, undo);
out:
	free(eps);
	free(grps);
	return freed;
}

size_t sl_stateid_sweep(const struct sl_state_maps *s, const struct sl_tables *live)
{
	return sweep(s, live, false);
}

size_t sl_stateid_sweep_due(const struct sl_state_maps *s)
{
	struct kind ek = ep_kind(s), gk = group_kind(s);
	size_t freed = sweep_kind(&ek, NULL, 0, false, false);

	sweep_kind(&gk, NULL, 0, false, false);
	return freed;
}

size_t sl_stateid_undo(const struct sl_state_maps *s, const struct sl_tables *live)
{
	return sweep(s, live, true);
}

/* One pair's id, given by a write that never went live: freed at once
 * when idle, else RETIRING (as sl_stateid_undo does for a whole policy). */
static void undo_one(const struct kind *k, const void *key)
{
	struct dir_ent e;

	memset(&e, 0, sizeof(e));
	if (bpf_map_lookup_elem(k->dir, key, &e.ref) || e.ref.status != SL_STATE_ASSIGNED)
		return;
	retire(k, key);
	memcpy(e.key, key, k->key_size);
	e.ref.status = SL_STATE_RETIRING;
	try_free(k, &e, 0);
}

void sl_stateid_undo_ep(const struct sl_state_maps *s, const struct sl_l4addr *fe,
			const struct sl_l4addr *ep)
{
	struct kind k = ep_kind(s);
	struct sl_ep_key key;

	ep_key(&key, fe, ep);
	undo_one(&k, &key);
}

void sl_stateid_undo_group(const struct sl_state_maps *s, const struct sl_l4addr *fe, __u32 tag)
{
	struct kind k = group_kind(s);
	struct sl_group_key key;

	group_key(&key, fe, tag);
	undo_one(&k, &key);
}

/* ---- readers ------------------------------------------------------------ */

static int read_state(const struct kind *k, const void *key, void *st, struct sl_state_ref *ref)
{
	struct sl_state_ref r;

	memset(st, 0, k->val_size);
	if (bpf_map_lookup_elem(k->dir, key, &r) || bpf_map_lookup_elem(k->arr, &r.id, st))
		return -ENOENT;
	if (ref)
		*ref = r;
	return 0;
}

int sl_state_ep_read(const struct sl_state_maps *s, const struct sl_l4addr *fe,
		     const struct sl_l4addr *ep, struct sl_ep_state *st, struct sl_state_ref *ref)
{
	struct kind k = ep_kind(s);
	struct sl_ep_key key;

	ep_key(&key, fe, ep);
	return read_state(&k, &key, st, ref);
}

int sl_state_group_read(const struct sl_state_maps *s, const struct sl_l4addr *fe, __u32 tag,
			struct sl_group_state *st, struct sl_state_ref *ref)
{
	struct kind k = group_kind(s);
	struct sl_group_key key;

	group_key(&key, fe, tag);
	return read_state(&k, &key, st, ref);
}

size_t sl_stateid_assigned(const struct sl_state_maps *s, bool ep)
{
	struct kind k = ep ? ep_kind(s) : group_kind(s);
	size_t n, assigned = 0;
	struct dir_ent *v = load_dir_as(&k, &n, false);

	for (size_t i = 0; i < n; i++)
		assigned += v[i].ref.status == SL_STATE_ASSIGNED;
	free(v);
	return assigned;
}

bool sl_state_gone(const struct sl_state_ref *ref, __s64 active)
{
	return ref->status == SL_STATE_RETIRING && active <= 0;
}
