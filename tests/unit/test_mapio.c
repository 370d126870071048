// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * user/mapio.c's key walks and slot clears on real maps (hashes, arrays,
 * LPM tries): every key once over many batches, empty maps, and a clear
 * that deletes exactly one slot's keys.
 */
#include <endian.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include "mapio.h"
#include "unit.h"

struct key {
	__u32 id;
	__u32 slot;
	__u32 salt;
};

struct val {
	char bytes[200]; /* a value as big as the publisher's metadata rows */
};

static int hash_of(unsigned n_max)
{
	return bpf_map_create(BPF_MAP_TYPE_HASH, "t_mapio", sizeof(struct key), sizeof(struct val),
			      n_max, NULL);
}

static void fill(int fd, unsigned n, unsigned slots)
{
	struct val v;

	memset(&v, 0x5a, sizeof(v));
	for (unsigned i = 0; i < n; i++) {
		struct key k = { i, i % slots, i * 2654435761u };

		if (bpf_map_update_elem(fd, &k, &v, BPF_ANY))
			fail_msg(__LINE__, "update %u: %s", i, strerror(errno));
	}
}

/* Every key 0..N-1 exactly once among KEYS[0..n). */
static bool all_once(const struct key *keys, size_t n, unsigned want)
{
	unsigned char *seen = calloc(want ? want : 1, 1);
	bool ok = seen && n == want;

	for (size_t i = 0; ok && i < n; i++) {
		ok = keys[i].id < want && !seen[keys[i].id] &&
		     keys[i].salt == keys[i].id * 2654435761u;
		if (ok)
			seen[keys[i].id] = 1;
	}
	free(seen);
	return ok;
}

static void t_many_batches(void)
{
	const unsigned n = 10007; /* more than two batches, not a multiple */
	int fd = hash_of(16384);
	struct key *keys;
	size_t got;

	EXPECT(fd >= 0, "hash map: %s", strerror(errno));
	if (fd < 0)
		return;
	fill(fd, n, 2);
	keys = sl_map_keys(fd, sizeof(*keys), &got);
	EXPECT(keys && all_once(keys, got, n), "%zu keys listed of %u, or some twice", got, n);
	free(keys);
	close(fd);
}

static void t_empty(void)
{
	int fd = hash_of(64);
	size_t got = 99;
	void *keys;

	EXPECT(fd >= 0, "hash map: %s", strerror(errno));
	if (fd < 0)
		return;
	keys = sl_map_keys(fd, sizeof(struct key), &got);
	EXPECT(keys && got == 0, "an empty map listed %zu keys (keys %p)", got, keys);
	free(keys);
	close(fd);
}

static void t_clear_one_slot(void)
{
	const unsigned n = 9000;
	int fd = hash_of(16384);
	struct key *keys;
	size_t got;
	bool only_slot0 = true;

	EXPECT(fd >= 0, "hash map: %s", strerror(errno));
	if (fd < 0)
		return;
	fill(fd, n, 2);
	EXPECT(sl_clear_slot(fd, sizeof(struct key), offsetof(struct key, slot), 1) == 0,
	      "clear failed");
	keys = sl_map_keys(fd, sizeof(*keys), &got);
	for (size_t i = 0; keys && i < got; i++)
		only_slot0 &= keys[i].slot == 0 && keys[i].id % 2 == 0;
	EXPECT(keys && got == n / 2 && only_slot0, "%zu keys left (want %u, all of slot 0)", got,
	      n / 2);
	free(keys);
	close(fd);
}

/* An LPM trie (batch lookups only through the kernel's generic walk,
 * since 5.6; before, mapio.c walks it key by key). */
static void t_trie(void)
{
	struct lpm {
		__u32 prefixlen;
		__u32 addr;
	} k;
	LIBBPF_OPTS(bpf_map_create_opts, o, .map_flags = BPF_F_NO_PREALLOC);
	int fd = bpf_map_create(BPF_MAP_TYPE_LPM_TRIE, "t_mapio_lpm", sizeof(k), sizeof(__u32), 256,
				&o);
	struct lpm *keys;
	size_t got;
	__u32 v = 1, sum = 0;

	EXPECT(fd >= 0, "trie: %s", strerror(errno));
	if (fd < 0)
		return;
	for (__u32 i = 0; i < 100; i++) {
		k.prefixlen = 32;
		k.addr = htobe32(0x0a000000u + i);
		EXPECT(!bpf_map_update_elem(fd, &k, &v, BPF_ANY), "trie update");
	}
	keys = sl_map_keys(fd, sizeof(*keys), &got);
	for (size_t i = 0; keys && i < got; i++)
		sum += be32toh(keys[i].addr) - 0x0a000000u;
	EXPECT(keys && got == 100 && sum == 99 * 100 / 2, "%zu trie keys listed, want 100", got);
	free(keys);
	close(fd);
}

static void t_array(void)
{
	int fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "t_mapio_arr", sizeof(__u32), 8, 5000, NULL);
	__u32 *keys;
	size_t got;
	bool ok = true;

	EXPECT(fd >= 0, "array: %s", strerror(errno));
	if (fd < 0)
		return;
	keys = sl_map_keys(fd, sizeof(*keys), &got);
	for (size_t i = 0; keys && i < got; i++)
		ok &= keys[i] == i;
	EXPECT(keys && got == 5000 && ok, "%zu array keys listed, want 0..4999 in order", got);
	free(keys);
	close(fd);
}

int main(void)
{
	run("mapio/keys-many-batches", t_many_batches);
	run("mapio/keys-empty", t_empty);
	run("mapio/clear-one-slot", t_clear_one_slot);
	run("mapio/keys-trie", t_trie);
	run("mapio/keys-array", t_array);
	return failures ? 1 : 0;
}
