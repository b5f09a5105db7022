#!/usr/bin/env python3
"""Summarises the emulated-device stage's ctest JUnit file: how many CUDA-column
parity cases and other CUDA tests ran, were skipped or failed, and their time;
then the ten slowest tests. Exits 1 when the parity table's CUDA column ran no
case (the emulated device would then vouch for nothing)."""
import sys
import xml.etree.ElementTree as ET


def outcome(case):
    if case.find("failure") is not None or case.find("error") is not None:
        return "failed"
    skipped = case.find("skipped")
    if skipped is not None or case.get("status") in ("notrun", "disabled"):
        return "skipped"
    return "ran"


def main(path):
    cases = ET.parse(path).getroot().iter("testcase")
    groups = {"parity, CUDA column": [], "other CUDA tests": [], "emu kernel/runtime tests": [],
              "everything else": []}
    timed = []
    for case in cases:
        name = case.get("name", "").split(" # ")[0].strip()  # drop gtest's "# GetParam() = ..." 
        seconds = float(case.get("time", "0") or 0)
        timed.append((seconds, name))
        if name.startswith("AllOps/Parity.") and name.endswith("_cuda"):
            group = "parity, CUDA column"
        elif name.startswith("emu_"):
            group = "emu kernel/runtime tests"
        elif "cuda" in name.lower():
            group = "other CUDA tests"
        else:
            group = "everything else"
        groups[group].append((outcome(case), seconds))
    print("emulated device summary (%s):" % path)
    for group, results in groups.items():
        count = {k: sum(1 for o, _ in results if o == k) for k in ("ran", "skipped", "failed")}
        seconds = sum(s for _, s in results)
        print("  %-26s %4d ran, %3d skipped, %3d failed, %7.1f s" %
              (group, count["ran"], count["skipped"], count["failed"], seconds))
    print("  slowest:")
    for seconds, name in sorted(timed, reverse=True)[:10]:
        print("    %7.1f s  %s" % (seconds, name))
    parity_ran = sum(1 for o, _ in groups["parity, CUDA column"] if o == "ran")
    if parity_ran == 0:
        print("emulated device: FAILED: the parity table's CUDA column ran no case")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
