/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Key walks and writes of pinned maps, shared by the publishers and the
 * agent's pruning.
 *
 * Every write goes through sl_map_put/sl_map_del/sl_put_many, for two
 * reasons:
 *  - the crash tests: SLUICE_TEST_KILL_AFTER_WRITE=N (test-only, see
 *    docs/APPLY.md) makes the process raise SIGKILL right after the Nth
 *    write since the last sl_mapio_begin(), so a test can stop an apply at
 *    every step of the publication protocol;
 *  - errors that name the map: the fd of the last write that failed is
 *    remembered, so the publisher can say which map was full instead of
 *    passing a bare E2BIG up.
 */
#ifndef SLUICE_MAPIO_H
#define SLUICE_MAPIO_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

#ifndef ENOTSUPP
#define ENOTSUPP 524 /* the kernel's "operation not supported" (no batch ops) */
#endif

/* Start counting writes (reads SLUICE_TEST_KILL_AFTER_WRITE again) and
 * forget the last failure. The publisher calls it once per publication. */
void sl_mapio_begin(void);
/* Writes since sl_mapio_begin(). */
unsigned long sl_mapio_writes(void);
/* fd of the last write that failed since sl_mapio_begin(), or -1. */
int sl_mapio_failed_fd(void);

/* bpf_map_update_elem; returns 0 or -errno. */
int sl_map_put(int fd, const void *key, const void *val, __u64 flags);
/* bpf_map_delete_elem; a key that is not there is not an error. */
int sl_map_del(int fd, const void *key);
/* Batch update (one write) with a per-element fallback (batch ops need 5.6+). */
int sl_put_many(int fd, const void *keys, const void *vals, size_t n, size_t ksz, size_t vsz);
/* Batch delete of N keys of a hash; keys that are not there are not an
 * error (as sl_map_del). */
int sl_del_many(int fd, const void *keys, size_t n, size_t ksz);

/* Every key of a map (malloc'd array of *N keys; NULL on ENOMEM). Keys are
 * collected first so that deleting some of them afterwards never makes
 * get_next_key restart. */
void *sl_map_keys(int fd, size_t key_size, size_t *n);
/* Every entry of a map, keys and values (VAL_SIZE bytes: not per-CPU
 * maps), malloc'd arrays of *N each; in batches where the kernel has
 * them, else key by key. 0 or -errno. */
int sl_map_dump(int fd, size_t key_size, size_t val_size, void **keys, void **vals, size_t *n);
/* Number of entries of a hash map (a batch walk), or -errno. */
long sl_map_count(int fd, size_t key_size);
/* Elements FIRST .. FIRST+N-1 of an array map into VALS (VAL_SIZE each),
 * in batches where the kernel has them. 0 or -errno. */
int sl_array_read(int fd, __u32 first, __u32 n, void *vals, size_t val_size);
/* Elements IDX[0..N) of an array map into VALS: the span between the
 * lowest and the highest in batches when they are dense enough, else one
 * lookup each. -ENOENT when an index is out of range. */
int sl_array_gather(int fd, const __u32 *idx, size_t n, void *vals, size_t val_size);
/* Capacity of a pinned map (max_entries), 0 if unknown. */
__u32 sl_map_capacity(int fd);
/* Delete every key for which MATCH(key, CTX) holds. */
int sl_clear_where(int fd, size_t key_size, bool (*match)(const void *key, const void *ctx),
		   const void *ctx);
/* Sum the per-CPU value at KEY (N u64 counters on each CPU) into OUT. */
int sl_percpu_sum(int fd, const void *key, __u64 *out, size_t n);
/* Delete every key of a hash map whose __u32 at SLOT_OFF equals SLOT. */
int sl_clear_slot(int fd, size_t key_size, size_t slot_off, __u32 slot);

#endif
