"""Headless Chromium for tests: the DOM of a page after its scripts ran, and screenshots.

Runs Debian's /usr/bin/chromium (``apt-get install -y chromium``) in its headless mode, as root in a container without
a display: ``--no-sandbox`` (the sandbox refuses to run as root), ``--disable-gpu``, ``--disable-dev-shm-usage``
(small /dev/shm in containers), a throwaway ``--user-data-dir`` and HOME, and ``--virtual-time-budget`` so that timers
and fetches of the page run before the DOM is dumped.

Chromium is kept off the network apart from the page itself: its background services are switched off, and host
names and addresses other than localhost, 127.0.0.1, ::1 and the page's own host do not resolve.

Tests that need a browser should skip when ``chromium_path()`` is None.
"""

import ipaddress
import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

CHROMIUM = "/usr/bin/chromium"

# Lines of Chromium's stderr that appear on every run in a container and say nothing about a failure.
_NOISE = ("dbus/bus.cc", "dbus/object_proxy.cc", "unexpected operator", "Fontconfig error", "viz_main_impl.cc",
          "gpu_init.cc", "command_buffer_proxy_impl.cc", "Failed to connect to the bus")


class BrowserError(RuntimeError):
    """Chromium failed, timed out or produced nothing."""


def chromium_path():
    """The Chromium binary to run, or None when it is not installed."""
    for candidate in (CHROMIUM, shutil.which("chromium")):
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


def _is_ip(host):
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return False


def _resolver_rules(url):
    """Host resolver rules that let only loopback and the page's own host resolve (MAP * covers IP literals too)."""
    exclude = ["localhost", "127.0.0.1", "[::1]"]
    host = urlsplit(url).hostname
    if host:
        host = f"[{host}]" if _is_ip(host) and ":" in host else host
        if host not in exclude:
            exclude.append(host)
    return "MAP * ~NOTFOUND, " + ", ".join(f"EXCLUDE {h}" for h in exclude)


def _flags(profile, url, wait_ms):
    return [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--no-default-browser-check",
        f"--user-data-dir={profile}",
        "--disable-extensions",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-default-apps",
        "--disable-domain-reliability",
        "--disable-client-side-phishing-detection",
        "--disable-breakpad",
        "--no-pings",
        "--mute-audio",
        "--hide-scrollbars",
        f"--host-resolver-rules={_resolver_rules(url)}",
    ] + ([f"--virtual-time-budget={int(wait_ms)}"] if wait_ms and wait_ms > 0 else [])


def _stderr_tail(stderr, limit=4000):
    text = stderr.decode("utf-8", "replace") if isinstance(stderr, bytes) else (stderr or "")
    lines = [line for line in text.splitlines() if line.strip() and not any(n in line for n in _NOISE)]
    tail = "\n".join(lines)[-limit:]
    return tail or "(nothing but the usual dbus/gpu noise)"


def _run(url, extra_flags, wait_ms, timeout):
    """Runs chromium headless on url; returns (stdout bytes, stderr bytes, command)."""
    binary = chromium_path()
    if binary is None:
        raise BrowserError(f"chromium is not installed ({CHROMIUM} missing); apt-get install -y chromium")
    if timeout is None:
        timeout = wait_ms / 1000.0 + 60.0
    with tempfile.TemporaryDirectory(prefix="ravnest-chromium-") as home:
        profile = Path(home) / "profile"
        command = [binary, *_flags(profile, url, wait_ms), *extra_flags, url]
        env = dict(os.environ, HOME=home, XDG_CONFIG_HOME=str(Path(home) / "config"),
                   XDG_CACHE_HOME=str(Path(home) / "cache"))
        env.pop("DISPLAY", None)
        env.pop("WAYLAND_DISPLAY", None)
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   env=env, cwd=home, start_new_session=True)
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(process)
            stdout, stderr = process.communicate()
            raise BrowserError(f"chromium timed out after {timeout:.0f} s on {url}\n"
                               f"command: {' '.join(command)}\nstderr:\n{_stderr_tail(stderr)}") from None
        finally:
            _kill_group(process)  # helpers chromium may have left behind, all in the session started above
        if process.returncode != 0:
            raise BrowserError(f"chromium exited with {process.returncode} on {url}\n"
                               f"command: {' '.join(command)}\nstderr:\n{_stderr_tail(stderr)}")
        return stdout, stderr, command


def _kill_group(process):
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def dump_dom(url, wait_ms=3000, timeout=None):
    """The serialized DOM of url after its scripts ran for wait_ms of virtual time.

    Virtual time runs faster than the clock while the page is idle and waits for its network requests, so timers and
    fetches behave as if wait_ms had passed: a page polling every second renders about wait_ms/1000 + 1 times, and
    the call takes about 2 s whatever wait_ms is. wait_ms <= 0 leaves --virtual-time-budget out (a budget of 0 makes
    chromium hang): the DOM is then dumped at the load event, before any fetch has answered.

    Raises BrowserError (with chromium's stderr) when chromium fails, times out or prints no document (also when the
    page itself cannot be loaded, e.g. net::ERR_CONNECTION_REFUSED)."""
    stdout, stderr, command = _run(url, ["--dump-dom"], wait_ms, timeout)
    dom = stdout.decode("utf-8", "replace")
    if "<html" not in dom.lower():
        raise BrowserError(f"chromium printed no document for {url}\ncommand: {' '.join(command)}\n"
                           f"stdout: {dom[:500]!r}\nstderr:\n{_stderr_tail(stderr)}")
    return dom


def screenshot(url, path, width=1400, height=1000, wait_ms=3000, timeout=None):
    """Saves a PNG of url (width x height viewport) after wait_ms of virtual time; returns its Path."""
    path = Path(path).resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        path.unlink()
    _, stderr, command = _run(url, [f"--screenshot={path}", f"--window-size={int(width)},{int(height)}"], wait_ms,
                              timeout)
    if not path.is_file() or path.stat().st_size == 0:
        raise BrowserError(f"chromium wrote no screenshot to {path} for {url}\ncommand: {' '.join(command)}\n"
                           f"stderr:\n{_stderr_tail(stderr)}")
    return path
