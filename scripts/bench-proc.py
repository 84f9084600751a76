"""Process trees from /proc for the bench harnesses (scripts/bench-lib.sh).

  bench-proc.py cpu PID
      CPU seconds (utime+stime) of PID and all its descendants.
  bench-proc.py sample FILE LABEL PID...
      append to FILE one JSON line with the sum over the PIDs and all their
      descendants of CPU seconds, VmRSS, RssAnon, PSS, descriptors and the
      number of processes (and each process's own figures).
"""
import json
import os
import sys
import time

TICK = os.sysconf("SC_CLK_TCK")


def kids(p):
    out = []
    try:
        for t in os.listdir("/proc/%d/task" % p):
            with open("/proc/%d/task/%s/children" % (p, t)) as f:
                out += [int(x) for x in f.read().split()]
    except OSError:
        pass
    return out


def walk(roots, limit, visit):
    """Call visit on each process of the trees under roots, at most limit;
    the children of a process are visited only when visit returns True."""
    todo, seen = list(roots), set()
    while todo and len(seen) < limit:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        if visit(p):
            todo += kids(p)


def cpu(pid):
    total = [0]

    def visit(p):
        try:
            with open("/proc/%d/stat" % p) as f:
                st = f.read().rsplit(")", 1)[1].split()
            total[0] += int(st[11]) + int(st[12])
        except (OSError, IndexError, ValueError):
            return False
        return True

    walk([pid], 1000, visit)
    print("%.3f" % (total[0] / TICK))


def sample(path, label, roots):
    tot = {"label": label, "at": time.time(), "procs": 0, "cpu_s": 0.0, "rss_kib": 0, "anon_kib": 0, "pss_kib": 0, "fds": 0, "each": []}

    def visit(p):
        try:
            with open("/proc/%d/stat" % p) as f:
                st = f.read()
            fl = st[st.rfind(")") + 2:].split()
            cpu = (int(fl[11]) + int(fl[12])) / TICK
            rss = anon = pss = 0
            with open("/proc/%d/status" % p) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        rss = int(line.split()[1])
                    elif line.startswith("RssAnon:"):
                        anon = int(line.split()[1])
            try:
                with open("/proc/%d/smaps_rollup" % p) as f:
                    for line in f:
                        if line.startswith("Pss:"):
                            pss = int(line.split()[1])
            except OSError:
                pass
            fds = len(os.listdir("/proc/%d/fd" % p))
        except (OSError, IndexError, ValueError):
            return False
        with open("/proc/%d/comm" % p) as f:
            comm = f.read().strip()
        tot["each"].append([p, comm, rss, anon, fds])
        tot["procs"] += 1; tot["cpu_s"] += cpu; tot["rss_kib"] += rss; tot["anon_kib"] += anon; tot["pss_kib"] += pss; tot["fds"] += fds
        return True

    walk(roots, 10000, visit)
    with open(path, "a") as f:
        f.write(json.dumps(tot) + "\n")


if __name__ == "__main__":
    if sys.argv[1:2] == ["cpu"] and len(sys.argv) == 3:
        cpu(int(sys.argv[2]))
    elif sys.argv[1:2] == ["sample"] and len(sys.argv) >= 4:
        sample(sys.argv[2], sys.argv[3], [int(p) for p in sys.argv[4:]])
    else:
        sys.exit(__doc__)
