/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * CLOCK_MONOTONIC at tick resolution, cached per CPU. Reading a clock costs
 * 13 ns (coarse) to 30 ns (fine) per packet in a VM, more than a flow
 * lookup; bpf_jiffies64() is one inlined load, so the clock is read again
 * only when jiffies move. Flow first/last times, idle timeouts and ejection
 * ends need no better. In .bss (not a map): the loader pins maps, and this
 * is state nobody else reads. One cache line per CPU, so CPUs share none.
 */
#ifndef SL_CLOCK_H
#define SL_CLOCK_H

#include <bpf/bpf_core_read.h>

#define SL_CLOCK_CPUS 512u

struct sl_tick_clock {
	__u64 jiffies;
	__u64 ns; /* CLOCK_MONOTONIC (coarse) read when jiffies was this */
	__u8 pad[48];
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

#endif /* SL_CLOCK_H */
