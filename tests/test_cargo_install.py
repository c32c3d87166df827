"""`cargo install oxwsgi`: the embedding binary, built from source.

`cargo install --path .` installs two executables: `oxwsgi-embedded`, the server, which links
the libpython of the Python it was built with, and `oxwsgi`, a launcher that links no libpython,
checks that the library loads, and executes the server (src/launcher.rs). The install reuses
the main target directory (`CARGO_TARGET_DIR=target`), so after `cargo build --release` it
rebuilds next to nothing.

The build refuses a Python without a shared library (crates/wsgi-bridge/build.rs), checked with
`cargo check` of that crate alone in target directories of their own under target/. No static
Python is installed here: Debian's `python3` has its library (packages libpython3.11 and
libpython3.11-dev), which the test hides as the wheel tests do (a private mount namespace binding
/dev/null over it) to stand for a machine where `python3` is installed without it; a Python built
without `--enable-shared` is stood for by Debian's `python3` run through a wrapper whose
sysconfig says `Py_ENABLE_SHARED = 0`, which is all the build reads of it (through PyO3's
interpreter configuration).
"""

import os
import pathlib
import re
import shutil
import subprocess
import sys
import textwrap
import urllib.request

import pytest

from support import EXAMPLES, ROOT, Server
from test_wheel import libpython_files

# A release build when the target directory is not up to date: minutes on two cores.
pytestmark = pytest.mark.timeout(1800)

DEBIAN_PYTHON = pathlib.Path("/usr/bin/python3")


def cargo():
    found = shutil.which("cargo") or str(pathlib.Path.home() / ".cargo" / "bin" / "cargo")
    if not os.access(found, os.X_OK):
        pytest.fail("no cargo on PATH: install a Rust toolchain (rustup)")
    return found


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """`cargo install --path . --root ROOT`: the directory with bin/oxwsgi."""
    root = tmp_path_factory.mktemp("cargo-root")
    result = subprocess.run(
        [cargo(), "install", "--locked", "--path", str(ROOT), "--root", str(root)],
        # The target directory the suite's binary was built in (CI may name another), so
        # that the install reuses that build.
        cwd=ROOT, env={**os.environ,
                       "CARGO_TARGET_DIR": os.environ.get("CARGO_TARGET_DIR",
                                                          str(ROOT / "target"))},
        capture_output=True, text=True, timeout=1500,
    )
    assert result.returncode == 0, result.stderr
    return root / "bin"


def needed(binary):
    dynamic = subprocess.run(["readelf", "-d", str(binary)], capture_output=True, text=True,
                             check=True).stdout
    return re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", dynamic)


def fetch(srv, path="/"):
    with urllib.request.urlopen(f"{srv.url}{path}", timeout=30) as response:
        return response.status, response.read().decode()


def test_cargo_install_gives_a_working_oxwsgi(installed, tmp_path):
    assert sorted(p.name for p in installed.iterdir()) == ["oxwsgi", "oxwsgi-embedded"]
    srv = Server([EXAMPLES / "hello.wsgi"], tmp_path, binary=installed / "oxwsgi")
    try:
        assert fetch(srv) == (200, "Hello World!\n")
        # The launcher is gone once the server runs: every process is the server binary.
        assert os.readlink(f"/proc/{srv.pid}/exe") == str(installed / "oxwsgi-embedded")
    finally:
        assert srv.stop() == 0


def test_setup_server_names_the_oxwsgi_command(installed, tmp_path):
    """The control script and the unit run `oxwsgi`, so they too explain a missing libpython."""
    root = tmp_path / "root"
    result = subprocess.run(
        [str(installed / "oxwsgi"), "setup-server", "--server-root", str(root),
         str(EXAMPLES / "hello.wsgi")],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    script = (root / "apachectl").read_text()
    assert str(installed / "oxwsgi") in script, script
    assert "oxwsgi-embedded" not in script, script


def test_only_the_server_binary_links_libpython(installed):
    assert not [lib for lib in needed(installed / "oxwsgi") if "python" in lib]
    assert [lib for lib in needed(installed / "oxwsgi-embedded") if "libpython" in lib]


def hidden_libpython(program, *args):
    """`program args` in a private mount namespace where /dev/null is bound over every
    libpython on this machine (as root, else in a user namespace of one's own)."""
    files = libpython_files()
    assert files, "no libpython on this machine to hide"
    hide = "".join(f"mount --bind /dev/null {f} && " for f in files)
    unshare = ["unshare", "-m"] if os.geteuid() == 0 else ["unshare", "-r", "-m"]
    return [*unshare, "--propagation", "private", "sh", "-c", f'{hide}exec "$0" "$@"',
            str(program), *(str(a) for a in args)]


def test_a_missing_libpython_is_explained_in_one_line(installed, tmp_path):
    # A copy, as someone would move the binaries to another machine.
    for name in ("oxwsgi", "oxwsgi-embedded"):
        shutil.copy2(installed / name, tmp_path / name)
    soname = next(lib for lib in needed(tmp_path / "oxwsgi-embedded") if "libpython" in lib)
    result = subprocess.run(
        hidden_libpython(tmp_path / "oxwsgi", "start-server", "--port", "0",
                         EXAMPLES / "hello.wsgi"),
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 1, result
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"oxwsgi: cannot load {soname}, the library of the Python "), \
        lines[0]
    assert "pip install oxwsgi" in lines[0]
    # What the launcher spares the user: the server binary alone does not reach `main`.
    loader = subprocess.run(hidden_libpython(tmp_path / "oxwsgi-embedded", "--version"),
                            capture_output=True, text=True, timeout=60)
    assert loader.returncode == 127, loader
    assert "error while loading shared libraries" in loader.stderr


def test_a_missing_server_binary_is_explained(installed, tmp_path):
    shutil.copy2(installed / "oxwsgi", tmp_path / "oxwsgi")
    result = subprocess.run([str(tmp_path / "oxwsgi"), "--version"], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr.startswith(f"oxwsgi: cannot run {tmp_path / 'oxwsgi-embedded'} "), \
        result.stderr


# --- the build refuses a Python without its shared library ---------------------------------


def check_bridge(python, target, wrap=None, extra_env=None):
    """`cargo check -p oxwsgi-wsgi-bridge` with PYO3_PYTHON=python, in target/TARGET: its
    dependencies stay checked from one run to the next, its build script runs each time."""
    command = [cargo(), "check", "--locked", "--quiet", "-p", "oxwsgi-wsgi-bridge"]
    env = {name: value for name, value in os.environ.items()
           if name not in ("PYO3_BUILD_EXTENSION_MODULE", "PYO3_CONFIG_FILE")}
    env.update(PYO3_PYTHON=str(python), CARGO_TARGET_DIR=str(ROOT / "target" / target),
               **(extra_env or {}))
    # A build script that succeeded is not run again while its inputs stay the same, and a
    # hidden library is not one of them.
    subprocess.run([cargo(), "clean", "--quiet", "-p", "oxwsgi-wsgi-bridge"], cwd=ROOT,
                   env=env, check=True, capture_output=True)
    return subprocess.run(wrap(*command) if wrap else command, cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=1500)


def debian_libpython():
    version = subprocess.run(
        [str(DEBIAN_PYTHON), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
        capture_output=True, text=True, check=True).stdout.strip()
    return version, [f for f in libpython_files() if f.startswith("/usr/lib/")]


def test_debian_python3_without_its_library_is_refused():
    version, files = debian_libpython()
    assert files, "Debian's libpython is not installed: apt-get install libpython3-dev"
    result = check_bridge(DEBIAN_PYTHON, "check-debian", wrap=hidden_libpython)
    assert result.returncode != 0, result.stderr
    errors = result.stderr
    assert f"but {DEBIAN_PYTHON} (Python {version}) has no shared library to link:" in errors, \
        errors
    assert f"apt install libpython{version}-dev" in errors, errors
    assert "pip install oxwsgi" in errors, errors
    # PyO3's own failure (the linker's) never comes: the build stops in the check.
    assert "cannot find -lpython" not in errors


def test_the_wheel_build_links_no_libpython_and_is_not_checked():
    """maturin's build (PYO3_BUILD_EXTENSION_MODULE) of the same crates needs no libpython."""
    _, files = debian_libpython()
    assert files
    result = check_bridge(DEBIAN_PYTHON, "check-extension", wrap=hidden_libpython,
                          extra_env={"PYO3_BUILD_EXTENSION_MODULE": "1"})
    assert result.returncode == 0, result.stderr


def test_a_python_built_without_enable_shared_is_refused():
    # At the same path each run, so that the target directory's PyO3 stays built for it.
    static = ROOT / "target" / "check-static" / "static-python" / "bin" / "python3"
    static.parent.mkdir(parents=True, exist_ok=True)
    # Debian's interpreter, its sysconfig saying what a static-only build's says; PyO3 sends
    # its configuration script on standard input.
    static.write_text(textwrap.dedent(f"""\
        #!/bin/sh
        exec {DEBIAN_PYTHON} -c '
        import sys, sysconfig
        real = sysconfig.get_config_var
        sysconfig.get_config_var = lambda name: 0 if name == "Py_ENABLE_SHARED" else real(name)
        sys.executable = "{static}"
        exec(compile(sys.stdin.read(), "<stdin>", "exec"))
        ' "$@"
        """))
    static.chmod(0o755)
    result = check_bridge(static, "check-static")
    assert result.returncode != 0, result.stderr
    version, _ = debian_libpython()
    errors = result.stderr
    assert (f"but {static} (Python {version}) has no shared library: it was built with "
            "libpython linked statically") in errors, errors
    assert "--enable-shared" in errors and "pip install oxwsgi" in errors, errors
    # Not a system Python: no distribution package to suggest.
    assert "apt install" not in errors


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, *sys.argv[1:]]))
