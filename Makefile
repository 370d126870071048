# Sluice build. Out-of-tree into $(O) (default build/), quiet unless V=1.
#   make            build everything
#   make test       install packages if missing, build, run every test
#   make demo       install packages if missing, build, run the demo
#   make bench      run the benchmarks (bench/run.sh)
# VMLINUX_H=path   use this vmlinux.h instead of generating one from BTF.
.DELETE_ON_ERROR:
.SUFFIXES:

O ?= build
abs_O := $(abspath $(O))
ifeq ($(V),1)
Q :=
msg = @true
else
Q := @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

CC ?= gcc
CLANG ?= clang
BPFTOOL ?= bpftool
ARCH := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')

WARN := -Wall -Wextra -Werror
CFLAGS_COMMON := -std=gnu11 -g $(WARN) -Iinclude -Iuser -I$(O)/bpf -I$(O)/bench/bpf -MMD -MP \
	-D_GNU_SOURCE -fno-omit-frame-pointer
CFLAGS_REL := $(CFLAGS_COMMON) -O2
SAN := -fsanitize=address,undefined -fno-sanitize-recover=undefined
CFLAGS_SAN := $(CFLAGS_COMMON) -O1 $(SAN)
LDLIBS := -lbpf -lelf -lz -lyaml -lpthread

BPF_CFLAGS := -g -O2 -target bpf -mcpu=v3 -D__TARGET_ARCH_$(ARCH) $(WARN) \
	-Wno-unused-function -I$(O) -Iinclude -Ibpf -MMD -MP

BPF_SRCS := $(wildcard bpf/*.bpf.c)
BPF_OBJS := $(patsubst bpf/%.bpf.c,$(O)/bpf/%.bpf.o,$(BPF_SRCS))
SKELS := $(patsubst bpf/%.bpf.c,$(O)/bpf/%.skel.h,$(BPF_SRCS))
# Benchmark-only programs (the parse-only floor, the frame generator).
BENCH_BPF_SRCS := $(wildcard bench/bpf/*.bpf.c)
SKELS += $(patsubst bench/bpf/%.bpf.c,$(O)/bench/bpf/%.skel.h,$(BENCH_BPF_SRCS))

LIB_SRCS := $(wildcard user/*.c user/policy/*.c)
LIB_OBJS := $(patsubst %.c,$(O)/obj/%.o,$(LIB_SRCS))
LIB_SAN_OBJS := $(patsubst %.c,$(O)/san/%.o,$(LIB_SRCS))
# The node proxy's library: the only code that links OpenSSL and nghttp2
# (DESIGN.md). sluice-ca links it too (`sluice ca` runs that binary, so
# the CLI itself does not load OpenSSL); nothing in user/ uses it.
PROXY_SRCS := $(wildcard user/proxy/*.c)
PROXY_OBJS := $(patsubst %.c,$(O)/obj/%.o,$(PROXY_SRCS))
PROXY_SAN_OBJS := $(patsubst %.c,$(O)/san/%.o,$(PROXY_SRCS))
PROXY_LDLIBS := -lssl -lcrypto -lnghttp2
CLI_SRCS := $(wildcard tools/sluice/*.c)
CLI_OBJS := $(patsubst %.c,$(O)/obj/%.o,$(CLI_SRCS))
CLI_SAN_OBJS := $(patsubst %.c,$(O)/san/%.o,$(CLI_SRCS))
CA_SRCS := $(wildcard tools/sluice-ca/*.c)
AGENT_OBJS := $(patsubst %.c,$(O)/obj/%.o,$(wildcard tools/sluiced/*.c))

UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(O)/tests/unit/%,$(UNIT_SRCS))
BPFT_SRCS := $(wildcard tests/bpf/test_*.c)
BPFT_BINS := $(patsubst tests/bpf/%.c,$(O)/tests/bpf/%,$(BPFT_SRCS))
TOOL_SRCS := $(wildcard tests/tools/*.c)
TOOL_BINS := $(patsubst tests/tools/%.c,$(O)/tests/tools/%,$(TOOL_SRCS))
BENCH_SRCS := $(wildcard bench/*.c)
BENCH_BINS := $(patsubst bench/%.c,$(O)/bench/%,$(BENCH_SRCS))
FUZZ_SRCS := $(filter-out tests/fuzz/standalone_main.c,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BINS := $(patsubst tests/fuzz/%.c,$(O)/tests/fuzz/%_standalone,$(FUZZ_SRCS))

all: $(O)/sluice $(O)/sluice-asan $(O)/sluice-ca $(O)/sluice-ca-asan $(O)/sluiced $(O)/sluice-proxy $(O)/sluice-proxy-asan $(UNIT_BINS) $(BPFT_BINS) $(TOOL_BINS) $(BENCH_BINS) $(FUZZ_BINS)

# vmlinux.h from the running kernel's BTF; a failed dump leaves no file.
$(O)/vmlinux.h:
	$(call msg,GEN,$@)
	@mkdir -p $(@D)
ifdef VMLINUX_H
	$(Q)cp $(VMLINUX_H) $@
else
	$(Q)$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > $@.tmp && mv $@.tmp $@
endif

$(O)/bpf/%.bpf.o: bpf/%.bpf.c $(O)/vmlinux.h
	$(call msg,BPF,$@)
	@mkdir -p $(@D)
	$(Q)$(CLANG) $(BPF_CFLAGS) -MF $(@:.o=.d) -MT $@ -c $< -o $@

$(O)/bench/bpf/%.bpf.o: bench/bpf/%.bpf.c $(O)/vmlinux.h
	$(call msg,BPF,$@)
	@mkdir -p $(@D)
	$(Q)$(CLANG) $(BPF_CFLAGS) -MF $(@:.o=.d) -MT $@ -c $< -o $@

$(O)/bench/bpf/%.skel.h: $(O)/bench/bpf/%.bpf.o
	$(call msg,SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name $(subst .bpf,,$(basename $(notdir $<))) > $@.tmp && mv $@.tmp $@

$(O)/bpf/%.skel.h: $(O)/bpf/%.bpf.o
	$(call msg,SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name $(subst .bpf,,$(basename $(notdir $<))) > $@.tmp && mv $@.tmp $@

$(O)/obj/%.o: %.c | $(SKELS)
	$(call msg,CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS_REL) -c $< -o $@

$(O)/san/%.o: %.c | $(SKELS)
	$(call msg,CC-SAN,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS_SAN) -c $< -o $@

$(O)/libsluice.a: $(LIB_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(O)/libsluice-san.a: $(LIB_SAN_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(O)/libsluice-proxy.a: $(PROXY_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(O)/libsluice-proxy-san.a: $(PROXY_SAN_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(O)/sluice: $(CLI_OBJS) $(O)/libsluice.a
	$(call msg,LD,$@)
	$(Q)$(CC) $(CFLAGS_REL) $^ $(LDLIBS) -o $@

$(O)/sluice-ca: $(patsubst %.c,$(O)/obj/%.o,$(CA_SRCS)) $(O)/libsluice-proxy.a $(O)/libsluice.a
	$(call msg,LD,$@)
	$(Q)$(CC) $(CFLAGS_REL) $^ $(PROXY_LDLIBS) $(LDLIBS) -o $@

$(O)/sluice-ca-asan: $(patsubst %.c,$(O)/san/%.o,$(CA_SRCS)) $(O)/libsluice-proxy-san.a $(O)/libsluice-san.a
	$(call msg,LD,$@)
	$(Q)$(CC) $(CFLAGS_SAN) $^ $(PROXY_LDLIBS) $(LDLIBS) -o $@

$(O)/sluice-proxy: $(O)/obj/tools/sluice-proxy.o $(O)/libsluice-proxy.a $(O)/libsluice.a
	$(call msg,LD,$@)
	$(Q)$(CC) $(CFLAGS_REL) $^ $(PROXY_LDLIBS) $(LDLIBS) -o $@

# The proxy under ASan/UBSan, as the integration tests run it.
$(O)/sluice-proxy-asan: $(O)/san/tools/sluice-proxy.o $(O)/libsluice-proxy-san.a $(O)/libsluice-san.a
	$(call msg,LD,$@)
	$(Q)$(CC) $(CFLAGS_SAN) $^ $(PROXY_LDLIBS) $(LDLIBS) -o $@

# The agent alone serves HTTP (libmicrohttpd, tools/sluiced/http.c).
$(O)/sluiced: $(AGENT_OBJS) $(O)/libsluice.a
	$(call msg,LD,$@)
	$(Q)$(CC) $(CFLAGS_REL) $^ $(LDLIBS) -lmicrohttpd -o $@

$(O)/sluice-asan: $(CLI_SAN_OBJS) $(O)/libsluice-san.a
	$(call msg,LD,$@)
	$(Q)$(CC) $(CFLAGS_SAN) $^ $(LDLIBS) -o $@

$(O)/tests/unit/%: $(O)/san/tests/unit/%.o $(O)/libsluice-san.a
	$(call msg,LD,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS_SAN) $^ $(LDLIBS) -o $@

# BPF_PROG_TEST_RUN table tests: packets in, verdicts and packets out.
$(O)/tests/bpf/%: $(O)/san/tests/bpf/%.o $(O)/libsluice-san.a
	$(call msg,LD,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS_SAN) $^ $(LDLIBS) -o $@

$(O)/tests/tools/%: $(O)/obj/tests/tools/%.o $(O)/libsluice.a
	$(call msg,LD,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS_REL) $^ $(LDLIBS) -o $@

# The TLS client of bench/run-proxy.sh links OpenSSL.
$(O)/bench/sl-bench-tunnel: $(O)/obj/bench/sl-bench-tunnel.o
	$(call msg,LD,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS_REL) $^ -lssl -lcrypto -o $@

$(O)/bench/%: $(O)/obj/bench/%.o $(O)/libsluice.a
	$(call msg,LD,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS_REL) $^ $(LDLIBS) -o $@

$(O)/tests/fuzz/%_standalone: $(O)/san/tests/fuzz/%.o $(O)/san/tests/fuzz/standalone_main.o $(O)/libsluice-san.a
	$(call msg,LD,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS_SAN) $^ $(LDLIBS) -o $@

# Fuzz targets of the proxy's parsers link the proxy library (a static
# pattern rule wins over the generic one above).
PROXY_FUZZ := $(filter $(O)/tests/fuzz/fuzz_hbone_standalone $(O)/tests/fuzz/fuzz_csr_standalone,$(FUZZ_BINS))
$(PROXY_FUZZ): $(O)/tests/fuzz/%_standalone: $(O)/san/tests/fuzz/%.o $(O)/san/tests/fuzz/standalone_main.o $(O)/libsluice-proxy-san.a $(O)/libsluice-san.a
	$(call msg,LD,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS_SAN) $^ $(PROXY_LDLIBS) $(LDLIBS) -o $@

# libFuzzer builds (clang), not part of `all`: make fuzz; then run
# build/fuzz/fuzz_policy tests/fuzz/corpus/policy
fuzz: $(patsubst tests/fuzz/%.c,$(O)/fuzz/%,$(FUZZ_SRCS))
$(O)/fuzz/fuzz_hbone $(O)/fuzz/fuzz_csr: $(O)/fuzz/%: tests/fuzz/%.c $(LIB_SRCS) $(PROXY_SRCS) | $(SKELS)
	$(call msg,FUZZ,$@)
	@mkdir -p $(@D)
	$(Q)$(CLANG) -std=gnu11 -g -O1 -Iinclude -Iuser -I$(O)/bpf -D_GNU_SOURCE \
		-fsanitize=fuzzer,address,undefined $< $(LIB_SRCS) $(PROXY_SRCS) \
		$(PROXY_LDLIBS) $(LDLIBS) -o $@
$(O)/fuzz/%: tests/fuzz/%.c $(LIB_SRCS) | $(SKELS)
	$(call msg,FUZZ,$@)
	@mkdir -p $(@D)
	$(Q)$(CLANG) -std=gnu11 -g -O1 -Iinclude -Iuser -I$(O)/bpf -D_GNU_SOURCE \
		-fsanitize=fuzzer,address,undefined $< $(filter user/policy/%,$(LIB_SRCS)) \
		-lyaml -lz -o $@

deps:
	$(Q)bash tools/install-deps.sh

test: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)tests/run.sh $(abs_O)

demo: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)tools/demo.sh $(abs_O)

bench: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)bench/run.sh $(abs_O)
	$(Q)bench/run-node.sh $(abs_O)

# The test suite inside qemu on Debian's 6.1 and 6.12 kernels, each booted
# normally and with lockdown=confidentiality (vmtests/). The selftest checks
# the harness's own verdicts first (no VM, < 1 s).
vmtest: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)vmtests/selftest.sh
	$(Q)vmtests/run.sh --kernel all $(VMTEST_PATTERN)

clean:
	$(Q)rm -rf $(O)

.PHONY: all deps test demo bench vmtest clean fuzz
.SECONDARY:

-include $(wildcard $(O)/bpf/*.d $(O)/bench/bpf/*.d) $(shell find $(O)/obj $(O)/san -name '*.d' 2>/dev/null)
