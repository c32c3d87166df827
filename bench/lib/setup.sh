# shellcheck shell=bash disable=SC2154  # PYTHON, log and status are set by bench/run
# Installation steps of bench/run, sourced by it (from the repository root, with PYTHON, log
# and status set). Each step is idempotent and quick when everything is already there. What
# fails is written to $status (bench/out/peers-status.tsv: name, tab, reason), which the
# harness reads to list the peers it cannot run and why.

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# wrk drives the load; nginx serves the static-file scenario; apache2-bin and apache2-dev
# (apxs) are what `pip install mod_wsgi` builds against and mod_wsgi-express runs; acl lets
# the bench user through directories that are closed to others (see setup_user).
APT_PACKAGES=(wrk curl nginx apache2-bin apache2-dev acl)

setup_apt() {
  local missing=() pkg peer
  for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  echo "bench/run: apt-get install ${missing[*]}" >&2
  as_root apt-get update -qq >>"$log" 2>&1 || echo "bench/run: apt-get update failed (see $log)" >&2
  if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >>"$log" 2>&1; then
    # One at a time, so that one package that cannot be had does not keep out the others.
    for pkg in "${missing[@]}"; do
      if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$pkg" >>"$log" 2>&1; then
        echo "bench/run: apt-get install $pkg failed (see $log)" >&2
        case "$pkg" in apache2*) peer=mod_wsgi ;; *) peer=$pkg ;; esac
        printf '%s\tapt-get install %s failed (see %s)\n' "$peer" "$pkg" "$log" >>"$status"
      fi
    done
  fi
  command -v wrk >/dev/null || { echo "bench/run: wrk is needed and did not install (see $log)" >&2; exit 1; }
}

# bench/.venv, made from the Python oxwsgi embeds, with the peers of bench/requirements.txt.
py_version() { "$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])'; }

setup_venv() {
  if [ ! -x bench/.venv/bin/python ] || [ "$(py_version bench/.venv/bin/python)" != "$(py_version "$PYTHON")" ]; then
    rm -rf bench/.venv
    "$PYTHON" -m venv bench/.venv
  fi
  local pip=(bench/.venv/bin/pip install -q --disable-pip-version-check)
  if ! "${pip[@]}" -r bench/requirements.txt >>"$log" 2>&1; then
    local req reason out
    while read -r req; do
      case "$req" in '' | '#'*) continue ;; esac
      if ! out=$("${pip[@]}" "$req" 2>&1); then
        printf '%s\n' "$out" >>"$log"
        reason=$(grep -E '^ *(ERROR|error)' <<<"$out" | tail -1 | sed 's/^ *//' | cut -c1-160)
        printf '%s\tpip install %s failed: %s\n' "${req%%[=<>]*}" "$req" "${reason:-see $log}" >>"$status"
        echo "bench/run: pip install $req failed (see $log)" >&2
      fi
    done <bench/requirements.txt
  fi
}

# Apache refuses to run as root, and nginx's workers should not: both run as `oxwsgi-bench`,
# a system user made here. mod_wsgi's daemon processes run the application as that user, so it
# must reach the Python installation, bench/.venv and the bench applications; any directory on
# the way that is closed to it (such as /root, where pyenv keeps its Pythons) gets an ACL entry
# letting this one user through (search, not read), and the change is printed.
BENCH_USER=oxwsgi-bench
setup_user() {
  if ! id "$BENCH_USER" >/dev/null 2>&1; then
    as_root useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin \
      --user-group "$BENCH_USER" >>"$log" 2>&1 ||
      { printf 'user\tuseradd %s failed (see %s)\n' "$BENCH_USER" "$log" >>"$status"; return 0; }
  fi
  local base path dir part parts
  base=$("$PYTHON" -c 'import sys; print(sys.base_prefix)')
  for path in "$base" "$PWD/bench/.venv" "$PWD/bench/apps"; do
    # From / down, so that each directory is tested with its parents already passable.
    dir=
    IFS=/ read -ra parts <<<"${path#/}"
    for part in "${parts[@]}"; do
      dir="$dir/$part"
      as_root runuser -u "$BENCH_USER" -- test -x "$dir" 2>/dev/null && continue
      if command -v setfacl >/dev/null && as_root setfacl -m "u:$BENCH_USER:x" "$dir"; then
        echo "bench/run: let user $BENCH_USER through $dir (setfacl -m u:$BENCH_USER:x)" >&2
      else
        printf 'user\t%s cannot enter %s (setfacl failed)\n' "$BENCH_USER" "$dir" >>"$status"
      fi
    done
  done
}
