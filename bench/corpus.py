#!/usr/bin/env python3
"""Materialises the public dbt-duckdb projects of the comparison corpus.

bench/projects/projects.json names each corpus project by its origin (GitHub
repository, pinned commit, path of the dbt project inside it, licence). Their
files are third-party code and stay out of this repository: this script puts
them, unchanged, into a corpus directory outside the clone
($TARMAC_CORPUS, default ~/.cache/tarmac-corpus), one directory per project:

  <corpus>/<name>/                 the project's files at the pinned commit
  <corpus>/<name>/dbt_packages/P   each package it needs (see below)
  <corpus>/<name>/_origin/         the repository's licence and ORIGIN.json

Packages: a `local:` package of packages.yml (an integration-test project's
`../`) is the same repository at the same commit, its nested dbt projects
left out; a hub package is the pinned repository/commit listed under
"packages" in projects.json. Both are installed by copying, as `dbt deps`
would, so neither dbt nor Tarmac needs the network at build time.

Sources: `--git-root DIR` reads local git directories (DIR/owner+name/repo,
DIR/owner+name or DIR/owner/name, bare or not) with `git archive`; without
it the script downloads https://codeload.github.com/<repo>/tar.gz/<commit>.

Usage: python3 bench/corpus.py [--git-root DIR] [--corpus DIR] [--only NAME...]
"""

import argparse
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROJECTS = ROOT / "bench" / "projects" / "projects.json"


def corpus_dir(arg=None):
    """Where the corpus lives: --corpus, $TARMAC_CORPUS, ~/.cache/tarmac-corpus."""
    if arg:
        return Path(arg)
    env = os.environ.get("TARMAC_CORPUS")
    return Path(env) if env else Path.home() / ".cache" / "tarmac-corpus"


def load_config():
    return json.loads(PROJECTS.read_text())


def corpus_projects(cfgs):
    """Names of the projects that come from the corpus (have an origin)."""
    return [n for n, c in sorted(cfgs.items()) if not n.startswith("_") and "origin" in c]


class Source:
    """Reads one repository at one commit as a tar stream."""

    def __init__(self, git_root):
        self.git_root = Path(git_root) if git_root else None
        self.cache = {}

    def _git_dir(self, repo):
        owner, name = repo.split("/")
        for cand in (
            self.git_root / f"{owner}+{name}" / "repo",
            self.git_root / f"{owner}+{name}",
            self.git_root / owner / name,
            self.git_root / owner / f"{name}.git",
        ):
            if cand.is_dir():
                return cand
        raise SystemExit(f"no git directory for {repo} under {self.git_root}")

    def files(self, repo, commit):
        """{path in repo: (bytes, executable)} of every regular file."""
        key = (repo, commit)
        if key in self.cache:
            return self.cache[key]
        if self.git_root:
            data = subprocess.run(
                ["git", "--git-dir", str(self._git_dir(repo)), "archive", "--format=tar", commit],
                check=True, capture_output=True,
            ).stdout
            strip = 0
            mode = "r:"
        else:
            url = f"https://codeload.github.com/{repo}/tar.gz/{commit}"
            with urllib.request.urlopen(url, timeout=120) as r:
                data = r.read()
            strip = 1  # codeload puts everything under <name>-<commit>/
            mode = "r:gz"
        out = {}
        with tarfile.open(fileobj=io.BytesIO(data), mode=mode) as tf:
            for m in tf.getmembers():
                if not m.isfile():
                    continue
                parts = m.name.split("/")[strip:]
                if not parts:
                    continue
                out["/".join(parts)] = (tf.extractfile(m).read(), bool(m.mode & 0o111))
        self.cache[key] = out
        return out


def subtree(files, path):
    """The files under `path` ('' = all), keyed relative to it."""
    pre = path.strip("/") + "/" if path.strip("/") else ""
    return {k[len(pre):]: v for k, v in files.items() if k.startswith(pre)}


def drop_nested_projects(files):
    """Leaves out every directory below the top that holds its own dbt project
    (a package's integration tests), as a package install has no use for them."""
    nested = {k[: -len("dbt_project.yml")] for k in files if k.endswith("/dbt_project.yml")}
    return {k: v for k, v in files.items() if not any(k.startswith(n) for n in nested)}


def write_tree(dest, files):
    for rel, (data, exe) in files.items():
        p = dest / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
        if exe:
            p.chmod(0o755)


def project_name(files):
    import yaml  # dbt's venv has PyYAML

    return yaml.safe_load(files["dbt_project.yml"][0].decode())["name"]


def local_packages(files):
    """The `local:` entries of the project's packages.yml / dependencies.yml."""
    import yaml

    out = []
    for f in ("packages.yml", "dependencies.yml"):
        if f in files:
            doc = yaml.safe_load(files[f][0].decode()) or {}
            out += [p["local"] for p in doc.get("packages") or [] if "local" in p]
    return out


def materialise(name, cfg, src, corpus):
    o = cfg["origin"]
    files = src.files(o["repo"], o["commit"])
    proj = subtree(files, o["path"])
    if "dbt_project.yml" not in proj:
        raise SystemExit(f"{name}: no dbt_project.yml at {o['repo']}@{o['commit']}:{o['path']}")
    lic = o.get("licence_file")
    if not lic or lic not in files:
        raise SystemExit(f"{name}: licence file {lic!r} missing at {o['repo']}@{o['commit']}")
    dest = corpus / name
    if dest.exists():
        shutil.rmtree(dest)
    write_tree(dest, proj)
    pkgs = dest / "dbt_packages"
    for rel in local_packages(proj):
        where = os.path.normpath(os.path.join(o["path"], rel)).replace("\\", "/")
        where = "" if where == "." else where
        sub = drop_nested_projects(subtree(files, where))
        write_tree(pkgs / project_name(sub), sub)
    for p in cfg.get("packages", []):
        pf = src.files(p["repo"], p["commit"])
        sub = drop_nested_projects(subtree(pf, p.get("path", "")))
        write_tree(pkgs / project_name(sub), sub)
    meta = dest / "_origin"
    meta.mkdir(exist_ok=True)
    (meta / Path(lic).name).write_bytes(files[lic][0])
    (meta / "ORIGIN.json").write_text(json.dumps({"origin": o, "packages": cfg.get("packages", [])}, indent=1) + "\n")
    return sum(len(d) for d, _ in proj.values())


def ready(name, cfg, corpus):
    """Whether <corpus>/<name> holds this origin (same repo, commit, path)."""
    p = corpus / name / "_origin" / "ORIGIN.json"
    if not p.exists():
        return False
    got = json.loads(p.read_text())
    return got.get("origin") == cfg["origin"] and got.get("packages") == cfg.get("packages", [])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--git-root", help="read repositories from local git directories here")
    ap.add_argument("--corpus", help="corpus directory (default $TARMAC_CORPUS or ~/.cache/tarmac-corpus)")
    ap.add_argument("--only", nargs="*")
    ap.add_argument("--force", action="store_true", help="materialise even what is already there")
    a = ap.parse_args()
    cfgs = load_config()
    corpus = corpus_dir(a.corpus)
    corpus.mkdir(parents=True, exist_ok=True)
    src = Source(a.git_root)
    for name in corpus_projects(cfgs):
        if a.only and name not in a.only:
            continue
        if not a.force and ready(name, cfgs[name], corpus):
            print(f"{name}: up to date")
            continue
        n = materialise(name, cfgs[name], src, corpus)
        print(f"{name}: {cfgs[name]['origin']['repo']}@{cfgs[name]['origin']['commit'][:10]} ({n} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
