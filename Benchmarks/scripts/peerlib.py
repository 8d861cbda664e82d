"""What the peer scripts share: the results document's provenance and the atomic write of a
results file with its Markdown table."""
import json, os, subprocess, time


def document(tool, **fields):
    """The provenance every peer results file carries (commit, time, the CPU's model name), then `fields`."""
    commit = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True).stdout.strip()
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    return {"tool": tool, "opbench_commit": commit, "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "command": "Benchmarks/scripts/peer-llamacpp.sh", "cpu": cpu, **fields}


def write(doc, markdown, json_path, md_path):
    """Writes both files, each to a temporary name first, and renames them only when both are written."""
    for path, text in ((json_path, json.dumps(doc, indent=1)), (md_path, markdown)):
        with open(path + ".tmp", "w") as fh:
            fh.write(text)
    for path in (json_path, md_path):
        os.replace(path + ".tmp", path)
    print(f"wrote {json_path}, {md_path}")
