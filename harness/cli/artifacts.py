"""`harness artifacts build|list|import DIR`."""
from __future__ import annotations

import time
from pathlib import Path

from rich.table import Table
from rich.text import Text

from harness.artifacts import build as build_mod, importer, store
from harness.cli.output import CliError, out
from harness.lab.progress import Steps, rich_reporter


def _size(n: int) -> str:
    return f"{n / 2**20:.1f} MiB"


def print_versions(versions: dict[str, str]) -> None:
    table = Table("component", "version")
    for component, version in versions.items():
        table.add_row(component, version)
    out.print(table)


def cmd_build(args) -> int:
    start = time.monotonic()
    try:
        found, built = build_mod.build(Steps(rich_reporter()), force=args.force)
    except build_mod.BuildError as exc:
        raise SystemExit(f"harness: artifacts build failed: {exc}") from None
    took = time.monotonic() - start
    if built:
        out.print(f"built {found.directory} in {took:.1f}s")
    else:
        out.print(f"artifacts up to date in {found.directory} (nothing to build, {took:.2f}s)")
    print_versions(found.manifest.versions)
    return 0


def cmd_list(args) -> int:
    from harness import artifacts
    sets = store.sets()
    if not sets:
        out.print(f"no artifacts in {store.root()}: `harness artifacts build` makes them")
        return 1
    in_use = artifacts.current()
    for s in sets:
        mark = " (in use)" if in_use and s.directory == in_use.directory else ""
        out.print(Text.assemble((str(s.directory), "bold"), f" {s.manifest.source}{mark}, "
                                f"{time.strftime('%Y-%m-%d %H:%M', time.localtime(s.manifest.created))}"))
        table = Table("artifact", "kind", "version", "size", "path")
        for a in s.manifest.artifacts:
            path = s.directory / a.path
            size = f"→ {path.readlink()}" if path.is_symlink() else _size(a.size)
            table.add_row(a.name, a.kind, a.version, size, str(path))
        out.print(table)
    return 0


def cmd_import(args) -> int:
    try:
        found, new = importer.import_dir(Path(args.directory))
    except importer.ImportRefused as exc:
        raise CliError(str(exc)) from None
    out.print(f"{'imported into' if new else 'already imported as'} {found.directory}")
    print_versions(found.manifest.versions)
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("artifacts", help="Kubernetes binaries and images: build, list, import")
    a_sub = p.add_subparsers(dest="artifacts_command", required=True, metavar="ACTION")
    b = a_sub.add_parser("build", help="build the pinned components and images (once per version)")
    b.add_argument("--force", action="store_true", help="rebuild even if the cache has them")
    b.set_defaults(func=cmd_build)
    a_sub.add_parser("list", help="what the cache holds: versions, sizes, paths").set_defaults(
        func=cmd_list)
    i = a_sub.add_parser("import", help="take release binaries and image tarballs from DIR")
    i.add_argument("directory", metavar="DIR")
    i.set_defaults(func=cmd_import)
