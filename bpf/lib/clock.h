/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Per-CPU state the data path reads instead of calling a helper: the clock
 * and a random generator. Helper calls are what a program run pays most
 * for here: on the benchmark machine (a KVM guest with return-thunk
 * mitigations) bpf_ktime_get_coarse_ns took ~50 ns of a 200 ns
 * sock_release, and bpf_get_prandom_u32 ~25 ns a call.
 *
 * - The clock: CLOCK_MONOTONIC at tick resolution. bpf_jiffies64() is one
 *   inlined load, so the clock is read again only when jiffies move. Flow
 *   first/last times, idle timeouts and ejection ends need no better.
 * - Random numbers: splitmix64 over a per-CPU state seeded from
 *   bpf_get_prandom_u32() at first use; two multiplies, inline. Endpoint
 *   draws need a uniform spread, not secrecy (the kernel's generator is
 *   not a secret either).
 *
 * In .bss (not a map): the loader pins maps, and this is state nobody else
 * reads. One cache line per CPU, so CPUs share none. A program preempted
 * between read and write by another on its CPU can make both see the same
 * value: one tick late, or one random number twice. Both are harmless.
 */
#ifndef SL_CLOCK_H
#define SL_CLOCK_H

#include <bpf/bpf_core_read.h>

#define SL_CLOCK_CPUS 512u

struct sl_tick_clock {
	__u64 jiffies;
	__u64 ns; /* CLOCK_MONOTONIC (coarse) read when jiffies was this */
	__u64 rng; /* sl_rand32() state; 0 = not seeded yet */
	__u8 pad[40];
};

static struct sl_tick_clock sl_tick_clock[SL_CLOCK_CPUS];

static __always_inline __u64 sl_clock_read(void)
{
	if (bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_ktime_get_coarse_ns))
		return bpf_ktime_get_coarse_ns();
	return bpf_ktime_get_ns();
}

static __always_inline __u64 sl_tick_now(void)
{
	__u32 cpu = bpf_get_smp_processor_id();
	__u64 j = bpf_jiffies64();
	struct sl_tick_clock *c;

	if (cpu >= SL_CLOCK_CPUS)
		return sl_clock_read();
	c = &sl_tick_clock[cpu];
	if (c->jiffies != j || !c->ns) {
		c->ns = sl_clock_read();
		c->jiffies = j;
	}
	return c->ns;
}

/* A uniform 32-bit random number. */
static __always_inline __u32 sl_rand32(void)
{
	__u32 cpu = bpf_get_smp_processor_id();
	struct sl_tick_clock *c;
	__u64 z;

	if (cpu >= SL_CLOCK_CPUS)
		return bpf_get_prandom_u32();
	c = &sl_tick_clock[cpu];
	if (!c->rng)
		c->rng = ((__u64)bpf_get_prandom_u32() << 32) | bpf_get_prandom_u32() | 1;
	z = c->rng += 0x9e3779b97f4a7c15ull;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return (__u32)((z ^ (z >> 31)) >> 32);
}

#endif /* SL_CLOCK_H */
