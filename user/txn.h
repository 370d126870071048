/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The load transaction: every change a load makes to the pin root, the
 * cgroup and the interfaces goes through here together with its undo, so
 * that a load that fails at any step leaves the node exactly as it found
 * it: nothing attached that was not attached before, no new pin, links that
 * were updated in place run their old programs again, map records restored.
 * Generic attach and pin mechanics live here too; the per-program loaders
 * (user/loader.c, user/loader_node.c) only say what goes where.
 *
 * Test hooks (environment, for the injected-failure tests; docs/PINNING.md):
 *   SLUICE_TEST_STEPS=FILE   append the name of every step a load takes
 *   SLUICE_TEST_FAIL=STEP    make that step fail (a program named by
 *                            load:PROG is made invalid, so the kernel's
 *                            verifier rejects it; other steps fail with
 *                            ECANCELED before acting)
 *   SLUICE_TEST_KILL=STEP    SIGKILL the process when it reaches STEP
 */
#ifndef SLUICE_TXN_H
#define SLUICE_TXN_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/bpf.h>

struct sl_txn;
struct bpf_object;
struct bpf_object_skeleton;

/* Preconditions that need no change: the pin root is on bpffs and, if it
 * exists, owned by us and writable by nobody else. */
int sl_pin_root_check(const char *root);

/* Create the pin root and its directories as needed and take the pin-root
 * lock. Every later call records its undo in *T. */
int sl_txn_begin(struct sl_txn **t, const char *root);
/* ERR == 0: keep everything. Else undo every recorded change, newest first.
 * Releases the lock and frees T. Returns ERR. */
int sl_txn_end(struct sl_txn *t, int err);

const char *sl_txn_root(const struct sl_txn *t);

/* A step of the load: logs it (SLUICE_TEST_STEPS) and fails or kills it
 * when a test asks. Returns 0 or -ECANCELED. */
int sl_txn_step(const char *kind, const char *name);

/* Map pins under PINROOT/maps for every map of OBJ, the test hook on its
 * programs, then load. Maps the load creates are new pins of T. */
int sl_txn_load_obj(struct sl_txn *t, struct bpf_object *obj, struct bpf_object_skeleton *sk);

/* Pin FD at PINROOT/KIND/NAME, replacing what is there (kept for undo).
 * Returns 0 or -errno. */
int sl_txn_pin(struct sl_txn *t, const char *kind, const char *name, int fd);
/* The fd of the object that PINROOT/KIND/NAME held before this transaction
 * replaced it (owned by T), or -1. */
int sl_txn_old_pin(const struct sl_txn *t, const char *kind, const char *name);

/* An attachment point: a cgroup fd or an ifindex, and the attach type. */
struct sl_target {
	int fd_or_ifindex;
	enum bpf_attach_type type;
	__u32 flags;
};

/* PINROOT/links/NAME runs PROG_FD on TGT: update the pinned link in place
 * (undo: back to OLD_PROG_FD) or create and pin a new one (undo: detach).
 * OLD_PROG_FD may be -1 when unknown; the link's own program is then
 * looked up by id where the kernel allows it. */
/* Detach link NAME (under links/), if there is one, when the transaction
 * ends well; undo pins it back. 0 or -errno. */
int sl_txn_unlink(struct sl_txn *t, const char *name);
int sl_txn_link(struct sl_txn *t, const char *name, int prog_fd, int old_prog_fd,
		const struct sl_target *tgt);

/* Remember the value of KEY in MAP_FD (or its absence) to restore it on
 * undo. Call before changing it. */
int sl_txn_save(struct sl_txn *t, int map_fd, const void *key, size_t key_size,
		size_t value_size);

/* A cls_bpf filter (kernels without tcx) of PROG_FD on IFINDEX; undo puts
 * back OLD_PROG_FD or removes the filter. */
int sl_txn_tc_legacy(struct sl_txn *t, int ifindex, bool ingress, int prog_fd, int old_prog_fd,
		     __u32 handle, __u32 prio);

#endif
