#!/usr/bin/env bash
# The deployment files against the rules a cluster and systemd apply to them
# (docs/PRIVILEGES.md):
#   - deploy/daemonset.yaml, parsed with a real YAML parser (Debian's
#     python3-yaml), checked against the Kubernetes pod-validation rules it
#     depends on (k8s.io/kubernetes pkg/apis/core/validation: Bidirectional
#     mount propagation only for privileged containers, allowPrivilegeEscalation
#     false with neither privileged nor CAP_SYS_ADMIN, hostPath types, mounts
#     naming defined volumes, hostPort = containerPort with hostNetwork, the
#     selector matching the template, known field names where a typo would be
#     dropped silently) and against the project's own (exactly the documented
#     capability set, each with a comment saying why, capability names the
#     kernel knows, no hostPID/hostIPC, the namespace's Pod Security level
#     admits it, every agent flag one sluiced accepts). Each rule is also
#     shown to catch a manifest that breaks it (the rule-* cases).
#   - `kubectl apply --dry-run=client --validate=false` where kubectl is
#     installed (it is not in Debian bookworm: a skip line for that one case).
#   - deploy/sluiced.service: `systemd-analyze verify` (no unknown keys), the
#     same capability set in CapabilityBoundingSet and AmbientCapabilities,
#     each capability explained, NoNewPrivileges, flags sluiced accepts.
set -u
. "$(dirname "$0")/../lib/common.sh"
t_init manifests
PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3)
if [ -z "$PY" ] || ! "$PY" -c 'import yaml' 2>/dev/null; then
	fail manifests/daemonset "python3 with python3-yaml missing (tools/install-deps.sh)"
	t_done
fi
[ -x "$BUILD/sluiced" ] || { fail manifests/daemonset "$BUILD/sluiced not built (run make)"; t_done; }
CAPH=/usr/include/linux/capability.h
[ -r "$CAPH" ] || { fail manifests/daemonset "$CAPH missing (linux-libc-dev)"; t_done; }

# The agent's flags, from its own usage text.
"$BUILD/sluiced" -Z >/dev/null 2>"$T_TMP/usage"
DS=$T_SRC/deploy/daemonset.yaml UNIT=$T_SRC/deploy/sluiced.service DOC=$T_SRC/docs/PRIVILEGES.md

"$PY" - "$DS" "$UNIT" "$DOC" "$CAPH" "$T_TMP/usage" <<'PY'
import copy, re, sys
import yaml

ds_path, unit_path, doc_path, caph_path, usage_path = sys.argv[1:6]
AGENT_CAPS = {"BPF", "NET_ADMIN", "PERFMON"}  # docs/PRIVILEGES.md, the agent's row

KERNEL_CAPS = set(re.findall(r"^#define CAP_([A-Z_]+)\s+\d+\s*$", open(caph_path).read(), re.M))
KERNEL_CAPS -= {"LAST_CAP"}
AGENT_FLAGS = set(re.findall(r"--[a-z][a-z-]*", open(usage_path).read()))

# Field names of the API objects this manifest uses (k8s.io/api core/v1,
# apps/v1). An unknown name is dropped by the API server without a word
# (kubectl --validate=false does not look), so a typo would be a privilege
# setting that silently is not there.
FIELDS = {
    "podspec": {"activeDeadlineSeconds", "affinity", "automountServiceAccountToken", "containers",
                "dnsConfig", "dnsPolicy", "enableServiceLinks", "ephemeralContainers",
                "hostAliases", "hostIPC", "hostNetwork", "hostPID", "hostUsers", "hostname",
                "imagePullSecrets", "initContainers", "nodeName", "nodeSelector", "os",
                "overhead", "preemptionPolicy", "priority", "priorityClassName", "readinessGates",
                "resourceClaims", "restartPolicy", "runtimeClassName", "schedulerName",
                "schedulingGates", "securityContext", "serviceAccount", "serviceAccountName",
                "setHostnameAsFQDN", "shareProcessNamespace", "subdomain",
                "terminationGracePeriodSeconds", "tolerations", "topologySpreadConstraints",
                "volumes"},
    "container": {"args", "command", "env", "envFrom", "image", "imagePullPolicy", "lifecycle",
                  "livenessProbe", "name", "ports", "readinessProbe", "resizePolicy", "resources",
                  "restartPolicy", "securityContext", "startupProbe", "stdin", "stdinOnce",
                  "terminationMessagePath", "terminationMessagePolicy", "tty", "volumeDevices",
                  "volumeMounts", "workingDir"},
    "securitycontext": {"allowPrivilegeEscalation", "appArmorProfile", "capabilities", "privileged",
                        "procMount", "readOnlyRootFilesystem", "runAsGroup", "runAsNonRoot",
                        "runAsUser", "seLinuxOptions", "seccompProfile", "windowsOptions"},
    "capabilities": {"add", "drop"},
    # The pod-level securityContext has no capabilities and no privileged:
    # set there, they would be dropped and the container would run without.
    "podsecuritycontext": {"appArmorProfile", "fsGroup", "fsGroupChangePolicy", "runAsGroup",
                           "runAsNonRoot", "runAsUser", "seLinuxChangePolicy", "seLinuxOptions",
                           "seccompProfile", "supplementalGroups", "supplementalGroupsPolicy",
                           "sysctls", "windowsOptions"},
    "volumemount": {"mountPath", "mountPropagation", "name", "readOnly", "recursiveReadOnly",
                    "subPath", "subPathExpr"},
    "hostpath": {"path", "type"},
}
VOLUME_SOURCES = {"hostPath", "configMap", "secret", "emptyDir", "projected", "downwardAPI",
                  "persistentVolumeClaim", "csi", "ephemeral", "nfs", "image"}
HOSTPATH_TYPES = {"", "DirectoryOrCreate", "Directory", "FileOrCreate", "File", "Socket",
                  "CharDevice", "BlockDevice"}
PROPAGATION = {"None", "HostToContainer", "Bidirectional"}
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def unknown(obj, kind, where):
    extra = sorted(set(obj) - FIELDS[kind])
    return ["%s: unknown field %s" % (where, f) for f in extra]


def mem_bytes(q):
    m = re.fullmatch(r"(\d+)(Ki|Mi|Gi|Ti|k|M|G|T)?", str(q))
    mult = {None: 1, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
            "Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30, "Ti": 1 << 40}
    return int(m.group(1)) * mult[m.group(2)] if m else None


def k8s_rules(docs):
    """Pod validation as the API server applies it. Returns error strings."""
    errs = []
    ds = [d for d in docs if d.get("kind") == "DaemonSet"]
    if len(ds) != 1 or ds[0].get("apiVersion") != "apps/v1":
        return ["want one apps/v1 DaemonSet, found %d" % len(ds)]
    ds = ds[0]
    tmpl = ds["spec"]["template"]
    sel = ds["spec"].get("selector", {}).get("matchLabels", {})
    labels = tmpl.get("metadata", {}).get("labels", {})
    if not sel or any(labels.get(k) != v for k, v in sel.items()):
        errs.append("spec.selector does not match template labels")
    pod = tmpl["spec"]
    errs += unknown(pod, "podspec", "spec.template.spec")
    errs += unknown(pod.get("securityContext", {}) or {}, "podsecuritycontext",
                    "spec.template.spec.securityContext")
    vols = {}
    for i, v in enumerate(pod.get("volumes", [])):
        where = "volumes[%d]" % i
        if not DNS_LABEL.match(v.get("name", "")) or v["name"] in vols:
            errs.append("%s: name %r not a unique DNS label" % (where, v.get("name")))
        srcs = [k for k in v if k != "name"]
        if len(srcs) != 1 or srcs[0] not in VOLUME_SOURCES:
            errs.append("%s: must have exactly one volume source, has %s" % (where, srcs))
        hp = v.get("hostPath")
        if hp is not None:
            errs += unknown(hp, "hostpath", where + ".hostPath")
            if not str(hp.get("path", "")).startswith("/"):
                errs.append("%s.hostPath.path must be absolute" % where)
            if hp.get("type", "") not in HOSTPATH_TYPES:
                errs.append("%s.hostPath.type %r: supported values %s" % (where, hp.get("type"),
                                                                          sorted(HOSTPATH_TYPES)))
        vols[v.get("name")] = v
    for c in pod.get("containers", []):
        where = "containers[%s]" % c.get("name")
        errs += unknown(c, "container", where)
        sc = c.get("securityContext", {}) or {}
        errs += unknown(sc, "securitycontext", where + ".securityContext")
        caps = sc.get("capabilities", {}) or {}
        errs += unknown(caps, "capabilities", where + ".securityContext.capabilities")
        priv = sc.get("privileged") is True
        if sc.get("allowPrivilegeEscalation") is False and priv:
            errs.append("%s: cannot set allowPrivilegeEscalation to false and privileged to true" % where)
        if sc.get("allowPrivilegeEscalation") is False and \
                {"SYS_ADMIN", "CAP_SYS_ADMIN"} & set(caps.get("add", [])):
            errs.append("%s: cannot set allowPrivilegeEscalation to false and capabilities.add CAP_SYS_ADMIN" % where)
        if sc.get("runAsNonRoot") is True and sc.get("runAsUser") == 0:
            errs.append("%s: runAsNonRoot with runAsUser 0 can never start" % where)
        if sc.get("seccompProfile", {}).get("type", "RuntimeDefault") not in ("RuntimeDefault", "Unconfined", "Localhost"):
            errs.append("%s: seccompProfile.type %r" % (where, sc["seccompProfile"]["type"]))
        paths = set()
        for m in c.get("volumeMounts", []):
            mw = "%s.volumeMounts[%s]" % (where, m.get("name"))
            errs += unknown(m, "volumemount", mw)
            if m.get("name") not in vols:
                errs.append("%s: no volume of that name" % mw)
            if not str(m.get("mountPath", "")).startswith("/") or m.get("mountPath") in paths:
                errs.append("%s: mountPath must be absolute and unique" % mw)
            paths.add(m.get("mountPath"))
            prop = m.get("mountPropagation", "None")
            if prop not in PROPAGATION:
                errs.append("%s: mountPropagation %r: supported values %s" % (mw, prop, sorted(PROPAGATION)))
            if prop == "Bidirectional" and not priv:
                errs.append("%s: Bidirectional mount propagation is available only to privileged containers" % mw)
        for p in c.get("ports", []):
            if pod.get("hostNetwork") and "hostPort" in p and p["hostPort"] != p["containerPort"]:
                errs.append("%s: hostPort must match containerPort when hostNetwork is true" % where)
            if not 0 < int(p.get("containerPort", 0)) < 65536:
                errs.append("%s: containerPort out of range" % where)
        res = c.get("resources", {})
        rq, lm = res.get("requests", {}).get("memory"), res.get("limits", {}).get("memory")
        if rq and lm and mem_bytes(rq) > mem_bytes(lm):
            errs.append("%s: memory request must be less than or equal to the limit" % where)
    return errs


def project_rules(docs, text):
    """What Sluice promises about its manifest (docs/PRIVILEGES.md)."""
    errs = []
    ds = next(d for d in docs if d.get("kind") == "DaemonSet")
    pod = ds["spec"]["template"]["spec"]
    ns = [d for d in docs if d.get("kind") == "Namespace" and
          d["metadata"]["name"] == ds["metadata"].get("namespace")]
    if not ns or ns[0]["metadata"].get("labels", {}).get("pod-security.kubernetes.io/enforce") != "privileged":
        errs.append("namespace %s must be in the file with pod-security.kubernetes.io/enforce: privileged "
                    "(baseline refuses hostNetwork, hostPath and added capabilities)" % ds["metadata"].get("namespace"))
    for k in ("hostPID", "hostIPC"):
        if pod.get(k):
            errs.append("%s: the agent has no use for it" % k)
    for c in pod["containers"]:
        sc = c.get("securityContext", {}) or {}
        caps = sc.get("capabilities", {}) or {}
        add = [a[4:] if a.startswith("CAP_") else a for a in caps.get("add", [])]
        bad = [a for a in add if a not in KERNEL_CAPS]
        if bad:
            errs.append("capabilities.add: not kernel capabilities: %s" % bad)
        if set(add) != AGENT_CAPS or len(add) != len(set(add)):
            errs.append("capabilities.add %s, want exactly %s" % (add, sorted(AGENT_CAPS)))
        if caps.get("drop") != ["ALL"]:
            errs.append("capabilities.drop must be [ALL] (no runtime defaults on top)")
        if sc.get("privileged") is not False:
            errs.append("privileged must be set, to false")
        if sc.get("allowPrivilegeEscalation") is not False:
            errs.append("allowPrivilegeEscalation must be false")
        if sc.get("runAsUser") != 0:
            errs.append("runAsUser must be 0 (the pins' owner)")
        for a in add:
            if not re.search(r"^\s*-\s*(CAP_)?%s\s+#\s*\S" % re.escape(a), text, re.M):
                errs.append("capability %s has no comment beside it saying why" % a)
        for f in (x for x in c.get("command", []) + c.get("args", []) if x.startswith("--")):
            if f not in AGENT_FLAGS:
                errs.append("flag %s: sluiced does not accept it" % f)
        bpffs = [m for m in c.get("volumeMounts", []) if m.get("mountPath") == "/sys/fs/bpf"]
        if not bpffs or bpffs[0].get("mountPropagation") != "HostToContainer":
            errs.append("/sys/fs/bpf must be mounted with HostToContainer propagation")
    for v in pod.get("volumes", []):
        if v.get("hostPath", {}).get("path") == "/sys/fs/bpf" and v["hostPath"].get("type") != "Directory":
            errs.append("bpffs hostPath type must be Directory")
    return errs


def report(name, errs):
    if errs:
        print("FAIL %s: %s" % (name, "; ".join(errs)))
    else:
        print("ok %s" % name)


text = open(ds_path).read()
docs = [d for d in yaml.safe_load_all(text) if d]
report("manifests/daemonset-pod-validation", k8s_rules(docs))
report("manifests/daemonset-privileges", project_rules(docs, text))


# Each rule catches the manifest that breaks it (so that a rule that can
# never fire does not pass for a check).
def ds_of(d):
    return next(x for x in d if x.get("kind") == "DaemonSet")["spec"]["template"]["spec"]


def mutant(fn):
    d = copy.deepcopy(docs)
    fn(ds_of(d))
    return d


def set_bidirectional(p):
    p["containers"][0]["volumeMounts"][0]["mountPropagation"] = "Bidirectional"


def priv_and_no_escalation(p):
    p["containers"][0]["securityContext"]["privileged"] = True


def typo(p):
    m = p["containers"][0]["volumeMounts"][0]
    m["mountPropogation"] = m.pop("mountPropagation")


MUTANTS = [
    ("rule-bidirectional", k8s_rules, set_bidirectional, "Bidirectional mount propagation"),
    ("rule-escalation", k8s_rules, priv_and_no_escalation, "allowPrivilegeEscalation to false and privileged"),
    ("rule-hostpath-type", k8s_rules, lambda p: p["volumes"][0]["hostPath"].update(type="Dir"),
     "hostPath.type"),
    ("rule-unknown-field", k8s_rules, typo, "unknown field mountPropogation"),
    ("rule-pod-level-capabilities", k8s_rules,
     lambda p: p.update(securityContext={"capabilities": p["containers"][0]["securityContext"].pop("capabilities")}),
     "unknown field capabilities"),
    ("rule-missing-volume", k8s_rules, lambda p: p["volumes"].pop(0), "no volume of that name"),
    ("rule-hostpid", project_rules, lambda p: p.update(hostPID=True), "hostPID"),
    ("rule-capability-name", project_rules,
     lambda p: p["containers"][0]["securityContext"]["capabilities"]["add"].append("BPF_ADMIN"),
     "not kernel capabilities"),
    ("rule-extra-capability", project_rules,
     lambda p: p["containers"][0]["securityContext"]["capabilities"]["add"].append("SYS_ADMIN"),
     "want exactly"),
    ("rule-agent-flag", project_rules,
     lambda p: p["containers"][0]["command"].append("--no-such-flag"), "sluiced does not accept"),
]
for name, rules, fn, want in MUTANTS:
    got = rules(mutant(fn), text) if rules is project_rules else rules(mutant(fn))
    report("manifests/" + name, [] if any(want in e for e in got) else
           ["a manifest that breaks it passed (errors: %s)" % (got or "none")])
# The comment rule reads the text, not the parsed YAML.
stripped = re.sub(r"(-\s*PERFMON)\s+#.*", r"\1", text)
got = project_rules(docs, stripped)
report("manifests/rule-capability-comment", [] if any("no comment beside it" in e for e in got)
       else ["a capability without a comment passed"])

# The documented set is the one granted.
doc = open(doc_path).read()
row = re.search(r"^\|\s*`sluiced`[^|]*\|([^|]*)\|", doc, re.M)
doc_caps = set(re.findall(r"CAP_([A-Z_]+)", row.group(1))) if row else set()
report("manifests/documented-set", [] if doc_caps == AGENT_CAPS else
       ["docs/PRIVILEGES.md's sluiced row gives %s, the manifests %s" % (sorted(doc_caps), sorted(AGENT_CAPS))])

# The systemd unit.
unit = open(unit_path).read()
errs = []
def directive(k):
    return [l.split("=", 1)[1].split() for l in unit.splitlines() if l.startswith(k + "=")]
for k in ("CapabilityBoundingSet", "AmbientCapabilities"):
    v = directive(k)
    got = [c[4:] if c.startswith("CAP_") else c for c in (v[0] if len(v) == 1 else [])]
    if len(v) != 1 or set(got) != AGENT_CAPS or any(not c.startswith("CAP_") for c in v[0]):
        errs.append("%s=%s, want exactly CAP_%s" % (k, v, ", CAP_".join(sorted(AGENT_CAPS))))
    errs += ["%s: %s is not a kernel capability" % (k, c) for c in got if c not in KERNEL_CAPS]
for c in AGENT_CAPS:
    if not re.search(r"^#\s+CAP_%s\s+\S" % c, unit, re.M):
        errs.append("CAP_%s has no comment line saying why" % c)
if directive("NoNewPrivileges") != [["yes"]]:
    errs.append("NoNewPrivileges=yes missing")
if directive("ProtectKernelTunables"):
    errs.append("ProtectKernelTunables makes /sys, and the pins under /sys/fs/bpf, read-only")
for line in (l for l in unit.splitlines() if l.startswith("ExecStart=")):
    errs += ["ExecStart flag %s: sluiced does not accept it" % f
             for f in re.findall(r"\s(--[a-z][a-z-]*)", line) if f not in AGENT_FLAGS]
report("manifests/unit-privileges", errs)
PY

# systemd's own reading of the unit, with the agent's path pointing at the
# build (verify also checks that every command is executable).
if command -v systemd-analyze >/dev/null; then
	sed "s#/usr/local/sbin/sluiced#$BUILD/sluiced#" "$UNIT" >"$T_TMP/sluiced.service"
	if out=$(systemd-analyze verify "$T_TMP/sluiced.service" 2>&1) && [ -z "$out" ]; then
		ok manifests/unit-verify
	else
		fail manifests/unit-verify "systemd-analyze verify: ${out:-exit status $?}"
	fi
else
	fail manifests/unit-verify "systemd-analyze missing (systemd; tools/install-deps.sh)"
fi

# kubectl's client-side reading. `apply --dry-run=client` still asks an API
# server for its API groups and for the objects as they are; with no server
# reachable, kubectl's own decoder reads every object locally instead
# (`label --local`), and the line says which was done. With no kubectl (it
# is not in Debian bookworm) the rules above are the whole check, and the
# line says that too: an ok line with a note, as the offline rules ran.
if ! command -v kubectl >/dev/null; then
	echo "ok manifests/kubectl-dry-run # not run: kubectl is not installed; the rules above checked the file"
elif out=$(kubectl apply --dry-run=client --validate=false -f "$DS" 2>&1); then
	ok manifests/kubectl-dry-run
elif grep -qiE "connection refused|couldn't get current server API group list|no configuration has been provided" <<<"$out"; then
	if names=$(kubectl label --local --dry-run=client -o name -f "$DS" sluice.io/check=1 2>&1) &&
		[ "$(echo $names)" = "namespace/sluice-system daemonset.apps/sluice" ]; then
		echo "ok manifests/kubectl-dry-run # no API server reachable: kubectl decoded the file locally ($(echo $names))"
	else
		fail manifests/kubectl-dry-run "kubectl cannot decode the file: $names"
	fi
else
	fail manifests/kubectl-dry-run "$out"
fi
t_done
