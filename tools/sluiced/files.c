// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "confdir.h"
#include "files.h"

/* More changed files than this in one sync: the whole directory. */
#define MAX_CHANGED_FILES 64

struct entry {
	char *name; /* within the directory */
	bool link; /* a symlink */
	char *text; /* NULL in a staged change: the file is gone */
	size_t len;
	uint64_t *ids; /* identity hashes of its objects, sorted, distinct */
	size_t n_ids;
};

/* How many files hold each identity hash (open addressing; key 0 free). */
struct idx {
	uint64_t *key;
	uint32_t *cnt;
	size_t cap, n;
};

struct agent_files {
	struct entry *v; /* what is applied, sorted by name */
	size_t n;
	struct idx idx;
	bool valid, all;
	size_t n_links; /* entries that are symlinks */
	char **dirty;
	size_t n_dirty, cap_dirty;
	/* Staged: the whole new list, or the changed entries. */
	bool staged_whole;
	struct entry *sv;
	size_t sn;
};

/* ---- identities ----------------------------------------------------------- */

static uint64_t fnv(uint64_t h, const char *s)
{
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
	return (h ^ 0xff) * 0x100000001b3ull; /* the separator */
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The identity hashes of P's objects, sorted and distinct. Two identities
 * that collide only make a change look like a duplicate: the whole
 * directory is read, never a wrong result. */
static int ids_of(const struct sl_policy *p, struct entry *e)
{
	size_t n = sl_policy_count(p), k = 0;
	struct sl_object_info o;

	e->ids = malloc((n + 1) * sizeof(*e->ids));
	if (!e->ids)
		return -ENOMEM;
	for (size_t i = 0; i < n && sl_policy_object(p, i, &o); i++) {
		uint64_t h = fnv(fnv(fnv(0xcbf29ce484222325ull, o.kind), o.ns ? o.ns : ""), o.name);

		e->ids[k++] = h ? h : 1;
	}
	qsort(e->ids, k, sizeof(*e->ids), cmp_u64);
	e->n_ids = 0;
	for (size_t i = 0; i < k; i++)
		if (!e->n_ids || e->ids[e->n_ids - 1] != e->ids[i])
			e->ids[e->n_ids++] = e->ids[i];
	return 0;
}

static bool has_id(const struct entry *e, uint64_t id)
{
	return e && e->n_ids && bsearch(&id, e->ids, e->n_ids, sizeof(id), cmp_u64);
}

static size_t idx_slot(const struct idx *x, uint64_t k)
{
	size_t i = (size_t)((k * 0x9e3779b97f4a7c15ull) >> 17) & (x->cap - 1);

	while (x->key[i] && x->key[i] != k)
		i = (i + 1) & (x->cap - 1);
	return i;
}

static void idx_free(struct idx *x)
{
	free(x->key);
	free(x->cnt);
	memset(x, 0, sizeof(*x));
}

static int idx_grow(struct idx *x)
{
	struct idx n = { .cap = x->cap ? 2 * x->cap : 1024 };

	n.key = calloc(n.cap, sizeof(*n.key));
	n.cnt = calloc(n.cap, sizeof(*n.cnt));
	if (!n.key || !n.cnt) {
		idx_free(&n);
		return -ENOMEM;
	}
	for (size_t i = 0; i < x->cap; i++) {
		if (!x->key[i] || !x->cnt[i])
			continue; /* identities no file holds any more go */
		size_t j = idx_slot(&n, x->key[i]);

		n.key[j] = x->key[i];
		n.cnt[j] = x->cnt[i];
		n.n++;
	}
	idx_free(x);
	*x = n;
	return 0;
}

static uint32_t idx_count(const struct idx *x, uint64_t k)
{
	size_t i;

	if (!x->cap)
		return 0;
	i = idx_slot(x, k);
	return x->key[i] ? x->cnt[i] : 0;
}

static int idx_add(struct idx *x, uint64_t k, int delta)
{
	size_t i;

	if ((x->n + 1) * 2 > x->cap && idx_grow(x))
		return -ENOMEM;
	i = idx_slot(x, k);
	if (!x->key[i]) {
		x->key[i] = k;
		x->n++;
	}
	x->cnt[i] += (uint32_t)delta;
	return 0;
}

static int idx_entry(struct idx *x, const struct entry *e, int delta)
{
	int err = 0;

	for (size_t i = 0; e && !err && i < e->n_ids; i++)
		err = idx_add(x, e->ids[i], delta);
	return err;
}

/* ---- entries ---------------------------------------------------------------- */

static void entry_free(struct entry *e)
{
	free(e->name);
	free(e->text);
	free(e->ids);
	memset(e, 0, sizeof(*e));
}

static void entries_free(struct entry *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		entry_free(&v[i]);
	free(v);
}

static int cmp_entry(const void *a, const void *b)
{
	return strcmp(((const struct entry *)a)->name, ((const struct entry *)b)->name);
}

static struct entry *find(const struct agent_files *f, const char *name)
{
	struct entry key = { .name = (char *)name };

	return f->n ? bsearch(&key, f->v, f->n, sizeof(key), cmp_entry) : NULL;
}

/* Where NAME (not there) goes in the sorted entries. */
static size_t insert_pos(const struct agent_files *f, const char *name)
{
	size_t lo = 0, hi = f->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (strcmp(f->v[mid].name, name) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

struct agent_files *files_new(void)
{
	return calloc(1, sizeof(struct agent_files));
}

static void drop_staged(struct agent_files *f)
{
	entries_free(f->sv, f->sn);
	f->sv = NULL;
	f->sn = 0;
	f->staged_whole = false;
}

static void clear_dirty(struct agent_files *f)
{
	for (size_t i = 0; i < f->n_dirty; i++)
		free(f->dirty[i]);
	f->n_dirty = 0;
	f->all = false;
}

void files_free(struct agent_files *f)
{
	if (!f)
		return;
	drop_staged(f);
	clear_dirty(f);
	free(f->dirty);
	entries_free(f->v, f->n);
	idx_free(&f->idx);
	free(f);
}

static bool yaml_file(const char *n)
{
	size_t l = strlen(n);

	return n[0] != '.' && !strchr(n, '/') &&
	       ((l > 5 && !strcmp(n + l - 5, ".yaml")) || (l > 4 && !strcmp(n + l - 4, ".yml")));
}

void files_dirty_all(struct agent_files *f)
{
	f->all = true;
}

static enum files_mark mark_all(struct agent_files *f)
{
	f->all = true;
	return FILES_ALL;
}

enum files_mark files_dirty(struct agent_files *f, const char *name)
{
	char **nv;

	if (!name || !*name)
		return mark_all(f);
	if (!yaml_file(name))
		return f->n_links || !f->valid ? mark_all(f) : FILES_NONE;
	if (f->n_dirty >= MAX_CHANGED_FILES)
		return mark_all(f);
	for (size_t i = 0; i < f->n_dirty; i++)
		if (!strcmp(f->dirty[i], name))
			return FILES_ONE;
	if (f->n_dirty == f->cap_dirty) {
		size_t cap = f->cap_dirty ? 2 * f->cap_dirty : 8;

		nv = realloc(f->dirty, cap * sizeof(*nv));
		if (!nv)
			return mark_all(f);
		f->dirty = nv;
		f->cap_dirty = cap;
	}
	if (!(f->dirty[f->n_dirty] = strdup(name)))
		return mark_all(f);
	f->n_dirty++;
	return FILES_ONE;
}

/* Is DIR/NAME a symlink? */
static bool is_link(const char *dir, const char *name)
{
	struct stat st;
	char path[4096];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return !lstat(path, &st) && S_ISLNK(st.st_mode);
}

/* ---- staging ---------------------------------------------------------------- */

/* Parse one file's TEXT (PATH for messages) into *P with its identities
 * in E. -EINVAL: errors in D. */
static int parse_file(const char *path, const char *text, size_t len, struct sl_policy **p,
		      struct entry *e, struct sl_diags *d)
{
	*p = sl_policy_new();
	if (!*p)
		return -ENOMEM;
	if (sl_policy_load(*p, path, text, len, d)) {
		sl_policy_free(*p);
		*p = NULL;
		return -EINVAL;
	}
	return ids_of(*p, e);
}

/* Merge the N policies of V into V[0], later ones winning ties, as if
 * loaded into one in order: pairwise, bottom up, so that each object is
 * moved log2(N) times rather than N times. */
static void merge_all(struct sl_policy **v, size_t n)
{
	for (size_t step = 1; step < n; step *= 2)
		for (size_t i = 0; i + step < n; i += 2 * step) {
			sl_policy_merge(v[i], v[i + step]);
			sl_policy_free(v[i + step]);
			v[i + step] = NULL;
		}
}

int files_stage_whole(struct agent_files *f, const char *dir, struct sl_policy **whole,
		      struct sl_diags *d, char *why, size_t why_len, bool *read_failed)
{
	size_t skip = strlen(dir) + 1;
	struct sl_policy **per = NULL;
	struct confdir c;
	int err, bad = 0;

	drop_staged(f);
	f->staged_whole = true;
	*whole = NULL;
	err = confdir_read(dir, &c, why, why_len);
	*read_failed = err != 0;
	if (err)
		return err;
	per = calloc(c.n + 1, sizeof(*per));
	f->sv = calloc(c.n + 1, sizeof(*f->sv));
	if (!per || !f->sv)
		err = -ENOMEM;
	for (size_t i = 0; !err && i < c.n; i++) {
		struct entry *e = &f->sv[f->sn++];
		int e1 = parse_file(c.src[i].name, c.src[i].text, c.src[i].len, &per[i], e, d);

		e->name = strdup(c.src[i].name + skip);
		e->link = e->name && is_link(dir, e->name);
		e->text = (char *)c.src[i].text;
		e->len = c.src[i].len;
		c.src[i].text = NULL;
		if (e1 == -EINVAL)
			bad = e1;
		else
			err = e1 ? e1 : !e->name ? -ENOMEM : 0;
	}
	if (!err && !bad) {
		merge_all(per, c.n);
		*whole = c.n ? per[0] : sl_policy_new();
		if (c.n)
			per[0] = NULL;
		if (!*whole)
			err = -ENOMEM;
	}
	for (size_t i = 0; per && i < c.n; i++)
		sl_policy_free(per[i]);
	free(per);
	confdir_free(&c);
	if (err)
		snprintf(why, why_len, "%s", strerror(-err));
	return err ? err : bad;
}

/* May the staged change S (the old entry OLD) be applied without the
 * whole directory: no identity it held or holds is in another file, nor
 * in another file of the same change (BATCH). */
static bool owned_alone(const struct agent_files *f, const struct entry *old,
			const struct entry *s, struct idx *batch)
{
	for (size_t i = 0; old && i < old->n_ids; i++)
		if (idx_count(&f->idx, old->ids[i]) > 1)
			return false;
	for (size_t i = 0; i < s->n_ids; i++) {
		if (idx_count(&f->idx, s->ids[i]) > (has_id(old, s->ids[i]) ? 1u : 0u) ||
		    idx_count(batch, s->ids[i]))
			return false;
		if (idx_add(batch, s->ids[i], 1))
			return false;
	}
	return true;
}

/* The identities OLD held that NEW (NULL: gone) does not, into RM. */
static int removed_names(const char *path, const struct entry *old, struct sl_policy *newp,
			 struct sl_policy *rm)
{
	struct sl_policy *names = sl_policy_new();
	struct sl_diags ignored = { 0 };
	int err = names ? 0 : -ENOMEM;

	/* OLD's text parsed when it was applied: it parses again. */
	if (!err && sl_policy_load_names(names, path, old->text, old->len, &ignored))
		err = -EIO;
	if (!err && newp)
		sl_policy_subtract(names, newp, &ignored); /* not removed: upserted */
	if (!err)
		sl_policy_merge(rm, names);
	sl_policy_free(names);
	sl_diags_free(&ignored);
	return err;
}

/* Stage file NAME: its new state into S, its objects into UP and the
 * identities it dropped into RM. 0 staged, 1 unchanged, -EAGAIN, -EINVAL
 * (errors in D) or another -errno. */
static int stage_file(struct agent_files *f, const char *dir, const char *name,
		      struct entry *s, struct sl_policy *up, struct sl_policy *rm, struct idx *batch,
		      struct sl_diags *d)
{
	const struct entry *old = find(f, name);
	struct sl_policy *p = NULL;
	char *path = NULL, reason[256];
	int err = confdir_read_file(dir, name, &s->text, &s->len, reason, sizeof(reason));

	if (err == -ENOENT) {
		s->text = NULL;
		err = 0;
	} else if (err) {
		/* The whole read rejects the directory for it, in its words. */
		return -EAGAIN;
	}
	if (!old && !s->text)
		return 1;
	s->link = s->text && is_link(dir, name);
	if (old && s->text && s->link == old->link && s->len == old->len &&
	    !memcmp(s->text, old->text, s->len))
		return 1;
	if (asprintf(&path, "%s/%s", dir, name) < 0)
		return -ENOMEM;
	if (s->text)
		err = parse_file(path, s->text, s->len, &p, s, d);
	if (!err && !owned_alone(f, old, s, batch))
		err = -EAGAIN;
	if (!err && old)
		err = removed_names(path, old, p, rm);
	if (!err && p)
		sl_policy_merge(up, p);
	sl_policy_free(p);
	free(path);
	return err;
}

int files_stage_change(struct agent_files *f, const char *dir, struct sl_policy **up,
		       struct sl_policy **rm, struct sl_diags *d, char *why, size_t why_len)
{
	struct idx batch = { 0 };
	int err = 0, bad = 0;

	drop_staged(f);
	if (!f->valid || f->all)
		return -EAGAIN;
	*up = sl_policy_new();
	*rm = sl_policy_new();
	f->sv = calloc(f->n_dirty + 1, sizeof(*f->sv));
	if (!*up || !*rm || !f->sv)
		err = -ENOMEM;
	for (size_t i = 0; !err && i < f->n_dirty; i++) {
		struct entry *s = &f->sv[f->sn];
		int r = stage_file(f, dir, f->dirty[i], s, *up, *rm, &batch, d);

		if (r == 1 || r == -EINVAL) {
			bad = r == -EINVAL ? r : bad;
			entry_free(s);
			continue;
		}
		err = r;
		if (!err && !(s->name = strdup(f->dirty[i])))
			err = -ENOMEM;
		f->sn++;
	}
	idx_free(&batch);
	if (err && err != -EAGAIN)
		snprintf(why, why_len, "%s", strerror(-err));
	if (!err && !bad && f->sn)
		return 1;
	sl_policy_free(*up);
	sl_policy_free(*rm);
	*up = *rm = NULL;
	if (err || bad)
		return err ? err : bad;
	return 0;
}

/* ---- commit ----------------------------------------------------------------- */

static int rebuild_index(struct agent_files *f)
{
	int err = 0;

	idx_free(&f->idx);
	f->n_links = 0;
	for (size_t i = 0; !err && i < f->n; i++) {
		err = idx_entry(&f->idx, &f->v[i], 1);
		f->n_links += f->v[i].link;
	}
	return err;
}

/* Entry S replaces (or adds, or with no text removes) its name's. */
static int commit_one(struct agent_files *f, struct entry *s)
{
	struct entry *old = find(f, s->name), *nv;
	int err = idx_entry(&f->idx, old, -1);

	if (!err && s->text)
		err = idx_entry(&f->idx, s, 1);
	if (err)
		return err;
	f->n_links = f->n_links - (old && old->link) + (s->text && s->link);
	if (old && s->text) {
		entry_free(old);
		*old = *s;
	} else if (old) {
		entry_free(old);
		memmove(old, old + 1, (size_t)(f->v + f->n - old - 1) * sizeof(*old));
		f->n--;
		entry_free(s);
	} else if (s->text) {
		size_t at = insert_pos(f, s->name);

		nv = realloc(f->v, (f->n + 1) * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		f->v = nv;
		/* In its place: sorting 10,000 names again took ~2 ms a file. */
		memmove(f->v + at + 1, f->v + at, (f->n - at) * sizeof(*nv));
		f->v[at] = *s;
		f->n++;
	}
	memset(s, 0, sizeof(*s));
	return 0;
}

void files_commit(struct agent_files *f)
{
	int err = 0;

	if (f->staged_whole) {
		entries_free(f->v, f->n);
		f->v = f->sv;
		f->n = f->sn;
		f->sv = NULL;
		f->sn = 0;
		qsort(f->v, f->n, sizeof(*f->v), cmp_entry);
		err = rebuild_index(f);
	}
	for (size_t i = 0; !err && i < f->sn; i++)
		err = commit_one(f, &f->sv[i]);
	drop_staged(f);
	clear_dirty(f);
	f->valid = !err; /* out of memory: the whole directory next time */
}

void files_abort(struct agent_files *f)
{
	drop_staged(f);
	clear_dirty(f);
	f->valid = false;
}
