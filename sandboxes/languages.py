"""Languages as data: one compile-and-run recipe per language, and which toolchains this host can use.

A recipe names tools, not paths: each tool is resolved once per process to an executable the sandbox user can
reach (a toolchain under a private home such as /root/.rustup cannot be mounted for an unprivileged sandbox, so
a system-wide one is preferred). Placeholders in argv: `{box}` (the program dir), `{memory_mb}`, `{stack_mb}`.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import stat
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from sandboxes import config


@dataclass(frozen=True)
class Recipe:
    """How to compile (optionally) and run one language. Everything here is data."""

    name: str
    source: str  # file name of the program in /box
    tools: tuple[str, ...]  # executables needed; argv[0] of compile/run must be one of these
    run: tuple[str, ...]
    compile: tuple[str, ...] | None = None
    version: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    fence_tags: tuple[str, ...] = ()  # info strings of markdown fences that mean this language
    env: tuple[tuple[str, str], ...] = ()
    # RLIMIT_AS breaks runtimes that reserve large virtual ranges up front (JVM, V8, Go): they rely on cgroups.
    address_space_limit: bool = True
    memory_overhead_mb: int = 0  # runtime baseline added to the memory limit (the limit is for the program)
    main_class_regex: str | None = None  # Java: the public class decides the file and class names
    compile_memory_mb: int = 2048
    compile_pids: int = 256
    run_pids: int = 64
    compile_env: tuple[tuple[str, str], ...] = field(default=())
    # Libraries programs of this language commonly import, reported (with versions) where they can be imported
    libraries: tuple[str, ...] = ()


RECIPES: dict[str, Recipe] = {
    r.name: r
    for r in (
        Recipe(
            name="python",
            source="main.py",
            tools=("python3",),
            run=("python3", "-I", "-B", "{box}/main.py"),
            version=("python3", "--version"),
            aliases=("python3", "py", "py3"),
            fence_tags=("python", "python3", "py", "py3"),
            memory_overhead_mb=16,
            # competitive and data-science datasets import it (Debian: python3-numpy, for the system python3)
            libraries=("numpy",),
        ),
        Recipe(
            name="c",
            source="main.c",
            tools=("gcc",),
            compile=("gcc", "-O2", "-std=gnu17", "-pipe", "-o", "{box}/main", "{box}/main.c", "-lm"),
            run=("{box}/main",),
            version=("gcc", "--version"),
            fence_tags=("c", "h"),
        ),
        Recipe(
            name="cpp",
            source="main.cpp",
            tools=("g++",),
            compile=("g++", "-O2", "-std=gnu++17", "-pipe", "-o", "{box}/main", "{box}/main.cpp", "-lm"),
            run=("{box}/main",),
            version=("g++", "--version"),
            aliases=("c++", "cxx", "cc"),
            fence_tags=("cpp", "c++", "cxx", "cc", "hpp"),
        ),
        Recipe(
            name="java",
            source="Main.java",
            tools=("javac", "java"),
            compile=(
                "javac",
                "-J-Xmx512m",
                "-J-XX:+UseSerialGC",
                "-J-XX:TieredStopAtLevel=1",
                "-encoding",
                "UTF-8",
                "-d",
                "{box}",
                "{box}/{source}",
            ),
            run=("java", "-Xmx{memory_mb}m", "-Xss64m", "-XX:+UseSerialGC", "-cp", "{box}", "{main}"),
            version=("javac", "-version"),
            fence_tags=("java",),
            address_space_limit=False,
            memory_overhead_mb=256,
            main_class_regex=r"public\s+(?:final\s+|abstract\s+)*class\s+([A-Za-z_]\w*)",
        ),
        Recipe(
            name="nodejs",
            source="main.js",
            tools=("node",),
            run=("node", "--max-old-space-size={memory_mb}", "{box}/main.js"),
            version=("node", "--version"),
            aliases=("javascript", "js", "node"),
            fence_tags=("javascript", "js", "node", "nodejs"),
            address_space_limit=False,
            memory_overhead_mb=64,
        ),
        Recipe(
            name="go",
            source="main.go",
            tools=("go",),
            compile=("go", "build", "-o", "{box}/main", "{box}/main.go"),
            run=("{box}/main",),
            version=("go", "version"),
            aliases=("golang",),
            fence_tags=("go", "golang"),
            address_space_limit=False,
            compile_env=(
                ("GOCACHE", "/tmp/gocache"),
                ("GOPATH", "/tmp/gopath"),
                ("GO111MODULE", "off"),
                ("CGO_ENABLED", "0"),
            ),
        ),
        Recipe(
            name="rust",
            source="main.rs",
            tools=("rustc",),
            compile=("rustc", "-O", "--edition", "2021", "-o", "{box}/main", "{box}/main.rs"),
            run=("{box}/main",),
            version=("rustc", "--version"),
            aliases=("rs",),
            fence_tags=("rust", "rs"),
        ),
    )
}


def get_recipe(language: str) -> Recipe | None:
    """The recipe for a language name or alias (case-insensitive), or None."""
    key = (language or "").strip().lower()
    if key in RECIPES:
        return RECIPES[key]
    for recipe in RECIPES.values():
        if key in recipe.aliases:
            return recipe
    return None


def sandbox_uid_is_other() -> bool:
    """True when sandboxed programs run as a host uid other than ours (we are root and drop privileges)."""
    return os.geteuid() == 0


def _reachable(path: Path) -> bool:
    """Can the sandbox user traverse to and execute `path`? (It is not us when we run as root.)"""
    if not sandbox_uid_is_other():
        return os.access(path, os.X_OK)
    try:
        st = path.stat()
        if not st.st_mode & stat.S_IXOTH:
            return False
        for parent in path.parents:
            if not parent.stat().st_mode & stat.S_IXOTH:
                return False
    except OSError:
        return False
    return True


@functools.lru_cache(maxsize=64)
def resolve_tool(name: str) -> str | None:
    """Absolute real path of a tool the sandbox can run: system locations first, then $PATH."""
    candidates = []
    for d in ("/usr/bin", "/usr/local/bin", "/bin"):
        candidates.append(Path(d) / name)
    for d in os.environ.get("PATH", "").split(os.pathsep):
        if d:
            candidates.append(Path(d) / name)
    for cand in candidates:
        if cand.is_file():
            real = Path(os.path.realpath(cand))
            if _reachable(real):
                return str(real)
    return None


def toolchain_mounts(recipe: Recipe) -> tuple[str, ...]:
    """Host prefixes to mount read-only (at the same path) for toolchains that live outside /usr."""
    roots = []
    for tool in recipe.tools:
        path = resolve_tool(tool)
        if path and not path.startswith("/usr/"):
            prefix = str(Path(path).parent.parent)
            if prefix not in ("/", "") and prefix not in roots:
                roots.append(prefix)
    return tuple(roots)


# A comment, a string or text block, or a char literal of Java: what may say `public class X` without being code.
_JAVA_NOT_CODE = re.compile(
    r"//[^\n]*"  # a line comment
    r"|/\*.*?(?:\*/|\Z)"  # a block comment
    r'|"""(?:\\.|[^\\])*?(?:"""|\Z)'  # a text block
    r'|"(?:\\.|[^"\\\n])*"?'  # a string
    r"|'(?:\\.|[^'\\\n])*'?",  # a char literal
    re.S,
)


def code_only(code: str) -> str:
    """Java (or C-family) source with comments and string/char literals blanked, so only real code is searched.

    Lengths are kept (each blanked span becomes spaces), so positions still match the original.
    """
    return _JAVA_NOT_CODE.sub(lambda m: " " * len(m.group()), code)


def source_name(recipe: Recipe, code: str) -> tuple[str, str]:
    """(file name, main class or program name) for a program; Java names the file after its public class.

    The public class is looked for in the code only: `public class X` in a comment or a string names nothing.
    """
    if recipe.main_class_regex:
        m = re.search(recipe.main_class_regex, code_only(code))
        main = m.group(1) if m else "Main"
        return f"{main}.java", main
    return recipe.source, Path(recipe.source).stem


def expand(argv: tuple[str, ...], recipe: Recipe, *, box: str, memory_mb: int, source: str, main: str) -> list[str]:
    """Fill placeholders and replace argv[0] by the resolved tool path."""
    out = [a.format(box=box, memory_mb=memory_mb, stack_mb=max(8, memory_mb), source=source, main=main) for a in argv]
    if out and out[0] in recipe.tools:
        out[0] = resolve_tool(out[0]) or out[0]
    return out


def _version(recipe: Recipe) -> str:
    argv = list(recipe.version)
    argv[0] = resolve_tool(argv[0]) or argv[0]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=20, check=False)
    text = (proc.stdout.strip() or proc.stderr.strip()).splitlines()
    if proc.returncode != 0 or not text:
        raise RuntimeError(f"{' '.join(recipe.version)} exited {proc.returncode}")
    return text[0].strip()


@functools.lru_cache(maxsize=1)
def _language_table() -> tuple[tuple[str, bool, str], ...]:
    rows = []
    for recipe in RECIPES.values():
        missing = [t for t in recipe.tools if resolve_tool(t) is None]
        if missing:
            found_elsewhere = [t for t in missing if shutil.which(t)]
            why = f"{', '.join(missing)} not installed"
            if found_elsewhere:
                why = f"{', '.join(found_elsewhere)} found only where the sandbox user cannot reach it"
            rows.append((recipe.name, False, why))
            continue
        try:
            rows.append((recipe.name, True, _version(recipe)))
        except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
            rows.append((recipe.name, False, f"version check failed: {exc}"))
    return tuple(rows)


_LIBRARY_PROBE = (
    "import importlib, json, sys\n"
    "out = {}\n"
    "for name in sys.argv[1:]:\n"
    "    try:\n"
    "        out[name] = str(getattr(importlib.import_module(name), '__version__', ''))\n"
    "    except Exception:\n"
    "        pass\n"
    "print(json.dumps(out))\n"
)


@functools.lru_cache(maxsize=8)
def libraries(name: str) -> dict[str, str]:
    """The recipe's `libraries` that its interpreter can import here: name -> version (Python only, for now).

    Probed with the interpreter the sandbox runs, isolated (`-I`: no user site, no environment), as a program sees
    it; the toolchain and its system site-packages live under /usr, which every sandbox mounts.
    """
    recipe = RECIPES.get(name)
    if recipe is None or not recipe.libraries or recipe.name != "python":
        return {}
    python = resolve_tool("python3")
    if python is None:
        return {}
    try:
        proc = subprocess.run(
            [python, "-I", "-c", _LIBRARY_PROBE, *recipe.libraries], capture_output=True, text=True, timeout=60
        )
        found = json.loads(proc.stdout) if proc.returncode == 0 else {}
    except (OSError, subprocess.SubprocessError, ValueError):
        return {}
    return {k: v for k, v in found.items() if isinstance(k, str) and isinstance(v, str)}


def available_languages() -> dict[str, dict]:
    """Usable languages: name -> {version, aliases, compiled, tools[, libraries]}. Cached per process."""
    out: dict[str, dict] = {}
    for name, ok, info in _language_table():
        if ok:
            recipe = RECIPES[name]
            out[name] = {
                "version": info,
                "aliases": list(recipe.aliases),
                "compiled": recipe.compile is not None,
                "tools": {t: resolve_tool(t) for t in recipe.tools},
            }
            if recipe.libraries:
                out[name]["libraries"] = libraries(name)
    return out


def unavailable_languages() -> dict[str, str]:
    """Languages whose toolchain is missing here: name -> why."""
    return {name: info for name, ok, info in _language_table() if not ok}


def work_root(root: Path | None = None) -> Path:
    """`root` (default: `AHA_SANDBOX_WORK_DIR`'s), the parent dir of per-submission program dirs, created on demand."""
    if root is None:
        root = config.SandboxSettings.from_env().work_dir
    root.mkdir(parents=True, exist_ok=True, mode=0o711)
    return root
