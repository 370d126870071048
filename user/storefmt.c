// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The policy store, format 2 (see storefmt.h and docs/APPLY.md).
 *
 * Layout decisions, each with its reason:
 *  - summaries are uncompressed: every apply reads all of them, and
 *    copying chunks out of the map is cheaper than inflating them;
 *  - records are compressed per bucket: they are most of the bytes, and
 *    an apply inflates only the buckets of the objects it parses;
 *  - a stream of at most one chunk shares a chunk with others (a change
 *    rewrites the one chunk it is in); a longer one owns whole chunks;
 *  - chunks that are no longer used are deleted (both slots share the
 *    map's capacity), before anything is written.
 * Everything read from the map is checked before it is used: a store
 * that does not decode is an error, never a crash.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <bpf/bpf.h>

#include "mapio.h"
#include "storefmt.h"

#define CHUNK SL_STORE_CHUNK
#define ALIGN8(x) (((x) + 7) & ~(size_t)7)

uint64_t sls_opts_hash(const struct sl_compile_opts *o)
{
	uint64_t h = 0xcbf29ce484222325ull;
	const char *d = o->cluster_domain ? o->cluster_domain : "cluster.local";
	unsigned char b[5];

	memcpy(b, &o->svc_cidr4, 4);
	b[4] = o->svc_cidr4_len;
	for (size_t i = 0; i < sizeof(b); i++)
		h = (h ^ b[i]) * 0x100000001b3ull;
	for (; *d; d++)
		h = (h ^ (unsigned char)*d) * 0x100000001b3ull;
	/* The limits are part of what a summary's compile saw. */
	h = (h ^ o->max_services) * 0x100000001b3ull;
	/* So are the rules of user/policy/keys.c: summaries stored under other
	 * rules are made again (one whole compile). */
	h = (h ^ SLS_KEYS_VERSION) * 0x100000001b3ull;
	return (h ^ o->max_backends) * 0x100000001b3ull;
}

/* FNV-1a's high bits barely change between names that differ in their
 * last characters (svc-00001, svc-00002): mixed first (the MurmurHash3
 * finalizer), or most buckets stay empty. */
static uint32_t bucket_of(const struct sl_osum *s, uint32_t nb)
{
	uint64_t h = sl_osum_ident(s);

	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 33;
	return (uint32_t)h & (nb - 1);
}

/* ---- summaries: encode, decode --------------------------------------------- */

struct sum_hdr {
	uint32_t size; /* of this record, a multiple of 8 */
	uint8_t kind, flags;
	uint16_t ns_len, name_len, pad;
	uint64_t hash, text_hash;
	uint32_t rec_len, n_provides, n_needs, n_ports, n_vips, n_fes, n_ing;
	uint32_t n_np; /* a Pod's NetworkPolicy bytes, after the addresses */
	struct sl_l4addr alloc;
	uint32_t pad3;
};

_Static_assert(sizeof(struct sum_hdr) % 8 == 0, "summary header keeps 8-byte alignment");
_Static_assert(sizeof(struct sl_l4addr) == 20, "l4addr");

static size_t sum_size(const struct sl_osum *s)
{
	size_t n = sizeof(struct sum_hdr) + ALIGN8(strlen(s->ns) + 1 + strlen(s->name) + 1);

	n += 8 * ((size_t)s->n_provides + s->n_needs);
	n += sizeof(struct sl_l4addr) * ((size_t)s->n_vips + s->n_fes + s->n_ing);
	return ALIGN8(n + s->n_np);
}

static void put(unsigned char **p, const void *src, size_t n)
{
	if (n)
		memcpy(*p, src, n);
	*p += n;
}

/* Encode S at P (sum_size(S) bytes, zeroed). */
static void sum_encode(const struct sl_osum *s, unsigned char *p)
{
	size_t nl = strlen(s->ns), ml = strlen(s->name);
	struct sum_hdr h = {
		.size = (uint32_t)sum_size(s), .kind = s->kind, .flags = s->flags,
		.ns_len = (uint16_t)nl, .name_len = (uint16_t)ml, .hash = s->hash,
		.text_hash = s->text_hash,
		.rec_len = s->rec_len, .n_provides = s->n_provides, .n_needs = s->n_needs,
		.n_ports = s->n_ports, .n_vips = s->n_vips, .n_fes = s->n_fes, .n_ing = s->n_ing,
		.n_np = s->n_np, .alloc = s->alloc,
	};
	unsigned char *base = p;

	put(&p, &h, sizeof(h));
	put(&p, s->ns, nl + 1);
	put(&p, s->name, ml + 1);
	p = base + sizeof(h) + ALIGN8(nl + 1 + ml + 1);
	put(&p, s->provides, 8 * (size_t)s->n_provides);
	put(&p, s->needs, 8 * (size_t)s->n_needs);
	put(&p, s->vips, sizeof(struct sl_l4addr) * s->n_vips);
	put(&p, s->fes, sizeof(struct sl_l4addr) * s->n_fes);
	put(&p, s->ing, sizeof(struct sl_l4addr) * s->n_ing);
	put(&p, s->np, s->n_np);
}

/* Decode the record at P (AVAIL bytes, 8-aligned) into S, pointing into P.
 * Returns its size, or 0 when it does not decode. */
static size_t sum_decode(unsigned char *p, size_t avail, struct sl_osum *s)
{
	struct sum_hdr h;
	size_t strs, need;
	char *ns, *name;
	unsigned char *q;

	if (avail < sizeof(h))
		return 0;
	memcpy(&h, p, sizeof(h));
	strs = ALIGN8((size_t)h.ns_len + 1 + h.name_len + 1);
	need = sizeof(h) + strs + 8 * ((size_t)h.n_provides + h.n_needs) +
	       sizeof(struct sl_l4addr) * ((size_t)h.n_vips + h.n_fes + h.n_ing) + h.n_np;
	if (h.size % 8 || h.size > avail || need > h.size || h.n_provides > (1u << 24) ||
	    h.n_needs > (1u << 24) || h.n_vips > (1u << 24) || h.n_fes > (1u << 24) ||
	    h.n_ing > (1u << 24) || h.n_np > (1u << 24))
		return 0;
	ns = (char *)p + sizeof(h);
	name = ns + h.ns_len + 1;
	if (ns[h.ns_len] || name[h.name_len] || memchr(ns, 0, h.ns_len) ||
	    memchr(name, 0, h.name_len))
		return 0;
	q = p + sizeof(h) + strs;
	*s = (struct sl_osum){
		.kind = h.kind, .flags = h.flags, .ns = ns, .name = name, .hash = h.hash,
		.text_hash = h.text_hash,
		.rec_len = h.rec_len, .n_provides = h.n_provides, .n_needs = h.n_needs,
		.n_ports = h.n_ports, .n_vips = h.n_vips, .n_fes = h.n_fes, .n_ing = h.n_ing,
		.n_np = h.n_np, .alloc = h.alloc,
	};
	s->provides = (const uint64_t *)(void *)q;
	q += 8 * (size_t)h.n_provides;
	s->needs = (const uint64_t *)(void *)q;
	q += 8 * (size_t)h.n_needs;
	s->vips = (const struct sl_l4addr *)(void *)q;
	q += sizeof(struct sl_l4addr) * h.n_vips;
	s->fes = (const struct sl_l4addr *)(void *)q;
	q += sizeof(struct sl_l4addr) * h.n_fes;
	s->ing = (const struct sl_l4addr *)(void *)q;
	q += sizeof(struct sl_l4addr) * h.n_ing;
	s->np = h.n_np ? q : NULL;
	return h.size;
}

/* ---- records: one bucket's entries ----------------------------------------- */

struct rec_ent {
	uint32_t size; /* of the entry, header included */
	uint8_t kind, pad;
	uint16_t ns_len, name_len, pad2;
	uint32_t rec_len;
};

struct rec {
	const struct sl_osum *id; /* identity (kind, ns, name) */
	const char *rec;
	size_t len;
	char *owned;
};

static int cmp_rec(const void *a, const void *b)
{
	return sl_osum_cmp(((const struct rec *)a)->id, ((const struct rec *)b)->id);
}

/* Entries of an inflated records stream; their identities in *IDS (an
 * array of its own: entries are sorted, identities must not move). */
static int recs_decode(const char *p, size_t n, struct rec **out, struct sl_osum **ids,
		       size_t *n_out)
{
	struct rec *v = NULL;
	struct sl_osum *id = NULL;
	size_t cnt = 0, off = 0;

	while (off < n) {
		struct rec_ent e;
		const char *ns;

		if (n - off < sizeof(e))
			goto bad;
		memcpy(&e, p + off, sizeof(e));
		if (e.size > n - off || (size_t)e.ns_len + 1 + e.name_len + 1 + e.rec_len + sizeof(e) > e.size)
			goto bad;
		ns = p + off + sizeof(e);
		if (ns[e.ns_len] || ns[e.ns_len + 1 + e.name_len])
			goto bad;
		v = realloc(v, (cnt + 1) * sizeof(*v));
		id = realloc(id, (cnt + 1) * sizeof(*id));
		if (!v || !id)
			goto nomem;
		memset(&id[cnt], 0, sizeof(*id));
		id[cnt].kind = e.kind;
		id[cnt].ns = ns;
		id[cnt].name = ns + e.ns_len + 1;
		v[cnt] = (struct rec){ .rec = id[cnt].name + e.name_len + 1, .len = e.rec_len };
		cnt++;
		off += e.size;
	}
	for (size_t i = 0; i < cnt; i++)
		v[i].id = &id[i];
	*out = v;
	*ids = id;
	*n_out = cnt;
	return 0;
nomem:
	free(v);
	free(id);
	return -ENOMEM;
bad:
	free(v);
	free(id);
	return -EBADMSG;
}

/* The stream of N records (sorted here), compressed; *RAW its raw size. */
static int recs_encode(struct rec *v, size_t n, unsigned char **out, size_t *len, size_t *raw)
{
	size_t total = 0, off = 0;
	char *buf;
	uLongf cl;
	int err = 0;

	if (n)
		qsort(v, n, sizeof(*v), cmp_rec);
	for (size_t i = 0; i < n; i++)
		total += sizeof(struct rec_ent) + strlen(v[i].id->ns) + 1 + strlen(v[i].id->name) + 1 +
			 v[i].len;
	buf = malloc(total ? total : 1);
	if (!buf)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		struct rec_ent e = { 0 };
		size_t nl = strlen(v[i].id->ns), ml = strlen(v[i].id->name);

		e.size = (uint32_t)(sizeof(e) + nl + 1 + ml + 1 + v[i].len);
		e.kind = v[i].id->kind;
		e.ns_len = (uint16_t)nl;
		e.name_len = (uint16_t)ml;
		e.rec_len = (uint32_t)v[i].len;
		memcpy(buf + off, &e, sizeof(e));
		off += sizeof(e);
		memcpy(buf + off, v[i].id->ns, nl + 1);
		off += nl + 1;
		memcpy(buf + off, v[i].id->name, ml + 1);
		off += ml + 1;
		memcpy(buf + off, v[i].rec, v[i].len);
		off += v[i].len;
	}
	cl = compressBound(total);
	*out = malloc(cl ? cl : 1);
	if (!*out)
		err = -ENOMEM;
	else if (compress2(*out, &cl, (const Bytef *)buf, total, Z_BEST_SPEED) != Z_OK)
		err = -EIO;
	*len = cl;
	*raw = total;
	free(buf);
	if (err) {
		free(*out);
		*out = NULL;
	}
	return err;
}

static int inflate_buf(const unsigned char *in, size_t n, size_t raw, char **out)
{
	uLongf len = raw;
	char *b = malloc(raw + 1);

	if (!b)
		return -ENOMEM;
	if (uncompress((Bytef *)b, &len, in, n) != Z_OK || len != raw) {
		free(b);
		return -EBADMSG;
	}
	b[raw] = 0;
	*out = b;
	return 0;
}

/* ---- reading a slot --------------------------------------------------------- */

static const unsigned char *chunk_at(struct sls_view *v, uint16_t c)
{
	struct sl_store_key k = { .slot = v->slot, .chunk = c };

	if (c >= SLS_CHUNKS)
		return NULL;
	if (!v->chunk[c]) {
		v->chunk[c] = malloc(CHUNK);
		if (!v->chunk[c] || bpf_map_lookup_elem(v->m->fd[SL_MAP_STORE], &k, v->chunk[c])) {
			free(v->chunk[c]);
			v->chunk[c] = NULL;
		}
	}
	return v->chunk[c];
}

static bool stream_sane(const struct sls_dir *d, const struct sls_stream *s)
{
	if (!s->n_chunks && !s->len)
		return true; /* an empty bucket */
	if (!s->n_chunks)
		return s->len <= CHUNK && s->off <= CHUNK - s->len && !(s->off % 8) && s->chunk &&
		       s->chunk < SLS_CHUNKS;
	return (uint64_t)s->n_chunks * CHUNK >= s->len && (uint32_t)s->chunk + s->n_chunks <= d->h.n_list;
}

static int dir_decode(const unsigned char *c, struct sls_dir *d)
{
	size_t ns, at = sizeof(d->h);

	memcpy(&d->h, c, sizeof(d->h));
	if (d->h.magic != SLS_MAGIC)
		return -EPROTONOSUPPORT;
	if (d->h.version != SLS_VERSION || !d->h.n_buckets || d->h.n_buckets > SLS_MAX_BUCKETS ||
	    (d->h.n_buckets & (d->h.n_buckets - 1)) || d->h.n_list >= SLS_CHUNKS)
		return -EBADMSG;
	ns = 2 * (size_t)d->h.n_buckets;
	if (at + ns * sizeof(*d->s) + d->h.n_list * sizeof(*d->list) > CHUNK)
		return -EBADMSG;
	d->s = malloc(ns * sizeof(*d->s));
	d->list = malloc((d->h.n_list + 1) * sizeof(*d->list));
	if (!d->s || !d->list)
		return -ENOMEM;
	memcpy(d->s, c + at, ns * sizeof(*d->s));
	memcpy(d->list, c + at + ns * sizeof(*d->s), d->h.n_list * sizeof(*d->list));
	for (size_t i = 0; i < d->h.n_list; i++)
		if (!d->list[i] || d->list[i] >= SLS_CHUNKS)
			return -EBADMSG;
	for (size_t i = 0; i < ns; i++)
		if (!stream_sane(d, &d->s[i]))
			return -EBADMSG;
	return 0;
}

int sls_open(struct sl_maps *m, uint32_t slot, struct sls_view *v)
{
	const unsigned char *c;
	int err;

	memset(v, 0, sizeof(*v));
	v->m = m;
	v->slot = slot;
	c = chunk_at(v, 0);
	if (!c) {
		v->empty = true; /* nothing applied yet */
		return 0;
	}
	err = dir_decode(c, &v->dir);
	if (err == -EPROTONOSUPPORT)
		return 0; /* format 1 */
	if (err)
		return err;
	v->v2 = true;
	v->inflated = calloc(v->dir.h.n_buckets, sizeof(*v->inflated));
	v->inflated_len = calloc(v->dir.h.n_buckets, sizeof(*v->inflated_len));
	return v->inflated && v->inflated_len ? 0 : -ENOMEM;
}

/* What a view holds of its directory: the inflated buckets and the parsed
 * summaries (its chunks are the caller's to free or keep). */
static void free_dir(struct sls_view *v)
{
	for (size_t i = 0; v->inflated && i < v->dir.h.n_buckets; i++)
		free(v->inflated[i]);
	free(v->inflated);
	free(v->inflated_len);
	free(v->dir.s);
	free(v->dir.list);
}

void sls_close(struct sls_view *v)
{
	for (size_t i = 0; i < SLS_CHUNKS; i++)
		if (!v->lent[i])
			free(v->chunk[i]);
	free_dir(v);
	memset(v, 0, sizeof(*v));
}

/* Stream I's bytes (malloc'd, 8-aligned). */
static int stream_bytes(struct sls_view *v, size_t i, unsigned char **out)
{
	const struct sls_stream *s = &v->dir.s[i];
	unsigned char *b = malloc(s->len ? s->len : 1);

	if (!b)
		return -ENOMEM;
	if (!s->n_chunks) {
		const unsigned char *c = s->len ? chunk_at(v, s->chunk) : NULL;

		if (s->len && !c) {
			free(b);
			return -EBADMSG;
		}
		if (s->len)
			memcpy(b, c + s->off, s->len);
	}
	for (uint16_t k = 0; k < s->n_chunks; k++) {
		const unsigned char *c = chunk_at(v, v->dir.list[s->chunk + k]);
		size_t off = (size_t)k * CHUNK, n = s->len - off < CHUNK ? s->len - off : CHUNK;

		if (!c) {
			free(b);
			return -EBADMSG;
		}
		if (off < s->len)
			memcpy(b + off, c, n);
	}
	*out = b;
	return 0;
}

/* The bytes of summary stream I where they can be decoded: in place in
 * its chunk when LEND (an extent: the chunk image then belongs to MODEL),
 * or a copy that MODEL owns. */
static int sums_at(struct sls_view *v, size_t i, struct sl_model *model, bool lend,
		   unsigned char **p)
{
	const struct sls_stream *s = &v->dir.s[i];
	int err;

	if (s->n_chunks || (!lend && s->len)) {
		err = stream_bytes(v, i, p);
		if (!err)
			sl_model_adopt(model, *p);
		return err;
	}
	if (!s->len) {
		*p = NULL;
		return 0;
	}
	if (!chunk_at(v, s->chunk))
		return -EBADMSG;
	if (!v->lent[s->chunk]) {
		sl_model_adopt(model, v->chunk[s->chunk]);
		v->lent[s->chunk] = true;
	}
	*p = v->chunk[s->chunk] + s->off;
	return 0;
}

int sls_load_model(struct sls_view *v, struct sl_model *model, bool lend)
{
	int err = sl_model_reserve(model, v->dir.h.n_objects);

	for (size_t b = 0; !err && b < v->dir.h.n_buckets; b++) {
		unsigned char *buf;
		size_t off = 0, len = v->dir.s[2 * b].len;
		struct sl_osum prev = { 0 };

		err = sums_at(v, 2 * b, model, lend, &buf);
		while (!err && off < len) {
			struct sl_osum s;
			size_t n = sum_decode(buf + off, len - off, &s);

			/* In its bucket and in identity order: then no identity is
			 * there twice, which the model need not look up. */
			if (!n || bucket_of(&s, v->dir.h.n_buckets) != b ||
			    (prev.ns && sl_osum_cmp(&prev, &s) >= 0))
				err = -EBADMSG;
			else
				err = sl_model_add(model, &s, (uint32_t)b + 1, true);
			prev = s;
			off += n;
		}
	}
	if (!err && sl_model_count(model) != v->dir.h.n_objects)
		err = -EBADMSG;
	return err;
}

/* Bucket B's records, inflated (cached in the view). */
static int bucket_recs(struct sls_view *v, uint32_t b, char **p, size_t *n)
{
	const struct sls_stream *s = &v->dir.s[2 * b + 1];
	unsigned char *z;
	int err;

	if (!v->inflated[b]) {
		err = stream_bytes(v, 2 * b + 1, &z);
		if (err)
			return err;
		err = s->len ? inflate_buf(z, s->len, s->raw_len, &v->inflated[b]) : 0;
		if (!s->len)
			v->inflated[b] = calloc(1, 1);
		free(z);
		if (err)
			return err;
		if (!v->inflated[b])
			return -ENOMEM;
		v->inflated_len[b] = s->raw_len;
	}
	*p = v->inflated[b];
	*n = v->inflated_len[b];
	return 0;
}

int sls_fetch(void *ctx, const struct sl_osum *s, char **rec, size_t *len)
{
	struct sls_view *v = ctx;
	struct rec *r = NULL;
	struct sl_osum *ids = NULL;
	size_t n = 0;
	char *p;
	size_t pl;
	int err = bucket_recs(v, bucket_of(s, v->dir.h.n_buckets), &p, &pl);

	if (!err)
		err = recs_decode(p, pl, &r, &ids, &n);
	for (size_t i = 0; !err && i < n; i++) {
		if (sl_osum_cmp(r[i].id, s))
			continue;
		*rec = malloc(r[i].len + 1);
		if (!*rec) {
			err = -ENOMEM;
			break;
		}
		memcpy(*rec, r[i].rec, r[i].len);
		(*rec)[r[i].len] = 0;
		*len = r[i].len;
		free(r);
		free(ids);
		return 0;
	}
	free(r);
	free(ids);
	return err ? err : -ENOENT;
}

int sls_serialize(struct sls_view *v, char **src, size_t *len)
{
	struct rec *all = NULL;
	struct sl_osum **ids = calloc(v->dir.h.n_buckets + 1, sizeof(*ids));
	size_t n = 0, total = 0, off = 0;
	int err = ids ? 0 : -ENOMEM;

	for (uint32_t b = 0; !err && b < v->dir.h.n_buckets; b++) {
		struct rec *r;
		size_t k;
		char *p;
		size_t pl;

		err = bucket_recs(v, b, &p, &pl);
		if (!err)
			err = recs_decode(p, pl, &r, &ids[b], &k);
		if (err)
			break;
		all = realloc(all, (n + k + 1) * sizeof(*all));
		if (!all) {
			free(r);
			err = -ENOMEM;
			break;
		}
		if (k)
			memcpy(all + n, r, k * sizeof(*r));
		n += k;
		free(r);
	}
	if (!err && n != v->dir.h.n_objects)
		err = -EBADMSG;
	if (!err) {
		if (n)
			qsort(all, n, sizeof(*all), cmp_rec);
		for (size_t i = 0; i < n; i++)
			total += all[i].len;
		*src = malloc(total + 1);
		if (!*src)
			err = -ENOMEM;
	}
	for (size_t i = 0; !err && i < n; i++) {
		memcpy(*src + off, all[i].rec, all[i].len);
		off += all[i].len;
	}
	if (!err) {
		(*src)[total] = 0;
		*len = total;
	}
	for (uint32_t b = 0; ids && b < v->dir.h.n_buckets; b++)
		free(ids[b]);
	free(ids);
	free(all);
	return err;
}

/* ---- layout --------------------------------------------------------------- */

/* Chunks of a slot while a write is planned. */
enum { C_FREE = 0, C_DIR, C_EXTENTS, C_WHOLE };

struct plan {
	struct sls_dir d; /* the new directory */
	uint8_t kind[SLS_CHUNKS];
	uint32_t used[SLS_CHUNKS]; /* C_EXTENTS: bytes in use */
	bool dirty[SLS_CHUNKS]; /* to be written */
	bool was[SLS_CHUNKS]; /* used before (to delete when freed) */
	unsigned char **bytes; /* per stream: new bytes (NULL: unchanged) */
	uint16_t *old_chunk; /* per stream: where an unchanged extent is now */
	uint32_t *old_off;
	uint16_t list_cap;
};

static int plan_init(struct plan *p, uint32_t nb)
{
	size_t ns = 2 * (size_t)nb;

	memset(p, 0, sizeof(*p));
	p->d.h.magic = SLS_MAGIC;
	p->d.h.version = SLS_VERSION;
	p->d.h.n_buckets = nb;
	p->d.s = calloc(ns, sizeof(*p->d.s));
	p->d.list = calloc(SLS_CHUNKS, sizeof(*p->d.list));
	p->bytes = calloc(ns, sizeof(*p->bytes));
	p->old_chunk = calloc(ns, sizeof(*p->old_chunk));
	p->old_off = calloc(ns, sizeof(*p->old_off));
	p->kind[0] = C_DIR;
	p->dirty[0] = true;
	return p->d.s && p->d.list && p->bytes && p->old_chunk && p->old_off ? 0 : -ENOMEM;
}

static void plan_free(struct plan *p)
{
	for (size_t i = 0; p->bytes && i < 2 * (size_t)p->d.h.n_buckets; i++)
		free(p->bytes[i]);
	free(p->bytes);
	free(p->old_chunk);
	free(p->old_off);
	free(p->d.s);
	free(p->d.list);
}

static int free_chunk(const struct plan *p)
{
	for (int c = 1; c < (int)SLS_CHUNKS; c++)
		if (p->kind[c] == C_FREE)
			return c;
	return -ENOSPC;
}

/* Take stream I out of its place (its new bytes come later). */
static void unplace(struct plan *p, size_t i)
{
	struct sls_stream *s = &p->d.s[i];

	if (!s->n_chunks && s->len) {
		p->used[s->chunk] -= (uint32_t)ALIGN8(s->len);
		p->dirty[s->chunk] = true;
		if (!p->used[s->chunk])
			p->kind[s->chunk] = C_FREE;
	}
	for (uint16_t k = 0; k < s->n_chunks; k++) {
		p->kind[p->d.list[s->chunk + k]] = C_FREE;
		p->dirty[p->d.list[s->chunk + k]] = true;
	}
	s->len = s->raw_len = s->off = 0;
	s->chunk = s->n_chunks = 0;
}

/* Place stream I's new bytes (LEN, RAW), preferring chunk PREFER. */
static int place(struct plan *p, size_t i, size_t len, size_t raw, uint16_t prefer)
{
	struct sls_stream *s = &p->d.s[i];
	int c = -1;

	s->len = (uint32_t)len;
	s->raw_len = (uint32_t)raw;
	if (!len)
		return 0;
	if (len <= CHUNK) {
		/* Extents start 8-aligned, so summaries decode in place. */
		size_t al = ALIGN8(len);

		if (prefer && p->kind[prefer] == C_EXTENTS && p->used[prefer] + al <= CHUNK)
			c = prefer;
		for (int k = 1; c < 0 && k < (int)SLS_CHUNKS; k++)
			if (p->kind[k] == C_EXTENTS && p->used[k] + al <= CHUNK)
				c = k;
		if (c < 0 && (c = free_chunk(p)) < 0)
			return c;
		p->kind[c] = C_EXTENTS;
		p->used[c] += (uint32_t)al;
		p->dirty[c] = true;
		s->chunk = (uint16_t)c;
		return 0;
	}
	s->n_chunks = (uint16_t)((len + CHUNK - 1) / CHUNK);
	if (p->d.h.n_list + s->n_chunks >= SLS_CHUNKS)
		return -ENOSPC;
	s->chunk = (uint16_t)p->d.h.n_list;
	for (uint16_t k = 0; k < s->n_chunks; k++) {
		if ((c = free_chunk(p)) < 0)
			return c;
		p->kind[c] = C_WHOLE;
		p->dirty[c] = true;
		p->d.list[p->d.h.n_list++] = (uint16_t)c;
	}
	return 0;
}

/* The directory's chunk list holds only the chunks of streams that still
 * own chunks, in stream order. */
static void compact_list(struct plan *p)
{
	uint16_t *nl = calloc(SLS_CHUNKS, sizeof(*nl)), n = 0;

	if (!nl)
		return; /* the old list stays valid, only longer */
	for (size_t i = 0; i < 2 * (size_t)p->d.h.n_buckets; i++) {
		struct sls_stream *s = &p->d.s[i];

		if (!s->n_chunks)
			continue;
		memcpy(nl + n, p->d.list + s->chunk, s->n_chunks * sizeof(*nl));
		s->chunk = n;
		n += s->n_chunks;
	}
	free(p->d.list);
	p->d.list = nl;
	p->d.h.n_list = n;
}

/* Chunk images of everything dirty. OLD (may be NULL) gives the bytes of
 * unchanged extents that share a rewritten chunk. */
static int images(struct plan *p, struct sls_view *old, struct sls_write *w)
{
	size_t ns = 2 * (size_t)p->d.h.n_buckets;
	uint32_t off[SLS_CHUNKS] = { 0 };
	int err = 0;

	w->img = calloc(SLS_CHUNKS, sizeof(*w->img));
	w->img_chunk = calloc(SLS_CHUNKS, sizeof(*w->img_chunk));
	w->del = calloc(SLS_CHUNKS, sizeof(*w->del));
	if (!w->img || !w->img_chunk || !w->del)
		return -ENOMEM;
	for (uint16_t c = 0; c < SLS_CHUNKS && !err; c++) {
		if (!p->dirty[c] && !(w->whole && p->kind[c] != C_FREE))
			continue;
		if (p->kind[c] == C_FREE) {
			if (p->was[c])
				w->del[w->n_del++] = c;
			continue;
		}
		w->img_chunk[w->n_img] = c;
		w->img[w->n_img] = calloc(1, CHUNK);
		if (!w->img[w->n_img++])
			err = -ENOMEM;
	}
	/* Extents: packed in stream order into their chunks. */
	for (size_t i = 0; i < ns && !err; i++) {
		struct sls_stream *s = &p->d.s[i];
		unsigned char *img = NULL;

		if (s->n_chunks || !s->len)
			continue;
		for (uint32_t k = 0; k < w->n_img; k++)
			if (w->img_chunk[k] == s->chunk)
				img = w->img[k];
		if (!img)
			continue; /* a chunk that is not rewritten keeps its extents */
		if (p->bytes[i]) {
			memcpy(img + off[s->chunk], p->bytes[i], s->len);
		} else {
			const unsigned char *src = old ? chunk_at(old, p->old_chunk[i]) : NULL;

			if (!src) {
				err = -EBADMSG;
				break;
			}
			memcpy(img + off[s->chunk], src + p->old_off[i], s->len);
		}
		s->off = off[s->chunk];
		off[s->chunk] += (uint32_t)ALIGN8(s->len);
	}
	/* Whole chunks: new streams only (unchanged ones are not dirty). */
	for (size_t i = 0; i < ns && !err; i++) {
		struct sls_stream *s = &p->d.s[i];

		for (uint16_t k = 0; p->bytes[i] && k < s->n_chunks; k++) {
			uint16_t c = p->d.list[s->chunk + k];
			size_t o = (size_t)k * CHUNK, n = s->len - o < CHUNK ? s->len - o : CHUNK;

			for (uint32_t j = 0; j < w->n_img; j++)
				if (w->img_chunk[j] == c)
					memcpy(w->img[j], p->bytes[i] + o, n);
		}
	}
	return err;
}

static void dir_image(const struct plan *p, unsigned char *img)
{
	size_t ns = 2 * (size_t)p->d.h.n_buckets;

	memcpy(img, &p->d.h, sizeof(p->d.h));
	memcpy(img + sizeof(p->d.h), p->d.s, ns * sizeof(*p->d.s));
	memcpy(img + sizeof(p->d.h) + ns * sizeof(*p->d.s), p->d.list,
	       p->d.h.n_list * sizeof(*p->d.list));
}

static int finish(struct plan *p, struct sls_view *old, const uint32_t counts[3],
		  uint64_t opts_hash, size_t n_objects, uint64_t raw, struct sls_write *w)
{
	size_t ns = 2 * (size_t)p->d.h.n_buckets;
	int err;

	p->d.h.n_objects = (uint32_t)n_objects;
	p->d.h.opts_hash = opts_hash;
	p->d.h.n_svcs = counts[0];
	p->d.h.n_backends = counts[1];
	p->d.h.n_ingress = counts[2];
	p->d.h.raw_bytes = raw;
	p->d.h.stored_bytes = 0;
	p->d.h.chunks_used = 0;
	for (size_t i = 0; i < ns; i++)
		p->d.h.stored_bytes += p->d.s[i].len;
	for (size_t c = 0; c < SLS_CHUNKS; c++)
		p->d.h.chunks_used += p->kind[c] != C_FREE;
	if (sizeof(p->d.h) + ns * sizeof(*p->d.s) + p->d.h.n_list * 2 > CHUNK) {
		w->chunks_used = SLS_CHUNKS + 1;
		return -ENOSPC;
	}
	err = images(p, old, w);
	if (!err)
		dir_image(p, w->img[0]);
	w->stored_bytes = p->d.h.stored_bytes;
	w->chunks_used = p->d.h.chunks_used;
	return err;
}

/* ---- whole ------------------------------------------------------------------ */

static uint32_t buckets_for(size_t raw, size_t sums)
{
	uint32_t nb = 1;

	while (nb < SLS_MAX_BUCKETS && ((uint64_t)nb * 65536 < raw || (uint64_t)nb * 16384 < sums))
		nb *= 2;
	return nb;
}

/* Which bucket each slot of MODEL is in (the high bit set: removed), and
 * the serialized size of the policy (every record). A whole write's pass. */
static uint32_t *buckets_of(const struct sl_model *model, uint32_t nb, uint64_t *raw)
{
	size_t n = sl_model_slots(model);
	uint32_t *b = malloc((n + 1) * sizeof(*b));

	*raw = 0;
	for (size_t i = 0; b && i < n; i++) {
		unsigned st;
		const struct sl_osum *s = sl_model_slot(model, i, &st);

		b[i] = bucket_of(s, nb);
		if (st & SL_MS_REMOVED)
			b[i] |= 0x80000000u; /* its bucket, marked removed */
		else
			*raw += s->rec_len;
	}
	return b;
}

static int cmp_sum_ptr(const void *a, const void *b)
{
	return sl_osum_cmp(*(const struct sl_osum *const *)a, *(const struct sl_osum *const *)b);
}

/* One bucket's summaries V[0..K), in any order (sorted here: the reader
 * checks identity order), as its stream. */
static int sums_encode(const struct sl_osum **v, size_t k, unsigned char **out, size_t *len)
{
	size_t total = 0, off = 0;
	unsigned char *buf;

	if (k)
		qsort(v, k, sizeof(*v), cmp_sum_ptr);
	for (size_t i = 0; i < k; i++)
		total += sum_size(v[i]);
	buf = calloc(1, total ? total : 1);
	if (!buf)
		return -ENOMEM;
	for (size_t i = 0; i < k; i++) {
		sum_encode(v[i], buf + off);
		off += sum_size(v[i]);
	}
	*out = buf;
	*len = total;
	return 0;
}

/* Bucket B's summaries from its records' identities (a whole write). */
static int sums_of_recs(const struct rec *r, size_t n, unsigned char **out, size_t *len)
{
	const struct sl_osum **v = malloc((n + 1) * sizeof(*v));
	int err;

	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		v[i] = r[i].id;
	err = sums_encode(v, n, out, len);
	free(v);
	return err;
}

/* Bucket B's summaries: every live object of MODEL tagged B + 1. */
static int sums_stream(struct sl_model *model, uint32_t b, unsigned char **out, size_t *len)
{
	const struct sl_osum **v = NULL;
	uint32_t *slots = NULL;
	size_t n = 0, k = 0;
	int err = sl_model_with_tag(model, b + 1, &slots, &n);

	if (!err && !(v = malloc((n + 1) * sizeof(*v))))
		err = -ENOMEM;
	for (size_t i = 0; !err && i < n; i++) {
		const struct sl_osum *s = sl_model_sum(model, slots[i], NULL, NULL);

		if (s)
			v[k++] = s;
	}
	if (!err)
		err = sums_encode(v, k, out, len);
	free(v);
	free(slots);
	return err;
}

/* Place every stream of P that has new bytes; a store that does not fit
 * is reported through W (chunks_used past the slot), not as an error. */
static int place_all(struct plan *p, const size_t *len, const size_t *raw, const bool *touch,
		     const struct sls_dir *old, struct sls_write *w)
{
	size_t ns = 2 * (size_t)p->d.h.n_buckets;
	int err = 0;

	w->stored_bytes = 0;
	for (size_t i = 0; i < ns; i++)
		w->stored_bytes += touch[i] ? len[i] : old->s[i].len;
	for (size_t i = 0; !err && i < ns; i++) {
		if (!touch[i])
			continue;
		if (old)
			unplace(p, i);
		err = place(p, i, len[i], raw[i],
			    old && !old->s[i].n_chunks ? old->s[i].chunk : 0);
	}
	if (err == -ENOSPC)
		w->chunks_used = SLS_CHUNKS + 1;
	return err;
}

/* Every other bucket from FIRST: its summaries and its compressed
 * records (a whole store is ~8 MB of records to compress at 10,000
 * services; the two halves run at once). */
struct enc_job {
	uint32_t nb, first;
	struct rec **byb;
	size_t *nbyb;
	struct plan *p;
	size_t *len, *rawl;
	bool *touch;
	int err;
};

static void encode_buckets(void *arg)
{
	struct enc_job *j = arg;

	for (uint32_t b = j->first; !j->err && b < j->nb; b += 2) {
		j->touch[2 * b] = j->touch[2 * b + 1] = true;
		j->err = sums_of_recs(j->byb[b], j->nbyb[b], &j->p->bytes[2 * b], &j->len[2 * b]);
		j->rawl[2 * b] = j->len[2 * b];
		if (!j->err)
			j->err = recs_encode(j->byb[b], j->nbyb[b], &j->p->bytes[2 * b + 1],
					     &j->len[2 * b + 1], &j->rawl[2 * b + 1]);
	}
}

int sls_whole(const struct sl_model *model, const uint32_t counts[3], struct sls_write *w)
{
	size_t n = sl_model_slots(model), sums = 0, ns;
	uint64_t raw = 0;
	struct rec **byb = NULL;
	size_t *nbyb = NULL, *len = NULL, *rawl = NULL;
	uint32_t *bk = NULL, nb;
	bool *touch = NULL;
	struct plan p;
	int err;

	memset(w, 0, sizeof(*w));
	for (size_t i = 0; i < n; i++) {
		const struct sl_osum *s = sl_model_sum(model, i, NULL, NULL);

		raw += s ? s->rec_len : 0;
		sums += s ? sum_size(s) : 0;
	}
	nb = buckets_for(raw, sums);
	ns = 2 * (size_t)nb;
	err = plan_init(&p, nb);
	bk = buckets_of(model, nb, &raw);
	byb = calloc(nb, sizeof(*byb));
	nbyb = calloc(nb, sizeof(*nbyb));
	len = calloc(ns, sizeof(*len));
	rawl = calloc(ns, sizeof(*rawl));
	touch = calloc(ns, sizeof(*touch));
	if (!err && (!bk || !byb || !nbyb || !len || !rawl || !touch))
		err = -ENOMEM;
	for (size_t i = 0; !err && i < n; i++) {
		struct rec *r;

		if (bk[i] & 0x80000000u)
			continue;
		r = realloc(byb[bk[i]], (nbyb[bk[i]] + 1) * sizeof(*r));
		if (!r) {
			err = -ENOMEM;
			break;
		}
		byb[bk[i]] = r;
		r = &r[nbyb[bk[i]]++];
		memset(r, 0, sizeof(*r));
		r->id = sl_model_sum(model, i, NULL, NULL);
		r->owned = sl_model_record(model, i, &r->len);
		r->rec = r->owned;
		if (!r->owned)
			err = -ENOENT; /* every record must be at hand */
	}
	if (!err) {
		struct enc_job j[2] = {
			{ nb, 0, byb, nbyb, &p, len, rawl, touch, 0 },
			{ nb, 1, byb, nbyb, &p, len, rawl, touch, 0 },
		};

		sl_par2(encode_buckets, &j[0], &j[1]);
		err = j[0].err ? j[0].err : j[1].err;
	}
	w->whole = true;
	w->raw_bytes = raw;
	if (!err)
		err = place_all(&p, len, rawl, touch, NULL, w);
	if (!err)
		err = finish(&p, NULL, counts, sls_opts_hash(sl_model_opts(model)),
			     sl_model_count(model), raw, w);
	for (uint32_t b = 0; byb && b < nb; b++) {
		for (size_t i = 0; i < nbyb[b]; i++)
			free(byb[b][i].owned);
		free(byb[b]);
	}
	free(byb);
	free(nbyb);
	free(bk);
	free(len);
	free(rawl);
	free(touch);
	plan_free(&p);
	return err == -ENOSPC ? 0 : err;
}

/* ---- delta -------------------------------------------------------------------- */

/* Bucket B's records: the view's, with MODEL's changed and removed
 * objects of that bucket applied. */
static int recs_stream(struct sls_view *v, const struct sl_model *model, uint32_t b,
		       unsigned char **out, size_t *len, size_t *raw)
{
	struct rec *r = NULL, *keep;
	struct sl_osum *ids = NULL;
	const uint32_t *dirty;
	size_t n = 0, k = 0, slots = sl_model_dirty(model, &dirty), n_chg = 0, *chg;
	char *p;
	size_t pl;
	int err = bucket_recs(v, b, &p, &pl);

	if (!err)
		err = recs_decode(p, pl, &r, &ids, &n);
	chg = calloc(slots + 1, sizeof(*chg));
	keep = calloc(n + slots + 1, sizeof(*keep));
	if (!err && (!keep || !chg))
		err = -ENOMEM;
	/* The objects of this bucket whose record changed or that went in
	 * this change: a model kept across applies also holds the slots of
	 * objects removed before, whose identity may be live again. */
	for (size_t j = 0; !err && j < slots; j++) {
		unsigned st;

		sl_model_slot(model, dirty[j], &st);
		if (sl_model_tag(model, dirty[j]) == b + 1 && (st & (SL_MS_REC | SL_MS_REMOVED)))
			chg[n_chg++] = dirty[j];
	}
	for (size_t i = 0; !err && i < n; i++) {
		bool gone = false;

		for (size_t c = 0; c < n_chg && !gone; c++) {
			unsigned st;

			gone = !sl_osum_cmp(sl_model_slot(model, chg[c], &st), r[i].id);
		}
		if (!gone)
			keep[k++] = r[i];
	}
	for (size_t c = 0; !err && c < n_chg; c++) {
		unsigned st;
		const struct sl_osum *s = sl_model_slot(model, chg[c], &st);

		if (st & SL_MS_REMOVED)
			continue;
		keep[k].id = s;
		keep[k].owned = sl_model_record(model, chg[c], &keep[k].len);
		keep[k].rec = keep[k].owned;
		if (!keep[k++].owned)
			err = -ENOENT;
	}
	if (!err)
		err = recs_encode(keep, k, out, len, raw);
	for (size_t i = 0; keep && i < k; i++)
		free(keep[i].owned);
	free(keep);
	free(chg);
	free(r);
	free(ids);
	return err;
}

/* The plan of a slot that holds the view's store. */
static void plan_from(struct plan *p, const struct sls_dir *d)
{
	size_t ns = 2 * (size_t)d->h.n_buckets;

	memcpy(p->d.s, d->s, ns * sizeof(*p->d.s));
	memcpy(p->d.list, d->list, d->h.n_list * sizeof(*p->d.list));
	p->d.h.n_list = d->h.n_list;
	for (size_t i = 0; i < ns; i++) {
		const struct sls_stream *s = &d->s[i];

		p->old_chunk[i] = s->chunk;
		p->old_off[i] = s->off;
		if (!s->n_chunks && s->len) {
			p->kind[s->chunk] = C_EXTENTS;
			p->used[s->chunk] += (uint32_t)ALIGN8(s->len);
			p->was[s->chunk] = true;
		}
		for (uint16_t k = 0; k < s->n_chunks; k++) {
			p->kind[d->list[s->chunk + k]] = C_WHOLE;
			p->was[d->list[s->chunk + k]] = true;
		}
	}
}

/* Every slot gets the tag of the bucket it is stored in: the dirty ones
 * first (new objects), then, only when some are left (a model a whole
 * compile made), all. */
static void tag_slots(struct sl_model *model, uint32_t nb, const uint32_t *dirty, size_t nd)
{
	size_t n = sl_model_slots(model);
	unsigned st;

	for (size_t j = 0; j < nd && sl_model_untagged(model); j++)
		if (!sl_model_tag(model, dirty[j]))
			sl_model_set_tag(model, dirty[j],
					 bucket_of(sl_model_slot(model, dirty[j], &st), nb) + 1);
	for (size_t i = 0; i < n && sl_model_untagged(model); i++)
		if (!sl_model_tag(model, i))
			sl_model_set_tag(model, i, bucket_of(sl_model_slot(model, i, &st), nb) + 1);
}

int sls_delta(struct sls_view *v, struct sl_model *model, const uint32_t counts[3],
	      struct sls_write *w)
{
	uint32_t nb = v->dir.h.n_buckets;
	size_t ns = 2 * (size_t)nb, nd;
	bool *touch = calloc(ns, sizeof(*touch));
	size_t *len = calloc(ns, sizeof(*len)), *raw = calloc(ns, sizeof(*raw));
	const uint32_t *dirty;
	uint64_t rawb = sl_model_raw(model);
	struct plan p;
	int err = plan_init(&p, nb);

	memset(w, 0, sizeof(*w));
	nd = sl_model_dirty(model, &dirty);
	if (!err && (!touch || !len || !raw))
		err = -ENOMEM;
	if (!err) {
		tag_slots(model, nb, dirty, nd);
		plan_from(&p, &v->dir);
	}
	for (size_t j = 0; !err && j < nd; j++) {
		uint32_t b = sl_model_tag(model, dirty[j]) - 1;
		unsigned st;

		sl_model_slot(model, dirty[j], &st);
		touch[2 * b] = true;
		if (st & (SL_MS_REC | SL_MS_REMOVED))
			touch[2 * b + 1] = true;
	}
	for (size_t i = 0; !err && i < ns; i++) {
		if (!touch[i])
			continue;
		err = i % 2 ? recs_stream(v, model, (uint32_t)(i / 2), &p.bytes[i], &len[i], &raw[i])
			    : sums_stream(model, (uint32_t)(i / 2), &p.bytes[i], &len[i]);
		raw[i] = i % 2 ? raw[i] : len[i];
	}
	w->raw_bytes = rawb;
	if (!err)
		err = place_all(&p, len, raw, touch, &v->dir, w);
	if (!err) {
		compact_list(&p);
		err = finish(&p, v, counts, sls_opts_hash(sl_model_opts(model)),
			     sl_model_count(model), rawb, w);
	}
	free(touch);
	free(len);
	free(raw);
	plan_free(&p);
	return err == -ENOSPC ? 0 : err;
}

/* ---- a view that follows its writes ---------------------------------------------- */

int sls_view_follow(struct sls_view *v, const struct sls_write *w)
{
	struct sls_dir d = { 0 };
	bool keep[SLS_CHUNKS] = { false };
	int err = dir_decode(w->img[0], &d);

	if (err) {
		free(d.s);
		free(d.list);
		return err;
	}
	for (uint32_t i = 0; i < w->n_img; i++) {
		unsigned char *c = malloc(CHUNK);
		uint16_t k = w->img_chunk[i];

		if (!c) {
			err = -ENOMEM;
			break;
		}
		memcpy(c, w->img[i], CHUNK);
		if (!v->lent[k])
			free(v->chunk[k]);
		v->chunk[k] = c;
		v->lent[k] = false;
		keep[k] = true;
	}
	for (uint16_t c = 0; c < SLS_CHUNKS; c++) {
		bool gone = w->whole && !keep[c];

		for (uint32_t i = 0; !gone && i < w->n_del; i++)
			gone = w->del[i] == c;
		if (gone && !v->lent[c])
			free(v->chunk[c]);
		if (gone)
			v->chunk[c] = NULL, v->lent[c] = false;
	}
	free_dir(v);
	v->dir = d;
	v->v2 = true;
	v->empty = false;
	v->inflated = calloc(d.h.n_buckets, sizeof(*v->inflated));
	v->inflated_len = calloc(d.h.n_buckets, sizeof(*v->inflated_len));
	return err ? err : v->inflated && v->inflated_len ? 0 : -ENOMEM;
}

/* ---- writing ------------------------------------------------------------------ */

struct not_used {
	uint32_t slot;
	const bool *used;
};

static bool chunk_unused(const void *key, const void *ctx)
{
	const struct sl_store_key *k = key;
	const struct not_used *u = ctx;

	return k->slot == u->slot && (k->chunk >= SLS_CHUNKS || !u->used[k->chunk]);
}

int sls_apply(struct sl_maps *m, uint32_t slot, const struct sls_write *w, struct sl_config *cfg)
{
	int fd = m->fd[SL_MAP_STORE], err = 0;
	bool used[SLS_CHUNKS] = { false };

	if (w->whole) {
		struct not_used u = { slot, used };

		for (uint32_t i = 0; i < w->n_img; i++)
			used[w->img_chunk[i]] = true;
		err = sl_clear_where(fd, sizeof(struct sl_store_key), chunk_unused, &u);
	}
	for (uint32_t i = 0; !err && i < w->n_del; i++) {
		struct sl_store_key k = { .slot = slot, .chunk = w->del[i] };

		err = sl_map_del(fd, &k);
	}
	/* The directory last: a store whose other chunks are written. */
	for (uint32_t i = w->n_img; !err && i-- > 0;) {
		struct sl_store_key k = { .slot = slot, .chunk = w->img_chunk[i] };

		err = sl_map_put(fd, &k, w->img[i], BPF_ANY);
	}
	if (!err) {
		cfg->store_chunks = w->chunks_used;
		cfg->store_bytes = (__u32)(w->stored_bytes > UINT32_MAX ? UINT32_MAX : w->stored_bytes);
		cfg->store_raw_bytes = (__u32)(w->raw_bytes > UINT32_MAX ? UINT32_MAX : w->raw_bytes);
	}
	return err;
}

bool sls_fits(const struct sls_write *w)
{
	return w->chunks_used <= SLS_CHUNKS && w->raw_bytes <= UINT32_MAX;
}

/* Every stream's stored bytes are at most the summaries' bytes, plus each
 * bucket's records through compressBound() (whose shifted terms add up
 * to no more than those of the sum; 13 more per bucket), plus 8-byte
 * alignment. place() packs extents first-fit, so any two chunks of
 * extents hold more than one chunk's bytes between them, and a stream of
 * whole chunks fills each but its last: the chunks used are at most twice
 * the bytes over a chunk, plus the directory and one half-empty chunk. */
bool sls_whole_surely_fits(const struct sl_model *model)
{
	size_t n = sl_model_slots(model), sums = 0;
	uint64_t raw = 0, recs = 0, bytes;
	uint32_t nb;

	for (size_t i = 0; i < n; i++) {
		const struct sl_osum *s = sl_model_sum(model, i, NULL, NULL);

		if (!s)
			continue;
		raw += s->rec_len;
		recs += sizeof(struct rec_ent) + strlen(s->ns) + 1 + strlen(s->name) + 1 +
			s->rec_len;
		sums += sum_size(s);
	}
	nb = buckets_for(raw, sums);
	bytes = sums + compressBound(recs) + 13ull * nb + 2ull * nb * 8;
	return raw <= UINT32_MAX && 2 + 2 * (bytes + CHUNK - 1) / CHUNK <= SLS_CHUNKS;
}

void sls_write_free(struct sls_write *w)
{
	for (uint32_t i = 0; w->img && i < w->n_img; i++)
		free(w->img[i]);
	free(w->img);
	free(w->img_chunk);
	free(w->del);
	memset(w, 0, sizeof(*w));
}
