#!/usr/bin/env bash
# Install the Debian packages Sluice needs to build, test, demo and benchmark.
# Idempotent: does nothing when every package is already at a usable version.
# libbpf >= 1.4, bpftool >= 7.5 and linux-libc-dev >= 6.6 come from bookworm-backports (bookworm ships
# libbpf 1.1, which lacks the link-update and token APIs we rely on).
set -euo pipefail

PKGS_MAIN=(clang llvm make gcc pkg-config libelf-dev zlib1g-dev libyaml-dev
           libssl-dev libclang-rt-14-dev libmicrohttpd-dev iproute2 iptables prometheus
           jq curl util-linux procps ethtool python3 python3-yaml systemd
           libnghttp2-dev python3-h2 tcpdump haproxy)
# linux-libc-dev >= 6.6 for the tcx and live-frames UAPI (BPF_TCX_INGRESS,
# BPF_F_TEST_XDP_LIVE_FRAMES); bookworm's own is 6.1.
PKGS_BPO=(libbpf-dev bpftool linux-libc-dev)

need_install() {
	local p
	for p in "${PKGS_MAIN[@]}" "${PKGS_BPO[@]}"; do
		dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q 'install ok installed' || return 0
	done
	# backports versions, not bookworm's
	dpkg --compare-versions "$(dpkg-query -W -f='${Version}' libbpf-dev)" ge 1:1.4 || return 0
	dpkg --compare-versions "$(dpkg-query -W -f='${Version}' linux-libc-dev)" ge 6.6 || return 0
	bpftool version 2>/dev/null | grep -qE 'bpftool v7\.([5-9]|[1-9][0-9])' || return 0
	return 1
}

if ! need_install; then
	exit 0
fi
if [ "$(id -u)" != 0 ]; then
	echo "install-deps: missing packages and not root; run as root" >&2
	exit 1
fi

src=/etc/apt/sources.list.d/sluice-bookworm-backports.sources
if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
	cat >"$src" <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${PKGS_MAIN[@]}" >/dev/null
apt-get install -y -qq --no-install-recommends -t bookworm-backports "${PKGS_BPO[@]}" >/dev/null
echo "install-deps: packages installed"
